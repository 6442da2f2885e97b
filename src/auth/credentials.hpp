#pragma once

// Builds the token provider that config.auth names (client_secret, certificate or
// managed_identity): the one place that knows every credential type.

#include <functional>
#include <memory>
#include <string>

#include "auth/token_provider.hpp"
#include "config/config.hpp"
#include "http/http_client.hpp"
#include "http/retry.hpp"
#include "util/clock.hpp"

namespace mdesync::auth {

struct Credential {
  std::unique_ptr<TokenProvider> provider;
  std::function<int()> fetch_count;  // token requests sent so far
};

// Errors: config (a certificate file that cannot be used, naming the file and why).
// A certificate file that other users can read is logged as a warning naming it.
util::Result<Credential> make_credential(const config::Config& config, http::HttpClient& http,
                                         util::Clock& clock, util::Sleeper& sleeper,
                                         const http::RetryContext& retry);

// What `check` and `sync --dry-run` print: "certificate (client ..., thumbprint ...)".
std::string describe_credential(const config::Config& config);

}  // namespace mdesync::auth
