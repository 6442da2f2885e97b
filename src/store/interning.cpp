#include "store/interning.hpp"

#include <algorithm>

namespace mdesync::store {

std::int64_t DigestIds::find(const Digest& d) const noexcept {
  if (m_slots.empty()) return 0;
  const std::size_t mask = m_slots.size() - 1;
  for (std::size_t i = d.low & mask;; i = (i + 1) & mask) {
    const Slot& s = m_slots[i];
    if (s.id == 0) return 0;
    if (s.digest == d) return s.id;
  }
}

void DigestIds::insert(const Digest& d, std::int64_t id) {
  if (2 * (m_size + 1) > m_slots.size()) {
    std::vector<Slot> old = std::move(m_slots);
    m_slots.assign(std::max<std::size_t>(1024, 2 * old.size()), Slot{});
    m_size = 0;
    for (const Slot& s : old) {
      if (s.id != 0) insert(s.digest, s.id);
    }
  }
  const std::size_t mask = m_slots.size() - 1;
  for (std::size_t i = d.low & mask;; i = (i + 1) & mask) {
    Slot& s = m_slots[i];
    if (s.id == 0) {
      s = Slot{d, id};
      ++m_size;
      return;
    }
    if (s.digest == d) return;
  }
}

}  // namespace mdesync::store
