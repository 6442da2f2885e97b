#include "mapping/filters.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <functional>
#include <optional>

#include "util/time.hpp"

namespace mdesync::mapping {
namespace {

using util::ErrorCode;
using util::fail;

enum class ValueType { text, integer, number, timestamp, enumeration };

struct KeySpec {
  std::string_view key;
  ValueType type;
  std::vector<std::string_view> allowed;  // enumeration only
};

const std::vector<KeySpec>& specs(model::ObjectType object) {
  static const std::vector<KeySpec> k_machine = {
      {"computerDnsName", ValueType::text, {}},
      {"id", ValueType::text, {}},
      {"version", ValueType::text, {}},
      {"deviceValue", ValueType::enumeration, {"Normal", "Low", "High"}},
      {"aadDeviceId", ValueType::text, {}},
      {"machineTags", ValueType::text, {}},
      {"lastSeen", ValueType::timestamp, {}},
      {"exposureLevel", ValueType::enumeration, {"None", "Low", "Medium", "High"}},
      {"onboardingStatus",
       ValueType::enumeration,
       {"Onboarded", "CanBeOnboarded", "Unsupported", "InsufficientInfo"}},
      {"lastIpAddress", ValueType::text, {}},
      {"healthStatus",
       ValueType::enumeration,
       {"Active", "Inactive", "ImpairedCommunication", "NoSensorData",
        "NoSensorDataImpairedCommunication", "Unknown"}},
      {"osPlatform", ValueType::text, {}},
      {"riskScore", ValueType::enumeration, {"None", "Informational", "Low", "Medium", "High"}},
      {"rbacGroupId", ValueType::integer, {}},
  };
  static const std::vector<KeySpec> k_software = {
      {"id", ValueType::text, {}}, {"name", ValueType::text, {}}, {"vendor", ValueType::text, {}}};
  static const std::vector<KeySpec> k_vulnerability = {
      {"rbacGroupId", ValueType::integer, {}},
      {"severity", ValueType::enumeration, {"Critical", "High", "Medium", "Low", "Unknown"}},
      {"status", ValueType::enumeration, {"Active", "Fixed", "Reopened"}},
  };
  static const std::vector<KeySpec> k_definition = {
      {"id", ValueType::text, {}},
      {"severity", ValueType::enumeration, {"Critical", "High", "Medium", "Low"}},
      {"cvssV3", ValueType::number, {}},
      {"publishedOn", ValueType::timestamp, {}},
      {"updatedOn", ValueType::timestamp, {}},
  };
  switch (object) {
    case model::ObjectType::host:
      return k_machine;
    case model::ObjectType::package:
    case model::ObjectType::installed_package:
      return k_software;
    case model::ObjectType::vulnerability:
      return k_vulnerability;
    case model::ObjectType::vulnerability_definition:
      return k_definition;
  }
  return k_software;
}

std::string_view object_label(model::ObjectType object) {
  return object == model::ObjectType::host ? "machine" : model::to_string(object);
}

bool is_integer(std::string_view v) {
  std::int64_t out = 0;
  const auto* end = v.data() + v.size();
  auto [p, ec] = std::from_chars(v.data(), end, out);
  return !v.empty() && ec == std::errc() && p == end;
}

std::optional<double> to_number(std::string_view v) {
  if (v.empty()) return std::nullopt;
  std::string s(v);
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return d;
}

std::string quote(std::string_view v) {
  std::string out = "'";
  for (const char c : v) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

const KeySpec* find_spec(model::ObjectType object, std::string_view key) {
  for (const auto& s : specs(object)) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

template <typename Fn>
bool key_matches(const Filters& filters, std::string_view key, Fn&& value_of) {
  const auto it = filters.find(std::string(key));
  if (it == filters.end()) return true;
  const std::optional<std::string> value = value_of();
  if (!value) return false;
  return std::find(it->second.begin(), it->second.end(), *value) != it->second.end();
}

std::string vendor_of(std::string_view software_id) {
  const auto pos = software_id.find("-_-");
  return std::string(pos == std::string_view::npos ? software_id : software_id.substr(0, pos));
}

// "(k eq a or k eq b)" for one key.
std::string any_of(const std::vector<std::string>& values,
                   const std::function<std::string(const std::string&)>& term) {
  std::string out;
  for (const auto& v : values) {
    if (!out.empty()) out += " or ";
    out += term(v);
  }
  return values.size() > 1 ? "(" + out + ")" : out;
}

std::string and_all(const std::vector<std::string>& clauses) {
  std::string out;
  for (const auto& c : clauses) {
    if (c.empty()) continue;
    if (!out.empty()) out += " and ";
    out += c;
  }
  return out;
}

std::string timestamp_literal(const std::string& v) {
  auto t = util::parse_timestamp(v);
  return t ? util::format_timestamp(*t) : v;
}

}  // namespace

util::Status validate_filters(model::ObjectType object, const Filters& filters) {
  for (const auto& [key, values] : filters) {
    const KeySpec* spec = find_spec(object, key);
    if (spec == nullptr) {
      std::string known;
      for (const auto& s : specs(object)) {
        if (!known.empty()) known += ", ";
        known += s.key;
      }
      return fail(ErrorCode::config,
                  fmt::format("filters.{}: unknown key '{}' (keys are case-sensitive; known: {})",
                              object_label(object), key, known));
    }
    if (values.empty()) {
      return fail(ErrorCode::config,
                  fmt::format("filters.{}.{}: no value given", object_label(object), key));
    }
    for (const auto& v : values) {
      const auto bad = [&](std::string_view expected) {
        return fail(ErrorCode::config, fmt::format("filters.{}.{}: '{}' is not {}",
                                                   object_label(object), key, v, expected));
      };
      switch (spec->type) {
        case ValueType::text:
          if (v.empty()) return bad("a non-empty string");
          break;
        case ValueType::integer:
          if (!is_integer(v)) return bad("an integer");
          break;
        case ValueType::number: {
          const auto d = to_number(v);
          if (!d || *d < 0.0 || *d > 10.0) return bad("a number from 0 to 10");
          break;
        }
        case ValueType::timestamp:
          if (!util::parse_timestamp(v)) return bad("a date or ISO 8601 time");
          break;
        case ValueType::enumeration:
          if (std::find(spec->allowed.begin(), spec->allowed.end(), v) == spec->allowed.end()) {
            std::string allowed;
            for (const auto a : spec->allowed) {
              if (!allowed.empty()) allowed += ", ";
              allowed += a;
            }
            return bad(fmt::format("one of {} (case-sensitive)", allowed));
          }
          break;
      }
    }
  }
  return {};
}

util::Status validate_filters(const std::map<std::string, Filters>& filters) {
  for (const auto& [object_name, object_filters] : filters) {
    const auto object = model::parse_object_type(object_name);
    if (!object || object_name == "host") {
      return fail(ErrorCode::config,
                  fmt::format("filters: unknown object '{}' (machine, package, installed_package, "
                              "vulnerability, vulnerability_definition)",
                              object_name));
    }
    if (auto st = validate_filters(*object, object_filters); !st) return st;
  }
  return {};
}

bool matches(const model::Vulnerability& row, const Filters& filters) {
  return key_matches(filters, "rbacGroupId", [&] { return row.source.rbac_group_id; }) &&
         key_matches(filters, "severity",
                     [&] { return std::optional<std::string>(model::to_string(row.severity)); }) &&
         key_matches(filters, "status",
                     [&] { return std::optional<std::string>(model::to_string(row.status)); });
}

bool matches(const model::Package& row, const Filters& filters) {
  return key_matches(filters, "id", [&] { return std::optional<std::string>(row.uid); }) &&
         key_matches(filters, "name", [&] { return row.name; }) &&
         key_matches(filters, "vendor", [&] { return row.source.vendor; });
}

bool matches(const model::InstalledPackage& row, const Filters& filters) {
  return key_matches(filters, "id", [&] { return std::optional<std::string>(row.type); }) &&
         key_matches(filters, "name", [&] { return row.name; }) &&
         key_matches(filters, "vendor",
                     [&] { return std::optional<std::string>(vendor_of(row.type)); });
}

std::string machine_odata_filter(const Filters& filters) {
  std::vector<std::string> clauses;
  for (const auto& [key, values] : filters) {
    const KeySpec* spec = find_spec(model::ObjectType::host, key);
    if (spec == nullptr) continue;
    if (key == "machineTags") {
      clauses.push_back(any_of(values, [](const std::string& v) {
        return "machineTags/any(tag: tag eq " + quote(v) + ")";
      }));
    } else if (spec->type == ValueType::timestamp) {
      // "not before": the newest of several values is the tightest, but values OR.
      clauses.push_back(any_of(
          values, [&](const std::string& v) { return key + " ge " + timestamp_literal(v); }));
    } else if (spec->type == ValueType::integer) {
      clauses.push_back(any_of(values, [&](const std::string& v) { return key + " eq " + v; }));
    } else {
      clauses.push_back(
          any_of(values, [&](const std::string& v) { return key + " eq " + quote(v); }));
    }
  }
  return and_all(clauses);
}

std::string software_odata_filter(const Filters& filters) {
  std::vector<std::string> clauses;
  for (const auto& [key, values] : filters) {
    if (find_spec(model::ObjectType::package, key) == nullptr) continue;
    clauses.push_back(
        any_of(values, [&](const std::string& v) { return key + " eq " + quote(v); }));
  }
  return and_all(clauses);
}

std::string vulnerability_definition_odata_filter(const Filters& filters) {
  std::vector<std::string> clauses;
  for (const auto& [key, values] : filters) {
    const KeySpec* spec = find_spec(model::ObjectType::vulnerability_definition, key);
    if (spec == nullptr) continue;
    if (key == "cvssV3") {
      clauses.push_back(any_of(values, [](const std::string& v) { return "cvssV3 ge " + v; }));
    } else if (spec->type == ValueType::timestamp) {
      clauses.push_back(any_of(
          values, [&](const std::string& v) { return key + " ge " + timestamp_literal(v); }));
    } else {
      clauses.push_back(
          any_of(values, [&](const std::string& v) { return key + " eq " + quote(v); }));
    }
  }
  return and_all(clauses);
}

}  // namespace mdesync::mapping
