#pragma once

// Text of JSON objects one per line (a `--log-format json` stderr) as parsed objects; a
// line that is not JSON fails the test and is left out.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace mdesync::testing_support {

inline std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    try {
      out.push_back(nlohmann::json::parse(line));
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a JSON line: '" << line << "': " << e.what();
    }
  }
  return out;
}

}  // namespace mdesync::testing_support
