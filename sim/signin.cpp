// The token service's certificate sign-in (client assertions checked against the
// certificates registered on the command line, with OpenSSL directly: nothing is shared
// with the client's signing code), the managed identity endpoints (instance metadata
// service and App Service), and the audiences of the US government clouds.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstdio>

#include "simulator_impl.hpp"

namespace mdesim {

using mdesync::util::ErrorCode;
using mdesync::util::fail;

namespace {

constexpr const char* k_public_audience = "https://api.securitycenter.microsoft.com";
constexpr const char* k_jwt_bearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string digest_b64url(X509* cert, const EVP_MD* md) {
  unsigned char buf[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, md, buf, &len) != 1) return {};
  return base64(std::string_view(reinterpret_cast<const char*>(buf), len), true);
}

// RS256 (PKCS#1 v1.5) or PS256 (PSS, salt = digest length) over `input`.
bool verify(EVP_PKEY* key, const std::string& alg, const std::string& input,
            const std::string& sig) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key) != 1) return false;
  if (alg == "PS256") {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1) {
      return false;
    }
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

}  // namespace

std::string cloud_audience(const std::string& cloud) {
  if (cloud == "gcc") return "https://api-gcc.securitycenter.microsoft.us";
  if (cloud == "gcc-high" || cloud == "dod") return "https://api-gov.securitycenter.microsoft.us";
  return k_public_audience;
}

mdesync::util::Status SimulatorImpl::load_certificates() {
  for (const auto& path : m_opt.credentials.client_certificates) {
    std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "rb"), std::fclose);
    if (!f) return fail(ErrorCode::config, "cannot open client certificate " + path);
    std::unique_ptr<X509, decltype(&X509_free)> cert(
        PEM_read_X509(f.get(), nullptr, nullptr, nullptr), X509_free);
    if (!cert) return fail(ErrorCode::config, "no PEM certificate in " + path);
    RegisteredCertificate rc;
    rc.thumbprint_s256 = digest_b64url(cert.get(), EVP_sha256());
    rc.thumbprint_sha1 = digest_b64url(cert.get(), EVP_sha1());
    EVP_PKEY* key = X509_get_pubkey(cert.get());
    if (key != nullptr)
      rc.key.reset(key, [](void* k) { EVP_PKEY_free(static_cast<EVP_PKEY*>(k)); });
    if (!rc.key) return fail(ErrorCode::config, "no public key in " + path);
    m_certificates.push_back(std::move(rc));
  }
  return {};
}

// Entra's answers to a bad client assertion: malformed (50027), unknown key or bad
// signature (700027), another application's (700021), wrong audience (700023), outside
// its time range (700024).
std::optional<Reply> SimulatorImpl::check_assertion(const httplib::Request& req,
                                                    std::map<std::string, std::string>& form) {
  const Credentials& c = m_opt.credentials;
  if (form["client_assertion_type"] != k_jwt_bearer) {
    return token_error(400, "invalid_request", 700025,
                       "client_assertion_type must be '" + std::string(k_jwt_bearer) + "'.");
  }
  const std::string& jwt = form["client_assertion"];
  const auto d1 = jwt.find('.');
  const auto d2 = d1 == std::string::npos ? d1 : jwt.find('.', d1 + 1);
  auto malformed = [&] {
    return token_error(400, "invalid_request", 50027,
                       "JWT token is invalid or malformed. The client assertion could not be "
                       "parsed.");
  };
  if (d2 == std::string::npos) return malformed();
  const auto header_text = unbase64(jwt.substr(0, d1));
  const auto payload_text = unbase64(jwt.substr(d1 + 1, d2 - d1 - 1));
  const auto sig = unbase64(jwt.substr(d2 + 1));
  if (!header_text || !payload_text || !sig) return malformed();
  nlohmann::json header;
  nlohmann::json claims;
  try {
    header = nlohmann::json::parse(*header_text);
    claims = nlohmann::json::parse(*payload_text);
  } catch (const nlohmann::json::exception&) {
    return malformed();
  }
  if (!header.is_object() || !claims.is_object()) return malformed();
  const std::string alg = header.value("alg", "");
  if (alg != "RS256" && alg != "PS256") return malformed();
  const std::string x5t256 = header.value("x5t#S256", "");
  const std::string x5t = header.value("x5t", "");
  const RegisteredCertificate* cert = nullptr;
  for (const auto& rc : m_certificates) {
    if ((!x5t256.empty() && rc.thumbprint_s256 == x5t256) ||
        (!x5t.empty() && rc.thumbprint_sha1 == x5t)) {
      cert = &rc;
    }
  }
  if (cert == nullptr) {
    return token_error(401, "invalid_client", 700027,
                       "Client assertion failed signature validation. [Reason - The key was not "
                       "found., Thumbprint of key used by client: '" +
                           (x5t256.empty() ? x5t : x5t256) +
                           "', Please visit the Azure Portal, Graph Explorer or directly use MS "
                           "Graph to see configured keys for app Id '" +
                           c.client_id + "'.]");
  }
  if (!verify(static_cast<EVP_PKEY*>(cert->key.get()), alg, jwt.substr(0, d2), *sig)) {
    return token_error(401, "invalid_client", 700027,
                       "Client assertion failed signature validation. [Reason - The provided "
                       "signature value did not match the expected signature value.]");
  }
  const std::string iss = claims.value("iss", "");
  const std::string sub = claims.value("sub", "");
  if (!iequals(iss, c.client_id) || !iequals(sub, c.client_id)) {
    return token_error(400, "invalid_client", 700021,
                       "Client assertion application identifier doesn't match 'client_id' "
                       "parameter.");
  }
  const std::string aud = claims.value("aud", "");
  const std::string expected = m_base + req.path;
  if (!iequals(aud, expected)) {
    return token_error(401, "invalid_client", 700023,
                       "Client assertion audience claim does not match Realm issuer. Expected '" +
                           expected + "', got '" + aud + "'.");
  }
  const auto now = unix_now();
  const std::int64_t nbf = claims.value("nbf", std::int64_t{0});
  const std::int64_t exp = claims.value("exp", std::int64_t{0});
  // Five minutes of clock skew, as Entra allows; a lifetime over ten minutes is refused.
  if (exp == 0 || exp + 300 <= now || nbf - 300 > now || exp - nbf > 600) {
    return token_error(401, "invalid_client", 700024,
                       "Client assertion is not within its valid time range. Current time: " +
                           aad_time(now) + ", assertion valid from " + aad_time(nbf) +
                           ", expiry time of assertion " + aad_time(exp) + ".");
  }
  if (claims.value("jti", "").empty()) return malformed();
  return std::nullopt;
}

// GET /metadata/identity/oauth2/token (the instance metadata service: Metadata: true,
// api-version, resource, optional client_id) and GET /msi/token (App Service:
// X-IDENTITY-HEADER). Errors as the services give them: {"error","error_description"}.
Reply SimulatorImpl::identity(const httplib::Request& req, bool app_service) {
  if (auto f = take_error_fault(app_service ? "identity.appservice" : "identity.imds")) return *f;
  const Credentials& c = m_opt.credentials;
  auto bad = [](int status, const std::string& error, const std::string& text) {
    Reply r;
    r.status = status;
    r.content_type = "application/json; charset=utf-8";
    r.text = json{{"error", error}, {"error_description", text}}.dump();
    return r;
  };
  if (app_service) {
    if (req.get_header_value("X-IDENTITY-HEADER") != c.identity_header) {
      return bad(401, "unauthorized", "The X-IDENTITY-HEADER is missing or wrong.");
    }
  } else if (!iequals(req.get_header_value("Metadata"), "true")) {
    return bad(400, "invalid_request", "Required metadata header not specified");
  }
  if (!req.has_param("api-version")) {
    return bad(400, "invalid_request", "Required query variable 'api-version' is missing");
  }
  const std::string resource = req.get_param_value("resource");
  if (resource.empty()) {
    return bad(400, "invalid_request", "Required query variable 'resource' is missing");
  }
  std::string trimmed = resource;
  while (!trimmed.empty() && trimmed.back() == '/') trimmed.pop_back();
  if (trimmed != cloud_audience(m_opt.cloud)) {
    return bad(400, "invalid_resource",
               "AADSTS500011: The resource principal named " + resource +
                   " was not found in the tenant named " + c.tenant_id + ".");
  }
  for (const char* field : {"client_id", "clientid"}) {
    if (req.has_param(field) &&
        !iequals(req.get_param_value(field), c.managed_identity_client_id)) {
      return bad(400, "invalid_request", "Identity not found");
    }
  }
  TokenGrant g;
  g.aud = trimmed;
  g.appid = c.managed_identity_client_id;
  const auto now = unix_now();
  const auto lifetime = m_opt.token_lifetime.count();
  const std::string tok = issue_token(g, now);
  Reply r;
  r.content_type = "application/json; charset=utf-8";
  r.text = json{{"access_token", tok},
                {"client_id", c.managed_identity_client_id},
                {"expires_in", std::to_string(lifetime)},
                {"expires_on", std::to_string(now + lifetime)},
                {"ext_expires_in", std::to_string(lifetime)},
                {"not_before", std::to_string(now)},
                {"resource", resource},
                {"token_type", "Bearer"}}
               .dump();
  return r;
}

}  // namespace mdesim
