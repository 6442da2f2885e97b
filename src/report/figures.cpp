#include "report/figures.hpp"

#include <chrono>

#include <fmt/format.h>

namespace mdesync::report {

std::size_t severity_index(std::string_view severity) {
  for (std::size_t i = 0; i + 1 < k_severities.size(); ++i) {
    if (k_severities[i] == severity) return i;
  }
  return k_severities.size() - 1;
}

std::optional<int> SlaDays::of(std::size_t severity) const {
  switch (severity) {
    case 0:
      return critical;
    case 1:
      return high;
    case 2:
      return medium;
    case 3:
      return low;
    default:
      return std::nullopt;
  }
}

std::string day_text(Timestamp t) {
  const std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(t)};
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
}

}  // namespace mdesync::report
