#include "auth/jwt.hpp"

#include <nlohmann/json.hpp>

namespace mdesync::auth {

util::Result<std::string> base64url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned int buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v = -1;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '-' || c == '+')
      v = 62;
    else if (c == '_' || c == '/')
      v = 63;
    else if (c == '=')
      break;
    else
      return util::fail(util::ErrorCode::parse, "invalid base64url character in token");
    buffer = (buffer << 6U) | static_cast<unsigned int>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> static_cast<unsigned int>(bits)) & 0xFFU));
    }
  }
  return out;
}

util::Result<TokenClaims> decode_claims(std::string_view token) {
  const auto first = token.find('.');
  const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos) {
    return util::fail(util::ErrorCode::parse, "the access token is not a JWT (no three parts)");
  }
  auto payload = base64url_decode(token.substr(first + 1, second - first - 1));
  if (!payload) return util::fail(payload.error());
  TokenClaims claims;
  try {
    const auto doc = nlohmann::json::parse(*payload);
    if (!doc.is_object()) {
      return util::fail(util::ErrorCode::parse, "the access token payload is not a JSON object");
    }
    if (auto it = doc.find("roles"); it != doc.end() && it->is_array()) {
      for (const auto& r : *it) {
        if (r.is_string()) claims.roles.push_back(r.get<std::string>());
      }
    }
    if (auto it = doc.find("aud"); it != doc.end() && it->is_string())
      claims.audience = it->get<std::string>();
    if (auto it = doc.find("tid"); it != doc.end() && it->is_string())
      claims.tenant_id = it->get<std::string>();
    if (auto it = doc.find("appid"); it != doc.end() && it->is_string())
      claims.app_id = it->get<std::string>();
    if (auto it = doc.find("azp"); !claims.app_id && it != doc.end() && it->is_string())
      claims.app_id = it->get<std::string>();
    if (auto it = doc.find("exp"); it != doc.end() && it->is_number())
      claims.expires_at = it->get<long long>();
  } catch (const nlohmann::json::exception&) {
    return util::fail(util::ErrorCode::parse, "the access token payload is not valid JSON");
  }
  return claims;
}

}  // namespace mdesync::auth
