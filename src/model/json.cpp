#include "model/json.hpp"

#include <type_traits>

namespace mdesync::model {
namespace {

using nlohmann::json;

// One declared attribute's value as the export writes it.
template <typename T>
json value(const T& v) {
  if constexpr (std::is_enum_v<T>) {
    return json(to_string(v));
  } else if constexpr (std::is_same_v<T, OptTime>) {
    return v ? json(util::format_timestamp(*v)) : json(nullptr);
  } else if constexpr (std::is_same_v<T, std::vector<PackageVersion>>) {
    json versions = json::array();
    for (const auto& pv : v) {
      versions.push_back({{"version", pv.version},
                          {"installations", value(pv.installations)},
                          {"vulnerabilities", value(pv.vulnerabilities)}});
    }
    return versions;
  } else if constexpr (requires { v.has_value(); }) {
    return v ? json(*v) : json(nullptr);
  } else {
    return json(v);
  }
}

// Every exported attribute (model/attributes.hpp): model attributes at the top level,
// source-only fields under "source". Keys are ordered by name (nlohmann::json's map).
template <typename Row>
json row_json(const Row& r) {
  json out = json::object();
  json source = json::object();
  bool has_source = false;
  for_each_attribute<Row>([&](const auto& a) {
    if (!a.info.exported) return;
    const bool in_source = a.info.group == AttrGroup::source;
    has_source = has_source || in_source;
    (in_source ? source : out)[std::string(a.info.name)] = value(a.get(r));
  });
  if (has_source) out["source"] = std::move(source);
  return out;
}

}  // namespace

json to_json(const Host& r) {
  return row_json(r);
}
json to_json(const Package& r) {
  return row_json(r);
}
json to_json(const InstalledPackage& r) {
  return row_json(r);
}
json to_json(const Vulnerability& r) {
  return row_json(r);
}
json to_json(const VulnerabilityDefinition& r) {
  return row_json(r);
}

}  // namespace mdesync::model
