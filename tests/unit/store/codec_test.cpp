#include "store/codec.hpp"

#include <gtest/gtest.h>

namespace mdesync::store {
namespace {

TEST(Codec, TimeIsFixedWidthAndRoundTrips) {
  const auto t = util::parse_timestamp("2025-06-01T08:30:12.5Z").value();
  EXPECT_EQ(encode_time(t), "2025-06-01T08:30:12.500000Z");
  EXPECT_EQ(decode_time(encode_time(t)).value(), t);
  const auto whole = util::parse_timestamp("2025-06-01T08:30:12Z").value();
  EXPECT_EQ(encode_time(whole), "2025-06-01T08:30:12.000000Z");
  EXPECT_LT(encode_time(whole), encode_time(t));  // text order is time order
}

TEST(Codec, ListsAreJsonArrays) {
  const std::vector<std::string> v = {"a", "b\"c", "C:\\x", "line\nbreak", std::string(1, '\x01')};
  const auto text = encode_json_list(v);
  EXPECT_EQ(text, R"(["a","b\"c","C:\\x","line\nbreak","\u0001"])");
  EXPECT_EQ(decode_json_list(text).value(), v);
  EXPECT_EQ(encode_json_list({}), "[]");
  EXPECT_FALSE(decode_json_list("{").has_value());
}

}  // namespace
}  // namespace mdesync::store
