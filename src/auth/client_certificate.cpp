#include "auth/client_certificate.hpp"

#include <sys/stat.h>

#include <fstream>
#include <iterator>

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <nlohmann/json.hpp>

namespace mdesync::auth {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct P12Free {
  void operator()(PKCS12* p) const { PKCS12_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;

// The reason OpenSSL gave last (no key material in it), and an empty error queue.
std::string openssl_reason() {
  unsigned long code = 0;
  unsigned long last = 0;
  while ((code = ERR_get_error()) != 0) last = code;
  if (last == 0) return "unknown reason";
  const char* reason = ERR_reason_error_string(last);
  return reason != nullptr ? reason : "unknown reason";
}

std::string base64_std(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

// PEM passphrase callback: `userdata` is the passphrase (may be empty).
int pem_password(char* buf, int size, int /*rwflag*/, void* userdata) {
  const auto* pass = static_cast<const std::string*>(userdata);
  if (pass == nullptr || pass->empty()) return 0;
  const int n = std::min(size, static_cast<int>(pass->size()));
  std::copy_n(pass->data(), n, buf);
  return n;
}

util::Error bad_file(const std::string& path, const std::string& what) {
  return util::Error{util::ErrorCode::config, fmt::format("client certificate {}: {}", path, what),
                     std::nullopt, std::nullopt};
}

std::string random_guid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) return {};
  b[6] = static_cast<unsigned char>((b[6] & 0x0FU) | 0x40U);
  b[8] = static_cast<unsigned char>((b[8] & 0x3FU) | 0x80U);
  std::string hex;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) hex += '-';
    hex += fmt::format("{:02x}", b[i]);
  }
  return hex;
}

}  // namespace

struct ClientCertificate::Keys {
  Key key;
  Cert cert;
};

std::string base64url_encode(std::string_view bytes) {
  std::string s = base64_std(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return s;
}

std::optional<std::string> key_file_permission_warning(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  if ((st.st_mode & (S_IRGRP | S_IROTH)) == 0) return std::nullopt;
  return fmt::format(
      "the private key file {} can be read by other users (mode {:o}); restrict it with "
      "`chmod 600 {}`",
      path, st.st_mode & 0777U, path);
}

ClientCertificate::ClientCertificate(std::unique_ptr<Keys> keys) : m_keys(std::move(keys)) {}
ClientCertificate::~ClientCertificate() = default;

util::Result<std::shared_ptr<const ClientCertificate>> ClientCertificate::load(
    const std::string& path, const config::Secret& password) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return util::fail(bad_file(path, "cannot open the file"));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.empty()) return util::fail(bad_file(path, "the file is empty"));
  ERR_clear_error();
  auto keys = std::make_unique<Keys>();
  const std::string& pass = password.reveal();
  if (bytes.find("-----BEGIN") != std::string::npos) {
    Bio bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
    keys->key.reset(
        PEM_read_bio_PrivateKey(bio.get(), nullptr, pem_password, const_cast<std::string*>(&pass)));
    if (!keys->key) {
      const std::string why = openssl_reason();
      if (bytes.find("PRIVATE KEY-----") == std::string::npos) {
        return util::fail(bad_file(path,
                                   "holds no private key (PEM needs the key and the "
                                   "certificate in one file)"));
      }
      return util::fail(bad_file(
          path, fmt::format("cannot read the private key ({}){}", why,
                            bytes.find("ENCRYPTED") != std::string::npos
                                ? pass.empty() ? "; the key is encrypted and no passphrase is set "
                                                 "(AZURE_CLIENT_CERTIFICATE_PASSWORD or "
                                                 "client_certificate_password_file)"
                                               : "; is the passphrase right?"
                                : "")));
    }
    // Every certificate in the file; the one that matches the key is used.
    Bio certs(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
    while (Cert c{PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr)}) {
      if (X509_check_private_key(c.get(), keys->key.get()) == 1) {
        keys->cert = std::move(c);
        break;
      }
    }
    ERR_clear_error();
  } else {
    Bio bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
    std::unique_ptr<PKCS12, P12Free> p12(d2i_PKCS12_bio(bio.get(), nullptr));
    if (!p12) {
      return util::fail(bad_file(path, "neither PEM nor PKCS#12 (cannot parse it)"));
    }
    EVP_PKEY* key = nullptr;
    X509* cert = nullptr;
    if (PKCS12_parse(p12.get(), pass.c_str(), &key, &cert, nullptr) != 1) {
      ERR_clear_error();
      return util::fail(
          bad_file(path, pass.empty() ? "cannot open the PKCS#12 file: it needs a passphrase "
                                        "(AZURE_CLIENT_CERTIFICATE_PASSWORD or "
                                        "client_certificate_password_file)"
                                      : "cannot open the PKCS#12 file: is the passphrase right?"));
    }
    keys->key.reset(key);
    keys->cert.reset(cert);
    if (!keys->key) return util::fail(bad_file(path, "the PKCS#12 file holds no private key"));
  }
  if (!keys->cert) {
    return util::fail(bad_file(path, "holds no certificate that matches its private key"));
  }
  if (EVP_PKEY_is_a(keys->key.get(), "RSA") != 1) {
    return util::fail(bad_file(
        path, "the key is not an RSA key; Microsoft Entra ID accepts RSA certificates only"));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (X509_digest(keys->cert.get(), EVP_sha256(), md, &md_len) != 1) {
    return util::fail(bad_file(path, "cannot compute the certificate's thumbprint"));
  }
  unsigned char* der = nullptr;
  const int der_len = i2d_X509(keys->cert.get(), &der);
  if (der_len <= 0) return util::fail(bad_file(path, "cannot encode the certificate"));
  std::shared_ptr<ClientCertificate> out(new ClientCertificate(std::move(keys)));
  out->m_thumbprint = base64url_encode(
      std::string_view(reinterpret_cast<const char*>(md), static_cast<std::size_t>(md_len)));
  out->m_cert_b64 = base64_std(der, static_cast<std::size_t>(der_len));
  OPENSSL_free(der);
  return std::shared_ptr<const ClientCertificate>(std::move(out));
}

util::Result<std::string> ClientCertificate::assertion(const AssertionOptions& o,
                                                       util::SystemTime now) const {
  const bool pss = o.algorithm == AssertionAlgorithm::ps256;
  nlohmann::ordered_json header = {
      {"alg", pss ? "PS256" : "RS256"}, {"typ", "JWT"}, {"x5t#S256", m_thumbprint}};
  if (o.include_x5c) header["x5c"] = nlohmann::json::array({m_cert_b64});
  const auto iat = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const std::string jti = random_guid();
  if (jti.empty()) return util::fail(util::ErrorCode::internal, "no random bytes for the jti");
  const nlohmann::ordered_json claims = {{"aud", o.audience},
                                         {"iss", o.client_id},
                                         {"sub", o.client_id},
                                         {"jti", jti},
                                         {"nbf", iat},
                                         {"iat", iat},
                                         {"exp", iat + o.lifetime.count()}};
  const std::string input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());

  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, m_keys->key.get()) != 1 ||
      (pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
               EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))) {
    return util::fail(util::ErrorCode::internal,
                      fmt::format("cannot sign the client assertion ({})", openssl_reason()));
  }
  std::size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) != 1) {
    return util::fail(util::ErrorCode::internal,
                      fmt::format("cannot sign the client assertion ({})", openssl_reason()));
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                     input.size()) != 1) {
    return util::fail(util::ErrorCode::internal,
                      fmt::format("cannot sign the client assertion ({})", openssl_reason()));
  }
  sig.resize(len);
  return input + "." + base64url_encode(sig);
}

}  // namespace mdesync::auth
