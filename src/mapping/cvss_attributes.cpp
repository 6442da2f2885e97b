#include "mapping/cvss_attributes.hpp"

#include <fmt/format.h>

#include <cmath>

#include "cvss/cvss.hpp"
#include "mapping/text.hpp"

namespace mdesync::mapping {
namespace {

std::optional<std::string> metric(const cvss::Vector& v, std::string_view name) {
  const auto value = v.value(name);
  if (!value) return std::nullopt;
  const auto full = cvss::value_name(v.version, name, *value);
  if (full.empty()) return std::string(*value);
  return std::string(full);
}

void fill_v3(model::CvssV3& out, const cvss::Vector& v) {
  const auto scores = cvss::score(v);
  out.vector = v.canonical;
  out.av = metric(v, "AV");
  out.ac = metric(v, "AC");
  out.pr = metric(v, "PR");
  out.ui = metric(v, "UI");
  out.s = metric(v, "S");
  out.ci = metric(v, "C");
  out.ii = metric(v, "I");
  out.ai = metric(v, "A");
  out.e = metric(v, "E");
  out.rl = metric(v, "RL");
  out.rc = metric(v, "RC");
  out.base_score = scores.base;
  out.temporal_score = scores.temporal;
}

void fill_v2(model::CvssV2& out, const cvss::Vector& v) {
  const auto scores = cvss::score(v);
  out.vector = v.canonical;
  out.av = metric(v, "AV");
  out.ac = metric(v, "AC");
  out.au = metric(v, "Au");
  out.ci = metric(v, "C");
  out.ii = metric(v, "I");
  out.ai = metric(v, "A");
  out.e = metric(v, "E");
  out.rl = metric(v, "RL");
  out.rc = metric(v, "RC");
  out.base_score = scores.base;
  out.temporal_score = scores.temporal;
}

bool is_v3(cvss::Version v) {
  return v == cvss::Version::v3_0 || v == cvss::Version::v3_1;
}

}  // namespace

void fill_cvss(model::VulnerabilityDefinition& def, const std::optional<std::string>& vector,
               const std::optional<std::string>& v2_vector, std::optional<double> source_base_score,
               std::vector<Diagnostic>& diagnostics) {
  const cvss::ParseOptions lenient{true};
  bool have_v2 = false;
  if (vector && !trim(*vector).empty()) {
    auto parsed = cvss::parse(*vector, lenient);
    if (!parsed) {
      diagnostics.push_back({DiagnosticKind::unparseable_vector, "cvssVector",
                             fmt::format("{}: cvssVector '{}' does not parse: {}", def.uid, *vector,
                                         parsed.error().message)});
    } else if (is_v3(parsed->version)) {
      fill_v3(def.cvss_v3, *parsed);
      if (source_base_score && def.cvss_v3.base_score &&
          std::fabs(*def.cvss_v3.base_score - *source_base_score) > 0.1 + 1e-9) {
        diagnostics.push_back({DiagnosticKind::score_mismatch, "cvssV3",
                               fmt::format("{}: cvssV3 {} but the vector's base score is {}",
                                           def.uid, *source_base_score, *def.cvss_v3.base_score)});
      }
    } else if (parsed->version == cvss::Version::v2_0) {
      fill_v2(def.cvss_v2, *parsed);
      have_v2 = true;
    } else {
      diagnostics.push_back({DiagnosticKind::unexpected_value, "cvssVector",
                             fmt::format("{}: cvssVector '{}' is CVSS {}: no CVSS_V3 attributes",
                                         def.uid, *vector, cvss::to_string(parsed->version))});
    }
  }
  if (v2_vector && !trim(*v2_vector).empty() && !have_v2) {
    auto parsed = cvss::parse(*v2_vector, lenient);
    if (!parsed || parsed->version != cvss::Version::v2_0) {
      diagnostics.push_back({DiagnosticKind::unparseable_vector, "cvssV2Vector",
                             fmt::format("{}: v2 vector '{}' does not parse{}", def.uid, *v2_vector,
                                         parsed ? " as CVSS 2.0" : ": " + parsed.error().message)});
    } else {
      fill_v2(def.cvss_v2, *parsed);
    }
  }
}

}  // namespace mdesync::mapping
