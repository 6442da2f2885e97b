#include "auth/managed_identity_credential.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "http/url.hpp"

namespace mdesync::auth {

namespace {

std::optional<long long> as_integer(const nlohmann::json& v) {
  if (v.is_number_integer()) return v.get<long long>();
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    long long out = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc{} && p == s.data() + s.size()) return out;
  }
  return std::nullopt;
}

// 404 and 410: the metadata service's answer while an identity is being assigned.
bool retryable(int status) {
  return status == 404 || status == 410 || status == 429 || (status >= 500 && status <= 599);
}

std::string identity_name(const ManagedIdentityOptions& o) {
  return o.client_id.empty() ? std::string("the system-assigned managed identity")
                             : fmt::format("the user-assigned managed identity {}", o.client_id);
}

// "error: description" of an identity endpoint's error body ("" when none).
std::string error_text(const http::Response& r) {
  try {
    const auto doc = nlohmann::json::parse(r.body);
    if (!doc.is_object()) return {};
    std::string out;
    if (auto it = doc.find("error"); it != doc.end() && it->is_string())
      out = it->get<std::string>();
    if (auto it = doc.find("error_description"); it != doc.end() && it->is_string()) {
      std::string d = it->get<std::string>();
      d = d.substr(0, d.find_first_of("\r\n"));
      out += (out.empty() ? "" : ": ") + d;
    }
    if (out.empty()) {
      if (auto it = doc.find("message"); it != doc.end() && it->is_string()) {
        out = it->get<std::string>();
      }
    }
    return out;
  } catch (const nlohmann::json::exception&) {
    return {};
  }
}

}  // namespace

ManagedIdentityOptions ManagedIdentityOptions::from_config(const config::Config& config) {
  ManagedIdentityOptions o;
  o.imds_endpoint = config.managed_identity_endpoint;
  o.identity_endpoint = config.identity_endpoint;
  o.identity_header = config.identity_header;
  o.client_id = config.client_id;
  o.audience = config.audience;
  o.max_retries = std::max(0, config.max_retries);
  return o;
}

ManagedIdentityCredential::ManagedIdentityCredential(ManagedIdentityOptions options,
                                                     http::HttpClient& http, util::Clock& clock,
                                                     util::Sleeper& sleeper)
    : CachingTokenProvider(clock),
      m_options(std::move(options)),
      m_http(http),
      m_sleeper(sleeper) {}

util::Result<std::string> ManagedIdentityCredential::fetch_locked() {
  std::string audience = m_options.audience;
  while (!audience.empty() && audience.back() == '/') audience.pop_back();
  std::vector<std::pair<std::string, std::string>> query = {
      {"api-version", app_service() ? "2019-08-01" : "2018-02-01"}, {"resource", audience}};
  if (!m_options.client_id.empty()) query.emplace_back("client_id", m_options.client_id);
  const std::string endpoint =
      app_service() ? m_options.identity_endpoint : m_options.imds_endpoint;
  http::Request req;
  req.method = "GET";
  req.url =
      endpoint + (endpoint.find('?') == std::string::npos ? "?" : "&") + http::form_encode(query);
  if (app_service()) {
    req.headers = {{"X-IDENTITY-HEADER", m_options.identity_header.reveal()}};
  } else {
    req.headers = {{"Metadata", "true"}};
  }
  req.headers.emplace_back("Accept", "application/json");
  req.timeout = std::chrono::seconds{30};

  const auto started = m_clock.now();
  http::Response resp;
  for (int attempt = 0;; ++attempt) {
    count_fetch();
    auto sent = m_http.send(req);
    if (!sent) {
      util::Error e = sent.error();
      e.code = util::ErrorCode::auth;
      e.message = fmt::format(
          "no managed identity endpoint answered at {} ({}): auth = \"managed_identity\" needs "
          "an Azure VM, scale set, App Service or Functions app with an identity assigned; "
          "elsewhere use auth = \"certificate\" or \"client_secret\"",
          endpoint, sent.error().message);
      return util::fail(std::move(e));
    }
    resp = std::move(*sent);
    if (resp.ok() || !retryable(resp.status)) break;
    if (attempt >= m_options.max_retries) {
      return util::fail(util::Error{
          util::ErrorCode::retries_exhausted,
          fmt::format("the managed identity endpoint {} did not issue a token for {} ({}): gave "
                      "up after {} attempts; last answer HTTP {}{}{}; an identity that was just "
                      "assigned can take a few minutes to be ready",
                      endpoint, identity_name(m_options), audience, attempt + 1, resp.status,
                      error_text(resp).empty() ? "" : ", ", error_text(resp)),
          resp.status, std::nullopt});
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        m_options.base_delay * (1LL << std::min(attempt, 10)));
    if (auto ra = resp.header("Retry-After")) {
      if (auto s = http::parse_retry_after(*ra, m_clock.now()); s && *s > wait) {
        wait = std::chrono::duration_cast<std::chrono::milliseconds>(*s);
      }
    }
    if (m_options.counters != nullptr) {
      ++m_options.counters->retries;
      if (resp.status == 429) ++m_options.counters->throttled;
    }
    if (!m_sleeper.sleep_for(wait, m_options.cancel)) {
      return util::fail(util::ErrorCode::cancelled,
                        "interrupted while waiting for the managed identity endpoint");
    }
  }
  if (!resp.ok()) {
    const std::string text = error_text(resp);
    return util::fail(util::Error{
        util::ErrorCode::auth,
        fmt::format("the managed identity endpoint {} refused a token for {} (HTTP {}{}{}): {}",
                    endpoint, identity_name(m_options), resp.status, text.empty() ? "" : ", ", text,
                    resp.status == 400 && !m_options.client_id.empty()
                        ? "check that client_id is the client id of a user-assigned identity "
                          "attached to this resource"
                    : resp.status == 400
                        ? "check that a system-assigned identity is enabled on this resource, "
                          "or set client_id to a user-assigned identity's client id"
                        : "check the identity's assignment and the audience"),
        resp.status, std::nullopt});
  }
  std::string access_token;
  std::optional<long long> expires_on;
  std::optional<long long> expires_in;
  try {
    const auto doc = nlohmann::json::parse(resp.body);
    if (auto it = doc.find("access_token"); it != doc.end() && it->is_string()) {
      access_token = it->get<std::string>();
    }
    if (auto it = doc.find("expires_on"); it != doc.end()) expires_on = as_integer(*it);
    if (auto it = doc.find("expires_in"); it != doc.end()) expires_in = as_integer(*it);
  } catch (const nlohmann::json::exception&) {
    return util::fail(util::ErrorCode::auth,
                      "the managed identity endpoint answered with invalid JSON");
  }
  if (access_token.empty()) {
    return util::fail(util::ErrorCode::auth,
                      "the managed identity endpoint answered without an access_token");
  }
  std::chrono::seconds lifetime{3599};
  if (expires_in) {
    lifetime = std::chrono::seconds{*expires_in};
  } else if (expires_on) {
    const auto now_s =
        std::chrono::duration_cast<std::chrono::seconds>(started.time_since_epoch()).count();
    lifetime = std::chrono::seconds{std::max<long long>(0, *expires_on - now_s)};
  }
  const auto margin = std::min(m_options.refresh_margin, lifetime / 2);
  return keep(std::move(access_token), started + lifetime - margin);
}

}  // namespace mdesync::auth
