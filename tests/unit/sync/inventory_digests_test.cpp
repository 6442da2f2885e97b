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
  EXPECT_TRUE(gate.skip(block("same", k_a, true, 5)));
  EXPECT_FALSE(gate.skip(block("changed", k_b, true)));
  EXPECT_FALSE(gate.skip(block("edge", k_a, false)));
  EXPECT_FALSE(gate.skip(block("no-versions", k_a, true)));  // versions are being counted
  EXPECT_FALSE(gate.skip(block("new", k_a, true)));
  EXPECT_FALSE(gate.conflict());
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

// ADR 0100: finding blocks stored by their core digest and lastSeenTimestamp value.
TEST(FindingDigestBytes, CoreFormRoundTripsAndIsNotAPlainDigest) {
  const BlockDigest c{7, 9};
  const auto bytes = core_digest_bytes(c, "2025-06-01 08:00:00");
  EXPECT_EQ(digest_from_bytes(bytes), std::nullopt);
  const auto back = core_digest_from_bytes(bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->core, c);
  EXPECT_EQ(back->last_seen, "2025-06-01 08:00:00");
  EXPECT_EQ(core_digest_from_bytes(digest_bytes(c)), std::nullopt);
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

InventoryBlock finding_block(std::string_view device, BlockDigest digest, BlockDigest core,
                             std::string_view last_seen) {
  return InventoryBlock{device, digest, 2, true, last_seen, core};
}

TEST(FindingDigests, ASameCoreIsSkippedAndAMovedLastSeenIsReported) {
  FindingDigests gate(1, true, false);
  const std::string t1 = "2025-06-01 08:00:00";
  const std::string t2 = "2025-06-02 09:30:00";
  for (const char* d : {"same", "moved", "changed", "mixed", "bad-time"}) {
    gate.add_stored(d, {k_a, false, t1});
  }
  gate.add_stored("plain", {k_a, false, {}});
  EXPECT_TRUE(gate.skip(finding_block("same", k_b, k_a, t1)));
  EXPECT_TRUE(gate.skip(finding_block("moved", k_b, k_a, t2)));
  EXPECT_FALSE(gate.skip(finding_block("changed", k_a, k_b, t1)));
  EXPECT_FALSE(gate.skip(finding_block("mixed", k_b, k_a, "")));  // lines without one value
  EXPECT_FALSE(gate.skip(finding_block("bad-time", k_b, k_a, "soon")));
  // A digest of the whole lines (stored before ADR 0100) still matches them exactly.
  EXPECT_TRUE(gate.skip(finding_block("plain", k_a, k_b, t2)));
  EXPECT_EQ(gate.skipped(), (std::vector<std::pair<std::string, std::uint64_t>>{
                                {"moved", 2}, {"plain", 2}, {"same", 2}}));
  const auto moved = gate.moved();
  ASSERT_EQ(moved.size(), 1U);
  EXPECT_EQ(moved[0].device_id, "moved");
  EXPECT_EQ(moved[0].last_found, *util::parse_timestamp(t2));
  EXPECT_EQ(moved[0].stored, core_digest_bytes(k_a, t2));
}

TEST(FindingDigests, ADecodedBlockIsStoredByItsCoreOnlyWhenEveryRowHasItsLastSeen) {
  FindingDigests gate(1, true, false);
  const std::string t = "2025-06-01 08:00:00";
  defender::VulnerabilityRow r;
  r.device_id = "d";
  r.last_seen_timestamp = *util::parse_timestamp(t);
  std::vector<defender::VulnerabilityRow> rows = {r, r};
  gate.decoded(finding_block("d", k_a, k_b, t), rows);
  // A row whose lastSeenTimestamp is not the value found in the raw line (a nested
  // member of that name, say): the lines are stored by their full digest.
  rows[1].last_seen_timestamp.reset();
  gate.decoded(finding_block("e", k_a, k_b, t), std::vector{rows[1], rows[1]});
  gate.decoded(finding_block("f", k_a, k_b, ""), std::vector{r});
  const auto decoded = gate.take_decoded();
  ASSERT_EQ(decoded.size(), 3U);
  EXPECT_EQ(decoded[0].stored, core_digest_bytes(k_b, t));
  EXPECT_EQ(decoded[1].stored, digest_bytes(k_a));
  EXPECT_EQ(decoded[2].stored, digest_bytes(k_a));
}

}  // namespace
}  // namespace mdesync::sync
