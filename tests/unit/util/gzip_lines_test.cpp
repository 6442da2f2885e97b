#include "util/gzip_lines.hpp"

#include <zlib.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "temp_dir.hpp"

namespace mdesync::util {
namespace {

// Compresses `text` as one gzip member.
std::string gzip(const std::string& text) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, text.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// The inflater under test: each test runs once per inflater this build has.
Inflater g_inflater = Inflater::zlib;

class GzipBackends : public ::testing::TestWithParam<Inflater> {
 protected:
  void SetUp() override { g_inflater = GetParam(); }
};

std::vector<Inflater> inflaters() {
  std::vector<Inflater> out = {Inflater::zlib};
  if (have_isal()) out.push_back(Inflater::isal);
  return out;
}

struct Collected {
  std::vector<std::string> lines;
  Status status;
};

// Feeds `data` in chunks of `chunk` bytes, then finishes.
Collected decode(const std::string& data, std::size_t chunk = 7, std::size_t max_line = 1 << 20) {
  Collected c;
  GzipLineDecoder decoder(max_line, g_inflater);
  auto handler = [&](std::string_view line) -> Status {
    c.lines.emplace_back(line);
    return {};
  };
  for (std::size_t off = 0; off < data.size(); off += chunk) {
    c.status = decoder.feed(std::string_view(data).substr(off, chunk), handler);
    if (!c.status) return c;
  }
  c.status = decoder.finish(handler);
  return c;
}

TEST_P(GzipBackends, SplitsLinesAcrossChunkBoundaries) {
  const auto c = decode(gzip("alpha\nbeta\ngamma\n"), 3);
  ASSERT_TRUE(c.status) << c.status.error().message;
  EXPECT_EQ(c.lines, (std::vector<std::string>{"alpha", "beta", "gamma"}));
}

TEST_P(GzipBackends, StripsCrlf) {
  const auto c = decode(gzip("one\r\ntwo\r\n"));
  ASSERT_TRUE(c.status);
  EXPECT_EQ(c.lines, (std::vector<std::string>{"one", "two"}));
}

TEST_P(GzipBackends, EmitsAFinalLineWithoutNewline) {
  const auto c = decode(gzip("one\ntwo"));
  ASSERT_TRUE(c.status);
  EXPECT_EQ(c.lines, (std::vector<std::string>{"one", "two"}));
}

TEST_P(GzipBackends, EmptyInputIsNoLinesAndNoError) {
  const auto c = decode("");
  ASSERT_TRUE(c.status);
  EXPECT_TRUE(c.lines.empty());
}

TEST_P(GzipBackends, EmptyMemberIsNoLines) {
  const auto c = decode(gzip(""));
  ASSERT_TRUE(c.status);
  EXPECT_TRUE(c.lines.empty());
}

TEST_P(GzipBackends, ReadsConcatenatedMembers) {
  // A line may even be split across members.
  const auto c = decode(gzip("a1\na2\npart") + gzip("ial\nb1\n") + gzip("c1\n"), 5);
  ASSERT_TRUE(c.status) << c.status.error().message;
  EXPECT_EQ(c.lines, (std::vector<std::string>{"a1", "a2", "partial", "b1", "c1"}));
}

TEST_P(GzipBackends, LinesLongerThanTheBuffer) {
  const std::string big(300 * 1024, 'x');  // the output buffer is 64 KiB
  const auto c = decode(gzip("short\n" + big + "\nend\n"), 4096);
  ASSERT_TRUE(c.status);
  ASSERT_EQ(c.lines.size(), 3U);
  EXPECT_EQ(c.lines[1], big);
  EXPECT_EQ(c.lines[2], "end");
}

TEST_P(GzipBackends, LineOverTheLimitIsAnError) {
  const auto c = decode(gzip(std::string(5000, 'y') + "\n"), 100, 1000);
  ASSERT_FALSE(c.status);
  EXPECT_EQ(c.status.error().code, ErrorCode::corrupt_stream);
}

TEST_P(GzipBackends, TruncatedStreamIsAnErrorNotAnEnd) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "{\"row\":" + std::to_string(i) + "}\n";
  const std::string whole = gzip(text);
  for (std::size_t cut : {whole.size() - 1, whole.size() - 8, whole.size() / 2, std::size_t{5}}) {
    const auto c = decode(whole.substr(0, cut));
    ASSERT_FALSE(c.status) << "cut at " << cut;
    EXPECT_EQ(c.status.error().code, ErrorCode::corrupt_stream);
    EXPECT_NE(c.status.error().message.find("truncated"), std::string::npos)
        << c.status.error().message;
  }
}

TEST_P(GzipBackends, CorruptDataIsAnError) {
  std::string data = gzip("hello\nworld\n");
  data[data.size() / 2] = static_cast<char>(data[data.size() / 2] ^ 0x5A);
  data[data.size() / 2 + 1] = static_cast<char>(data[data.size() / 2 + 1] ^ 0x33);
  const auto c = decode(data);
  ASSERT_FALSE(c.status);
  EXPECT_EQ(c.status.error().code, ErrorCode::corrupt_stream);
}

// Found by tests/fuzz/fuzz_gzip_lines: a member whose header sets a reserved flag bit is
// refused by both inflaters (RFC 1952), also when it follows a good member.
TEST_P(GzipBackends, ReservedHeaderFlagsAreRefused) {
  std::string second = gzip("last");
  second[3] = static_cast<char>(second[3] | 0x80);
  for (const std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{64}}) {
    const auto c = decode(gzip("x\n") + second, chunk);
    ASSERT_FALSE(c.status) << chunk;
    EXPECT_EQ(c.status.error().code, ErrorCode::corrupt_stream);
  }
}

TEST_P(GzipBackends, PlainTextIsNotGzip) {
  const auto c = decode("{\"not\":\"compressed\"}\n");
  ASSERT_FALSE(c.status);
  EXPECT_EQ(c.status.error().code, ErrorCode::corrupt_stream);
}

TEST_P(GzipBackends, HandlerErrorStopsDecoding) {
  GzipLineDecoder decoder(1 << 20, g_inflater);
  int seen = 0;
  auto st = decoder.feed(gzip("a\nb\nc\n"), [&](std::string_view) -> Status {
    if (++seen == 2) return fail(ErrorCode::parse, "bad line 2");
    return {};
  });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "bad line 2");
  EXPECT_EQ(seen, 2);
}

TEST_P(GzipBackends, CountsBytesAndLines) {
  const std::string packed = gzip("ab\ncd\n");
  GzipLineDecoder decoder(1 << 20, g_inflater);
  auto ok = [](std::string_view) -> Status { return {}; };
  ASSERT_TRUE(decoder.feed(packed, ok));
  ASSERT_TRUE(decoder.finish(ok));
  EXPECT_EQ(decoder.compressed_bytes(), packed.size());
  EXPECT_EQ(decoder.decompressed_bytes(), 6U);
  EXPECT_EQ(decoder.lines(), 2U);
}

INSTANTIATE_TEST_SUITE_P(Inflaters, GzipBackends, ::testing::ValuesIn(inflaters()),
                         [](const auto& p) {
                           return std::string(p.param == Inflater::isal ? "isal" : "zlib");
                         });

// Both inflaters give the same lines for the same bytes, however they are cut: several
// members of a few hundred KB each, fed in odd chunk sizes.
TEST(GzipLineDecoder, InflatersAgree) {
  if (!have_isal()) GTEST_SKIP() << "this build has no ISA-L";
  std::string packed;
  std::uint64_t x = 88172645463325252ULL;
  for (int member = 0; member < 3; ++member) {
    std::string text;
    for (int i = 0; i < 20000; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      text += "{\"row\":" + std::to_string(i) + ",\"v\":\"" + std::to_string(x % 100000) + "\"}\n";
    }
    packed += gzip(text);
  }
  for (std::size_t chunk : {std::size_t{1} << 16, std::size_t{4093}, std::size_t{97}}) {
    g_inflater = Inflater::zlib;
    const auto z = decode(packed, chunk);
    g_inflater = Inflater::isal;
    const auto i = decode(packed, chunk);
    ASSERT_TRUE(z.status);
    ASSERT_TRUE(i.status) << i.status.error().message;
    EXPECT_EQ(z.lines.size(), 60000U);
    EXPECT_EQ(i.lines, z.lines);
  }
}

TEST(ReadGzipLines, ReadsAFileAndNamesItInErrors) {
  const ::testing_support::TempDir tmp("mdesync-gzip-test");
  const auto& dir = tmp.path();
  const auto good = dir / "good.json.gz";
  const auto bad = dir / "bad.json.gz";
  const std::string packed = gzip("{\"a\":1}\n{\"a\":2}\n");
  std::ofstream(good, std::ios::binary) << packed;
  std::ofstream(bad, std::ios::binary) << packed.substr(0, packed.size() - 4);
  std::vector<std::string> lines;
  auto collect = [&](std::string_view l) -> Status {
    lines.emplace_back(l);
    return {};
  };
  ASSERT_TRUE(read_gzip_lines(good, collect));
  EXPECT_EQ(lines.size(), 2U);
  auto st = read_gzip_lines(bad, collect);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("bad.json.gz"), std::string::npos);
  auto missing = read_gzip_lines(dir / "nope.gz", collect);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::io);
}

}  // namespace
}  // namespace mdesync::util
