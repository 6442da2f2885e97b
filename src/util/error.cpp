#include "util/error.hpp"

#include <fmt/format.h>

namespace mdesync::util {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::invalid_argument:
      return "invalid_argument";
    case ErrorCode::config:
      return "config";
    case ErrorCode::parse:
      return "parse";
    case ErrorCode::io:
      return "io";
    case ErrorCode::corrupt_stream:
      return "corrupt_stream";
    case ErrorCode::transport:
      return "transport";
    case ErrorCode::tls_certificate:
      return "tls_certificate";
    case ErrorCode::http_status:
      return "http_status";
    case ErrorCode::auth:
      return "auth";
    case ErrorCode::permission:
      return "permission";
    case ErrorCode::rate_limited:
      return "rate_limited";
    case ErrorCode::retries_exhausted:
      return "retries_exhausted";
    case ErrorCode::not_found:
      return "not_found";
    case ErrorCode::paging:
      return "paging";
    case ErrorCode::link_expired:
      return "link_expired";
    case ErrorCode::store:
      return "store";
    case ErrorCode::store_locked:
      return "store_locked";
    case ErrorCode::removal_guard:
      return "removal_guard";
    case ErrorCode::cancelled:
      return "cancelled";
    case ErrorCode::internal:
      return "internal";
  }
  return "unknown";
}

std::string Error::describe() const {
  // Most producers already name the status in their message; say it once.
  const bool status_named =
      http_status && message.find(fmt::format("HTTP {}", *http_status)) != std::string::npos;
  if ((!http_status || status_named) && !retry_after) return message;
  std::string extra;
  if (http_status && !status_named) extra = fmt::format("HTTP {}", *http_status);
  if (retry_after) {
    if (!extra.empty()) extra += ", ";
    extra += fmt::format("retry after {} s", retry_after->count());
  }
  return fmt::format("{} ({})", message, extra);
}

}  // namespace mdesync::util
