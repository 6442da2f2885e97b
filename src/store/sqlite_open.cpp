#include "store/sqlite_open.hpp"

#include "store/schema.hpp"
#include "store/sqlite_store.hpp"

namespace mdesync::store::sqlite {

Result<bool> has_checkpoints(Db& db) {
  auto q = db.prepare("SELECT count(*) FROM checkpoint");
  if (!q) return fail(q.error());
  auto r = q->step();
  if (!r) return fail(r.error());
  const bool any = q->int64(0) > 0;
  q->reset();
  return any;
}

namespace {

// The problems `PRAGMA quick_check(...)` reports (none when the pages are sound).
void quick_check(Db& db, const std::string& sql, std::vector<std::string>& problems) {
  auto q = db.prepare(sql);
  if (!q) {
    problems.push_back(q.error().message);
    return;
  }
  for (;;) {
    auto more = q->step();
    if (!more) {
      problems.push_back(more.error().message);
      return;
    }
    if (!*more) return;
    if (q->text(0) != "ok") problems.emplace_back(q->text(0));
  }
}

}  // namespace

Status check_file(const std::string& path, CheckScope scope) {
  if (path == ":memory:") return {};
  auto db = Db::open(path, SQLITE_OPEN_READONLY);
  if (!db) return fail(db.error());
  sqlite3_busy_timeout((*db)->handle(), 30000);
  std::vector<std::string> problems;
  if (scope == CheckScope::every_page) {
    quick_check(**db, "PRAGMA quick_check(5)", problems);
  } else {
    std::vector<std::string> tables;
    auto q = (*db)->prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN "
        "('vulnerability_finding', 'installed_package_entry', 'inventory_digest', "
        "'inventory_versions')");
    if (!q) return fail(q.error());
    for (;;) {
      auto more = q->step();
      if (!more) {
        problems.push_back(more.error().message);
        break;
      }
      if (!*more) break;
      tables.emplace_back(q->text(0));
    }
    for (const auto& t : tables) {
      quick_check(**db, fmt::format("PRAGMA quick_check(\"{}\")", t), problems);
      if (problems.size() >= 5) break;
    }
  }
  if (problems.empty()) return {};
  return fail(ErrorCode::store,
              fmt::format("the store {} is damaged (SQLite quick_check: {}); nothing was "
                          "committed: restore it from a backup, or move it aside and run a full "
                          "sync into a new file",
                          path, fmt::join(problems, "; ")));
}

namespace {

std::string journal_mode(Db& db) {
  auto q = db.prepare("PRAGMA journal_mode");
  if (!q) return {};
  auto r = q->step();
  std::string mode = r && *r ? std::string(q->text(0)) : std::string();
  q->reset();
  return mode;
}

util::Status migrate(Db& db) {
  if (auto st = db.exec("BEGIN IMMEDIATE"); !st) return st;
  auto rollback = [&](util::Error e) -> util::Status {
    (void)db.exec("ROLLBACK");
    return fail(std::move(e));
  };
  if (auto st = db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                        "description TEXT NOT NULL, applied_at TEXT NOT NULL)");
      !st) {
    return rollback(st.error());
  }
  auto q = db.prepare("SELECT coalesce(max(version), 0) FROM schema_version");
  if (!q) return rollback(q.error());
  if (auto r = q->step(); !r) return rollback(r.error());
  const auto current = static_cast<int>(q->int64(0));
  q->reset();
  if (current > latest_schema_version()) {
    return rollback(util::Error{
        ErrorCode::store,
        fmt::format("store {} has schema version {}, newer than this mdesync supports ({}); "
                    "nothing was written: upgrade mdesync",
                    db.path(), current, latest_schema_version()),
        std::nullopt, std::nullopt});
  }
  for (const auto& m : migrations()) {
    if (m.version <= current) continue;
    if (auto st = db.exec(m.sql); !st) return rollback(st.error());
    auto ins = db.prepare(
        "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, "
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))");
    if (!ins) return rollback(ins.error());
    ins->bind(1, std::int64_t{m.version});
    ins->bind(2, m.description);
    if (auto st = ins->run(); !st) return rollback(st.error());
  }
  return db.exec("COMMIT");
}

// Reads the schema before anything writes: a foreign or corrupt file is refused here.
Result<bool> inspect(Db& db) {
  auto q = db.prepare(
      "SELECT (SELECT count(*) FROM sqlite_master), "
      "(SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version')");
  if (!q) return fail(q.error());
  auto r = q->step();
  if (!r) return fail(r.error());
  const auto objects = q->int64(0);
  const auto has_version = q->int64(1) != 0;
  q->reset();
  if (objects > 0 && !has_version) {
    return fail(ErrorCode::store,
                fmt::format("{} is an SQLite database but not an mdesync store; nothing was "
                            "written: point --store at another file",
                            db.path()));
  }
  return has_version;
}

enum class Journal { wal, first_sync };

// WAL (readers never wait for a sync, and a sync never waits for them), except for the
// first sync into a store that holds no object yet: then a rollback journal, because a
// first load appends pages that need no journal at all and are written once, where WAL
// writes every page twice (the log, then the checkpoint): measured 31 s instead of 35 s
// for the 10,000-machine tenant. Readers may wait for that first sync's commits. The
// store turns WAL on when that sync ends (SqliteStore::~SqliteStore) or at the next open.
Result<Journal> choose_journal(Db& db) {
  auto any = has_checkpoints(db);
  if (!any) return fail(any.error());
  const bool empty = !*any;
  // Leaving WAL needs the file to itself; when another connection has it open, stay.
  if (empty && db.exec("PRAGMA journal_mode = DELETE") && journal_mode(db) == "delete") {
    if (auto st = db.exec("PRAGMA synchronous = FULL"); !st) return fail(st.error());
    return Journal::first_sync;
  }
  if (auto st = db.exec("PRAGMA journal_mode = WAL"); !st) return fail(st.error());
  if (auto st = db.exec("PRAGMA synchronous = NORMAL"); !st) return fail(st.error());
  return Journal::wal;
}

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite(const std::string& path, const OpenOptions& options) {
  const bool memory = path == ":memory:";
  std::unique_ptr<FileLock> lock;
  if (options.exclusive && !memory && !options.read_only) {
    auto l = FileLock::acquire(path);
    if (!l) return fail(l.error());
    lock = std::move(*l);
  }
  const int flags =
      options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  auto db = Db::open(path, flags);
  if (!db) return fail(db.error());
  sqlite3_busy_timeout((*db)->handle(), options.busy_timeout_ms);
  auto has_schema = inspect(**db);
  if (!has_schema) return fail(has_schema.error());
  bool first_sync = false;
  if (options.read_only) {
    if (!*has_schema) {
      return fail(ErrorCode::store,
                  fmt::format("{} holds no mdesync data yet; run `mdesync sync` first", path));
    }
  } else {
    // page_size only takes effect on a new file (before WAL is enabled). The page cache
    // is bounded (40 MB) so that a sync of a large tenant stays within its memory budget;
    // mmap is off because mapped pages of a GB-sized file would count against it too,
    // and temp files stay files: an index build's sort runs would otherwise live in RAM.
    // A big checkpoint interval keeps the WAL from being copied back in small pieces.
    for (const char* pragma : {"PRAGMA page_size = 16384", "PRAGMA cache_size = -40960",
                               "PRAGMA temp_store = FILE", "PRAGMA mmap_size = 0",
                               "PRAGMA wal_autocheckpoint = 4096", "PRAGMA foreign_keys = OFF"}) {
      if (auto st = (*db)->exec(pragma); !st) return fail(st.error());
    }
    if (auto st = migrate(**db); !st) return fail(st.error());
    auto journal = choose_journal(**db);
    if (!journal) return fail(journal.error());
    first_sync = *journal == Journal::first_sync;
  }
  return make_sqlite_store(std::move(*db), std::move(lock), options.read_only, first_sync);
}

}  // namespace mdesync::store::sqlite
