#pragma once

// The report's figures as one JSON document (`mdesync report --format json`), the same
// figures the HTML page shows. Its schema is documented in docs/report.md; keys are
// stable, in a fixed order, and numbers come out alike from either store backend.

#include <string>

#include "report/figures.hpp"

namespace mdesync::report {

std::string render_json(const Figures& figures);

}  // namespace mdesync::report
