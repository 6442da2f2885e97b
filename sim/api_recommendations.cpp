// GET /api/recommendations (OData list), /api/recommendations/{id} and its software,
// vulnerabilities and machine references.

#include "simulator_impl.hpp"

#include <algorithm>

namespace mdesim {

Reply SimulatorImpl::list_recommendations(const httplib::Request& req) {
  std::shared_lock lock(m_world_mutex);
  static const std::vector<std::string> k_f = {"id",
                                               "productName",
                                               "vendor",
                                               "recommendedVersion",
                                               "recommendationCategory",
                                               "subCategory",
                                               "severityScore",
                                               "remediationType",
                                               "recommendedProgram",
                                               "recommendedVendor",
                                               "status"};
  const World& w = *m_world;
  return odata_list(
      req, "Recommendations", w.recommended_products.size(),
      [&](std::size_t i) { return w.recommendation_json(w.recommended_products[i]); }, k_f, 10000,
      false);
}

Reply SimulatorImpl::recommendation_sub(const std::string& id, int which) {
  std::shared_lock lock(m_world_mutex);
  const World& w = *m_world;
  std::optional<std::uint32_t> p;
  for (std::uint32_t q : w.recommended_products) {
    if (iequals("va-_-" + w.products[q].vendor + "-_-" + w.products[q].name, id)) p = q;
  }
  if (!p)
    return error_reply(404, "ResourceNotFound", "Recommendation " + id + " was not found",
                       next_target());
  if (which == 0) return entity("Recommendations/$entity", w.recommendation_json(*p));
  if (which == 1)
    return entity("Analytics.Contracts.PublicAPI.PublicProductDto", w.software_json(*p));
  if (which == 2)
    return collection("Collection(Analytics.Contracts.PublicAPI.PublicVulnerabilityDto)",
                      product_cves(*p));
  return collection("MachineReferences", machine_refs([&](const Machine& m) {
                      return std::any_of(
                          m.installs.begin(), m.installs.end(),
                          [&](const Install& in) { return in.product == *p && w.vulnerable(in); });
                    }));
}

}  // namespace mdesim
