#include "defender/inventory_blocks.hpp"

#include <xxhash.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <cstring>
#include <type_traits>

namespace mdesync::defender {

namespace {

// ASCII only, inline: std::tolower (a call into the C library per byte, locale aware)
// was 2.7 % of a repeat full sync's CPU.
bool iequal(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
    if (c != lower[i]) return false;
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

// Calls `f(i)` for each i, in order, where line[i] is 'p' or 'P' and line[i + 1] is '"':
// where every member name ending in "p" ends (a finding line has two: lastSeenTimestamp
// and firstSeenTimestamp), so that the key is compared at a few places per line instead
// of searched for byte by byte. `f` returns false to stop.
template <class F>
void for_each_p_quote(std::string_view s, F&& f) {
  const std::size_t n = s.size();
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i fold = _mm_set1_epi8(0x20);
  const __m128i p = _mm_set1_epi8('p');
  const __m128i quote = _mm_set1_epi8('"');
  for (; i + 17 <= n; i += 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i + 1));
    auto mask = static_cast<unsigned>(_mm_movemask_epi8(
        _mm_and_si128(_mm_cmpeq_epi8(_mm_or_si128(a, fold), p), _mm_cmpeq_epi8(b, quote))));
    while (mask != 0) {
      if (!f(i + static_cast<std::size_t>(__builtin_ctz(mask)))) return;
      mask &= mask - 1;
    }
  }
#endif
  for (; i + 1 < n; ++i) {
    if ((static_cast<unsigned char>(s[i]) | 0x20U) == 'p' && s[i + 1] == '"' && !f(i)) return;
  }
}

}  // namespace

std::optional<RawValue> raw_last_seen(std::string_view line) {
  const std::size_t n = k_last_seen_key.size();
  std::optional<RawValue> found;
  bool bad = false;
  std::size_t after = 0;  // occurrences before this are inside the value found
  for_each_p_quote(line, [&](std::size_t i) {
    if (i + 2 < n) return true;
    const std::size_t pos = i + 2 - n;
    if (pos < after || !iequal(line.substr(pos, n), k_last_seen_key)) return true;
    // After a backslash the quote may be part of a string value: not plainly a member.
    if (pos > 0 && line[pos - 1] == '\\') {
      bad = true;
      return false;
    }
    std::size_t j = skip_space(line, pos + n);
    // A string value that reads "lastSeenTimestamp", not a member name.
    if (j >= line.size() || line[j] != ':') return true;
    // A second member: which one the decoder keeps is not for this scan to say.
    if (found) {
      bad = true;
      return false;
    }
    j = skip_space(line, j + 1);
    if (j >= line.size() || line[j] != '"') {
      bad = true;
      return false;
    }
    const std::size_t begin = j + 1;
    const std::size_t end = line.find('"', begin);
    if (end == std::string_view::npos || end == begin ||
        line.substr(begin, end - begin).find('\\') != std::string_view::npos) {
      bad = true;
      return false;
    }
    found = RawValue{begin, end};
    after = end + 1;
    return true;
  });
  if (bad) return std::nullopt;
  return found;
}

std::uint64_t line_core_digest(std::string_view line, RawValue value, std::uint64_t seed) {
  // Two lines with the same text before and after the value differ at most in the value
  // (each part's length is in its hash).
  const XXH64_hash_t head = XXH3_64bits_withSeed(line.data(), value.begin, seed);
  return XXH3_64bits_withSeed(line.data() + value.end, line.size() - value.end, head);
}

template <class Row>
struct DeviceBlockSplitter<Row>::Hash {
  Hash() : state(XXH3_createState()) {}
  ~Hash() { XXH3_freeState(state); }
  Hash(const Hash&) = delete;
  Hash& operator=(const Hash&) = delete;
  XXH3_state_t* state;  // the block's raw lines
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
  constexpr bool findings = std::is_same_v<Row, VulnerabilityRow>;
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
    m_line_starts.clear();
    m_rows.clear();
    if constexpr (findings) {
      m_uniform = true;
      m_last_seen.clear();
      m_cores.clear();
    }
    XXH3_128bits_reset_withSeed(m_hash->state, m_gate.seed());
  }
  XXH3_128bits_update(m_hash->state, line.data(), line.size());
  XXH3_128bits_update(m_hash->state, "\n", 1);
  // A held finding block is scanned for its lastSeenTimestamp values at its end, and only
  // when the gate needs them (flush): an unchanged block costs the one hash pass above.
  if constexpr (findings) {
    if (!m_hold) note_finding_line(line, m_count == 0);
  }
  if (!m_hold) {
    ++m_count;
    m_rows.emplace_back();
    return m_decode(line, line_no, m_rows.back());
  }
  m_line_starts.push_back(m_lines.size());
  m_lines.append(line);
  m_lines.push_back('\n');
  m_line_nos.push_back(line_no);
  ++m_count;
  return {};
}

template <class Row>
void DeviceBlockSplitter<Row>::note_finding_line(std::string_view line, bool first) {
  // Where the line's lastSeenTimestamp value is, and the digest of the rest (its core).
  const auto v = raw_last_seen(line);
  if (!v) {
    m_uniform = false;
    return;
  }
  const std::string_view value = line.substr(v->begin, v->end - v->begin);
  m_cores.push_back(line_core_digest(line, *v, m_gate.seed()));
  if (first) {
    m_last_seen.assign(value);
  } else if (m_uniform && value != m_last_seen) {
    m_uniform = false;
  }
}

template <class Row>
util::Status DeviceBlockSplitter<Row>::finish() {
  if (m_count == 0) return {};
  return flush(true);
}

template <class Row>
util::Status DeviceBlockSplitter<Row>::flush(bool last) {
  InventoryBlock block{m_key, {}, m_count, !m_first_in_file && !last, {}, {}};
  const XXH128_hash_t h = XXH3_128bits_digest(m_hash->state);
  block.digest = BlockDigest{h.high64, h.low64};
  if constexpr (std::is_same_v<Row, VulnerabilityRow>) {
    // A held block whose raw lines are the ones stored needs no scan (ADR 0101's repeat
    // cost); any other is scanned now, line by line.
    if (m_hold && !(block.whole && m_gate.unchanged(block))) {
      for (std::size_t i = 0; i < m_line_starts.size(); ++i) note_finding_line(held(i), i == 0);
    }
    if (m_uniform && m_cores.size() == m_count) {
      block.last_seen = m_last_seen;
      block.cores = m_cores;
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
  if (block.whole && !block.cores.empty()) {
    if (const auto lines = m_gate.select(block)) {
      bool taken = false;
      if (auto st = decode_part(block, *lines, taken); !st || taken) return st;
    }
  }
  return decode_block(block);
}

template <class Row>
std::string_view DeviceBlockSplitter<Row>::held(std::size_t i) const {
  const std::size_t begin = m_line_starts[i];
  const std::size_t end =
      i + 1 < m_line_starts.size() ? m_line_starts[i + 1] - 1 : m_lines.size() - 1;
  return std::string_view(m_lines).substr(begin, end - begin);
}

template <class Row>
util::Status DeviceBlockSplitter<Row>::decode_part(const InventoryBlock& block,
                                                   std::span<const std::uint32_t> lines,
                                                   bool& taken) {
  m_rows.clear();
  m_rows.reserve(lines.size());
  for (const std::uint32_t i : lines) {
    if (i >= m_line_starts.size()) return {};  // not a line of the block: decode them all
    m_rows.emplace_back();
    if (auto st = m_decode(held(i), m_line_nos[i], m_rows.back()); !st) return st;
  }
  if (!m_gate.decoded_part(block, lines, m_rows)) return {};
  taken = true;
  m_skipped_lines += block.lines - lines.size();
  m_decoded_lines += m_rows.size();
  for (auto& row : m_rows) {
    if (auto st = m_emit(std::move(row)); !st) return st;
  }
  m_rows.clear();
  return {};
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
