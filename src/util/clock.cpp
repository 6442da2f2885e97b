#include "util/clock.hpp"

#include <thread>

namespace mdesync::util {

void RealSleeper::sleep_for(std::chrono::milliseconds duration) {
  if (duration.count() > 0) std::this_thread::sleep_for(duration);
}

Clock& system_clock() {
  static SystemClock clock;
  return clock;
}

Sleeper& real_sleeper() {
  static RealSleeper sleeper;
  return sleeper;
}

FakeClock::FakeClock(SystemTime start) : m_now(start) {}

SystemTime FakeClock::now() const {
  std::lock_guard lock(m_mutex);
  return m_now;
}

void FakeClock::advance(std::chrono::milliseconds by) {
  std::lock_guard lock(m_mutex);
  m_now += by;
}

void FakeClock::set(SystemTime to) {
  std::lock_guard lock(m_mutex);
  m_now = to;
}

void FakeSleeper::sleep_for(std::chrono::milliseconds duration) {
  {
    std::lock_guard lock(m_mutex);
    m_delays.push_back(duration);
  }
  if (m_clock != nullptr) m_clock->advance(duration);
}

std::vector<std::chrono::milliseconds> FakeSleeper::delays() const {
  std::lock_guard lock(m_mutex);
  return m_delays;
}

std::chrono::milliseconds FakeSleeper::total() const {
  std::lock_guard lock(m_mutex);
  std::chrono::milliseconds sum{0};
  for (auto d : m_delays) sum += d;
  return sum;
}

}  // namespace mdesync::util
