#include "cvss/cvss.hpp"
#include "cvss/metric_table.hpp"
#include "cvss/scoring.hpp"

namespace mdesync::cvss {

namespace detail {

std::string severity_v3(double score) {
  // Scores carry one decimal; compare against midpoints so binary noise cannot matter.
  if (score < 0.05) return "None";
  if (score < 3.95) return "Low";
  if (score < 6.95) return "Medium";
  if (score < 8.95) return "High";
  return "Critical";
}

std::string severity_v2(double score) {
  if (score < 3.95) return "Low";
  if (score < 6.95) return "Medium";
  return "High";
}

}  // namespace detail

Scores score(const Vector& vector) {
  const detail::Resolved resolved = detail::resolve(vector);
  switch (vector.version) {
    case Version::v2_0:
      return detail::score_v2(resolved);
    case Version::v3_0:
    case Version::v3_1:
      return detail::score_v3(vector.version, resolved);
    case Version::v4_0:
      return detail::score_v4(resolved);
  }
  return {};
}

std::string_view value_name(Version version, std::string_view metric,
                            std::string_view value) noexcept {
  const detail::VersionDef& def = detail::version_def(version);
  const int m = detail::find_metric(def, metric);
  if (m < 0) return {};
  const detail::MetricDef& md = def.metrics[static_cast<std::size_t>(m)];
  const int v = detail::find_value(md, value);
  if (v < 0) return {};
  return md.values[static_cast<std::size_t>(v)].name;
}

}  // namespace mdesync::cvss
