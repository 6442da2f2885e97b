#include "defender/inventory_blocks.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace mdesync::defender {
namespace {

TEST(RawDeviceId, FindsThePlainMemberInAnyLetterCase) {
  EXPECT_EQ(raw_device_id(R"({"deviceId":"abc","deviceName":"h"})"), "abc");
  EXPECT_EQ(raw_device_id(R"({"DeviceId":"abc"})"), "abc");
  EXPECT_EQ(raw_device_id(R"({"x":1, "DEVICEID" : "abc"})"), "abc");
  EXPECT_EQ(raw_device_id(R"({"deviceName":"deviceId","deviceId":"abc"})"), "abc");
}

TEST(RawDeviceId, IsEmptyWhenTheValueIsNotAPlainString) {
  EXPECT_EQ(raw_device_id(R"({"deviceId":null})"), "");
  EXPECT_EQ(raw_device_id(R"({"deviceId":42})"), "");
  EXPECT_EQ(raw_device_id(R"({"deviceId":"a\"b"})"), "");
  EXPECT_EQ(raw_device_id(R"({"deviceName":"x"})"), "");
  EXPECT_EQ(raw_device_id(R"({"deviceId":"abc)"), "");
  EXPECT_EQ(raw_device_id(R"({"deviceIdentity":"abc"})"), "");
}

// A gate that records every call and skips the devices it is told to.
class RecordingGate final : public InventoryGate {
 public:
  std::set<std::string> skip_devices;
  bool may = true;  // may_skip()
  struct Call {
    std::string device;
    std::uint64_t lines;
    bool whole;
    BlockDigest digest;
    bool skipped;
  };
  std::vector<Call> calls;
  std::vector<std::pair<std::string, std::size_t>> decoded_blocks;  // device, rows

  [[nodiscard]] std::uint64_t seed() const override { return 7; }
  [[nodiscard]] bool may_skip() const override { return may; }
  bool skip(const InventoryBlock& b) override {
    const bool s = skip_devices.contains(std::string(b.device_id));
    calls.push_back({std::string(b.device_id), b.lines, b.whole, b.digest, s});
    return s;
  }
  void decoded(const InventoryBlock& b, std::span<const InventoryRow> rows) override {
    decoded_blocks.emplace_back(std::string(b.device_id), rows.size());
  }
};

std::string line(const std::string& device, int n) {
  return R"({"deviceId":")" + device + R"(","softwareName":"s)" + std::to_string(n) + R"("})";
}

// A decoder that understands the test lines: deviceId and softwareName only.
util::Status fake_decode(std::string_view text, std::uint64_t line_no, InventoryRow& out) {
  if (text.find("BAD") != std::string_view::npos) {
    return util::fail(util::ErrorCode::parse, "line " + std::to_string(line_no) + " is bad");
  }
  auto value = [&](std::string_view key) {
    const auto k = text.find(key);
    auto colon = text.find(':', k) + 1;
    while (text[colon] == ' ') ++colon;
    if (text[colon] != '"') return std::string();  // null
    const auto start = colon + 1;
    return std::string(text.substr(start, text.find('"', start) - start));
  };
  out.device_id = value("\"deviceId\"");
  out.software_name = value("\"softwareName\"");
  return {};
}

struct SplitRun {
  std::vector<std::string> emitted;  // device/software of delivered rows, in order
  util::Status status;
};

SplitRun split(RecordingGate& gate, const std::vector<std::string>& lines) {
  SplitRun r;
  InventoryBlockSplitter splitter(gate, fake_decode, [&](InventoryRow&& row) -> util::Status {
    r.emitted.push_back(row.device_id + "/" + row.software_name.value_or(""));
    return {};
  });
  std::uint64_t n = 0;
  for (const auto& l : lines) {
    r.status = splitter.line(l, ++n);
    if (!r.status) return r;
  }
  r.status = splitter.finish();
  return r;
}

TEST(InventoryBlockSplitter, OnlyInteriorBlocksAreWholeAndSkippable) {
  RecordingGate gate;
  gate.skip_devices = {"a", "b", "c"};
  const auto r = split(
      gate, {line("a", 1), line("a", 2), line("b", 1), line("b", 2), line("b", 3), line("c", 1)});
  ASSERT_TRUE(r.status);
  ASSERT_EQ(gate.calls.size(), 3U);
  EXPECT_EQ(gate.calls[0].device, "a");
  EXPECT_EQ(gate.calls[0].lines, 2U);
  EXPECT_FALSE(gate.calls[0].whole);  // first block of the file: may continue a previous file
  EXPECT_TRUE(gate.calls[1].whole);
  EXPECT_EQ(gate.calls[1].lines, 3U);
  EXPECT_FALSE(gate.calls[2].whole);  // last block: may continue in the next file
  // b was skipped: neither decoded nor delivered; a and c were, in order.
  EXPECT_EQ(r.emitted, (std::vector<std::string>{"a/s1", "a/s2", "c/s1"}));
  EXPECT_EQ(gate.decoded_blocks,
            (std::vector<std::pair<std::string, std::size_t>>{{"a", 2}, {"c", 1}}));
}

// A gate that can skip nothing has each line decoded as it arrives (no line is held):
// the same blocks, digests, decoded rows and delivered rows, and the same errors.
TEST(InventoryBlockSplitter, AGateThatCannotSkipSeesTheSameBlocksWithoutHeldLines) {
  const std::vector<std::string> lines = {
      line("a", 1), line("a", 2), line("b", 1), R"({"x":1,"softwareName":"n","deviceId":null})",
      line("b", 2), line("c", 1)};
  RecordingGate held;
  RecordingGate streamed;
  streamed.may = false;
  const auto r1 = split(held, lines);
  const auto r2 = split(streamed, lines);
  ASSERT_TRUE(r1.status);
  ASSERT_TRUE(r2.status);
  EXPECT_EQ(r1.emitted, r2.emitted);
  EXPECT_EQ(held.decoded_blocks, streamed.decoded_blocks);
  ASSERT_EQ(held.calls.size(), streamed.calls.size());
  for (std::size_t i = 0; i < held.calls.size(); ++i) {
    EXPECT_EQ(held.calls[i].device, streamed.calls[i].device);
    EXPECT_EQ(held.calls[i].lines, streamed.calls[i].lines);
    EXPECT_EQ(held.calls[i].whole, streamed.calls[i].whole);
    EXPECT_EQ(held.calls[i].digest, streamed.calls[i].digest);
  }
  RecordingGate bad;
  bad.may = false;
  const auto r3 = split(bad, {line("a", 1), line("a", 2) + "BAD"});
  ASSERT_FALSE(r3.status);
  EXPECT_NE(r3.status.error().message.find("line 2"), std::string::npos);
}

TEST(InventoryBlockSplitter, DigestsDependOnEveryLineOfTheBlockOnly) {
  RecordingGate first;
  ASSERT_TRUE(split(first, {line("x", 0), line("a", 1), line("a", 2), line("z", 0)}).status);
  RecordingGate same;
  ASSERT_TRUE(split(same, {line("y", 0), line("a", 1), line("a", 2), line("y", 0)}).status);
  RecordingGate changed;
  ASSERT_TRUE(split(changed, {line("x", 0), line("a", 1), line("a", 3), line("z", 0)}).status);
  RecordingGate fewer;
  ASSERT_TRUE(split(fewer, {line("x", 0), line("a", 1), line("z", 0)}).status);
  EXPECT_EQ(first.calls[1].digest, same.calls[1].digest);  // neighbours do not matter
  EXPECT_NE(first.calls[1].digest, changed.calls[1].digest);
  EXPECT_NE(first.calls[1].digest, fewer.calls[1].digest);
}

TEST(InventoryBlockSplitter, ALineWithoutAPlainDeviceIdIsDecodedAlone) {
  RecordingGate gate;
  gate.skip_devices = {"a", "b"};
  const auto r =
      split(gate, {line("x", 0), line("a", 1), R"({"deviceId" : null, "softwareName":"n"})",
                   line("a", 2), line("b", 1), line("z", 0)});
  ASSERT_TRUE(r.status);
  // x | a(1 line, whole, skipped) | unkeyed (decoded, device "" told to the gate) |
  // a again (whole: the gate sees a second block of a) | b (skipped) | z
  ASSERT_EQ(gate.calls.size(), 6U);
  EXPECT_EQ(gate.calls[2].device, "");
  EXPECT_FALSE(gate.calls[2].whole);
  EXPECT_EQ(gate.calls[3].device, "a");
  EXPECT_EQ(r.emitted, (std::vector<std::string>{"x/s0", "/n", "z/s0"}));
}

TEST(InventoryBlockSplitter, DecodeErrorsKeepTheirLineNumbers) {
  RecordingGate gate;
  const auto r =
      split(gate, {line("x", 0), line("a", 1), R"({"deviceId":"a","BAD":1})", line("b", 1)});
  ASSERT_FALSE(r.status);
  EXPECT_NE(r.status.error().message.find("line 3"), std::string::npos) << r.status.error().message;
}

TEST(InventoryBlockSplitter, CountsSkippedAndDecodedLines) {
  RecordingGate gate;
  gate.skip_devices = {"a"};
  InventoryBlockSplitter splitter(gate, fake_decode,
                                  [](InventoryRow&&) -> util::Status { return {}; });
  std::uint64_t n = 0;
  for (const auto& l : {line("x", 0), line("a", 1), line("a", 2), line("z", 0)}) {
    ASSERT_TRUE(splitter.line(l, ++n));
  }
  ASSERT_TRUE(splitter.finish());
  EXPECT_EQ(splitter.skipped_lines(), 2U);
  EXPECT_EQ(splitter.decoded_lines(), 2U);
}

// ADR 0100: where a finding line's lastSeenTimestamp value is, without decoding it.
std::string value_of(std::string_view line) {
  const auto v = raw_last_seen(line);
  return v ? std::string(line.substr(v->begin, v->end - v->begin)) : std::string("<none>");
}

TEST(RawLastSeen, FindsTheOnePlainMemberInAnyLetterCase) {
  EXPECT_EQ(value_of(R"({"deviceId":"a","lastSeenTimestamp":"2025-06-01 08:00:00","x":1})"),
            "2025-06-01 08:00:00");
  EXPECT_EQ(value_of(R"({"LastSeenTimestamp" : "2025-06-01"})"), "2025-06-01");
  EXPECT_EQ(value_of(R"({"a":"lastSeenTimestamp","LASTSEENTIMESTAMP":"t"})"), "t");
  EXPECT_EQ(value_of(R"({"firstSeenTimestamp":"t0","lastSeenTimestamp":"t1"})"), "t1");
}

TEST(RawLastSeen, IsNoneUnlessExactlyOnePlainStringValue) {
  EXPECT_EQ(value_of(R"({"deviceId":"a"})"), "<none>");
  EXPECT_EQ(value_of(R"({"lastSeenTimestamp":null})"), "<none>");
  EXPECT_EQ(value_of(R"({"lastSeenTimestamp":""})"), "<none>");
  EXPECT_EQ(value_of(R"({"lastSeenTimestamp":"a\u0030"})"), "<none>");
  EXPECT_EQ(value_of(R"({"lastSeenTimestamp":"t1","lastseentimestamp":"t2"})"), "<none>");
  EXPECT_EQ(value_of(R"({"x":"\"lastSeenTimestamp\":\"t\""})"), "<none>");
  EXPECT_EQ(value_of(R"({"lastSeenTimestamp":"unterminated)"), "<none>");
}

TEST(RawLastSeen, FindsTheKeyAtEveryPlaceInALongLine) {
  // Past the 16-byte steps of the scan and at each offset around them.
  for (std::size_t pad = 0; pad < 40; ++pad) {
    const std::string line = "{\"softwareName\":\"" + std::string(pad, 'p') +
                             "\",\"lastSeenTimestamp\":\"t\",\"firstSeenTimestamp\":\"u\"}";
    EXPECT_EQ(value_of(line), "t") << pad;
    EXPECT_EQ(value_of(line + ",\"LastSeenTimestamp\":\"v\""), "<none>") << pad;
  }
}

// A gate that records the finding blocks it is asked about, skips none and, when told,
// selects lines to decode alone.
class FindingRecorder final : public VulnerabilityGate {
 public:
  std::vector<InventoryBlock> blocks;
  std::vector<std::string> last_seen;                              // each block's, copied
  std::vector<std::vector<std::uint64_t>> cores;                   // each block's, copied
  std::map<std::string, std::vector<std::uint32_t>> select_lines;  // device -> lines
  bool take_part = true;
  bool hold = false;                        // may_skip() without select_lines
  std::set<std::string> unchanged_devices;  // unchanged() says true for these
  std::vector<std::string> decoded_rows;    // device ids of the rows given to decoded()
  std::vector<std::string> part_rows;       // ... and to decoded_part()
  [[nodiscard]] std::uint64_t seed() const override { return 7; }
  [[nodiscard]] bool may_skip() const override { return hold || !select_lines.empty(); }
  bool unchanged(const InventoryBlock& b) override {
    return unchanged_devices.contains(std::string(b.device_id));
  }
  bool skip(const InventoryBlock& b) override {
    blocks.push_back(b);
    last_seen.emplace_back(b.last_seen);
    cores.emplace_back(b.cores.begin(), b.cores.end());
    return false;
  }
  void decoded(const InventoryBlock&, std::span<const VulnerabilityRow> rows) override {
    for (const auto& r : rows) decoded_rows.push_back(r.device_id + "/" + r.cve_id.value_or(""));
  }
  std::optional<std::vector<std::uint32_t>> select(const InventoryBlock& b) override {
    const auto it = select_lines.find(std::string(b.device_id));
    if (it == select_lines.end()) return std::nullopt;
    return it->second;
  }
  bool decoded_part(const InventoryBlock&, std::span<const std::uint32_t>,
                    std::span<const VulnerabilityRow> rows) override {
    if (!take_part) return false;
    for (const auto& r : rows) part_rows.push_back(r.device_id + "/" + r.cve_id.value_or(""));
    return true;
  }
};

std::string finding(const std::string& device, const std::string& cve, const std::string& seen) {
  return R"({"deviceId":")" + device + R"(","cveId":")" + cve + R"(","lastSeenTimestamp":")" +
         seen + R"(","isOnboarded":true})";
}

util::Status decode_finding(std::string_view text, std::uint64_t, VulnerabilityRow& row) {
  row.device_id = std::string(raw_device_id(text));
  const auto at = text.find("\"cveId\":\"");
  if (at != std::string_view::npos) {
    const auto begin = at + 9;
    row.cve_id = std::string(text.substr(begin, text.find('"', begin) - begin));
  }
  return {};
}

void split_into(FindingRecorder& gate, const std::vector<std::string>& file,
                std::vector<std::string>* emitted = nullptr) {
  DeviceBlockSplitter<VulnerabilityRow> splitter(
      gate, decode_finding, [&](VulnerabilityRow&& r) -> util::Status {
        if (emitted != nullptr) {
          emitted->push_back(r.device_id + "/" + r.cve_id.value_or(""));
        }
        return {};
      });
  std::uint64_t n = 0;
  for (const auto& l : file) EXPECT_TRUE(splitter.line(l, ++n));
  EXPECT_TRUE(splitter.finish());
}

std::vector<FindingRecorder> split_findings(const std::vector<std::vector<std::string>>& files) {
  std::vector<FindingRecorder> out(files.size());
  for (std::size_t f = 0; f < files.size(); ++f) split_into(out[f], files[f]);
  return out;
}

// A held block that the gate knows by its raw digest is not scanned for its
// lastSeenTimestamp values (the unchanged repeat's cost); its digest is the same whether
// its lines were held or not, and any other held block is scanned at its end.
TEST(FindingBlockSplitter, AHeldBlockTheGateKnowsIsNotScanned) {
  const std::vector<std::string> file = {finding("x", "c", "t"), finding("a", "c1", "T1"),
                                         finding("a", "c2", "T1"), finding("z", "c", "t")};
  FindingRecorder streamed;
  split_into(streamed, file);
  FindingRecorder held;
  held.hold = true;
  split_into(held, file);
  FindingRecorder known;
  known.hold = true;
  known.unchanged_devices = {"a"};
  split_into(known, file);
  ASSERT_EQ(streamed.blocks.size(), 3U);
  ASSERT_EQ(held.blocks.size(), 3U);
  ASSERT_EQ(known.blocks.size(), 3U);
  EXPECT_EQ(streamed.cores[1].size(), 2U);
  EXPECT_EQ(held.cores[1], streamed.cores[1]);
  EXPECT_EQ(held.last_seen[1], "T1");
  EXPECT_TRUE(known.cores[1].empty());
  EXPECT_EQ(known.last_seen[1], "");
  EXPECT_EQ(known.blocks[1].digest, held.blocks[1].digest);
  EXPECT_EQ(streamed.blocks[1].digest, held.blocks[1].digest);
}

TEST(FindingBlockSplitter, EachLinesCoreLeavesOutItsLastSeenValue) {
  const auto r = split_findings({
      {finding("x", "c", "t"), finding("a", "c1", "T1"), finding("a", "c2", "T1"),
       finding("z", "c", "t")},
      // A day later: the same lines but for lastSeenTimestamp.
      {finding("x", "c", "t"), finding("a", "c1", "T2 later"), finding("a", "c2", "T2 later"),
       finding("z", "c", "t")},
      // Another finding.
      {finding("x", "c", "t"), finding("a", "c1", "T1"), finding("a", "c3", "T1"),
       finding("z", "c", "t")},
      // Mixed values within the block.
      {finding("x", "c", "t"), finding("a", "c1", "T1"), finding("a", "c2", "T2"),
       finding("z", "c", "t")},
  });
  const auto& a = r[0].cores[1];
  ASSERT_EQ(a.size(), 2U);
  EXPECT_NE(a[0], a[1]);
  EXPECT_EQ(r[0].last_seen[1], "T1");
  EXPECT_EQ(r[1].last_seen[1], "T2 later");
  EXPECT_EQ(r[1].cores[1], a);
  EXPECT_NE(r[1].blocks[1].digest, r[0].blocks[1].digest);
  EXPECT_EQ(r[2].last_seen[1], "T1");
  ASSERT_EQ(r[2].cores[1].size(), 2U);
  EXPECT_EQ(r[2].cores[1][0], a[0]);
  EXPECT_NE(r[2].cores[1][1], a[1]);
  EXPECT_NE(r[2].blocks[1].digest, r[0].blocks[1].digest);
  EXPECT_EQ(r[3].last_seen[1], "");  // not one value: no cores
  EXPECT_TRUE(r[3].cores[1].empty());
  EXPECT_NE(r[3].blocks[1].digest, r[0].blocks[1].digest);
  // The digest of the same lines is the same.
  EXPECT_EQ(split_findings({{finding("x", "c", "t"), finding("a", "c1", "T1"),
                             finding("a", "c2", "T1"), finding("z", "c", "t")}})[0]
                .blocks[1]
                .digest,
            r[0].blocks[1].digest);
}

TEST(FindingBlockSplitter, ALineWithoutAPlainLastSeenValueLeavesTheBlockWithoutCores) {
  const auto r = split_findings(
      {{finding("x", "c", "t"), finding("a", "c1", "T1"),
        R"({"deviceId":"a","cveId":"c2","lastSeenTimestamp":null})", finding("z", "c", "t")}});
  EXPECT_EQ(r[0].last_seen[1], "");
  EXPECT_TRUE(r[0].cores[1].empty());
  EXPECT_EQ(r[0].last_seen[0], "t");
}

// ADR 0101: the lines the gate selects are the only ones decoded and delivered, unless the
// gate turns their rows down; then every line of the block is.
TEST(FindingBlockSplitter, OnlyTheSelectedLinesAreDecodedWhenTheGateTakesTheirRows) {
  const std::vector<std::string> file = {finding("x", "c", "t"), finding("a", "c1", "T"),
                                         finding("a", "c2", "T"), finding("a", "c3", "T"),
                                         finding("z", "c", "t")};
  FindingRecorder taken;
  taken.select_lines["a"] = {0, 2};
  std::vector<std::string> emitted;
  split_into(taken, file, &emitted);
  EXPECT_EQ(taken.part_rows, (std::vector<std::string>{"a/c1", "a/c3"}));
  EXPECT_EQ(emitted, (std::vector<std::string>{"x/c", "a/c1", "a/c3", "z/c"}));

  FindingRecorder refused;
  refused.select_lines["a"] = {1};
  refused.take_part = false;
  emitted.clear();
  split_into(refused, file, &emitted);
  EXPECT_EQ(emitted, (std::vector<std::string>{"x/c", "a/c1", "a/c2", "a/c3", "z/c"}));
  EXPECT_EQ(refused.decoded_rows, (std::vector<std::string>{"x/c", "a/c1", "a/c2", "a/c3", "z/c"}));
}

}  // namespace
}  // namespace mdesync::defender
