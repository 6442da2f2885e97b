#pragma once

// In-memory indexes of one object table (docs/adr/0041):
//   KeyIndex: hash of the uid -> (rowid, stored row hash), open addressing, 20 bytes a
//             slot, so a full read asks SQL nothing for an unchanged row. The SQLite
//             store keeps one per object; the PostgreSQL store one for the installed
//             packages of a large full read (docs/adr/0113).
//   SeenSet:  bitmap by rowid of the rows a full read saw (replaces temp.seen; SQLite).

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

namespace mdesync::store {

// murmur3's 64-bit finaliser: a bijection (each step can be undone), so distinct inputs
// give distinct outputs.
constexpr std::uint64_t finalise(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDULL;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ULL;
  h ^= h >> 33;
  return h;
}

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
  return finalise(h);
}

// An exact key of a pair of ids that both fit 32 bits (and are not both 0): the pair
// packed in 64 bits, then mixed by murmur3's finaliser, a bijection, so that two pairs
// never share a key; nullopt for a pair that does not fit.
inline std::optional<std::uint64_t> pair_key(std::int64_t a, std::int64_t b) noexcept {
  constexpr std::int64_t k_limit = std::int64_t{1} << 32;
  if (a < 0 || b < 0 || a >= k_limit || b >= k_limit || (a == 0 && b == 0)) return std::nullopt;
  return finalise(static_cast<std::uint64_t>(a) << 32 | static_cast<std::uint64_t>(b));
}

// uid key -> (rowid, stored row hash) of every row of a table, 20 bytes a slot. Two
// uids with one 64-bit key make the key `ambiguous`: the store asks SQL for it (the
// content hash and the uid check by rowid catch a shared key). Rowids above 2^30 - 1 do
// not fit a slot and make their key ambiguous too. (31-bit keys in 16-byte slots were
// tried: ~500 shared keys at 1.5 M rows, each a table scan while a first load has the
// uid index dropped.) The rowids of ambiguous keys are kept on a side list, so
// that for_each_slot still names every row. The table is split in 16 shards that grow
// one at a time: growing never holds more than 1/16 of the index twice.
class KeyIndex {
 public:
  struct Entry {
    std::int64_t rowid = 0;
    std::optional<std::int64_t> row_hash;  // nullopt: stored NULL, the row must be rewritten
    bool ambiguous = false;                // two uids share the key: ask SQL instead
  };

  static constexpr std::int64_t k_max_rowid = (std::int64_t{1} << 30) - 1;

  // Sizes the shards for n keys at once (no growth until then).
  void reserve(std::size_t n) {
    for (auto& sh : m_shards) {
      const std::size_t want = n / k_shards + n / (k_shards * 8) + 16;
      std::size_t cap = k_min_cap;
      while (cap * 4 < want * 5) cap *= 2;  // load factor <= 0.8
      if (cap > sh.slots.size()) sh.rehash(cap);
    }
  }

  [[nodiscard]] std::optional<Entry> find(std::uint64_t key) const noexcept {
    const std::uint64_t t = tag(key);
    const Shard& sh = m_shards[shard_of(t)];
    if (sh.slots.empty()) return std::nullopt;
    for (std::size_t i = t & sh.mask;; i = (i + 1) & sh.mask) {
      const Slot& s = sh.slots[i];
      if (s.key == 0) return std::nullopt;
      if (s.key == t) return decode(s);
    }
  }

  // Inserts or replaces. A key inserted twice with different rowids (two uids with
  // one tag), or marked so, or with a rowid that does not fit, becomes ambiguous for good.
  void put(std::uint64_t key, std::int64_t rowid, std::optional<std::int64_t> row_hash,
           bool ambiguous = false) {
    const std::uint64_t t = tag(key);
    Shard& sh = m_shards[shard_of(t)];
    if ((sh.size + 1) * 5 > sh.slots.size() * 4) {
      sh.rehash(sh.slots.empty() ? k_min_cap : sh.slots.size() * 2);
    }
    const bool fits = rowid >= 0 && rowid <= k_max_rowid;
    for (std::size_t i = t & sh.mask;; i = (i + 1) & sh.mask) {
      Slot& s = sh.slots[i];
      if (s.key == 0) {
        ++sh.size;
        ++m_size;
        if (!fits || ambiguous) {
          make_ambiguous(s, t, rowid);
        } else {
          encode(s, t, rowid, row_hash);
        }
        return;
      }
      if (s.key != t) continue;
      const Entry old = decode(s);
      if (old.ambiguous) {
        remember(rowid);
      } else if (!fits || ambiguous || old.rowid != rowid) {
        remember(old.rowid);
        make_ambiguous(s, t, rowid);
      } else {
        encode(s, t, rowid, row_hash);
      }
      return;
    }
  }

  void mark_ambiguous(std::uint64_t key) { put(key, 0, std::nullopt, true); }

  // Forgets the stored hash of the entry in `slot` (see for_each_slot).
  void clear_hash(std::size_t slot) noexcept {
    m_shards[slot >> k_slot_bits].slots[slot & k_slot_mask].meta &= ~std::uint32_t{1};
  }

  [[nodiscard]] std::size_t size() const noexcept { return m_size; }
  [[nodiscard]] std::size_t capacity() const noexcept {
    std::size_t n = 0;
    for (const auto& sh : m_shards) n += sh.slots.size();
    return n;
  }

  // Calls f(slot, rowid) for every unambiguous entry, then f(npos, rowid) for every
  // rowid known under an ambiguous key (once each; 0 is never one: SQLite assigns
  // rowids from 1).
  static constexpr std::size_t npos = ~std::size_t{0};
  template <typename F>
  void for_each_slot(F&& f) {
    for (std::size_t n = 0; n < k_shards; ++n) {
      const auto& slots = m_shards[n].slots;
      for (std::size_t i = 0; i < slots.size(); ++i) {
        if (slots[i].key == 0 || (slots[i].meta & 2U) != 0) continue;
        f((n << k_slot_bits) | i, decode(slots[i]).rowid);
      }
    }
    std::sort(m_side.begin(), m_side.end());
    m_side.erase(std::unique(m_side.begin(), m_side.end()), m_side.end());
    for (const auto rowid : m_side) f(npos, rowid);
  }

 private:
  // key: 0 when empty; meta: rowid << 2 | ambiguous << 1 | has_hash.
#pragma pack(push, 4)
  struct Slot {
    std::uint64_t key = 0;
    std::int64_t hash = 0;
    std::uint32_t meta = 0;
  };
#pragma pack(pop)
  static_assert(sizeof(Slot) == 20);

  struct Shard {
    std::vector<Slot> slots;
    std::size_t mask = 0;
    std::size_t size = 0;
    void rehash(std::size_t cap) {
      std::vector<Slot> old = std::move(slots);
      slots.assign(cap, Slot{});
      slots.shrink_to_fit();
      mask = cap - 1;
      for (const Slot& s : old) {
        if (s.key == 0) continue;
        for (std::size_t i = s.key & mask;; i = (i + 1) & mask) {
          if (slots[i].key == 0) {
            slots[i] = s;
            break;
          }
        }
      }
    }
  };

  static constexpr std::size_t k_shards = 16;
  static constexpr std::size_t k_min_cap = 64;
  static constexpr int k_slot_bits = 40;
  static constexpr std::size_t k_slot_mask = (std::size_t{1} << k_slot_bits) - 1;

  // The key, never 0 (0 marks an empty slot): the top 4 bits pick the shard, the low
  // ones the home slot.
  static std::uint64_t tag(std::uint64_t key) noexcept {
    return key == 0 ? 1 : key;
  }
  static std::size_t shard_of(std::uint64_t t) noexcept {
    return t >> 60;
  }

  static void encode(Slot& s, std::uint64_t t, std::int64_t rowid,
                     std::optional<std::int64_t> h) noexcept {
    s.key = t;
    s.meta = (static_cast<std::uint32_t>(rowid) << 2) | (h ? 1U : 0U);
    s.hash = h.value_or(0);
  }
  void make_ambiguous(Slot& s, std::uint64_t t, std::int64_t rowid) {
    remember(rowid);
    s.key = t;
    s.meta = 2U;
    s.hash = 0;
  }
  void remember(std::int64_t rowid) {
    if (rowid != 0) m_side.push_back(rowid);
  }
  static Entry decode(const Slot& s) noexcept {
    Entry e;
    e.ambiguous = (s.meta & 2U) != 0;
    if (e.ambiguous) return e;
    e.rowid = static_cast<std::int64_t>(s.meta >> 2);
    // A copy first: a reference may not bind to a member of the packed Slot.
    if ((s.meta & 1U) != 0) e.row_hash = std::int64_t{s.hash};
    return e;
  }

  std::array<Shard, k_shards> m_shards;
  std::size_t m_size = 0;
  std::vector<std::int64_t> m_side;  // rowids under ambiguous keys (may repeat)
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

}  // namespace mdesync::store
