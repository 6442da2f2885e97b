#include "auth/token_cache.hpp"

namespace mdesync::auth {

util::Result<std::string> CachingTokenProvider::token() {
  std::lock_guard lock(m_mutex);
  if (m_token && m_clock.now() < m_refresh_at) return *m_token;
  if (m_failure) return util::fail(*m_failure);
  auto fetched = fetch_locked();
  if (!fetched && remembered(fetched.error())) m_failure = fetched.error();
  return fetched;
}

void CachingTokenProvider::invalidate(const std::string& token) {
  std::lock_guard lock(m_mutex);
  if (m_token && *m_token == token) m_token.reset();
}

int CachingTokenProvider::fetch_count() const {
  std::lock_guard lock(m_mutex);
  return m_fetches;
}

const std::string& CachingTokenProvider::keep(std::string token, util::SystemTime refresh_at) {
  m_refresh_at = refresh_at;
  m_token = std::move(token);
  return *m_token;
}

}  // namespace mdesync::auth
