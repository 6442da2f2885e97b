#pragma once

// Test-only: builds defender records from source JSON, tolerating the quirks the
// service shows (numbers for strings, strings for numbers, nulls).

#include <nlohmann/json.hpp>

#include "defender/records.hpp"

namespace mdesync::golden {

defender::Machine read_machine(const nlohmann::json& j);
defender::Software read_software(const nlohmann::json& j);
defender::Distribution read_distribution(const nlohmann::json& j);
defender::InventoryRow read_inventory_row(const nlohmann::json& j);
defender::MachineReference read_machine_reference(const nlohmann::json& j);
defender::VulnerabilityRow read_vulnerability_row(const nlohmann::json& j);
defender::Vulnerability read_vulnerability(const nlohmann::json& j);
defender::Recommendation read_recommendation(const nlohmann::json& j);

}  // namespace mdesync::golden
