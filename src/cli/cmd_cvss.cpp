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
#include "util/json_text.hpp"

namespace mdesync::cli {
namespace {

using util::append_json_string;

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
