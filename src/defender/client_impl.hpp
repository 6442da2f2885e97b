#pragma once

// Client::Impl, shared by the client's files: client.cpp (construction, counters),
// client_api.cpp (API calls and OData paging), client_exports.cpp (file exports).

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "auth/credentials.hpp"
#include "defender/client.hpp"
#include "http/curl_client.hpp"

namespace mdesync::defender {

using Steady = std::chrono::steady_clock;

inline std::int64_t ns_since(Steady::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now() - t0).count();
}

struct Client::Impl {
  config::Config config;
  std::string api_base;  // api_url without a trailing slash
  std::string api_origin;
  std::unique_ptr<http::CurlHttpClient> own_http;
  auth::Credential own_credential;
  http::HttpClient* api_http = nullptr;
  http::HttpClient* download_http = nullptr;
  auth::TokenProvider* tokens = nullptr;
  util::Clock* clock = nullptr;
  util::Sleeper* sleeper = nullptr;
  const util::CancelToken* run_cancel = nullptr;  // optional: the run's cancellation
  http::RetryPolicy retry_policy;
  http::RetryContext retry_ctx;
  // Date of the latest API response, microseconds since 1970 (0: none yet).
  std::atomic<std::int64_t> server_date_us{0};
  std::unique_ptr<http::RateLimiter> limiter;
  ClientStats stats;

  std::string url(std::string_view path) const { return api_base + std::string(path); }

  // Reads a 2xx answer inside the retry loop (decodes it). A `corrupt_stream` error from
  // it (a body cut short that looked complete) fails the attempt like a cut transfer:
  // the URL is fetched again within max_retries. Any other error ends the call.
  using BodyCheck = std::function<util::Status(http::Response&)>;
  util::Result<http::Response> api_get(const std::string& family, const std::string& url,
                                       const BodyCheck& check = {});
  util::Error status_error(const std::string& family, const std::string& url,
                           const http::Response& resp);
  template <class T>
  util::Result<ListResult> page(const std::string& family, const std::string& first_url,
                                bool follow, int page_max, bool not_found_is_empty,
                                const RecordSink<T>& sink);
  util::Result<ExportFiles> export_files(const std::string& family, std::optional<int> sas_hours);
  template <class T>
  util::Result<ListResult> stream_files(const ExportFiles& files,
                                        const std::function<util::Result<ExportFiles>()>& refresh,
                                        const BatchStage<T>& stage, DeviceGate<T>* gate = nullptr);
  template <class T>
  util::Status download_all(const std::vector<std::string>& urls, const BatchStage<T>& stage,
                            ListResult& out, std::vector<std::string>& expired,
                            DeviceGate<T>* gate);
  template <class T>
  util::Status download_one(const std::string& url, const std::atomic<bool>& cancel,
                            const BatchStage<T>& stage,
                            const std::function<util::Status(BatchStep&&, std::size_t)>& push,
                            DeviceGate<T>* gate);
};

}  // namespace mdesync::defender
