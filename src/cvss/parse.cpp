// Vector string parsing for every version. Strict mode follows each specification's
// vector-string rules; lenient mode accepts the deviations seen in real feeds and
// records what it corrected.
#include <algorithm>
#include <array>
#include <bitset>
#include <cstdio>
#include <string>

#include "cvss/cvss.hpp"
#include "cvss/metric_table.hpp"

namespace mdesync::cvss {
namespace {

using detail::MetricDef;
using detail::VersionDef;

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Characters that can appear in any valid vector of any version.
constexpr std::array<bool, 256> make_vector_chars() {
  std::array<bool, 256> t{};
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (const char c : {':', '/', '.', '(', ')'}) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> k_vector_chars = make_vector_chars();

bool is_vector_char(char c) {
  return k_vector_chars[static_cast<unsigned char>(c)];
}

std::string describe_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned>(u));
  return std::string("byte ") + buf;
}

std::string allowed_values(const MetricDef& metric) {
  std::string out;
  for (const auto& v : metric.values) {
    if (!out.empty()) out += ", ";
    out += v.abbr;
  }
  return out;
}

util::Result<Vector> parse_body(std::string_view body, Vector vector, bool lenient) {
  const VersionDef& def = detail::version_def(vector.version);
  const std::string_view vname = to_string(vector.version);
  if (body.empty()) {
    return util::fail(util::ErrorCode::parse,
                      "CVSS v" + std::string(vname) + " vector has no metrics");
  }

  std::bitset<detail::k_max_metrics> seen;
  std::array<std::size_t, detail::k_max_metrics> value_of{};
  const bool ordered = vector.version == Version::v2_0 || vector.version == Version::v4_0;
  int last_index = -1;
  bool reordered = false;
  bool out_of_order = false;
  std::size_t pos = 0;
  vector.metrics.reserve(def.metrics.size());
  while (true) {
    // One pass over the (short) field finds both its end and its ':'.
    std::size_t end = pos;
    std::size_t colon = std::string_view::npos;
    while (end < body.size() && body[end] != '/') {
      if (body[end] == ':' && colon == std::string_view::npos) colon = end - pos;
      ++end;
    }
    const std::size_t slash = end < body.size() ? end : std::string_view::npos;
    const std::string_view field = body.substr(pos, end - pos);
    if (field.empty()) {
      if (slash == std::string_view::npos) {
        return util::fail(util::ErrorCode::parse, "trailing '/' after the last metric");
      }
      return util::fail(util::ErrorCode::parse,
                        "empty metric at character " + std::to_string(pos + 1) + " ('//')");
    }
    if (colon == std::string_view::npos) {
      return util::fail(util::ErrorCode::parse,
                        "metric '" + std::string(field) + "' has no ':' and value");
    }
    const std::string_view abbr = field.substr(0, colon);
    const std::string_view value = field.substr(colon + 1);
    const int index = detail::find_metric(def, abbr, static_cast<std::size_t>(last_index + 1));
    if (index < 0) {
      std::string msg =
          "unknown CVSS v" + std::string(vname) + " metric '" + std::string(abbr) + "'";
      if (vector.version == Version::v2_0) {
        msg += " (v3.x and v4.0 vectors start with 'CVSS:3.1/', 'CVSS:4.0/', ...)";
      }
      return util::fail(util::ErrorCode::parse, std::move(msg));
    }
    const auto uindex = static_cast<std::size_t>(index);
    const MetricDef& metric = def.metrics[uindex];
    if (seen.test(uindex)) {
      return util::fail(util::ErrorCode::parse, "duplicate metric " + std::string(abbr));
    }
    const int vindex = detail::find_value(metric, value);
    if (vindex < 0) {
      return util::fail(util::ErrorCode::parse, "invalid value '" + std::string(value) +
                                                    "' for metric " + std::string(abbr) +
                                                    " (allowed: " + allowed_values(metric) + ")");
    }
    if (ordered && index < last_index) {
      if (!lenient) {
        return util::fail(util::ErrorCode::parse,
                          "metric " + std::string(abbr) + " is out of order: CVSS v" +
                              std::string(vname) + " requires it before " +
                              std::string(def.metrics[static_cast<std::size_t>(last_index)].abbr));
      }
      reordered = true;
    }
    if (index < last_index) out_of_order = true;
    last_index = std::max(last_index, index);
    seen.set(uindex);
    value_of[uindex] = vector.metrics.size();
    vector.metrics.emplace_back(abbr, value);
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }

  for (std::size_t i = 0; i < def.base_count; ++i) {
    if (!seen.test(i)) {
      return util::fail(util::ErrorCode::parse,
                        "missing mandatory base metric " + std::string(def.metrics[i].abbr));
    }
  }
  if (reordered) {
    vector.corrections.emplace_back("reordered metrics to the specification order");
  }

  // Canonical form: prefix, then every written metric in specification order.
  std::string& canonical = vector.canonical;
  if (!reordered && !out_of_order) {
    // Already in order (the common case): the canonical form is the text as written.
    if (vector.version != Version::v2_0) {
      canonical.reserve(body.size() + 9);
      canonical += "CVSS:";
      canonical += vname;
      canonical += '/';
    }
    canonical += body;
    return vector;
  }
  canonical.reserve(body.size() + 9);
  if (vector.version != Version::v2_0) {
    canonical += "CVSS:";
    canonical += vname;
  }
  for (std::size_t i = 0; i < def.metrics.size(); ++i) {
    if (!seen.test(i)) continue;
    if (!canonical.empty()) canonical += '/';
    const auto& [a, v] = vector.metrics[value_of[i]];
    canonical += a;
    canonical += ':';
    canonical += v;
  }
  return vector;
}

}  // namespace

std::string_view to_string(Version v) noexcept {
  switch (v) {
    case Version::v2_0:
      return "2.0";
    case Version::v3_0:
      return "3.0";
    case Version::v3_1:
      return "3.1";
    case Version::v4_0:
      return "4.0";
  }
  return "?";
}

std::optional<std::string_view> Vector::value(std::string_view metric) const {
  for (const auto& [abbr, v] : metrics) {
    if (abbr == metric) return std::string_view(v);
  }
  return std::nullopt;
}

util::Result<Vector> parse(std::string_view text, ParseOptions options) {
  Vector vector;
  std::string_view s = text;

  if (options.lenient) {
    std::size_t b = 0;
    std::size_t e = s.size();
    while (b < e && is_blank(s[b])) ++b;
    while (e > b && is_blank(s[e - 1])) --e;
    if (b != 0 || e != s.size()) {
      s = s.substr(b, e - b);
      vector.corrections.emplace_back("removed surrounding blanks");
    }
  }
  if (s.empty()) return util::fail(util::ErrorCode::parse, "empty CVSS vector");
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!is_vector_char(s[i])) {
      return util::fail(util::ErrorCode::parse, "unexpected character " + describe_char(s[i]) +
                                                    " at position " + std::to_string(i + 1));
    }
  }

  constexpr std::string_view k_prefix = "CVSS:";
  if (s.substr(0, k_prefix.size()) == k_prefix) {
    const std::size_t slash = s.find('/');
    const std::string_view ver =
        s.substr(k_prefix.size(), slash == std::string_view::npos ? std::string_view::npos
                                                                  : slash - k_prefix.size());
    if (ver == "3.0") {
      vector.version = Version::v3_0;
    } else if (ver == "3.1") {
      vector.version = Version::v3_1;
    } else if (ver == "4.0") {
      vector.version = Version::v4_0;
    } else if (ver == "2.0" && options.lenient) {
      vector.version = Version::v2_0;
      vector.corrections.emplace_back("removed the CVSS:2.0/ prefix (v2 vectors have none)");
    } else if (ver == "2.0") {
      return util::fail(util::ErrorCode::parse,
                        "CVSS v2 vectors have no prefix: remove 'CVSS:2.0/' (or parse leniently)");
    } else {
      return util::fail(util::ErrorCode::parse,
                        "unsupported CVSS version '" + std::string(ver) + "' in the prefix");
    }
    if (slash == std::string_view::npos) {
      return util::fail(util::ErrorCode::parse,
                        "CVSS v" + std::string(ver) + " vector has no metrics after the prefix");
    }
    return parse_body(s.substr(slash + 1), std::move(vector), options.lenient);
  }

  // No prefix: CVSS v2, optionally wrapped in parentheses as NVD writes it.
  vector.version = Version::v2_0;
  if (s.front() == '(' || s.back() == ')') {
    if (s.size() < 2 || s.front() != '(' || s.back() != ')') {
      return util::fail(util::ErrorCode::parse, "unbalanced parenthesis around the v2 vector");
    }
    s = s.substr(1, s.size() - 2);
  }
  if (const std::size_t p = s.find_first_of("()"); p != std::string_view::npos) {
    return util::fail(util::ErrorCode::parse,
                      "unexpected character '" + std::string(1, s[p]) + "' inside the vector");
  }
  if (s.find('.') != std::string_view::npos) {
    return util::fail(util::ErrorCode::parse,
                      "unexpected character '.': only the 'CVSS:x.y/' prefix contains one");
  }
  return parse_body(s, std::move(vector), options.lenient);
}

}  // namespace mdesync::cvss
