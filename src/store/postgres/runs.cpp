// Sync runs, checkpoints, counts and the schema version of the PostgreSQL store.

#include "store/codec.hpp"
#include "store/postgres/schema.hpp"
#include "store/postgres/store_impl.hpp"

namespace mdesync::store::pg {

namespace {

std::optional<std::string_view> opt_time_text(const std::optional<Timestamp>& t, std::string& buf) {
  if (!t) return std::nullopt;
  buf = encode_time(*t);
  return buf;
}

// Whether a session holds the tenant's sync lock (a sync runs).
Result<bool> sync_lock_held(Conn& conn) {
  auto r = conn.query(
      fmt::format("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND "
                  "classid = {}::oid AND objid = hashtext($1)::oid AND objsubid = 2 AND granted)",
                  static_cast<unsigned>(k_sync_lock)),
      {conn.target().schema});
  if (!r) return fail(r.error());
  return r->int64(0) != 0;
}

}  // namespace

Result<RunId> PgStore::begin_run(std::string_view mode, const std::vector<std::string>& objects,
                                 Timestamp started_at) {
  return write_op([&]() -> Result<RunId> {
    // Holding the sync lock, no other sync is alive: a run left without an outcome was
    // killed and is interrupted.
    if (m_exclusive) {
      if (auto st = m_conn->exec(k_interrupt_unfinished_runs); !st) {
        return fail(st.error());
      }
    }
    const std::string objs = encode_json_list(objects);
    const std::string start = encode_time(started_at);
    auto r = m_conn->query(
        "INSERT INTO sync_run (mode, objects, started_at, counts) VALUES ($1, $2, $3, '{}') "
        "RETURNING id",
        {mode, objs, start});
    if (!r) return fail(r.error());
    return r->int64(0);
  });
}

util::Status PgStore::end_run(RunId run, Timestamp ended_at, std::string_view outcome,
                              std::string_view counts_json) {
  return write_op([&]() -> util::Status {
    const std::string end = encode_time(ended_at);
    const std::string id = std::to_string(run);
    auto r = m_conn->query(
        "UPDATE sync_run SET ended_at = $1, outcome = $2, counts = $3 WHERE id = $4::bigint",
        {end, outcome, counts_json.empty() ? std::string_view("{}") : counts_json, id});
    if (!r) return fail(r.error());
    if (r->affected() == 0) {
      return fail(ErrorCode::not_found, fmt::format("no sync run with id {}", run));
    }
    return {};
  });
}

Result<std::vector<SyncRun>> PgStore::recent_runs(int limit) {
  if (auto st = ready(); !st) return fail(st.error());
  auto r = m_conn->query(
      "SELECT id, mode, objects, started_at, ended_at, outcome, counts FROM sync_run "
      "ORDER BY id DESC LIMIT $1::bigint",
      {std::to_string(limit)});
  if (!r) return fail(r.error());
  bool running = m_exclusive;
  if (!running) {
    auto held = sync_lock_held(*m_conn);
    if (!held) return fail(held.error());
    running = *held;
  }
  std::vector<SyncRun> runs;
  for (int i = 0; i < r->rows(); ++i) {
    r->set_row(i);
    Reader rd(*r);
    SyncRun run = read_sync_run(rd);
    if (rd.error()) return fail(ErrorCode::store, "sync_run row unreadable: " + *rd.error());
    runs.push_back(std::move(run));
  }
  // No sync holds the lock: a run without an outcome was killed.
  if (!running) mark_unfinished_interrupted(runs);
  return runs;
}

util::Status PgStore::save_checkpoint(const Checkpoint& cp) {
  return write_op([&]() -> util::Status {
    std::string snap;
    std::string full;
    const std::string run = std::to_string(cp.run_id);
    const std::string done = encode_time(cp.completed_at);
    auto r = m_conn->query(
        "INSERT INTO checkpoint (object, run_id, mode, snapshot_time, full_snapshot_time, "
        "completed_at, state) VALUES ($1, $2::bigint, $3, $4, $5, $6, $7) ON CONFLICT (object) "
        "DO UPDATE SET (run_id, mode, snapshot_time, full_snapshot_time, completed_at, state) = "
        "(EXCLUDED.run_id, EXCLUDED.mode, EXCLUDED.snapshot_time, EXCLUDED.full_snapshot_time, "
        "EXCLUDED.completed_at, EXCLUDED.state)",
        {to_string(cp.object), run, cp.mode, opt_time_text(cp.snapshot_time, snap),
         opt_time_text(cp.full_snapshot_time, full), done,
         cp.state.empty() ? std::string_view("{}") : std::string_view(cp.state)});
    if (!r) return fail(r.error());
    return {};
  });
}

Result<std::vector<Checkpoint>> PgStore::checkpoints() {
  if (auto st = ready(); !st) return fail(st.error());
  auto r = m_conn->query(
      "SELECT object, run_id, mode, snapshot_time, full_snapshot_time, completed_at, state "
      "FROM checkpoint ORDER BY object COLLATE \"C\"");
  if (!r) return fail(r.error());
  std::vector<Checkpoint> out;
  for (int i = 0; i < r->rows(); ++i) {
    r->set_row(i);
    Reader rd(*r);
    auto cp = read_checkpoint(rd);
    if (!cp) continue;
    if (rd.error()) return fail(ErrorCode::store, "checkpoint row unreadable: " + *rd.error());
    out.push_back(std::move(*cp));
  }
  return out;
}

Result<std::optional<Checkpoint>> PgStore::checkpoint(ObjectType object) {
  auto all = checkpoints();
  if (!all) return fail(all.error());
  for (auto& cp : *all) {
    if (cp.object == object) return std::optional<Checkpoint>{std::move(cp)};
  }
  return std::optional<Checkpoint>{};
}

util::Status PgStore::check() {
  if (auto st = ready(); !st) return st;
  const auto& target = m_conn->target();
  auto version = schema_version();
  if (!version) return fail(version.error());
  const int latest = migrations().back().version;
  if (*version < 1 || *version > latest) {
    return fail(ErrorCode::store,
                fmt::format("schema {} of {} is at version {}, which this mdesync does not know "
                            "(1 to {})",
                            target.schema, target.redacted, *version, latest));
  }
  std::string names = "{";
  for (const auto name : expected_relations(*version)) {
    names += (names.size() > 1 ? "," : "") + std::string(name);
  }
  names += '}';
  auto r = m_conn->query(
      "SELECT string_agg(n, ', ' ORDER BY n) FROM unnest($1::text[]) n WHERE NOT EXISTS "
      "(SELECT 1 FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE "
      "s.nspname = $2 AND c.relname = n)",
      {names, target.schema});
  if (!r) return fail(r.error());
  if (!r->is_null(0)) {
    return fail(ErrorCode::store,
                fmt::format("schema {} of {} (version {}) lacks {}: it is not a whole mdesync "
                            "store; restore it from a backup, or sync into a new schema "
                            "(?schema=NAME)",
                            target.schema, target.redacted, *version, r->text(0)));
  }
  return {};
}

Result<std::vector<StatusCount>> PgStore::count_by_status() {
  if (auto st = ready(); !st) return fail(st.error());
  std::vector<StatusCount> out;
  for (const auto object : model::k_all_objects) {
    const std::string sql =
        object == ObjectType::vulnerability_definition
            ? "SELECT severity, count(*) FROM vulnerability_definition GROUP BY severity "
              "ORDER BY severity COLLATE \"C\""
            : fmt::format(
                  "SELECT status, count(*) FROM {} GROUP BY status ORDER BY status "
                  "COLLATE \"C\"",
                  write_table(object));
    auto r = m_conn->query(sql);
    if (!r) return fail(r.error());
    for (int i = 0; i < r->rows(); ++i) {
      r->set_row(i);
      out.push_back(StatusCount{object, std::string(r->text(0)), r->int64(1)});
    }
  }
  return out;
}

Result<int> PgStore::schema_version() {
  if (auto st = ready(); !st) return fail(st.error());
  auto r = m_conn->query("SELECT coalesce(max(version), 0) FROM schema_version");
  if (!r) return fail(r.error());
  return static_cast<int>(r->int64(0));
}

}  // namespace mdesync::store::pg
