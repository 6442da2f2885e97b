#include "report/compute.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace mdesync::report {
namespace {

using store::QueryRow;
using store::Store;
using util::ErrorCode;
using util::Result;
using util::Status;

constexpr std::int64_t k_day = 86'400'000'000;
constexpr std::int64_t k_second = 1'000'000;
constexpr std::size_t k_top = 20;
constexpr std::size_t k_oldest = 10;
constexpr std::size_t k_runs = 30;

std::int64_t micros(Timestamp t) {
  return t.time_since_epoch().count();
}
Timestamp at(std::int64_t us) {
  return Timestamp{std::chrono::microseconds{us}};
}
std::int64_t floor_day(std::int64_t us) {
  return (us >= 0 ? us : us - (k_day - 1)) / k_day * k_day;
}

// Days of a duration, rounded to 2 decimals: the same double from the same integers.
double days_of_seconds(double seconds) {
  return std::round(seconds / 86400.0 * 100.0) / 100.0;
}
double days_of(std::int64_t us) {
  return days_of_seconds(static_cast<double>(us / k_second));
}

// A SQL string literal.
std::string quote(std::string_view s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string text_or(const QueryRow& r, int c, std::string_view fallback = {}) {
  return r.is_null(c) ? std::string(fallback) : std::string(r.text(c));
}

std::string group_of(const QueryRow& r, int c) {
  if (r.is_null(c) || r.text(c).empty()) return std::string(k_no_group);
  return std::string(r.text(c));
}

// Median of durations in microseconds, as days; nullopt when empty. Reorders `v`.
std::optional<double> median_days(std::vector<std::int64_t>& v) {
  if (v.empty()) return std::nullopt;
  const std::size_t n = v.size();
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n / 2), v.end());
  const std::int64_t upper = v[n / 2];
  if (n % 2 == 1) return days_of(upper);
  const std::int64_t lower =
      *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n / 2));
  // Seconds first, so that two large durations never overflow.
  return days_of_seconds(
      (static_cast<double>(lower / k_second) + static_cast<double>(upper / k_second)) / 2.0);
}

// Interns strings as dense ids.
class Interner {
 public:
  std::uint32_t id(const std::string& s) {
    auto [it, added] = m_ids.try_emplace(s, static_cast<std::uint32_t>(m_names.size()));
    if (added) m_names.push_back(s);
    return it->second;
  }
  [[nodiscard]] const std::string& name(std::uint32_t id) const { return m_names[id]; }

 private:
  std::unordered_map<std::string, std::uint32_t> m_ids;
  std::vector<std::string> m_names;
};

// Sorts 64-bit keys in four passes of 16 bits (LSD radix): a pass over every open finding's
// pairs costs a tenth of a comparison sort.
void radix_sort(std::vector<std::uint64_t>& v) {
  std::vector<std::uint64_t> tmp(v.size());
  std::vector<std::size_t> count(std::size_t{1} << 16);
  for (unsigned shift = 0; shift < 64; shift += 16) {
    std::fill(count.begin(), count.end(), 0);
    for (const auto x : v) ++count[(x >> shift) & 0xffffU];
    std::size_t sum = 0;
    for (auto& c : count) sum += std::exchange(c, sum);
    for (const auto x : v) tmp[count[(x >> shift) & 0xffffU]++] = x;
    v.swap(tmp);
  }
}

// The first `n` of `v` in the order of `before`, sorted; the rest dropped.
template <typename T, typename Before>
void keep_top(std::vector<T>& v, std::size_t n, Before before) {
  const auto end = v.begin() + static_cast<std::ptrdiff_t>(std::min(n, v.size()));
  std::partial_sort(v.begin(), end, v.end(), before);
  v.erase(end, v.end());
}

// Distinct (key, host) pairs counted per key.
std::unordered_map<std::uint32_t, std::int64_t> distinct_hosts(std::vector<std::uint64_t>& pairs) {
  radix_sort(pairs);
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  std::unordered_map<std::uint32_t, std::int64_t> out;
  for (const auto p : pairs) ++out[static_cast<std::uint32_t>(p >> 32)];
  return out;
}
std::uint64_t pair_of(std::uint32_t key, std::int64_t host) {
  return (std::uint64_t{key} << 32) | (static_cast<std::uint64_t>(host) & 0xffffffffU);
}

// The most frequent value per key of (key << 32 | value) counts; ties to the smaller text.
std::unordered_map<std::uint32_t, std::string> most_common(
    const std::unordered_map<std::uint64_t, std::int64_t>& counts, const Interner& values) {
  std::unordered_map<std::uint32_t, std::pair<std::int64_t, std::uint32_t>> best;
  for (const auto& [k, n] : counts) {
    const auto key = static_cast<std::uint32_t>(k >> 32);
    const auto value = static_cast<std::uint32_t>(k & 0xffffffffU);
    auto [it, added] = best.try_emplace(key, n, value);
    if (!added && (n > it->second.first || (n == it->second.first &&
                                            values.name(value) < values.name(it->second.second)))) {
      it->second = {n, value};
    }
  }
  std::unordered_map<std::uint32_t, std::string> out;
  for (const auto& [k, v] : best) out.emplace(k, values.name(v.second));
  return out;
}

// Values by a table's integer id. The ids are identity keys, dense from 1: a vector, so
// that the pass over every open finding looks its context rows up by index.
template <typename T>
class ById {
 public:
  T& operator[](std::int64_t id) {
    if (id < 0) return m_spare;
    const auto i = static_cast<std::size_t>(id);
    if (i >= m_values.size()) {
      m_values.resize(i + 1);
      m_present.resize(i + 1, false);
    }
    m_present[i] = true;
    return m_values[i];
  }
  // Room for ids up to `max_id` without growing.
  void reserve(std::int64_t max_id) {
    if (max_id < 0) return;
    m_values.reserve(static_cast<std::size_t>(max_id) + 1);
    m_present.reserve(static_cast<std::size_t>(max_id) + 1);
  }
  [[nodiscard]] const T* find(std::int64_t id) const {
    const auto i = static_cast<std::size_t>(id);
    return id >= 0 && i < m_values.size() && m_present[i] ? &m_values[i] : nullptr;
  }
  template <typename F>
  void each(F&& f) const {
    for (std::size_t i = 0; i < m_values.size(); ++i) {
      if (m_present[i]) f(static_cast<std::int64_t>(i), m_values[i]);
    }
  }

 private:
  std::vector<T> m_values;
  std::vector<bool> m_present;
  T m_spare{};
};

struct ItemContext {
  std::uint8_t exploit = 0;  // 0 none, 1 public, 2 verified, 3 in kit
  std::uint32_t software = 0;
  std::uint32_t recommendation = 0;  // interned; "" when none
  std::string software_text;         // "vendor name version"
};

struct HostInfo {
  std::string name;
  std::string group;
  std::string os;
  std::string exposure;
  std::string risk;
  bool removed = false;
};

class Computer {
 public:
  Computer(Store& store, const ReportOptions& options) : m_store(store), m_opt(options) {}

  Result<Figures> run() {
    Figures f;
    if (auto st = m_store.read_snapshot([&] { return compute(f); }); !st)
      return util::fail(st.error());
    return f;
  }

 private:
  Status query(const std::string& sql, const std::function<void(const QueryRow&)>& row) {
    return m_store.read_query(sql, [&](const QueryRow& r) {
      row(r);
      return true;
    });
  }

  Status compute(Figures& f) {
    if (auto st = header(f); !st) return st;
    if (auto st = runs(f); !st) return st;
    if (!f.header.as_of) return {};
    m_as_of = micros(*f.header.as_of);
    const std::int64_t as_of_day = floor_day(m_as_of);
    m_window_start = as_of_day - (m_opt.days - 1) * k_day;
    f.header.window_start = at(m_window_start);
    f.header.window_end = at(m_as_of);
    // Trend points from the later of the window's first day and the history's.
    m_trend_start = m_window_start;
    if (f.header.history_start) {
      m_trend_start = std::max(m_trend_start, floor_day(micros(*f.header.history_start)));
    } else {
      m_trend_start = as_of_day + k_day;  // nothing known: no trend
    }
    // Flows per day, or per week when the trend spans more than 60 days.
    f.header.flow_bucket = (as_of_day - m_trend_start) / k_day + 1 > 60 ? "week" : "day";
    using Step = Status (Computer::*)(Figures&);
    for (const Step step :
         {&Computer::dimensions, &Computer::events, &Computer::open_findings, &Computer::trend,
          &Computer::remediation, &Computer::definitions, &Computer::groups}) {
      if (auto st = (this->*step)(f); !st) return st;
    }
    return {};
  }

  // --- header ---------------------------------------------------------------------------

  Status header(Figures& f) {
    Header& h = f.header;
    h.tenant = m_opt.tenant;
    h.store = m_opt.store;
    h.generated_at = m_opt.now;
    h.days = m_opt.days;
    h.groups = m_opt.groups;
    h.sla = m_opt.sla;
    h.stale_after_hours = m_opt.stale_after_hours;
    h.flow_bucket = "day";  // per week when the trend spans more than 60 days (compute)
    auto cps = m_store.checkpoints();
    if (!cps) return util::fail(cps.error());
    std::optional<Timestamp> latest_snapshot;
    for (const auto& c : *cps) {
      ObjectSync o;
      o.object = std::string(model::to_string(c.object));
      o.mode = c.mode;
      o.completed_at = c.completed_at;
      o.snapshot_time = c.snapshot_time;
      const auto age = std::chrono::duration<double, std::ratio<3600>>(m_opt.now - c.completed_at);
      o.age_hours = std::round(age.count() * 10.0) / 10.0;
      o.stale = age.count() > m_opt.stale_after_hours;
      if (o.stale) {
        h.warnings.push_back(fmt::format(
            "Stale data: the last good sync of {} completed {} ({:.1f} days ago, more than {} "
            "hours).",
            o.object, util::format_timestamp_seconds(c.completed_at), age.count() / 24.0,
            m_opt.stale_after_hours));
      }
      if (c.object == model::ObjectType::vulnerability) h.as_of = c.snapshot_time;
      if (c.snapshot_time && (!latest_snapshot || *c.snapshot_time > *latest_snapshot)) {
        latest_snapshot = c.snapshot_time;
      }
      h.objects.push_back(std::move(o));
    }
    h.no_data = cps->empty();
    if (h.no_data) {
      h.warnings.insert(h.warnings.begin(),
                        "No sync has stored anything yet: run `mdesync sync` first.");
    } else if (!h.as_of) {
      h.warnings.push_back(
          "No read of the findings has completed yet: the figures below need one "
          "(`mdesync sync --objects vulnerability`).");
    }
    std::optional<std::int64_t> start;
    if (auto st = query("SELECT snapshot_time FROM history_start WHERE object = 'vulnerability'",
                        [&](const QueryRow& r) {
                          if (!r.is_null(0)) start = r.int64(0);
                        });
        !st) {
      return st;
    }
    if (start) h.history_start = at(*start);
    return {};
  }

  Status runs(Figures& f) {
    auto runs = m_store.recent_runs(static_cast<int>(k_runs));
    if (!runs) return util::fail(runs.error());
    for (const auto& r : *runs) {
      RunFigures out;
      out.id = r.id;
      out.mode = r.mode;
      out.outcome = r.outcome.value_or("running");
      out.started_at = r.started_at;
      if (r.ended_at) {
        out.seconds =
            std::round(std::chrono::duration<double>(*r.ended_at - r.started_at).count() * 10.0) /
            10.0;
      }
      const auto j =
          nlohmann::json::parse(r.counts_json.empty() ? "{}" : r.counts_json, nullptr, false);
      if (j.is_object()) {
        out.calls = j.value("httpCalls", std::int64_t{0});
        if (const auto it = j.find("objects"); it != j.end() && it->is_array()) {
          for (const auto& o : *it) {
            if (!o.is_object()) continue;
            out.written += o.value("written", std::int64_t{0});
            out.closed += o.value("closed", std::int64_t{0});
          }
        }
      }
      f.runs.push_back(std::move(out));
    }
    // The newest run that ended tells whether the last sync went wrong.
    for (const auto& r : f.runs) {
      if (r.outcome == "running") continue;
      if (r.outcome != "success") {
        f.header.warnings.push_back(fmt::format(
            "The last sync run (#{}, {} at {}) ended {}: see `mdesync status` for its errors.",
            r.id, r.mode, util::format_timestamp_seconds(r.started_at), r.outcome));
      }
      break;
    }
    return {};
  }

  // --- the small tables the findings refer to ------------------------------------------

  Status dimensions(Figures&) {
    auto st = query("SELECT id, rbac_group_name FROM vulnerability_host_context",
                    [&](const QueryRow& r) { m_hc_group[r.int64(0)] = group_of(r, 1); });
    if (!st) return st;
    st = query(
        "SELECT id, exploitability_level, software_vendor, software_name, software_version, "
        "recommended_security_update FROM vulnerability_item_context",
        [&](const QueryRow& r) {
          ItemContext ic;
          const std::string_view level = r.is_null(1) ? std::string_view{} : r.text(1);
          ic.exploit = level == "ExploitIsInKit"      ? 3
                       : level == "ExploitIsVerified" ? 2
                       : level == "ExploitIsPublic"   ? 1
                                                      : 0;
          const std::string vendor = text_or(r, 2);
          const std::string name = text_or(r, 3);
          ic.software = m_software.id(vendor + '\x1f' + name);
          ic.software_text = fmt::format("{} {} {}", vendor, name, text_or(r, 4));
          ic.recommendation = m_texts.id(text_or(r, 5));
          m_ic[r.int64(0)] = std::move(ic);
        });
    if (!st) return st;
    st = query("SELECT id, type FROM vulnerability_item", [&](const QueryRow& r) {
      m_item_cve[r.int64(0)] = m_cves.id(std::string(r.text(1)));
    });
    if (!st) return st;
    st = query("SELECT id, targets FROM vulnerability_target",
               [&](const QueryRow& r) { m_target[r.int64(0)] = std::string(r.text(1)); });
    if (!st) return st;
    return query(
        "SELECT uid, name, rbac_group_name, os, exposure_level, source_risk_rating, status "
        "FROM host",
        [&](const QueryRow& r) {
          HostInfo h;
          h.name = text_or(r, 1);
          h.group = group_of(r, 2);
          h.os = text_or(r, 3);
          h.exposure = text_or(r, 4);
          h.risk = text_or(r, 5);
          h.removed = r.text(6) == "Removed";
          m_hosts.emplace(std::string(r.text(0)), std::move(h));
        });
  }

  [[nodiscard]] bool chosen(const std::string& group) const {
    return m_opt.groups.empty() ||
           std::find(m_opt.groups.begin(), m_opt.groups.end(), group) != m_opt.groups.end();
  }

  // --- the history: every fix and reopening ---------------------------------------------

  Status events(Figures&) {
    return query(
        "SELECT finding, event, event_time FROM vulnerability_event WHERE event IN ('Fixed', "
        "'Reopened')",
        [&](const QueryRow& r) {
          Event e;
          e.finding = r.int64(0);
          e.fixed = r.text(1) == "Fixed";
          if (!r.is_null(2)) e.time = r.int64(2);
          if (!e.fixed && e.time) {
            std::int64_t& last = m_last_reopened[e.finding];
            last = std::max(last, *e.time);
          }
          m_events.push_back(e);
        });
  }

  // --- open findings: one streamed pass ------------------------------------------------

  Status open_findings(Figures& f) {
    struct HostCounts {
      BySeverity open{};
    };
    ById<HostCounts> per_host;
    std::array<std::vector<std::int64_t>, 5> ages;  // per severity, microseconds
    std::vector<std::uint64_t> cve_hosts;
    std::vector<std::uint64_t> software_hosts;
    std::unordered_map<std::uint32_t, std::int64_t> cve_open;
    std::unordered_map<std::uint32_t, std::string> cve_severity;
    std::unordered_map<std::uint64_t, std::int64_t> cve_rec;
    std::unordered_map<std::uint32_t, std::array<std::int64_t, 3>> sw_counts;  // open, crit, high
    std::unordered_map<std::uint64_t, std::int64_t> sw_rec;
    std::map<std::string, GroupFigures> groups;
    std::vector<Oldest> oldest;
    Headline& hl = f.headline;
    Ageing& ag = f.ageing;

    // Every finding once, in table order (a scan, no index): the closed ones only count
    // towards the days they were first found on (the trend), the open ones towards
    // everything. A GROUP BY of the first-found days in SQL cost a sort of every finding.
    const std::string sql =
        "SELECT f.host, f.item, f.severity, f.host_context, f.item_context, f.status, "
        "coalesce(f.first_found, f.state_time), f.status_category, f.id, f.first_found "
        "FROM vulnerability_finding f";
    const auto days = static_cast<std::size_t>(m_opt.days);
    m_new_by_day.assign(days + 1, BySeverity{});
    if (auto st = query("SELECT max(id) FROM vulnerability_finding",
                        [&](const QueryRow& r) {
                          if (!r.is_null(0)) m_findings.reserve(r.int64(0));
                        });
        !st) {
      return st;
    }
    auto st = query(sql, [&](const QueryRow& r) {
      const std::string* hc = m_hc_group.find(r.int64(3));
      const std::string& group = hc == nullptr ? m_none : *hc;
      if (!chosen(group)) return;
      const std::size_t sev = severity_index(r.text(2));
      const std::int64_t id = r.int64(8);
      m_findings[id] = {r.is_null(9) ? FindingFacts::k_unknown : r.int64(9), m_group_ids.id(group),
                        static_cast<std::uint8_t>(sev)};
      m_new_by_day[day_slot(r.is_null(6) ? std::nullopt : std::optional(r.int64(6)))][sev] += 1;
      if (r.text(7) != "Open") return;
      const std::int64_t host = r.int64(0);
      // The open episode began at the last reopening, else when first found.
      const std::int64_t* reopened = r.text(5) == "Reopened" ? m_last_reopened.find(id) : nullptr;
      const std::int64_t start = reopened != nullptr ? *reopened
                                 : r.is_null(6)      ? m_as_of
                                                     : r.int64(6);
      const std::int64_t age = std::max<std::int64_t>(0, m_as_of - start);
      const ItemContext* ic = m_ic.find(r.int64(4));
      const std::uint32_t* cve_id = m_item_cve.find(r.int64(1));
      const std::uint32_t cve = cve_id == nullptr ? m_cves.id("") : *cve_id;

      ++hl.open[sev];
      ++hl.open_total;
      if (ic != nullptr && ic->exploit >= 1) ++hl.with_exploit;
      if (ic != nullptr && ic->exploit >= 2) ++hl.exploit_verified;
      if (ic != nullptr && ic->exploit >= 3) ++hl.exploit_in_kit;
      ++per_host[host].open[sev];
      ages[sev].push_back(age);
      const std::int64_t age_days = age / k_day;
      const std::size_t bucket = age_days <= 7     ? 0
                                 : age_days <= 15  ? 1
                                 : age_days <= 30  ? 2
                                 : age_days <= 90  ? 3
                                 : age_days <= 180 ? 4
                                                   : 5;
      ++ag.buckets[bucket][sev];
      GroupFigures& g = groups[group];
      ++g.open[sev];
      if (const auto sla = m_opt.sla.of(sev)) {
        if (age > *sla * k_day) {
          ++ag.past[sev];
          ++g.past_deadline;
        } else {
          ++ag.within[sev];
        }
      }
      cve_hosts.push_back(pair_of(cve, host));
      ++cve_open[cve];
      if (!cve_severity.contains(cve) || sev < severity_index(cve_severity[cve])) {
        cve_severity[cve] = std::string(k_severities[sev]);
      }
      if (ic != nullptr) {
        ++cve_rec[pair_of(cve, ic->recommendation)];
        software_hosts.push_back(pair_of(ic->software, host));
        auto& c = sw_counts[ic->software];
        ++c[0];
        if (sev == 0) ++c[1];
        if (sev == 1) ++c[2];
        ++sw_rec[pair_of(ic->software, ic->recommendation)];
      }
      if (sev == 0) {
        const std::string* t = m_target.find(host);
        oldest.push_back({start, t == nullptr ? std::string() : *t, cve, r.int64(4), group});
        if (oldest.size() > 4 * k_oldest) trim_oldest(oldest);
      }
    });
    if (!st) return st;

    // Headline ages and deadlines.
    std::vector<std::int64_t> all;
    for (std::size_t s = 0; s < ages.size(); ++s) {
      all.insert(all.end(), ages[s].begin(), ages[s].end());
      hl.within_deadline += ag.within[s];
      hl.past_deadline += ag.past[s];
    }
    hl.median_age_days = median_days(all);
    if (hl.within_deadline + hl.past_deadline > 0) {
      hl.within_deadline_share =
          std::round(static_cast<double>(hl.within_deadline) * 10000.0 /
                     static_cast<double>(hl.within_deadline + hl.past_deadline)) /
          10000.0;
    }

    // Oldest criticals.
    trim_oldest(oldest);
    for (auto& o : oldest) {
      Ageing::Finding out;
      out.cve = m_cves.name(o.cve);
      out.host_id = o.host_id;
      const auto h = m_hosts.find(o.host_id);
      out.host = h == m_hosts.end() ? o.host_id : h->second.name;
      out.group = o.group;
      const ItemContext* ic = m_ic.find(o.ic);
      out.software = ic == nullptr ? std::string() : ic->software_text;
      out.opened = at(o.start);
      out.age_days = days_of(std::max<std::int64_t>(0, m_as_of - o.start));
      ag.oldest_critical.push_back(std::move(out));
    }

    // Hosts.
    std::vector<TopHost> hosts;
    per_host.each([&](std::int64_t id, const HostCounts& c) {
      if (c.open[0] > 0) ++hl.hosts_with_open_critical;
      ++hl.hosts_with_open;
      TopHost t;
      const std::string* tgt = m_target.find(id);
      t.id = tgt == nullptr ? std::string() : *tgt;
      if (const auto h = m_hosts.find(t.id); h != m_hosts.end()) {
        t.name = h->second.name;
        t.group = h->second.group;
        t.os = h->second.os;
        t.exposure_level = h->second.exposure;
        t.risk = h->second.risk;
      } else {
        t.name = t.id;
      }
      t.critical = c.open[0];
      t.high = c.open[1];
      for (const auto n : c.open) t.open += n;
      hosts.push_back(std::move(t));
    });
    keep_top(hosts, k_top, [](const TopHost& a, const TopHost& b) {
      return std::tie(b.critical, b.high, b.open, a.name, a.id) <
             std::tie(a.critical, a.high, a.open, b.name, b.id);
    });
    f.top_hosts = std::move(hosts);

    // Vulnerabilities by exposed hosts.
    const auto cve_host_counts = distinct_hosts(cve_hosts);
    const auto cve_recs = most_common(cve_rec, m_texts);
    std::vector<TopVulnerability> vulns;
    for (const auto& [cve, open] : cve_open) {
      TopVulnerability v;
      v.cve = m_cves.name(cve);
      v.open = open;
      v.hosts = cve_host_counts.at(cve);
      v.severity = cve_severity[cve];
      if (const auto rec = cve_recs.find(cve); rec != cve_recs.end())
        v.recommendation = rec->second;
      vulns.push_back(std::move(v));
    }
    keep_top(vulns, k_top, [](const TopVulnerability& a, const TopVulnerability& b) {
      return std::tie(b.hosts, b.open, a.cve) < std::tie(a.hosts, a.open, b.cve);
    });
    f.top_vulnerabilities = std::move(vulns);

    // Software.
    const auto sw_host_counts = distinct_hosts(software_hosts);
    const auto sw_recs = most_common(sw_rec, m_texts);
    std::vector<SoftwareFigures> software;
    for (const auto& [sw, c] : sw_counts) {
      SoftwareFigures s;
      const std::string& key = m_software.name(sw);
      const auto sep = key.find('\x1f');
      s.vendor = key.substr(0, sep);
      s.name = key.substr(sep + 1);
      s.open = c[0];
      s.critical = c[1];
      s.high = c[2];
      s.hosts = sw_host_counts.at(sw);
      if (const auto rec = sw_recs.find(sw); rec != sw_recs.end()) s.recommendation = rec->second;
      software.push_back(std::move(s));
    }
    keep_top(software, k_top, [](const SoftwareFigures& a, const SoftwareFigures& b) {
      return std::tie(b.open, b.critical, a.vendor, a.name) <
             std::tie(a.open, a.critical, b.vendor, b.name);
    });
    f.software = std::move(software);

    m_groups = std::move(groups);
    return {};
  }

  // An open critical finding, for the oldest ones.
  struct Oldest {
    std::int64_t start;
    std::string host_id;
    std::uint32_t cve;
    std::int64_t ic;
    std::string group;
  };
  // Keeps the oldest; ties by device, CVE and software text, never by an id that depends
  // on the order the backend stored the rows in.
  void trim_oldest(std::vector<Oldest>& v) const {
    auto software = [&](const Oldest& o) -> const std::string& {
      const ItemContext* ic = m_ic.find(o.ic);
      return ic == nullptr ? m_empty : ic->software_text;
    };
    keep_top(v, k_oldest, [&](const Oldest& a, const Oldest& b) {
      return std::tie(a.start, a.host_id, m_cves.name(a.cve), software(a)) <
             std::tie(b.start, b.host_id, m_cves.name(b.cve), software(b));
    });
  }

  // --- trend ------------------------------------------------------------------------------

  // The slot of a time among the window's days: 0 before the window (or unknown), day
  // d at d + 1, clamped to the last day.
  [[nodiscard]] std::size_t day_slot(std::optional<std::int64_t> t) const {
    if (!t || *t < m_window_start) return 0;
    const auto d = static_cast<std::size_t>((*t - m_window_start) / k_day);
    return std::min(d + 1, static_cast<std::size_t>(m_opt.days));
  }

  Status trend(Figures& f) {
    const auto days = static_cast<std::size_t>(m_opt.days);
    // Per day of the window (index 0 = before it): the change of the open count per
    // severity, and the flow. Findings first found: from the pass over them.
    std::vector<BySeverity> delta = m_new_by_day;
    std::vector<std::array<std::int64_t, 3>> flow(days + 1, {0, 0, 0});
    for (std::size_t d = 0; d < delta.size(); ++d) {
      for (const auto n : delta[d]) flow[d][0] += n;
    }
    for (const Event& e : m_events) {
      const FindingFacts* fact = m_findings.find(e.finding);
      if (fact == nullptr) continue;  // not in the chosen groups
      const std::size_t d = day_slot(e.time);
      delta[d][fact->severity] += e.fixed ? -1 : 1;
      ++flow[d][e.fixed ? 1 : 2];
    }

    BySeverity open = delta[0];
    const std::size_t first = static_cast<std::size_t>(
        std::max<std::int64_t>(0, (m_trend_start - m_window_start) / k_day));
    for (std::size_t d = 0; d < days; ++d) {
      for (std::size_t s = 0; s < open.size(); ++s) open[s] += delta[d + 1][s];
      if (d < first) continue;
      f.trend.open.push_back(
          {day_text(at(m_window_start + static_cast<std::int64_t>(d) * k_day)), open});
    }
    const std::size_t bucket = f.header.flow_bucket == "week" ? 7 : 1;
    for (std::size_t d = first; d < days; d += bucket) {
      FlowBucket b;
      b.start = day_text(at(m_window_start + static_cast<std::int64_t>(d) * k_day));
      for (std::size_t i = d; i < std::min(days, d + bucket); ++i) {
        b.opened += flow[i + 1][0];
        b.fixed += flow[i + 1][1];
        b.reopened += flow[i + 1][2];
      }
      f.trend.flow.push_back(std::move(b));
    }
    return {};
  }

  // --- remediation ----------------------------------------------------------------------

  // Each finding's changes in time order (a reopening before a fix at the same time):
  // a fix ends the open episode that began at the last reopening before it, else when
  // the finding was first found.
  Status remediation(Figures& f) {
    std::array<std::vector<std::int64_t>, 5> durations;
    std::map<std::string, std::pair<std::int64_t, double>> per_group;  // fixes, seconds
    std::sort(m_events.begin(), m_events.end(), [](const Event& a, const Event& b) {
      return std::tie(a.finding, a.time, a.fixed) < std::tie(b.finding, b.time, b.fixed);
    });
    const std::int64_t from = std::max(m_window_start, m_trend_start);
    std::int64_t finding = -1;
    bool reopened = false;
    std::int64_t reopened_at = 0;
    for (const Event& e : m_events) {
      if (e.finding != finding) {
        finding = e.finding;
        reopened = false;
      }
      if (!e.fixed) {
        if (e.time) {
          reopened = true;
          reopened_at = *e.time;
        }
        continue;
      }
      if (!e.time || *e.time < from || *e.time > m_as_of) continue;
      const FindingFacts* fact = m_findings.find(e.finding);
      if (fact == nullptr) continue;  // not in the chosen groups
      const std::int64_t began = reopened                                       ? reopened_at
                                 : fact->first_found != FindingFacts::k_unknown ? fact->first_found
                                                                                : *e.time;
      const std::int64_t d = std::max<std::int64_t>(0, *e.time - began);
      durations[fact->severity].push_back(d);
      auto& g = per_group[m_group_ids.name(fact->group)];
      ++g.first;
      g.second += static_cast<double>(d / k_second);
    }
    Remediation& rm = f.remediation;
    std::vector<std::int64_t> all;
    double total_seconds = 0;
    for (std::size_t s = 0; s < durations.size(); ++s) {
      auto& v = durations[s];
      rm.fixed[s] = static_cast<std::int64_t>(v.size());
      rm.fixed_total += rm.fixed[s];
      if (v.empty()) continue;
      double seconds = 0;
      for (const auto d : v) seconds += static_cast<double>(d / k_second);
      total_seconds += seconds;
      rm.mean_days[s] = days_of_seconds(seconds / static_cast<double>(v.size()));
      all.insert(all.end(), v.begin(), v.end());
      rm.median_days[s] = median_days(v);
    }
    if (!all.empty()) {
      rm.mean_days_total = days_of_seconds(total_seconds / static_cast<double>(all.size()));
      rm.median_days_total = median_days(all);
    }
    for (const auto& [name, g] : per_group) {
      auto& out = m_groups[name];
      out.fixed = g.first;
      out.mean_days_to_remediate = days_of_seconds(g.second / static_cast<double>(g.first));
    }
    return {};
  }

  // --- definitions of the top vulnerabilities -----------------------------------------

  Status definitions(Figures& f) {
    if (f.top_vulnerabilities.empty()) return {};
    std::string list;
    std::unordered_map<std::string, TopVulnerability*> by_cve;
    for (auto& v : f.top_vulnerabilities) {
      if (!list.empty()) list += ", ";
      list += quote(v.cve);
      by_cve[v.cve] = &v;
    }
    return query(fmt::format("SELECT uid, name, summary, cvss_v3_base_score, epss, exploitability, "
                             "CASE WHEN patch_available THEN 1 WHEN NOT patch_available THEN 0 END "
                             "FROM vulnerability_definition WHERE uid IN ({})",
                             list),
                 [&](const QueryRow& r) {
                   const auto it = by_cve.find(std::string(r.text(0)));
                   if (it == by_cve.end()) return;
                   TopVulnerability& v = *it->second;
                   v.name = !r.is_null(2) && !r.text(2).empty() ? text_or(r, 2) : text_or(r, 1);
                   if (!r.is_null(3)) v.cvss = r.real(3);
                   if (!r.is_null(4)) v.epss = r.real(4);
                   v.exploitability = text_or(r, 5);
                   if (!r.is_null(6)) v.patch_available = r.int64(6) != 0;
                 });
  }

  // --- device groups -------------------------------------------------------------------

  Status groups(Figures& f) {
    auto st = query(
        "SELECT rbac_group_name, count(*) FROM host WHERE status <> 'Removed' GROUP BY "
        "rbac_group_name",
        [&](const QueryRow& r) {
          const std::string g = group_of(r, 0);
          if (chosen(g)) m_groups[g].hosts += r.int64(1);
        });
    if (!st) return st;
    for (auto& [name, g] : m_groups) {
      g.name = name;
      f.groups.push_back(g);
    }
    std::sort(f.groups.begin(), f.groups.end(), [](const GroupFigures& a, const GroupFigures& b) {
      const bool an = a.name == k_no_group;
      const bool bn = b.name == k_no_group;
      return std::tie(an, a.name) < std::tie(bn, b.name);
    });
    return {};
  }

  Store& m_store;
  const ReportOptions& m_opt;
  const std::string m_none{k_no_group};
  const std::string m_empty;
  std::int64_t m_as_of = 0;
  std::int64_t m_window_start = 0;
  std::int64_t m_trend_start = 0;
  ById<std::string> m_hc_group;
  ById<ItemContext> m_ic;
  ById<std::uint32_t> m_item_cve;
  ById<std::string> m_target;
  std::unordered_map<std::string, HostInfo> m_hosts;
  std::map<std::string, GroupFigures> m_groups;
  std::vector<BySeverity> m_new_by_day;  // findings first found, by day_slot
  // A fix or a reopening of a finding (vulnerability_event).
  struct Event {
    std::int64_t finding = 0;
    std::optional<std::int64_t> time;
    bool fixed = false;
  };
  std::vector<Event> m_events;
  ById<std::int64_t> m_last_reopened;  // per finding id with a reopening: the last one
  // What the history needs of each finding in the chosen groups, by id.
  struct FindingFacts {
    static constexpr std::int64_t k_unknown = std::numeric_limits<std::int64_t>::min();
    std::int64_t first_found = k_unknown;
    std::uint32_t group = 0;    // m_group_ids
    std::uint8_t severity = 0;  // index into k_severities (current)
  };
  ById<FindingFacts> m_findings;
  Interner m_group_ids;
  Interner m_cves;
  Interner m_software;
  Interner m_texts;
};

}  // namespace

Result<std::vector<std::string>> known_groups(Store& store) {
  std::set<std::string> groups;
  auto st = store.read_query(
      "SELECT DISTINCT rbac_group_name FROM host UNION SELECT DISTINCT rbac_group_name FROM "
      "vulnerability_host_context",
      [&](const QueryRow& r) {
        groups.insert(group_of(r, 0));
        return true;
      });
  if (!st) return util::fail(st.error());
  return std::vector<std::string>(groups.begin(), groups.end());
}

std::vector<std::string> tables_read() {
  return {"checkpoint",
          "sync_run",
          "history_start",
          "host",
          "vulnerability_definition",
          "vulnerability_finding",
          "vulnerability_event",
          "vulnerability_target",
          "vulnerability_item",
          "vulnerability_host_context",
          "vulnerability_item_context"};
}

Result<Figures> compute(Store& store, const ReportOptions& options) {
  if (options.days < 1) return util::fail(ErrorCode::invalid_argument, "days must be at least 1");
  return Computer(store, options).run();
}

}  // namespace mdesync::report
