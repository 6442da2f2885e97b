#include "auth/client_secret_credential.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "http/url.hpp"

namespace mdesync::auth {

namespace {

std::string trim_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

std::optional<long long> as_integer(const nlohmann::json& v) {
  if (v.is_number_integer()) return v.get<long long>();
  if (v.is_number_float()) return static_cast<long long>(v.get<double>());
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    long long out = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc{} && p == s.data() + s.size()) return out;
  }
  return std::nullopt;
}

util::Error token_error(const CredentialOptions& o, const http::Response& r) {
  std::string oauth_error;
  std::string first_line;
  std::optional<long long> code;
  try {
    const auto doc = nlohmann::json::parse(r.body);
    if (doc.is_object()) {
      if (auto it = doc.find("error"); it != doc.end() && it->is_string())
        oauth_error = it->get<std::string>();
      if (auto it = doc.find("error_codes"); it != doc.end() && it->is_array() && !it->empty()) {
        code = as_integer(it->front());
      }
      if (auto it = doc.find("error_description"); it != doc.end() && it->is_string()) {
        first_line = it->get<std::string>();
        first_line = first_line.substr(0, first_line.find_first_of("\r\n"));
        if (!code && first_line.rfind("AADSTS", 0) == 0) {
          long long c = 0;
          const char* b = first_line.data() + 6;
          auto [p, ec] = std::from_chars(b, first_line.data() + first_line.size(), c);
          if (ec == std::errc{} && p != b) code = c;
        }
      }
    }
  } catch (const nlohmann::json::exception&) {
  }
  std::string msg = fmt::format("token request for client {} in tenant {} failed (HTTP {}",
                                o.client_id, o.tenant_id, r.status);
  if (!oauth_error.empty()) msg += ", " + oauth_error;
  if (code) msg += fmt::format(", AADSTS{}", *code);
  msg += ")";
  const std::string plain = code ? explain_aadsts(*code) : std::string{};
  if (!plain.empty()) {
    msg += ": " + plain;
  } else if (!first_line.empty()) {
    msg += ": " + first_line;
  }
  return util::Error{util::ErrorCode::auth, std::move(msg), r.status, std::nullopt};
}

// "temporarily_unavailable AADSTS90055" from a token service error body ("" if none).
std::string oauth_error_code(const http::Response& r) {
  std::string out;
  try {
    const auto doc = nlohmann::json::parse(r.body);
    if (!doc.is_object()) return out;
    if (auto it = doc.find("error"); it != doc.end() && it->is_string())
      out = it->get<std::string>();
    if (auto it = doc.find("error_codes"); it != doc.end() && it->is_array() && !it->empty()) {
      if (auto code = as_integer(it->front())) {
        out += fmt::format("{}AADSTS{}", out.empty() ? "" : " ", *code);
      }
    }
  } catch (const nlohmann::json::exception&) {
  }
  return out;
}

// A token request whose retries ran out (or that could not be sent): the error says that
// it was the token service, and whether it was throttling, keeping the code, the status
// and the Retry-After of `e`.
util::Error token_service_error(const CredentialOptions& o, util::Error e) {
  if (e.code == util::ErrorCode::rate_limited) {
    e.message = fmt::format(
        "the token service is throttling token requests for client {} in tenant {}; no token "
        "was issued and none is requested again in this run: {}",
        o.client_id, o.tenant_id, e.message);
  } else if (e.code == util::ErrorCode::retries_exhausted) {
    e.message = fmt::format(
        "the token service did not issue a token for client {} in tenant {}; none is requested "
        "again in this run: {}",
        o.client_id, o.tenant_id, e.message);
  }
  return e;
}

}  // namespace

CredentialOptions CredentialOptions::from_config(const config::Config& config) {
  CredentialOptions o;
  o.login_url = config.login_url;
  o.tenant_id = config.tenant_id;
  o.client_id = config.client_id;
  o.client_secret = config.client_secret;
  o.audience = config.audience;
  o.v1 = config.token_version == "v1";
  return o;
}

std::string token_url(const CredentialOptions& o) {
  return fmt::format("{}/{}/oauth2/{}", trim_slash(o.login_url), http::url_encode(o.tenant_id),
                     o.v1 ? "token" : "v2.0/token");
}

std::string explain_aadsts(long long code) {
  switch (code) {
    case 7000215:
    case 70002:
      return "the client secret is wrong; configure the secret's Value, not its Secret ID";
    case 7000222:
      return "the client secret has expired; create a new one in the app registration";
    case 700027:
      return "the client assertion's signature was not accepted: the certificate is not (or no "
             "longer) registered on the application, or the key does not match it; upload the "
             "certificate (.crt/.cer/.pem) under Certificates & secrets";
    case 700024:
      return "the client assertion is not within its valid time range; check the system clock";
    case 700023:
      return "the client assertion's audience is not this tenant's token endpoint; check "
             "tenant_id and login_url (cloud)";
    case 700021:
      return "the client assertion was issued for another application; check client_id";
    case 7000274:
      return "the certificate has expired; create a new one and register it";
    case 90002:
      return "the tenant was not found; check tenant_id and that the cloud is right (a US "
             "government tenant needs cloud = \"gcc-high\" or \"dod\")";
    case 90023:
      return "the token request is malformed; check tenant_id";
    case 700016:
      return "the application (client_id) is not known in this tenant; check client_id and "
             "tenant_id, or grant admin consent in the tenant";
    case 70011:
      return "the scope is invalid; check the audience setting";
    case 500011:
      return "the Defender for Endpoint API is not present in the tenant (not provisioned, or "
             "the audience is wrong for this cloud)";
    case 65001:
      return "admin consent is missing for the application's API permissions";
    case 900144:
      return "a required field is missing from the token request (client_id or secret empty?)";
    case 90055:
    case 50196:
      return "the token service is throttling this tenant; wait and retry";
    case 9001023:
    case 90124:
      return "client credentials need a specific tenant id, not 'common' or 'consumers'";
    default:
      return {};
  }
}

ClientSecretCredential::ClientSecretCredential(CredentialOptions options, http::HttpClient& http,
                                               util::Clock& clock, http::RetryContext retry)
    : CachingTokenProvider(clock),
      m_options(std::move(options)),
      m_http(http),
      m_retry(std::move(retry)) {}

util::Result<std::string> ClientSecretCredential::fetch_locked() {
  const bool certificate = static_cast<bool>(m_options.client_assertion);
  if (m_options.tenant_id.empty() || m_options.client_id.empty() ||
      (!certificate && m_options.client_secret.empty())) {
    return util::fail(
        util::ErrorCode::config,
        certificate ? "tenant_id and client_id must both be set to get a token"
                    : "tenant_id, client_id and client_secret must all be set to get a token");
  }
  std::vector<std::pair<std::string, std::string>> form = {
      {"grant_type", "client_credentials"},
      {"client_id", m_options.client_id},
  };
  if (certificate) {
    auto assertion = m_options.client_assertion(token_url(m_options), m_clock.now());
    if (!assertion) return util::fail(std::move(assertion.error()));
    form.emplace_back("client_assertion_type",
                      "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    form.emplace_back("client_assertion", std::move(*assertion));
  } else {
    form.emplace_back("client_secret", m_options.client_secret.reveal());
  }
  const std::string audience = trim_slash(m_options.audience);
  if (m_options.v1) {
    form.emplace_back("resource", audience);
  } else {
    form.emplace_back("scope", audience + "/.default");
  }
  http::Request req;
  req.method = "POST";
  req.url = token_url(m_options);
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/json"}};
  req.body = http::form_encode(form);
  req.timeout = std::chrono::seconds{60};

  const auto started = m_clock.now();
  http::RetryContext retry = m_retry;
  retry.error_code = oauth_error_code;
  auto resp = http::run_with_retry(retry, fmt::format("POST {}", token_url(m_options)), [&] {
    count_fetch();
    return m_http.send(req);
  });
  if (!resp) return util::fail(token_service_error(m_options, std::move(resp.error())));
  if (!resp->ok()) return util::fail(token_error(m_options, *resp));

  std::string access_token;
  std::optional<long long> expires_in;
  try {
    const auto doc = nlohmann::json::parse(resp->body);
    if (auto it = doc.find("access_token"); it != doc.end() && it->is_string()) {
      access_token = it->get<std::string>();
    }
    if (auto it = doc.find("expires_in"); it != doc.end()) expires_in = as_integer(*it);
  } catch (const nlohmann::json::exception&) {
    return util::fail(util::ErrorCode::auth, "the token service answered with invalid JSON");
  }
  if (access_token.empty()) {
    return util::fail(util::ErrorCode::auth, "the token service answered without an access_token");
  }
  const std::chrono::seconds lifetime{expires_in.value_or(3599)};
  const auto margin = std::min(m_options.refresh_margin, lifetime / 2);
  return keep(std::move(access_token), started + lifetime - margin);
}

}  // namespace mdesync::auth
