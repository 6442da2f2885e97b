#include "world.hpp"

#include <algorithm>
#include <atomic>
#include <set>

namespace mdesim {

World::World(const WorldParams& params) : m_params(params), m_now(params.start_time) {
  static std::atomic<std::uint64_t> serial{1};
  m_serial = serial.fetch_add(1);
  generate();
  recompute();
}

std::string World::group_name(const Machine& m) const {
  if (m.group == 0) return {};
  return groups[m.group - 1].name;
}

std::string World::export_group_name(const Machine& m) const {
  if (groups.empty()) return "None";
  if (m.group == 0) return "Unassigned";
  return groups[m.group - 1].name;
}

std::int64_t World::group_id(std::uint32_t group) const {
  return group == 0 ? 0 : static_cast<std::int64_t>(groups[group - 1].id);
}

std::string World::os_version(const Machine& m) const {
  const Install& os = m.installs[m.os_install];
  return products[os.product].versions[os.version];
}

std::string World::export_arch(const Machine& m) const {
  if (m.platform == "macOS") return "arm64";
  return m.os_arch == "32-bit" ? "x86" : "x64";
}

void World::recompute() {
  const std::size_t np = products.size();
  product_installs.assign(np, 0);
  product_exposed.assign(np, 0);
  product_weaknesses.assign(np, 0);
  version_installs.assign(np, {});
  for (std::size_t p = 0; p < np; ++p) version_installs[p].assign(products[p].versions.size(), 0);
  cve_exposed.assign(cves.size(), 0);
  findings.clear();
  std::vector<std::vector<bool>> version_seen(np);
  for (std::size_t p = 0; p < np; ++p) version_seen[p].assign(products[p].versions.size(), false);
  for (std::uint32_t mi = 0; mi < machines.size(); ++mi) {
    const Machine& m = machines[mi];
    for (std::uint32_t ii = 0; ii < m.installs.size(); ++ii) {
      const Install& in = m.installs[ii];
      ++product_installs[in.product];
      ++version_installs[in.product][in.version];
      version_seen[in.product][in.version] = true;
      const auto& vc = products[in.product].version_cves[in.version];
      if (!vc.empty()) ++product_exposed[in.product];
      for (std::uint32_t c : vc) {
        ++cve_exposed[c];
        findings.push_back(FindingRef{mi, ii, c});
      }
    }
  }
  listed_products.clear();
  recommended_products.clear();
  for (std::uint32_t p = 0; p < np; ++p) {
    if (product_installs[p] == 0) continue;
    std::set<std::uint32_t> distinct;
    for (std::size_t v = 0; v < products[p].versions.size(); ++v) {
      if (version_seen[p][v])
        distinct.insert(products[p].version_cves[v].begin(), products[p].version_cves[v].end());
    }
    product_weaknesses[p] = static_cast<std::uint32_t>(distinct.size());
    listed_products.push_back(p);
    if (product_weaknesses[p] > 0) recommended_products.push_back(p);
  }
}

std::string World::finding_key(std::uint32_t m, const Install& in, const Cve& c) const {
  const Product& p = products[in.product];
  std::string k = machines[m].id;
  k += '_';
  k += lower(p.vendor);
  k += '_';
  k += lower(p.name);
  k += '_';
  k += p.versions[in.version];
  k += '_';
  k += c.id;
  return k;
}

Truth World::truth() const {
  Truth t;
  t.now = iso_time(m_now);
  t.snapshot_time = iso_time(generated_time());
  t.machines = machines.size();
  t.software = listed_products.size();
  t.definitions = cves.size();
  t.recommendations = recommended_products.size();
  t.delta_events = events.size();
  t.open_findings = findings.size();
  for (std::uint32_t mi = 0; mi < machines.size(); ++mi) {
    const Machine& m = machines[mi];
    if (!m.installs.empty()) ++t.null_cve_rows;
    t.non_cpe_installed_software += m.non_cpe.size();
    for (const Install& in : m.installs) {
      ++t.installed_software;
      const Product& p = products[in.product];
      t.installed_software_keys.push_back(m.id + "_" + lower(p.vendor) + "-_-" + lower(p.name));
    }
  }
  t.open_finding_keys.reserve(findings.size());
  for (const FindingRef& f : findings) {
    t.open_finding_keys.push_back(
        finding_key(f.machine, machines[f.machine].installs[f.install], cves[f.cve]));
  }
  std::sort(t.open_finding_keys.begin(), t.open_finding_keys.end());
  std::sort(t.installed_software_keys.begin(), t.installed_software_keys.end());
  return t;
}

}  // namespace mdesim
