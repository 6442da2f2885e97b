#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "auth/token_cache.hpp"
#include "config/config.hpp"
#include "http/http_client.hpp"
#include "http/retry.hpp"
#include "util/clock.hpp"

namespace mdesync::auth {

struct CredentialOptions {
  std::string login_url = "https://login.microsoftonline.com";
  std::string tenant_id;
  std::string client_id;
  config::Secret client_secret;
  std::string audience = "https://api.securitycenter.microsoft.com";
  bool v1 = false;  // legacy /oauth2/token with resource= instead of scope=
  // Refresh this long before expiry (or at half the lifetime for short-lived tokens).
  std::chrono::seconds refresh_margin{300};
  // The certificate credential (auth/credentials.hpp): when set, each token request
  // carries a fresh client assertion for `token_url`, issued at `now`, instead of the
  // client secret.
  std::function<util::Result<std::string>(const std::string& token_url, util::SystemTime now)>
      client_assertion;

  static CredentialOptions from_config(const config::Config& config);
};

// The token endpoint URL for `options`: {login}/{tenant}/oauth2/v2.0/token or /oauth2/token.
std::string token_url(const CredentialOptions& options);

// Explains an AADSTS code in plain words ("" when unknown).
std::string explain_aadsts(long long code);

// OAuth 2.0 client-credentials grant against Microsoft Entra ID with a client secret (or,
// with options.client_assertion, a certificate's signed assertion).
// The token is cached and refreshed `refresh_margin` before it expires; transient token
// service failures (429, 5xx, transport) are retried per `retry`: one token request makes
// at most 1 + max_retries attempts. A token request that failed (retries exhausted, or
// refused) is not sent again: every later token() returns its error without a request,
// so that callers which each ask for a token (the first check of a sync, then each
// object) cannot multiply the attempts. Thread-safe: callers arriving during a fetch wait
// for it instead of fetching again.
class ClientSecretCredential final : public CachingTokenProvider {
 public:
  ClientSecretCredential(CredentialOptions options, http::HttpClient& http, util::Clock& clock,
                         http::RetryContext retry);

 private:
  util::Result<std::string> fetch_locked() override;
  // A configuration error (no secret given) is not the token service's answer: the
  // next caller is told again rather than handed a remembered refusal.
  [[nodiscard]] bool remembered(const util::Error& error) const override {
    return error.code != util::ErrorCode::config;
  }

  CredentialOptions m_options;
  http::HttpClient& m_http;
  http::RetryContext m_retry;
};

}  // namespace mdesync::auth
