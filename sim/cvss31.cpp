#include "cvss31.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>

namespace mdesim {
namespace {

// Specification section 7.4: round up to one decimal without floating-point surprises.
double roundup(double v) {
  const auto i = static_cast<std::int64_t>(std::llround(v * 100000.0));
  if (i % 10000 == 0) return static_cast<double>(i) / 100000.0;
  return static_cast<double>(i / 10000 + 1) / 10.0;
}

}  // namespace

std::optional<double> cvss31_base_score(std::string_view vector) {
  if (vector.substr(0, 9) != "CVSS:3.1/" && vector.substr(0, 9) != "CVSS:3.0/") {
    return std::nullopt;
  }
  std::map<std::string, std::string, std::less<>> m;
  std::string_view rest = vector.substr(9);
  while (!rest.empty()) {
    const auto slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    const auto colon = part.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    m.emplace(std::string(part.substr(0, colon)), std::string(part.substr(colon + 1)));
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  }
  auto get = [&](const char* k) -> std::string {
    auto it = m.find(k);
    return it == m.end() ? std::string{} : it->second;
  };
  const std::string s = get("S");
  if (s != "U" && s != "C") return std::nullopt;
  const bool changed = s == "C";
  const std::map<std::string, double, std::less<>> av{
      {"N", 0.85}, {"A", 0.62}, {"L", 0.55}, {"P", 0.2}};
  const std::map<std::string, double, std::less<>> ac{{"L", 0.77}, {"H", 0.44}};
  const std::map<std::string, double, std::less<>> pr_u{{"N", 0.85}, {"L", 0.62}, {"H", 0.27}};
  const std::map<std::string, double, std::less<>> pr_c{{"N", 0.85}, {"L", 0.68}, {"H", 0.5}};
  const std::map<std::string, double, std::less<>> ui{{"N", 0.85}, {"R", 0.62}};
  const std::map<std::string, double, std::less<>> cia{{"H", 0.56}, {"L", 0.22}, {"N", 0.0}};
  auto look = [&](const std::map<std::string, double, std::less<>>& t,
                  const char* k) -> std::optional<double> {
    auto it = t.find(get(k));
    if (it == t.end()) return std::nullopt;
    return it->second;
  };
  const auto v_av = look(av, "AV");
  const auto v_ac = look(ac, "AC");
  const auto v_pr = look(changed ? pr_c : pr_u, "PR");
  const auto v_ui = look(ui, "UI");
  const auto v_c = look(cia, "C");
  const auto v_i = look(cia, "I");
  const auto v_a = look(cia, "A");
  if (!v_av || !v_ac || !v_pr || !v_ui || !v_c || !v_i || !v_a) return std::nullopt;
  const double iss = 1.0 - (1.0 - *v_c) * (1.0 - *v_i) * (1.0 - *v_a);
  const double impact =
      changed ? 7.52 * (iss - 0.029) - 3.25 * std::pow(iss - 0.02, 15.0) : 6.42 * iss;
  const double exploitability = 8.22 * *v_av * *v_ac * *v_pr * *v_ui;
  if (impact <= 0.0) return 0.0;
  if (changed) return roundup(std::min(1.08 * (impact + exploitability), 10.0));
  return roundup(std::min(impact + exploitability, 10.0));
}

}  // namespace mdesim
