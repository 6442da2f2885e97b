// CVSS v3.0 and v3.1 equations (each specification's section 7 / 8). Evaluated in
// doubles in the same order as FIRST's calculators, because their Roundup is defined on
// those doubles: v3.0 rounds up with ceil(x * 10) / 10, v3.1 with the integer-based
// Roundup of its Appendix A that removes the float artefacts (e.g. 4.000000001 -> 4.0).
#include <algorithm>
#include <array>
#include <cmath>

#include "cvss/scoring.hpp"

namespace mdesync::cvss::detail {
namespace {

// Indices follow metric_table.cpp (spec order; index 0 of non-base metrics is X).
enum : std::size_t {
  k_av,
  k_ac,
  k_pr,
  k_ui,
  k_s,
  k_c,
  k_i,
  k_a,
  k_e,
  k_rl,
  k_rc,
  k_cr,
  k_ir,
  k_ar,
  k_mav,
  k_mac,
  k_mpr,
  k_mui,
  k_ms,
  k_mc,
  k_mi,
  k_ma
};

constexpr std::array<double, 4> k_av_w{0.85, 0.62, 0.55, 0.2};
constexpr std::array<double, 2> k_ac_w{0.77, 0.44};
constexpr std::array<double, 3> k_pr_unchanged_w{0.85, 0.62, 0.27};
constexpr std::array<double, 3> k_pr_changed_w{0.85, 0.68, 0.5};
constexpr std::array<double, 2> k_ui_w{0.85, 0.62};
constexpr std::array<double, 3> k_cia_w{0.56, 0.22, 0.0};
constexpr std::array<double, 5> k_e_w{1.0, 1.0, 0.97, 0.94, 0.91};
constexpr std::array<double, 5> k_rl_w{1.0, 1.0, 0.97, 0.96, 0.95};
constexpr std::array<double, 4> k_rc_w{1.0, 1.0, 0.96, 0.92};
constexpr std::array<double, 4> k_req_w{1.0, 1.5, 1.0, 0.5};
constexpr double k_scope_coefficient = 1.08;

std::size_t idx(const Resolved& r, std::size_t metric) {
  return r[metric] < 0 ? 0 : static_cast<std::size_t>(r[metric]);
}

// A modified base metric: its own value unless X (index 0), then the base value. The
// modified value lists are the base lists with X prepended.
std::size_t modified(const Resolved& r, std::size_t mod_metric, std::size_t base_metric) {
  const std::size_t m = idx(r, mod_metric);
  return m == 0 ? idx(r, base_metric) : m - 1;
}

double roundup_30(double x) {
  return std::ceil(x * 10) / 10;
}

double roundup_31(double x) {
  const auto i = std::llround(x * 100000);
  if (i % 10000 == 0) return static_cast<double>(i) / 100000.0;
  return (std::floor(static_cast<double>(i) / 10000) + 1) / 10.0;
}

}  // namespace

Scores score_v3(Version version, const Resolved& r) {
  const bool v31 = version == Version::v3_1;
  const auto roundup = v31 ? roundup_31 : roundup_30;
  const VersionDef& def = version_def(version);

  // Base.
  const bool changed = idx(r, k_s) == 1;
  const double c = k_cia_w[idx(r, k_c)];
  const double i = k_cia_w[idx(r, k_i)];
  const double a = k_cia_w[idx(r, k_a)];
  const double iss = 1 - ((1 - c) * (1 - i) * (1 - a));
  const double impact =
      changed ? 7.52 * (iss - 0.029) - 3.25 * std::pow(iss - 0.02, 15) : 6.42 * iss;
  const double pr = (changed ? k_pr_changed_w : k_pr_unchanged_w)[idx(r, k_pr)];
  const double exploitability =
      8.22 * k_av_w[idx(r, k_av)] * k_ac_w[idx(r, k_ac)] * pr * k_ui_w[idx(r, k_ui)];
  double base = 0;
  if (impact > 0) {
    base = changed ? roundup(std::min(k_scope_coefficient * (exploitability + impact), 10.0))
                   : roundup(std::min(exploitability + impact, 10.0));
  }

  const double e = k_e_w[idx(r, k_e)];
  const double rl = k_rl_w[idx(r, k_rl)];
  const double rc = k_rc_w[idx(r, k_rc)];

  Scores s;
  s.base = base;
  if (group_defined(def, r, Group::temporal)) s.temporal = roundup(base * e * rl * rc);

  if (group_defined(def, r, Group::environmental)) {
    const bool m_changed = modified(r, k_ms, k_s) == 1;
    const double mc = k_cia_w[modified(r, k_mc, k_c)];
    const double mi = k_cia_w[modified(r, k_mi, k_i)];
    const double ma = k_cia_w[modified(r, k_ma, k_a)];
    const double miss =
        std::min(1 - ((1 - k_req_w[idx(r, k_cr)] * mc) * (1 - k_req_w[idx(r, k_ir)] * mi) *
                      (1 - k_req_w[idx(r, k_ar)] * ma)),
                 0.915);
    double m_impact = 0;
    if (!m_changed) {
      m_impact = 6.42 * miss;
    } else if (v31) {
      m_impact = 7.52 * (miss - 0.029) - 3.25 * std::pow(miss * 0.9731 - 0.02, 13);
    } else {
      m_impact = 7.52 * (miss - 0.029) - 3.25 * std::pow(miss - 0.02, 15);
    }
    const double mpr = (m_changed ? k_pr_changed_w : k_pr_unchanged_w)[modified(r, k_mpr, k_pr)];
    const double m_exploitability = 8.22 * k_av_w[modified(r, k_mav, k_av)] *
                                    k_ac_w[modified(r, k_mac, k_ac)] * mpr *
                                    k_ui_w[modified(r, k_mui, k_ui)];
    double env = 0;
    if (m_impact > 0) {
      const double sum = m_changed ? k_scope_coefficient * (m_impact + m_exploitability)
                                   : m_impact + m_exploitability;
      env = roundup(roundup(std::min(sum, 10.0)) * e * rl * rc);
    }
    s.environmental = env;
  }
  s.score = s.environmental.value_or(s.temporal.value_or(s.base));
  s.severity = severity_v3(s.base);
  return s;
}

}  // namespace mdesync::cvss::detail
