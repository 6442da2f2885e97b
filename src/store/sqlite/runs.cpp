#include "store/sqlite/runs.hpp"

#include <fmt/format.h>

#include "store/codec.hpp"
#include "store/sqlite/statements.hpp"
#include "store/sqlite/values.hpp"

namespace mdesync::store::sqlite {

using util::ErrorCode;
using util::fail;
using namespace mdesync::model;

Result<RunId> begin_run(Db& db, std::string_view mode, const std::vector<std::string>& objects,
                        Timestamp started_at) {
  auto st =
      db.prepare("INSERT INTO sync_run (mode, objects, started_at, counts) VALUES (?, ?, ?, '{}')");
  if (!st) return fail(st.error());
  const std::string objs = encode_json_list(objects);
  const std::string start = encode_time(started_at);
  st->bind(1, mode);
  st->bind(2, std::string_view(objs));
  st->bind(3, std::string_view(start));
  if (auto r = st->run(); !r) return fail(r.error());
  return db.last_insert_rowid();
}

util::Status end_run(Db& db, RunId run, Timestamp ended_at, std::string_view outcome,
                     std::string_view counts_json) {
  auto st = db.prepare("UPDATE sync_run SET ended_at = ?, outcome = ?, counts = ? WHERE id = ?");
  if (!st) return fail(st.error());
  const std::string end = encode_time(ended_at);
  st->bind(1, std::string_view(end));
  st->bind(2, outcome);
  st->bind(3, counts_json.empty() ? std::string_view("{}") : counts_json);
  st->bind(4, run);
  if (auto r = st->run(); !r) return r;
  if (db.changes() == 0) {
    return fail(ErrorCode::not_found, fmt::format("no sync run with id {}", run));
  }
  return {};
}

Result<std::vector<SyncRun>> recent_runs(Db& db, int limit) {
  auto st = db.prepare(
      "SELECT id, mode, objects, started_at, ended_at, outcome, counts FROM sync_run "
      "ORDER BY id DESC LIMIT ?");
  if (!st) return fail(st.error());
  st->bind(1, std::int64_t{limit});
  std::vector<SyncRun> runs;
  for (;;) {
    auto more = st->step();
    if (!more) return fail(more.error());
    if (!*more) break;
    const StatementSource src(*st);
    Reader rd(src);
    SyncRun r = read_sync_run(rd);
    if (rd.error()) return fail(ErrorCode::store, "sync_run row unreadable: " + *rd.error());
    runs.push_back(std::move(r));
  }
  st->reset();
  return runs;
}

util::Status save_checkpoint(Db& db, const Checkpoint& cp) {
  auto st = db.prepare(
      "INSERT OR REPLACE INTO checkpoint (object, run_id, mode, snapshot_time, "
      "full_snapshot_time, completed_at, state) VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!st) return fail(st.error());
  StatementSink sink(*st);
  Binder b(sink);
  b.lit(to_string(cp.object));
  b.i64(cp.run_id);
  b.str(cp.mode);
  b.opt(cp.snapshot_time);
  b.opt(cp.full_snapshot_time);
  b.time(cp.completed_at);
  const std::string state = cp.state.empty() ? "{}" : cp.state;
  b.str(state);
  return st->run();
}

Result<std::vector<Checkpoint>> read_checkpoints(Db& db, const std::string& object) {
  auto st = db.prepare(
      "SELECT object, run_id, mode, snapshot_time, full_snapshot_time, completed_at, state "
      "FROM checkpoint WHERE ?1 = '' OR object = ?1 ORDER BY object");
  if (!st) return fail(st.error());
  st->bind(1, std::string_view(object));
  std::vector<Checkpoint> out;
  for (;;) {
    auto more = st->step();
    if (!more) return fail(more.error());
    if (!*more) break;
    const StatementSource src(*st);
    Reader rd(src);
    auto cp = read_checkpoint(rd);
    if (!cp) continue;
    if (rd.error()) return fail(ErrorCode::store, "checkpoint row unreadable: " + *rd.error());
    out.push_back(std::move(*cp));
  }
  return out;
}

Result<std::vector<StatusCount>> count_by_status(Db& db) {
  std::vector<StatusCount> out;
  for (const auto object : model::k_all_objects) {
    const std::string sql =
        object == ObjectType::vulnerability_definition
            ? "SELECT severity, count(*) FROM vulnerability_definition GROUP BY severity"
            : fmt::format("SELECT status, count(*) FROM {} GROUP BY status ORDER BY status",
                          write_table(object));
    auto st = db.prepare(sql);
    if (!st) return fail(st.error());
    for (;;) {
      auto more = st->step();
      if (!more) return fail(more.error());
      if (!*more) break;
      out.push_back(StatusCount{object, std::string(st->text(0)), st->int64(1)});
    }
  }
  return out;
}

Result<int> schema_version(Db& db) {
  auto st = db.prepare("SELECT coalesce(max(version), 0) FROM schema_version");
  if (!st) return fail(st.error());
  auto more = st->step();
  if (!more) return fail(more.error());
  const auto v = static_cast<int>(st->int64(0));
  st->reset();
  return v;
}

}  // namespace mdesync::store::sqlite
