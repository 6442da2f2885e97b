#pragma once

// The charts of the HTML report (html.cpp), drawn in C++ as inline SVG text, so that the page
// reads fully without JavaScript and without any fetch. Every chart is one `<svg>` element
// with `data-chart`, `role="img"` and an `aria-label`, `width="100%"` over a fixed viewBox
// (900 units wide), and no `xmlns` (inline SVG in HTML5 needs none, and the page holds no
// URL at all). Bars carry `data-bar` so that tests and tools can count them (see html.cpp
// for the markup contract per chart). Colour is never the only cue: series are named in a
// legend (html.cpp), charts label their values where they fit, and the series that could be
// confused are hatched.
//
// Also here: the text formatting shared by charts and tables (escaping, numbers, dates).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/time.hpp"

namespace mdesync::report::svg {

// Shown for a value that is not known.
inline constexpr std::string_view k_missing = "\u2013";

// --- text ------------------------------------------------------------------------------

// Text safe in HTML and SVG content and in quoted attribute values: & < > " ' escaped,
// control characters and invalid UTF-8 replaced by U+FFFD.
std::string escape(std::string_view text);

// At most `max_chars` code points of `text` (UTF-8), with an ellipsis when cut.
std::string truncate(std::string_view text, std::size_t max_chars);

// "1,423,208"
std::string count(std::int64_t n);
// `v` with `decimals` decimals and thousands separators ("1,234.5"); k_missing when not
// finite.
std::string number(double v, int decimals);
// Tick labels of an axis: "0", "750", "2,500", "25k", "1.5M".
std::string axis_number(double v);

// "YYYY-MM-DD HH:MM UTC".
std::string time_text(util::Timestamp t);
// "Mar 4" of "YYYY-MM-DD" (the text itself when it is no such date).
std::string short_date(std::string_view ymd);

// --- charts ----------------------------------------------------------------------------

// How a series is filled: a colour, optionally hatched (diagonal stripes over it), and the
// colour of text drawn on it.
struct Paint {
  std::string colour;
  bool hatch = false;
  std::string ink = "#1f2328";
};

struct Series {
  std::string name;
  Paint paint;
  std::vector<double> values;  // one per point or category
};

// Stacked areas over dates: one `<path data-series=NAME data-points=N>` per series (first
// series at the bottom), a y axis with gridlines, thinned date labels on the x axis, the
// series' last values labelled at the right edge, and a hover title per day.
struct AreaChart {
  std::string name;                // data-chart
  std::string label;               // aria-label
  std::vector<std::string> dates;  // YYYY-MM-DD, one per point
  std::vector<Series> series;
  std::string empty_text = "No data";
};
std::string stacked_area(const AreaChart& chart);

// Bars over categories.
struct BarChart {
  std::string name;                     // data-chart
  std::string label;                    // aria-label
  std::vector<std::string> categories;  // keys (data-category), and axis labels by default
  std::vector<std::string> labels;      // axis labels per category (optional)
  std::vector<std::string> titles;      // hover titles per category (optional)
  bool date_categories = false;         // categories are YYYY-MM-DD: shown as "Mar 4", thinned
  std::vector<Series> series;
  std::string empty_text = "No data";
};
// Side by side: one `<rect data-bar>` per category per series (zero-height ones too); values
// are labelled above the bars when every label fits.
std::string grouped_columns(const BarChart& chart);
// Stacked upwards: one `<g data-bar>` per category holding a rect per non-zero series,
// totals on top, values inside the segments where they fit.
std::string stacked_columns(const BarChart& chart);
// Stacked rightwards, one row per category (long labels cut, full text in the title): one
// `<g data-bar>` per category, totals at the end of the bar.
std::string stacked_rows(const BarChart& chart);

// Horizontal bars of a duration per row against a deadline (a dashed marker per row).
struct DeadlineRow {
  std::string label;
  Paint paint;
  std::optional<double> value;                          // the bar (e.g. median days)
  std::optional<double> secondary;                      // a dot on the bar (e.g. mean days)
  std::optional<int> deadline;                          // days
  std::string missing_text = "no fixes in the window";  // shown when `value` is unknown
};
struct DeadlineChart {
  std::string name;
  std::string label;
  std::string value_name = "median";
  std::string secondary_name = "mean";
  std::vector<DeadlineRow> rows;
};
// One `<rect data-bar>` per row (zero width when the value is unknown).
std::string deadline_bars(const DeadlineChart& chart);

// A thin single bar of shares (the severity mix of the headline); labels come from the
// page around it.
std::string share_bar(std::string_view name, std::string_view label,
                      const std::vector<Series>& parts);

}  // namespace mdesync::report::svg
