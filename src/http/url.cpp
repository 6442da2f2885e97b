#include "http/url.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "http/http_client.hpp"

namespace mdesync::http {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::optional<std::string_view> find_header(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

std::string Url::origin() const {
  return port.empty() ? fmt::format("{}://{}", scheme, host)
                      : fmt::format("{}://{}:{}", scheme, host, port);
}

bool is_loopback_host(std::string_view host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]";
}

util::Result<Url> parse_url(std::string_view text) {
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) {
    return util::fail(util::ErrorCode::invalid_argument,
                      fmt::format("'{}' is not an absolute URL", redact_url(text)));
  }
  Url url;
  url.scheme = lower(text.substr(0, scheme_end));
  if (url.scheme != "http" && url.scheme != "https") {
    return util::fail(util::ErrorCode::invalid_argument,
                      fmt::format("'{}' is not an http(s) URL", redact_url(text)));
  }
  std::string_view rest = text.substr(scheme_end + 3);
  const auto authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  rest = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);  // user info never leaves this function
  }
  std::string_view host = authority;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    host = authority.substr(0, close == std::string_view::npos ? authority.size() : close + 1);
    if (close != std::string_view::npos && close + 1 < authority.size() &&
        authority[close + 1] == ':') {
      url.port = std::string(authority.substr(close + 2));
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    url.port = std::string(authority.substr(colon + 1));
  }
  if (host.empty()) {
    return util::fail(util::ErrorCode::invalid_argument,
                      fmt::format("'{}' has no host", redact_url(text)));
  }
  url.host = lower(host);
  if ((url.scheme == "https" && url.port == "443") || (url.scheme == "http" && url.port == "80")) {
    url.port.clear();
  }
  if (const auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  const auto q = rest.find('?');
  url.path = std::string(rest.substr(0, q));
  if (url.path.empty()) url.path = "/";
  if (q != std::string_view::npos) url.query = std::string(rest.substr(q + 1));
  return url;
}

std::string redact_url(std::string_view url) {
  const auto cut = url.find_first_of("?#");
  std::string_view kept = url.substr(0, cut);
  // Drop user info, should a URL ever carry any.
  const auto scheme_end = kept.find("://");
  if (scheme_end != std::string_view::npos) {
    const auto auth_start = scheme_end + 3;
    const auto auth_end = kept.find('/', auth_start);
    const auto at = kept.substr(0, auth_end).rfind('@');
    if (at != std::string_view::npos && at > auth_start) {
      return std::string(kept.substr(0, auth_start)) + std::string(kept.substr(at + 1));
    }
  }
  return std::string(kept);
}

std::string url_encode(std::string_view text) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(k_hex[c >> 4U]);
      out.push_back(k_hex[c & 0x0FU]);
    }
  }
  return out;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out.push_back('&');
    out += url_encode(name);
    out.push_back('=');
    out += url_encode(value);
  }
  return out;
}

std::string append_query(std::string url, std::string_view name, std::string_view value) {
  url.push_back(url.find('?') == std::string::npos ? '?' : '&');
  url += name;
  url.push_back('=');
  url += url_encode(value);
  return url;
}

}  // namespace mdesync::http
