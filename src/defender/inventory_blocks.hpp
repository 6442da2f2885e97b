#pragma once

// Device blocks of an export file (inventory or findings), so that a caller holding the
// rows of an earlier read can skip decoding the lines that did not change
// (docs/adr/0060, 0068).
//
// A block is a maximal run of consecutive lines of one file with the same deviceId. Each
// block gets a 128-bit digest of its raw lines; the caller's gate decides whether the
// block is skipped (its lines are neither decoded nor delivered) or decoded. The first and
// last block of a file may continue in another file, so they are never skippable.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "defender/records.hpp"
#include "util/result.hpp"

namespace mdesync::defender {

struct BlockDigest {
  std::uint64_t high = 0;
  std::uint64_t low = 0;
  friend bool operator==(const BlockDigest&, const BlockDigest&) = default;
};

struct InventoryBlock {
  std::string_view device_id;
  BlockDigest digest;       // of the block's raw lines, seeded by InventoryGate::seed()
  std::uint64_t lines = 0;  // lines in the block
  // True for a block with another device's line on each side in the same file: it holds
  // every line of its device in that file. Only such a block may be skipped.
  bool whole = false;
  // Finding lines only (ADR 0100, 0101): when every line holds one plain
  // lastSeenTimestamp member (raw_last_seen) and all have the same value, that value (raw
  // text) and the core digest of each line in file order: the line with the value left
  // out (seeded alike). Two lines with the same core differ at most in that value. Empty
  // otherwise.
  std::string_view last_seen;
  std::span<const std::uint64_t> cores;
};

// Implemented by the caller; called from download threads, concurrently.
template <class Row>
class DeviceGate {
 public:
  virtual ~DeviceGate() = default;
  // Seeds every digest (configuration that changes the rows made from the same lines).
  [[nodiscard]] virtual std::uint64_t seed() const = 0;
  // Whether skip() can say true at all in this read (asked once per file): when not, a
  // block's lines are decoded as they arrive instead of being held until its end.
  [[nodiscard]] virtual bool may_skip() const { return true; }
  // Finding blocks whose lines were held: asked at the block's end, before skip(), whether
  // the block's raw digest is the one stored for its device (the very same lines). true:
  // its lines are not scanned for their lastSeenTimestamp (block.cores stays empty) and
  // skip() must take it on the digest alone. Must not change the gate's state.
  [[nodiscard]] virtual bool unchanged(const InventoryBlock& /*block*/) { return false; }
  // Called once per block, before decoding. true: skip it (only honoured for whole blocks).
  virtual bool skip(const InventoryBlock& block) = 0;
  // The decoded rows of a block that was not skipped, before they are delivered.
  virtual void decoded(const InventoryBlock& block, std::span<const Row> rows) = 0;
  // Finding blocks (ADR 0101), asked when skip() said no and the block's lines were held:
  // the indexes (ascending) of the only lines of the block to decode (none: the block's
  // lines are stored ones, some stored lines are gone). nullopt: every line.
  virtual std::optional<std::vector<std::uint32_t>> select(const InventoryBlock& /*block*/) {
    return std::nullopt;
  }
  // The rows of the selected lines, one per line in their order. true: they stand for the
  // block and are delivered (its other lines are not decoded); false: every line of the
  // block is decoded and given to decoded() instead.
  virtual bool decoded_part(const InventoryBlock& /*block*/,
                            std::span<const std::uint32_t> /*lines*/,
                            std::span<const Row> /*rows*/) {
    return false;
  }
};
using InventoryGate = DeviceGate<InventoryRow>;
using VulnerabilityGate = DeviceGate<VulnerabilityRow>;

// The deviceId value of a raw JSON line, found without decoding it; empty when the line
// does not hold it as a plain `"deviceId":"..."` member (any letter case, no escapes).
std::string_view raw_device_id(std::string_view line);

// Where the value of a line's lastSeenTimestamp member is, found without decoding it:
// [begin, end) of its text between the quotes. nullopt when the line does not hold
// exactly one `"lastSeenTimestamp":"..."` member (any letter case) whose value is a
// plain string (no escapes, not empty).
struct RawValue {
  std::size_t begin = 0;
  std::size_t end = 0;
};
std::optional<RawValue> raw_last_seen(std::string_view line);

// The core digest of a finding line whose lastSeenTimestamp value is at `value`: of the
// text before and after it (ADR 0101).
std::uint64_t line_core_digest(std::string_view line, RawValue value, std::uint64_t seed);

// Splits one file's lines into blocks and drives the gate. Not thread-safe: one per file.
// Instantiated for InventoryRow and VulnerabilityRow.
template <class Row>
class DeviceBlockSplitter {
 public:
  // `decode` turns one line into a row (its error is returned as is); `emit` receives the
  // rows of blocks that were not skipped, in file order.
  using Decode =
      std::function<util::Status(std::string_view line, std::uint64_t line_no, Row& out)>;
  using Emit = std::function<util::Status(Row&&)>;
  DeviceBlockSplitter(DeviceGate<Row>& gate, Decode decode, Emit emit);
  ~DeviceBlockSplitter();
  DeviceBlockSplitter(const DeviceBlockSplitter&) = delete;
  DeviceBlockSplitter& operator=(const DeviceBlockSplitter&) = delete;

  // One non-blank line of the file and its 1-based number.
  util::Status line(std::string_view line, std::uint64_t line_no);
  // End of the file: the last block is decoded.
  util::Status finish();

  [[nodiscard]] std::uint64_t skipped_lines() const { return m_skipped_lines; }
  [[nodiscard]] std::uint64_t decoded_lines() const { return m_decoded_lines; }

 private:
  util::Status flush(bool last);
  // The i-th held line of the open block, without its '\n'.
  [[nodiscard]] std::string_view held(std::size_t i) const;
  void note_finding_line(std::string_view line, bool first);
  util::Status decode_block(const InventoryBlock& block);
  util::Status decode_part(const InventoryBlock& block, std::span<const std::uint32_t> lines,
                           bool& taken);
  util::Status emit_block(const InventoryBlock& block);

  struct Hash;
  DeviceGate<Row>& m_gate;
  Decode m_decode;
  Emit m_emit;
  std::unique_ptr<Hash> m_hash;
  std::string m_key;                       // device of the open block
  std::string m_lines;                     // its raw lines, each ending in '\n'
  std::vector<std::uint64_t> m_line_nos;   // the file's line number of each
  std::vector<std::size_t> m_line_starts;  // where each begins in m_lines
  std::uint64_t m_count = 0;
  bool m_first_in_file = true;
  bool m_hold = true;  // hold the block's lines until its end (the gate may skip it)
  std::vector<Row> m_rows;
  // Findings: the block's lastSeenTimestamp value while every line had the same one and
  // each line's core digest (of the lines as they arrive, or of the held lines at the
  // block's end when the gate does not know them).
  std::string m_last_seen;
  bool m_uniform = false;
  std::vector<std::uint64_t> m_cores;
  std::uint64_t m_skipped_lines = 0;
  std::uint64_t m_decoded_lines = 0;
};

extern template class DeviceBlockSplitter<InventoryRow>;
extern template class DeviceBlockSplitter<VulnerabilityRow>;
using InventoryBlockSplitter = DeviceBlockSplitter<InventoryRow>;

}  // namespace mdesync::defender
