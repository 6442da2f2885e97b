#pragma once

// Sync runs, checkpoints and counts in an SQLite store: plain statements on a connection.
// The callers (SqliteStore) decide the transaction each write belongs to.

#include <string>
#include <string_view>
#include <vector>

#include "store/columns.hpp"
#include "store/sqlite/db.hpp"
#include "store/store.hpp"

namespace mdesync::store::sqlite {

// Inserts a sync_run row and returns its id.
Result<RunId> begin_run(Db& db, std::string_view mode, const std::vector<std::string>& objects,
                        Timestamp started_at);
// Ends run `run`; ErrorCode::not_found when there is no such run.
Status end_run(Db& db, RunId run, Timestamp ended_at, std::string_view outcome,
               std::string_view counts_json);
// The newest `limit` runs, newest first.
Result<std::vector<SyncRun>> recent_runs(Db& db, int limit);
// Replaces the object's checkpoint.
Status save_checkpoint(Db& db, const Checkpoint& cp);
// The checkpoint of `object`, or of every object when it is empty.
Result<std::vector<Checkpoint>> read_checkpoints(Db& db, const std::string& object);
// Rows per object and status (definitions: per severity).
Result<std::vector<StatusCount>> count_by_status(Db& db);
// The schema version the database is at.
Result<int> schema_version(Db& db);

}  // namespace mdesync::store::sqlite
