#pragma once

// Internal to the cvss module: the metrics each CVSS version defines, in the order its
// specification lists them, with their allowed values. Parsing validates against these
// tables and scoring resolves a Vector back to value indices through them, so the two
// can never disagree about what a value means.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "cvss/cvss.hpp"

namespace mdesync::cvss::detail {

enum class Group : std::uint8_t { base, temporal, environmental, supplemental };

struct ValueDef {
  std::string_view abbr;
  std::string_view name;
};

struct MetricDef {
  std::string_view abbr;
  std::string_view name;
  Group group;
  // Allowed values. For every non-base metric the first value is the "not defined" one
  // (ND for v2, X otherwise); base metrics have no such value.
  std::span<const ValueDef> values;
};

// Largest metric count of any version (v4.0 has 32).
inline constexpr std::size_t k_max_metrics = 32;

struct VersionDef {
  Version version;
  // In specification order; the base (mandatory) metrics come first.
  std::span<const MetricDef> metrics;
  std::size_t base_count;
};

const VersionDef& version_def(Version version) noexcept;

// Index of `abbr` in `def.metrics`, or -1.
int find_metric(const VersionDef& def, std::string_view abbr) noexcept;

// Index of `value` in `metric.values`, or -1.
int find_value(const MetricDef& metric, std::string_view value) noexcept;

// Value index per metric (spec order), -1 where the vector omits the metric.
using Resolved = std::array<std::int8_t, k_max_metrics>;

// Maps a Vector's metrics back to indices. Metrics or values the version does not define
// are treated as omitted (parse() never produces them).
Resolved resolve(const Vector& vector) noexcept;

// True when the vector sets at least one metric of `group` to a value other than the
// not-defined one.
bool group_defined(const VersionDef& def, const Resolved& resolved, Group group) noexcept;

}  // namespace mdesync::cvss::detail
