#pragma once

// Small self-contained helpers for the simulator: randomness, hashing, time text,
// base64, URL and JSON escaping. Deliberately independent of the client's src/util.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mdesim {

// splitmix64-seeded xorshift: fast, deterministic across platforms.
class Rng {
 public:
  explicit Rng(std::uint64_t seed);
  std::uint64_t next();
  // Uniform in [0, n); n must be > 0.
  std::uint64_t below(std::uint64_t n);
  double unit();  // [0, 1)
  bool chance(double p) { return unit() < p; }

 private:
  std::uint64_t m_state;
};

std::uint64_t mix64(std::uint64_t x);
std::uint64_t hash_str(std::string_view s, std::uint64_t seed = 0);
std::uint64_t hash_combine(std::uint64_t a, std::uint64_t b);

// 40 lowercase hex characters (machine ids), GUIDs, hex strings.
std::string hex40(std::uint64_t a, std::uint64_t b);
std::string guid(std::uint64_t a, std::uint64_t b);

// Unix seconds <-> text. iso: 2026-01-05T06:00:00Z; export: 2026-01-05 06:00:00.
std::string iso_time(std::int64_t t);
std::string iso_time_frac(std::int64_t t, int frac7);  // 2026-01-05T06:00:00.1234567Z
std::string export_time(std::int64_t t);
std::string export_time7(std::int64_t t);  // 2026-01-05 06:00:00.0000000
std::string aad_time(std::int64_t t);      // 2026-01-05 06:00:00Z
std::string time_path(std::int64_t t);     // 2026-01-05/0601/
// Accepts ISO 8601 date or date-time, optional fraction, Z or +hh:mm offset.
std::optional<std::int64_t> parse_time(std::string_view s);
std::int64_t floor6h(std::int64_t t);

std::string base64(std::string_view in, bool url);
std::optional<std::string> unbase64(std::string_view in);
std::string url_encode(std::string_view s);

// Appends `s` as a JSON string literal (with quotes).
void json_str(std::string& out, std::string_view s);
std::string lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);

}  // namespace mdesim
