#include <fmt/format.h>

#include "mapping/mapping.hpp"
#include "mapping/text.hpp"

namespace mdesync::mapping {

model::Severity normalise_severity(const std::optional<std::string>& value, std::string_view field,
                                   std::vector<Diagnostic>& diagnostics) {
  if (!value) return model::Severity::unknown;
  const auto t = trim(*value);
  if (t.empty()) return model::Severity::unknown;
  if (auto s = model::parse_severity(t)) return *s;
  if (!iequals(t, "Unknown")) {
    diagnostics.push_back({DiagnosticKind::unknown_enum_value, std::string(field),
                           fmt::format("unknown {} '{}' (kept as source value)", field, *value)});
  }
  return model::Severity::unknown;
}

}  // namespace mdesync::mapping
