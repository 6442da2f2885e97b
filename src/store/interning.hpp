#pragma once

// What both backends need to intern the rows a narrow finding or installed package
// refers to (ADR 0062, ADR 0070): the ids a narrow row keeps, and a map from a content
// digest (narrow_keys) to the id of the row with that content. How rows are loaded and
// inserted is each backend's (sqlite/dims.hpp, postgres/dims.hpp).

#include <cstddef>
#include <cstdint>
#include <vector>

#include "store/store.hpp"

namespace mdesync::store {

// The ids a narrow row stores in place of its repeated attributes.
struct NarrowRefs {
  std::int64_t item = 0;
  std::int64_t host = 0;
  std::int64_t host_context = 0;
  std::int64_t item_context = 0;
  // A finding's source_uid that does not start with targets: the row keeps it whole.
  bool literal_source_uid = false;
};

// Digest -> id, open addressing with linear probing in one array: a lookup is one cache
// line, where a node-based map took several (millions of lookups per sync). Ids are
// row ids, never 0: find() returns 0 for an unknown digest. Two different contents with
// one 128-bit digest are not a risk at tens of thousands of rows.
class DigestIds final {
 public:
  using Digest = NarrowKeys::Digest;
  [[nodiscard]] std::int64_t find(const Digest& d) const noexcept;
  // Keeps the first id of a digest inserted twice, as a map's emplace does.
  void insert(const Digest& d, std::int64_t id);
  void clear() noexcept {
    m_slots.clear();
    m_size = 0;
  }
  [[nodiscard]] std::size_t size() const noexcept { return m_size; }

 private:
  struct Slot {
    Digest digest;
    std::int64_t id = 0;
  };
  std::vector<Slot> m_slots;  // size a power of two, at most half full
  std::size_t m_size = 0;
};

}  // namespace mdesync::store
