#pragma once

#include <chrono>
#include <mutex>
#include <vector>

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
  virtual void sleep_for(std::chrono::milliseconds duration) = 0;
};

class SystemClock final : public Clock {
 public:
  [[nodiscard]] SystemTime now() const override { return std::chrono::system_clock::now(); }
};

class RealSleeper final : public Sleeper {
 public:
  void sleep_for(std::chrono::milliseconds duration) override;
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
// that sleeps and then reads the clock sees time pass.
class FakeSleeper final : public Sleeper {
 public:
  explicit FakeSleeper(FakeClock* clock = nullptr) : m_clock(clock) {}
  void sleep_for(std::chrono::milliseconds duration) override;
  [[nodiscard]] std::vector<std::chrono::milliseconds> delays() const;
  [[nodiscard]] std::chrono::milliseconds total() const;

 private:
  FakeClock* m_clock;
  mutable std::mutex m_mutex;
  std::vector<std::chrono::milliseconds> m_delays;
};

}  // namespace mdesync::util
