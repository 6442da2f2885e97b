// `mdesync export`: the stored model rows of one object as NDJSON or CSV.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/common.hpp"
#include "mapping/filters.hpp"
#include "model/json.hpp"
#include "store/open.hpp"
#include "store/store.hpp"

namespace mdesync::cli {
namespace {

struct ExportFlags {
  config::Overrides overrides;
  std::string object;
  std::string format = "ndjson";
  std::vector<std::string> where;
  std::string output;
};

// `attr=value` conditions on the exported attributes (top level or `source.attr`):
// values of one attribute are ORed, attributes ANDed, like the operation options.
using Conditions = std::map<std::string, std::vector<std::string>>;

std::string text_of(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

bool holds(const nlohmann::json& row, const Conditions& where) {
  for (const auto& [attr, values] : where) {
    const nlohmann::json* v = &row;
    std::size_t start = 0;
    while (v != nullptr) {
      const auto dot = attr.find('.', start);
      const std::string part =
          attr.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      v = v->is_object() && v->contains(part) ? &(*v)[part] : nullptr;
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    if (v == nullptr) return false;
    bool any = false;
    for (const auto& want : values) {
      if (v->is_array()) {
        for (const auto& item : *v) any = any || text_of(item) == want;
      } else {
        any = any || text_of(*v) == want;
      }
    }
    if (!any) return false;
  }
  return true;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// Flattens {"a":1,"source":{"b":2}} to columns a, source.b.
void flatten(const nlohmann::json& row, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& out) {
  for (const auto& [k, v] : row.items()) {
    if (v.is_object()) {
      flatten(v, prefix + k + ".", out);
    } else {
      out.emplace_back(prefix + k, text_of(v));
    }
  }
}

class Writer {
 public:
  Writer(std::ostream& out, bool csv) : m_out(out), m_csv(csv) {}
  void write(const nlohmann::json& row) {
    if (!m_csv) {
      m_out << row.dump() << '\n';
      return;
    }
    std::vector<std::pair<std::string, std::string>> cols;
    flatten(row, "", cols);
    if (!m_header_done) {
      for (std::size_t i = 0; i < cols.size(); ++i)
        m_out << (i ? "," : "") << csv_field(cols[i].first);
      m_out << '\n';
      m_header_done = true;
    }
    for (std::size_t i = 0; i < cols.size(); ++i)
      m_out << (i ? "," : "") << csv_field(cols[i].second);
    m_out << '\n';
  }

 private:
  std::ostream& m_out;
  bool m_csv;
  bool m_header_done = false;
};

// Every attribute path an exported row of `object` has (`source.x` for source-only
// fields): all keys are written, null or not, so a default row lists them all.
std::vector<std::string> attributes_of(model::ObjectType object) {
  nlohmann::json row;
  switch (object) {
    case model::ObjectType::host:
      row = model::to_json(model::Host{});
      break;
    case model::ObjectType::package:
      row = model::to_json(model::Package{});
      break;
    case model::ObjectType::installed_package:
      row = model::to_json(model::InstalledPackage{});
      break;
    case model::ObjectType::vulnerability:
      row = model::to_json(model::Vulnerability{});
      break;
    case model::ObjectType::vulnerability_definition:
      row = model::to_json(model::VulnerabilityDefinition{});
      break;
  }
  std::vector<std::pair<std::string, std::string>> cols;
  flatten(row, "", cols);
  std::vector<std::string> names;
  names.reserve(cols.size());
  for (auto& [name, value] : cols) names.push_back(std::move(name));
  return names;
}

// The --where conditions, checked against the object's attributes; an exit code when
// they are not usable.
std::optional<int> parse_where(const ExportFlags& flags, model::ObjectType object,
                               Conditions& where) {
  for (const auto& w : flags.where) {
    const auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "mdesync: --where '%s': expected attribute=value\n", w.c_str());
      return k_exit_usage;
    }
    where[w.substr(0, eq)].push_back(w.substr(eq + 1));
  }
  // An attribute no row has would match nothing and look like an empty store.
  const auto attributes = attributes_of(object);
  for (const auto& [attr, values] : where) {
    if (std::find(attributes.begin(), attributes.end(), attr) == attributes.end()) {
      std::fprintf(stderr, "mdesync: --where: %s has no attribute '%s'; valid attributes: %s\n",
                   flags.object.c_str(), attr.c_str(),
                   fmt::format("{}", fmt::join(attributes, ", ")).c_str());
      return k_exit_usage;
    }
  }
  return std::nullopt;
}

// Every stored row of `object` that the object's operation options keep, to `emit`
// (which returns false to stop).
template <class Emit>
util::Status scan_object(store::Store& s, model::ObjectType object, const config::Filters& options,
                         const Emit& emit) {
  switch (object) {
    case model::ObjectType::host:
      return s.scan(store::RowVisitor<model::Host>([&](const model::Host& r) { return emit(r); }));
    case model::ObjectType::package:
      return s.scan(store::RowVisitor<model::Package>(
          [&](const model::Package& r) { return !mapping::matches(r, options) || emit(r); }));
    case model::ObjectType::installed_package:
      return s.scan(
          store::RowVisitor<model::InstalledPackage>([&](const model::InstalledPackage& r) {
            return !mapping::matches(r, options) || emit(r);
          }));
    case model::ObjectType::vulnerability:
      return s.scan(store::RowVisitor<model::Vulnerability>(
          [&](const model::Vulnerability& r) { return !mapping::matches(r, options) || emit(r); }));
    case model::ObjectType::vulnerability_definition:
      return s.scan(store::RowVisitor<model::VulnerabilityDefinition>(
          [&](const model::VulnerabilityDefinition& r) { return emit(r); }));
  }
  return {};
}

int run_export(ExportFlags& flags) {
  setup_logging(false, true);
  auto cfg = config::load(flags.overrides);
  if (!cfg) return report(cfg.error(), "configuration error");
  const auto object = model::parse_object_type(flags.object);
  if (!object) {
    std::fprintf(
        stderr,
        "mdesync: unknown object '%s': expected host (machine), package, installed_package, "
        "vulnerability or vulnerability_definition\n",
        flags.object.c_str());
    return k_exit_usage;
  }
  if (auto st = mapping::validate_filters(cfg->filters); !st)
    return report(st.error(), "configuration error");
  Conditions where;
  if (auto code = parse_where(flags, *object, where)) return *code;
  auto store = store::open_store(cfg->store, {.read_only = true, .tenant = cfg->tenant_id});
  if (!store) {
    std::fprintf(stderr, "mdesync: cannot open the store %s: %s\n",
                 store::redact_store_url(cfg->store).c_str(), store.error().describe().c_str());
    return k_exit_store;
  }
  std::ofstream file;
  if (!flags.output.empty()) {
    file.open(flags.output, std::ios::binary | std::ios::trunc);
    if (!file) {
      std::fprintf(stderr, "mdesync: cannot write %s\n", flags.output.c_str());
      return k_exit_failure;
    }
  }
  std::ostream& out = flags.output.empty() ? std::cout : file;
  Writer writer(out, flags.format == "csv");
  std::int64_t rows = 0;
  const auto& options = [&]() -> const config::Filters& {
    static const config::Filters none;
    auto it = cfg->filters.find(std::string(flags.object == "host" ? "machine" : flags.object));
    return it == cfg->filters.end() ? none : it->second;
  }();

  auto emit = [&](const auto& row) {
    auto j = model::to_json(row);
    if (holds(j, where)) {
      writer.write(j);
      ++rows;
    }
    return static_cast<bool>(out);
  };
  const util::Status st = scan_object(**store, *object, options, emit);
  out.flush();
  if (!st) return report(st.error(), "cannot read the store");
  if (!out) {
    std::fprintf(stderr, "mdesync: writing the export failed after %lld rows\n",
                 static_cast<long long>(rows));
    return k_exit_failure;
  }
  std::fprintf(stderr, "mdesync: exported %lld %s rows\n", static_cast<long long>(rows),
               flags.object.c_str());
  return k_exit_ok;
}

const bool k_registered = register_command(
    {"export", "Write the stored rows of one object as NDJSON or CSV", [](CLI::App& sub) {
       auto flags = std::make_shared<ExportFlags>();
       config::add_flags(sub, flags->overrides, {false, true, false});
       add_tenant_flag(sub, flags->overrides);
       sub.add_option("object", flags->object,
                      "host, package, installed_package, vulnerability or vulnerability_definition")
           ->required();
       sub.add_option("--format", flags->format, "ndjson (default) or csv")
           ->check(CLI::IsMember({"ndjson", "csv"}));
       sub.add_option(
           "--where", flags->where,
           "attribute=value (repeatable; e.g. statusCategory=Open, severity=Critical, "
           "source.rbacGroupName=Finance). Values of one attribute are ORed, attributes ANDed; "
           "the config's operation options for the object apply too");
       sub.add_option("-o,--output", flags->output,
                      "Write to this file instead of standard output");
       return CommandAction([flags] { return run_export(*flags); });
     }});

}  // namespace
}  // namespace mdesync::cli
