#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.hpp"

namespace mdesync::http {

// The parts of an absolute http(s) URL that routing and redaction need.
struct Url {
  std::string scheme;  // lower case
  std::string host;    // lower case, without port
  std::string port;    // empty when default
  std::string path;    // starts with '/', "/" when empty
  std::string query;   // without '?', may be empty

  // scheme://host[:port]: the identity a bearer token may be sent to.
  [[nodiscard]] std::string origin() const;
};

// 127.0.0.1, localhost or ::1 (with or without brackets): a host whose traffic never
// leaves the machine, the only place plain http or unverified TLS may be used.
bool is_loopback_host(std::string_view host);

// Parses an absolute http or https URL; anything else is an invalid_argument error.
util::Result<Url> parse_url(std::string_view text);

// scheme://host[:port]/path: the URL without its query string, safe for messages and
// logs (the query of a download URL is its SAS credential).
std::string redact_url(std::string_view url);

// RFC 3986 percent-encoding of everything but unreserved characters.
std::string url_encode(std::string_view text);

// application/x-www-form-urlencoded body from name/value pairs (in the given order).
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);

// Appends "name=value" (value encoded) to a URL, choosing '?' or '&'.
std::string append_query(std::string url, std::string_view name, std::string_view value);

}  // namespace mdesync::http
