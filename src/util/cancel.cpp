#include "util/cancel.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace mdesync::util {

CancelToken::CancelToken() : m_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

CancelToken::~CancelToken() {
  if (m_fd >= 0) ::close(m_fd);
}

void CancelToken::cancel() {
  std::lock_guard lock(m_mutex);
  if (m_cancelled.exchange(true, std::memory_order_acq_rel)) return;
  if (m_fd >= 0) {
    // Never read: the descriptor stays readable from now on.
    const std::uint64_t one = 1;
    (void)!::write(m_fd, &one, sizeof one);
  }
  m_cv.notify_all();
  for (auto& [id, fn] : m_callbacks) fn();
}

bool CancelToken::wait_for(std::chrono::milliseconds duration) const {
  std::unique_lock lock(m_mutex);
  return !m_cv.wait_for(lock, duration, [this] { return cancelled(); });
}

CancelToken::Subscription CancelToken::on_cancel(std::function<void()> fn) const {
  std::lock_guard lock(m_mutex);
  if (cancelled()) {
    fn();
    return {};
  }
  const std::uint64_t id = m_next_id++;
  m_callbacks.emplace(id, std::move(fn));
  return Subscription(this, id);
}

void CancelToken::unsubscribe(std::uint64_t id) const {
  std::lock_guard lock(m_mutex);
  m_callbacks.erase(id);
}

CancelToken::Subscription::Subscription(Subscription&& other) noexcept
    : m_token(other.m_token), m_id(other.m_id) {
  other.m_token = nullptr;
}

CancelToken::Subscription& CancelToken::Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    if (m_token != nullptr) m_token->unsubscribe(m_id);
    m_token = other.m_token;
    m_id = other.m_id;
    other.m_token = nullptr;
  }
  return *this;
}

CancelToken::Subscription::~Subscription() {
  if (m_token != nullptr) m_token->unsubscribe(m_id);
}

}  // namespace mdesync::util
