#pragma once

// The figures of `mdesync report`: what the HTML page and the JSON document show, computed
// once from the store (compute.cpp) and rendered twice (json.cpp, html.cpp), so that the
// two never disagree. Every count is exact; durations are in days, computed from integer
// microseconds, so that SQLite and PostgreSQL stores of one history give the same figures.
//
// Times: `as_of` is the data's own clock (the service's snapshot time of the last good
// vulnerability read); ages, deadlines and the window are measured against it, so that a
// report of an old store (or of the simulator's clock) stays meaningful. `generated_at` is
// the wall clock, against which the sync times are judged stale.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/time.hpp"

namespace mdesync::report {

using util::Timestamp;

// Severity order of every per-severity array.
inline constexpr std::array<std::string_view, 5> k_severities = {"Critical", "High", "Medium",
                                                                 "Low", "Unknown"};
using BySeverity = std::array<std::int64_t, 5>;
// Index into k_severities; Unknown for anything else.
std::size_t severity_index(std::string_view severity);

// Remediation deadlines in days per severity ([report.sla_days]); Unknown has none.
struct SlaDays {
  int critical = 15;
  int high = 30;
  int medium = 90;
  int low = 180;
  // The deadline of k_severities[i], nullopt for Unknown.
  [[nodiscard]] std::optional<int> of(std::size_t severity) const;
};

struct ReportOptions {
  int days = 90;                    // the window: `as_of` - days .. `as_of`
  std::vector<std::string> groups;  // device groups (rbacGroupName) to report on; empty: all
  int stale_after_hours = 48;       // a sync older than this (wall clock) is stale
  SlaDays sla;
  Timestamp now{};     // the wall clock of the report (generated_at)
  std::string tenant;  // shown in the header
  std::string store;   // the store URL, redacted
};

// One object's last good sync (its checkpoint).
struct ObjectSync {
  std::string object;                      // host, package, installed_package, vulnerability, ...
  std::string mode;                        // full | delta
  std::optional<Timestamp> completed_at;   // wall clock of the commit
  std::optional<Timestamp> snapshot_time;  // the service's clock
  std::optional<double> age_hours;         // generated_at - completed_at
  bool stale = false;
};

struct Header {
  std::string tenant;
  std::string store;
  Timestamp generated_at{};
  std::optional<Timestamp> as_of;  // absent: no vulnerability read has completed
  Timestamp window_start{};        // as_of - days, at 00:00 UTC of that day
  Timestamp window_end{};          // as_of
  int days = 90;
  std::string flow_bucket;          // "day" or "week": the bucket of Trend::flow
  std::vector<std::string> groups;  // the groups reported on; empty: the whole tenant
  SlaDays sla;
  int stale_after_hours = 48;
  std::vector<ObjectSync> objects;
  // The first complete full read of findings kept in the store: trend figures before it
  // are not known (the history starts there).
  std::optional<Timestamp> history_start;
  std::vector<std::string> warnings;  // stale data, failed last run, no sync yet
  bool no_data = false;               // no sync has stored anything yet
};

struct Headline {
  BySeverity open{};
  std::int64_t open_total = 0;
  std::int64_t with_exploit = 0;      // public exploit, verified or in a kit
  std::int64_t exploit_verified = 0;  // verified or in a kit
  std::int64_t exploit_in_kit = 0;
  std::int64_t hosts_with_open_critical = 0;
  std::int64_t hosts_with_open = 0;
  std::optional<double> median_age_days;  // of the open findings
  std::int64_t within_deadline = 0;       // open findings with a deadline, not past it
  std::int64_t past_deadline = 0;
  std::optional<double> within_deadline_share;  // within / (within + past), 0..1
};

struct DayOpen {
  std::string date;  // YYYY-MM-DD (UTC); the count at the end of that day (or at as_of)
  BySeverity open{};
};

struct FlowBucket {
  std::string start;          // YYYY-MM-DD, first day of the bucket
  std::int64_t opened = 0;    // findings first found in the bucket
  std::int64_t fixed = 0;     // Fixed events
  std::int64_t reopened = 0;  // Reopened events
};

struct Trend {
  std::vector<DayOpen> open;  // one per day of the window from history_start on
  std::vector<FlowBucket> flow;
};

struct Remediation {
  // Per severity: findings fixed in the window and their time to remediate (fix time -
  // the start of the open episode the fix ended: the finding's first_found, or its last
  // reopening before the fix).
  std::array<std::int64_t, 5> fixed{};
  std::array<std::optional<double>, 5> mean_days{};
  std::array<std::optional<double>, 5> median_days{};
  std::int64_t fixed_total = 0;
  std::optional<double> mean_days_total;
  std::optional<double> median_days_total;
};

// Age buckets of open findings, in days since their open episode began.
inline constexpr std::array<std::string_view, 6> k_age_buckets = {"0-7",   "8-15",   "16-30",
                                                                  "31-90", "91-180", ">180"};
struct Ageing {
  std::array<BySeverity, 6> buckets{};  // [bucket][severity]
  BySeverity within{};                  // per severity: within the deadline
  BySeverity past{};                    // past it
  struct Finding {
    std::string cve;
    std::string host;     // host name
    std::string host_id;  // device id
    std::string group;
    std::string software;  // "vendor name version"
    Timestamp opened{};
    double age_days = 0;
  };
  std::vector<Finding> oldest_critical;  // up to 10, oldest first
};

struct TopVulnerability {
  std::string cve;
  std::string severity;
  std::optional<double> cvss;  // CVSS v3 base score of the definition
  std::optional<double> epss;
  std::string exploitability;  // the definition's, e.g. "Exploit verified"
  std::optional<bool> patch_available;
  std::string recommendation;  // the fixing update of the findings (most common)
  std::int64_t hosts = 0;
  std::int64_t open = 0;
  std::string name;  // the definition's name or summary
};

struct TopHost {
  std::string id;
  std::string name;
  std::string group;
  std::string os;
  std::string exposure_level;
  std::string risk;  // Defender's risk rating
  std::int64_t critical = 0;
  std::int64_t high = 0;
  std::int64_t open = 0;
};

struct GroupFigures {
  std::string name;  // "(no group)" for hosts without one
  std::int64_t hosts = 0;
  BySeverity open{};
  std::int64_t past_deadline = 0;
  std::int64_t fixed = 0;  // in the window
  std::optional<double> mean_days_to_remediate;
};

struct SoftwareFigures {
  std::string vendor;
  std::string name;
  std::int64_t open = 0;
  std::int64_t critical = 0;
  std::int64_t high = 0;
  std::int64_t hosts = 0;
  std::string recommendation;
};

struct RunFigures {
  std::int64_t id = 0;
  std::string mode;
  std::string outcome;
  Timestamp started_at{};
  std::optional<double> seconds;
  std::int64_t calls = 0;
  std::int64_t written = 0;
  std::int64_t closed = 0;
};

struct Figures {
  Header header;
  Headline headline;
  Trend trend;
  Remediation remediation;
  Ageing ageing;
  std::vector<TopVulnerability> top_vulnerabilities;  // up to 20
  std::vector<TopHost> top_hosts;                     // up to 20
  std::vector<GroupFigures> groups;
  std::vector<SoftwareFigures> software;  // up to 20
  std::vector<RunFigures> runs;           // up to 30, newest first
};

// "YYYY-MM-DD" of a time (UTC).
std::string day_text(Timestamp t);

}  // namespace mdesync::report
