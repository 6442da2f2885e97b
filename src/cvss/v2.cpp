// CVSS v2.0 equations (v2 guide, section 3.2). The guide's worked examples and the
// reference implementations evaluate them in exact decimal arithmetic with half-up
// rounding; doubles land a few ulps below .x5 boundaries (e.g. 9.0 x 0.95), so rounding
// adds a tolerance far above binary noise and far below the data's precision.
#include <algorithm>
#include <array>
#include <cmath>

#include "cvss/scoring.hpp"

namespace mdesync::cvss::detail {
namespace {

// Indices follow metric_table.cpp (spec order; index 0 of non-base metrics is ND).
enum : std::size_t {
  k_av,
  k_ac,
  k_au,
  k_c,
  k_i,
  k_a,
  k_e,
  k_rl,
  k_rc,
  k_cdp,
  k_td,
  k_cr,
  k_ir,
  k_ar
};

constexpr std::array<double, 3> k_av_w{0.395, 0.646, 1.0};
constexpr std::array<double, 3> k_ac_w{0.35, 0.61, 0.71};
constexpr std::array<double, 3> k_au_w{0.45, 0.56, 0.704};
constexpr std::array<double, 3> k_cia_w{0.0, 0.275, 0.660};
constexpr std::array<double, 5> k_e_w{1.0, 0.85, 0.9, 0.95, 1.0};
constexpr std::array<double, 5> k_rl_w{1.0, 0.87, 0.90, 0.95, 1.0};
constexpr std::array<double, 4> k_rc_w{1.0, 0.90, 0.95, 1.0};
constexpr std::array<double, 6> k_cdp_w{0.0, 0.0, 0.1, 0.3, 0.4, 0.5};
constexpr std::array<double, 5> k_td_w{1.0, 0.0, 0.25, 0.75, 1.0};
constexpr std::array<double, 4> k_req_w{1.0, 0.5, 1.0, 1.51};

constexpr double k_round_tolerance = 1e-9;

// Half away from zero, like the reference implementations' decimal ROUND_HALF_UP: the
// environmental equations can go below zero (see score_v2).
double round1(double x) {
  if (x < 0) return -round1(-x);
  return std::floor(x * 10.0 + 0.5 + k_round_tolerance) / 10.0;
}

template <std::size_t N>
double weight(const std::array<double, N>& w, const Resolved& r, std::size_t metric) {
  const int i = r[metric] < 0 ? 0 : r[metric];
  return w[static_cast<std::size_t>(i)];
}

double base_equation(double impact, double exploitability) {
  const double f = impact == 0.0 ? 0.0 : 1.176;
  return round1(((0.6 * impact) + (0.4 * exploitability) - 1.5) * f);
}

}  // namespace

Scores score_v2(const Resolved& r) {
  const double c = weight(k_cia_w, r, k_c);
  const double i = weight(k_cia_w, r, k_i);
  const double a = weight(k_cia_w, r, k_a);
  const double exploitability =
      20 * weight(k_av_w, r, k_av) * weight(k_ac_w, r, k_ac) * weight(k_au_w, r, k_au);
  const double impact = 10.41 * (1 - (1 - c) * (1 - i) * (1 - a));
  const double temporal_factor =
      weight(k_e_w, r, k_e) * weight(k_rl_w, r, k_rl) * weight(k_rc_w, r, k_rc);

  Scores s;
  // Never below zero: the smallest non-zero impact (2.86) outweighs the 1.5 offset.
  s.base = base_equation(impact, exploitability);
  if (group_defined(version_def(Version::v2_0), r, Group::temporal)) {
    s.temporal = round1(s.base * temporal_factor);
  }
  if (group_defined(version_def(Version::v2_0), r, Group::environmental)) {
    const double adjusted_impact = std::min(
        10.0, 10.41 * (1 - (1 - c * weight(k_req_w, r, k_cr)) * (1 - i * weight(k_req_w, r, k_ir)) *
                               (1 - a * weight(k_req_w, r, k_ar))));
    // Not clamped: the guide clamps AdjustedImpact (above) and nothing else, and a low
    // requirement on a low-impact vector makes AdjustedBase negative (e.g. -0.2), which
    // the next two equations carry on.
    const double adjusted_base = base_equation(adjusted_impact, exploitability);
    const double adjusted_temporal = round1(adjusted_base * temporal_factor);
    const double cdp = weight(k_cdp_w, r, k_cdp);
    s.environmental =
        round1((adjusted_temporal + (10 - adjusted_temporal) * cdp) * weight(k_td_w, r, k_td));
  }
  s.score = s.environmental.value_or(s.temporal.value_or(s.base));
  s.severity = severity_v2(s.base);
  return s;
}

}  // namespace mdesync::cvss::detail
