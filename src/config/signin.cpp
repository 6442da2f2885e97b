#include "config/signin.hpp"

#include <fmt/format.h>

namespace mdesync::config {
namespace {

std::string where(const Config& c, const std::string& key) {
  auto it = c.sources.find(key);
  return it == c.sources.end() ? std::string("the default") : it->second;
}

bool given(const Config& c, const std::string& key) {
  return c.sources.count(key) != 0;
}

// The first credential setting that was given for `kind`, "" when none.
std::string credential_key(const Config& c, const std::string& kind) {
  if (kind == "client_secret") {
    for (const char* k : {"client_secret", "client_secret_file"}) {
      if (given(c, k)) return k;
    }
    return {};
  }
  if (kind == "certificate") {
    for (const char* k : {"client_certificate_path", "client_certificate_password_file"}) {
      if (given(c, k)) return k;
    }
    return {};
  }
  return given(c, "identity_endpoint") ? "identity_endpoint" : std::string{};
}

}  // namespace

const std::vector<std::string>& auth_kinds() {
  static const std::vector<std::string> k = {"client_secret", "certificate", "managed_identity"};
  return k;
}

const std::vector<std::string>& cloud_names() {
  static const std::vector<std::string> k = {"public", "gcc", "gcc-high", "dod"};
  return k;
}

const std::vector<std::string>& region_names() {
  static const std::vector<std::string> k = {"us", "eu", "uk", "au", "swa", "ina", "aea"};
  return k;
}

CloudHosts cloud_hosts(const std::string& cloud, const std::string& region) {
  // Microsoft's page for US government customers: GCC signs in at the public authority
  // but has its own API host; GCC High and DoD share the .us authority and API host.
  if (cloud == "gcc") {
    return {"https://api-gcc.securitycenter.microsoft.us", "https://login.microsoftonline.com",
            "https://api-gcc.securitycenter.microsoft.us"};
  }
  if (cloud == "gcc-high" || cloud == "dod") {
    return {"https://api-gov.securitycenter.microsoft.us", "https://login.microsoftonline.us",
            "https://api-gov.securitycenter.microsoft.us"};
  }
  // The regional hosts accept tokens for the global API's audience.
  return {region.empty() ? std::string("https://api.securitycenter.microsoft.com")
                         : fmt::format("https://{}.api.security.microsoft.com", region),
          "https://login.microsoftonline.com", "https://api.securitycenter.microsoft.com"};
}

bool is_public_login(const std::string& login_url) {
  return login_url.find("login.microsoftonline.com") != std::string::npos;
}

util::Status resolve_signin(Config& c) {
  using util::ErrorCode;
  if (!c.region.empty() && c.cloud != "public") {
    return util::fail(
        ErrorCode::config,
        fmt::format("region = \"{}\" (from {}) and cloud = \"{}\" (from {}) conflict: the regional "
                    "API hosts belong to the public cloud; remove region for a US government "
                    "cloud",
                    c.region, where(c, "region"), c.cloud, where(c, "cloud")));
  }
  const CloudHosts hosts = cloud_hosts(c.cloud, c.region);
  if (!given(c, "api_url")) c.api_url = hosts.api_url;
  if (!given(c, "login_url")) c.login_url = hosts.login_url;
  if (!given(c, "audience")) c.audience = hosts.audience;

  const std::string secret = credential_key(c, "client_secret");
  const std::string certificate = credential_key(c, "certificate");
  const std::string identity = credential_key(c, "managed_identity");
  if (!c.auth.empty()) {
    // An explicit choice; settings of another credential alongside it are a mistake
    // waiting to happen (which one signs in?), except the App Service identity, which
    // the platform sets for every process.
    auto conflict = [&](const std::string& key) -> util::Status {
      return util::fail(ErrorCode::config,
                        fmt::format("auth = \"{}\" (from {}) conflicts with {} (from {}): remove "
                                    "{} or change auth",
                                    c.auth, where(c, "auth"), key, where(c, key), key));
    };
    if (c.auth != "client_secret" && !secret.empty()) return conflict(secret);
    if (c.auth != "certificate" && !certificate.empty()) return conflict(certificate);
    return {};
  }
  if (!secret.empty() && !certificate.empty()) {
    return util::fail(
        ErrorCode::config,
        fmt::format("both a client secret ({} from {}) and a certificate ({} from {}) are "
                    "configured: remove one, or set auth = \"client_secret\" or \"certificate\"",
                    secret, where(c, secret), certificate, where(c, certificate)));
  }
  if (!certificate.empty()) {
    c.auth = "certificate";
  } else if (!secret.empty()) {
    c.auth = "client_secret";
  } else if (!identity.empty()) {
    c.auth = "managed_identity";
  } else {
    c.auth = "client_secret";  // require_credentials then says what is missing
  }
  return {};
}

}  // namespace mdesync::config
