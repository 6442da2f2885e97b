#pragma once

// The transport seam: everything above this layer talks HTTP through HttpClient, so
// tests inject a fake and production uses CurlHttpClient.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.hpp"

namespace mdesync::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive header lookup; the first match wins.
std::optional<std::string_view> find_header(const Headers& headers, std::string_view name);

struct Request {
  std::string method = "GET";
  std::string url;
  Headers headers;
  std::string body;
  // Whole-transfer limit; zero means none (large downloads rely on the low-speed limit).
  std::chrono::seconds timeout{0};
  // Ask for and undo gzip/deflate transfer compression. Off for export downloads, whose
  // bytes are a .json.gz file the caller gunzips itself (blob metadata may label it
  // Content-Encoding: gzip, which must not be decoded twice).
  bool decode_content = true;
};

struct Response {
  int status = 0;
  Headers headers;
  // The body, or for a streamed 2xx response nothing (the sink received it).
  std::string body;

  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const {
    return find_header(headers, name);
  }
  [[nodiscard]] bool ok() const { return status >= 200 && status < 300; }
};

// Receives a 2xx body chunk by chunk while it arrives. An error aborts the transfer and
// is returned from stream() unchanged.
using BodySink = std::function<util::Status(std::string_view chunk)>;

class HttpClient {
 public:
  virtual ~HttpClient() = default;

  // Sends `request` and returns the response whatever its status; errors are transport
  // failures only (ErrorCode::transport, or tls_certificate for an untrusted host; naming
  // host, path and cause). Blocks.
  // Thread-safe.
  virtual util::Result<Response> send(const Request& request) = 0;

  // Like send(), but a 2xx body goes to `sink` as it arrives instead of into
  // Response::body (non-2xx bodies are still buffered, up to a small limit). Blocks.
  // Thread-safe; sink calls for one request come from the calling thread.
  virtual util::Result<Response> stream(const Request& request, const BodySink& sink) = 0;
};

}  // namespace mdesync::http
