#include "auth/credentials.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "auth/client_certificate.hpp"
#include "auth/client_secret_credential.hpp"
#include "auth/managed_identity_credential.hpp"

namespace mdesync::auth {

util::Result<Credential> make_credential(const config::Config& config, http::HttpClient& http,
                                         util::Clock& clock, util::Sleeper& sleeper,
                                         const http::RetryContext& retry) {
  Credential out;
  if (config.auth == "managed_identity") {
    auto options = ManagedIdentityOptions::from_config(config);
    options.cancel = retry.cancel;
    options.counters = retry.counters;
    auto cred =
        std::make_unique<ManagedIdentityCredential>(std::move(options), http, clock, sleeper);
    auto* raw = cred.get();
    out.fetch_count = [raw] { return raw->fetch_count(); };
    out.provider = std::move(cred);
    return out;
  }
  auto options = CredentialOptions::from_config(config);
  if (config.auth == "certificate") {
    if (auto warning = key_file_permission_warning(config.client_certificate_path)) {
      spdlog::warn("{}", *warning);
    }
    auto cert =
        ClientCertificate::load(config.client_certificate_path, config.client_certificate_password);
    if (!cert) return util::fail(std::move(cert.error()));
    options.client_secret = config::Secret{};
    options.client_assertion = [cert = *cert, client_id = config.client_id](const std::string& url,
                                                                            util::SystemTime now) {
      AssertionOptions a;
      a.client_id = client_id;
      a.audience = url;
      return cert->assertion(a, now);
    };
  }
  auto cred = std::make_unique<ClientSecretCredential>(std::move(options), http, clock, retry);
  auto* raw = cred.get();
  out.fetch_count = [raw] { return raw->fetch_count(); };
  out.provider = std::move(cred);
  return out;
}

std::string describe_credential(const config::Config& config) {
  if (config.auth == "managed_identity") {
    const std::string who = config.client_id.empty()
                                ? std::string("system-assigned")
                                : fmt::format("user-assigned, client {}", config.client_id);
    return fmt::format("managed identity ({}, {} endpoint)", who,
                       config.identity_endpoint.empty() ? "instance metadata" : "App Service");
  }
  if (config.auth == "certificate") {
    return fmt::format("certificate (client {}, {})", config.client_id,
                       config.client_certificate_path);
  }
  return fmt::format("client secret (client {})", config.client_id);
}

}  // namespace mdesync::auth
