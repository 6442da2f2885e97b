#pragma once

// Test-only: model rows as JSON objects with the data model's attribute names.

#include <nlohmann/json.hpp>

#include "model/model.hpp"

namespace mdesync::golden {

nlohmann::json to_json(const model::Host& r);
nlohmann::json to_json(const model::Package& r);
nlohmann::json to_json(const model::InstalledPackage& r);
nlohmann::json to_json(const model::Vulnerability& r);
nlohmann::json to_json(const model::VulnerabilityDefinition& r);

}  // namespace mdesync::golden
