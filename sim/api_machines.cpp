// GET /api/machines (OData list), /api/machines/{id}, findbytag, and a machine's
// vulnerabilities, software and recommendations.

#include "simulator_impl.hpp"

#include <set>

namespace mdesim {

Reply SimulatorImpl::list_machines(const httplib::Request& req) {
  std::shared_lock lock(m_world_mutex);
  static const std::vector<std::string> k_f = {
      "computerDnsName", "id",         "version",       "deviceValue",      "aadDeviceId",
      "machineTags",     "lastSeen",   "exposureLevel", "onboardingStatus", "lastIpAddress",
      "healthStatus",    "osPlatform", "riskScore",     "rbacGroupId"};
  const World& w = *m_world;
  return odata_list(
      req, "Machines", w.machines.size(),
      [&](std::size_t i) { return w.machine_json(static_cast<std::uint32_t>(i)); }, k_f, 10000,
      true);
}

std::optional<std::uint32_t> SimulatorImpl::find_machine(const std::string& id) const {
  const World& w = *m_world;
  for (std::uint32_t i = 0; i < w.machines.size(); ++i) {
    if (iequals(w.machines[i].id, id)) return i;
  }
  for (std::uint32_t i = 0; i < w.machines.size(); ++i) {
    if (!w.machines[i].duplicate_record && iequals(w.machines[i].dns, id)) return i;
  }
  return std::nullopt;
}

Reply SimulatorImpl::find_by_tag(const httplib::Request& req) {
  std::shared_lock lock(m_world_mutex);
  const std::string tag = param(req, "tag");
  const bool starts = iequals(param(req, "useStartsWithFilter"), "true");
  json rows = json::array();
  for (std::uint32_t i = 0; i < m_world->machines.size(); ++i) {
    for (const auto& t : m_world->machines[i].tags) {
      if (starts ? lower(t).rfind(lower(tag), 0) == 0 : iequals(t, tag)) {
        rows.push_back(m_world->machine_json(i));
        break;
      }
    }
  }
  return collection("Machines", rows);
}

// which: 0 the machine, 1 its vulnerabilities, 2 its software, 3 its recommendations.
Reply SimulatorImpl::machine_sub(const std::string& id, int which) {
  std::shared_lock lock(m_world_mutex);
  auto mi = find_machine(id);
  if (!mi || consume(&Faults::machine_not_found)) {
    return error_reply(404, "ResourceNotFound", "Machine " + id + " was not found", next_target());
  }
  if (which == 0) return entity("Machines/$entity", m_world->machine_json(*mi));
  const World& w = *m_world;
  const Machine& m = w.machines[*mi];
  json rows = json::array();
  if (which == 1) {
    std::set<std::uint32_t> seen;
    for (const Install& in : m.installs) {
      for (std::uint32_t c : w.products[in.product].version_cves[in.version]) {
        if (seen.insert(c).second) rows.push_back(w.cve_json(c, false));
      }
    }
    return collection("Collection(Analytics.Contracts.PublicAPI.PublicVulnerabilityDto)", rows);
  }
  if (which == 2) {
    for (const Install& in : m.installs) rows.push_back(w.software_json(in.product));
    return collection("Software", rows);
  }
  for (const Install& in : m.installs) {
    if (w.vulnerable(in)) rows.push_back(w.recommendation_json(in.product));
  }
  return collection("Recommendations", rows);
}

json SimulatorImpl::machine_refs(const std::function<bool(const Machine&)>& pred) const {
  json rows = json::array();
  for (std::uint32_t i = 0; i < m_world->machines.size(); ++i) {
    if (pred(m_world->machines[i])) rows.push_back(m_world->machine_ref_json(i));
  }
  return rows;
}

}  // namespace mdesim
