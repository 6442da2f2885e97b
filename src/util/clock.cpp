#include "util/clock.hpp"

#include <thread>

namespace mdesync::util {

bool RealSleeper::sleep_for(std::chrono::milliseconds duration, const CancelToken* cancel) {
  if (cancel != nullptr) return cancel->wait_for(duration);
  if (duration.count() > 0) std::this_thread::sleep_for(duration);
  return true;
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

bool FakeSleeper::sleep_for(std::chrono::milliseconds duration, const CancelToken* cancel) {
  {
    std::lock_guard lock(m_mutex);
    m_delays.push_back(duration);
  }
  if (cancelled(cancel)) return false;
  if (!m_blocking) {
    if (m_clock != nullptr) m_clock->advance(duration);
    return true;
  }
  // Declared before the lock: the subscription ends (taking the token's mutex) after the
  // lock is released, while cancel() takes the token's mutex, then this one.
  CancelToken::Subscription wake;
  if (cancel != nullptr) {
    wake = cancel->on_cancel([this] {
      std::lock_guard lock(m_mutex);
      m_cv.notify_all();
    });
  }
  std::unique_lock lock(m_mutex);
  const SystemTime end = m_clock->now() + duration;
  ++m_sleeping;
  m_cv.notify_all();
  m_cv.wait(lock, [&] { return m_clock->now() >= end || cancelled(cancel); });
  --m_sleeping;
  return m_clock->now() >= end;
}

void FakeSleeper::advance(std::chrono::milliseconds by) {
  std::lock_guard lock(m_mutex);
  if (m_clock != nullptr) m_clock->advance(by);
  m_cv.notify_all();
}

bool FakeSleeper::wait_until_sleeping(std::size_t n, std::chrono::milliseconds limit) {
  std::unique_lock lock(m_mutex);
  return m_cv.wait_for(lock, limit, [&] { return m_sleeping >= n; });
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
