#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "http/http_client.hpp"
#include "util/cancel.hpp"

namespace mdesync::http {

struct CurlOptions {
  std::chrono::seconds connect_timeout{30};
  // A transfer slower than 1 byte/s for this long is aborted (large exports have no
  // whole-transfer limit).
  std::chrono::seconds low_speed_timeout{120};
  std::optional<std::string> proxy;      // else curl's *_proxy environment variables
  std::optional<std::string> ca_bundle;  // PEM file
  bool insecure_skip_tls_verify = false;
  std::string user_agent = "mdesync";
  std::size_t max_error_body = 64 * 1024;  // non-2xx bodies of streams are cut here
  // Optional: its cancellation aborts every transfer in flight at once (and refuses new
  // ones) with ErrorCode::cancelled. Must outlive the client.
  const util::CancelToken* cancel = nullptr;
};

// The error code for a failed libcurl transfer (`curl_code` is a CURLcode): a TLS
// certificate that cannot be verified, or a CA/CRL/client-certificate file that cannot be
// used, is ErrorCode::tls_certificate, which the retry loop does not retry (no attempt
// will ever pass); everything else is ErrorCode::transport.
util::ErrorCode error_code_for_curl(int curl_code);

// libcurl transport. Keeps a pool of transfer handles (an easy handle driven by a multi
// handle of its own, which keeps its connections), so sequential requests from one
// thread reuse a connection (HTTP/2 over TLS when the server offers it, else HTTP/1.1).
// Each transfer waits in curl_multi_poll() with the cancel token's descriptor beside
// the sockets, so a cancellation ends it within milliseconds whatever it waits for
// (connect, a slow answer, a stalled body). Accepts gzip/deflate bodies. Thread-safe.
class CurlHttpClient final : public HttpClient {
 public:
  explicit CurlHttpClient(CurlOptions options);
  ~CurlHttpClient() override;
  CurlHttpClient(const CurlHttpClient&) = delete;
  CurlHttpClient& operator=(const CurlHttpClient&) = delete;

  util::Result<Response> send(const Request& request) override;
  util::Result<Response> stream(const Request& request, const BodySink& sink) override;

 private:
  util::Result<Response> perform(const Request& request, const BodySink* sink);
  struct Pool;
  CurlOptions m_options;
  std::unique_ptr<Pool> m_pool;
};

}  // namespace mdesync::http
