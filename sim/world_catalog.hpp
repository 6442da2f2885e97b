#pragma once

// The fixed catalogue the synthetic tenant is drawn from: operating systems with their
// versions, applications, device-group names; and the CVSS vectors and severities of
// generated CVEs. Shared by generation, evolution and the machine entity.

#include <array>
#include <cstdint>
#include <string>

#include "sim_util.hpp"

namespace mdesim {

inline constexpr std::int64_t k_day = 86400;
inline constexpr std::int64_t k_step = 6 * 3600;

struct OsSpec {
  const char* platform;
  const char* vendor;
  const char* product;
  const char* display;
  std::array<const char*, 4> versions;
  std::array<const char*, 4> releases;
  std::array<std::int64_t, 4> builds;
  std::uint32_t weight;
};

extern const std::array<OsSpec, 6> k_os;

struct AppSpec {
  const char* vendor;
  const char* name;
  const char* display;
};

extern const std::array<AppSpec, 40> k_apps;
extern const std::array<const char*, 12> k_group_names;

// The severity band of a CVSS base score.
std::string severity_of(double score);
// A random CVSS 3.0 or 3.1 base vector.
std::string random_vector(Rng& rng);

}  // namespace mdesim
