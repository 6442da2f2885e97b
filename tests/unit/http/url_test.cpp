#include "http/url.hpp"
#include "http/http_client.hpp"

#include <gtest/gtest.h>

namespace mdesync::http {
namespace {

TEST(Url, ParsesOriginPathAndQuery) {
  auto u = parse_url("HTTPS://Api.Security.Microsoft.com:443/api/machines?$skip=10000");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->origin(), "https://api.security.microsoft.com");
  EXPECT_EQ(u->path, "/api/machines");
  EXPECT_EQ(u->query, "$skip=10000");
  auto local = parse_url("http://127.0.0.1:8080");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->origin(), "http://127.0.0.1:8080");
  EXPECT_EQ(local->path, "/");
  EXPECT_FALSE(parse_url("ftp://x/y"));
  EXPECT_FALSE(parse_url("/relative"));
}

TEST(Url, RedactionDropsTheSasQuery) {
  EXPECT_EQ(redact_url("https://acct.blob.core.windows.net/c/part-0.json.gz?sv=1&sig=SECRET"),
            "https://acct.blob.core.windows.net/c/part-0.json.gz");
  EXPECT_EQ(redact_url("https://user:pw@host/p?q"), "https://host/p");
}

TEST(Url, Encoding) {
  EXPECT_EQ(url_encode("a b'c/:"), "a%20b%27c%2F%3A");
  EXPECT_EQ(form_encode({{"scope", "https://x/.default"}, {"k", "v&w"}}),
            "scope=https%3A%2F%2Fx%2F.default&k=v%26w");
  EXPECT_EQ(append_query(append_query("http://h/p", "$top", "1"), "$filter", "a eq 'b'"),
            "http://h/p?$top=1&$filter=a%20eq%20%27b%27");
}

TEST(Headers, CaseInsensitiveLookup) {
  Headers h{{"Retry-After", "5"}};
  EXPECT_EQ(find_header(h, "retry-after"), "5");
  EXPECT_FALSE(find_header(h, "x"));
}

}  // namespace
}  // namespace mdesync::http
