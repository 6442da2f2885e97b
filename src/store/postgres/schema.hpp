#pragma once

// The PostgreSQL store's migrations (schema.cpp) and the SQL that converts its times.

#include <string>
#include <string_view>
#include <vector>

#include "store/postgres/conn.hpp"
#include "util/result.hpp"

namespace mdesync::store::pg {

struct PgMigration {
  int version = 0;
  std::string_view description;
  std::string_view sql;
};

// In order; version 1 is the shape of SQLite schema v5.
const std::vector<PgMigration>& migrations();

// The tables, views and unique indexes a store at `version` holds (check()).
std::vector<std::string_view> expected_relations(int version);

// SQL text of an integer microseconds column as the store writes times
// ("2025-06-01T08:30:12.000000Z"), and the reverse.
std::string time_text(std::string_view column);
std::string time_micros(std::string_view column);

// The column names of `table` in the connection's schema.
util::Result<std::vector<std::string>> table_columns(Conn& conn, std::string_view table);

}  // namespace mdesync::store::pg
