#pragma once

// Test helper: the content of a store's model tables as text, for comparing two stores
// attribute by attribute.

#include <map>
#include <set>
#include <string>
#include <vector>

namespace mdesync::testing_support {

// uid -> "column=value|column=value..." for one table joined with nothing; columns in
// `ignore` (and the connector-managed ones) are left out.
std::map<std::string, std::string> dump_table(const std::string& db_path, const std::string& table,
                                              const std::set<std::string>& ignore = {});

// Every row of a query, its columns joined with '|' (NULL as "NULL"), in the query's order.
std::vector<std::string> query_rows(const std::string& db_path, const std::string& sql);

// Single-value query helpers.
long long query_int(const std::string& db_path, const std::string& sql);
std::vector<std::string> query_strings(const std::string& db_path, const std::string& sql);

}  // namespace mdesync::testing_support
