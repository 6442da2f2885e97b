#include "defender/inventory_blocks.hpp"

#include <xxhash.h>

#include <array>
#include <cctype>
#include <type_traits>

namespace mdesync::defender {

namespace {

bool iequal(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != lower[i]) return false;
  }
  return true;
}

std::size_t skip_space(std::string_view s, std::size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return i;
}

}  // namespace

std::string_view raw_device_id(std::string_view line) {
  constexpr std::string_view k_key = "\"deviceid\"";
  // A '"' that opens "deviceid" and is followed by ':' can only start that member: a
  // quote inside a string value is escaped, and a closing quote is never followed by a
  // name and a colon. The first such member wins; the decoder's rows are checked against
  // it by the gate.
  for (std::size_t pos = line.find('"'); pos != std::string_view::npos;
       pos = line.find('"', pos + 1)) {
    if (!iequal(line.substr(pos, k_key.size()), k_key)) continue;
    if (pos > 0 && line[pos - 1] == '\\') return {};
    std::size_t i = skip_space(line, pos + k_key.size());
    if (i >= line.size() || line[i] != ':') continue;
    i = skip_space(line, i + 1);
    if (i >= line.size() || line[i] != '"') return {};
    const std::size_t start = i + 1;
    const std::size_t end = line.find('"', start);
    if (end == std::string_view::npos) return {};
    const std::string_view value = line.substr(start, end - start);
    if (value.find('\\') != std::string_view::npos) return {};
    return value;
  }
  return {};
}

namespace {

constexpr std::string_view k_last_seen_key = "\"lastseentimestamp\"";

// Horspool shifts for k_last_seen_key in any letter case: most lines hold the key once,
// near their end, and are passed over about a key length at a time.
struct KeyShifts {
  std::array<std::uint8_t, 256> shift{};
  KeyShifts() {
    const auto n = k_last_seen_key.size();
    shift.fill(static_cast<std::uint8_t>(n));
    for (std::size_t i = 0; i + 1 < n; ++i) {
      const char c = k_last_seen_key[i];
      const auto s = static_cast<std::uint8_t>(n - 1 - i);
      shift[static_cast<unsigned char>(c)] = s;
      shift[static_cast<unsigned char>(std::toupper(static_cast<unsigned char>(c)))] = s;
    }
  }
};

// The next `"lastseentimestamp"` (any case) at or after `from`; npos when none.
std::size_t find_key(std::string_view line, std::size_t from) {
  static const KeyShifts k_shifts;
  const std::size_t n = k_last_seen_key.size();
  for (std::size_t pos = from; pos + n <= line.size();) {
    const char last = line[pos + n - 1];
    if (last == '"' && iequal(line.substr(pos, n), k_last_seen_key)) return pos;
    pos += k_shifts.shift[static_cast<unsigned char>(last)];
  }
  return std::string_view::npos;
}

}  // namespace

std::optional<RawValue> raw_last_seen(std::string_view line) {
  std::optional<RawValue> found;
  for (std::size_t pos = find_key(line, 0); pos != std::string_view::npos;
       pos = find_key(line, pos + 1)) {
    // After a backslash the quote may be part of a string value: not plainly a member.
    if (pos > 0 && line[pos - 1] == '\\') return std::nullopt;
    std::size_t i = skip_space(line, pos + k_last_seen_key.size());
    // A string value that reads "lastSeenTimestamp", not a member name.
    if (i >= line.size() || line[i] != ':') continue;
    // A second member: which one the decoder keeps is not for this scan to say.
    if (found) return std::nullopt;
    i = skip_space(line, i + 1);
    if (i >= line.size() || line[i] != '"') return std::nullopt;
    const std::size_t begin = i + 1;
    const std::size_t end = line.find('"', begin);
    if (end == std::string_view::npos || end == begin) return std::nullopt;
    if (line.substr(begin, end - begin).find('\\') != std::string_view::npos) return std::nullopt;
    found = RawValue{begin, end};
    pos = end;
  }
  return found;
}

template <class Row>
struct DeviceBlockSplitter<Row>::Hash {
  Hash() : state(XXH3_createState()), core(XXH3_createState()) {}
  ~Hash() {
    XXH3_freeState(state);
    XXH3_freeState(core);
  }
  Hash(const Hash&) = delete;
  Hash& operator=(const Hash&) = delete;
  XXH3_state_t* state;
  XXH3_state_t* core;  // the lines without their lastSeenTimestamp value (findings)
};

template <class Row>
DeviceBlockSplitter<Row>::DeviceBlockSplitter(DeviceGate<Row>& gate, Decode decode, Emit emit)
    : m_gate(gate),
      m_decode(std::move(decode)),
      m_emit(std::move(emit)),
      m_hash(std::make_unique<Hash>()),
      m_hold(gate.may_skip()) {}

template <class Row>
DeviceBlockSplitter<Row>::~DeviceBlockSplitter() = default;

template <class Row>
util::Status DeviceBlockSplitter<Row>::line(std::string_view line, std::uint64_t line_no) {
  const std::string_view key = raw_device_id(line);
  if (m_count > 0 && (key.empty() || key != m_key)) {
    if (auto st = flush(false); !st) return st;
  }
  if (key.empty()) {
    // Not cheaply attributable: decoded on its own as a one-line block that is never
    // skipped; the gate learns its device from the decoded row.
    Row row;
    if (auto st = m_decode(line, line_no, row); !st) return st;
    const std::string device = row.device_id;
    m_first_in_file = false;
    InventoryBlock block{device, {}, 1, false, {}, {}};
    m_gate.skip(block);
    m_gate.decoded(block, std::span<const Row>(&row, 1));
    ++m_decoded_lines;
    return m_emit(std::move(row));
  }
  if (m_count == 0) {
    m_key.assign(key);
    m_lines.clear();
    m_line_nos.clear();
    m_rows.clear();
    XXH3_128bits_reset_withSeed(m_hash->state, m_gate.seed());
    if constexpr (std::is_same_v<Row, VulnerabilityRow>) {
      XXH3_128bits_reset_withSeed(m_hash->core, m_gate.seed());
      m_uniform = true;
      m_last_seen.clear();
    }
  }
  XXH3_128bits_update(m_hash->state, line.data(), line.size());
  XXH3_128bits_update(m_hash->state, "\n", 1);
  if constexpr (std::is_same_v<Row, VulnerabilityRow>) {
    if (m_uniform) note_last_seen(line);
  }
  if (!m_hold) {
    ++m_count;
    m_rows.emplace_back();
    return m_decode(line, line_no, m_rows.back());
  }
  m_lines.append(line);
  m_lines.push_back('\n');
  m_line_nos.push_back(line_no);
  ++m_count;
  return {};
}

template <class Row>
void DeviceBlockSplitter<Row>::note_last_seen(std::string_view line) {
  const auto v = raw_last_seen(line);
  const std::string_view value = v ? line.substr(v->begin, v->end - v->begin) : std::string_view{};
  if (!v || (m_count > 0 && value != m_last_seen)) {
    m_uniform = false;
    return;
  }
  if (m_count == 0) m_last_seen.assign(value);
  // The line around the value, and where the value stood: two lines with the same core
  // differ at most in that value.
  const auto at = static_cast<std::uint64_t>(v->begin);
  XXH3_128bits_update(m_hash->core, line.data(), v->begin);
  XXH3_128bits_update(m_hash->core, line.data() + v->end, line.size() - v->end);
  XXH3_128bits_update(m_hash->core, &at, sizeof at);
  XXH3_128bits_update(m_hash->core, "\n", 1);
}

template <class Row>
util::Status DeviceBlockSplitter<Row>::finish() {
  if (m_count == 0) return {};
  return flush(true);
}

template <class Row>
util::Status DeviceBlockSplitter<Row>::flush(bool last) {
  const XXH128_hash_t h = XXH3_128bits_digest(m_hash->state);
  InventoryBlock block{
      m_key, BlockDigest{h.high64, h.low64}, m_count, !m_first_in_file && !last, {}, {}};
  if constexpr (std::is_same_v<Row, VulnerabilityRow>) {
    if (m_uniform) {
      const XXH128_hash_t c = XXH3_128bits_digest(m_hash->core);
      block.last_seen = m_last_seen;
      block.core = BlockDigest{c.high64, c.low64};
    }
  }
  m_first_in_file = false;
  const std::uint64_t count = m_count;
  m_count = 0;
  if (m_gate.skip(block) && block.whole) {
    m_skipped_lines += count;
    return {};
  }
  if (!m_hold) return emit_block(block);  // decoded as the lines arrived
  return decode_block(block);
}

template <class Row>
util::Status DeviceBlockSplitter<Row>::decode_block(const InventoryBlock& block) {
  m_rows.clear();
  m_rows.reserve(block.lines);
  std::string_view rest = m_lines;
  std::size_t i = 0;
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    m_rows.emplace_back();
    if (auto st = m_decode(line, m_line_nos[i], m_rows.back()); !st) return st;
    ++i;
  }
  return emit_block(block);
}

template <class Row>
util::Status DeviceBlockSplitter<Row>::emit_block(const InventoryBlock& block) {
  m_decoded_lines += m_rows.size();
  m_gate.decoded(block, m_rows);
  for (auto& row : m_rows) {
    if (auto st = m_emit(std::move(row)); !st) return st;
  }
  m_rows.clear();
  return {};
}

template class DeviceBlockSplitter<InventoryRow>;
template class DeviceBlockSplitter<VulnerabilityRow>;

}  // namespace mdesync::defender
