#include "sync/inventory_digests.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mdesync::sync {
namespace {

using defender::BlockDigest;
using defender::InventoryBlock;
using defender::InventoryRow;

InventoryRow row(const std::string& device, const std::string& vendor, const std::string& name,
                 const std::string& version, std::optional<std::int64_t> weaknesses = {}) {
  InventoryRow r;
  r.device_id = device;
  r.software_vendor = vendor;
  r.software_name = name;
  r.software_version = version;
  r.number_of_weaknesses = weaknesses;
  return r;
}

VersionAggregate decode(const std::string& encoded) {
  VersionAggregate out;
  EXPECT_TRUE(add_versions(encoded, out));
  return out;
}

TEST(InventoryVersions, CountOneInstallationPerGroupAndTheHighestWeaknesses) {
  const std::vector<InventoryRow> rows = {
      row("d", "Mozilla", "Firefox", "1.0", 3), row("d", "Mozilla", "Firefox", "1.0", 5),
      row("d", "Mozilla", "Firefox", "2.0"),    row("d", "Google", "Chrome", "9", 0),
      row("d", "Mozilla", "Firefox", "1.0", 1),  // a second group of the same software
  };
  const auto agg = decode(encode_versions(rows));
  ASSERT_EQ(agg.size(), 2U);
  const auto& ff = agg.at("mozilla-_-firefox");
  EXPECT_EQ(ff.at("1.0").installations, 2);
  EXPECT_EQ(ff.at("1.0").vulnerabilities, 5);
  EXPECT_EQ(ff.at("2.0").installations, 1);
  EXPECT_EQ(ff.at("2.0").vulnerabilities, std::nullopt);
  EXPECT_EQ(agg.at("google-_-chrome").at("9").vulnerabilities, 0);
}

TEST(InventoryVersions, ContributionsAddUp) {
  VersionAggregate agg;
  ASSERT_TRUE(add_versions(encode_versions(std::vector{row("a", "V", "N", "1", 2)}), agg));
  ASSERT_TRUE(add_versions(encode_versions(std::vector{row("b", "V", "N", "1", 7)}), agg));
  ASSERT_TRUE(add_versions(encode_versions(std::vector{row("c", "V", "N", "1")}), agg));
  EXPECT_EQ(agg.at("v-_-n").at("1").installations, 3);
  EXPECT_EQ(agg.at("v-_-n").at("1").vulnerabilities, 7);
  ASSERT_TRUE(add_versions("", agg));
}

TEST(InventoryVersions, TruncatedBytesAreRejected) {
  const auto encoded = encode_versions(std::vector{row("a", "Vendor", "Name", "1.2.3", 2)});
  VersionAggregate agg;
  EXPECT_FALSE(add_versions(std::string_view(encoded).substr(0, encoded.size() - 1), agg));
  EXPECT_FALSE(add_versions("\xff", agg));
}

TEST(InventoryDigestBytes, RoundTrip) {
  const BlockDigest d{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  const auto bytes = digest_bytes(d);
  EXPECT_EQ(bytes.size(), 16U);
  EXPECT_EQ(digest_from_bytes(bytes), d);
  EXPECT_EQ(digest_from_bytes("short"), std::nullopt);
}

InventoryBlock block(std::string_view device, BlockDigest d, bool whole, std::uint64_t lines = 2) {
  return InventoryBlock{device, d, lines, whole, {}, {}};
}

const BlockDigest k_a{1, 1};
const BlockDigest k_b{2, 2};

TEST(InventoryDigests, SkipsOnlyAWholeBlockWithTheStoredDigest) {
  InventoryDigests gate(1, true, true);
  gate.add_stored("same", {k_a, true, {}});
  gate.add_stored("changed", {k_a, true, {}});
  gate.add_stored("edge", {k_a, true, {}});
  gate.add_stored("no-versions", {k_a, false, {}});
  EXPECT_EQ(gate.skipped_lines(), 0U);
  EXPECT_TRUE(gate.skip(block("same", k_a, true, 5)));
  EXPECT_EQ(gate.skipped_lines(), 5U);  // counted while streaming (WriteContext::lines_skipped)
  EXPECT_FALSE(gate.skip(block("changed", k_b, true)));
  EXPECT_FALSE(gate.skip(block("edge", k_a, false)));
  EXPECT_FALSE(gate.skip(block("no-versions", k_a, true)));  // versions are being counted
  EXPECT_FALSE(gate.skip(block("new", k_a, true)));
  EXPECT_FALSE(gate.conflict());
  EXPECT_EQ(gate.skipped_lines(), 5U);  // the blocks decoded do not count
  EXPECT_EQ(gate.skipped(), (std::vector<std::pair<std::string, std::uint64_t>>{{"same", 5}}));
  // Kept for the next read: devices met once, in a whole block.
  EXPECT_TRUE(gate.keep("same"));
  EXPECT_TRUE(gate.keep("changed"));
  EXPECT_FALSE(gate.keep("edge"));
  EXPECT_EQ(gate.stale_stored(), (std::vector<std::string>{"edge"}));
}

TEST(InventoryDigests, WithoutVersionCountingStoredVersionsAreNotNeeded) {
  InventoryDigests gate(1, true, false);
  gate.add_stored("d", {k_a, false, {}});
  EXPECT_TRUE(gate.skip(block("d", k_a, true)));
}

TEST(InventoryDigests, NothingIsSkippedWhenSkippingIsOff) {
  InventoryDigests gate(1, false, false);
  gate.add_stored("d", {k_a, true, {}});
  EXPECT_FALSE(gate.skip(block("d", k_a, true)));
  EXPECT_TRUE(gate.keep("d"));
}

TEST(InventoryDigests, ASkippedDeviceMetAgainIsAConflict) {
  InventoryDigests gate(1, true, false);
  gate.add_stored("d", {k_a, true, {}});
  ASSERT_TRUE(gate.skip(block("d", k_a, true)));
  EXPECT_FALSE(gate.skip(block("d", k_b, false)));
  EXPECT_TRUE(gate.conflict());
  EXPECT_FALSE(gate.keep("d"));
  EXPECT_EQ(gate.stale_stored(), (std::vector<std::string>{"d"}));
}

TEST(InventoryDigests, ADeviceInTwoDecodedBlocksIsNotAConflictButKeepsNoDigest) {
  InventoryDigests gate(1, true, false);
  EXPECT_FALSE(gate.skip(block("d", k_a, true)));
  EXPECT_FALSE(gate.skip(block("d", k_a, true)));  // not skipped: the device was met before
  EXPECT_FALSE(gate.conflict());
  EXPECT_FALSE(gate.keep("d"));
}

TEST(InventoryDigests, DecodedBlocksCarryTheirContribution) {
  InventoryDigests gate(1, true, true);
  const std::vector<InventoryRow> rows = {row("d", "V", "N", "1", 4)};
  gate.decoded(block("d", k_a, true, 1), rows);
  const auto decoded = gate.take_decoded();
  ASSERT_EQ(decoded.size(), 1U);
  EXPECT_EQ(decoded[0].device_id, "d");
  EXPECT_EQ(decoded[0].digest, k_a);
  EXPECT_TRUE(decoded[0].whole);
  EXPECT_EQ(decoded[0].versions, encode_versions(rows));
  EXPECT_TRUE(gate.take_decoded().empty());
  EXPECT_FALSE(gate.conflict());
}

TEST(InventoryDigests, ARowOfAnotherDeviceInABlockIsAConflict) {
  InventoryDigests gate(1, true, false);
  const std::vector<InventoryRow> rows = {row("d", "V", "N", "1"), row("e", "V", "N", "1")};
  gate.decoded(block("d", k_a, true), rows);
  EXPECT_TRUE(gate.conflict());
}

// ADR 0101: finding blocks stored line by line (core digest and finding per line).
TEST(FindingDigestBytes, LineFormRoundTripsAndIsNotAPlainDigest) {
  const LineDigests lines{
      "2025-06-01 08:00:00", {7, 0xFFFFFFFFFFFFFFFFULL, 9}, {3, 0, 0xABCDEF01}, std::nullopt};
  const auto bytes = line_digest_bytes(lines);
  EXPECT_EQ(digest_from_bytes(bytes), std::nullopt);
  const auto back = line_digests_from_bytes(bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->last_seen, lines.last_seen);
  EXPECT_EQ(back->cores, lines.cores);
  EXPECT_EQ(back->ids, lines.ids);
  EXPECT_EQ(line_digests_from_bytes(digest_bytes(BlockDigest{7, 9})), std::nullopt);
  EXPECT_EQ(line_digests_from_bytes(bytes.substr(0, bytes.size() - 1)), std::nullopt);
  EXPECT_EQ(line_digests_from_bytes(bytes + "x"), std::nullopt);
  EXPECT_EQ(raw_of_line_digests(bytes), std::nullopt);
  // With the raw digest of the block they were read from ('Q'), readable without the rest.
  LineDigests with_raw = lines;
  with_raw.raw = BlockDigest{0x0102030405060708ULL, 0xF0E0D0C0B0A09080ULL};
  const auto q = line_digest_bytes(with_raw);
  EXPECT_EQ(raw_of_line_digests(q), with_raw.raw);
  const auto back_q = line_digests_from_bytes(q);
  ASSERT_TRUE(back_q);
  EXPECT_EQ(back_q->raw, with_raw.raw);
  EXPECT_EQ(back_q->cores, lines.cores);
  EXPECT_EQ(back_q->ids, lines.ids);
  EXPECT_EQ(line_digests_from_bytes(q.substr(0, 10)), std::nullopt);
}

TEST(FindingDigestBytes, LastSeenTimeReadsTheValueAsTheDecoderDoes) {
  EXPECT_EQ(last_seen_time(" 2025-06-01 08:00:00 "),
            *util::parse_timestamp("2025-06-01T08:00:00Z"));
  EXPECT_EQ(last_seen_time("2025-06-01T08:00:00.1234567Z"),
            *util::parse_timestamp("2025-06-01T08:00:00.123456Z"));
  EXPECT_EQ(last_seen_time("yesterday"), std::nullopt);
  EXPECT_EQ(last_seen_time("  "), std::nullopt);
  EXPECT_EQ(last_seen_time("2025-06-01\t"), std::nullopt);
}

const std::string k_t1 = "2025-06-01 08:00:00";
const std::string k_t2 = "2025-06-02 09:30:00";

InventoryBlock finding_block(std::string_view device, BlockDigest digest,
                             const std::vector<std::uint64_t>& cores, std::string_view last_seen) {
  return InventoryBlock{device, digest, cores.size(), true, last_seen, cores};
}

// The rows of the test: their cveId is their identity (0 without one).
std::optional<std::uint32_t> test_identity(const defender::VulnerabilityRow& r) {
  if (!r.cve_id) return 0U;
  if (*r.cve_id == "no-identity") return std::nullopt;
  return static_cast<std::uint32_t>(std::stoul(*r.cve_id));
}

defender::VulnerabilityRow finding_row(const std::string& device, std::optional<int> cve,
                                       const std::string& seen) {
  defender::VulnerabilityRow r;
  r.device_id = device;
  if (cve) r.cve_id = std::to_string(*cve);
  r.last_seen_timestamp = *util::parse_timestamp(seen);
  return r;
}

std::string stored_lines(const std::vector<std::uint64_t>& cores,
                         const std::vector<std::uint32_t>& ids, const std::string& t,
                         std::optional<BlockDigest> raw = std::nullopt) {
  return line_digest_bytes(LineDigests{t, cores, ids, raw});
}

// Lines stored with the raw digest of their block: the same raw lines are known without
// their cores (unchanged(), so the splitter does not scan them) and skipped as they are;
// other raw lines are not, and are judged by their cores as before.
TEST(FindingDigests, TheSameRawLinesAreKnownWithoutTheirCores) {
  FindingDigests gate(1, true, false);
  gate.set_identity(test_identity);
  gate.add_stored("same", {{}, false, stored_lines({1, 2}, {11, 12}, k_t1, k_a)});
  gate.add_stored("moved", {{}, false, stored_lines({1, 2}, {11, 12}, k_t1, k_a)});
  gate.add_stored("old", {{}, false, stored_lines({1, 2}, {11, 12}, k_t1)});
  const InventoryBlock same{"same", k_a, 2, true, {}, {}};  // two lines, not scanned
  EXPECT_TRUE(gate.unchanged(same));
  EXPECT_FALSE(gate.unchanged(finding_block("moved", k_b, {}, "")));
  EXPECT_FALSE(gate.unchanged(finding_block("old", k_a, {}, "")));  // stored without it
  EXPECT_FALSE(gate.unchanged(finding_block("unknown", k_a, {}, "")));
  EXPECT_TRUE(gate.skip(same));
  EXPECT_TRUE(gate.skip(finding_block("moved", k_b, {1, 2}, k_t2)));
  EXPECT_FALSE(gate.skip(finding_block("old", k_a, {}, "")));
  EXPECT_EQ(gate.skipped(),
            (std::vector<std::pair<std::string, std::uint64_t>>{{"moved", 2}, {"same", 2}}));
  ASSERT_EQ(gate.moved().size(), 1U);
  EXPECT_EQ(gate.moved()[0].device_id, "moved");
}

TEST(FindingDigests, TheSameCoresAreSkippedAndAMovedLastSeenIsReported) {
  FindingDigests gate(1, true, false);
  gate.set_identity(test_identity);
  const auto stored = stored_lines({1, 2}, {11, 12}, k_t1);
  for (const char* d : {"same", "moved", "reordered", "changed", "mixed", "bad-time"}) {
    gate.add_stored(d, {{}, false, stored});
  }
  gate.add_stored("plain", {k_a, false, {}});
  EXPECT_TRUE(gate.skip(finding_block("same", k_b, {1, 2}, k_t1)));
  EXPECT_TRUE(gate.skip(finding_block("moved", k_b, {1, 2}, k_t2)));
  EXPECT_TRUE(gate.skip(finding_block("reordered", k_b, {2, 1}, k_t1)));
  EXPECT_FALSE(gate.skip(finding_block("changed", k_a, {1, 3}, k_t1)));
  EXPECT_FALSE(gate.skip(finding_block("mixed", k_b, {}, "")));  // lines without one value
  EXPECT_FALSE(gate.skip(finding_block("bad-time", k_b, {1, 2}, "soon")));
  // A digest of the whole lines still matches them exactly.
  EXPECT_TRUE(gate.skip(finding_block("plain", k_a, {1, 2}, k_t2)));
  EXPECT_EQ(gate.skipped(), (std::vector<std::pair<std::string, std::uint64_t>>{
                                {"moved", 2}, {"plain", 2}, {"reordered", 2}, {"same", 2}}));
  const auto moved = gate.moved();
  ASSERT_EQ(moved.size(), 1U);
  EXPECT_EQ(moved[0].device_id, "moved");
  EXPECT_EQ(moved[0].last_found, *util::parse_timestamp(k_t2));
  EXPECT_EQ(moved[0].stored, stored_lines({1, 2}, {11, 12}, k_t2, k_b));
}

TEST(FindingDigests,
     ADecodedBlockIsStoredLineByLineOnlyWhenEveryFindingIsDistinctAndHasItsLastSeen) {
  FindingDigests gate(1, true, false);
  gate.set_identity(test_identity);
  const auto r1 = finding_row("d", 11, k_t1);
  const auto r2 = finding_row("d", 12, k_t1);
  const auto none = finding_row("d", std::nullopt, "2020-01-01 00:00:00");  // makes no finding
  gate.decoded(finding_block("d", k_a, {1, 2, 3}, k_t1), std::vector{r1, r2, none});
  // A row whose lastSeenTimestamp is not the value found in the raw line (a nested
  // member of that name, say): the lines are stored by their full digest.
  auto other = r2;
  other.last_seen_timestamp = *util::parse_timestamp(k_t2);
  gate.decoded(finding_block("e", k_a, {1, 2}, k_t1), std::vector{r1, other});
  // Two rows of one finding (merged when read): not line by line.
  gate.decoded(finding_block("f", k_a, {1, 2}, k_t1), std::vector{r1, r1});
  // A row whose finding the identity cannot tell.
  gate.decoded(finding_block("g", k_a, {1}, k_t1), std::vector{finding_row("g", {}, k_t1)});
  auto unknown = finding_row("g", 0, k_t1);
  unknown.cve_id = "no-identity";
  gate.decoded(finding_block("h", k_a, {1}, k_t1), std::vector{unknown});
  // Lines without one lastSeenTimestamp value.
  gate.decoded(finding_block("i", k_a, {}, ""), std::vector{r1});
  const auto decoded = gate.take_decoded();
  ASSERT_EQ(decoded.size(), 6U);
  EXPECT_EQ(decoded[0].stored, stored_lines({1, 2, 3}, {11, 12, 0}, k_t1, k_a));
  EXPECT_EQ(decoded[1].stored, digest_bytes(k_a));
  EXPECT_EQ(decoded[2].stored, digest_bytes(k_a));
  EXPECT_EQ(decoded[3].stored, stored_lines({1}, {0}, k_t1, k_a));
  EXPECT_EQ(decoded[4].stored, digest_bytes(k_a));
  EXPECT_EQ(decoded[5].stored, digest_bytes(k_a));
}

// ADR 0101: of a block with a few new cores only those lines are decoded; the others
// stand for their stored findings when the decoded rows account for every finding.
TEST(FindingDigests, OnlyTheLinesWithNewCoresAreDecodedWhenTheRowsAccountForEveryFinding) {
  FindingDigests gate(1, true, false);
  gate.set_identity(test_identity);
  const auto stored = stored_lines({1, 2, 3, 4, 5}, {11, 12, 13, 14, 0}, k_t1);
  for (const char* d :
       {"changed", "added", "gone", "patched", "dup", "moved-row", "many", "mixed"}) {
    gate.add_stored(d, {{}, false, stored});
  }
  auto sel = [](std::initializer_list<std::uint32_t> l) {
    return std::optional<std::vector<std::uint32_t>>(l);
  };
  auto partial = [&](const std::string& device, const std::vector<std::uint64_t>& cores,
                     const std::string& t, const std::vector<defender::VulnerabilityRow>& rows,
                     std::optional<std::vector<std::uint32_t>> expect_lines) {
    const auto block = finding_block(device, k_a, cores, t);
    EXPECT_FALSE(gate.skip(block)) << device;
    const auto lines = gate.select(block);
    EXPECT_EQ(lines, expect_lines) << device;
    if (!lines) return false;
    return gate.decoded_part(block, *lines, rows);
  };
  // Line 2 changed its content, not its finding: decoded alone.
  EXPECT_TRUE(
      partial("changed", {1, 22, 3, 4, 5}, k_t2, {finding_row("changed", 12, k_t2)}, sel({1})));
  // A new finding.
  EXPECT_TRUE(
      partial("added", {1, 2, 3, 4, 5, 6}, k_t1, {finding_row("added", 16, k_t1)}, sel({5})));
  // A finding is gone (line 3's), another changed: the changed line is decoded, the gone
  // finding is named by its identity (ADR 0111).
  EXPECT_TRUE(partial("gone", {1, 22, 4, 5}, k_t1, {finding_row("gone", 12, k_t1)}, sel({1})));
  // Only a finding gone (a patch): nothing to decode.
  EXPECT_TRUE(partial("patched", {1, 2, 4, 5}, k_t2, {}, sel({})));
  // A new line of a finding a kept line makes.
  EXPECT_FALSE(partial("dup", {1, 2, 3, 4, 5, 6}, k_t1, {finding_row("dup", 11, k_t1)}, sel({5})));
  // A decoded row whose lastSeenTimestamp is not the block's.
  EXPECT_FALSE(
      partial("moved-row", {1, 22, 3, 4, 5}, k_t1, {finding_row("moved-row", 12, k_t2)}, sel({1})));
  // Most lines new: all decoded, nothing selected.
  EXPECT_FALSE(partial("many", {1, 22, 33, 44, 5}, k_t1, {}, std::nullopt));
  // Lines without one value: nothing selected.
  EXPECT_FALSE(partial("mixed", {}, "", {}, std::nullopt));

  const auto parts = gate.partial();
  ASSERT_EQ(parts.size(), 4U);
  EXPECT_EQ(parts[0].device_id, "added");
  EXPECT_EQ(parts[0].known_lines, 5);
  EXPECT_EQ(parts[0].known_findings, 4);
  EXPECT_EQ(parts[0].expected_open, 5);
  EXPECT_EQ(parts[0].last_found, std::nullopt);
  EXPECT_EQ(parts[1].device_id, "changed");
  EXPECT_EQ(parts[1].known_lines, 4);
  EXPECT_EQ(parts[1].known_findings, 3);
  EXPECT_EQ(parts[1].expected_open, 4);
  EXPECT_EQ(parts[1].last_found, *util::parse_timestamp(k_t2));
  EXPECT_TRUE(parts[1].gone.empty());
  EXPECT_EQ(parts[2].device_id, "gone");
  EXPECT_EQ(parts[2].known_lines, 3);
  EXPECT_EQ(parts[2].known_findings, 2);
  EXPECT_EQ(parts[2].expected_open, 3);
  EXPECT_EQ(parts[2].gone, std::vector<std::uint32_t>{13});
  EXPECT_EQ(parts[3].device_id, "patched");
  EXPECT_EQ(parts[3].known_lines, 4);
  EXPECT_EQ(parts[3].expected_open, 3);
  EXPECT_EQ(parts[3].last_found, *util::parse_timestamp(k_t2));
  EXPECT_EQ(parts[3].gone, std::vector<std::uint32_t>{13});
  EXPECT_TRUE(gate.skipped().empty());
  // Their digests are the new lines'.
  const auto decoded = gate.take_decoded();
  ASSERT_EQ(decoded.size(), 4U);
  EXPECT_EQ(decoded[2].stored, stored_lines({1, 22, 4, 5}, {11, 12, 14, 0}, k_t1, k_a));
  EXPECT_EQ(decoded[3].stored, stored_lines({1, 2, 4, 5}, {11, 12, 14, 0}, k_t2, k_a));
  EXPECT_EQ(decoded[0].stored, stored_lines({1, 22, 3, 4, 5}, {11, 12, 13, 14, 0}, k_t2, k_a));
  EXPECT_EQ(decoded[1].stored,
            stored_lines({1, 2, 3, 4, 5, 6}, {11, 12, 13, 14, 0, 16}, k_t1, k_a));
  // A partly decoded device met again makes the read unsafe.
  EXPECT_FALSE(gate.conflict());
  EXPECT_FALSE(gate.skip(finding_block("changed", k_a, {7}, k_t2)));
  EXPECT_TRUE(gate.conflict());
}

}  // namespace
}  // namespace mdesync::sync
