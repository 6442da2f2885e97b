#pragma once

// Internal to the cvss module: the CVSS v4.0 MacroVector score table published with the
// specification (one score per combination of equivalence classes EQ1..EQ6).

#include <optional>

namespace mdesync::cvss::detail {

// Score of MacroVector eq1..eq6, or nullopt when that MacroVector does not exist
// (EQ3 = 2 only occurs with EQ6 = 1; values past the last level do not exist).
std::optional<double> v4_macro_score(int eq1, int eq2, int eq3, int eq4, int eq5, int eq6) noexcept;

}  // namespace mdesync::cvss::detail
