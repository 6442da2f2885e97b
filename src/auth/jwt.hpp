#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace mdesync::auth {

// The claims of an access token that mdesync reports on. The signature is not checked:
// the API does that; we only read what we were granted.
struct TokenClaims {
  std::vector<std::string> roles;
  std::optional<std::string> audience;
  std::optional<std::string> tenant_id;
  std::optional<std::string> app_id;
  std::optional<long long> expires_at;  // epoch seconds
};

// Decodes the payload of a JWT (header.payload.signature, base64url). A token that is
// not a JWT is a parse error; the message never contains the token.
util::Result<TokenClaims> decode_claims(std::string_view token);

// base64url (or standard base64) without padding requirements.
util::Result<std::string> base64url_decode(std::string_view text);

}  // namespace mdesync::auth
