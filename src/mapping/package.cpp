#include "mapping/mapping.hpp"
#include "mapping/rejected.hpp"

namespace mdesync::mapping {

Mapped<model::Package> map_package(const defender::Software& sw,
                                   std::span<const defender::Distribution> distributions) {
  Mapped<model::Package> out;
  model::Package p;
  p.uid = sw.id;
  p.name = sw.name;
  p.status = model::PackageStatus::active;
  p.categories.emplace_back("Software");
  if (sw.weaknesses && *sw.weaknesses > 0) p.categories.emplace_back("Vulnerable");
  if (sw.public_exploit.value_or(false)) p.categories.emplace_back("Exploitable");
  if (sw.active_alert.value_or(false)) p.categories.emplace_back("Alerting");
  auto& s = p.source;
  s.vendor = sw.vendor;
  s.weaknesses = sw.weaknesses;
  s.public_exploit = sw.public_exploit;
  s.active_alert = sw.active_alert;
  s.exposed_machines = sw.exposed_machines;
  s.impact_score = sw.impact_score;
  report_rejected(sw.rejected, "software", sw.id, out.diagnostics);
  for (const auto& d : distributions) {
    s.versions.push_back({d.version, d.installations, d.vulnerabilities});
  }
  out.row = std::move(p);
  return out;
}

}  // namespace mdesync::mapping
