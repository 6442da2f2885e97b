#pragma once

// A minimal CVSS v3.1 base-score calculator for the simulator's CVE catalogue, written
// independently of the client's src/cvss so the two can check each other.

#include <optional>
#include <string_view>

namespace mdesim {

// Base score of a "CVSS:3.x/AV:../AC:../PR:../UI:../S:../C:../I:../A:.." vector, or
// nullopt when a base metric is missing or unknown. v3.0 vectors use the same formula
// except for rounding, which v3.1 made exact; the v3.1 roundup is used for both.
std::optional<double> cvss31_base_score(std::string_view vector);

}  // namespace mdesim
