#include "store/sqlite/open.hpp"

#include <cctype>
#include <filesystem>
#include <optional>

#include "store/declared_columns.hpp"
#include "store/sqlite/schema.hpp"
#include "store/sqlite/store.hpp"

namespace mdesync::store::sqlite {

namespace fs = std::filesystem;

namespace {

bool exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(path, ec));
}

// The file: URI of a path (SQLite decodes %XX in it; absolute, so that no path can be
// taken for an authority or a query).
std::string file_uri(const std::string& path) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec);
  const std::string p = ec ? path : absolute.string();
  std::string out = "file:";
  for (const char ch : p) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned int>(c));
    }
  }
  return out;
}

// Whether files can be created beside the store file (its -wal, -shm and -journal).
bool folder_writable(const std::string& path) {
  fs::path folder = fs::path(path).parent_path();
  if (folder.empty()) folder = ".";
  return ::access(folder.c_str(), W_OK) == 0;
}

// After a reader that found no -wal, -shm or -journal file: SQLite's read of a WAL store
// made an empty -wal and a -shm that a read-only connection never removes. A connection
// that may write (it writes nothing: query_only, and the WAL is empty) removes them as
// SQLite does when the last connection closes, that is only if no other connection has
// the store open (it takes the store file's exclusive lock first).
void remove_reader_files(const std::string& path) {
  std::error_code ec;
  const auto wal_size = fs::file_size(path + "-wal", ec);
  if (ec || wal_size != 0 || exists(path + "-journal")) return;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) ==
      SQLITE_OK) {
    (void)sqlite3_exec(db, "PRAGMA query_only = ON; SELECT count(*) FROM sqlite_master", nullptr,
                       nullptr, nullptr);
  }
  sqlite3_close(db);
}

}  // namespace

Result<std::unique_ptr<Db>> open_read_only(const std::string& path) {
  // In-memory stores, and URIs the user wrote, are opened as given.
  if (path == ":memory:" || path.rfind("file:", 0) == 0) {
    return Db::open(path, SQLITE_OPEN_READONLY);
  }
  // not_found, as a PostgreSQL schema no sync has written: a reader may treat it as an
  // empty store (`mdesync report` does).
  if (!exists(path)) {
    return fail(ErrorCode::not_found, fmt::format("the store {} does not exist", path));
  }
  const bool wal = exists(path + "-wal");
  const bool shm = exists(path + "-shm");
  const bool journal = exists(path + "-journal");
  const bool writable = folder_writable(path);
  if (!writable && wal && !shm) {
    return fail(ErrorCode::store,
                fmt::format("cannot read the store {}: its folder is not writable and {}-wal "
                            "holds changes that are not in the store file yet (the last sync "
                            "did not end cleanly); copy the store file with its -wal file to a "
                            "writable folder and read it there",
                            path, path));
  }
  // Where the -wal and -shm files cannot be made (read-only media), and none is there, no
  // writer can have the store open: its file is all there is, and SQLite reads it without
  // them ("immutable": no locks, no files).
  const bool immutable = !writable && !wal && !journal;
  const std::string uri = file_uri(path) + "?mode=ro" + (immutable ? "&immutable=1" : "");
  auto db = Db::open(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, uri);
  if (!db) return db;
  if (writable && !wal && !shm && !journal) {
    (*db)->after_close([path] { remove_reader_files(path); });
  }
  return db;
}

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

// The problems `PRAGMA quick_check(...)` reports (none when the pages are sound). A
// store that stays locked (a first sync commits) is that error, not damage.
Status quick_check(Db& db, const std::string& sql, std::vector<std::string>& problems) {
  auto q = db.prepare(sql);
  if (!q) {
    if (q.error().code == ErrorCode::store_locked) return fail(q.error());
    problems.push_back(q.error().message);
    return {};
  }
  for (;;) {
    auto more = q->step();
    if (!more) {
      if (more.error().code == ErrorCode::store_locked) return fail(more.error());
      problems.push_back(more.error().message);
      return {};
    }
    if (!*more) return {};
    if (q->text(0) != "ok") problems.emplace_back(q->text(0));
  }
}

// quick_check of each table (with its indexes) until five problems are known.
Status quick_check_tables(Db& db, const std::vector<std::string>& tables,
                          std::vector<std::string>& problems) {
  for (const auto& t : tables) {
    if (auto st = quick_check(db, fmt::format("PRAGMA quick_check(\"{}\")", t), problems); !st) {
      return st;
    }
    if (problems.size() >= 5) break;
  }
  return {};
}

}  // namespace

Status check_file(const std::string& path, CheckScope scope) {
  if (path == ":memory:") return {};
  auto db = open_read_only(path);
  if (!db) return fail(db.error());
  sqlite3_busy_timeout((*db)->handle(), 30000);
  std::vector<std::string> problems;
  if (scope == CheckScope::every_page) {
    if (auto st = quick_check(**db, "PRAGMA quick_check(5)", problems); !st) return st;
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
    if (auto st = quick_check_tables(**db, tables, problems); !st) return st;
  }
  if (problems.empty()) return {};
  return fail(ErrorCode::store,
              fmt::format("the store {} is damaged (SQLite quick_check: {}); nothing was "
                          "committed: restore it from a backup, or move it aside and run a full "
                          "sync into a new file",
                          path, fmt::join(problems, "; ")));
}

Status check_tables(const std::string& path, const std::vector<std::string>& tables) {
  if (path == ":memory:") return {};
  auto db = open_read_only(path);
  if (!db) return fail(db.error());
  sqlite3_busy_timeout((*db)->handle(), 30000);
  std::vector<std::string> problems;
  if (auto st = quick_check_tables(**db, tables, problems); !st) return st;
  if (problems.empty()) return {};
  return fail(ErrorCode::store,
              fmt::format("the store {} is damaged (SQLite quick_check of {}: {}); its rows "
                          "cannot all be read: restore it from a backup, or move it aside and "
                          "run a full sync into a new file",
                          path, fmt::join(tables, ", "), fmt::join(problems, "; ")));
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

// Adds the declared columns (columns.hpp) that the wide objects' tables lack: those of
// attributes declared after the frozen migrations. A new attribute needs no migration.
util::Status add_declared_columns(Db& db) {
  for (const auto table : k_wide_tables) {
    auto existing = table_columns(db, table);
    if (!existing) return fail(existing.error());
    for (const auto& column : missing_columns(table, *existing)) {
      if (auto st = db.exec(add_column_sql(column, false)); !st) return st;
    }
  }
  return {};
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
  if (auto st = add_declared_columns(db); !st) return rollback(st.error());
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

namespace {

// The files of a store that this open creates: removed again when the open fails (the disk
// is full, say), so that a failed first sync leaves no store file that is not one.
class NewStoreFiles final {
 public:
  // `lock_file`: the lock file is this open's too.
  NewStoreFiles(const std::string& path, bool lock_file)
      : m_path(path), m_store(!exists(path)), m_lock(lock_file) {}
  ~NewStoreFiles() {
    if (!m_store || m_kept) return;
    std::error_code ec;
    for (const char* suffix : {"", "-journal", "-wal", "-shm"}) fs::remove(m_path + suffix, ec);
    // The sync lock (when taken) is still held: no other sync uses these files.
    if (m_lock) fs::remove(m_path + ".lock", ec);
  }
  NewStoreFiles(const NewStoreFiles&) = delete;
  NewStoreFiles& operator=(const NewStoreFiles&) = delete;
  void keep() { m_kept = true; }

 private:
  std::string m_path;
  bool m_store;
  bool m_lock;
  bool m_kept = false;
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite(const std::string& path, const OpenOptions& options) {
  const bool memory = path == ":memory:";
  const bool uri = path.rfind("file:", 0) == 0;
  const bool lock_wanted = options.exclusive && !memory && !options.read_only;
  const bool lock_file_existed = lock_wanted && exists(path + ".lock");
  std::unique_ptr<FileLock> lock;
  if (lock_wanted) {
    auto l = FileLock::acquire(path);
    if (!l) return fail(l.error());
    lock = std::move(*l);
  }
  // Declared after the lock and before the connection: a failed open removes the files it
  // created once the connection is closed, while it still holds the lock.
  std::optional<NewStoreFiles> created;
  if (!memory && !uri && !options.read_only) {
    created.emplace(path, lock_wanted && !lock_file_existed);
  }
  auto db = options.read_only ? open_read_only(path)
                              : Db::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
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
  // From here the store is migrated: a valid empty store even if what follows fails (the
  // lock moves into the store, so its files are no longer removed).
  if (created) created->keep();
  return make_sqlite_store(std::move(*db), std::move(lock), options.read_only, first_sync);
}

}  // namespace mdesync::store::sqlite
