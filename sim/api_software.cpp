// GET /api/software (OData list), /api/software/{id} and its distributions, machine
// references and vulnerabilities.

#include "simulator_impl.hpp"

#include <algorithm>
#include <set>

namespace mdesim {

std::optional<std::uint32_t> SimulatorImpl::find_product(const std::string& id) const {
  for (std::uint32_t p : m_world->listed_products) {
    if (iequals(m_world->products[p].id, id)) return p;
  }
  return std::nullopt;
}

Reply SimulatorImpl::list_software(const httplib::Request& req) {
  std::shared_lock lock(m_world_mutex);
  static const std::vector<std::string> k_f = {"id", "name", "vendor"};
  const World& w = *m_world;
  return odata_list(
      req, "Software", w.listed_products.size(),
      [&](std::size_t i) { return w.software_json(w.listed_products[i]); }, k_f, 10000, false);
}

Reply SimulatorImpl::software_sub(const std::string& id, int which) {
  std::shared_lock lock(m_world_mutex);
  auto p = find_product(id);
  if (!p)
    return error_reply(404, "ResourceNotFound", "Software " + id + " was not found", next_target());
  const World& w = *m_world;
  const Product& prod = w.products[*p];
  if (which == 0) return entity("Software/$entity", w.software_json(*p));
  if (which == 1) {
    json rows = json::array();
    for (std::size_t v = 0; v < prod.versions.size(); ++v) {
      if (w.version_installs[*p][v] == 0) continue;
      rows.push_back({{"version", prod.versions[v]},
                      {"installations", w.version_installs[*p][v]},
                      {"vulnerabilities", prod.version_cves[v].size()}});
    }
    return collection("Distributions", rows);
  }
  if (which == 2) {
    return collection("MachineReferences", machine_refs([&](const Machine& m) {
                        return std::any_of(m.installs.begin(), m.installs.end(),
                                           [&](const Install& in) { return in.product == *p; });
                      }));
  }
  return collection("Collection(Analytics.Contracts.PublicAPI.PublicVulnerabilityDto)",
                    product_cves(*p));
}

json SimulatorImpl::product_cves(std::uint32_t p) const {
  const World& w = *m_world;
  std::set<std::uint32_t> cves;
  for (std::size_t v = 0; v < w.products[p].versions.size(); ++v) {
    if (w.version_installs[p][v] > 0)
      cves.insert(w.products[p].version_cves[v].begin(), w.products[p].version_cves[v].end());
  }
  json rows = json::array();
  for (std::uint32_t c : cves) rows.push_back(w.cve_json(c, false));
  return rows;
}

}  // namespace mdesim
