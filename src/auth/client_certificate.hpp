#pragma once

// The certificate credential's signing half: a private key and its certificate loaded
// from a PEM or PKCS#12 file, and the client assertion (a signed JWT) that Microsoft
// identity platform accepts in place of a client secret (docs/adr/0080).

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace mdesync::auth {

enum class AssertionAlgorithm { rs256, ps256 };

struct AssertionOptions {
  std::string client_id;  // iss and sub
  std::string audience;   // aud: the token endpoint the assertion is sent to
  AssertionAlgorithm algorithm = AssertionAlgorithm::ps256;
  bool include_x5c = false;  // the certificate itself in the header (subject name/issuer auth)
  // exp - iat; Entra accepts at most 10 minutes.
  std::chrono::seconds lifetime{300};
};

// A loaded key pair. Never prints or logs the key; the passphrase is used once, while
// loading. Thread-safe after load() (signing does not change the key).
class ClientCertificate {
 public:
  // Reads `path`: PEM (an RSA private key, encrypted or not, and its certificate, in any
  // order) or PKCS#12 (DER). Errors (ErrorCode::config) name the file and what is wrong
  // (unreadable, wrong passphrase, no key, no matching certificate, not RSA); they never
  // hold the passphrase or key material.
  static util::Result<std::shared_ptr<const ClientCertificate>> load(
      const std::string& path, const config::Secret& password);

  ~ClientCertificate();
  ClientCertificate(const ClientCertificate&) = delete;
  ClientCertificate& operator=(const ClientCertificate&) = delete;

  // base64url SHA-256 of the certificate (DER): the header's x5t#S256.
  [[nodiscard]] const std::string& thumbprint_sha256() const { return m_thumbprint; }
  // Standard base64 DER of the certificate: the header's x5c entry.
  [[nodiscard]] const std::string& certificate_base64() const { return m_cert_b64; }

  // A signed client assertion valid from `now` for options.lifetime, with a random jti.
  [[nodiscard]] util::Result<std::string> assertion(const AssertionOptions& options,
                                                    util::SystemTime now) const;

 private:
  struct Keys;
  explicit ClientCertificate(std::unique_ptr<Keys> keys);
  std::unique_ptr<Keys> m_keys;
  std::string m_thumbprint;
  std::string m_cert_b64;
};

// A warning naming `path` when the file can be read by users other than its owner
// (group or others), nullopt otherwise or when it cannot be checked.
std::optional<std::string> key_file_permission_warning(const std::string& path);

// base64url without padding (RFC 7515 section 2).
std::string base64url_encode(std::string_view bytes);

}  // namespace mdesync::auth
