#pragma once

// Client-side quotas per endpoint, so a healthy run never draws a 429.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "util/clock.hpp"

namespace mdesync::http {

struct Quota {
  int per_minute = 0;  // 0: no per-minute limit
  int per_hour = 0;    // 0: no per-hour limit
};

// The documented quota of an endpoint family (docs/api.md, "Limits"); families
// without a documented quota get 100/min and 1,500/h, the most common documented pair.
Quota documented_quota(std::string_view family);

// A sliding-window limiter per endpoint family: each permit returns to the pool exactly
// one window after it was spent (a token bucket whose refill mirrors the server's sliding
// windows, so bursts never exceed what the server accepts in any minute or hour).
class RateLimiter final {
 public:
  // `scale` multiplies every quota (at least 1 permit per window remains); 0 disables
  // limiting. `margin` is added to each window to absorb clock skew with the server.
  // A cancelled `cancel` (optional) ends every wait.
  RateLimiter(util::Clock& clock, util::Sleeper& sleeper, double scale = 1.0,
              std::chrono::milliseconds margin = std::chrono::milliseconds{1000},
              const util::CancelToken* cancel = nullptr);

  // Overrides one family's quota (before or after use).
  void set_quota(const std::string& family, Quota quota);

  // Blocks (through the Sleeper) until `family` may issue one more request, then
  // records it. Returns the total time waited. When `cancel` is cancelled it returns at
  // once without a permit (the caller sends nothing then). Thread-safe.
  std::chrono::milliseconds acquire(const std::string& family);

  // Total time all acquire() calls have waited so far.
  [[nodiscard]] std::chrono::milliseconds total_wait() const;

 private:
  struct Family {
    Quota quota;
    std::deque<util::SystemTime> minute;  // issue times within the last minute (+margin)
    std::deque<util::SystemTime> hour;
  };
  Family& family_locked(const std::string& name);

  util::Clock& m_clock;
  util::Sleeper& m_sleeper;
  double m_scale;
  std::chrono::milliseconds m_margin;
  const util::CancelToken* m_cancel;
  mutable std::mutex m_mutex;
  std::map<std::string, Family, std::less<>> m_families;
  std::chrono::milliseconds m_total_wait{0};
};

}  // namespace mdesync::http
