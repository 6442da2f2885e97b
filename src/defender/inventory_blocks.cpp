#include "defender/inventory_blocks.hpp"

#include <xxhash.h>

#include <cctype>

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

template <class Row>
struct DeviceBlockSplitter<Row>::Hash {
  Hash() : state(XXH3_createState()) {}
  ~Hash() { XXH3_freeState(state); }
  Hash(const Hash&) = delete;
  Hash& operator=(const Hash&) = delete;
  XXH3_state_t* state;
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
    InventoryBlock block{device, {}, 1, false};
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
  }
  XXH3_128bits_update(m_hash->state, line.data(), line.size());
  XXH3_128bits_update(m_hash->state, "\n", 1);
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
util::Status DeviceBlockSplitter<Row>::finish() {
  if (m_count == 0) return {};
  return flush(true);
}

template <class Row>
util::Status DeviceBlockSplitter<Row>::flush(bool last) {
  const XXH128_hash_t h = XXH3_128bits_digest(m_hash->state);
  const InventoryBlock block{m_key, BlockDigest{h.high64, h.low64}, m_count,
                             !m_first_in_file && !last};
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
