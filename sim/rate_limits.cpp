// The per-endpoint quotas of docs/api.md, "Limits" (per minute and per hour), answered
// with 429 and Retry-After as the service does.

#include "simulator_impl.hpp"

#include <algorithm>
#include <cmath>

namespace mdesim {
namespace {

struct RateLimit {
  std::uint32_t per_minute;
  std::uint32_t per_hour;
};

RateLimit rate_limit_of(const std::string& name) {
  if (name.rfind("machines.", 0) == 0) {
    if (name == "machines.vulnerabilities") return {50, 1500};
    if (name == "machines.software" || name == "machines.recommendations") return {100, 1500};
    return {100, 1500};
  }
  if (name.size() > 6 && name.compare(name.size() - 6, 6, ".files") == 0) return {5, 20};
  if (name.rfind("export.", 0) == 0) return {30, 1000};
  return {100, 1500};
}

}  // namespace

std::optional<Reply> SimulatorImpl::rate_limit(const std::string& name) {
  std::lock_guard lock(m_mutex);
  if (!m_rate_enabled) return std::nullopt;
  const RateLimit base = rate_limit_of(name);
  const auto per_min =
      static_cast<std::size_t>(std::max(1.0, std::floor(base.per_minute * m_rate_scale)));
  const auto per_hour =
      static_cast<std::size_t>(std::max(1.0, std::floor(base.per_hour * m_rate_scale)));
  auto& calls = m_calls[name];
  const auto now = Steady::now();
  while (!calls.empty() && now - calls.front() >= std::chrono::hours(1)) calls.pop_front();
  const auto minute_begin = std::lower_bound(
      calls.begin(), calls.end(), now - std::chrono::minutes(1) + std::chrono::milliseconds(1));
  const auto in_minute = static_cast<std::size_t>(calls.end() - minute_begin);
  std::optional<Steady::duration> wait;
  if (in_minute >= per_min)
    wait = *(calls.end() - static_cast<std::ptrdiff_t>(per_min)) + std::chrono::minutes(1) - now;
  if (calls.size() >= per_hour) {
    const auto w =
        *(calls.end() - static_cast<std::ptrdiff_t>(per_hour)) + std::chrono::hours(1) - now;
    wait = wait ? std::max(*wait, w) : w;
  }
  if (wait) {
    const auto secs = std::max<long long>(
        1, static_cast<long long>(std::ceil(std::chrono::duration<double>(*wait).count())));
    Reply r = error_reply(429, "TooManyRequests",
                          "API calls quota exceeded! Maximum allowed " + std::to_string(per_min) +
                              " per minute and " + std::to_string(per_hour) + " per hour.",
                          next_target());
    r.headers.emplace_back("Retry-After", std::to_string(secs));
    return r;
  }
  calls.push_back(now);
  return std::nullopt;
}

}  // namespace mdesim
