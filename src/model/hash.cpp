#include "model/hash.hpp"

#include <bit>
#include <cstring>
#include <string_view>

namespace mdesync::model {
namespace {

// A word-at-a-time multiply/rotate hash with a fixed seed and explicit byte order, so
// the value is stable across runs and builds (it is persisted in the store). Every
// field is framed (presence tag, length) so that adjacent fields cannot alias.
class Hasher {
 public:
  void bytes(std::string_view data) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    std::size_t n = data.size();
    while (n >= 8) {
      mix(load(p, 8));
      p += 8;
      n -= 8;
    }
    if (n > 0) mix(load(p, n) ^ (std::uint64_t{0xA5} << 56));
  }
  void u64(std::uint64_t v) noexcept { mix(v); }
  void str(std::string_view s) noexcept {
    u64(0x5354520000000000ULL ^ s.size());
    bytes(s);
  }
  void opt(const OptString& s) noexcept {
    if (s) {
      str(*s);
    } else {
      u64(k_null);
    }
  }
  void opt(const OptBool& b) noexcept { u64(b ? (*b ? 0xB1 : 0xB0) : k_null); }
  void opt(const OptInt& i) noexcept {
    if (i) {
      u64(0x1A7);
      u64(static_cast<std::uint64_t>(*i));
    } else {
      u64(k_null);
    }
  }
  void opt(const OptDouble& d) noexcept {
    if (d) {
      u64(0xD0B);
      u64(std::bit_cast<std::uint64_t>(*d == 0.0 ? 0.0 : *d));
    } else {
      u64(k_null);
    }
  }
  void opt(const OptTime& t) noexcept {
    if (t) {
      u64(0x713E);
      u64(static_cast<std::uint64_t>(t->time_since_epoch().count()));
    } else {
      u64(k_null);
    }
  }
  void list(const Strings& values) noexcept {
    u64(0x11570000ULL ^ values.size());
    for (const auto& v : values) str(v);
  }
  void opt(const std::optional<Strings>& values) noexcept {
    if (values) {
      list(*values);
    } else {
      u64(k_null);
    }
  }
  template <typename E>
  void enumeration(E e) noexcept {
    u64(std::uint64_t{0xE0000} + static_cast<std::uint64_t>(e));
  }

  [[nodiscard]] RowHash finish() const noexcept {
    std::uint64_t h = m_state;
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 33;
    return static_cast<RowHash>(h);
  }

 private:
  static constexpr std::uint64_t k_null = 0x4E554C4C4E554C4CULL;

  // The n (<= 8) bytes at p as a little-endian number, whatever the host's byte order.
  // One load, not a loop of byte shifts (which made content_hash a hot spot).
  static std::uint64_t load(const unsigned char* p, std::size_t n) noexcept {
    std::uint64_t v = 0;
    if (n == 8) {
      std::memcpy(&v, p, 8);
    } else {
      std::memcpy(&v, p, n);
    }
    if constexpr (std::endian::native == std::endian::big) v = byteswap(v);
    return v;
  }
  static constexpr std::uint64_t byteswap(std::uint64_t v) noexcept {
    std::uint64_t out = 0;
    for (int i = 0; i < 8; ++i) out |= ((v >> (8 * i)) & 0xFFU) << (8 * (7 - i));
    return out;
  }
  void mix(std::uint64_t v) noexcept {
    v *= 0x87C37B91114253D5ULL;
    v = std::rotl(v, 31);
    v *= 0x4CF5AD432745937FULL;
    m_state ^= v;
    m_state = std::rotl(m_state, 27) * 5 + 0x52DCE729;
  }

  std::uint64_t m_state = 0x6D64657379E3C001ULL;
};

}  // namespace

RowHash content_hash(const Host& r) noexcept {
  Hasher h;
  h.str(r.uid);
  h.str(r.name);
  h.opt(r.aad_device_id);
  h.list(r.hostnames);
  h.list(r.private_dns_names);
  h.list(r.public_dns_names);
  h.list(r.ip_addresses);
  h.list(r.private_ip_addresses);
  h.opt(r.public_ip_address);
  h.list(r.mac_addresses);
  h.opt(r.os);
  h.opt(r.description);
  h.enumeration(r.status);
  h.opt(r.source_status);
  h.opt(r.last_seen);
  h.opt(r.first_seen);
  h.list(r.tags);
  h.opt(r.instance_id);
  h.opt(r.cloud_provider);
  h.list(r.categories);
  h.opt(r.merged_into_machine_id);
  h.opt(r.potential_duplication);
  h.opt(r.source_risk_rating);
  const auto& s = r.source;
  h.opt(s.agent_version);
  h.opt(s.defender_av_status);
  h.opt(s.device_value);
  h.opt(s.exclusion_reason);
  h.opt(s.exposure_level);
  h.opt(s.is_aad_joined);
  h.opt(s.is_excluded);
  h.opt(s.managed_by);
  h.opt(s.managed_by_status);
  h.opt(s.onboarding_status);
  h.opt(s.os_processor);
  h.opt(s.rbac_group_id);
  h.opt(s.rbac_group_name);
  h.opt(s.resource_id);
  h.opt(s.subscription_id);
  h.opt(s.team_id);
  h.opt(s.team_name);
  h.opt(s.uptime);
  return h.finish();
}

RowHash content_hash(const Package& r) noexcept {
  Hasher h;
  h.str(r.uid);
  h.opt(r.name);
  h.enumeration(r.status);
  h.list(r.categories);
  const auto& s = r.source;
  h.opt(s.vendor);
  h.opt(s.weaknesses);
  h.opt(s.public_exploit);
  h.opt(s.active_alert);
  h.opt(s.exposed_machines);
  h.opt(s.impact_score);
  h.u64(s.versions.size());
  for (const auto& v : s.versions) {
    h.str(v.version);
    h.opt(v.installations);
    h.opt(v.vulnerabilities);
  }
  return h.finish();
}

RowHash content_hash(const InstalledPackage& r) noexcept {
  Hasher h;
  h.str(r.uid);
  h.opt(r.name);
  h.str(r.type);
  h.str(r.targets);
  h.list(r.dns_names);
  h.opt(r.os);
  h.list(r.version);
  h.enumeration(r.status);
  h.opt(r.first_seen);
  h.opt(r.end_of_support_status);
  h.opt(r.end_of_support_date);
  const auto& s = r.source;
  h.opt(s.rbac_group_id);
  h.opt(s.rbac_group_name);
  h.list(s.disk_paths);
  h.list(s.registry_paths);
  h.opt(s.number_of_weaknesses);
  return h.finish();
}

RowHash content_hash(const Vulnerability& r) noexcept {
  Hasher h;
  h.str(r.uid);
  h.opt(r.source_uid);
  h.str(r.type);
  h.str(r.targets);
  h.list(r.hostnames);
  h.opt(r.first_found);
  h.opt(r.last_found);
  h.opt(r.source_last_modified);
  h.opt(r.last_fixed);
  h.enumeration(r.status);
  h.enumeration(r.status_category);
  h.opt(r.source_status);
  h.enumeration(r.severity);
  h.opt(r.source_severity);
  h.opt(r.results);
  const auto& s = r.source;
  h.opt(s.rbac_group_id);
  h.opt(s.rbac_group_name);
  h.opt(s.os_platform);
  h.opt(s.os_version);
  h.opt(s.os_architecture);
  h.opt(s.cvss_score);
  h.opt(s.exploitability_level);
  h.opt(s.recommendation_reference);
  h.opt(s.recommended_security_update);
  h.opt(s.recommended_security_update_id);
  h.opt(s.recommended_security_update_url);
  h.opt(s.security_update_available);
  h.opt(s.is_onboarded);
  h.opt(s.software_vendor);
  h.opt(s.software_name);
  h.opt(s.software_version);
  return h.finish();
}

RowHash content_hash(const VulnerabilityDefinition& r) noexcept {
  Hasher h;
  h.str(r.uid);
  h.list(r.cve_ids);
  h.list(r.cve_records);
  h.opt(r.name);
  h.opt(r.description);
  h.opt(r.summary);
  h.enumeration(r.severity);
  h.opt(r.source_severity);
  h.opt(r.cvss_v3_base_score);
  h.list(r.exploits);
  h.list(r.references);
  h.str(r.exploitability);
  h.opt(r.published_date);
  h.opt(r.source_last_modified);
  h.opt(r.patch_available);
  h.opt(r.affected);
  h.opt(r.recommendation);
  h.opt(r.epss);
  const auto& c3 = r.cvss_v3;
  for (const auto* v : {&c3.vector, &c3.av, &c3.ac, &c3.pr, &c3.ui, &c3.s, &c3.ci, &c3.ii, &c3.ai,
                        &c3.e, &c3.rl, &c3.rc}) {
    h.opt(*v);
  }
  h.opt(c3.base_score);
  h.opt(c3.temporal_score);
  const auto& c2 = r.cvss_v2;
  for (const auto* v :
       {&c2.vector, &c2.av, &c2.ac, &c2.au, &c2.ci, &c2.ii, &c2.ai, &c2.e, &c2.rl, &c2.rc}) {
    h.opt(*v);
  }
  h.opt(c2.base_score);
  h.opt(c2.temporal_score);
  const auto& s = r.source;
  h.list(s.exploit_types);
  h.opt(s.exposed_machines);
  h.opt(s.first_detected);
  h.opt(s.cve_supportability);
  h.list(s.tags);
  h.opt(s.public_exploit);
  h.opt(s.exploit_verified);
  h.opt(s.exploit_in_kit);
  return h.finish();
}

}  // namespace mdesync::model
