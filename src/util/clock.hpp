#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "util/cancel.hpp"

namespace mdesync::util {

using SystemTime = std::chrono::system_clock::time_point;

// Wall-clock time in UTC. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual SystemTime now() const = 0;
};

// Blocks the calling thread. Every wait in the program goes through one of these so
// that tests can observe delays instead of sleeping. Thread-safe.
class Sleeper {
 public:
  virtual ~Sleeper() = default;
  // Waits `duration`, or less when `cancel` (optional) is cancelled meanwhile. True when
  // the whole time passed, false when cancelled (at once when it already was).
  virtual bool sleep_for(std::chrono::milliseconds duration, const CancelToken* cancel) = 0;
  void sleep_for(std::chrono::milliseconds duration) { (void)sleep_for(duration, nullptr); }
};

class SystemClock final : public Clock {
 public:
  [[nodiscard]] SystemTime now() const override { return std::chrono::system_clock::now(); }
};

class RealSleeper final : public Sleeper {
 public:
  using Sleeper::sleep_for;
  bool sleep_for(std::chrono::milliseconds duration, const CancelToken* cancel) override;
};

// Process-wide real implementations (stateless, safe to share).
Clock& system_clock();
Sleeper& real_sleeper();

// Test clock: time moves only when told to.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(SystemTime start = SystemTime{std::chrono::seconds{1'767'225'600}});
  [[nodiscard]] SystemTime now() const override;
  void advance(std::chrono::milliseconds by);
  void set(SystemTime to);

 private:
  mutable std::mutex m_mutex;
  SystemTime m_now;
};

// Test sleeper: records each requested delay and advances a FakeClock by it, so code
// that sleeps and then reads the clock sees time pass. A cancelled token ends a sleep
// without advancing the clock.
//
// A blocking sleeper (`blocking` true, needs a clock) instead waits until the test moves
// the time past the sleep's end with advance(), or the token is cancelled: tests of
// what happens during a long wait (a 120 s Retry-After) hold the sleeper there in fake
// time and act meanwhile.
class FakeSleeper final : public Sleeper {
 public:
  explicit FakeSleeper(FakeClock* clock = nullptr, bool blocking = false)
      : m_clock(clock), m_blocking(blocking && clock != nullptr) {}
  using Sleeper::sleep_for;
  bool sleep_for(std::chrono::milliseconds duration, const CancelToken* cancel) override;
  [[nodiscard]] std::vector<std::chrono::milliseconds> delays() const;
  [[nodiscard]] std::chrono::milliseconds total() const;

  // Blocking sleepers: moves the clock and wakes the sleeps whose end it reached.
  void advance(std::chrono::milliseconds by);
  // Blocking sleepers: waits (real time, at most `limit`) until `n` sleeps are under way.
  // False when the limit passed first.
  bool wait_until_sleeping(std::size_t n, std::chrono::milliseconds limit);

 private:
  FakeClock* m_clock;
  bool m_blocking;
  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  std::size_t m_sleeping = 0;
  std::vector<std::chrono::milliseconds> m_delays;
};

}  // namespace mdesync::util
