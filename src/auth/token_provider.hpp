#pragma once

#include <string>

#include "util/result.hpp"

namespace mdesync::auth {

// Supplies bearer tokens for the Defender API.
class TokenProvider {
 public:
  virtual ~TokenProvider() = default;

  // A token valid for at least the refresh margin; cached between calls. Errors are
  // ErrorCode::auth (credentials refused, with the AADSTS code and an explanation) or
  // transport/retries_exhausted. Blocks while a token is fetched. Thread-safe.
  virtual util::Result<std::string> token() = 0;

  // Drops `token` from the cache (after the API answered 401 to it) so the next
  // token() fetches a fresh one. A newer cached token is kept. Thread-safe.
  virtual void invalidate(const std::string& token) = 0;
};

}  // namespace mdesync::auth
