#pragma once

// Versioned SQLite schema: migrations applied in order, each in its own transaction,
// recorded in schema_version. docs/schema.md describes the result.

#include <string_view>
#include <vector>

namespace mdesync::store::sqlite {

struct Migration {
  int version;
  std::string_view description;
  std::string_view sql;
};

const std::vector<Migration>& migrations();
int latest_schema_version();

}  // namespace mdesync::store::sqlite
