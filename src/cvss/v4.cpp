// CVSS v4.0 scoring (specification section 8): the vector's MacroVector (EQ1..EQ6)
// selects a score from the lookup table; the vector is then placed between that
// MacroVector's highest-severity vectors and the next lower MacroVectors by severity
// distance. Arithmetic order, the 0.1 level steps and the final rounding follow FIRST's
// official calculator (cvss40.js, including its 2024-11 rounding fix) so that every
// double lands where the calculator's does.
#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <span>

#include "cvss/scoring.hpp"
#include "cvss/v4_lookup.hpp"

namespace mdesync::cvss::detail {
namespace {

// Indices follow metric_table.cpp (Table 23 order).
enum : std::size_t {
  k_av,
  k_ac,
  k_at,
  k_pr,
  k_ui,
  k_vc,
  k_vi,
  k_va,
  k_sc,
  k_si,
  k_sa,
  k_e,
  k_cr,
  k_ir,
  k_ar
};
// MAV..MSA follow AV..SA at this distance.
constexpr std::size_t k_modified_offset = 15;

// Effective values used by the equations, by metric: AV AC AT PR UI VC VI VA SC SI SA
// E CR IR AR.
using Effective = std::array<char, 15>;

char letter(const Resolved& r, std::size_t metric) {
  const int i = r[metric] < 0 ? 0 : r[metric];
  return version_def(Version::v4_0).metrics[metric].values[static_cast<std::size_t>(i)].abbr[0];
}

Effective effective(const Resolved& r) {
  Effective e{};
  for (std::size_t m = k_av; m <= k_sa; ++m) {
    const char mod = letter(r, m + k_modified_offset);
    e[m] = mod == 'X' ? letter(r, m) : mod;
  }
  // Not-defined threat and security requirements assume the worst case.
  const char exploit = letter(r, k_e);
  e[k_e] = exploit == 'X' ? 'A' : exploit;
  for (std::size_t m = k_cr; m <= k_ar; ++m) {
    const char req = letter(r, m);
    e[m] = req == 'X' ? 'H' : req;
  }
  return e;
}

// Severity level of a value (0 = most severe), in steps of 0.1 as the calculator has it.
double level(std::size_t metric, char v) {
  switch (metric) {
    case k_av:
      return v == 'N' ? 0.0 : v == 'A' ? 0.1 : v == 'L' ? 0.2 : 0.3;
    case k_pr:
      return v == 'N' ? 0.0 : v == 'L' ? 0.1 : 0.2;
    case k_ui:
      return v == 'N' ? 0.0 : v == 'P' ? 0.1 : 0.2;
    case k_ac:
      return v == 'L' ? 0.0 : 0.1;
    case k_at:
      return v == 'N' ? 0.0 : 0.1;
    case k_vc:
    case k_vi:
    case k_va:
      return v == 'H' ? 0.0 : v == 'L' ? 0.1 : 0.2;
    case k_cr:
    case k_ir:
    case k_ar:
      return v == 'H' ? 0.0 : v == 'M' ? 0.1 : 0.2;
    case k_sc:
      return v == 'H' ? 0.1 : v == 'L' ? 0.2 : 0.3;
    case k_si:
    case k_sa:
      return v == 'S' ? 0.0 : v == 'H' ? 0.1 : v == 'L' ? 0.2 : 0.3;
    case k_e:
      return v == 'A' ? 0.0 : v == 'P' ? 0.1 : 0.2;
    default:
      return 0.0;
  }
}

// Highest-severity vectors of each EQ level (values of the metrics each EQ covers).
struct Eq1Max {
  char av, pr, ui;
};
struct Eq2Max {
  char ac, at;
};
struct Eq36Max {
  char vc, vi, va, cr, ir, ar;
};
struct Eq4Max {
  char sc, si, sa;
};

constexpr std::array<Eq1Max, 1> k_eq1_0{{{'N', 'N', 'N'}}};
constexpr std::array<Eq1Max, 3> k_eq1_1{{{'A', 'N', 'N'}, {'N', 'L', 'N'}, {'N', 'N', 'P'}}};
constexpr std::array<Eq1Max, 2> k_eq1_2{{{'P', 'N', 'N'}, {'A', 'L', 'P'}}};
constexpr std::array<Eq2Max, 1> k_eq2_0{{{'L', 'N'}}};
constexpr std::array<Eq2Max, 2> k_eq2_1{{{'H', 'N'}, {'L', 'P'}}};
constexpr std::array<Eq36Max, 1> k_eq36_00{{{'H', 'H', 'H', 'H', 'H', 'H'}}};
constexpr std::array<Eq36Max, 2> k_eq36_01{
    {{'H', 'H', 'L', 'M', 'M', 'H'}, {'H', 'H', 'H', 'M', 'M', 'M'}}};
constexpr std::array<Eq36Max, 2> k_eq36_10{
    {{'L', 'H', 'H', 'H', 'H', 'H'}, {'H', 'L', 'H', 'H', 'H', 'H'}}};
constexpr std::array<Eq36Max, 5> k_eq36_11{{{'L', 'H', 'L', 'H', 'M', 'H'},
                                            {'L', 'H', 'H', 'H', 'M', 'M'},
                                            {'H', 'L', 'H', 'M', 'H', 'M'},
                                            {'H', 'L', 'L', 'M', 'H', 'H'},
                                            {'L', 'L', 'H', 'H', 'H', 'M'}}};
constexpr std::array<Eq36Max, 1> k_eq36_21{{{'L', 'L', 'L', 'H', 'H', 'H'}}};
constexpr std::array<Eq4Max, 1> k_eq4_0{{{'H', 'S', 'S'}}};
constexpr std::array<Eq4Max, 1> k_eq4_1{{{'H', 'H', 'H'}}};
constexpr std::array<Eq4Max, 1> k_eq4_2{{{'L', 'L', 'L'}}};

std::span<const Eq1Max> eq1_maxes(int eq1) {
  if (eq1 == 0) return k_eq1_0;
  if (eq1 == 1) return k_eq1_1;
  return k_eq1_2;
}
std::span<const Eq2Max> eq2_maxes(int eq2) {
  if (eq2 == 0) return k_eq2_0;
  return k_eq2_1;
}
std::span<const Eq36Max> eq36_maxes(int eq3, int eq6) {
  if (eq3 == 0) return eq6 == 0 ? std::span<const Eq36Max>(k_eq36_00) : k_eq36_01;
  if (eq3 == 1) return eq6 == 0 ? std::span<const Eq36Max>(k_eq36_10) : k_eq36_11;
  return k_eq36_21;
}
std::span<const Eq4Max> eq4_maxes(int eq4) {
  if (eq4 == 0) return k_eq4_0;
  if (eq4 == 1) return k_eq4_1;
  return k_eq4_2;
}

// Depth of each MacroVector per EQ (the calculator's "max severity" table).
constexpr std::array<int, 3> k_depth_eq1{1, 4, 5};
constexpr std::array<int, 2> k_depth_eq2{1, 2};
constexpr std::array<std::array<int, 2>, 3> k_depth_eq36{{{7, 6}, {8, 8}, {0, 10}}};
constexpr std::array<int, 3> k_depth_eq4{6, 5, 4};

constexpr double k_step = 0.1;
// The official calculator nudges the value before rounding so that results such as
// 1.4 - 0.75 = 0.6499999... round to 0.7 as in decimal arithmetic.
constexpr double k_round_epsilon = 1e-6;

struct Distances {
  double eq1 = 0, eq2 = 0, eq36 = 0, eq4 = 0;
};

}  // namespace

Scores score_v4(const Resolved& r) {
  const Effective v = effective(r);
  Scores s;
  const auto is_none = [&](std::size_t m) { return v[m] == 'N'; };
  if (is_none(k_vc) && is_none(k_vi) && is_none(k_va) && is_none(k_sc) && is_none(k_si) &&
      is_none(k_sa)) {
    s.base = 0.0;
    s.score = 0.0;
    s.severity = severity_v3(0.0);
    return s;
  }

  const char av = v[k_av], pr = v[k_pr], ui = v[k_ui];
  int eq1 = 2;
  if (av == 'N' && pr == 'N' && ui == 'N') {
    eq1 = 0;
  } else if ((av == 'N' || pr == 'N' || ui == 'N') && av != 'P') {
    eq1 = 1;
  }
  const int eq2 = (v[k_ac] == 'L' && v[k_at] == 'N') ? 0 : 1;
  const char vc = v[k_vc], vi = v[k_vi], va = v[k_va];
  int eq3 = 2;
  if (vc == 'H' && vi == 'H') {
    eq3 = 0;
  } else if (vc == 'H' || vi == 'H' || va == 'H') {
    eq3 = 1;
  }
  int eq4 = 2;
  if (v[k_si] == 'S' || v[k_sa] == 'S') {
    eq4 = 0;
  } else if (v[k_sc] == 'H' || v[k_si] == 'H' || v[k_sa] == 'H') {
    eq4 = 1;
  }
  const int eq5 = v[k_e] == 'A' ? 0 : v[k_e] == 'P' ? 1 : 2;
  const int eq6 = ((v[k_cr] == 'H' && vc == 'H') || (v[k_ir] == 'H' && vi == 'H') ||
                   (v[k_ar] == 'H' && va == 'H'))
                      ? 0
                      : 1;

  const double value = *v4_macro_score(eq1, eq2, eq3, eq4, eq5, eq6);

  const std::optional<double> lower_eq1 = v4_macro_score(eq1 + 1, eq2, eq3, eq4, eq5, eq6);
  const std::optional<double> lower_eq2 = v4_macro_score(eq1, eq2 + 1, eq3, eq4, eq5, eq6);
  std::optional<double> lower_eq36;
  if (eq3 == 0 && eq6 == 0) {
    // Two lower neighbours (01 and 10): the higher one bounds the distance.
    const auto left = v4_macro_score(eq1, eq2, eq3, eq4, eq5, eq6 + 1);
    const auto right = v4_macro_score(eq1, eq2, eq3 + 1, eq4, eq5, eq6);
    if (left && right) lower_eq36 = std::max(*left, *right);
  } else if (eq3 == 1 && eq6 == 0) {
    lower_eq36 = v4_macro_score(eq1, eq2, eq3, eq4, eq5, eq6 + 1);
  } else if (eq3 == 2) {
    lower_eq36 = std::nullopt;  // 21 is the lowest level
  } else {
    lower_eq36 = v4_macro_score(eq1, eq2, eq3 + 1, eq4, eq5, eq6);
  }
  const std::optional<double> lower_eq4 = v4_macro_score(eq1, eq2, eq3, eq4 + 1, eq5, eq6);
  const std::optional<double> lower_eq5 = v4_macro_score(eq1, eq2, eq3, eq4, eq5 + 1, eq6);

  // Severity distance from the first highest-severity vector that is at least as severe
  // as this vector in every metric.
  const auto d = [&](std::size_t m, char max_value) {
    return level(m, v[m]) - level(m, max_value);
  };
  Distances dist;
  bool found = false;
  for (const Eq1Max& m1 : eq1_maxes(eq1)) {
    for (const Eq2Max& m2 : eq2_maxes(eq2)) {
      for (const Eq36Max& m36 : eq36_maxes(eq3, eq6)) {
        for (const Eq4Max& m4 : eq4_maxes(eq4)) {
          const double d_av = d(k_av, m1.av), d_pr = d(k_pr, m1.pr), d_ui = d(k_ui, m1.ui);
          const double d_ac = d(k_ac, m2.ac), d_at = d(k_at, m2.at);
          const double d_vc = d(k_vc, m36.vc), d_vi = d(k_vi, m36.vi), d_va = d(k_va, m36.va);
          const double d_cr = d(k_cr, m36.cr), d_ir = d(k_ir, m36.ir), d_ar = d(k_ar, m36.ar);
          const double d_sc = d(k_sc, m4.sc), d_si = d(k_si, m4.si), d_sa = d(k_sa, m4.sa);
          dist.eq1 = d_av + d_pr + d_ui;
          dist.eq2 = d_ac + d_at;
          dist.eq36 = d_vc + d_vi + d_va + d_cr + d_ir + d_ar;
          dist.eq4 = d_sc + d_si + d_sa;
          found = d_av >= 0 && d_pr >= 0 && d_ui >= 0 && d_ac >= 0 && d_at >= 0 && d_vc >= 0 &&
                  d_vi >= 0 && d_va >= 0 && d_sc >= 0 && d_si >= 0 && d_sa >= 0 && d_cr >= 0 &&
                  d_ir >= 0 && d_ar >= 0;
          if (found) break;
        }
        if (found) break;
      }
      if (found) break;
    }
    if (found) break;
  }

  int n_lower = 0;
  double normalized_eq1 = 0, normalized_eq2 = 0, normalized_eq36 = 0, normalized_eq4 = 0;
  if (lower_eq1) {
    ++n_lower;
    normalized_eq1 =
        (value - *lower_eq1) * (dist.eq1 / (k_depth_eq1[static_cast<std::size_t>(eq1)] * k_step));
  }
  if (lower_eq2) {
    ++n_lower;
    normalized_eq2 =
        (value - *lower_eq2) * (dist.eq2 / (k_depth_eq2[static_cast<std::size_t>(eq2)] * k_step));
  }
  if (lower_eq36) {
    ++n_lower;
    const int depth = k_depth_eq36[static_cast<std::size_t>(eq3)][static_cast<std::size_t>(eq6)];
    normalized_eq36 = (value - *lower_eq36) * (dist.eq36 / (depth * k_step));
  }
  if (lower_eq4) {
    ++n_lower;
    normalized_eq4 =
        (value - *lower_eq4) * (dist.eq4 / (k_depth_eq4[static_cast<std::size_t>(eq4)] * k_step));
  }
  // EQ5 has a single value per level: it counts towards the mean with a zero distance.
  const double normalized_eq5 = 0.0;
  if (lower_eq5) ++n_lower;

  double mean = 0;
  if (n_lower > 0) {
    mean = (normalized_eq1 + normalized_eq2 + normalized_eq36 + normalized_eq4 + normalized_eq5) /
           n_lower;
  }
  const double clamped = std::max(0.0, std::min(10.0, value - mean));
  s.base = std::round((clamped + k_round_epsilon) * 10) / 10;
  s.score = s.base;
  s.severity = severity_v3(s.score);
  return s;
}

}  // namespace mdesync::cvss::detail
