#include "util/json_text.hpp"

#include <gtest/gtest.h>

namespace mdesync::util {
namespace {

std::string as_json(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST(AppendJsonString, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(as_json("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(as_json("line1\nline2\r\t"), R"("line1\nline2\r\t")");
  EXPECT_EQ(as_json(std::string("\x01", 1)), R"("\u0001")");
}

TEST(AppendJsonString, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(as_json("caf\xC3\xA9"),
            "\"caf\xC3\xA9"
            "\"");
  EXPECT_EQ(as_json("bad\xFF"
                    "byte"),
            R"("bad\ufffdbyte")");
  EXPECT_EQ(as_json("cut\xE2\x82"), R"("cut\ufffd\ufffd")");
}

TEST(AppendJsonString, Appends) {
  std::string out = "[";
  append_json_string(out, "x");
  EXPECT_EQ(out, "[\"x\"");
}

}  // namespace
}  // namespace mdesync::util
