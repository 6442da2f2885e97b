// The /sim/* admin endpoints: advance the clock, read the truth, set and read faults,
// statistics, roles and rate limits; and their JSON.

#include "simulator_impl.hpp"

namespace mdesim {
namespace {

json faults_json(const Faults& f) {
  json errors = json::array();
  for (const auto& e : f.errors) {
    errors.push_back({{"endpoint", e.endpoint},
                      {"status", e.status},
                      {"count", e.count},
                      {"retryAfter", e.retry_after_s}});
  }
  return {{"errors", errors},
          {"resetEndpoint", f.reset_endpoint},
          {"resetConnection", f.reset_connection},
          {"resetAfterBytes", f.reset_after_bytes},
          {"slowEndpoint", f.slow_endpoint},
          {"slowBody", f.slow_body},
          {"slowDelayMs", f.slow_delay_ms},
          {"holdEndpoint", f.hold_endpoint},
          {"holdBody", f.hold_body},
          {"expireTokens", f.expire_tokens},
          {"expiredSas", f.expired_sas},
          {"truncatedGzip", f.truncated_gzip},
          {"malformedJsonLine", f.malformed_json_line},
          {"emptyExportFile", f.empty_export_file},
          {"duplicateRows", f.duplicate_rows},
          {"strayRow", f.stray_row},
          {"loopingNextLink", f.looping_next_link},
          {"loopingEndpoint", f.looping_endpoint},
          {"extraFields", f.extra_fields},
          {"pascalCaseKeys", f.pascal_case_keys},
          {"machineNotFound", f.machine_not_found}};
}

Faults faults_from_json(const json& j) {
  Faults f;
  if (j.contains("errors")) {
    for (const auto& e : j.at("errors")) {
      ErrorFault ef;
      ef.endpoint = e.value("endpoint", std::string("*"));
      ef.status = e.value("status", 503);
      ef.count = e.value("count", 1U);
      ef.retry_after_s = e.value("retryAfter", 1);
      f.errors.push_back(ef);
    }
  }
  f.reset_endpoint = j.value("resetEndpoint", std::string("*"));
  f.reset_connection = j.value("resetConnection", 0U);
  f.reset_after_bytes = j.value("resetAfterBytes", 512U);
  f.slow_endpoint = j.value("slowEndpoint", std::string("*"));
  f.slow_body = j.value("slowBody", 0U);
  f.slow_delay_ms = j.value("slowDelayMs", 20U);
  f.hold_endpoint = j.value("holdEndpoint", std::string("*"));
  f.hold_body = j.value("holdBody", 0U);
  f.expire_tokens = j.value("expireTokens", false);
  f.expired_sas = j.value("expiredSas", 0U);
  f.truncated_gzip = j.value("truncatedGzip", 0U);
  f.malformed_json_line = j.value("malformedJsonLine", 0U);
  f.empty_export_file = j.value("emptyExportFile", 0U);
  f.duplicate_rows = j.value("duplicateRows", 0U);
  f.stray_row = j.value("strayRow", 0U);
  f.looping_next_link = j.value("loopingNextLink", 0U);
  f.looping_endpoint = j.value("loopingEndpoint", std::string("*"));
  f.extra_fields = j.value("extraFields", 0U);
  f.pascal_case_keys = j.value("pascalCaseKeys", 0U);
  f.machine_not_found = j.value("machineNotFound", 0U);
  return f;
}

json truth_json(const Truth& t, bool keys) {
  json j = {{"now", t.now},
            {"snapshotTime", t.snapshot_time},
            {"machines", t.machines},
            {"software", t.software},
            {"installedSoftware", t.installed_software},
            {"nonCpeInstalledSoftware", t.non_cpe_installed_software},
            {"openFindings", t.open_findings},
            {"nullCveRows", t.null_cve_rows},
            {"definitions", t.definitions},
            {"recommendations", t.recommendations},
            {"deltaEvents", t.delta_events}};
  if (keys) {
    j["openFindingKeys"] = t.open_finding_keys;
    j["installedSoftwareKeys"] = t.installed_software_keys;
  }
  return j;
}

}  // namespace

Reply SimulatorImpl::admin(const httplib::Request& req, const std::string& lp) {
  Reply r;
  r.content_type = "application/json";
  if (lp == "/sim/advance" && req.method == "POST") {
    const auto hours = parse_int(param(req, "hours"));
    if (!hours || *hours < 0)
      return error_reply(400, "InvalidInput", "hours must be a non-negative integer", "");
    const AdvanceResult a = advance(static_cast<int>(*hours));
    r.text = json{{"previousTime", a.previous_time},
                  {"now", a.now},
                  {"steps", a.steps},
                  {"events", a.events}}
                 .dump();
  } else if (lp == "/sim/truth" && req.method == "GET") {
    r.text = truth_json(truth(), param(req, "keys") != "false").dump();
  } else if (lp == "/sim/faults" && req.method == "POST") {
    try {
      add_faults(faults_from_json(json::parse(req.body.empty() ? "{}" : req.body)));
    } catch (const std::exception& e) {
      return error_reply(400, "InvalidRequestBody", e.what(), "");
    }
    r.text = faults_json(pending_faults()).dump();
  } else if (lp == "/sim/faults" && req.method == "GET") {
    r.text = faults_json(pending_faults()).dump();
  } else if ((lp == "/sim/faults" && req.method == "DELETE") ||
             (lp == "/sim/faults/clear" && req.method == "POST")) {
    clear_faults();
    r.text = faults_json(pending_faults()).dump();
  } else if (lp == "/sim/stats" && req.method == "GET") {
    json eps = json::object();
    std::uint64_t total = 0;
    for (const auto& [n, s] : stats()) {
      json by = json::object();
      for (const auto& [st, c] : s.by_status) by[std::to_string(st)] = c;
      eps[n] = {{"total", s.total}, {"byStatus", by}};
      total += s.total;
    }
    r.text = json{{"total", total}, {"endpoints", eps}, {"heldBodies", held_bodies()}}.dump();
  } else if (lp == "/sim/stats/reset" && req.method == "POST") {
    reset_stats();
    r.text = "{}";
  } else if (lp == "/sim/roles" && req.method == "POST") {
    try {
      set_roles(json::parse(req.body).at("roles").get<std::vector<std::string>>());
    } catch (const std::exception& e) {
      return error_reply(400, "InvalidRequestBody", e.what(), "");
    }
    r.text = "{}";
  } else if (lp == "/sim/ratelimits" && req.method == "POST") {
    try {
      const auto j = json::parse(req.body);
      set_rate_limits(j.value("enabled", true), j.value("scale", 1.0));
    } catch (const std::exception& e) {
      return error_reply(400, "InvalidRequestBody", e.what(), "");
    }
    r.text = "{}";
  } else if (lp == "/sim/health") {
    r.text = "{\"status\":\"ok\"}";
  } else {
    return error_reply(404, "NotFound", "unknown admin endpoint " + req.path, "");
  }
  return r;
}

}  // namespace mdesim
