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

// An abbreviation of up to 7 characters packed into one integer (length in the low byte),
// so lookups compare integers instead of calling memcmp; longer text never matches.
constexpr std::uint64_t pack(std::string_view s) noexcept {
  if (s.size() > 7) return ~std::uint64_t{0};
  std::uint64_t key = s.size();
  for (std::size_t i = 0; i < s.size(); ++i) {
    key |= std::uint64_t{static_cast<unsigned char>(s[i])} << (8 * (i + 1));
  }
  return key;
}

struct ValueDef {
  constexpr ValueDef(std::string_view a, std::string_view n) : abbr(a), name(n), key(pack(a)) {}
  std::string_view abbr;
  std::string_view name;
  std::uint64_t key;
};

struct MetricDef {
  constexpr MetricDef(std::string_view a, std::string_view n, Group g, std::span<const ValueDef> v)
      : abbr(a), name(n), group(g), values(v), key(pack(a)) {}
  std::string_view abbr;
  std::string_view name;
  Group group;
  // Allowed values. For every non-base metric the first value is the "not defined" one
  // (ND for v2, X otherwise); base metrics have no such value.
  std::span<const ValueDef> values;
  std::uint64_t key;
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

// Index of `abbr` in `def.metrics`, or -1. `hint` is tried first: vectors are nearly
// always written in specification order, so the caller passes the index after the
// previous metric's.
int find_metric(const VersionDef& def, std::string_view abbr, std::size_t hint = 0) noexcept;

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
