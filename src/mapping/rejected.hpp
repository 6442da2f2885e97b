#pragma once

// Scores the decoder dropped as out of range (defender::RejectedValue) become
// diagnostics, so that the run summary counts them instead of the store keeping them.

#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "defender/records.hpp"
#include "mapping/mapped.hpp"

namespace mdesync::mapping {

// `kind` and `id` name the record ("finding", its uid): they are joined only when a value
// was rejected, not for every row.
inline void report_rejected(const std::vector<defender::RejectedValue>& rejected,
                            std::string_view kind, std::string_view id,
                            std::vector<Diagnostic>& diagnostics) {
  for (const auto& r : rejected) {
    diagnostics.push_back({DiagnosticKind::unexpected_value, r.field,
                           fmt::format("{} {}: {} {} is outside {}; stored as null", kind, id,
                                       r.field, r.value, r.range)});
  }
}

}  // namespace mdesync::mapping
