// The Entra ID token service (v1 and v2 client-credentials endpoints, with the AADSTS
// errors of a wrong tenant, client, secret or scope) and the API's bearer-token check.

#include "simulator_impl.hpp"

#include <algorithm>

namespace mdesim {
namespace {

constexpr const char* k_audience = "https://api.securitycenter.microsoft.com";

std::map<std::string, std::string> parse_form(const std::string& body) {
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  while (pos <= body.size()) {
    const auto amp = body.find('&', pos);
    const std::string part =
        body.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    const auto eq = part.find('=');
    if (!part.empty()) {
      out[httplib::detail::decode_url(part.substr(0, eq), true)] =
          eq == std::string::npos ? "" : httplib::detail::decode_url(part.substr(eq + 1), true);
    }
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return out;
}

// Client id and secret sent with HTTP Basic authentication (RFC 6749 2.3.1); the form's
// own fields win.
void add_basic_credentials(const httplib::Request& req, std::map<std::string, std::string>& form) {
  if (!req.has_header("Authorization")) return;
  const std::string auth = req.get_header_value("Authorization");
  if (auth.size() > 6 && iequals(auth.substr(0, 6), "basic ")) {
    if (auto dec = unbase64(auth.substr(6))) {
      const auto colon = dec->find(':');
      if (colon != std::string::npos) {
        form.emplace("client_id", httplib::detail::decode_url(dec->substr(0, colon), true));
        form.emplace("client_secret", httplib::detail::decode_url(dec->substr(colon + 1), true));
      }
    }
  }
}

// Token lifetimes are real time, not the simulator's clock: the client's cache sees them.
std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Reply with_www(Reply r) {
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

}  // namespace

Reply SimulatorImpl::token_error(int status, const std::string& error, int code,
                                 const std::string& text) {
  const auto now = unix_now();
  const std::string trace = next_target();
  const std::string corr = next_target();
  const std::string ts = aad_time(now);
  Reply r;
  r.status = status;
  r.content_type = "application/json; charset=utf-8";
  r.text =
      json{{"error", error},
           {"error_description", "AADSTS" + std::to_string(code) + ": " + text +
                                     "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + corr +
                                     "\r\nTimestamp: " + ts},
           {"error_codes", {code}},
           {"timestamp", ts},
           {"trace_id", trace},
           {"correlation_id", corr},
           {"error_uri", "https://login.microsoftonline.com/error?code=" + std::to_string(code)}}
          .dump();
  return r;
}

Reply SimulatorImpl::token(const httplib::Request& req, bool v2) {
  if (auto f = take_error_fault(v2 ? "token.v2" : "token.v1")) return *f;
  const std::string tenant = req.path.substr(1, req.path.find('/', 1) - 1);
  const Credentials& c = m_opt.credentials;
  if (!iequals(tenant, c.tenant_id) && !iequals(tenant, c.tenant_domain)) {
    return token_error(400, "invalid_request", 90002,
                       "Tenant '" + tenant +
                           "' not found. Check to make sure you have the correct tenant ID and "
                           "are signing into the correct cloud.");
  }
  auto form = parse_form(req.body);
  add_basic_credentials(req, form);
  if (auto e = check_client(req, tenant, form, v2)) return *e;
  const std::string target = form[v2 ? "scope" : "resource"];
  auto grant = grant_for(target, v2, tenant);
  if (auto* e = std::get_if<Reply>(&grant)) return *e;
  const TokenGrant& g = std::get<TokenGrant>(grant);
  const auto now = unix_now();
  const auto lifetime = m_opt.token_lifetime.count();
  const std::string tok = issue_token(g, now);
  Reply r;
  r.content_type = "application/json; charset=utf-8";
  if (v2) {
    r.text = json{
        {"token_type", "Bearer"},
        {"expires_in", lifetime},
        {"ext_expires_in", lifetime},
        {"access_token",
         tok}}.dump();
  } else {
    r.text = json{
        {"token_type", "Bearer"},
        {"expires_in", std::to_string(lifetime)},
        {"ext_expires_in", std::to_string(lifetime)},
        {"expires_on", std::to_string(now + lifetime)},
        {"not_before", std::to_string(now)},
        {"resource", target},
        {"access_token",
         tok}}.dump();
  }
  r.headers.emplace_back("Cache-Control", "no-store, no-cache");
  return r;
}

std::optional<Reply> SimulatorImpl::check_client(const httplib::Request& req,
                                                 const std::string& tenant,
                                                 std::map<std::string, std::string>& form,
                                                 bool v2) {
  const Credentials& c = m_opt.credentials;
  for (const char* field : {"grant_type", "client_id"}) {
    if (form[field].empty()) {
      return token_error(
          400, "invalid_request", 900144,
          std::string("The request body must contain the following parameter: '") + field + "'.");
    }
  }
  if (form["grant_type"] != "client_credentials") {
    return token_error(400, "unsupported_grant_type", 70003,
                       "The app requested an unsupported grant type '" + form["grant_type"] + "'.");
  }
  const bool assertion = !form["client_assertion"].empty();
  if (form["client_secret"].empty() && !assertion) {
    return token_error(400, "invalid_request", 900144,
                       "The request body must contain the following parameter: "
                       "'client_assertion' or 'client_secret'.");
  }
  const char* target_field = v2 ? "scope" : "resource";
  if (form[target_field].empty()) {
    return token_error(400, "invalid_request", 900144,
                       std::string("The request body must contain the following parameter: '") +
                           target_field + "'.");
  }
  if (!iequals(form["client_id"], c.client_id)) {
    return token_error(400, "unauthorized_client", 700016,
                       "Application with identifier '" + form["client_id"] +
                           "' was not found in the directory '" + tenant + "'.");
  }
  if (assertion) return check_assertion(req, form);
  if (form["client_secret"] != c.client_secret) {
    return token_error(
        401, "invalid_client", 7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the "
        "client secret value, not the client secret ID, for a secret added to app '" +
            c.client_id + "'.");
  }
  return std::nullopt;
}

std::variant<TokenGrant, Reply> SimulatorImpl::grant_for(const std::string& target, bool v2,
                                                         const std::string& tenant) {
  TokenGrant g;
  const std::string audience = cloud_audience(m_opt.cloud);
  g.aud = audience;
  const bool gov = m_opt.cloud != "public";
  const bool gov_authority = m_opt.cloud == "gcc-high" || m_opt.cloud == "dod";
  std::string base = target;
  if (v2) {
    const std::string suffix = "/.default";
    if (base.size() > suffix.size() && base.ends_with(suffix)) {
      base.resize(base.size() - suffix.size());
    } else {
      base.clear();
    }
  }
  const bool public_api =
      base == k_audience || base == "https://securitycenter.onmicrosoft.com/windowsatpservice";
  if (gov && base == audience) return g;
  if (gov_authority && public_api) {
    // The tenant lives in the .us cloud: the public authority does not know it.
    return token_error(400, "invalid_request", 90002,
                       "Tenant '" + tenant +
                           "' not found. Check to make sure you have the correct tenant ID and "
                           "are signing into the correct cloud.");
  }
  if (!gov && public_api) return g;
  if (v2 && !gov && base == "https://api.security.microsoft.com") {
    g.wrong_audience = true;
    g.aud = "https://api.security.microsoft.com";
    return g;
  }
  if (v2) {
    return token_error(
        400, "invalid_scope", 70011,
        "The provided request must include a 'scope' input parameter. The provided value for "
        "the input parameter 'scope' is not valid. The scope " +
            target + " is not valid.");
  }
  return token_error(400, "invalid_resource", 500011,
                     "The resource principal named " + target +
                         " was not found in the tenant named " + tenant + ".");
}

std::string SimulatorImpl::issue_token(const TokenGrant& g, std::int64_t now) {
  const Credentials& c = m_opt.credentials;
  const auto lifetime = m_opt.token_lifetime.count();
  TokenInfo info;
  info.expires = now + lifetime;
  info.wrong_audience = g.wrong_audience;
  std::lock_guard lock(m_mutex);
  info.roles = m_roles;
  info.generation = m_token_generation;
  const std::uint64_t n = ++m_tokens_issued;
  const json header = {{"typ", "JWT"}, {"alg", "RS256"}, {"kid", "mdesim"}};
  const json payload = {{"aud", g.aud},
                        {"iss", "https://sts.windows.net/" + c.tenant_id + "/"},
                        {"iat", now},
                        {"nbf", now},
                        {"exp", now + lifetime},
                        {"appid", g.appid.empty() ? c.client_id : g.appid},
                        {"oid", guid(m_secret, 99)},
                        {"roles", info.roles},
                        {"tid", c.tenant_id},
                        {"ver", "1.0"},
                        {"uti", guid(m_secret, n)}};
  const std::string body = base64(header.dump(), true) + "." + base64(payload.dump(), true);
  std::string tok = body + "." + base64(hex40(hash_str(body, m_secret), n), true);
  m_tokens[tok] = info;
  return tok;
}

std::optional<Reply> SimulatorImpl::authorize(const httplib::Request& req, const Route& route) {
  const std::string auth = req.get_header_value("Authorization");
  if (auth.size() < 8 || !iequals(auth.substr(0, 7), "bearer ")) {
    return with_www(error_reply(401, "Unauthorized",
                                "Authorization header is missing or is not a Bearer token",
                                next_target()));
  }
  const std::string tok = auth.substr(7);
  const auto now = unix_now();
  std::lock_guard lock(m_mutex);
  auto it = m_tokens.find(tok);
  if (it == m_tokens.end()) {
    return with_www(error_reply(401, "Unauthorized", "The access token is invalid", next_target()));
  }
  if (it->second.expires <= now || it->second.generation != m_token_generation) {
    return with_www(
        error_reply(401, "Unauthorized", "The access token has expired", next_target()));
  }
  if (it->second.wrong_audience) {
    return error_reply(403, "Forbidden", "The access token audience is not valid for this API",
                       next_target());
  }
  for (const auto& role : route.roles) {
    if (std::find(it->second.roles.begin(), it->second.roles.end(), role) != it->second.roles.end())
      return std::nullopt;
  }
  return error_reply(403, "Forbidden",
                     "The application does not have any of the required application permissions (" +
                         route.roles.front() + ") to access the resource.",
                     next_target());
}

}  // namespace mdesim
