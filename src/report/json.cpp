#include "report/json.hpp"

#include <nlohmann/json.hpp>

namespace mdesync::report {
namespace {

using Json = nlohmann::ordered_json;

Json time_or_null(const std::optional<Timestamp>& t) {
  return t ? Json(util::format_timestamp(*t)) : Json(nullptr);
}
template <typename T>
Json opt(const std::optional<T>& v) {
  return v ? Json(*v) : Json(nullptr);
}

Json by_severity(const BySeverity& v) {
  Json j = Json::object();
  for (std::size_t i = 0; i < v.size(); ++i) j[std::string(k_severities[i])] = v[i];
  return j;
}

Json header(const Header& h) {
  Json objects = Json::array();
  for (const auto& o : h.objects) {
    objects.push_back({{"object", o.object},
                       {"mode", o.mode},
                       {"completedAt", time_or_null(o.completed_at)},
                       {"snapshotTime", time_or_null(o.snapshot_time)},
                       {"ageHours", opt(o.age_hours)},
                       {"stale", o.stale}});
  }
  Json sla = Json::object();
  for (std::size_t i = 0; i + 1 < k_severities.size(); ++i) {
    sla[std::string(k_severities[i])] = *h.sla.of(i);
  }
  return {{"tenant", h.tenant},
          {"store", h.store},
          {"generatedAt", util::format_timestamp(h.generated_at)},
          {"asOf", time_or_null(h.as_of)},
          {"windowStart", h.as_of ? Json(util::format_timestamp(h.window_start)) : Json(nullptr)},
          {"windowEnd", h.as_of ? Json(util::format_timestamp(h.window_end)) : Json(nullptr)},
          {"days", h.days},
          {"flowBucket", h.flow_bucket},
          {"groups", h.groups},
          {"slaDays", sla},
          {"staleAfterHours", h.stale_after_hours},
          {"historyStart", time_or_null(h.history_start)},
          {"noData", h.no_data},
          {"warnings", h.warnings},
          {"objects", objects}};
}

Json headline(const Headline& h) {
  return {{"open", by_severity(h.open)},
          {"openTotal", h.open_total},
          {"withExploit", h.with_exploit},
          {"exploitVerified", h.exploit_verified},
          {"exploitInKit", h.exploit_in_kit},
          {"hostsWithOpenCritical", h.hosts_with_open_critical},
          {"hostsWithOpen", h.hosts_with_open},
          {"medianAgeDays", opt(h.median_age_days)},
          {"withinDeadline", h.within_deadline},
          {"pastDeadline", h.past_deadline},
          {"withinDeadlineShare", opt(h.within_deadline_share)}};
}

Json trend(const Trend& t) {
  Json open = Json::array();
  for (const auto& d : t.open) open.push_back({{"date", d.date}, {"open", by_severity(d.open)}});
  Json flow = Json::array();
  for (const auto& b : t.flow) {
    flow.push_back(
        {{"start", b.start}, {"new", b.opened}, {"fixed", b.fixed}, {"reopened", b.reopened}});
  }
  return {{"open", open}, {"flow", flow}};
}

Json remediation(const Remediation& r) {
  Json rows = Json::array();
  for (std::size_t i = 0; i < k_severities.size(); ++i) {
    rows.push_back({{"severity", k_severities[i]},
                    {"fixed", r.fixed[i]},
                    {"meanDays", opt(r.mean_days[i])},
                    {"medianDays", opt(r.median_days[i])}});
  }
  return {{"bySeverity", rows},
          {"fixed", r.fixed_total},
          {"meanDays", opt(r.mean_days_total)},
          {"medianDays", opt(r.median_days_total)}};
}

Json ageing(const Ageing& a, const SlaDays& sla) {
  Json buckets = Json::array();
  for (std::size_t b = 0; b < k_age_buckets.size(); ++b) {
    buckets.push_back({{"bucket", k_age_buckets[b]}, {"open", by_severity(a.buckets[b])}});
  }
  Json deadlines = Json::array();
  for (std::size_t i = 0; i < k_severities.size(); ++i) {
    deadlines.push_back({{"severity", k_severities[i]},
                         {"days", opt(sla.of(i))},
                         {"within", a.within[i]},
                         {"past", a.past[i]}});
  }
  Json oldest = Json::array();
  for (const auto& f : a.oldest_critical) {
    oldest.push_back({{"cve", f.cve},
                      {"host", f.host},
                      {"hostId", f.host_id},
                      {"group", f.group},
                      {"software", f.software},
                      {"opened", util::format_timestamp(f.opened)},
                      {"ageDays", f.age_days}});
  }
  return {{"buckets", buckets}, {"deadlines", deadlines}, {"oldestCritical", oldest}};
}

}  // namespace

std::string render_json(const Figures& f) {
  Json j;
  j["header"] = header(f.header);
  j["headline"] = headline(f.headline);
  j["trend"] = trend(f.trend);
  j["remediation"] = remediation(f.remediation);
  j["ageing"] = ageing(f.ageing, f.header.sla);
  Json vulns = Json::array();
  for (const auto& v : f.top_vulnerabilities) {
    vulns.push_back({{"cve", v.cve},
                     {"name", v.name},
                     {"severity", v.severity},
                     {"cvss", opt(v.cvss)},
                     {"epss", opt(v.epss)},
                     {"exploitability", v.exploitability},
                     {"patchAvailable", opt(v.patch_available)},
                     {"recommendation", v.recommendation},
                     {"hosts", v.hosts},
                     {"open", v.open}});
  }
  j["topVulnerabilities"] = vulns;
  Json hosts = Json::array();
  for (const auto& h : f.top_hosts) {
    hosts.push_back({{"id", h.id},
                     {"name", h.name},
                     {"group", h.group},
                     {"os", h.os},
                     {"exposureLevel", h.exposure_level},
                     {"risk", h.risk},
                     {"critical", h.critical},
                     {"high", h.high},
                     {"open", h.open}});
  }
  j["topHosts"] = hosts;
  Json groups = Json::array();
  for (const auto& g : f.groups) {
    groups.push_back({{"name", g.name},
                      {"hosts", g.hosts},
                      {"open", by_severity(g.open)},
                      {"pastDeadline", g.past_deadline},
                      {"fixed", g.fixed},
                      {"meanDaysToRemediate", opt(g.mean_days_to_remediate)}});
  }
  j["groups"] = groups;
  Json software = Json::array();
  for (const auto& s : f.software) {
    software.push_back({{"vendor", s.vendor},
                        {"name", s.name},
                        {"open", s.open},
                        {"critical", s.critical},
                        {"high", s.high},
                        {"hosts", s.hosts},
                        {"recommendation", s.recommendation}});
  }
  j["software"] = software;
  Json runs = Json::array();
  for (const auto& r : f.runs) {
    runs.push_back({{"id", r.id},
                    {"mode", r.mode},
                    {"outcome", r.outcome},
                    {"startedAt", util::format_timestamp(r.started_at)},
                    {"seconds", opt(r.seconds)},
                    {"calls", r.calls},
                    {"written", r.written},
                    {"closed", r.closed}});
  }
  j["runs"] = runs;
  return j.dump(2) + "\n";
}

}  // namespace mdesync::report
