#pragma once

// Internal to the cvss module: one scoring function per specification family, each
// taking the value indices resolve() produced (see metric_table.hpp for the order).

#include "cvss/cvss.hpp"
#include "cvss/metric_table.hpp"

namespace mdesync::cvss::detail {

Scores score_v2(const Resolved& r);
Scores score_v3(Version version, const Resolved& r);
Scores score_v4(const Resolved& r);

// "None", "Low", "Medium", "High", "Critical" per the v3.x/v4.0 rating scale.
std::string severity_v3(double score);
// "Low", "Medium", "High" per the NVD v2 rating scale (v2 itself defines none).
std::string severity_v2(double score);

}  // namespace mdesync::cvss::detail
