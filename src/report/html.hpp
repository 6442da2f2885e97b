#pragma once

// The HTML page of `mdesync report`: one self-contained HTML5 document (inline CSS, inline
// SVG charts, a little inline JavaScript for sorting and filtering tables), fetching
// nothing. The markup contract the browser test relies on is described in html.cpp.

#include <string>

#include "report/figures.hpp"

namespace mdesync::report {

// The whole page. Every string from the data is escaped.
std::string render_html(const Figures& f);

}  // namespace mdesync::report
