#pragma once

// Which devices' inventory lines must be decoded in this read, and what each device
// counts towards package versions (docs/adr/0060-skip-unchanged-inventory-lines.md).
//
// A device whose block of export lines has the digest stored by the last read is
// unchanged: its lines are not decoded, its stored installed packages are marked seen and
// its stored version counts are reused. Package versions are always aggregated from
// per-device contributions, decoded or stored, so both paths give the same counts.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "defender/inventory_blocks.hpp"
#include "defender/records.hpp"
#include "util/result.hpp"
#include "util/time.hpp"

namespace mdesync::sync {

struct VersionCount {
  std::int64_t installations = 0;
  std::optional<std::int64_t> vulnerabilities;
};
// software id -> version -> counts, aggregated from the inventory (export strategy).
using VersionCounts = std::map<std::string, VersionCount, std::less<>>;
using VersionAggregate = std::map<std::string, VersionCounts, std::less<>>;

// One device's contribution to the version counts, from its rows in file order: each
// (software, version) counts one installation per run of adjacent rows of that software,
// and the highest numberOfWeaknesses seen. Encoded as opaque bytes for the store.
std::string encode_versions(std::span<const defender::InventoryRow> rows);
// The same in two steps: the counts, then their encoding.
VersionAggregate count_versions(std::span<const defender::InventoryRow> rows);
std::string encode_versions(const VersionAggregate& counts);
// Adds an encoded contribution to `into`; false when the bytes are not an encoding.
bool add_versions(std::string_view encoded, VersionAggregate& into);

// 16 bytes, as stored.
std::string digest_bytes(const defender::BlockDigest& d);
std::optional<defender::BlockDigest> digest_from_bytes(std::string_view bytes);

// A finding block stored line by line (ADR 0101): its one lastSeenTimestamp value (raw
// text) and, per line in file order, its core digest and the identity of the open finding
// it makes (finding_identity; 0: the line makes none). Encoded as opaque bytes for the
// store: 'P', the value, the count, the cores (8 bytes each), the identities (4 bytes).
struct LineDigests {
  std::string last_seen;
  std::vector<std::uint64_t> cores;
  std::vector<std::uint32_t> ids;
  // The raw digest of the block the lines were read from (InventoryBlock::digest): a block
  // with the same raw digest is the same lines, taken without scanning them. Stored as
  // 'Q' and these 16 bytes before the rest; 'P' (without it) is still read.
  std::optional<defender::BlockDigest> raw;
};
std::string line_digest_bytes(const LineDigests& lines);
std::optional<LineDigests> line_digests_from_bytes(std::string_view bytes);
// The raw digest at the head of stored line digests ('Q'), without reading the rest.
std::optional<defender::BlockDigest> raw_of_line_digests(std::string_view bytes);

// The time a lastSeenTimestamp value of raw_last_seen decodes to, as the decoder reads it;
// nullopt when it is not one (the block is then decoded, and the decoder says why).
std::optional<util::Timestamp> last_seen_time(std::string_view raw);

// The gate of one export read, for inventory lines (which also count package versions)
// and for finding lines (ADR 0068, no versions). Instantiated for both row types.
template <class Row>
class DeviceDigests final : public defender::DeviceGate<Row> {
 public:
  struct Stored {
    defender::BlockDigest digest;  // of the lines (when `lines` is empty)
    bool has_versions = false;
    // Finding blocks stored line by line (line_digest_bytes, ADR 0101): a block whose lines
    // have the same cores is skipped whatever its value; one with a few new cores has only
    // those lines decoded.
    std::string lines;
    // Whether a block with this raw digest is the very lines stored: the plain digest, or
    // the raw digest at the head of the line digests.
    [[nodiscard]] bool same_lines(const defender::BlockDigest& raw) const {
      if (lines.empty()) return digest == raw;
      const auto stored = raw_of_line_digests(lines);
      return stored && *stored == raw;
    }
  };
  // Findings: the identity of the open finding a decoded row makes (finding_identity), 0
  // when it makes none, nullopt when that cannot be said from the row alone (a status, a
  // filter that is not met...): its block is then not stored line by line.
  using Identity = std::function<std::optional<std::uint32_t>(const Row&)>;
  // A decoded block, for the engine thread: its contribution and digest.
  struct Decoded {
    std::string device_id;
    defender::BlockDigest digest;
    bool whole = false;
    std::string versions;  // encode_versions of its rows (empty when not counting)
    // The bytes to store for it: line_digest_bytes when every line has the block's one
    // lastSeenTimestamp value, as its decoded row has, and its own finding (identity);
    // digest_bytes otherwise.
    std::string stored;
  };
  // A skipped finding block whose lastSeenTimestamp moved: its open findings take the
  // new time, and its digest the new value.
  struct Moved {
    std::string device_id;
    util::Timestamp last_found;
    std::string stored;  // line_digest_bytes with the new value
  };
  // A finding block of which only the lines with new cores were decoded (ADR 0101). The
  // others (`known_lines`, of which `known_findings` make an open finding) stand for their
  // stored findings; the stored findings of lines that are gone (`gone`, their
  // identities) close (ADR 0111); after the decoded rows are written the device has
  // `expected_open` open findings; they take `last_found` when the value moved.
  struct Partial {
    std::string device_id;
    std::int64_t known_lines = 0;
    std::int64_t known_findings = 0;
    std::int64_t expected_open = 0;
    std::optional<util::Timestamp> last_found;
    std::vector<std::uint32_t> gone;
  };

  // `seed` covers everything besides the lines that shapes the rows (ADR 0060);
  // `allow_skip` false decodes every block; `count_versions` makes blocks carry their
  // contribution and requires stored versions for a skip.
  DeviceDigests(std::uint64_t seed, bool allow_skip, bool count_versions);

  // Before streaming, on the engine thread. Without an identity, finding blocks are stored
  // by their plain digest only.
  void add_stored(std::string_view device_id, Stored stored);
  void set_identity(Identity identity) { m_identity = std::move(identity); }

  // DeviceGate, on download threads.
  [[nodiscard]] std::uint64_t seed() const override { return m_seed; }
  // Only with skipping allowed and a digest stored (add_stored before streaming).
  [[nodiscard]] bool may_skip() const override { return m_allow_skip && !m_stored.empty(); }
  bool unchanged(const defender::InventoryBlock& block) override;
  bool skip(const defender::InventoryBlock& block) override;
  void decoded(const defender::InventoryBlock& block, std::span<const Row> rows) override;
  std::optional<std::vector<std::uint32_t>> select(const defender::InventoryBlock& block) override;
  bool decoded_part(const defender::InventoryBlock& block, std::span<const std::uint32_t> lines,
                    std::span<const Row> rows) override;

  // On the engine thread, while and after streaming.
  std::vector<Decoded> take_decoded();
  // A device was met again after its block was skipped, or a row named a device other
  // than its block's: the skips of this read cannot be trusted (read again without).
  [[nodiscard]] bool conflict() const;
  // While and after streaming: the lines of the blocks skipped so far.
  [[nodiscard]] std::uint64_t skipped_lines() const;
  // After streaming: the devices skipped, with their line counts.
  [[nodiscard]] std::vector<std::pair<std::string, std::uint64_t>> skipped() const;
  // After streaming: the skipped devices whose lines' lastSeenTimestamp moved.
  [[nodiscard]] std::vector<Moved> moved() const;
  // After streaming: the devices of which only some lines were decoded.
  [[nodiscard]] std::vector<Partial> partial() const;
  // After streaming: whether the digest of `device_id` may be kept for the next read (one
  // block in this read, and a whole one).
  [[nodiscard]] bool keep(const std::string& device_id) const;
  // After streaming: the stored devices whose digest must go (not kept).
  [[nodiscard]] std::vector<std::string> stale_stored() const;
  // After streaming: frees the version pairs each device counted (about 1 KB a device),
  // which only decoding needs, before the commit builds its indexes.
  void release_counted();

 private:
  struct Device {
    std::uint32_t blocks = 0;
    bool whole = false;  // its first block was whole
    bool skipped = false;
    std::uint64_t lines = 0;
    // Skipped by its line cores with another lastSeenTimestamp than the stored one.
    std::optional<util::Timestamp> moved_to;
    std::string moved_stored;
    // Only its lines with new cores decoded (ADR 0101), and what select() planned for it.
    bool partial = false;
    Partial part;
    struct Plan {
      LineDigests stored;
      std::vector<std::uint32_t> known;  // per line of the block: its stored index, or npos
    };
    std::unique_ptr<Plan> plan;
    // Hashes of the (software, version) pairs its decoded blocks counted, sorted: a
    // device met in several blocks (lines that are not adjacent) counts each once.
    std::vector<std::uint64_t> counted;
  };
  const std::uint64_t m_seed;
  const bool m_allow_skip;
  const bool m_count_versions;
  std::unordered_map<std::string, Stored> m_stored;
  Identity m_identity;
  mutable std::mutex m_mutex;
  std::unordered_map<std::string, Device> m_devices;
  std::vector<Decoded> m_decoded;
  bool m_conflict = false;
  std::uint64_t m_skipped_lines = 0;
};

extern template class DeviceDigests<defender::InventoryRow>;
extern template class DeviceDigests<defender::VulnerabilityRow>;
using InventoryDigests = DeviceDigests<defender::InventoryRow>;
using FindingDigests = DeviceDigests<defender::VulnerabilityRow>;

}  // namespace mdesync::sync
