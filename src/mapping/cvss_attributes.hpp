#pragma once

// CVSS_V3_* / CVSS_V2_* attributes of a definition, through the project's CVSS library.
// Kept apart so that the rest of mapping does not depend on cvss internals.

#include <optional>
#include <string>
#include <vector>

#include "mapping/mapped.hpp"
#include "model/vulnerability_definition.hpp"

namespace mdesync::mapping {

// Fills def.cvss_v3 / def.cvss_v2 from the vectors. An unparseable vector leaves its
// set empty and adds unparseable_vector; a v3 base score more than 0.1 away from
// `source_base_score` adds score_mismatch.
void fill_cvss(model::VulnerabilityDefinition& def, const std::optional<std::string>& vector,
               const std::optional<std::string>& v2_vector, std::optional<double> source_base_score,
               std::vector<Diagnostic>& diagnostics);

}  // namespace mdesync::mapping
