#pragma once

// A throwaway RSA key and self-signed certificate for the certificate sign-in tests,
// written as PEM (key + certificate, the key optionally encrypted), as a certificate
// alone (what gets registered on the application) and as PKCS#12. OpenSSL 3 directly.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mdesync::testing {

struct TestCertificate {
  std::shared_ptr<EVP_PKEY> key;
  std::shared_ptr<X509> cert;

  static TestCertificate make(const std::string& cn = "mdesync-test", int bits = 2048) {
    TestCertificate t;
    t.key.reset(EVP_RSA_gen(static_cast<unsigned>(bits)), EVP_PKEY_free);
    if (!t.key) throw std::runtime_error("EVP_RSA_gen");
    t.cert.reset(X509_new(), X509_free);
    X509_set_version(t.cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(t.cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(t.cert.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(t.cert.get()), 3600L * 24 * 365);
    X509_set_pubkey(t.cert.get(), t.key.get());
    X509_NAME* name = X509_get_subject_name(t.cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(t.cert.get(), name);
    if (X509_sign(t.cert.get(), t.key.get(), EVP_sha256()) == 0) {
      throw std::runtime_error("X509_sign");
    }
    return t;
  }

  // Key then certificate in one PEM file; the key encrypted with `passphrase` if given.
  void write_pem(const std::string& path, const std::string& passphrase = {},
                 bool cert_first = false) const {
    std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "wb"), std::fclose);
    if (!f) throw std::runtime_error("open " + path);
    if (cert_first) PEM_write_X509(f.get(), cert.get());
    const EVP_CIPHER* cipher = passphrase.empty() ? nullptr : EVP_aes_256_cbc();
    PEM_write_PKCS8PrivateKey(f.get(), key.get(), cipher,
                              passphrase.empty() ? nullptr : const_cast<char*>(passphrase.c_str()),
                              static_cast<int>(passphrase.size()), nullptr, nullptr);
    if (!cert_first) PEM_write_X509(f.get(), cert.get());
  }

  void write_certificate(const std::string& path) const {
    std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "wb"), std::fclose);
    if (!f) throw std::runtime_error("open " + path);
    PEM_write_X509(f.get(), cert.get());
  }

  void write_pkcs12(const std::string& path, const std::string& passphrase) const {
    std::unique_ptr<PKCS12, decltype(&PKCS12_free)> p12(
        PKCS12_create(passphrase.c_str(), "mdesync", key.get(), cert.get(), nullptr, 0, 0, 0, 0, 0),
        PKCS12_free);
    if (!p12) throw std::runtime_error("PKCS12_create");
    std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "wb"), std::fclose);
    if (!f) throw std::runtime_error("open " + path);
    i2d_PKCS12_fp(f.get(), p12.get());
  }

  // base64url SHA-256 of the DER certificate, computed here independently.
  [[nodiscard]] std::string thumbprint_s256() const {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    X509_digest(cert.get(), EVP_sha256(), md, &len);
    std::string b64(4 * ((len + 2) / 3) + 1, '\0');
    b64.resize(static_cast<std::size_t>(
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), md, static_cast<int>(len))));
    while (!b64.empty() && b64.back() == '=') b64.pop_back();
    for (char& c : b64) {
      if (c == '+') c = '-';
      if (c == '/') c = '_';
    }
    return b64;
  }

  static std::string base64url(std::string_view bytes) {
    std::string b64(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    b64.resize(static_cast<std::size_t>(EVP_EncodeBlock(
        reinterpret_cast<unsigned char*>(b64.data()),
        reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()))));
    while (!b64.empty() && b64.back() == '=') b64.pop_back();
    for (char& c : b64) {
      if (c == '+') c = '-';
      if (c == '/') c = '_';
    }
    return b64;
  }

  // header.claims.signature with this key (RS256 or PS256), for tests that need an
  // assertion the client would never make (expired, for another audience).
  [[nodiscard]] std::string sign_jwt(const std::string& alg, const std::string& header_json,
                                     const std::string& claims_json) const {
    const std::string input = base64url(header_json) + "." + base64url(claims_json);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_PKEY_CTX* pctx = nullptr;
    EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key.get());
    if (alg == "PS256") {
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    std::size_t len = 0;
    EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    sig.resize(len);
    return input + "." + base64url(sig);
  }

  // Verifies `sig` over `input` with the certificate's public key: RS256 or PS256.
  [[nodiscard]] bool verify(const std::string& alg, const std::string& input,
                            const std::string& sig) const {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_PKEY_CTX* pctx = nullptr;
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pub(X509_get_pubkey(cert.get()),
                                                            EVP_PKEY_free);
    if (EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, pub.get()) != 1) return false;
    if (alg == "PS256") {
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    } else if (alg != "RS256") {
      return false;
    }
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                            sig.size(), reinterpret_cast<const unsigned char*>(input.data()),
                            input.size()) == 1;
  }
};

}  // namespace mdesync::testing
