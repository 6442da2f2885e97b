#include "util/error.hpp"
#include "util/result.hpp"

#include <gtest/gtest.h>

namespace mdesync::util {
namespace {

TEST(Error, DescribeAddsStatusAndRetryAfter) {
  Error e{ErrorCode::rate_limited, "GET /api/machines refused", 429, std::chrono::seconds{30}};
  EXPECT_EQ(e.describe(), "GET /api/machines refused (HTTP 429, retry after 30 s)");
  Error plain{ErrorCode::io, "cannot open x", std::nullopt, std::nullopt};
  EXPECT_EQ(plain.describe(), "cannot open x");
}

TEST(Error, DescribeDoesNotRepeatAStatusTheMessageNames) {
  Error e{ErrorCode::auth, "token request failed (HTTP 401, invalid_client)", 401, std::nullopt};
  EXPECT_EQ(e.describe(), "token request failed (HTTP 401, invalid_client)");
  Error throttled{ErrorCode::rate_limited, "GET x: HTTP 429", 429, std::chrono::seconds{5}};
  EXPECT_EQ(throttled.describe(), "GET x: HTTP 429 (retry after 5 s)");
}

TEST(Result, FailCarriesCodeAndMessage) {
  Result<int> r = fail(ErrorCode::config, "max_retries: expected an integer");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::config);
  EXPECT_EQ(r.error().message, "max_retries: expected an integer");
  EXPECT_EQ(to_string(r.error().code), "config");
}

}  // namespace
}  // namespace mdesync::util
