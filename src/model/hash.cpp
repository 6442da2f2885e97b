#include "model/hash.hpp"

#include <bit>
#include <cstring>
#include <string_view>
#include <type_traits>

namespace mdesync::model {
namespace {

// A word-at-a-time multiply/rotate hash with a fixed seed and explicit byte order, so
// the value is stable across runs and builds (it is persisted in the store). Every
// field is framed (presence tag, length) so that adjacent fields cannot alias.
class Hasher {
 public:
  void bytes(std::string_view data) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    std::size_t n = data.size();
    while (n >= 8) {
      mix(load(p, 8));
      p += 8;
      n -= 8;
    }
    if (n > 0) mix(load(p, n) ^ (std::uint64_t{0xA5} << 56));
  }
  void u64(std::uint64_t v) noexcept { mix(v); }
  void str(std::string_view s) noexcept {
    u64(0x5354520000000000ULL ^ s.size());
    bytes(s);
  }
  void opt(const OptString& s) noexcept {
    if (s) {
      str(*s);
    } else {
      u64(k_null);
    }
  }
  void opt(const OptBool& b) noexcept { u64(b ? (*b ? 0xB1 : 0xB0) : k_null); }
  void opt(const OptInt& i) noexcept {
    if (i) {
      u64(0x1A7);
      u64(static_cast<std::uint64_t>(*i));
    } else {
      u64(k_null);
    }
  }
  void opt(const OptDouble& d) noexcept {
    if (d) {
      u64(0xD0B);
      u64(std::bit_cast<std::uint64_t>(*d == 0.0 ? 0.0 : *d));
    } else {
      u64(k_null);
    }
  }
  void opt(const OptTime& t) noexcept {
    if (t) {
      u64(0x713E);
      u64(static_cast<std::uint64_t>(t->time_since_epoch().count()));
    } else {
      u64(k_null);
    }
  }
  void list(const Strings& values) noexcept {
    u64(0x11570000ULL ^ values.size());
    for (const auto& v : values) str(v);
  }
  void opt(const std::optional<Strings>& values) noexcept {
    if (values) {
      list(*values);
    } else {
      u64(k_null);
    }
  }
  template <typename E>
  void enumeration(E e) noexcept {
    u64(std::uint64_t{0xE0000} + static_cast<std::uint64_t>(e));
  }
  void versions(const std::vector<PackageVersion>& values) noexcept {
    u64(values.size());
    for (const auto& v : values) {
      str(v.version);
      opt(v.installations);
      opt(v.vulnerabilities);
    }
  }

  // One declared attribute's value, framed by its type.
  template <typename T>
  void value(const T& v) noexcept {
    if constexpr (std::is_enum_v<T>) {
      enumeration(v);
    } else if constexpr (std::is_same_v<T, std::string>) {
      str(v);
    } else if constexpr (std::is_same_v<T, Strings>) {
      list(v);
    } else if constexpr (std::is_same_v<T, std::vector<PackageVersion>>) {
      versions(v);
    } else {
      opt(v);
    }
  }

  [[nodiscard]] RowHash finish() const noexcept {
    std::uint64_t h = m_state;
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 33;
    return static_cast<RowHash>(h);
  }

 private:
  static constexpr std::uint64_t k_null = 0x4E554C4C4E554C4CULL;

  // The n (<= 8) bytes at p as a little-endian number, whatever the host's byte order.
  // One load, not a loop of byte shifts (which made content_hash a hot spot).
  static std::uint64_t load(const unsigned char* p, std::size_t n) noexcept {
    std::uint64_t v = 0;
    if (n == 8) {
      std::memcpy(&v, p, 8);
    } else {
      std::memcpy(&v, p, n);
    }
    if constexpr (std::endian::native == std::endian::big) v = byteswap(v);
    return v;
  }
  static constexpr std::uint64_t byteswap(std::uint64_t v) noexcept {
    std::uint64_t out = 0;
    for (int i = 0; i < 8; ++i) out |= ((v >> (8 * i)) & 0xFFU) << (8 * (7 - i));
    return out;
  }
  void mix(std::uint64_t v) noexcept {
    v *= 0x87C37B91114253D5ULL;
    v = std::rotl(v, 31);
    v *= 0x4CF5AD432745937FULL;
    m_state ^= v;
    m_state = std::rotl(m_state, 27) * 5 + 0x52DCE729;
  }

  std::uint64_t m_state = 0x6D64657379E3C001ULL;
};

// Every hashed attribute in declaration order (model/attributes.hpp).
template <typename Row>
RowHash hash_row(const Row& r) noexcept {
  Hasher h;
  for_each_attribute<Row>([&](const auto& a) {
    using T = typename std::remove_cvref_t<decltype(a)>::value_type;
    if (!a.info.hashed) return;
    // An attribute declared after stores existed counts only when it has a value: the
    // rows stored without it keep their hash.
    if (a.info.appended && a.get(r) == T{}) return;
    h.value(a.get(r));
  });
  return h.finish();
}

}  // namespace

RowHash content_hash(const Host& r) noexcept {
  return hash_row(r);
}
RowHash content_hash(const Package& r) noexcept {
  return hash_row(r);
}
RowHash content_hash(const InstalledPackage& r) noexcept {
  return hash_row(r);
}
RowHash content_hash(const Vulnerability& r) noexcept {
  return hash_row(r);
}
RowHash content_hash(const VulnerabilityDefinition& r) noexcept {
  return hash_row(r);
}

}  // namespace mdesync::model
