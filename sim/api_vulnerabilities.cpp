// GET /api/vulnerabilities (OData list), /api/vulnerabilities/machinesVulnerabilities,
// /api/vulnerabilities/{id} and its machine references.

#include "simulator_impl.hpp"

#include <algorithm>

namespace mdesim {

Reply SimulatorImpl::list_vulnerabilities(const httplib::Request& req) {
  std::shared_lock lock(m_world_mutex);
  static const std::vector<std::string> k_f = {"id",          "name",     "description", "cvssV3",
                                               "publishedOn", "severity", "updatedOn"};
  const World& w = *m_world;
  return odata_list(
      req, "Vulnerabilities", w.cves.size(),
      [&](std::size_t i) { return w.cve_json(static_cast<std::uint32_t>(i), true); }, k_f, 8000,
      false);
}

Reply SimulatorImpl::list_machine_vulnerabilities(const httplib::Request& req) {
  std::shared_lock lock(m_world_mutex);
  static const std::vector<std::string> k_f = {"id",         "cveId",        "machineId",
                                               "fixingKbId", "productName",  "productVersion",
                                               "severity",   "productVendor"};
  const World& w = *m_world;
  return odata_list(
      req, "Collection(microsoft.windowsDefenderATP.api.PublicAssetVulnerabilityDto)",
      w.findings.size(), [&](std::size_t i) { return w.finding_json(w.findings[i]); }, k_f, 10000,
      false);
}

std::optional<std::uint32_t> SimulatorImpl::find_cve(const std::string& id) const {
  for (std::uint32_t c = 0; c < m_world->cves.size(); ++c) {
    if (iequals(m_world->cves[c].id, id)) return c;
  }
  return std::nullopt;
}

Reply SimulatorImpl::vulnerability_sub(const std::string& id, int which) {
  std::shared_lock lock(m_world_mutex);
  auto c = find_cve(id);
  if (!c)
    return error_reply(404, "ResourceNotFound", "Vulnerability " + id + " was not found",
                       next_target());
  const World& w = *m_world;
  if (which == 0) return entity("Vulnerabilities/$entity", w.cve_json(*c, true));
  const Cve& cve = w.cves[*c];
  return collection("MachineReferences", machine_refs([&](const Machine& m) {
                      return std::any_of(
                          m.installs.begin(), m.installs.end(), [&](const Install& in) {
                            return in.product == cve.product && in.version < cve.fixed_in;
                          });
                    }));
}

}  // namespace mdesim
