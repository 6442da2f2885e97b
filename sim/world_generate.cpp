// Generating the world at its start time from WorldParams: device groups, products and
// their versions, the CVE catalogue, machines with their installs, and the stale duplicate
// and merged machine records.

#include <algorithm>
#include <array>
#include <cstdio>
#include <set>

#include "cvss31.hpp"
#include "world.hpp"
#include "world_catalog.hpp"

namespace mdesim {

void World::make_cve(std::uint32_t index, std::uint32_t product, std::int64_t published, Rng& rng,
                     bool all_versions) {
  Cve c;
  const std::int64_t year = 2019 + static_cast<std::int64_t>(rng.below(7));
  if (rng.chance(0.02)) {
    std::array<char, 32> buf{};
    std::snprintf(buf.data(), buf.size(), "TVM-%lld-%04u", static_cast<long long>(year),
                  index % 10000U);
    c.id = buf.data();
  } else {
    std::array<char, 32> buf{};
    std::snprintf(buf.data(), buf.size(), "CVE-%lld-%05u", static_cast<long long>(year),
                  10000U + index);
    c.id = buf.data();
  }
  c.vector = random_vector(rng);
  c.cvss = cvss31_base_score(c.vector).value_or(5.0);
  c.severity = c.cvss == 0.0 ? "Low" : severity_of(c.cvss);
  c.published = published;
  c.updated = published + static_cast<std::int64_t>(rng.below(20)) * k_day;
  if (c.updated > m_now) c.updated = m_now;
  c.public_exploit = rng.chance(0.25);
  c.exploit_verified = c.public_exploit && rng.chance(0.4);
  c.exploit_in_kit = c.exploit_verified && rng.chance(0.3);
  if (c.public_exploit) {
    c.exploit_types.emplace_back(rng.chance(0.5) ? "Local privilege escalation"
                                                 : "Denial of service");
    c.exploit_uris.push_back("https://exploits.example.net/" + lower(c.id));
  }
  c.epss = static_cast<double>(rng.below(100000)) / 100000.0;
  const Product& p = products[product];
  c.description =
      "Summary: A flaw in " + p.display + " allows " +
      (c.vector.find("AV:N") != std::string::npos ? "a remote attacker" : "a local user") +
      " to compromise the device. Impact: " + c.severity + " severity. Remediation: update to " +
      p.versions.back() + ".";
  c.supportability = rng.chance(0.9) ? "Supported" : "SupportedInPremium";
  c.product = product;
  const auto nv = static_cast<std::uint16_t>(p.versions.size());
  c.fixed_in = all_versions
                   ? nv
                   : static_cast<std::uint16_t>(1 + rng.below(std::max<std::uint16_t>(
                                                        1, static_cast<std::uint16_t>(nv - 1))));
  if (p.vendor == "microsoft") c.kb = std::to_string(5030000 + rng.below(40000));
  const auto ci = static_cast<std::uint32_t>(cves.size());
  for (std::uint16_t v = 0; v < c.fixed_in; ++v) products[product].version_cves[v].push_back(ci);
  cves.push_back(std::move(c));
}

Install World::pick_install(std::uint32_t product, std::int64_t first_seen, Rng& rng) const {
  const Product& p = products[product];
  Install in;
  in.product = product;
  in.first_seen = first_seen;
  const auto nv = static_cast<std::uint16_t>(p.versions.size());
  if (nv > 1 && rng.chance(m_params.vulnerable_share)) {
    in.version = static_cast<std::uint16_t>(rng.below(nv - 1U));
  } else {
    in.version = static_cast<std::uint16_t>(nv - 1);
  }
  return in;
}

void World::add_installs(Machine& m, std::uint32_t index, Rng& rng) {
  std::uint32_t os_product = 0;
  for (std::uint32_t i = 0; i < m_app_begin; ++i) {
    if (m.platform == k_os[i].platform) os_product = i;
  }
  Install os = pick_install(os_product, m.first_seen, rng);
  m.os_install = 0;
  m.installs.push_back(os);
  const auto napps = static_cast<std::uint32_t>(products.size()) - m_app_begin;
  const std::uint32_t want =
      std::min(napps, m_params.software_per_machine > 0 ? m_params.software_per_machine - 1 : 0);
  std::set<std::uint32_t> chosen;
  while (chosen.size() < want) {
    // Skewed choice: popular products are on most machines.
    const double u = rng.unit();
    const auto pick = static_cast<std::uint32_t>(u * u * napps);
    if (!chosen.insert(m_app_begin + std::min(pick, napps - 1)).second) {
      chosen.insert(m_app_begin + static_cast<std::uint32_t>(rng.below(napps)));
    }
  }
  for (std::uint32_t p : chosen) {
    if (m.installs.size() > want) break;
    m.installs.push_back(
        pick_install(p, m.first_seen + static_cast<std::int64_t>(rng.below(30)) * k_day / 3, rng));
  }
  for (std::uint32_t i = 0; i < m_params.non_cpe_per_machine; ++i) {
    const std::uint64_t k = rng.below(50);
    m.non_cpe.push_back(NonCpe{"contoso internal " + std::to_string(k % 7),
                               "line of business tool " + std::to_string(k),
                               std::to_string(1 + k % 5) + "." + std::to_string(index % 10)});
  }
  (void)index;
}

Machine World::make_machine(std::uint32_t index, std::int64_t onboarded, Rng& rng) {
  Machine m;
  m.id = hex40(hash_combine(m_params.seed, index), index);
  std::uint32_t total = 0;
  for (const auto& os : k_os) total += os.weight;
  auto r = static_cast<std::uint32_t>(rng.below(total));
  std::size_t os_i = 0;
  while (r >= k_os[os_i].weight) {
    r -= k_os[os_i].weight;
    ++os_i;
  }
  const OsSpec& os = k_os[os_i];
  m.platform = os.platform;
  const bool server = m.platform.find("Server") != std::string::npos || m.platform == "Linux";
  static constexpr std::array<const char*, 6> prefixes = {"fin-lt", "eng-ws", "srv-app",
                                                          "srv-db", "web",    "hr-lt"};
  const char* prefix = server ? prefixes[2 + rng.below(3)] : prefixes[rng.below(2) * 5];
  std::array<char, 64> name{};
  std::snprintf(name.data(), name.size(), "%s-%05u", prefix, index);
  m.dns = name.data();
  if (rng.chance(0.7)) m.dns += ".corp.example.org";
  m.first_seen = onboarded;
  m.os_arch = rng.chance(0.03) ? "32-bit" : "64-bit";
  m.ipv4 = "10." + std::to_string(index / 62500U + 1U) + "." + std::to_string(index / 250U % 250U) +
           "." + std::to_string(index % 250U + 2U);
  std::array<char, 64> buf{};
  std::snprintf(buf.data(), buf.size(), "fe80::215:5dff:fe%02x:%04x", (index >> 16U) & 0xffU,
                index & 0xffffU);
  m.ipv6 = buf.data();
  std::snprintf(buf.data(), buf.size(), "00155D%06X", index & 0xffffffU);
  m.mac = buf.data();
  m.external_ip =
      (rng.chance(0.5) ? "198.51.100." : "203.0.113.") + std::to_string(rng.below(254) + 1);
  m.group = groups.empty() || rng.chance(0.1)
                ? 0
                : 1 + static_cast<std::uint32_t>(rng.below(groups.size()));
  static constexpr std::array<const char*, 5> risk = {"None", "Informational", "Low", "Medium",
                                                      "High"};
  static constexpr std::array<const char*, 4> exposure = {"None", "Low", "Medium", "High"};
  static constexpr std::array<const char*, 3> value = {"Normal", "Low", "High"};
  m.risk = risk[rng.below(5)];
  m.exposure = exposure[rng.below(4)];
  m.value = value[rng.chance(0.8) ? 0 : 1 + rng.below(2)];
  if (m.platform.rfind("Windows1", 0) == 0) {
    m.aad_joined = rng.chance(0.8);
    if (m.aad_joined)
      m.aad = guid(hash_combine(m_params.seed, index), 77);
    else if (rng.chance(0.15))
      m.aad = "00000000-0000-0000-0000-000000000000";
  }
  if (rng.chance(0.3)) m.tags.emplace_back(server ? "tier-1" : "finance");
  if (rng.chance(0.1)) m.tags.emplace_back("vip");
  if (server && rng.chance(0.4)) {
    m.vm = true;
    m.vm_id = guid(hash_combine(m_params.seed, index), 91);
    m.subscription = guid(m_params.seed, 1234);
    m.resource_id = "/subscriptions/" + m.subscription + "/resourceGroups/rg-" +
                    std::string(prefix) + "/providers/Microsoft.Compute/virtualMachines/" +
                    m.dns.substr(0, m.dns.find('.'));
    if (rng.chance(0.5)) m.tags.push_back("instanceId:i-" + m.vm_id.substr(0, 17));
  } else if (server && rng.chance(0.15)) {
    m.tags.push_back("instanceId=i-" + hex40(index, 5).substr(0, 17));
  }
  m.agent_version = m.platform.rfind("Windows", 0) == 0 ? "10.8760.26100.3775" : "101.25032.0008";
  m.managed_by = m.aad_joined ? "Intune" : "Unknown";
  m.seen_offset = static_cast<std::int64_t>(rng.below(6 * 3600));
  m.excluded = rng.chance(0.01);
  return m;
}

void World::generate() {
  Rng rng(hash_combine(m_params.seed, 0x5eed));
  for (std::uint32_t g = 0; g < m_params.device_groups; ++g) {
    Group grp;
    grp.id = 100 + g * 7 + 1;
    grp.name = k_group_names[g % k_group_names.size()];
    if (g >= k_group_names.size()) grp.name += " " + std::to_string(g / k_group_names.size() + 1);
    groups.push_back(grp);
  }
  make_products(rng);
  const std::uint32_t napps = static_cast<std::uint32_t>(products.size()) - m_app_begin;
  // CVEs: most go to applications, some to the OS; a few cannot be patched.
  for (std::uint32_t i = 0; i < m_params.cves; ++i) {
    const std::uint32_t prod = rng.chance(0.15)
                                   ? static_cast<std::uint32_t>(rng.below(m_app_begin))
                                   : m_app_begin + static_cast<std::uint32_t>(rng.below(napps));
    const std::int64_t published = m_now - static_cast<std::int64_t>(30 + rng.below(900)) * k_day;
    make_cve(i, prod, published, rng, rng.chance(0.02));
  }
  // Machines, each with its own generator, then a few stale duplicate and merged records.
  for (std::uint32_t i = 0; i < m_params.machines; ++i) {
    Rng mr(hash_combine(m_params.seed, 0x10000000ULL + i));
    const std::int64_t onboarded = m_now - static_cast<std::int64_t>(10 + mr.below(600)) * k_day -
                                   static_cast<std::int64_t>(mr.below(k_day));
    Machine m = make_machine(i, onboarded, mr);
    add_installs(m, i, mr);
    if (mr.chance(0.05)) {
      m.inactive_since = m_now - static_cast<std::int64_t>(1 + mr.below(20)) * k_day;
    }
    machines.push_back(std::move(m));
  }
  add_duplicates(rng);
}

// The operating systems of the catalogue, then the applications (the catalogue's, then
// made-up ones) with random versions.
void World::make_products(Rng& rng) {
  for (const auto& os : k_os) {
    Product p;
    p.vendor = os.vendor;
    p.name = os.product;
    p.id = p.vendor + "-_-" + p.name;
    p.display = os.display;
    p.os = true;
    for (const char* v : os.versions) p.versions.emplace_back(v);
    products.push_back(std::move(p));
  }
  m_app_begin = static_cast<std::uint32_t>(products.size());
  const std::uint32_t napps = std::max<std::uint32_t>(60, 3 * m_params.software_per_machine);
  for (std::uint32_t i = 0; i < napps; ++i) {
    Product p;
    if (i < k_apps.size()) {
      p.vendor = k_apps[i].vendor;
      p.name = k_apps[i].name;
      p.display = k_apps[i].display;
    } else {
      p.vendor = "vendor" + std::to_string(i);
      p.name = "app_" + std::to_string(i);
      p.display = "App " + std::to_string(i);
    }
    p.id = p.vendor + "-_-" + p.name;
    const auto nv = 3 + rng.below(4);
    std::uint64_t major = 1 + rng.below(120);
    for (std::uint64_t v = 0; v < nv; ++v) {
      major += 1 + rng.below(3);
      p.versions.push_back(std::to_string(major) + "." + std::to_string(rng.below(10)) + "." +
                           std::to_string(rng.below(3000)));
    }
    if (rng.chance(0.05)) {
      p.eos_status = rng.chance(0.5) ? "EOS Version" : "Upcoming EOS Version";
      p.eos_date = m_now + (p.eos_status == "EOS Version" ? -200 : 200) * k_day;
      p.eos_date -= p.eos_date % k_day;
    }
    p.active_alert = rng.chance(0.03);
    products.push_back(std::move(p));
  }
  for (auto& p : products) p.version_cves.resize(p.versions.size());
}

// Stale duplicates (potential duplication) and merged records of a few machines.
void World::add_duplicates(Rng& rng) {
  const std::uint32_t dups = m_params.machines >= 10 ? std::max(1U, m_params.machines / 50) : 0;
  for (std::uint32_t d = 0; d < dups; ++d) {
    const std::uint32_t of = static_cast<std::uint32_t>(rng.below(m_params.machines));
    Machine copy = machines[of];
    copy.id = hex40(hash_combine(m_params.seed, 0xd00b + d), of);
    copy.installs.clear();
    copy.non_cpe.clear();
    copy.duplicate_record = true;
    copy.first_seen -= 40 * k_day;
    copy.inactive_since = m_now - static_cast<std::int64_t>(25 + d) * k_day;
    copy.ipv4 = "10.250." + std::to_string(d / 250) + "." + std::to_string(d % 250 + 1);
    copy.vm = false;
    copy.tags.clear();
    if (d % 2 == 1) {
      copy.merged_into = machines[of].id;
    } else {
      copy.potential_dup = true;
      machines[of].potential_dup = true;
    }
    machines.push_back(std::move(copy));
  }
}

}  // namespace mdesim
