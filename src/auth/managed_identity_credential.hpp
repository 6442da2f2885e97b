#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "auth/token_cache.hpp"
#include "config/config.hpp"
#include "http/http_client.hpp"
#include "http/retry.hpp"
#include "util/clock.hpp"

namespace mdesync::auth {

struct ManagedIdentityOptions {
  // The Azure instance metadata service (VMs, scale sets, AKS nodes).
  std::string imds_endpoint = "http://169.254.169.254/metadata/identity/oauth2/token";
  // App Service and Functions (IDENTITY_ENDPOINT, IDENTITY_HEADER): used when set.
  std::string identity_endpoint;
  config::Secret identity_header;
  std::string client_id;  // a user-assigned identity's client id; "" = system-assigned
  std::string audience = "https://api.securitycenter.microsoft.com";  // the `resource`
  // Further attempts after a retryable answer (404 and 410 while an identity is being
  // set up, 429, 5xx), waiting base_delay * 2^n (or Retry-After when longer).
  int max_retries = 5;
  std::chrono::milliseconds base_delay{2000};
  std::chrono::seconds refresh_margin{300};
  // The run's cancel token (a signal ends a wait between attempts at once) and the
  // client's retry counters (the run summary counts these retries too); both optional.
  const util::CancelToken* cancel = nullptr;
  http::RetryCounters* counters = nullptr;

  static ManagedIdentityOptions from_config(const config::Config& config);
};

// Tokens from the platform's managed identity endpoint (docs/adr/0082): no credential
// is configured at all. Cached and refreshed `refresh_margin` before expiry; like the
// client credentials, a request that failed is not sent again in the same run. An
// endpoint that does not answer at all (not on Azure, no identity) is an auth error that
// says so, without retries. Thread-safe.
class ManagedIdentityCredential final : public CachingTokenProvider {
 public:
  ManagedIdentityCredential(ManagedIdentityOptions options, http::HttpClient& http,
                            util::Clock& clock, util::Sleeper& sleeper);

 private:
  util::Result<std::string> fetch_locked() override;
  [[nodiscard]] bool app_service() const { return !m_options.identity_endpoint.empty(); }

  ManagedIdentityOptions m_options;
  http::HttpClient& m_http;
  util::Sleeper& m_sleeper;
};

}  // namespace mdesync::auth
