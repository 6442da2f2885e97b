#include <fmt/format.h>

#include <array>

#include "mapping/mapping.hpp"
#include "mapping/text.hpp"

namespace mdesync::mapping {
namespace {

constexpr std::string_view k_zero_guid = "00000000-0000-0000-0000-000000000000";
constexpr std::array<std::string_view, 4> k_cloud_suffixes = {
    "cloudapp.net", "cloudapp.azure.com", "amazonaws.com", "googleusercontent.com"};

std::optional<std::string> non_empty(const std::optional<std::string>& v) {
  if (!v) return std::nullopt;
  const auto t = trim(*v);
  if (t.empty()) return std::nullopt;
  return std::string(t);
}

bool has_cloud_suffix(std::string_view name) {
  for (const auto suffix : k_cloud_suffixes) {
    if (name.size() > suffix.size() && name.ends_with(suffix) &&
        name[name.size() - suffix.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

std::string join_nonempty(std::initializer_list<std::optional<std::string>> parts,
                          std::string_view sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!p || p->empty()) continue;
    if (!out.empty()) out += sep;
    out += *p;
  }
  return out;
}

enum class PlatformClass { server, workstation, mobile, other };

PlatformClass classify_platform(std::string_view platform) {
  const std::string p = to_lower(trim(platform));
  if (p.empty()) return PlatformClass::other;
  if (p.find("server") != std::string::npos) return PlatformClass::server;
  for (const std::string_view linux_name :
       {"linux", "ubuntu", "debian", "redhat", "rhel", "centos", "suse", "sles", "oracle", "amazon",
        "fedora", "alma", "rocky"}) {
    if (p.find(linux_name) != std::string::npos) return PlatformClass::server;
  }
  if (p.starts_with("ios") || p.starts_with("ipados") || p.starts_with("android")) {
    return PlatformClass::mobile;
  }
  if (p.starts_with("windows") || p.starts_with("macos") || p.starts_with("mac os") || p == "mac" ||
      p.starts_with("osx")) {
    return PlatformClass::workstation;
  }
  return PlatformClass::other;
}

std::optional<std::string> instance_id_from_tags(const std::vector<std::string>& tags) {
  for (const auto& tag : tags) {
    const auto t = trim(tag);
    constexpr std::string_view key = "instanceId";
    if (!istarts_with(t, key) || t.size() <= key.size()) continue;
    const char sep = t[key.size()];
    if (sep != ':' && sep != '=') continue;
    const auto value = trim(t.substr(key.size() + 1));
    if (!value.empty()) return std::string(value);
  }
  return std::nullopt;
}

}  // namespace

Mapped<model::Host> map_host(const defender::Machine& m) {
  Mapped<model::Host> out;
  model::Host h;
  h.uid = m.id;

  // aadDeviceId: the all-zero GUID (any case, optional braces) is no id.
  if (auto aad = non_empty(m.aad_device_id)) {
    std::string bare = *aad;
    if (bare.size() == k_zero_guid.size() + 2 && bare.front() == '{' && bare.back() == '}') {
      bare = bare.substr(1, bare.size() - 2);
    }
    if (!iequals(bare, k_zero_guid)) h.aad_device_id = *aad;
  }

  // Addresses.
  auto add_ip = [&](const std::optional<std::string>& ip) {
    auto v = non_empty(ip);
    if (!v) return;
    if (classify_ip(*v) == IpKind::loopback) return;
    push_distinct(h.ip_addresses, *v);
  };
  for (const auto& a : m.ip_addresses) add_ip(a.ip_address);
  add_ip(m.last_ip_address);
  add_ip(m.last_external_ip_address);
  for (const auto& ip : h.ip_addresses) {
    if (classify_ip(ip) == IpKind::private_range) h.private_ip_addresses.push_back(ip);
  }
  if (auto ext = non_empty(m.last_external_ip_address);
      ext && classify_ip(*ext) != IpKind::loopback) {
    h.public_ip_address = *ext;
  } else {
    for (const auto& ip : h.ip_addresses) {
      if (classify_ip(ip) == IpKind::public_) {
        h.public_ip_address = ip;
        break;
      }
    }
  }
  for (const auto& a : m.ip_addresses) {
    if (!a.mac_address) continue;
    if (auto mac = normalise_mac(*a.mac_address)) push_distinct(h.mac_addresses, *mac);
  }

  // Names.
  h.hostnames = m.computer_dns_name ? host_names(*m.computer_dns_name) : std::vector<std::string>{};
  if (!h.hostnames.empty()) {
    const std::string& fqdn = h.hostnames.front();
    if (h.public_ip_address && has_cloud_suffix(fqdn)) {
      h.public_dns_names.push_back(fqdn);
    } else {
      h.private_dns_names.push_back(fqdn);
    }
  }
  std::optional<std::string> first_ip;
  if (auto last = non_empty(m.last_ip_address); last && classify_ip(*last) != IpKind::loopback) {
    first_ip = *last;
  } else {
    for (const auto& a : m.ip_addresses) {
      auto v = non_empty(a.ip_address);
      if (v && classify_ip(*v) != IpKind::loopback) {
        first_ip = *v;
        break;
      }
    }
  }
  if (!h.hostnames.empty()) {
    h.name = h.hostnames.front();
  } else if (first_ip) {
    h.name = *first_ip;
  } else if (h.aad_device_id) {
    h.name = *h.aad_device_id;
  } else {
    h.name = m.id;
  }

  // Operating system.
  const auto platform = non_empty(m.os_platform);
  const auto arch =
      non_empty(m.os_architecture) ? non_empty(m.os_architecture) : non_empty(m.os_processor);
  const auto version = non_empty(m.os_version) ? non_empty(m.os_version) : non_empty(m.version);
  const std::optional<std::string> build =
      m.os_build ? std::optional<std::string>(fmt::format("build {}", *m.os_build)) : std::nullopt;
  if (auto os = join_nonempty({platform, version, arch, build}, " "); !os.empty()) h.os = os;
  {
    std::string head = join_nonempty({platform, arch}, " ");
    if (!head.empty() || m.os_build) {
      std::string d = head.empty() ? "Device" : head + " device";
      if (m.os_build) d += fmt::format(", build {}", *m.os_build);
      h.description = d;
    }
  }

  // Status.
  h.source_status = m.health_status;
  const std::string health = m.health_status ? std::string(trim(*m.health_status)) : "";
  if (iequals(health, "Active") || iequals(health, "ImpairedCommunication") ||
      iequals(health, "NoSensorData") || iequals(health, "NoSensorDataImpairedCommunication")) {
    h.status = model::HostStatus::active;
  } else if (iequals(health, "Inactive")) {
    h.status = model::HostStatus::inactive;
  } else {
    h.status = model::HostStatus::unknown;
    if (!health.empty() && !iequals(health, "Unknown")) {
      out.diagnostics.push_back(
          {DiagnosticKind::unknown_enum_value, "healthStatus",
           fmt::format("machine {}: unknown healthStatus '{}' (status Unknown)", m.id, health)});
    }
  }

  h.last_seen = m.last_seen;
  h.first_seen = m.first_seen;
  h.tags = m.machine_tags;
  h.instance_id = instance_id_from_tags(m.machine_tags);
  if (!h.instance_id && m.vm_metadata) h.instance_id = non_empty(m.vm_metadata->vm_id);
  if (m.vm_metadata) h.cloud_provider = m.vm_metadata->cloud_provider;

  h.categories.emplace_back("Host");
  switch (classify_platform(platform.value_or(""))) {
    case PlatformClass::server:
      h.categories.emplace_back("Server");
      break;
    case PlatformClass::workstation:
      h.categories.emplace_back("Workstation");
      break;
    case PlatformClass::mobile:
      h.categories.emplace_back("Mobile");
      break;
    case PlatformClass::other:
      h.categories.emplace_back("Other");
      break;
  }
  if (m.vm_metadata) h.categories.emplace_back("Cloud instance");

  h.merged_into_machine_id = m.merged_into_machine_id;
  h.potential_duplication = m.is_potential_duplication;
  h.source_risk_rating = m.risk_score;

  auto& s = h.source;
  s.agent_version = m.agent_version;
  s.defender_av_status = m.defender_av_status;
  s.device_value = m.device_value;
  s.exclusion_reason = m.exclusion_reason;
  s.exposure_level = m.exposure_level;
  s.is_aad_joined = m.is_aad_joined;
  s.is_excluded = m.is_excluded;
  s.managed_by = m.managed_by;
  s.managed_by_status = m.managed_by_status;
  s.onboarding_status = m.onboarding_status;
  s.os_processor = m.os_processor;
  s.rbac_group_id = m.rbac_group_id;
  s.rbac_group_name = m.rbac_group_name;
  if (m.vm_metadata) {
    s.resource_id = m.vm_metadata->resource_id;
    s.subscription_id = m.vm_metadata->subscription_id;
  }
  s.team_id = m.team_id;
  s.team_name = m.team_name;
  s.uptime = m.uptime;
  s.os_build = m.os_build;
  s.os_architecture = m.os_architecture;

  out.row = std::move(h);
  return out;
}

}  // namespace mdesync::mapping
