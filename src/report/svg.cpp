#include "report/svg.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "report/figures.hpp"

namespace mdesync::report::svg {
namespace {

constexpr std::string_view k_replacement = "\uFFFD";

// Every chart is this wide in user units; the page scales it to the column.
constexpr double k_width = 900;

// A rough width of text in user units (DejaVu Sans / Segoe UI, digits and letters), to
// decide whether a label fits.
double text_width(std::string_view text, double font_size) {
  std::size_t chars = 0;
  for (const char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0U) != 0x80U) ++chars;
  }
  return static_cast<double>(chars) * font_size * 0.62;
}

// A coordinate with one decimal.
std::string c1(double v) {
  if (!std::isfinite(v)) v = 0;
  const double r = std::round(v * 10) / 10;
  return r == std::floor(r) ? fmt::format("{}", static_cast<std::int64_t>(r))
                            : fmt::format("{:.1f}", r);
}

// The length of the UTF-8 sequence starting with `lead`, 0 when it is no lead byte.
std::size_t utf8_length(unsigned char lead) {
  if (lead < 0x80U) return 1;
  if (lead >= 0xC2U && lead <= 0xDFU) return 2;
  if (lead >= 0xE0U && lead <= 0xEFU) return 3;
  if (lead >= 0xF0U && lead <= 0xF4U) return 4;
  return 0;
}

// Whether `text` holds a well-formed UTF-8 sequence of `len` bytes at `pos`.
bool valid_sequence(std::string_view text, std::size_t pos, std::size_t len) {
  if (len == 0 || pos + len > text.size()) return false;
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  for (std::size_t i = 1; i < len; ++i) {
    if ((byte(i) & 0xC0U) != 0x80U) return false;
  }
  if (len == 3) {
    if (byte(0) == 0xE0U && byte(1) < 0xA0U) return false;   // overlong
    if (byte(0) == 0xEDU && byte(1) >= 0xA0U) return false;  // surrogates
  }
  if (len == 4) {
    if (byte(0) == 0xF0U && byte(1) < 0x90U) return false;   // overlong
    if (byte(0) == 0xF4U && byte(1) >= 0x90U) return false;  // beyond U+10FFFF
  }
  return true;
}

struct Scale {
  double top = 1;
  double step = 1;
};

// A "nice" axis over 0..max_value with about `ticks` steps of 1, 2, 2.5 or 5 times a power of
// ten; counts never get fractional steps.
Scale nice_scale(double max_value, int ticks) {
  if (!std::isfinite(max_value) || max_value <= 0) max_value = 1;
  const double raw = max_value / ticks;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * magnitude;
  for (const double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (m == 2.5 && magnitude < 10) continue;
    if (raw <= m * magnitude * (1 + 1e-9)) {
      step = m * magnitude;
      break;
    }
  }
  step = std::max(step, 1.0);
  return {std::max(step, std::ceil(max_value / step - 1e-9) * step), step};
}

std::string open_svg(std::string_view name, std::string_view label, double height,
                     std::string_view cls = "chart") {
  return fmt::format(
      R"(<svg class="{}" data-chart="{}" role="img" aria-label="{}" viewBox="0 0 {} {}" )"
      R"(width="100%" preserveAspectRatio="xMidYMid meet">)",
      cls, escape(name), escape(label), c1(k_width), c1(height));
}

std::string pattern_id(std::string_view chart, std::size_t series) {
  return fmt::format("{}-hatch-{}", chart, series);
}

// The <defs> of a chart: a hatch pattern per hatched series.
std::string defs(std::string_view chart, const std::vector<Series>& series) {
  std::string out;
  for (std::size_t i = 0; i < series.size(); ++i) {
    if (!series[i].paint.hatch) continue;
    out += fmt::format(R"(<pattern id="{}" width="6" height="6" patternUnits="userSpaceOnUse" )"
                       R"~(patternTransform="rotate(45)"><rect width="6" height="6" fill="{}"/>)~"
                       R"(<line x1="0" y1="0" x2="0" y2="6" stroke="#000" stroke-opacity="0.38" )"
                       R"(stroke-width="2.2"/></pattern>)",
                       pattern_id(chart, i), escape(series[i].paint.colour));
  }
  return out.empty() ? out : "<defs>" + out + "</defs>";
}

std::string fill_of(std::string_view chart, std::size_t index, const Paint& paint) {
  return paint.hatch ? fmt::format("url(#{})", pattern_id(chart, index)) : escape(paint.colour);
}

double value_at(const Series& s, std::size_t i) {
  if (i >= s.values.size()) return 0;
  const double v = s.values[i];
  return std::isfinite(v) && v > 0 ? v : 0;
}

// Horizontal gridlines and tick labels of a y axis.
void y_axis(std::string& out, const Scale& scale, double left, double right, double top,
            double bottom) {
  const auto steps = static_cast<int>(std::lround(scale.top / scale.step));
  out += R"(<g class="y-axis">)";
  for (int k = 0; k <= steps; ++k) {
    const double v = k * scale.step;
    const double y = bottom - (bottom - top) * v / scale.top;
    out += fmt::format(R"(<line class="{}" x1="{}" x2="{}" y1="{}" y2="{}"/>)",
                       k == 0 ? "axis" : "grid", c1(left), c1(right), c1(y), c1(y));
    out += fmt::format(R"(<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>)",
                       c1(left - 8), c1(y + 4), axis_number(v));
  }
  out += "</g>";
}

// Vertical gridlines and tick labels of an x axis of values.
void x_value_axis(std::string& out, const Scale& scale, double left, double right, double top,
                  double bottom, std::string_view unit) {
  const auto steps = static_cast<int>(std::lround(scale.top / scale.step));
  out += R"(<g class="x-axis">)";
  for (int k = 0; k <= steps; ++k) {
    const double v = k * scale.step;
    const double x = left + (right - left) * v / scale.top;
    out += fmt::format(R"(<line class="{}" x1="{}" x2="{}" y1="{}" y2="{}"/>)",
                       k == 0 ? "axis" : "grid", c1(x), c1(x), c1(top), c1(bottom));
    out += fmt::format(R"(<text class="tick" x="{}" y="{}" text-anchor="middle">{}{}</text>)",
                       c1(x), c1(bottom + 16), axis_number(v), k == steps ? unit : "");
  }
  out += "</g>";
}

// Date labels under an x axis, at most one per `min_gap` units, the last date always
// labelled; the year is shown under the first label and wherever it changes.
void date_labels(std::string& out, const std::vector<std::string>& dates,
                 const std::function<double(std::size_t)>& x_of, double y, double plot_width) {
  const std::size_t n = dates.size();
  if (n == 0) return;
  const auto max_labels =
      std::max<std::size_t>(1, static_cast<std::size_t>(std::floor(plot_width / 66)));
  std::size_t stride = 0;
  for (const std::size_t s :
       {1UL, 2UL, 3UL, 7UL, 14UL, 28UL, 56UL, 91UL, 182UL, 364UL, 728UL, 1456UL}) {
    if ((n + s - 1) / s <= max_labels) {
      stride = s;
      break;
    }
  }
  if (stride == 0) stride = (n + max_labels - 1) / max_labels;
  std::vector<std::size_t> at;
  for (std::size_t i = n; i >= 1 && i <= n; i -= std::min(stride, i)) {
    at.push_back(i - 1);
    if (i <= stride) break;
  }
  std::reverse(at.begin(), at.end());
  out += R"(<g class="x-axis">)";
  std::string_view last_year;
  for (const std::size_t i : at) {
    const double x = x_of(i);
    out += fmt::format(R"(<line class="axis" x1="{}" x2="{}" y1="{}" y2="{}"/>)", c1(x), c1(x),
                       c1(y - 14), c1(y - 10));
    out += fmt::format(R"(<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>)", c1(x),
                       c1(y), escape(short_date(dates[i])));
    const std::string_view year =
        dates[i].size() >= 10 ? std::string_view(dates[i]).substr(0, 4) : std::string_view();
    if (!year.empty() && year != last_year) {
      out += fmt::format(R"(<text class="tick year" x="{}" y="{}" text-anchor="middle">{}</text>)",
                         c1(x), c1(y + 14), escape(year));
    }
    last_year = year;
  }
  out += "</g>";
}

const std::string& label_of(const BarChart& chart, std::size_t i) {
  return i < chart.labels.size() ? chart.labels[i] : chart.categories[i];
}

void empty_note(std::string& out, double x, double y, std::string_view text) {
  out += fmt::format(R"(<text class="empty-note" x="{}" y="{}" text-anchor="middle">{}</text>)",
                     c1(x), c1(y), escape(text));
}

}  // namespace

// --- text ------------------------------------------------------------------------------

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80U) {
      const std::size_t len = utf8_length(c);
      if (valid_sequence(text, i, len)) {
        out.append(text.substr(i, len));
        i += len;
      } else {
        out += k_replacement;
        ++i;
      }
      continue;
    }
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '\t':
      case '\n':
      case '\r':
        out += static_cast<char>(c);
        break;
      default:
        if (c < 0x20U || c == 0x7FU) {
          out += k_replacement;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  return out;
}

std::string truncate(std::string_view text, std::size_t max_chars) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0U) == 0x80U) continue;
    if (chars == max_chars) {
      // Cut here, leaving room for the ellipsis: drop the last code point kept.
      std::size_t cut = i;
      do {
        --cut;
      } while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U);
      return std::string(text.substr(0, cut)) + "\u2026";
    }
    ++chars;
  }
  return std::string(text);
}

std::string count(std::int64_t n) {
  const bool negative = n < 0;
  // The magnitude as unsigned, INT64_MIN included.
  std::uint64_t m = negative ? ~static_cast<std::uint64_t>(n) + 1U : static_cast<std::uint64_t>(n);
  const std::string digits = fmt::format("{}", m);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3 + 1);
  if (negative) out += '-';
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string number(double v, int decimals) {
  if (!std::isfinite(v)) return std::string(k_missing);
  decimals = std::clamp(decimals, 0, 6);
  std::string text = fmt::format("{:.{}f}", v, decimals);
  if (text == "-0" || text.find_first_not_of("-0.") == std::string::npos) {
    if (text.front() == '-') text.erase(0, 1);  // no "-0.0"
  }
  const std::size_t dot = text.find('.');
  const std::size_t int_end = dot == std::string::npos ? text.size() : dot;
  const std::size_t int_begin = text.front() == '-' ? 1 : 0;
  std::string out = text.substr(0, int_begin);
  for (std::size_t i = int_begin; i < int_end; ++i) {
    if (i > int_begin && (int_end - i) % 3 == 0) out += ',';
    out += text[i];
  }
  out += text.substr(int_end);
  return out;
}

std::string axis_number(double v) {
  const double a = std::abs(v);
  const auto compact = [&](double div, std::string_view suffix) {
    const double x = v / div;
    const bool whole = std::abs(x - std::round(x)) < 1e-9;
    return number(x, whole ? 0 : 1) + std::string(suffix);
  };
  if (a >= 1e6) return compact(1e6, "M");
  if (a >= 1e4) return compact(1e3, "k");
  const bool whole = std::abs(v - std::round(v)) < 1e-9;
  return number(v, whole ? 0 : 1);
}

std::string time_text(util::Timestamp t) {
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::hh_mm_ss hms{std::chrono::floor<std::chrono::seconds>(t - day)};
  return fmt::format("{} {:02}:{:02} UTC", day_text(t), hms.hours().count(), hms.minutes().count());
}

std::string short_date(std::string_view ymd) {
  static constexpr std::array<std::string_view, 12> k_months = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto digit = [&](std::size_t i) { return ymd[i] >= '0' && ymd[i] <= '9'; };
  if (ymd.size() != 10 || ymd[4] != '-' || ymd[7] != '-' || !digit(5) || !digit(6) || !digit(8) ||
      !digit(9)) {
    return std::string(ymd);
  }
  const int month = (ymd[5] - '0') * 10 + (ymd[6] - '0');
  const int day = (ymd[8] - '0') * 10 + (ymd[9] - '0');
  if (month < 1 || month > 12 || day < 1 || day > 31) return std::string(ymd);
  return fmt::format("{} {}", k_months[static_cast<std::size_t>(month - 1)], day);
}

// --- charts ----------------------------------------------------------------------------

std::string stacked_area(const AreaChart& chart) {
  constexpr double height = 270, left = 60, right = 138, top = 22, bottom_margin = 44;
  const double plot_w = k_width - left - right;
  const double bottom = height - bottom_margin;
  const double plot_h = bottom - top;
  const std::size_t n = chart.dates.size();
  const std::size_t s_count = chart.series.size();

  // Cumulative tops per series and point.
  std::vector<std::vector<double>> cum(s_count, std::vector<double>(n, 0));
  double max_total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double sum = 0;
    for (std::size_t s = 0; s < s_count; ++s) {
      sum += value_at(chart.series[s], i);
      cum[s][i] = sum;
    }
    max_total = std::max(max_total, sum);
  }
  const Scale scale = nice_scale(max_total, 5);
  const auto y_of = [&](double v) { return bottom - plot_h * v / scale.top; };
  const auto x_of = [&](std::size_t i) {
    return n <= 1 ? left + plot_w / 2
                  : left + plot_w * static_cast<double>(i) / static_cast<double>(n - 1);
  };

  std::string out = open_svg(chart.name, chart.label, height);
  out += defs(chart.name, chart.series);
  y_axis(out, scale, left, left + plot_w, top, bottom);

  // The areas: the top edge left to right, then the top of the series below back.
  out += R"(<g class="areas">)";
  for (std::size_t s = 0; s < s_count; ++s) {
    std::string d;
    if (n == 0) {
      d = "M0,0";
    } else {
      // A single day is drawn as a narrow band around its x.
      std::vector<std::pair<double, std::size_t>> xs;
      if (n == 1) {
        xs = {{x_of(0) - 8, 0}, {x_of(0) + 8, 0}};
      } else {
        for (std::size_t i = 0; i < n; ++i) xs.emplace_back(x_of(i), i);
      }
      for (std::size_t k = 0; k < xs.size(); ++k) {
        d += fmt::format("{}{},{}", k == 0 ? "M" : "L", c1(xs[k].first),
                         c1(y_of(cum[s][xs[k].second])));
      }
      for (std::size_t k = xs.size(); k-- > 0;) {
        const double below = s == 0 ? 0 : cum[s - 1][xs[k].second];
        d += fmt::format("L{},{}", c1(xs[k].first), c1(y_of(below)));
      }
      d += "Z";
    }
    out += fmt::format(
        R"(<path class="area" data-series="{}" data-points="{}" d="{}" fill="{}"><title>)"
        R"({}</title></path>)",
        escape(chart.series[s].name), n, d, fill_of(chart.name, s, chart.series[s].paint),
        escape(chart.series[s].name));
  }
  out += "</g>";

  if (n == 0) {
    empty_note(out, left + plot_w / 2, top + plot_h / 2, chart.empty_text);
  } else {
    date_labels(out, chart.dates, x_of, bottom + 18, plot_w);

    // Hover titles: a transparent column per day.
    out += R"(<g class="hits">)";
    for (std::size_t i = 0; i < n; ++i) {
      const double half = n <= 1 ? 12 : plot_w / static_cast<double>(n - 1) / 2;
      const double x0 = std::max(left, x_of(i) - half);
      const double x1 = std::min(left + plot_w, x_of(i) + half);
      std::string title = escape(chart.dates[i]);
      double total = 0;
      for (std::size_t s = s_count; s-- > 0;) {
        const double v = value_at(chart.series[s], i);
        total += v;
        title += fmt::format("\n{}: {}", escape(chart.series[s].name), number(v, 0));
      }
      title += fmt::format("\nTotal: {}", number(total, 0));
      out += fmt::format(
          R"(<rect class="hit" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>)",
          c1(x0), c1(top), c1(std::max(x1 - x0, 0.5)), c1(plot_h), title);
    }
    out += "</g>";

    // The last values, labelled at the right edge next to their band, pushed apart.
    struct Label {
      double anchor;
      double y;
      std::size_t series;
    };
    std::vector<Label> labels;
    for (std::size_t s = 0; s < s_count; ++s) {
      if (value_at(chart.series[s], n - 1) <= 0) continue;
      const double below = s == 0 ? 0 : cum[s - 1][n - 1];
      const double mid = (y_of(below) + y_of(cum[s][n - 1])) / 2;
      labels.push_back({mid, mid, s});
    }
    std::sort(labels.begin(), labels.end(),
              [](const Label& a, const Label& b) { return a.y < b.y; });
    constexpr double gap = 15;
    for (std::size_t k = 1; k < labels.size(); ++k) {
      labels[k].y = std::max(labels[k].y, labels[k - 1].y + gap);
    }
    if (!labels.empty() && labels.back().y > bottom - 4) {
      labels.back().y = bottom - 4;
      for (std::size_t k = labels.size() - 1; k-- > 0;) {
        labels[k].y = std::min(labels[k].y, labels[k + 1].y - gap);
      }
    }
    const double lx = left + plot_w;
    out += R"(<g class="direct-labels">)";
    out += fmt::format(R"(<text class="tick" x="{}" y="{}">{}</text>)", c1(lx + 10), c1(top - 8),
                       escape(short_date(chart.dates.back())));
    for (const Label& l : labels) {
      const Series& s = chart.series[l.series];
      // A leader from the band to its label (a <line>: the chart's only paths are the areas).
      out += fmt::format(R"(<line class="leader" x1="{}" y1="{}" x2="{}" y2="{}"/>)", c1(lx + 1),
                         c1(l.anchor), c1(lx + 9), c1(l.y));
      out += fmt::format(
          R"(<rect x="{}" y="{}" width="10" height="10" rx="2" fill="{}"/>)"
          R"(<text class="direct" x="{}" y="{}">{} <tspan class="strong">{}</tspan></text>)",
          c1(lx + 11), c1(l.y - 5), fill_of(chart.name, l.series, s.paint), c1(lx + 25),
          c1(l.y + 4), escape(s.name), number(value_at(s, n - 1), 0));
    }
    out += "</g>";
  }
  out += "</svg>";
  return out;
}

std::string grouped_columns(const BarChart& chart) {
  constexpr double height = 270, left = 60, right = 16, top = 18, bottom_margin = 44;
  const double plot_w = k_width - left - right;
  const double bottom = height - bottom_margin;
  const double plot_h = bottom - top;
  const std::size_t n = chart.categories.size();
  const std::size_t s_count = chart.series.size();

  double max_value = 0;
  for (const Series& s : chart.series) {
    for (std::size_t i = 0; i < n; ++i) max_value = std::max(max_value, value_at(s, i));
  }
  const Scale scale = nice_scale(max_value, 5);
  const double band = plot_w / static_cast<double>(std::max<std::size_t>(n, 1));
  const double group_w = band * (band < 8 ? 0.92 : 0.78);
  const double bar_w = group_w / static_cast<double>(std::max<std::size_t>(s_count, 1));
  const double gap = bar_w > 5 ? 1 : 0;
  const auto x_center = [&](std::size_t i) { return left + band * (static_cast<double>(i) + 0.5); };

  // Values above the bars only when every one fits (labels on some bars only would read as
  // if the others had none).
  bool label_values = n > 0;
  for (const Series& s : chart.series) {
    for (std::size_t i = 0; i < n && label_values; ++i) {
      label_values = text_width(number(value_at(s, i), 0), 10) <= bar_w - gap + 1;
    }
  }

  std::string out = open_svg(chart.name, chart.label, height);
  out += defs(chart.name, chart.series);
  y_axis(out, scale, left, left + plot_w, top, bottom);

  out += R"(<g class="bars">)";
  for (std::size_t i = 0; i < n; ++i) {
    const double x0 = x_center(i) - group_w / 2;
    const std::string& title = i < chart.titles.size() ? chart.titles[i] : chart.categories[i];
    for (std::size_t s = 0; s < s_count; ++s) {
      const double v = value_at(chart.series[s], i);
      const double h = plot_h * v / scale.top;
      const double x = x0 + bar_w * static_cast<double>(s);
      out += fmt::format(
          R"(<rect data-bar data-series="{}" data-category="{}" x="{}" y="{}" width="{}" )"
          R"(height="{}" fill="{}"><title>{}: {} {}</title></rect>)",
          escape(chart.series[s].name), escape(chart.categories[i]), c1(x), c1(bottom - h),
          c1(std::max(bar_w - gap, 0.4)), c1(h), fill_of(chart.name, s, chart.series[s].paint),
          escape(title), escape(chart.series[s].name), number(v, 0));
      const std::string text = number(v, 0);
      if (label_values) {
        out +=
            fmt::format(R"(<text class="value small" x="{}" y="{}" text-anchor="middle">{}</text>)",
                        c1(x + (bar_w - gap) / 2), c1(bottom - h - 3), text);
      }
    }
  }
  out += "</g>";

  if (n == 0) {
    empty_note(out, left + plot_w / 2, top + plot_h / 2, chart.empty_text);
  } else if (chart.date_categories) {
    date_labels(out, chart.categories, x_center, bottom + 18, plot_w);
  } else {
    out += R"(<g class="x-axis">)";
    for (std::size_t i = 0; i < n; ++i) {
      out += fmt::format(R"(<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>)",
                         c1(x_center(i)), c1(bottom + 18),
                         escape(truncate(label_of(chart, i),
                                         static_cast<std::size_t>(std::max(band / 7.5, 3.0)))));
    }
    out += "</g>";
  }
  out += "</svg>";
  return out;
}

std::string stacked_columns(const BarChart& chart) {
  constexpr double height = 270, left = 60, right = 16, top = 24, bottom_margin = 40;
  const double plot_w = k_width - left - right;
  const double bottom = height - bottom_margin;
  const double plot_h = bottom - top;
  const std::size_t n = chart.categories.size();
  const std::size_t s_count = chart.series.size();

  std::vector<double> totals(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    for (const Series& s : chart.series) totals[i] += value_at(s, i);
  }
  const Scale scale =
      nice_scale(totals.empty() ? 0 : *std::max_element(totals.begin(), totals.end()), 5);
  const double band = plot_w / static_cast<double>(std::max<std::size_t>(n, 1));
  const double bar_w = std::min(band * 0.62, 120.0);

  std::string out = open_svg(chart.name, chart.label, height);
  out += defs(chart.name, chart.series);
  y_axis(out, scale, left, left + plot_w, top, bottom);

  for (std::size_t i = 0; i < n; ++i) {
    const double cx = left + band * (static_cast<double>(i) + 0.5);
    const double x = cx - bar_w / 2;
    std::string title = escape(i < chart.titles.size() ? chart.titles[i] : chart.categories[i]);
    for (std::size_t s = 0; s < s_count; ++s) {
      title += fmt::format("\n{}: {}", escape(chart.series[s].name),
                           number(value_at(chart.series[s], i), 0));
    }
    title += fmt::format("\nTotal: {}", number(totals[i], 0));
    out += fmt::format(R"(<g data-bar data-category="{}"><title>{}</title>)",
                       escape(chart.categories[i]), title);
    double base = 0;
    for (std::size_t s = 0; s < s_count; ++s) {
      const double v = value_at(chart.series[s], i);
      if (v <= 0) continue;
      const double y0 = bottom - plot_h * base / scale.top;
      const double y1 = bottom - plot_h * (base + v) / scale.top;
      base += v;
      out += fmt::format(
          R"(<rect class="segment" data-series="{}" x="{}" y="{}" width="{}" height="{}")"
          R"( fill="{}"/>)",
          escape(chart.series[s].name), c1(x), c1(y1), c1(bar_w), c1(y0 - y1),
          fill_of(chart.name, s, chart.series[s].paint));
      const std::string text = number(v, 0);
      if (y0 - y1 >= 15 && text_width(text, 11) + 6 <= bar_w) {
        out += fmt::format(
            R"(<text class="seg-value{}" x="{}" y="{}" text-anchor="middle" fill="{}">{}</text>)",
            chart.series[s].paint.hatch ? " halo" : "", c1(cx), c1((y0 + y1) / 2 + 4),
            escape(chart.series[s].paint.ink), text);
      }
    }
    out +=
        fmt::format(R"(<text class="total" x="{}" y="{}" text-anchor="middle">{}</text>)", c1(cx),
                    c1(bottom - plot_h * totals[i] / scale.top - 6), number(totals[i], 0));
    out += fmt::format(R"(<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>)", c1(cx),
                       c1(bottom + 18), escape(label_of(chart, i)));
    out += "</g>";
  }
  if (n == 0) empty_note(out, left + plot_w / 2, top + plot_h / 2, chart.empty_text);
  out += "</svg>";
  return out;
}

std::string stacked_rows(const BarChart& chart) {
  constexpr double row_h = 30, bar_h = 18, left = 210, right = 80, top = 10, axis_h = 28;
  const std::size_t n = chart.categories.size();
  const std::size_t s_count = chart.series.size();
  const double rows_h = row_h * static_cast<double>(std::max<std::size_t>(n, 2));
  const double height = top + rows_h + axis_h;
  const double bottom = top + rows_h;
  const double plot_w = k_width - left - right;

  std::vector<double> totals(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    for (const Series& s : chart.series) totals[i] += value_at(s, i);
  }
  const Scale scale =
      nice_scale(totals.empty() ? 0 : *std::max_element(totals.begin(), totals.end()), 6);

  std::string out = open_svg(chart.name, chart.label, height);
  out += defs(chart.name, chart.series);
  x_value_axis(out, scale, left, left + plot_w, top, bottom, "");

  for (std::size_t i = 0; i < n; ++i) {
    const double y = top + row_h * static_cast<double>(i) + (row_h - bar_h) / 2;
    std::string title = escape(i < chart.titles.size() ? chart.titles[i] : chart.categories[i]);
    for (std::size_t s = 0; s < s_count; ++s) {
      title += fmt::format("\n{}: {}", escape(chart.series[s].name),
                           number(value_at(chart.series[s], i), 0));
    }
    title += fmt::format("\nTotal: {}", number(totals[i], 0));
    out += fmt::format(R"(<g data-bar data-category="{}"><title>{}</title>)",
                       escape(chart.categories[i]), title);
    out +=
        fmt::format(R"(<text class="row-label" x="{}" y="{}" text-anchor="end">{}</text>)",
                    c1(left - 10), c1(y + bar_h / 2 + 4), escape(truncate(label_of(chart, i), 28)));
    double base = 0;
    for (std::size_t s = 0; s < s_count; ++s) {
      const double v = value_at(chart.series[s], i);
      if (v <= 0) continue;
      const double x0 = left + plot_w * base / scale.top;
      const double x1 = left + plot_w * (base + v) / scale.top;
      base += v;
      out += fmt::format(
          R"(<rect class="segment" data-series="{}" x="{}" y="{}" width="{}" height="{}")"
          R"( fill="{}"/>)",
          escape(chart.series[s].name), c1(x0), c1(y), c1(x1 - x0), c1(bar_h),
          fill_of(chart.name, s, chart.series[s].paint));
      const std::string text = number(v, 0);
      if (text_width(text, 11) + 8 <= x1 - x0) {
        out += fmt::format(
            R"(<text class="seg-value{}" x="{}" y="{}" text-anchor="middle" fill="{}">{}</text>)",
            chart.series[s].paint.hatch ? " halo" : "", c1((x0 + x1) / 2), c1(y + bar_h / 2 + 4),
            escape(chart.series[s].paint.ink), text);
      }
    }
    out += fmt::format(R"(<text class="total" x="{}" y="{}">{}</text>)",
                       c1(left + plot_w * base / scale.top + 6), c1(y + bar_h / 2 + 4),
                       number(totals[i], 0));
    out += "</g>";
  }
  if (n == 0) empty_note(out, left + plot_w / 2, top + rows_h / 2, chart.empty_text);
  out += "</svg>";
  return out;
}

std::string deadline_bars(const DeadlineChart& chart) {
  constexpr double row_h = 48, bar_h = 18, left = 100, right = 240, top = 6, axis_h = 28;
  const std::size_t n = chart.rows.size();
  const double bottom = top + row_h * static_cast<double>(n);
  const double height = bottom + axis_h;
  const double plot_w = k_width - left - right;

  double max_value = 0;
  for (const DeadlineRow& r : chart.rows) {
    if (r.value && std::isfinite(*r.value)) max_value = std::max(max_value, *r.value);
    if (r.secondary && std::isfinite(*r.secondary)) max_value = std::max(max_value, *r.secondary);
    if (r.deadline) max_value = std::max(max_value, static_cast<double>(*r.deadline));
  }
  const Scale scale = nice_scale(max_value, 6);
  const auto x_of = [&](double v) {
    return left + plot_w * std::clamp(v, 0.0, scale.top) / scale.top;
  };

  std::vector<Series> paints;
  for (const DeadlineRow& r : chart.rows) paints.push_back({r.label, r.paint, {}});
  std::string out = open_svg(chart.name, chart.label, height);
  out += defs(chart.name, paints);
  x_value_axis(out, scale, left, left + plot_w, top, bottom, " days");

  for (std::size_t i = 0; i < n; ++i) {
    const DeadlineRow& r = chart.rows[i];
    const double y0 = top + row_h * static_cast<double>(i);
    const double bar_y = y0 + 18;
    const bool known = r.value && std::isfinite(*r.value);
    const double x1 = known ? x_of(*r.value) : left;
    out += fmt::format(R"(<text class="row-label" x="{}" y="{}" text-anchor="end">{}</text>)",
                       c1(left - 10), c1(bar_y + bar_h / 2 + 4), escape(r.label));
    out += fmt::format(
        R"(<rect data-bar data-series="{}" x="{}" y="{}" width="{}" height="{}" fill="{}">)"
        R"(<title>{}: {} {} days</title></rect>)",
        escape(r.label), c1(left), c1(bar_y), c1(x1 - left), c1(bar_h),
        fill_of(chart.name, i, r.paint), escape(r.label), escape(chart.value_name),
        known ? number(*r.value, 1) : std::string(k_missing));
    if (r.secondary && std::isfinite(*r.secondary)) {
      out += fmt::format(
          R"(<circle class="marker" cx="{}" cy="{}" r="4.5"><title>{}: {} {} days</title>)"
          R"(</circle>)",
          c1(x_of(*r.secondary)), c1(bar_y + bar_h / 2), escape(r.label),
          escape(chart.secondary_name), number(*r.secondary, 1));
    }
    if (r.deadline) {
      const double dx = x_of(*r.deadline);
      const std::string text = fmt::format("deadline {} d", *r.deadline);
      // Right of the marker, or left of it when it would run into the value column.
      const bool before = dx + 4 + text_width(text, 11) > left + plot_w + 8;
      out += fmt::format(R"(<line class="deadline" x1="{}" x2="{}" y1="{}" y2="{}"/>)"
                         R"(<text class="deadline-label" x="{}" y="{}"{}>{}</text>)",
                         c1(dx), c1(dx), c1(y0 + 4), c1(bar_y + bar_h + 4),
                         c1(before ? dx - 4 : dx + 4), c1(y0 + 13),
                         before ? R"( text-anchor="end")" : "", text);
    }
    // The values, in a column right of the plot: "median 9.5 d · mean 13.8 d".
    const bool has_secondary = r.secondary && std::isfinite(*r.secondary);
    std::string text = known ? fmt::format(R"({} <tspan class="strong">{} d</tspan>)",
                                           escape(chart.value_name), number(*r.value, 1))
                             : escape(r.missing_text);
    if (has_secondary) {
      text += fmt::format(" \u00b7 {} {} d", escape(chart.secondary_name), number(*r.secondary, 1));
    }
    const double tx = left + plot_w + 16;
    out += fmt::format(R"(<text class="value-col{}" x="{}" y="{}">{}</text>)",
                       known ? "" : " muted", c1(tx), c1(bar_y + bar_h / 2 + 4), text);
    if (known && r.deadline && *r.value > *r.deadline) {
      out += fmt::format(
          R"(<text class="over-note" x="{}" y="{}">&#x25B2; over the {}-day deadline</text>)",
          c1(tx), c1(bar_y + bar_h + 10), *r.deadline);
    }
  }
  out += "</svg>";
  return out;
}

std::string share_bar(std::string_view name, std::string_view label,
                      const std::vector<Series>& parts) {
  constexpr double width = 300, height = 10;
  double total = 0;
  for (const Series& p : parts) total += value_at(p, 0);
  std::string out = fmt::format(
      R"(<svg class="share-bar" data-chart="{}" role="img" aria-label="{}" viewBox="0 0 {} {}" )"
      R"(width="100%" preserveAspectRatio="none">)",
      escape(name), escape(label), c1(width), c1(height));
  out += defs(name, parts);
  out += fmt::format(R"(<rect x="0" y="0" width="{}" height="{}" fill="#e6e9ee"/>)", c1(width),
                     c1(height));
  double x = 0;
  for (std::size_t i = 0; i < parts.size() && total > 0; ++i) {
    const double w = width * value_at(parts[i], 0) / total;
    if (w <= 0) continue;
    out += fmt::format(
        R"(<rect x="{}" y="0" width="{}" height="{}" fill="{}"><title>{}</title></rect>)", c1(x),
        c1(w), c1(height), fill_of(name, i, parts[i].paint), escape(parts[i].name));
    x += w;
  }
  out += "</svg>";
  return out;
}

}  // namespace mdesync::report::svg
