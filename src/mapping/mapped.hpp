#pragma once

// What every mapper returns: the model row (or why the record is not one) plus the
// diagnostics found on the way. Mappers never log; the sync engine counts and reports.

#include <optional>
#include <string>
#include <vector>

namespace mdesync::mapping {

enum class DiagnosticKind {
  unknown_enum_value,  // a source enum value outside the documented set (kept verbatim)
  unparseable_vector,  // a CVSS vector that does not parse: CVSS attributes left empty
  score_mismatch,      // computed CVSS base score differs from the source's by > 0.1
  unexpected_value,    // a value of an unexpected shape (kept as received)
};

struct Diagnostic {
  DiagnosticKind kind = DiagnosticKind::unexpected_value;
  std::string field;    // source field name, e.g. "healthStatus"
  std::string message;  // names the record and the value
};

template <typename Row>
struct Mapped {
  std::optional<Row> row;   // empty when the record is skipped
  std::string skip_reason;  // why, when skipped (e.g. "row without cveId")
  std::vector<Diagnostic> diagnostics;

  [[nodiscard]] bool skipped() const { return !row.has_value(); }
};

}  // namespace mdesync::mapping
