// Golden mapping cases. source.json: {"record": {...}, ...extra inputs}; extra inputs:
// "distributions" (package), "nonCpe"/"includeNonCpe" (installed_package),
// "software" (installed_package from a machine reference), "snapshotTime"
// (vulnerability), "recommendations" (definition; absent = could not be fetched).
// expected.json: {"row": {attributes to check}, "skip": "reason", "diagnostics":
// ["unknown_enum_value", ...]}. Only the attributes listed in "row" are compared, so a
// case states exactly the rule it covers; "full" cases list every attribute.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "defender/decode.hpp"
#include "mapping/mapping.hpp"
#include "model/json.hpp"

namespace mdesync::golden {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ojson = nlohmann::ordered_json;

json load(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

ojson load_source(const fs::path& p) {
  std::ifstream in(p);
  return ojson::parse(in);
}

std::string kind_name(mapping::DiagnosticKind k) {
  switch (k) {
    case mapping::DiagnosticKind::unknown_enum_value:
      return "unknown_enum_value";
    case mapping::DiagnosticKind::unparseable_vector:
      return "unparseable_vector";
    case mapping::DiagnosticKind::score_mismatch:
      return "score_mismatch";
    case mapping::DiagnosticKind::unexpected_value:
      return "unexpected_value";
  }
  return "?";
}

struct Outcome {
  json row;  // null when skipped
  std::string skip;
  std::vector<std::string> diagnostics;
};

template <typename Row>
Outcome outcome(const mapping::Mapped<Row>& m) {
  Outcome o;
  if (m.row) o.row = model::to_json(*m.row);
  o.skip = m.skip_reason;
  for (const auto& d : m.diagnostics) o.diagnostics.push_back(kind_name(d.kind));
  return o;
}

// The record as the service sends it, through the product's decoder (src/defender/
// decode.cpp): a decoder bug fails the case as a mapping bug does. The source file is
// read with its member order kept, so the decoder sees the members as written.
template <class T>
T decode(const ojson& j) {
  std::string text = j.dump();
  auto r = defender::decode_entity<T>(text);
  if (!r) {
    ADD_FAILURE() << "the decoder refused " << text << ": " << r.error().message;
    return T{};
  }
  return std::move(*r);
}

Outcome run_case(const std::string& name, const ojson& src) {
  const ojson& rec = src.at("record");
  if (name.starts_with("host_")) return outcome(mapping::map_host(decode<defender::Machine>(rec)));
  if (name.starts_with("package_")) {
    std::vector<defender::Distribution> d;
    for (const auto& x : src.value("distributions", ojson::array())) {
      d.push_back(decode<defender::Distribution>(x));
    }
    return outcome(mapping::map_package(decode<defender::Software>(rec), d));
  }
  if (name.starts_with("installed_package_")) {
    if (src.contains("software")) {
      return outcome(mapping::map_installed_package(
          decode<defender::MachineReference>(rec), decode<defender::Software>(src.at("software"))));
    }
    mapping::InstalledPackageOptions o{src.value("nonCpe", false),
                                       src.value("includeNonCpe", false)};
    return outcome(mapping::map_installed_package(decode<defender::InventoryRow>(rec), o));
  }
  if (name.starts_with("vulnerability_")) {
    mapping::VulnerabilityOptions o;
    if (src.contains("snapshotTime")) {
      o.snapshot_time = util::parse_timestamp(src.at("snapshotTime").get<std::string>()).value();
    }
    return outcome(mapping::map_vulnerability(decode<defender::VulnerabilityRow>(rec), o));
  }
  if (name.starts_with("definition_")) {
    std::optional<std::vector<defender::Recommendation>> recs;
    if (src.contains("recommendations")) {
      recs.emplace();
      for (const auto& x : src.at("recommendations")) {
        recs->push_back(decode<defender::Recommendation>(x));
      }
    }
    std::optional<std::span<const defender::Recommendation>> span;
    if (recs) span = std::span<const defender::Recommendation>(*recs);
    return outcome(
        mapping::map_vulnerability_definition(decode<defender::Vulnerability>(rec), span));
  }
  ADD_FAILURE() << "unknown case prefix: " << name;
  return {};
}

void expect_subset(const json& expected, const json& actual, const std::string& path) {
  if (expected.is_object() && actual.is_object()) {
    for (const auto& [k, v] : expected.items()) {
      ASSERT_TRUE(actual.contains(k)) << path << "." << k << " is not a model attribute";
      expect_subset(v, actual.at(k), path + "." + k);
    }
    return;
  }
  if (expected.is_number() && actual.is_number()) {
    EXPECT_NEAR(expected.get<double>(), actual.get<double>(), 1e-9) << path;
    return;
  }
  EXPECT_EQ(expected, actual) << path;
}

std::vector<std::string> case_names() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(MDESYNC_GOLDEN_DIR)) {
    if (e.is_directory()) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, MapsAsExpected) {
  const fs::path dir = fs::path(MDESYNC_GOLDEN_DIR) / GetParam();
  const ojson src = load_source(dir / "source.json");
  const json expected = load(dir / "expected.json");
  const Outcome got = run_case(GetParam(), src);
  if (expected.contains("skip")) {
    EXPECT_TRUE(got.row.is_null()) << "expected a skip";
    EXPECT_EQ(got.skip, expected.at("skip").get<std::string>());
  }
  if (expected.contains("row")) {
    ASSERT_FALSE(got.row.is_null()) << "skipped: " << got.skip;
    expect_subset(expected.at("row"), got.row, "row");
  }
  const auto diags = expected.value("diagnostics", std::vector<std::string>{});
  EXPECT_EQ(got.diagnostics, diags);
}

INSTANTIATE_TEST_SUITE_P(Cases, Golden, ::testing::ValuesIn(case_names()),
                         [](const auto& test_info) { return test_info.param; });

// FNV-1a, 64 bits: stable across builds.
std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t h = 0xCBF29CE484222325ULL;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001B3ULL;
  }
  return h;
}

// The rules' output over `cases`, as a fingerprint.
std::string fingerprint_of(std::initializer_list<const char*> cases) {
  std::string outputs;
  for (const char* name : cases) {
    const ojson src = load_source(fs::path(MDESYNC_GOLDEN_DIR) / name / "source.json");
    const Outcome got = run_case(name, src);
    outputs += json{{"case", name}, {"row", got.row}, {"skip", got.skip}}.dump();
    outputs += '\n';
  }
  return fmt::format("{:016x}", fnv1a(outputs));
}

// Fails when `fingerprint` is not the one recorded for `revision` of the rules `what`.
void expect_revision(const std::map<int, std::string>& recorded, int revision,
                     const std::string& fingerprint, const char* what, const char* constant) {
  const auto it = recorded.find(revision);
  ASSERT_NE(it, recorded.end()) << "no fingerprint recorded for " << constant << " = " << revision
                                << "; this revision's is " << fingerprint;
  EXPECT_EQ(fingerprint, it->second)
      << "the " << what << " rules changed their output: bump " << constant
      << " (src/mapping/mapping.hpp) and record " << fingerprint << " for the new revision here";
}

// A device whose inventory lines did not change keeps the rows the rules made at its
// last read (ADR 0060); the digests that decide it include mapping::k_installed_package_rules.
// So the rules' output is recorded here per revision, as a fingerprint of what they make
// of the inventory cases. When this fails the rules changed their output: bump
// k_installed_package_rules and add the printed fingerprint under the new revision (then
// every device's rows are rebuilt at the next read). Editing one of these cases changes
// the fingerprint too: record it under the same revision then.
TEST(InstalledPackageRules, TheirRevisionChangesWithTheirOutput) {
  static const std::map<int, std::string> k_fingerprints = {
      {1, "2ed98ebd742fcf60"},
  };
  expect_revision(
      k_fingerprints, mapping::k_installed_package_rules,
      fingerprint_of({"installed_package_eos_none_is_a_value", "installed_package_inventory_row",
                      "installed_package_non_cpe_included",
                      "installed_package_non_cpe_skipped_by_default"}),
      "installed-package", "k_installed_package_rules");
}

// The same for the finding rows of a full read, whose digests (ADR 0068) include
// mapping::k_vulnerability_rules.
TEST(VulnerabilityRules, TheirRevisionChangesWithTheirOutput) {
  static const std::map<int, std::string> k_fingerprints = {
      {1, "a7cf9ea745e24ff9"},
  };
  expect_revision(
      k_fingerprints, mapping::k_vulnerability_rules,
      fingerprint_of({"vulnerability_cvss_score_as_string", "vulnerability_full_snapshot_row",
                      "vulnerability_results_empty", "vulnerability_results_update_with_id_and_url",
                      "vulnerability_row_with_empty_cve_skipped",
                      "vulnerability_row_without_cve_skipped",
                      "vulnerability_severity_case_insensitive", "vulnerability_severity_missing",
                      "vulnerability_severity_unknown_value",
                      "vulnerability_uid_lower_cases_vendor_and_name"}),
      "vulnerability", "k_vulnerability_rules");
}

}  // namespace
}  // namespace mdesync::golden
