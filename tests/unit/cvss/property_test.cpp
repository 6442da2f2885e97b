// Properties over every base vector of each version: scores in 0..10, severity consistent
// with the score, and monotonic in each metric whose values the specification orders by
// severity (a more severe value never lowers the score).
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cvss/cvss.hpp"

namespace mdesync::cvss {
namespace {

struct Axis {
  std::string name;
  // Least to most severe.
  std::vector<std::string> values;
  bool monotonic = true;
};

struct Space {
  std::string prefix;
  std::vector<Axis> axes;
  std::string suffix;  // appended after the base metrics, e.g. "/E:P"
};

// Scores every combination, in mixed radix order (last axis fastest).
std::vector<Scores> score_all(const Space& space) {
  std::size_t total = 1;
  for (const auto& a : space.axes) total *= a.values.size();
  std::vector<Scores> out;
  out.reserve(total);
  std::vector<std::size_t> digit(space.axes.size(), 0);
  for (std::size_t n = 0; n < total; ++n) {
    std::string text = space.prefix;
    for (std::size_t i = 0; i < space.axes.size(); ++i) {
      if (i > 0) text += '/';
      text += space.axes[i].name + ':' + space.axes[i].values[digit[i]];
    }
    text += space.suffix;
    auto parsed = parse(text);
    EXPECT_TRUE(parsed) << text;
    out.push_back(parsed ? score(*parsed) : Scores{});
    for (std::size_t i = space.axes.size(); i-- > 0;) {
      if (++digit[i] < space.axes[i].values.size()) break;
      digit[i] = 0;
    }
  }
  return out;
}

std::string severity_for(Version v, double s) {
  if (v == Version::v2_0) return s < 4.0 ? "Low" : s < 7.0 ? "Medium" : "High";
  if (s == 0.0) return "None";
  return s < 4.0 ? "Low" : s < 7.0 ? "Medium" : s < 9.0 ? "High" : "Critical";
}

// Returns the number of monotonicity violations (and reports the first few).
int check_space(const Space& space, Version version) {
  const std::vector<Scores> scores = score_all(space);
  for (const auto& s : scores) {
    EXPECT_GE(s.score, 0.0);
    EXPECT_LE(s.score, 10.0);
    EXPECT_GE(s.base, 0.0);
    EXPECT_LE(s.base, 10.0);
    // Exactly one decimal.
    EXPECT_NEAR(s.score * 10, std::round(s.score * 10), 1e-9);
    const double rated = version == Version::v4_0 ? s.score : s.base;
    EXPECT_EQ(s.severity, severity_for(version, rated));
  }
  int violations = 0;
  std::size_t stride = 1;
  for (std::size_t i = space.axes.size(); i-- > 0;) {
    const Axis& axis = space.axes[i];
    const std::size_t radix = axis.values.size();
    if (axis.monotonic) {
      for (std::size_t n = 0; n < scores.size(); ++n) {
        const std::size_t d = (n / stride) % radix;
        if (d + 1 >= radix) continue;
        if (scores[n + stride].score < scores[n].score) {
          if (++violations <= 3) {
            ADD_FAILURE() << space.prefix << " raising " << axis.name << " from " << axis.values[d]
                          << " to " << axis.values[d + 1] << " lowered " << scores[n].score
                          << " to " << scores[n + stride].score;
          }
        }
      }
    }
    stride *= radix;
  }
  return violations;
}

Space v3_space(const std::string& prefix, const std::string& scope) {
  return {prefix,
          {{"AV", {"P", "L", "A", "N"}},
           {"AC", {"H", "L"}},
           {"PR", {"H", "L", "N"}},
           {"UI", {"R", "N"}},
           {"S", {scope}},
           {"C", {"N", "L", "H"}},
           {"I", {"N", "L", "H"}},
           {"A", {"N", "L", "H"}}},
          ""};
}

TEST(CvssProperties, V31BaseSpace) {
  EXPECT_EQ(check_space(v3_space("CVSS:3.1/", "U"), Version::v3_1), 0);
  EXPECT_EQ(check_space(v3_space("CVSS:3.1/", "C"), Version::v3_1), 0);
}

TEST(CvssProperties, V30BaseSpace) {
  EXPECT_EQ(check_space(v3_space("CVSS:3.0/", "U"), Version::v3_0), 0);
  EXPECT_EQ(check_space(v3_space("CVSS:3.0/", "C"), Version::v3_0), 0);
}

TEST(CvssProperties, V31TemporalNeverAboveBase) {
  Space space = v3_space("CVSS:3.1/", "U");
  space.suffix = "/E:U/RL:O/RC:U";
  for (const auto& s : score_all(space)) {
    ASSERT_TRUE(s.temporal.has_value());
    EXPECT_LE(*s.temporal, s.base);
  }
}

TEST(CvssProperties, V2BaseSpace) {
  const Space space{"",
                    {{"AV", {"L", "A", "N"}},
                     {"AC", {"H", "M", "L"}},
                     {"Au", {"M", "S", "N"}},
                     {"C", {"N", "P", "C"}},
                     {"I", {"N", "P", "C"}},
                     {"A", {"N", "P", "C"}}},
                    ""};
  EXPECT_EQ(check_space(space, Version::v2_0), 0);
}

// v4.0 scores interpolate inside MacroVectors; the specification orders the impact
// metrics (VC..SA) and the exploitability metrics, and the official scores respect that
// order for the impact metrics, which is what this test holds us to.
TEST(CvssProperties, V40BaseSpace) {
  const Space space{"CVSS:4.0/",
                    {{"AV", {"P", "L", "A", "N"}, false},
                     {"AC", {"H", "L"}, false},
                     {"AT", {"P", "N"}, false},
                     {"PR", {"H", "L", "N"}, false},
                     {"UI", {"A", "P", "N"}, false},
                     {"VC", {"N", "L", "H"}},
                     {"VI", {"N", "L", "H"}},
                     {"VA", {"N", "L", "H"}},
                     {"SC", {"N", "L", "H"}},
                     {"SI", {"N", "L", "H"}},
                     {"SA", {"N", "L", "H"}}},
                    ""};
  EXPECT_EQ(check_space(space, Version::v4_0), 0);
}

}  // namespace
}  // namespace mdesync::cvss
