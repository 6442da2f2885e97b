#pragma once

// The counts identity of a run summary (issue 29, item 4), on its JSON as `mdesync sync
// --json` prints it and sync_run.counts stores it: every record an object read has
// exactly one counted outcome, so for every object that ended ok
//
//   read = written + unchanged + skipped + merged + stale + paired + reusedWithoutRow
//
// and the skip reasons add up to `skipped`, the reused lines without a row are part of
// the reused lines, and no count is negative. An object that failed or was interrupted
// stopped with records in flight (read, not yet written) and its writes were rolled
// back: its outcomes may fall short of `read`, never exceed it.
//
// The sum is spelled out here from the JSON keys, not taken from the product.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mdesync::testing_support {

// The outcome keys of one object, each a count of records read.
inline const std::vector<std::string>& outcome_keys() {
  static const std::vector<std::string> keys = {"written", "unchanged", "skipped",         "merged",
                                                "stale",   "paired",    "reusedWithoutRow"};
  return keys;
}

// What is wrong with the counts of `summary` (a run summary, or the {"tenants": ...}
// object of a run of several tenants), one message per fault; empty when they add up.
inline std::vector<std::string> count_identity_faults(const nlohmann::json& summary,
                                                      const std::string& where = "") {
  std::vector<std::string> faults;
  if (summary.contains("tenants")) {
    for (const auto& [name, tenant] : summary["tenants"].items()) {
      if (!tenant["summary"].is_object()) continue;  // refused before its run began
      for (auto& f : count_identity_faults(tenant["summary"], where + name + ": ")) {
        faults.push_back(std::move(f));
      }
    }
    return faults;
  }
  if (!summary.contains("objects") || !summary["objects"].is_array()) {
    faults.push_back(where + "no \"objects\" in the summary: " + summary.dump());
    return faults;
  }
  for (const auto& o : summary["objects"]) {
    const std::string name = where + o.value("object", "?") + " (" + o.value("mode", "?") + ", " +
                             o.value("outcome", "?") + ")";
    const auto count = [&](const std::string& key) -> long long {
      if (!o.contains(key) || !o[key].is_number_integer()) {
        faults.push_back(name + ": no count \"" + key + "\"");
        return 0;
      }
      const auto n = o[key].get<long long>();
      if (n < 0) faults.push_back(name + ": " + key + " is negative (" + std::to_string(n) + ")");
      return n;
    };
    const long long read = count("read");
    long long sum = 0;
    std::string terms;
    for (const auto& key : outcome_keys()) {
      const long long n = count(key);
      sum += n;
      terms += (terms.empty() ? "" : " + ") + key + " " + std::to_string(n);
    }
    const bool ok = o.value("outcome", "") == "ok";
    if ((ok && sum != read) || (!ok && sum > read)) {
      faults.push_back(name + ": read " + std::to_string(read) + (ok ? " != " : " < ") + terms +
                       " = " + std::to_string(sum) + " (" + std::to_string(read - sum) +
                       " unaccounted)");
    }
    long long reasons = 0;
    if (o.contains("skippedReasons")) {
      for (const auto& [reason, n] : o["skippedReasons"].items()) reasons += n.get<long long>();
    }
    const long long skipped = o.value("skipped", 0LL);
    if (reasons != skipped) {
      faults.push_back(name + ": the skip reasons add up to " + std::to_string(reasons) +
                       ", skipped is " + std::to_string(skipped));
    }
    const long long reused = count("reused");
    if (o.value("reusedWithoutRow", 0LL) > reused) {
      faults.push_back(name + ": reusedWithoutRow exceeds reused (" + std::to_string(reused) + ")");
    }
  }
  return faults;
}

// The identity as a test assertion; `context` says which run it was.
inline void expect_counts_add_up(const nlohmann::json& summary, const std::string& context) {
  for (const auto& f : count_identity_faults(summary)) ADD_FAILURE() << context << ": " << f;
}

inline void expect_counts_add_up(const std::string& summary_json, const std::string& context) {
  const auto j = nlohmann::json::parse(summary_json, nullptr, false);
  if (j.is_discarded()) {
    ADD_FAILURE() << context << ": the summary is not JSON: " << summary_json;
    return;
  }
  expect_counts_add_up(j, context);
}

}  // namespace mdesync::testing_support
