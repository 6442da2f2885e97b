// Data-driven: every row of tests/data/cvss/*.tsv through the library directly (the CLI
// is checked with the same files by the cvss_check_py CTest test).
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cvss/cvss.hpp"

namespace mdesync::cvss {
namespace {

const std::string k_data_dir = std::string(MDESYNC_SOURCE_DIR) + "/tests/data/cvss/";

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, '\t')) out.push_back(field);
  if (!line.empty() && line.back() == '\t') out.emplace_back();
  return out;
}

struct Expected {
  std::optional<double> value;  // nullopt for "-"
  std::vector<double> alternatives;
};

bool matches(const Expected& e, const std::optional<double>& got) {
  if (!e.value) return true;
  if (!got) return false;
  if (std::fabs(*got - *e.value) < 1e-6) return true;
  for (double alt : e.alternatives) {
    if (std::fabs(*got - alt) < 1e-6) return true;
  }
  return false;
}

std::vector<double> alternatives(const std::string& source, const std::string& field) {
  std::vector<double> out;
  const std::string key = "alt_" + field + "=";
  for (std::size_t p = source.find(key); p != std::string::npos; p = source.find(key, p + 1)) {
    out.push_back(std::stod(source.substr(p + key.size())));
  }
  return out;
}

void check_score_file(const std::string& name, Version version) {
  std::ifstream in(k_data_dir + name);
  ASSERT_TRUE(in) << "cannot open " << k_data_dir + name;
  std::string line;
  int rows = 0;
  int failures = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto f = split_tabs(line);
    ASSERT_GE(f.size(), 5u) << line;
    ++rows;
    auto parsed = parse(f[0]);
    if (!parsed) {
      ADD_FAILURE() << name << ": " << f[0] << ": " << parsed.error().message;
      ++failures;
      continue;
    }
    EXPECT_EQ(parsed->version, version) << f[0];
    const Scores s = score(*parsed);
    const auto field = [&](std::size_t i, const char* alt) {
      Expected e;
      if (f[i] != "-") e.value = std::stod(f[i]);
      e.alternatives = alternatives(f[4], alt);
      return e;
    };
    const bool v4 = version == Version::v4_0;
    const bool ok = matches(field(1, "base"), v4 ? s.score : s.base) &&
                    matches(field(2, "temporal"), s.temporal) &&
                    matches(field(3, "env"), s.environmental);
    if (!ok && ++failures <= 10) {
      ADD_FAILURE() << name << ": " << f[0] << ": got " << s.base << " / "
                    << (s.temporal ? std::to_string(*s.temporal) : "-") << " / "
                    << (s.environmental ? std::to_string(*s.environmental) : "-") << ", expected "
                    << f[1] << " / " << f[2] << " / " << f[3];
    }
  }
  EXPECT_EQ(failures, 0) << name;
  EXPECT_GT(rows, 100) << name;
}

TEST(CvssVectorFiles, V2) {
  check_score_file("v2.tsv", Version::v2_0);
}
TEST(CvssVectorFiles, V30) {
  check_score_file("v30.tsv", Version::v3_0);
}
TEST(CvssVectorFiles, V31) {
  check_score_file("v31.tsv", Version::v3_1);
}
TEST(CvssVectorFiles, V40) {
  check_score_file("v40.tsv", Version::v4_0);
}

TEST(CvssVectorFiles, InvalidRejectedStrictly) {
  std::ifstream in(k_data_dir + "invalid.tsv");
  ASSERT_TRUE(in);
  std::string line;
  int rows = 0;
  int strict_only = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '#') continue;
    const auto f = split_tabs(line);
    ASSERT_GE(f.size(), 2u) << line;
    ++rows;
    auto strict = parse(f[0]);
    EXPECT_FALSE(strict.has_value()) << "accepted: '" << f[0] << "' (" << f[1] << ")";
    if (!strict) {
      EXPECT_EQ(strict.error().code, util::ErrorCode::parse);
      EXPECT_FALSE(strict.error().message.empty());
    }
    // Lenient mode accepts exactly the deviations tagged [strict...], and says so.
    auto lenient = parse(f[0], ParseOptions{true});
    if (f[1].rfind("[strict", 0) == 0) {
      ++strict_only;
      ASSERT_TRUE(lenient.has_value()) << f[0] << ": " << lenient.error().message;
      EXPECT_FALSE(lenient->corrections.empty()) << f[0];
    } else {
      EXPECT_FALSE(lenient.has_value()) << "lenient accepted: '" << f[0] << "' (" << f[1] << ")";
    }
  }
  EXPECT_EQ(rows, 151);
  EXPECT_EQ(strict_only, 8);  // SOURCES.md says 9; the file holds 8
}

}  // namespace
}  // namespace mdesync::cvss
