#pragma once

// Operation options (docs/model.md, "Operation options"): validation, local matching and the
// OData $filter expressions for the options the API evaluates itself.

#include <map>
#include <string>
#include <vector>

#include "model/model.hpp"
#include "util/result.hpp"

namespace mdesync::mapping {

// Same shape as config::Filters: key -> accepted values (ORed); keys ANDed.
using Filters = std::map<std::string, std::vector<std::string>>;

// Checks every object's options (object names as in the config: machine, package,
// installed_package, vulnerability, vulnerability_definition). An unknown object or
// key, an empty value list or a wrong-typed value is ErrorCode::config naming it.
util::Status validate_filters(const std::map<std::string, Filters>& filters);
util::Status validate_filters(model::ObjectType object, const Filters& filters);

// Local matching, on model rows. An empty Filters matches everything.
bool matches(const model::Vulnerability& row,
             const Filters& filters);                             // rbacGroupId, severity, status
bool matches(const model::Package& row, const Filters& filters);  // id, name, vendor
bool matches(const model::InstalledPackage& row, const Filters& filters);  // id, name, vendor

// OData $filter expressions (not URL-encoded); empty when nothing is pushed down.
// Call validate_filters first: invalid values are not re-checked here.
std::string machine_odata_filter(const Filters& filters);
std::string software_odata_filter(const Filters& filters);
std::string vulnerability_definition_odata_filter(const Filters& filters);

}  // namespace mdesync::mapping
