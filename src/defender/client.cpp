// Client: construction from the configuration (HTTP, credential, retries, rate limits)
// and its counters. The API calls live in client_api.cpp, file exports in
// client_exports.cpp.

#include "defender/client.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "auth/jwt.hpp"
#include "defender/client_impl.hpp"
#include "defender/decode.hpp"
#include "http/url.hpp"

namespace mdesync::defender {

using util::ErrorCode;

// ---------------------------------------------------------------------------------------

void ClientStats::count_call(const std::string& family) {
  std::lock_guard lock(m_mutex);
  ++m_calls[family];
}

ClientStatsSnapshot ClientStats::snapshot() const {
  ClientStatsSnapshot s;
  {
    std::lock_guard lock(m_mutex);
    s.calls_by_endpoint = m_calls;
  }
  for (const auto& [family, n] : s.calls_by_endpoint) s.api_calls += n;
  s.retries = retry.retries.load();
  s.throttled = retry.throttled.load();
  s.unauthorized_refreshes = unauthorized_refreshes.load();
  s.token_requests = token_requests ? token_requests() : 0;
  s.api_bytes = api_bytes.load();
  s.downloads = downloads.load();
  s.download_bytes_compressed = download_bytes_compressed.load();
  s.download_bytes_decompressed = download_bytes_decompressed.load();
  s.export_lines = export_lines.load();
  s.skipped_lines = skipped_lines.load();
  s.link_refreshes = link_refreshes.load();
  s.download_time =
      std::chrono::milliseconds{std::max<std::int64_t>(0, download_ns.load()) / 1'000'000};
  s.decode_time = std::chrono::milliseconds{decode_ns.load() / 1'000'000};
  s.rate_limit_wait = limiter_wait ? limiter_wait() : std::chrono::milliseconds{0};
  return s;
}

std::string required_role(const std::string& family) {
  if (family == "machines") return "Machine.Read.All";
  if (family == "software" || family.rfind("SoftwareInventory", 0) == 0) return "Software.Read.All";
  if (family == "recommendations") return "SecurityRecommendation.Read.All";
  return "Vulnerability.Read.All";
}

// ---------------------------------------------------------------------------------------

Client::Client(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Client::~Client() = default;

util::Result<std::unique_ptr<Client>> Client::create(const config::Config& config,
                                                     ClientDeps deps) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->api_base = config.api_url;
  while (!impl->api_base.empty() && impl->api_base.back() == '/') impl->api_base.pop_back();
  auto api = http::parse_url(impl->api_base);
  if (!api) {
    return util::fail(ErrorCode::config, fmt::format("api_url: {}", api.error().message));
  }
  impl->api_origin = api->origin();
  if (config.insecure_skip_tls_verify) {
    // Loud on every run: with verification off, anyone on the path can read the secret
    // and the bearer and serve invented data.
    spdlog::warn(
        "TLS CERTIFICATE VERIFICATION IS OFF (insecure_skip_tls_verify): any host can pose as "
        "{} or {}, receive the client secret and tokens, and feed this store invented data. "
        "Use it only against a local simulator.",
        config.api_url, config.login_url);
  }
  impl->clock = deps.clock != nullptr ? deps.clock : &util::system_clock();
  impl->sleeper = deps.sleeper != nullptr ? deps.sleeper : &util::real_sleeper();
  if (deps.api == nullptr) {
    http::CurlOptions o;
    o.connect_timeout = std::chrono::seconds{config.connect_timeout_seconds};
    o.low_speed_timeout = std::chrono::seconds{config.low_speed_timeout_seconds};
    o.proxy = config.proxy;
    o.ca_bundle = config.ca_bundle;
    o.insecure_skip_tls_verify = config.insecure_skip_tls_verify;
    o.user_agent = "mdesync";
    o.cancel = deps.cancel;
    impl->own_http = std::make_unique<http::CurlHttpClient>(std::move(o));
    impl->api_http = impl->own_http.get();
  } else {
    impl->api_http = deps.api;
  }
  impl->download_http = deps.download != nullptr ? deps.download : impl->api_http;
  impl->retry_policy = deps.retry.value_or(http::RetryPolicy{});
  if (!deps.retry) impl->retry_policy.max_retries = std::max(0, config.max_retries);
  impl->retry_ctx.policy = &impl->retry_policy;
  impl->retry_ctx.clock = impl->clock;
  impl->retry_ctx.sleeper = impl->sleeper;
  impl->retry_ctx.random = deps.random ? deps.random : http::default_random();
  impl->retry_ctx.counters = &impl->stats.retry;
  impl->retry_ctx.cancel = deps.cancel;
  impl->run_cancel = deps.cancel;
  impl->retry_ctx.error_code = [](const http::Response& r) {
    return decode_api_error(r.body).code;
  };
  impl->limiter =
      std::make_unique<http::RateLimiter>(*impl->clock, *impl->sleeper, config.rate_limit_scale,
                                          std::chrono::milliseconds{1000}, deps.cancel);
  if (deps.tokens == nullptr) {
    http::RetryContext token_retry = impl->retry_ctx;
    token_retry.error_code = {};
    auto cred =
        auth::make_credential(config, *impl->api_http, *impl->clock, *impl->sleeper, token_retry);
    if (!cred) return util::fail(std::move(cred.error()));
    impl->own_credential = std::move(*cred);
    impl->tokens = impl->own_credential.provider.get();
    auto count = impl->own_credential.fetch_count;
    impl->stats.token_requests = [count] { return static_cast<std::uint64_t>(count()); };
  } else {
    impl->tokens = deps.tokens;
  }
  auto* limiter = impl->limiter.get();
  impl->stats.limiter_wait = [limiter] { return limiter->total_wait(); };
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

util::Result<std::vector<std::string>> Client::granted_roles() {
  auto token = m_impl->tokens->token();
  if (!token) return util::fail(std::move(token.error()));
  auto claims = auth::decode_claims(*token);
  if (!claims) return util::fail(std::move(claims.error()));
  return claims->roles;
}

ClientStatsSnapshot Client::stats() const {
  return m_impl->stats.snapshot();
}

std::optional<util::Timestamp> Client::server_time() const {
  const auto us = m_impl->server_date_us.load();
  if (us == 0) return std::nullopt;
  return util::Timestamp(std::chrono::microseconds(us));
}

http::RateLimiter& Client::limiter() {
  return *m_impl->limiter;
}

}  // namespace mdesync::defender
