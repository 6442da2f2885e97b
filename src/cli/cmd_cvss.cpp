// `mdesync cvss`: parse and score CVSS vectors, one JSON object per vector. With
// --stdin it scores one vector per input line and answers exactly one line per input
// line, in order, so that large vector files can be scored in a single process.
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/command.hpp"
#include "cli/exit_codes.hpp"
#include "cvss/cvss.hpp"

namespace mdesync::cli {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not one.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  std::size_t len = 0;
  unsigned min = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  unsigned cp = b0 & (0x7Fu >> len);
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

// Appends `s` as a JSON string; bytes that are not valid UTF-8 become U+FFFD so the
// output stays valid JSON whatever the input line held.
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      const std::size_t len = utf8_sequence_length(s, i);
      if (len == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.substr(i, len));
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(u));
          out += buf;
        } else {
          out += c;
        }
    }
    ++i;
  }
  out += '"';
}

void append_score(std::string& out, double score) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f", score);
  out += buf;
}

void append_optional_score(std::string& out, const std::optional<double>& score) {
  if (score) {
    append_score(out, *score);
  } else {
    out += "null";
  }
}

// One JSON object (no newline) for a parsed vector.
void append_result(std::string& out, std::string_view input, const cvss::Vector& vector,
                   bool lenient) {
  const cvss::Scores s = cvss::score(vector);
  out += "{\"vector\":";
  append_json_string(out, input);
  out += ",\"canonical\":";
  append_json_string(out, vector.canonical);
  out += ",\"version\":\"";
  out += cvss::to_string(vector.version);
  out += "\",\"baseScore\":";
  append_score(out, s.base);
  out += ",\"temporalScore\":";
  append_optional_score(out, s.temporal);
  out += ",\"environmentalScore\":";
  append_optional_score(out, s.environmental);
  out += ",\"score\":";
  append_score(out, s.score);
  out += ",\"severity\":";
  append_json_string(out, s.severity);
  out += ",\"metrics\":{";
  bool first = true;
  for (const auto& [abbr, value] : vector.metrics) {
    if (!first) out += ',';
    first = false;
    append_json_string(out, abbr);
    out += ':';
    append_json_string(out, value);
  }
  out += '}';
  if (lenient) {
    out += ",\"corrections\":[";
    first = true;
    for (const auto& c : vector.corrections) {
      if (!first) out += ',';
      first = false;
      append_json_string(out, c);
    }
    out += ']';
  }
  out += '}';
}

void append_error(std::string& out, std::string_view input, std::string_view message) {
  out += "{\"vector\":";
  append_json_string(out, input);
  out += ",\"error\":";
  append_json_string(out, message);
  out += '}';
}

int run_stdin(bool lenient) {
  std::ios::sync_with_stdio(false);
  const cvss::ParseOptions options{lenient};
  std::string line;
  std::string out;
  out.reserve(1 << 16);
  while (std::getline(std::cin, line)) {
    // A CRLF line ending is not part of the vector.
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto parsed = cvss::parse(line, options);
    if (parsed) {
      append_result(out, line, *parsed, lenient);
    } else {
      append_error(out, line, parsed.error().message);
    }
    out += '\n';
    if (out.size() >= (1 << 16)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  return k_exit_ok;
}

int run_args(const std::vector<std::string>& vectors, bool lenient) {
  const cvss::ParseOptions options{lenient};
  int rc = k_exit_ok;
  std::string out;
  for (const auto& text : vectors) {
    auto parsed = cvss::parse(text, options);
    if (!parsed) {
      std::fprintf(stderr, "mdesync cvss: invalid vector \"%s\": %s\n", text.c_str(),
                   parsed.error().message.c_str());
      rc = k_exit_failure;
      continue;
    }
    out.clear();
    append_result(out, text, *parsed, lenient);
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  std::fflush(stdout);
  return rc;
}

struct CvssOptions {
  std::vector<std::string> vectors;
  bool from_stdin = false;
  bool lenient = false;
};

const bool k_registered = register_command(
    {"cvss", "Parse and score CVSS v2.0/v3.0/v3.1/v4.0 vectors, printing one JSON object each",
     [](CLI::App& sub) {
       auto opts = std::make_shared<CvssOptions>();
       sub.add_option("vectors", opts->vectors, "CVSS vectors to score");
       sub.add_flag("--stdin", opts->from_stdin,
                    "Read one vector per line from standard input; one JSON line per input line");
       sub.add_flag("--lenient", opts->lenient,
                    "Accept surrounding blanks, out-of-order v2/v4.0 metrics and 'CVSS:2.0/' on "
                    "v2, reporting each correction");
       return CommandAction([opts] {
         if (opts->from_stdin) {
           if (!opts->vectors.empty()) {
             std::fprintf(stderr, "mdesync cvss: give vectors as arguments or --stdin, not both\n");
             return static_cast<int>(k_exit_usage);
           }
           return run_stdin(opts->lenient);
         }
         if (opts->vectors.empty()) {
           std::fprintf(stderr, "mdesync cvss: no vector given (pass vectors or --stdin)\n");
           return static_cast<int>(k_exit_usage);
         }
         return run_args(opts->vectors, opts->lenient);
       });
     }});

}  // namespace
}  // namespace mdesync::cli
