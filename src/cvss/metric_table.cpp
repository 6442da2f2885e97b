#include "cvss/metric_table.hpp"

namespace mdesync::cvss::detail {
namespace {

using V = ValueDef;
using M = MetricDef;

constexpr ValueDef k_not_defined_x{"X", "Not Defined"};
constexpr ValueDef k_not_defined_nd{"ND", "Not Defined"};

// ---- CVSS v2.0 (v2 guide, section 2) -------------------------------------------------
constexpr std::array<V, 3> k_v2_av{{{"L", "Local"}, {"A", "Adjacent Network"}, {"N", "Network"}}};
constexpr std::array<V, 3> k_v2_ac{{{"H", "High"}, {"M", "Medium"}, {"L", "Low"}}};
constexpr std::array<V, 3> k_v2_au{{{"M", "Multiple"}, {"S", "Single"}, {"N", "None"}}};
constexpr std::array<V, 3> k_v2_cia{{{"N", "None"}, {"P", "Partial"}, {"C", "Complete"}}};
constexpr std::array<V, 5> k_v2_e{{k_not_defined_nd,
                                   {"U", "Unproven"},
                                   {"POC", "Proof-of-Concept"},
                                   {"F", "Functional"},
                                   {"H", "High"}}};
constexpr std::array<V, 5> k_v2_rl{{k_not_defined_nd,
                                    {"OF", "Official Fix"},
                                    {"TF", "Temporary Fix"},
                                    {"W", "Workaround"},
                                    {"U", "Unavailable"}}};
constexpr std::array<V, 4> k_v2_rc{
    {k_not_defined_nd, {"UC", "Unconfirmed"}, {"UR", "Uncorroborated"}, {"C", "Confirmed"}}};
constexpr std::array<V, 6> k_v2_cdp{{k_not_defined_nd,
                                     {"N", "None"},
                                     {"L", "Low"},
                                     {"LM", "Low-Medium"},
                                     {"MH", "Medium-High"},
                                     {"H", "High"}}};
constexpr std::array<V, 5> k_v2_td{
    {k_not_defined_nd, {"N", "None"}, {"L", "Low"}, {"M", "Medium"}, {"H", "High"}}};
constexpr std::array<V, 4> k_v2_req{
    {k_not_defined_nd, {"L", "Low"}, {"M", "Medium"}, {"H", "High"}}};

constexpr std::array<M, 14> k_v2_metrics{{
    {"AV", "Access Vector", Group::base, k_v2_av},
    {"AC", "Access Complexity", Group::base, k_v2_ac},
    {"Au", "Authentication", Group::base, k_v2_au},
    {"C", "Confidentiality Impact", Group::base, k_v2_cia},
    {"I", "Integrity Impact", Group::base, k_v2_cia},
    {"A", "Availability Impact", Group::base, k_v2_cia},
    {"E", "Exploitability", Group::temporal, k_v2_e},
    {"RL", "Remediation Level", Group::temporal, k_v2_rl},
    {"RC", "Report Confidence", Group::temporal, k_v2_rc},
    {"CDP", "Collateral Damage Potential", Group::environmental, k_v2_cdp},
    {"TD", "Target Distribution", Group::environmental, k_v2_td},
    {"CR", "Confidentiality Requirement", Group::environmental, k_v2_req},
    {"IR", "Integrity Requirement", Group::environmental, k_v2_req},
    {"AR", "Availability Requirement", Group::environmental, k_v2_req},
}};

// ---- CVSS v3.0 / v3.1 (specification section 2-4) ------------------------------------
// Value order matters to v3.cpp: it indexes its weight tables by it.
constexpr std::array<V, 4> k_v30_av{
    {{"N", "Network"}, {"A", "Adjacent Network"}, {"L", "Local"}, {"P", "Physical"}}};
constexpr std::array<V, 4> k_v31_av{
    {{"N", "Network"}, {"A", "Adjacent"}, {"L", "Local"}, {"P", "Physical"}}};
constexpr std::array<V, 2> k_v3_ac{{{"L", "Low"}, {"H", "High"}}};
constexpr std::array<V, 3> k_v3_pr{{{"N", "None"}, {"L", "Low"}, {"H", "High"}}};
constexpr std::array<V, 2> k_v3_ui{{{"N", "None"}, {"R", "Required"}}};
constexpr std::array<V, 2> k_v3_s{{{"U", "Unchanged"}, {"C", "Changed"}}};
constexpr std::array<V, 3> k_v3_cia{{{"H", "High"}, {"L", "Low"}, {"N", "None"}}};
constexpr std::array<V, 5> k_v3_e{{k_not_defined_x,
                                   {"H", "High"},
                                   {"F", "Functional"},
                                   {"P", "Proof-of-Concept"},
                                   {"U", "Unproven"}}};
constexpr std::array<V, 5> k_v3_rl{{k_not_defined_x,
                                    {"U", "Unavailable"},
                                    {"W", "Workaround"},
                                    {"T", "Temporary Fix"},
                                    {"O", "Official Fix"}}};
constexpr std::array<V, 4> k_v3_rc{
    {k_not_defined_x, {"C", "Confirmed"}, {"R", "Reasonable"}, {"U", "Unknown"}}};
constexpr std::array<V, 4> k_v3_req{
    {k_not_defined_x, {"H", "High"}, {"M", "Medium"}, {"L", "Low"}}};
constexpr std::array<V, 5> k_v30_mav{{k_not_defined_x,
                                      {"N", "Network"},
                                      {"A", "Adjacent Network"},
                                      {"L", "Local"},
                                      {"P", "Physical"}}};
constexpr std::array<V, 5> k_v31_mav{
    {k_not_defined_x, {"N", "Network"}, {"A", "Adjacent"}, {"L", "Local"}, {"P", "Physical"}}};
constexpr std::array<V, 3> k_v3_mac{{k_not_defined_x, {"L", "Low"}, {"H", "High"}}};
constexpr std::array<V, 4> k_v3_mpr{{k_not_defined_x, {"N", "None"}, {"L", "Low"}, {"H", "High"}}};
constexpr std::array<V, 3> k_v3_mui{{k_not_defined_x, {"N", "None"}, {"R", "Required"}}};
constexpr std::array<V, 3> k_v3_ms{{k_not_defined_x, {"U", "Unchanged"}, {"C", "Changed"}}};
constexpr std::array<V, 4> k_v3_mcia{{k_not_defined_x, {"H", "High"}, {"L", "Low"}, {"N", "None"}}};

template <const std::array<V, 4>& Av, const std::array<V, 5>& Mav>
constexpr std::array<M, 22> make_v3_metrics() {
  return {{
      {"AV", "Attack Vector", Group::base, Av},
      {"AC", "Attack Complexity", Group::base, k_v3_ac},
      {"PR", "Privileges Required", Group::base, k_v3_pr},
      {"UI", "User Interaction", Group::base, k_v3_ui},
      {"S", "Scope", Group::base, k_v3_s},
      {"C", "Confidentiality", Group::base, k_v3_cia},
      {"I", "Integrity", Group::base, k_v3_cia},
      {"A", "Availability", Group::base, k_v3_cia},
      {"E", "Exploit Code Maturity", Group::temporal, k_v3_e},
      {"RL", "Remediation Level", Group::temporal, k_v3_rl},
      {"RC", "Report Confidence", Group::temporal, k_v3_rc},
      {"CR", "Confidentiality Requirement", Group::environmental, k_v3_req},
      {"IR", "Integrity Requirement", Group::environmental, k_v3_req},
      {"AR", "Availability Requirement", Group::environmental, k_v3_req},
      {"MAV", "Modified Attack Vector", Group::environmental, Mav},
      {"MAC", "Modified Attack Complexity", Group::environmental, k_v3_mac},
      {"MPR", "Modified Privileges Required", Group::environmental, k_v3_mpr},
      {"MUI", "Modified User Interaction", Group::environmental, k_v3_mui},
      {"MS", "Modified Scope", Group::environmental, k_v3_ms},
      {"MC", "Modified Confidentiality", Group::environmental, k_v3_mcia},
      {"MI", "Modified Integrity", Group::environmental, k_v3_mcia},
      {"MA", "Modified Availability", Group::environmental, k_v3_mcia},
  }};
}

constexpr std::array<M, 22> k_v30_metrics = make_v3_metrics<k_v30_av, k_v30_mav>();
constexpr std::array<M, 22> k_v31_metrics = make_v3_metrics<k_v31_av, k_v31_mav>();

// ---- CVSS v4.0 (specification section 7, Table 23 order) -----------------------------
constexpr std::array<V, 4> k_v4_av{
    {{"N", "Network"}, {"A", "Adjacent"}, {"L", "Local"}, {"P", "Physical"}}};
constexpr std::array<V, 2> k_v4_ac{{{"L", "Low"}, {"H", "High"}}};
constexpr std::array<V, 2> k_v4_at{{{"N", "None"}, {"P", "Present"}}};
constexpr std::array<V, 3> k_v4_pr{{{"N", "None"}, {"L", "Low"}, {"H", "High"}}};
constexpr std::array<V, 3> k_v4_ui{{{"N", "None"}, {"P", "Passive"}, {"A", "Active"}}};
constexpr std::array<V, 3> k_v4_cia{{{"H", "High"}, {"L", "Low"}, {"N", "None"}}};
constexpr std::array<V, 4> k_v4_e{
    {k_not_defined_x, {"A", "Attacked"}, {"P", "Proof-of-Concept"}, {"U", "Unreported"}}};
constexpr std::array<V, 4> k_v4_req{
    {k_not_defined_x, {"H", "High"}, {"M", "Medium"}, {"L", "Low"}}};
constexpr std::array<V, 5> k_v4_mav{
    {k_not_defined_x, {"N", "Network"}, {"A", "Adjacent"}, {"L", "Local"}, {"P", "Physical"}}};
constexpr std::array<V, 3> k_v4_mac{{k_not_defined_x, {"L", "Low"}, {"H", "High"}}};
constexpr std::array<V, 3> k_v4_mat{{k_not_defined_x, {"N", "None"}, {"P", "Present"}}};
constexpr std::array<V, 4> k_v4_mpr{{k_not_defined_x, {"N", "None"}, {"L", "Low"}, {"H", "High"}}};
constexpr std::array<V, 4> k_v4_mui{
    {k_not_defined_x, {"N", "None"}, {"P", "Passive"}, {"A", "Active"}}};
constexpr std::array<V, 4> k_v4_mcia{{k_not_defined_x, {"H", "High"}, {"L", "Low"}, {"N", "None"}}};
constexpr std::array<V, 5> k_v4_msia{
    {k_not_defined_x, {"S", "Safety"}, {"H", "High"}, {"L", "Low"}, {"N", "None"}}};
constexpr std::array<V, 3> k_v4_s{{k_not_defined_x, {"N", "Negligible"}, {"P", "Present"}}};
constexpr std::array<V, 3> k_v4_au{{k_not_defined_x, {"N", "No"}, {"Y", "Yes"}}};
constexpr std::array<V, 4> k_v4_r{
    {k_not_defined_x, {"A", "Automatic"}, {"U", "User"}, {"I", "Irrecoverable"}}};
constexpr std::array<V, 3> k_v4_v{{k_not_defined_x, {"D", "Diffuse"}, {"C", "Concentrated"}}};
constexpr std::array<V, 4> k_v4_re{
    {k_not_defined_x, {"L", "Low"}, {"M", "Moderate"}, {"H", "High"}}};
constexpr std::array<V, 5> k_v4_u{
    {k_not_defined_x, {"Clear", "Clear"}, {"Green", "Green"}, {"Amber", "Amber"}, {"Red", "Red"}}};

constexpr std::array<M, 32> k_v40_metrics{{
    {"AV", "Attack Vector", Group::base, k_v4_av},
    {"AC", "Attack Complexity", Group::base, k_v4_ac},
    {"AT", "Attack Requirements", Group::base, k_v4_at},
    {"PR", "Privileges Required", Group::base, k_v4_pr},
    {"UI", "User Interaction", Group::base, k_v4_ui},
    {"VC", "Vulnerable System Confidentiality", Group::base, k_v4_cia},
    {"VI", "Vulnerable System Integrity", Group::base, k_v4_cia},
    {"VA", "Vulnerable System Availability", Group::base, k_v4_cia},
    {"SC", "Subsequent System Confidentiality", Group::base, k_v4_cia},
    {"SI", "Subsequent System Integrity", Group::base, k_v4_cia},
    {"SA", "Subsequent System Availability", Group::base, k_v4_cia},
    {"E", "Exploit Maturity", Group::temporal, k_v4_e},
    {"CR", "Confidentiality Requirement", Group::environmental, k_v4_req},
    {"IR", "Integrity Requirement", Group::environmental, k_v4_req},
    {"AR", "Availability Requirement", Group::environmental, k_v4_req},
    {"MAV", "Modified Attack Vector", Group::environmental, k_v4_mav},
    {"MAC", "Modified Attack Complexity", Group::environmental, k_v4_mac},
    {"MAT", "Modified Attack Requirements", Group::environmental, k_v4_mat},
    {"MPR", "Modified Privileges Required", Group::environmental, k_v4_mpr},
    {"MUI", "Modified User Interaction", Group::environmental, k_v4_mui},
    {"MVC", "Modified Vulnerable System Confidentiality", Group::environmental, k_v4_mcia},
    {"MVI", "Modified Vulnerable System Integrity", Group::environmental, k_v4_mcia},
    {"MVA", "Modified Vulnerable System Availability", Group::environmental, k_v4_mcia},
    {"MSC", "Modified Subsequent System Confidentiality", Group::environmental, k_v4_mcia},
    {"MSI", "Modified Subsequent System Integrity", Group::environmental, k_v4_msia},
    {"MSA", "Modified Subsequent System Availability", Group::environmental, k_v4_msia},
    {"S", "Safety", Group::supplemental, k_v4_s},
    {"AU", "Automatable", Group::supplemental, k_v4_au},
    {"R", "Recovery", Group::supplemental, k_v4_r},
    {"V", "Value Density", Group::supplemental, k_v4_v},
    {"RE", "Vulnerability Response Effort", Group::supplemental, k_v4_re},
    {"U", "Provider Urgency", Group::supplemental, k_v4_u},
}};

constexpr VersionDef k_v2_def{Version::v2_0, k_v2_metrics, 6};
constexpr VersionDef k_v30_def{Version::v3_0, k_v30_metrics, 8};
constexpr VersionDef k_v31_def{Version::v3_1, k_v31_metrics, 8};
constexpr VersionDef k_v40_def{Version::v4_0, k_v40_metrics, 11};

}  // namespace

const VersionDef& version_def(Version version) noexcept {
  switch (version) {
    case Version::v2_0:
      return k_v2_def;
    case Version::v3_0:
      return k_v30_def;
    case Version::v3_1:
      return k_v31_def;
    case Version::v4_0:
      return k_v40_def;
  }
  return k_v31_def;
}

int find_metric(const VersionDef& def, std::string_view abbr, std::size_t hint) noexcept {
  const std::uint64_t key = pack(abbr);
  if (hint < def.metrics.size() && def.metrics[hint].key == key) return static_cast<int>(hint);
  for (std::size_t i = 0; i < def.metrics.size(); ++i) {
    if (def.metrics[i].key == key) return static_cast<int>(i);
  }
  return -1;
}

int find_value(const MetricDef& metric, std::string_view value) noexcept {
  const std::uint64_t key = pack(value);
  for (std::size_t i = 0; i < metric.values.size(); ++i) {
    if (metric.values[i].key == key) return static_cast<int>(i);
  }
  return -1;
}

Resolved resolve(const Vector& vector) noexcept {
  Resolved resolved;
  resolved.fill(-1);
  const VersionDef& def = version_def(vector.version);
  std::size_t hint = 0;
  for (const auto& [abbr, value] : vector.metrics) {
    const int m = find_metric(def, abbr, hint);
    if (m < 0) continue;
    hint = static_cast<std::size_t>(m) + 1;
    const int v = find_value(def.metrics[static_cast<std::size_t>(m)], value);
    if (v >= 0) resolved[static_cast<std::size_t>(m)] = static_cast<std::int8_t>(v);
  }
  return resolved;
}

bool group_defined(const VersionDef& def, const Resolved& resolved, Group group) noexcept {
  for (std::size_t i = 0; i < def.metrics.size(); ++i) {
    if (def.metrics[i].group == group && resolved[i] > 0) return true;
  }
  return false;
}

}  // namespace mdesync::cvss::detail
