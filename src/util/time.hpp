#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace mdesync::util {

// A UTC instant with microsecond resolution (the model keeps fractions to the
// microsecond; a 7th fractional digit from the source is truncated).
using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;

// Parses every time format the Defender API uses (docs/api.md, "Time formats"):
//   2025-06-01T08:30:12Z, 2025-06-01T08:30:12.1234567Z   ISO 8601, 0-7 fraction digits
//   2026-10-13T00:00:00+00:00, ...T08:30:12-0500          ISO 8601 with an offset
//   2025-06-01 08:30:12, 2025-06-01 08:30:12.1234560     export rows, UTC implied
//   2025-06-01T08:30:12                                  no zone, UTC implied
//   2025-06-01                                           date only, midnight UTC
// Anything else (bad ranges such as month 13 or Feb 30, stray characters, more than
// 7 fraction digits) is a parse error whose message quotes the input.
Result<Timestamp> parse_timestamp(std::string_view text);

// ISO 8601 UTC with `Z`; the fraction is written (6 digits) only when non-zero.
std::string format_timestamp(Timestamp t);

// ISO 8601 UTC with `Z` and whole seconds, as used in query parameters.
std::string format_timestamp_seconds(Timestamp t);

inline Timestamp to_timestamp(std::chrono::system_clock::time_point t) {
  return std::chrono::time_point_cast<std::chrono::microseconds>(t);
}

}  // namespace mdesync::util
