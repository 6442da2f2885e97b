#pragma once

// Package (docs/model.md, "Package"), mapped from a Defender software entry.

#include "model/attributes.hpp"
#include "model/common.hpp"

namespace mdesync::model {

struct PackageVersion {
  std::string version;
  OptInt installations;
  OptInt vulnerabilities;

  bool operator==(const PackageVersion&) const = default;
};

// Source-only fields of a software entry.
struct PackageSource {
  OptString vendor;
  OptInt weaknesses;
  OptBool public_exploit;
  OptBool active_alert;
  OptInt exposed_machines;
  OptDouble impact_score;
  std::vector<PackageVersion> versions;
};

struct Package {
  std::string uid;  // vendor-_-name
  OptString name;
  PackageStatus status = PackageStatus::active;
  Strings categories;

  PackageSource source;
  RowMeta meta;
};

// Package's attributes (model/attributes.hpp). `versions` is one JSON array column.
template <>
struct Attributes<Package> {
  using P = Package;
  using S = PackageSource;
  static constexpr auto list = std::tuple{
      attribute(&P::uid, "uid", "uid"),
      attribute(&P::name, "name", "name"),
      attribute(&P::status, "status", "status"),
      attribute(&P::categories, "categories", "categories"),
      source_field(&P::source, &S::vendor, "vendor", "vendor"),
      source_field(&P::source, &S::weaknesses, "weaknesses", "weaknesses"),
      source_field(&P::source, &S::public_exploit, "publicExploit", "public_exploit"),
      source_field(&P::source, &S::active_alert, "activeAlert", "active_alert"),
      source_field(&P::source, &S::exposed_machines, "exposedMachines", "exposed_machines"),
      source_field(&P::source, &S::impact_score, "impactScore", "impact_score"),
      source_field(&P::source, &S::versions, "versions", "versions",
                   {.doc = "a list of `{version, installations, vulnerabilities}`: the version "
                           "distribution, or under the export strategy the counts of the "
                           "inventory export"}),
  };
};

}  // namespace mdesync::model
