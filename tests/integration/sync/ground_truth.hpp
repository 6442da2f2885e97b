#pragma once

// Test helper: what a full sync must store for the simulator's world, attribute by
// attribute, and the comparison of a store with it.

#include <string>

namespace mdesync::testing_support {

// Compares every stored column of every row of the five model tables of the SQLite
// store at `db_path` (the connector-managed columns aside) with the value the model
// (docs/model.md, docs/mapping.md) gives it for the world in `world_json`
// (mdesim::Simulator::world_json). The expected values are derived here, from the
// records as the service shows them, without the product's decoders or mappers. A row
// missing on either side, a column without an expected value, or a value that differs
// is a test failure (the first few of each table are shown).
void expect_store_matches_world(const std::string& db_path, const std::string& world_json);

}  // namespace mdesync::testing_support
