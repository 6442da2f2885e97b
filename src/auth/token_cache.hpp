#pragma once

// The token cache of the credentials that fetch their own tokens (client secret or
// certificate, managed identity): one token until its refresh time, dropped when the API
// refuses it, and the failure of a fetch remembered for the rest of the run, so that a
// refused credential is asked once, not once per caller.

#include <mutex>
#include <optional>
#include <string>

#include "auth/token_provider.hpp"
#include "util/clock.hpp"
#include "util/error.hpp"

namespace mdesync::auth {

class CachingTokenProvider : public TokenProvider {
 public:
  util::Result<std::string> token() final;
  void invalidate(const std::string& token) final;

  // Requests sent to the token endpoint (for tests and the run summary).
  [[nodiscard]] int fetch_count() const;

 protected:
  explicit CachingTokenProvider(util::Clock& clock) : m_clock(clock) {}

  // Fetches a token, called under the cache's lock: count_fetch() once per request
  // sent, and keep() the token on success.
  virtual util::Result<std::string> fetch_locked() = 0;
  // Whether a failed fetch stands for every later token() of the run (default: yes).
  [[nodiscard]] virtual bool remembered(const util::Error& error) const {
    (void)error;
    return true;
  }

  void count_fetch() { ++m_fetches; }
  // Caches `token` until `refresh_at` and returns it.
  const std::string& keep(std::string token, util::SystemTime refresh_at);

  util::Clock& m_clock;

 private:
  mutable std::mutex m_mutex;
  std::optional<std::string> m_token;
  util::SystemTime m_refresh_at{};
  std::optional<util::Error> m_failure;
  int m_fetches = 0;
};

}  // namespace mdesync::auth
