#pragma once

// Rows, write contexts and an SQL probe shared by the store tests (store_test.cpp,
// contract_test.cpp).

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <optional>
#include <string>

#include "store/store.hpp"
#include "util/time.hpp"

namespace mdesync::store::test_rows {

inline Timestamp at(const char* text) {
  return util::parse_timestamp(text).value();
}

// The first column of the first row of `sql`, as text, on an SQLite connection of its own.
inline std::string scalar(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  std::string out;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

inline model::Host host(const std::string& uid, const std::string& name = "h") {
  model::Host h;
  h.uid = uid;
  h.name = name;
  h.hostnames = {name};
  h.status = model::HostStatus::active;
  h.last_seen = at("2025-06-01T07:58:10.301Z");
  h.source.rbac_group_id = "17";
  return h;
}

inline model::Vulnerability vuln(const std::string& uid, model::VulnerabilityStatus status,
                                 const char* time) {
  model::Vulnerability v;
  v.uid = uid;
  v.type = "CVE-2025-40001";
  v.targets = "dev1";
  v.status = status;
  v.status_category = model::category_of(status);
  v.severity = model::Severity::high;
  v.state_time = at(time);
  if (status == model::VulnerabilityStatus::fixed) v.last_fixed = v.state_time;
  v.source.software_name = "exampleviewer";
  return v;
}

// A full read (`seen`) passes every row unless said otherwise, as the engine's do but
// the inventory read's: the SQLite store then looks rows up in its in-memory key index;
// a read with every_row false looks them up through the uid index.
inline WriteContext ctx(RunId run, bool seen = false, std::optional<bool> every_row = {}) {
  return WriteContext{run, at("2025-06-02T00:00:00Z"), seen, every_row.value_or(seen)};
}

}  // namespace mdesync::store::test_rows
