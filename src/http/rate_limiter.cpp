#include "http/rate_limiter.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

namespace mdesync::http {

namespace {

struct Documented {
  std::string_view family;
  Quota quota;
};

// docs/api.md, "Limits".
constexpr std::array<Documented, 10> k_documented = {{
    {"machines", {100, 1500}},
    {"machine_vulnerabilities", {50, 1500}},  // /api/machines/{id}/vulnerabilities
    {"SoftwareVulnerabilitiesByMachine", {30, 1000}},
    {"SoftwareVulnerabilityChangesByMachine", {30, 1000}},
    {"SoftwareInventoryByMachine", {30, 1000}},
    {"SoftwareInventoryNoProductCodeByMachine", {30, 1000}},
    {"SoftwareVulnerabilitiesExport", {5, 20}},
    {"SoftwareInventoryExport", {5, 20}},
    {"SoftwareInventoryNonCpeExport", {5, 20}},
    {"token", {0, 0}},  // the token service is not an MDE endpoint
}};

constexpr Quota k_default_quota{100, 1500};

int scaled(int n, double scale) {
  if (n <= 0) return 0;
  return std::max(1, static_cast<int>(std::floor(static_cast<double>(n) * scale)));
}

}  // namespace

Quota documented_quota(std::string_view family) {
  for (const auto& d : k_documented) {
    if (d.family == family) return d.quota;
  }
  return k_default_quota;
}

RateLimiter::RateLimiter(util::Clock& clock, util::Sleeper& sleeper, double scale,
                         std::chrono::milliseconds margin, const util::CancelToken* cancel)
    : m_clock(clock), m_sleeper(sleeper), m_scale(scale), m_margin(margin), m_cancel(cancel) {}

void RateLimiter::set_quota(const std::string& family, Quota quota) {
  std::lock_guard lock(m_mutex);
  family_locked(family).quota = quota;
}

RateLimiter::Family& RateLimiter::family_locked(const std::string& name) {
  auto it = m_families.find(name);
  if (it == m_families.end()) {
    const Quota q = documented_quota(name);
    it = m_families
             .emplace(name,
                      Family{{scaled(q.per_minute, m_scale), scaled(q.per_hour, m_scale)}, {}, {}})
             .first;
  }
  return it->second;
}

std::chrono::milliseconds RateLimiter::acquire(const std::string& family) {
  using std::chrono::milliseconds;
  milliseconds waited{0};
  if (m_scale <= 0.0) return waited;
  const milliseconds minute_window = std::chrono::minutes{1} + m_margin;
  const milliseconds hour_window = std::chrono::hours{1} + m_margin;
  for (;;) {
    milliseconds wait{0};
    if (util::cancelled(m_cancel)) {
      std::lock_guard lock(m_mutex);
      m_total_wait += waited;
      return waited;
    }
    {
      std::lock_guard lock(m_mutex);
      Family& f = family_locked(family);
      const auto now = m_clock.now();
      while (!f.minute.empty() && now - f.minute.front() >= minute_window) f.minute.pop_front();
      while (!f.hour.empty() && now - f.hour.front() >= hour_window) f.hour.pop_front();
      const bool minute_ok =
          f.quota.per_minute <= 0 || f.minute.size() < static_cast<std::size_t>(f.quota.per_minute);
      const bool hour_ok =
          f.quota.per_hour <= 0 || f.hour.size() < static_cast<std::size_t>(f.quota.per_hour);
      if (minute_ok && hour_ok) {
        if (f.quota.per_minute > 0) f.minute.push_back(now);
        if (f.quota.per_hour > 0) f.hour.push_back(now);
        m_total_wait += waited;
        return waited;
      }
      // Wait until the oldest permit of the full window(s) comes back.
      if (!minute_ok) {
        const auto idx = f.minute.size() - static_cast<std::size_t>(f.quota.per_minute);
        wait = std::max(wait, std::chrono::ceil<milliseconds>(f.minute[idx] + minute_window - now));
      }
      if (!hour_ok) {
        const auto idx = f.hour.size() - static_cast<std::size_t>(f.quota.per_hour);
        wait = std::max(wait, std::chrono::ceil<milliseconds>(f.hour[idx] + hour_window - now));
      }
      wait = std::max(wait, milliseconds{1});
    }
    const auto t0 = m_clock.now();
    const bool slept = m_sleeper.sleep_for(wait, m_cancel);
    waited += slept
                  ? wait
                  : std::max(milliseconds{0}, std::chrono::ceil<milliseconds>(m_clock.now() - t0));
  }
}

std::chrono::milliseconds RateLimiter::total_wait() const {
  std::lock_guard lock(m_mutex);
  return m_total_wait;
}

}  // namespace mdesync::http
