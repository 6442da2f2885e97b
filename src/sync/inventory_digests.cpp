#include "sync/inventory_digests.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <unordered_set>

#include "mapping/mapping.hpp"

namespace mdesync::sync {

namespace {

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool get_varint(std::string_view& in, std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return false;
    const auto byte = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    v |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

void put_bytes(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

bool get_bytes(std::string_view& in, std::string_view& s) {
  std::uint64_t n = 0;
  if (!get_varint(in, n) || n > in.size()) return false;
  s = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

std::string_view view_of(const std::optional<std::string>& v) {
  return v ? std::string_view(*v) : std::string_view{};
}

}  // namespace

std::string encode_versions(std::span<const defender::InventoryRow> rows) {
  return encode_versions(count_versions(rows));
}

VersionAggregate count_versions(std::span<const defender::InventoryRow> rows) {
  // In file order: adjacent rows of one software form a group; a version counts one
  // installation per group it appears in.
  VersionAggregate counts;
  std::string group_sw;
  std::string last_vendor;
  std::string last_name;
  VersionCounts* group = nullptr;
  std::vector<std::string_view> group_versions;
  for (const auto& row : rows) {
    const std::string_view vendor = view_of(row.software_vendor);
    const std::string_view name = view_of(row.software_name);
    if (group == nullptr || vendor != last_vendor || name != last_name) {
      std::string sw = mapping::software_id(row.software_vendor, row.software_name);
      last_vendor.assign(vendor);
      last_name.assign(name);
      if (group == nullptr || sw != group_sw) group_versions.clear();
      group = &counts[sw];
      group_sw = std::move(sw);
    }
    const std::string_view version = view_of(row.software_version);
    auto it = group->find(version);
    if (it == group->end()) it = group->emplace(std::string(version), VersionCount{}).first;
    if (std::find(group_versions.begin(), group_versions.end(), version) == group_versions.end()) {
      group_versions.push_back(it->first);
      ++it->second.installations;
    }
    if (row.number_of_weaknesses) {
      it->second.vulnerabilities =
          std::max(it->second.vulnerabilities.value_or(0), *row.number_of_weaknesses);
    }
  }
  return counts;
}

std::string encode_versions(const VersionAggregate& counts) {
  std::string out;
  for (const auto& [sw, versions] : counts) {
    for (const auto& [version, c] : versions) {
      put_bytes(out, sw);
      put_bytes(out, version);
      put_varint(out, static_cast<std::uint64_t>(c.installations));
      // 0: unknown; n + 1: n weaknesses (never negative in the service's data).
      put_varint(out,
                 c.vulnerabilities
                     ? static_cast<std::uint64_t>(std::max<std::int64_t>(0, *c.vulnerabilities)) + 1
                     : 0);
    }
  }
  return out;
}

bool add_versions(std::string_view in, VersionAggregate& into) {
  while (!in.empty()) {
    std::string_view sw;
    std::string_view version;
    std::uint64_t installations = 0;
    std::uint64_t weaknesses = 0;
    if (!get_bytes(in, sw) || !get_bytes(in, version) || !get_varint(in, installations) ||
        !get_varint(in, weaknesses)) {
      return false;
    }
    auto sw_it = into.find(sw);
    if (sw_it == into.end()) sw_it = into.emplace(std::string(sw), VersionCounts{}).first;
    auto v_it = sw_it->second.find(version);
    if (v_it == sw_it->second.end()) {
      v_it = sw_it->second.emplace(std::string(version), VersionCount{}).first;
    }
    v_it->second.installations += static_cast<std::int64_t>(installations);
    if (weaknesses > 0) {
      v_it->second.vulnerabilities = std::max(v_it->second.vulnerabilities.value_or(0),
                                              static_cast<std::int64_t>(weaknesses - 1));
    }
  }
  return true;
}

std::string digest_bytes(const defender::BlockDigest& d) {
  std::string out(16, '\0');
  for (int i = 0; i < 8; ++i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>((d.high >> (56 - 8 * i)) & 0xFF);
    out[static_cast<std::size_t>(8 + i)] = static_cast<char>((d.low >> (56 - 8 * i)) & 0xFF);
  }
  return out;
}

std::optional<defender::BlockDigest> digest_from_bytes(std::string_view bytes) {
  if (bytes.size() != 16) return std::nullopt;
  defender::BlockDigest d;
  for (std::size_t i = 0; i < 8; ++i) {
    d.high = (d.high << 8) | static_cast<unsigned char>(bytes[i]);
    d.low = (d.low << 8) | static_cast<unsigned char>(bytes[8 + i]);
  }
  return d;
}

std::string line_digest_bytes(const LineDigests& lines) {
  std::string out;
  out.reserve(17 + 2 + lines.last_seen.size() + 5 + lines.cores.size() * 12);
  if (lines.raw) {
    out.push_back('Q');
    out += digest_bytes(*lines.raw);
  } else {
    out.push_back('P');
  }
  put_bytes(out, lines.last_seen);
  put_varint(out, lines.cores.size());
  for (const std::uint64_t c : lines.cores) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((c >> (8 * i)) & 0xFF));
  }
  for (std::size_t k = 0; k < lines.cores.size(); ++k) {
    const std::uint32_t id = k < lines.ids.size() ? lines.ids[k] : 0;
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((id >> (8 * i)) & 0xFF));
  }
  return out;
}

std::optional<defender::BlockDigest> raw_of_line_digests(std::string_view bytes) {
  if (bytes.size() < 17 || bytes.front() != 'Q') return std::nullopt;
  return digest_from_bytes(bytes.substr(1, 16));
}

std::optional<LineDigests> line_digests_from_bytes(std::string_view bytes) {
  std::optional<defender::BlockDigest> raw;
  if (!bytes.empty() && bytes.front() == 'Q') {
    raw = raw_of_line_digests(bytes);
    if (!raw) return std::nullopt;
    bytes.remove_prefix(16);
  } else if (bytes.empty() || bytes.front() != 'P') {
    return std::nullopt;
  }
  bytes.remove_prefix(1);
  std::string_view last_seen;
  std::uint64_t n = 0;
  if (!get_bytes(bytes, last_seen) || !get_varint(bytes, n) || n > bytes.size() / 12 ||
      bytes.size() != n * 12) {
    return std::nullopt;
  }
  LineDigests out;
  out.raw = raw;
  out.last_seen.assign(last_seen);
  out.cores.resize(n);
  out.ids.resize(n);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  for (std::size_t k = 0; k < n; ++k, p += 8) {
    std::uint64_t c = 0;
    for (int i = 7; i >= 0; --i) c = (c << 8) | p[i];
    out.cores[k] = c;
  }
  for (std::size_t k = 0; k < n; ++k, p += 4) {
    out.ids[k] = static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
                 static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
  }
  return out;
}

std::optional<util::Timestamp> last_seen_time(std::string_view raw) {
  // Printable ASCII only: the decoder reads such a value as it stands (no escapes, no
  // control characters that make the line invalid) and trims its spaces.
  for (const char c : raw) {
    if (c < 0x20 || c > 0x7E) return std::nullopt;
  }
  while (!raw.empty() && raw.front() == ' ') raw.remove_prefix(1);
  while (!raw.empty() && raw.back() == ' ') raw.remove_suffix(1);
  if (raw.empty()) return std::nullopt;
  auto t = util::parse_timestamp(raw);
  if (!t) return std::nullopt;
  return *t;
}

template <class Row>
DeviceDigests<Row>::DeviceDigests(std::uint64_t seed, bool allow_skip, bool count_versions)
    : m_seed(seed), m_allow_skip(allow_skip), m_count_versions(count_versions) {}

template <class Row>
void DeviceDigests<Row>::add_stored(std::string_view device_id, Stored stored) {
  m_stored.insert_or_assign(std::string(device_id), std::move(stored));
}

namespace {

// Whether a block's cores are the stored ones: in the same order (the usual case), or in
// another (the lines of a block stored line by line make distinct findings, whose order
// does not matter).
bool same_cores(std::span<const std::uint64_t> now, const std::vector<std::uint64_t>& stored) {
  if (now.size() != stored.size()) return false;
  if (std::equal(now.begin(), now.end(), stored.begin())) return true;
  std::vector<std::uint64_t> a(now.begin(), now.end());
  std::vector<std::uint64_t> b = stored;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

// Whether a row's lastSeenTimestamp is `t` (finding rows; inventory rows have none).
template <class Row>
bool same_last_seen(const Row& row, util::Timestamp t) {
  if constexpr (std::is_same_v<Row, defender::VulnerabilityRow>) {
    return row.last_seen_timestamp == t;
  } else {
    return false;
  }
}

}  // namespace

template <class Row>
bool DeviceDigests<Row>::unchanged(const defender::InventoryBlock& block) {
  if (!m_allow_skip || !block.whole) return false;
  std::lock_guard lock(m_mutex);
  if (m_devices.contains(std::string(block.device_id))) return false;  // a second block
  const auto s = m_stored.find(std::string(block.device_id));
  if (s == m_stored.end() || (m_count_versions && !s->second.has_versions)) return false;
  return s->second.same_lines(block.digest);
}

template <class Row>
bool DeviceDigests<Row>::skip(const defender::InventoryBlock& block) {
  std::lock_guard lock(m_mutex);
  auto [it, fresh] = m_devices.try_emplace(std::string(block.device_id));
  Device& d = it->second;
  ++d.blocks;
  if (!fresh) {
    // Its other block is stored as one: skipping it would lose this one's rows' merge.
    if (d.skipped || d.partial) m_conflict = true;
    return false;
  }
  d.whole = block.whole;
  d.lines = block.lines;
  if (!m_allow_skip || !block.whole) return false;
  const auto s = m_stored.find(it->first);
  if (s == m_stored.end()) return false;
  if (!s->second.same_lines(block.digest)) {
    // Stored line by line (ADR 0100, 0101): the same lines but for their lastSeenTimestamp.
    if (s->second.lines.empty() || block.last_seen.empty()) return false;
    auto stored = line_digests_from_bytes(s->second.lines);
    if (!stored || !same_cores(block.cores, stored->cores)) return false;
    if (block.last_seen != stored->last_seen) {
      const auto t = last_seen_time(block.last_seen);
      if (!t) return false;
      d.moved_to = *t;
      stored->last_seen.assign(block.last_seen);
      stored->raw = block.digest;
      d.moved_stored = line_digest_bytes(*stored);
    }
  }
  if (m_count_versions && !s->second.has_versions) return false;
  d.skipped = true;
  m_skipped_lines += block.lines;
  return true;
}

template <class Row>
std::uint64_t DeviceDigests<Row>::skipped_lines() const {
  std::lock_guard lock(m_mutex);
  return m_skipped_lines;
}

template <class Row>
void DeviceDigests<Row>::decoded(const defender::InventoryBlock& block, std::span<const Row> rows) {
  const bool foreign = std::any_of(rows.begin(), rows.end(), [&](const auto& r) {
    return std::string_view(r.device_id) != block.device_id;
  });
  VersionAggregate counts;
  std::string stored;
  if constexpr (std::is_same_v<Row, defender::InventoryRow>) {
    if (m_count_versions) counts = count_versions(rows);
  } else {
    // The lines describe the rows only if the value found in the raw lines is the one
    // every row with a finding decoded to (a nested member of that name would not be),
    // and each such row makes another finding (ADR 0101).
    if (m_identity && !block.last_seen.empty() && block.cores.size() == rows.size()) {
      const auto t = last_seen_time(block.last_seen);
      LineDigests lines{std::string(block.last_seen),
                        std::vector<std::uint64_t>(block.cores.begin(), block.cores.end()),
                        {},
                        block.digest};
      lines.ids.reserve(rows.size());
      std::unordered_set<std::uint32_t> ids;
      bool ok = t.has_value();
      for (std::size_t i = 0; ok && i < rows.size(); ++i) {
        const auto id = m_identity(rows[i]);
        ok = id && (*id == 0 || (same_last_seen(rows[i], *t) && ids.insert(*id).second));
        if (ok) lines.ids.push_back(*id);
      }
      if (ok) stored = line_digest_bytes(lines);
    }
  }
  if (stored.empty()) stored = digest_bytes(block.digest);
  std::lock_guard lock(m_mutex);
  if (foreign) m_conflict = true;
  if (m_count_versions) {
    // A pair this device already counted in another block is not an installation more.
    auto& counted = m_devices[std::string(block.device_id)].counted;
    for (auto& [sw, versions] : counts) {
      for (auto& [version, c] : versions) {
        std::string key = sw;
        key += '\0';
        key += version;
        const std::uint64_t h = std::hash<std::string>{}(key);
        const auto at = std::lower_bound(counted.begin(), counted.end(), h);
        if (at != counted.end() && *at == h) {
          c.installations = 0;
        } else {
          counted.insert(at, h);
        }
      }
    }
  }
  m_decoded.push_back(Decoded{std::string(block.device_id), block.digest, block.whole,
                              m_count_versions ? encode_versions(counts) : std::string(),
                              std::move(stored)});
}

template <class Row>
std::optional<std::vector<std::uint32_t>> DeviceDigests<Row>::select(
    const defender::InventoryBlock& block) {
  constexpr auto k_none = static_cast<std::uint32_t>(-1);
  if (!m_identity || !m_allow_skip || !block.whole || block.last_seen.empty() ||
      block.cores.size() != block.lines || !last_seen_time(block.last_seen)) {
    return std::nullopt;
  }
  const auto s = m_stored.find(std::string(block.device_id));
  if (s == m_stored.end() || s->second.lines.empty()) return std::nullopt;
  auto stored = line_digests_from_bytes(s->second.lines);
  if (!stored) return std::nullopt;
  // Each line whose core is a stored line's (each stored line matched once) stands for
  // that line's finding; the others are decoded.
  std::vector<std::pair<std::uint64_t, std::uint32_t>> by_core;
  by_core.reserve(stored->cores.size());
  for (std::size_t k = 0; k < stored->cores.size(); ++k) {
    by_core.emplace_back(stored->cores[k], static_cast<std::uint32_t>(k));
  }
  std::sort(by_core.begin(), by_core.end());
  std::vector<bool> used(by_core.size(), false);
  auto plan = std::make_unique<typename Device::Plan>();
  plan->known.assign(block.cores.size(), k_none);
  std::vector<std::uint32_t> decode;
  for (std::size_t i = 0; i < block.cores.size(); ++i) {
    auto at = std::lower_bound(by_core.begin(), by_core.end(),
                               std::pair<std::uint64_t, std::uint32_t>{block.cores[i], 0});
    for (; at != by_core.end() && at->first == block.cores[i]; ++at) {
      const auto k = static_cast<std::size_t>(at - by_core.begin());
      if (used[k]) continue;
      used[k] = true;
      plan->known[i] = at->second;
      break;
    }
    if (plan->known[i] == k_none) decode.push_back(static_cast<std::uint32_t>(i));
  }
  // Most lines changed (a device moved to another group, say): decoding them all is as
  // cheap and simpler. No line changed and none is gone: skip() took such a block.
  if (decode.size() * 2 > block.cores.size()) return std::nullopt;
  if (decode.empty() && block.cores.size() == stored->cores.size()) return std::nullopt;
  plan->stored = std::move(*stored);
  std::lock_guard lock(m_mutex);
  const auto it = m_devices.find(std::string(block.device_id));
  if (it == m_devices.end() || it->second.blocks != 1) return std::nullopt;
  it->second.plan = std::move(plan);
  return decode;
}

template <class Row>
bool DeviceDigests<Row>::decoded_part(const defender::InventoryBlock& block,
                                      std::span<const std::uint32_t> lines,
                                      std::span<const Row> rows) {
  constexpr auto k_none = static_cast<std::uint32_t>(-1);
  std::unique_ptr<typename Device::Plan> plan;
  {
    std::lock_guard lock(m_mutex);
    const auto it = m_devices.find(std::string(block.device_id));
    if (it == m_devices.end() || !it->second.plan) return false;
    plan = std::move(it->second.plan);
  }
  const auto t = last_seen_time(block.last_seen);
  if (!t || lines.size() != rows.size()) return false;
  const LineDigests& stored = plan->stored;
  // The stored findings of the lines kept, and of the stored lines not met again.
  std::unordered_set<std::uint32_t> known;
  std::vector<bool> met(stored.cores.size(), false);
  LineDigests next{std::string(block.last_seen),
                   std::vector<std::uint64_t>(block.cores.begin(), block.cores.end()),
                   std::vector<std::uint32_t>(block.cores.size(), 0), block.digest};
  std::int64_t known_findings = 0;
  for (std::size_t i = 0; i < plan->known.size(); ++i) {
    if (plan->known[i] == k_none) continue;
    met[plan->known[i]] = true;
    const std::uint32_t id = stored.ids[plan->known[i]];
    next.ids[i] = id;
    if (id != 0) {
      known.insert(id);
      ++known_findings;
    }
  }
  // Each decoded row with a finding makes one that no kept line makes, with the block's
  // lastSeenTimestamp: else the whole block is decoded (as a read of every line would
  // merge rows of one finding).
  std::unordered_set<std::uint32_t> found;
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const Row& row = rows[k];
    if (std::string_view(row.device_id) != block.device_id) return false;
    const auto id = m_identity(row);
    if (!id) return false;
    if (*id != 0) {
      if (!same_last_seen(row, *t) || known.contains(*id) || !found.insert(*id).second) {
        return false;
      }
    }
    next.ids[lines[k]] = *id;
  }
  // A stored finding whose line is gone (not one decoded again with other content) is
  // closed by its identity (ADR 0111); one that a kept line also makes cannot be told
  // apart: the whole block is decoded.
  std::vector<std::uint32_t> gone;
  for (std::size_t k = 0; k < stored.ids.size(); ++k) {
    const std::uint32_t id = stored.ids[k];
    if (met[k] || id == 0 || found.contains(id)) continue;
    if (known.contains(id)) return false;
    gone.push_back(id);
  }
  std::sort(gone.begin(), gone.end());
  gone.erase(std::unique(gone.begin(), gone.end()), gone.end());
  Partial part{std::string(block.device_id),
               static_cast<std::int64_t>(block.lines - lines.size()),
               known_findings,
               known_findings + static_cast<std::int64_t>(found.size()),
               std::nullopt,
               std::move(gone)};
  if (block.last_seen != stored.last_seen) part.last_found = *t;
  std::string bytes = line_digest_bytes(next);
  std::lock_guard lock(m_mutex);
  Device& d = m_devices[std::string(block.device_id)];
  d.partial = true;
  d.part = std::move(part);
  m_decoded.push_back(
      Decoded{std::string(block.device_id), block.digest, block.whole, {}, std::move(bytes)});
  return true;
}

template <class Row>
std::vector<typename DeviceDigests<Row>::Partial> DeviceDigests<Row>::partial() const {
  std::lock_guard lock(m_mutex);
  std::vector<Partial> out;
  for (const auto& [id, d] : m_devices) {
    if (d.partial) out.push_back(d.part);
  }
  std::sort(out.begin(), out.end(),
            [](const Partial& a, const Partial& b) { return a.device_id < b.device_id; });
  return out;
}

template <class Row>
std::vector<typename DeviceDigests<Row>::Decoded> DeviceDigests<Row>::take_decoded() {
  std::lock_guard lock(m_mutex);
  std::vector<Decoded> out;
  out.swap(m_decoded);
  return out;
}

template <class Row>
bool DeviceDigests<Row>::conflict() const {
  std::lock_guard lock(m_mutex);
  return m_conflict;
}

template <class Row>
std::vector<std::pair<std::string, std::uint64_t>> DeviceDigests<Row>::skipped() const {
  std::lock_guard lock(m_mutex);
  std::vector<std::pair<std::string, std::uint64_t>> out;
  for (const auto& [id, d] : m_devices) {
    if (d.skipped) out.emplace_back(id, d.lines);
  }
  std::sort(out.begin(), out.end());
  return out;
}

template <class Row>
std::vector<typename DeviceDigests<Row>::Moved> DeviceDigests<Row>::moved() const {
  std::lock_guard lock(m_mutex);
  std::vector<Moved> out;
  for (const auto& [id, d] : m_devices) {
    if (d.skipped && d.moved_to) out.push_back(Moved{id, *d.moved_to, d.moved_stored});
  }
  std::sort(out.begin(), out.end(),
            [](const Moved& a, const Moved& b) { return a.device_id < b.device_id; });
  return out;
}

template <class Row>
bool DeviceDigests<Row>::keep(const std::string& device_id) const {
  std::lock_guard lock(m_mutex);
  const auto it = m_devices.find(device_id);
  return it != m_devices.end() && it->second.blocks == 1 && it->second.whole;
}

template <class Row>
std::vector<std::string> DeviceDigests<Row>::stale_stored() const {
  std::lock_guard lock(m_mutex);
  std::vector<std::string> out;
  for (const auto& [id, s] : m_stored) {
    const auto it = m_devices.find(id);
    if (it == m_devices.end() || it->second.blocks != 1 || !it->second.whole) out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

template <class Row>
void DeviceDigests<Row>::release_counted() {
  std::lock_guard lock(m_mutex);
  for (auto& [id, d] : m_devices) std::vector<std::uint64_t>().swap(d.counted);
}

template class DeviceDigests<defender::InventoryRow>;
template class DeviceDigests<defender::VulnerabilityRow>;

}  // namespace mdesync::sync
