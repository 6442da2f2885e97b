#pragma once

// In-memory indexes of one object table for the SQLite backend (docs/adr/0041):
//   KeyIndex: 64-bit hash of the uid -> (rowid, stored row hash), open addressing, 24
//             bytes a slot, so a full read asks SQL nothing for an unchanged row.
//   SeenSet:  bitmap by rowid of the rows a full read saw (replaces temp.seen).

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

namespace mdesync::store::sqlite {

// 64-bit hash of a uid (8 bytes a step, murmur3 finaliser). Only a lookup key: a hit is
// confirmed by the content hash (which covers the uid) or by `AND uid = ?` in SQL.
inline std::uint64_t uid_key(std::string_view uid) noexcept {
  std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uid.size() * 0xFF51AFD7ED558CCDULL);
  const char* p = uid.data();
  std::size_t n = uid.size();
  auto mix = [&](std::uint64_t v) {
    v *= 0x87C37B91114253D5ULL;
    v = std::rotl(v, 31);
    v *= 0x4CF5AD432745937FULL;
    h ^= v;
    h = std::rotl(h, 27) * 5 + 0x52DCE729;
  };
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    mix(v);
  }
  if (n > 0) {
    std::uint64_t v = 0;
    std::memcpy(&v, p, n);
    mix(v ^ (std::uint64_t{n} << 56));
  }
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDULL;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ULL;
  h ^= h >> 33;
  return h;
}

class KeyIndex {
 public:
  struct Entry {
    std::int64_t rowid = 0;
    std::optional<std::int64_t> row_hash;  // nullopt: stored NULL, the row must be rewritten
    bool ambiguous = false;                // two uids share the key: ask SQL instead
  };

  void reserve(std::size_t n) {
    std::size_t cap = 1024;
    while (cap * 3 < n * 4) cap *= 2;  // load factor <= 0.75
    if (cap > m_slots.size()) rehash(cap);
  }

  [[nodiscard]] std::optional<Entry> find(std::uint64_t key) const noexcept {
    if (m_slots.empty()) return std::nullopt;
    key = normal(key);
    for (std::size_t i = key & m_mask;; i = (i + 1) & m_mask) {
      const Slot& s = m_slots[i];
      if (s.key == 0) return std::nullopt;
      if (s.key == key) return decode(s);
    }
  }

  // Inserts or replaces. A key inserted twice with different rowids (two uids with
  // one hash), or marked so, becomes ambiguous for good.
  void put(std::uint64_t key, std::int64_t rowid, std::optional<std::int64_t> row_hash,
           bool ambiguous = false) {
    if ((m_size + 1) * 4 > m_slots.size() * 3) rehash(m_slots.empty() ? 1024 : m_slots.size() * 2);
    key = normal(key);
    for (std::size_t i = key & m_mask;; i = (i + 1) & m_mask) {
      Slot& s = m_slots[i];
      if (s.key == 0) {
        s.key = key;
        encode(s, rowid, row_hash, ambiguous);
        ++m_size;
        return;
      }
      if (s.key == key) {
        const Entry old = decode(s);
        encode(s, rowid, row_hash, ambiguous || old.ambiguous || old.rowid != rowid);
        return;
      }
    }
  }

  void mark_ambiguous(std::uint64_t key) { put(key, 0, std::nullopt, true); }

  // Forgets the stored hash of the entry in `slot` (see for_each_slot).
  void clear_hash(std::size_t slot) noexcept { m_slots[slot].meta &= ~std::uint64_t{2}; }

  [[nodiscard]] std::size_t size() const noexcept { return m_size; }

  // Calls f(slot, rowid) for every unambiguous entry.
  template <typename F>
  void for_each_slot(F&& f) const {
    for (std::size_t i = 0; i < m_slots.size(); ++i) {
      if (m_slots[i].key == 0) continue;
      const Entry e = decode(m_slots[i]);
      if (!e.ambiguous) f(i, e.rowid);
    }
  }

  // Number of ambiguous entries (their rowids are not known here).
  [[nodiscard]] bool has_ambiguous() const noexcept {
    for (const Slot& s : m_slots) {
      if (s.key != 0 && decode(s).ambiguous) return true;
    }
    return false;
  }

 private:
  // rowid and flags packed in one word: rowid << 2 | has_hash << 1 | ambiguous.
  struct Slot {
    std::uint64_t key = 0;
    std::uint64_t meta = 0;
    std::int64_t hash = 0;
  };

  static std::uint64_t normal(std::uint64_t key) noexcept { return key == 0 ? 1 : key; }
  static void encode(Slot& s, std::int64_t rowid, std::optional<std::int64_t> h, bool ambiguous) {
    s.meta = (static_cast<std::uint64_t>(rowid) << 2) | (h ? 2U : 0U) | (ambiguous ? 1U : 0U);
    s.hash = h.value_or(0);
  }
  static Entry decode(const Slot& s) noexcept {
    Entry e;
    e.rowid = static_cast<std::int64_t>(s.meta) >> 2;
    if ((s.meta & 2U) != 0) e.row_hash = s.hash;
    e.ambiguous = (s.meta & 1U) != 0;
    return e;
  }
  void rehash(std::size_t cap) {
    std::vector<Slot> old = std::move(m_slots);
    m_slots.assign(cap, Slot{});
    m_mask = cap - 1;
    for (const Slot& s : old) {
      if (s.key == 0) continue;
      for (std::size_t i = s.key & m_mask;; i = (i + 1) & m_mask) {
        if (m_slots[i].key == 0) {
          m_slots[i] = s;
          break;
        }
      }
    }
  }

  std::vector<Slot> m_slots;
  std::size_t m_mask = 0;
  std::size_t m_size = 0;
};

// Rowids are assigned by SQLite from 1 up; others (possible only if someone inserted
// rows by hand) go to a small side list so that the bitmap stays dense.
class SeenSet {
 public:
  // Returns true when the rowid was newly added.
  bool add(std::int64_t rowid) {
    if (rowid < 0 || rowid > k_dense_max) {
      if (contains(rowid)) return false;
      m_other.push_back(rowid);
      return true;
    }
    const auto i = static_cast<std::size_t>(rowid);
    if (i / 64 >= m_bits.size()) m_bits.resize(std::max(i / 64 + 1, m_bits.size() * 2), 0);
    const std::uint64_t bit = std::uint64_t{1} << (i % 64);
    if ((m_bits[i / 64] & bit) != 0) return false;
    m_bits[i / 64] |= bit;
    return true;
  }
  void remove(std::int64_t rowid) noexcept {
    if (rowid < 0 || rowid > k_dense_max) {
      std::erase(m_other, rowid);
      return;
    }
    const auto i = static_cast<std::size_t>(rowid);
    if (i / 64 < m_bits.size()) m_bits[i / 64] &= ~(std::uint64_t{1} << (i % 64));
  }
  [[nodiscard]] bool contains(std::int64_t rowid) const noexcept {
    if (rowid < 0 || rowid > k_dense_max) {
      return std::find(m_other.begin(), m_other.end(), rowid) != m_other.end();
    }
    const auto i = static_cast<std::size_t>(rowid);
    return i / 64 < m_bits.size() && (m_bits[i / 64] >> (i % 64) & 1U) != 0;
  }

 private:
  static constexpr std::int64_t k_dense_max = std::int64_t{1} << 32;
  std::vector<std::uint64_t> m_bits;
  std::vector<std::int64_t> m_other;
};

}  // namespace mdesync::store::sqlite
