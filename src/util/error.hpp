#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace mdesync::util {

// One central list of failure kinds. Callers branch on the code, users read the
// message; the code also selects the process exit status (see cli/exit_codes.hpp).
enum class ErrorCode {
  invalid_argument,   // a caller passed a value outside the documented domain
  config,             // configuration file, environment or flag is wrong
  parse,              // input text (JSON, timestamp, vector, ...) is malformed
  io,                 // local file or stream failure
  corrupt_stream,     // compressed data is truncated or corrupt
  transport,          // connection, TLS, DNS or timeout failure talking to a host
  tls_certificate,    // the host's TLS certificate was not trusted (never transient)
  http_status,        // a host answered with a status the caller cannot use
  auth,               // the token service refused the credentials
  permission,         // the token lacks a role the endpoint needs (403)
  rate_limited,       // quota exhausted and retries did not recover
  retries_exhausted,  // retryable failures outlasted max_retries
  not_found,          // the entity does not exist
  paging,             // a paging link loops, points elsewhere or is malformed
  link_expired,       // an export download URL is no longer valid
  store,              // database failure
  store_locked,       // another process holds the store
  cancelled,          // the user interrupted the run
  removal_guard,      // a full read would remove more rows than removal_guard allows
  internal,           // a bug: an invariant did not hold
};

std::string_view to_string(ErrorCode code) noexcept;

struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;
  std::optional<int> http_status;
  std::optional<std::chrono::seconds> retry_after;

  // "message (HTTP 429, retry after 30 s)": what a user sees.
  [[nodiscard]] std::string describe() const;
};

}  // namespace mdesync::util
