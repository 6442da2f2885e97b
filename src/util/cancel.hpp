#pragma once

// Cancellation of a run: one token that every wait of the program watches (sleeps of
// the retry loop and the rate limiter, libcurl transfers, the sync engine between
// rows), so that a stop request ends all of them at once instead of when they would
// have ended anyway.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

namespace mdesync::util {

class CancelToken final {
 public:
  CancelToken();
  ~CancelToken();
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;

  // Requests the stop: wakes every wait_for(), makes fd() readable and runs the
  // on_cancel() callbacks (on this thread). Idempotent; thread-safe. Not async-signal-safe:
  // a signal handler hands the signal to a thread that calls this (cli/signals.hpp).
  void cancel();
  [[nodiscard]] bool cancelled() const { return m_cancelled.load(std::memory_order_acquire); }

  // Waits `duration` of real time. True when it passed, false when cancelled (at once
  // when already cancelled).
  bool wait_for(std::chrono::milliseconds duration) const;

  // A descriptor that becomes readable on cancel() and stays so, for poll()-style waits
  // (libcurl's curl_multi_poll watches it). -1 when the system gave none; cancelled() is
  // then polled by those waits.
  [[nodiscard]] int fd() const { return m_fd; }

  // Calls `fn` on cancel() (at once, on this thread, when already cancelled) while the
  // returned subscription lives. `fn` must not subscribe or unsubscribe.
  class Subscription {
   public:
    Subscription() = default;
    Subscription(Subscription&& other) noexcept;
    Subscription& operator=(Subscription&& other) noexcept;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription();

   private:
    friend class CancelToken;
    Subscription(const CancelToken* token, std::uint64_t id) : m_token(token), m_id(id) {}
    const CancelToken* m_token = nullptr;
    std::uint64_t m_id = 0;
  };
  [[nodiscard]] Subscription on_cancel(std::function<void()> fn) const;

 private:
  void unsubscribe(std::uint64_t id) const;

  std::atomic<bool> m_cancelled{false};
  int m_fd = -1;
  mutable std::mutex m_mutex;
  mutable std::condition_variable m_cv;
  mutable std::map<std::uint64_t, std::function<void()>> m_callbacks;
  mutable std::uint64_t m_next_id = 1;
};

// True when `token` is set and cancelled (a null token is never cancelled).
inline bool cancelled(const CancelToken* token) {
  return token != nullptr && token->cancelled();
}

}  // namespace mdesync::util
