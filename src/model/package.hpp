#pragma once

// Package (docs/model.md, "Package"), mapped from a Defender software entry.

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

}  // namespace mdesync::model
