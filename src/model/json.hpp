#pragma once

// Model rows as JSON objects with the data model's attribute names (camelCase), source-only
// fields under "source". Used by `mdesync export` and the golden mapping tests.

#include <nlohmann/json.hpp>

#include "model/model.hpp"

namespace mdesync::model {

nlohmann::json to_json(const Host& r);
nlohmann::json to_json(const Package& r);
nlohmann::json to_json(const InstalledPackage& r);
nlohmann::json to_json(const Vulnerability& r);
nlohmann::json to_json(const VulnerabilityDefinition& r);

}  // namespace mdesync::model
