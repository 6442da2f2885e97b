#pragma once

// CVSS v2.0, v3.0, v3.1 and v4.0: parse a vector string and score it exactly as
// FIRST's official calculators do. Pure functions, thread-safe, no I/O.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.hpp"

namespace mdesync::cvss {

enum class Version { v2_0, v3_0, v3_1, v4_0 };

// "2.0", "3.0", "3.1", "4.0".
std::string_view to_string(Version v) noexcept;

struct ParseOptions {
  // Accept common deviations (surrounding blanks, out-of-order v4.0 metrics,
  // "CVSS:2.0/" on v2) and report each correction in Vector::corrections.
  bool lenient = false;
};

struct Vector {
  Version version = Version::v3_1;
  // Metrics as written, in the order written (abbreviation, value), e.g. {"AV","N"}.
  std::vector<std::pair<std::string, std::string>> metrics;
  // The canonical vector string (with prefix for v3.x/v4.0, without for v2).
  std::string canonical;
  // Lenient mode only: what was corrected, e.g. "removed surrounding blanks".
  std::vector<std::string> corrections;

  // The value written for `metric`, or nullopt when the vector omits it.
  [[nodiscard]] std::optional<std::string_view> value(std::string_view metric) const;
};

struct Scores {
  // v2/v3.x: base always set; temporal/environmental set only when the vector sets at
  // least one metric of that group to a value other than X/ND. v4.0: base holds the
  // CVSS-B/BT/BE/BTE score of the vector as written; temporal/environmental unset.
  double base = 0.0;
  std::optional<double> temporal;
  std::optional<double> environmental;
  // The most specific score: v4.0 the vector's score; v2/v3.x environmental, else
  // temporal, else base.
  double score = 0.0;
  // "None", "Low", "Medium", "High", "Critical" (v2 has no "None"/"Critical": Low,
  // Medium, High), of `score` for v4.0 and of the base score for v2/v3.x.
  std::string severity;
};

// Parses a vector. Errors (ErrorCode::parse) name the offending metric or character.
util::Result<Vector> parse(std::string_view text, ParseOptions options = {});

Scores score(const Vector& vector);

// Full name of a metric value as the data model stores it, e.g. (v3.1, "AV", "N") ->
// "Network", (v2.0, "Au", "M") -> "Multiple". Empty when unknown.
std::string_view value_name(Version version, std::string_view metric,
                            std::string_view value) noexcept;

}  // namespace mdesync::cvss
