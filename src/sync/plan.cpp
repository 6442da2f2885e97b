// Engine::plan: full or delta, and what each selected object would call (--dry-run).

#include <fmt/format.h>

#include "mapping/filters.hpp"
#include "sync/engine.hpp"
#include "sync/sync_context.hpp"

namespace mdesync::sync {
namespace {

using util::ErrorCode;
using util::fail;

bool is_selected(const config::Config& config, const std::string& object) {
  return std::find(config.objects.begin(), config.objects.end(), object) != config.objects.end();
}

// Why a delta is impossible (empty: it is possible), and whether any selected object has
// a delta. Delta needs, for every selected object that has one, a checkpoint of a good
// sync less than 14 days old.
util::Result<std::pair<std::string, bool>> delta_blocker(const config::Config& config,
                                                         store::Store& store, util::Timestamp now) {
  std::string missing;
  bool any_delta_object = false;
  for (const auto& [name, type] :
       {std::pair{"vulnerability", model::ObjectType::vulnerability},
        std::pair{"vulnerability_definition", model::ObjectType::vulnerability_definition}}) {
    if (!is_selected(config, name)) continue;
    any_delta_object = true;
    auto cp = store.checkpoint(type);
    if (!cp) return tl::unexpected(cp.error());
    if (!*cp || !(*cp)->snapshot_time || !(*cp)->full_snapshot_time) {
      missing = fmt::format("no earlier good sync of {}", name);
    } else if (now - (*cp)->completed_at > k_delta_limit) {
      missing = fmt::format("the last good sync of {} ({}) is more than 14 days old", name,
                            util::format_timestamp_seconds((*cp)->completed_at));
    }
  }
  return std::pair{missing, any_delta_object};
}

std::vector<std::string> filters_of(const config::Config& config, const std::string& object,
                                    const std::string& pushed) {
  std::vector<std::string> out;
  if (!pushed.empty()) out.push_back("$filter=" + pushed);
  auto it = config.filters.find(object);
  if (it != config.filters.end()) {
    for (const auto& [k, v] : it->second)
      out.push_back(fmt::format("{} in [{}]", k, fmt::join(v, ", ")));
  }
  return out;
}

const mapping::Filters& filters_for(const config::Config& config, const std::string& object) {
  static const mapping::Filters none;
  auto it = config.filters.find(object);
  return it == config.filters.end() ? none : it->second;
}

void describe_inventory(PlanStep& step, bool api) {
  if (api) {
    step.endpoints = {"/api/software", "/api/software/{id}/machineReferences"};
    step.calls = "1 per 10,000 software + 1 per software";
  } else {
    step.endpoints = {"/api/machines/SoftwareInventoryExport", "export files (no bearer)"};
    step.calls = "1 export call + 1 download per file";
  }
}

void describe_vulnerability(PlanStep& step, bool api) {
  if (step.mode == "delta") {
    step.endpoints = {"/api/machines/SoftwareVulnerabilityChangesByMachine"};
    step.calls = "1 per 50,000 change rows";
  } else if (api) {
    step.endpoints = {"/api/machines/SoftwareVulnerabilitiesByMachine"};
    step.calls = "1 per 50,000 rows";
  } else {
    step.endpoints = {"/api/machines/SoftwareVulnerabilitiesExport", "export files (no bearer)"};
    step.calls = "1 export call + 1 download per file";
  }
}

PlanStep plan_step(const config::Config& config, const std::string& object,
                   const std::string& mode) {
  const bool api = config.strategy == "api";
  PlanStep step;
  step.object = object;
  step.mode = "full";
  const auto& filters = filters_for(config, object);
  if (object == "machine") {
    step.endpoints = {"/api/machines"};
    step.filters = filters_of(config, object, mapping::machine_odata_filter(filters));
    step.calls = "1 per 10,000 machines";
  } else if (object == "installed_package") {
    describe_inventory(step, api);
    step.filters = filters_of(config, object, "");
  } else if (object == "package") {
    step.endpoints = {"/api/software"};
    if (api) step.endpoints.emplace_back("/api/software/{id}/distributions");
    step.filters = filters_of(config, object, mapping::software_odata_filter(filters));
    step.calls = api ? "1 per 10,000 software + 1 per software" : "1 per 10,000 software";
  } else if (object == "vulnerability") {
    step.mode = mode;
    describe_vulnerability(step, api);
    step.filters = filters_of(config, object, "");
  } else if (object == "vulnerability_definition") {
    step.mode = mode;
    step.endpoints = {"/api/vulnerabilities", "/api/recommendations"};
    if (api) step.endpoints.emplace_back("/api/recommendations/{id}/vulnerabilities");
    step.filters =
        filters_of(config, object, mapping::vulnerability_definition_odata_filter(filters));
    if (mode == "delta") step.filters.emplace_back("updatedOn after the last sync's newest update");
    step.calls = api ? "1 per 8,000 CVEs + 1 per 10,000 recommendations + 1 per recommendation"
                     : "1 per 8,000 CVEs + 1 per 10,000 recommendations";
  }
  return step;
}

}  // namespace

std::string to_text(const Plan& plan) {
  std::string out =
      fmt::format("plan: {} sync, {} strategy ({})\n", plan.mode, plan.strategy, plan.reason);
  for (const auto& step : plan.steps) {
    out += fmt::format("  {} ({})\n", step.object, step.mode);
    for (const auto& e : step.endpoints) out += fmt::format("    GET {}\n", e);
    for (const auto& f : step.filters) out += fmt::format("    filter: {}\n", f);
    out += fmt::format("    calls: {}\n", step.calls);
  }
  out += "nothing was requested or written (--dry-run)\n";
  return out;
}

util::Result<Plan> Engine::plan() {
  if (auto st = mapping::validate_filters(m_config.filters); !st) {
    auto e = st.error();
    e.code = ErrorCode::config;
    return tl::unexpected(e);
  }
  Plan plan;
  plan.strategy = m_config.strategy;
  auto blocker = delta_blocker(m_config, *m_deps.store, util::to_timestamp(m_deps.clock->now()));
  if (!blocker) return tl::unexpected(blocker.error());
  const auto& [missing, any_delta_object] = *blocker;
  if (m_config.mode == "full") {
    plan.mode = "full";
    plan.reason = "requested";
  } else if (m_config.mode == "delta") {
    if (!missing.empty()) {
      return fail(ErrorCode::invalid_argument,
                  fmt::format("a delta sync is not possible: {}; run a full sync first "
                              "(mdesync sync --mode full, or --mode auto)",
                              missing));
    }
    plan.mode = "delta";
    plan.reason = "requested";
  } else {
    plan.mode = missing.empty() && any_delta_object ? "delta" : "full";
    plan.reason = missing.empty() ? (any_delta_object ? "a good sync less than 14 days old exists"
                                                      : "no selected object has a delta")
                                  : missing;
  }
  for (const auto type : k_object_order) {
    const std::string object(config_name(type));
    if (is_selected(m_config, object)) plan.steps.push_back(plan_step(m_config, object, plan.mode));
  }
  return plan;
}

}  // namespace mdesync::sync
