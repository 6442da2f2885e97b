#pragma once

// The SQLite Store (ADR 0041, 0062): one connection, a transaction per object, in-memory
// key indexes and seen sets. Its parts live in files by concern: transactions, reads and
// digests (store.cpp), upserts (writer.cpp), the sweep, delta events and
// the indexes of a first load (sweep.cpp), runs and checkpoints (runs.cpp),
// statements (statements.cpp), opening (open.cpp).

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <future>
#include <map>
#include <tuple>
#include <unordered_set>

#include "store/codec.hpp"
#include "store/declared_columns.hpp"
#include "store/key_index.hpp"
#include "store/lifecycle.hpp"
#include "store/narrow_layout.hpp"
#include "store/sqlite/db.hpp"
#include "store/sqlite/dims.hpp"
#include "store/sqlite/open.hpp"
#include "store/sqlite/runs.hpp"
#include "store/sqlite/schema.hpp"
#include "store/sqlite/statements.hpp"
#include "store/sqlite/values.hpp"

namespace mdesync::store::sqlite {

using util::ErrorCode;
using util::fail;
using namespace mdesync::model;

// Rows a read upserts one lookup at a time before the table's keys are loaded into a
// KeyIndex: loading costs about an eighth of a lookup per stored row, so the index pays
// off once a read has upserted an eighth of the table (a full read of a large table
// passes that early; a read whose unchanged rows were skipped upstream never does).
constexpr std::uint64_t k_min_rows_before_key_index = 20'000;
constexpr std::uint64_t k_table_share_before_key_index = 8;

// Reads status, last_fixed, state_time (integer times) from column `first` on.
inline Lifecycle read_lifecycle(const Statement& st, int first) {
  return store::read_lifecycle(StatementSource(st), first);
}

// A prepared statement's current row as a QueryRow (Store::read_query).
class StatementRow final : public QueryRow {
 public:
  explicit StatementRow(const Statement& st) : m_st(st) {}
  [[nodiscard]] bool is_null(int column) const override { return m_st.is_null(column); }
  [[nodiscard]] std::string_view text(int column) const override { return m_st.text(column); }
  [[nodiscard]] std::int64_t int64(int column) const override { return m_st.int64(column); }
  [[nodiscard]] double real(int column) const override { return m_st.real(column); }

 private:
  const Statement& m_st;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(std::unique_ptr<Db> db, std::unique_ptr<FileLock> lock, bool read_only)
      : m_db(std::move(db)), m_lock(std::move(lock)), m_read_only(read_only) {}

  ~SqliteStore() override {
    // Statements must be finalized before the connection closes.
    m_tables.clear();
    m_cached.clear();
    m_finding_dims.finalize();
    m_installed_dims.finalize();
    // The first sync ran with a rollback journal (choose_journal): WAL from now on, if
    // it stored anything. Failure is harmless: the next open switches.
    if (m_first_sync && sqlite3_get_autocommit(m_db->handle()) != 0) {
      if (auto any = has_checkpoints(*m_db); any && *any) {
        (void)m_db->exec("PRAGMA journal_mode = WAL");
      }
    }
  }

  // A first sync only appends to empty tables (their indexes dropped until the commit)
  // and keeps its lookups in memory: its page cache only holds dirty pages until they
  // are written, so a smaller one costs nothing and keeps the peak memory down.
  void set_first_sync(bool first) {
    m_first_sync = first;
    if (first) (void)m_db->exec(fmt::format("PRAGMA cache_size = -{}", cache_kib()));
  }
  [[nodiscard]] int cache_kib() const noexcept {
    return m_first_sync ? k_first_sync_cache_kib : k_cache_kib;
  }

  // Starts the integrity check of a sync's store on a connection of its own, so that it
  // overlaps what the sync does before its first commit (open.cpp): every page for
  // a full sync, the small tables for a delta (CheckScope).
  void start_check(CheckScope scope) {
    const std::string path = m_db->path();
    m_check = std::async(std::launch::async, [path, scope] { return check_file(path, scope); });
  }
  util::Status check() override {
    if (m_check.valid()) return await_check();
    return check_file(m_db->path(), CheckScope::every_page);
  }
  std::function<util::Status()> concurrent_check(std::vector<std::string> tables) override {
    return [path = m_db->path(), tables = std::move(tables)] { return check_tables(path, tables); };
  }
  std::function<void()> interrupter() override {
    return [db = m_db->handle()] { sqlite3_interrupt(db); };
  }

  util::Status init() {
    if (m_read_only) return {};
    if (auto st = read_data_version(); !st) return st;
    auto add = [&](auto tag) -> util::Status {
      using Row = decltype(tag);
      auto s = prepare_table<Row>(*m_db);
      if (!s) return fail(s.error());
      m_tables.emplace(Table<Row>::object, std::move(*s));
      return {};
    };
    for (auto st : {add(Host{}), add(Package{}), add(InstalledPackage{}), add(Vulnerability{}),
                    add(VulnerabilityDefinition{})}) {
      if (!st) return st;
    }
    return {};
  }

  // --- upserts ---

  Result<UpsertCounts> upsert(const WriteContext& ctx, std::span<const Host> rows) override {
    return write_op([&] { return upsert_rows<Host>(ctx, rows); });
  }
  Result<UpsertCounts> upsert(const WriteContext& ctx, std::span<const Package> rows) override {
    return write_op([&] { return upsert_rows<Package>(ctx, rows); });
  }
  Result<UpsertCounts> upsert(const WriteContext& ctx,
                              std::span<const InstalledPackage> rows) override {
    return write_op([&] { return upsert_rows<InstalledPackage>(ctx, rows); });
  }
  Result<UpsertCounts> upsert(const WriteContext& ctx,
                              std::span<const Vulnerability> rows) override {
    return write_op([&] { return upsert_rows<Vulnerability>(ctx, rows); });
  }
  Result<UpsertCounts> upsert(const WriteContext& ctx,
                              std::span<const VulnerabilityDefinition> rows) override {
    return write_op([&] { return upsert_rows<VulnerabilityDefinition>(ctx, rows); });
  }

  Result<SweepCounts> sweep(ObjectType object, const WriteContext& ctx,
                            Timestamp snapshot_time) override {
    return write_op([&]() -> Result<SweepCounts> {
      SweepCounts counts;
      // After a bulk load every row of the table was written by this very read.
      if (object != ObjectType::vulnerability_definition && !m_state[object].bulk) {
        auto r = sweep_unseen(object, ctx, snapshot_time);
        if (!r) return fail(r.error());
        counts = *r;
      }
      forget_seen(object, ctx.run_id);
      // The full read is over: its KeyIndex (tens of MB) is not kept for the next one.
      m_state[object].keys.reset();
      return counts;
    });
  }

  Result<DeltaCounts> apply_vulnerability_events(const WriteContext& ctx,
                                                 std::span<const Vulnerability> events,
                                                 std::optional<Timestamp> baseline) override {
    return write_op([&] { return apply_events(ctx, events, baseline); });
  }

  // --- reads ---

  // --- inventory digests ---

  util::Status scan_inventory_digests(
      const std::function<void(std::string_view, std::string_view, bool)>& visit) override {
    auto st = m_db->prepare("SELECT device_id, digest, has_versions FROM inventory_digest");
    if (!st) return fail(st.error());
    for (;;) {
      auto more = st->step();
      if (!more) return fail(more.error());
      if (!*more) return {};
      visit(st->text(0), st->blob(1), st->int64(2) != 0);
    }
  }

  Result<std::optional<std::string>> inventory_versions(std::string_view device_id) override {
    auto st = cached("SELECT versions FROM inventory_versions WHERE device_id = ?");
    if (!st) return fail(st.error());
    Statement& q = **st;
    q.bind(1, device_id);
    auto more = q.step();
    std::optional<std::string> out;
    if (more && *more) out.emplace(q.blob(0));
    q.reset();
    if (!more) return fail(more.error());
    return out;
  }

  util::Status put_inventory_digests(std::span<const InventoryDigest> digests) override {
    return write_op([&]() -> util::Status {
      for (const auto& d : digests) {
        if (auto st = put_digest(d); !st) return st;
      }
      return {};
    });
  }

  util::Status erase_inventory_digest(std::string_view device_id) override {
    return write_op([&]() -> util::Status {
      for (const char* sql : {"DELETE FROM inventory_digest WHERE device_id = ?",
                              "DELETE FROM inventory_versions WHERE device_id = ?"}) {
        if (auto st = run_cached(sql, [&](Statement& q) { q.bind(1, device_id); }); !st) {
          return st;
        }
      }
      return {};
    });
  }

  util::Status clear_inventory_digests() override {
    return write_op([&]() -> util::Status {
      return m_db->exec("DELETE FROM inventory_digest; DELETE FROM inventory_versions");
    });
  }

  Result<std::int64_t> mark_installed_seen(const WriteContext& ctx,
                                           std::string_view device_id) override {
    auto st = cached(
        "SELECT e.id FROM installed_package_entry e JOIN installed_package_target t ON t.id = "
        "e.host WHERE t.targets = ?");
    if (!st) return fail(st.error());
    Statement& q = **st;
    q.bind(1, device_id);
    SeenSet& seen = seen_set(ObjectType::installed_package, ctx.run_id);
    std::int64_t n = 0;
    for (;;) {
      auto more = q.step();
      if (!more) {
        q.reset();
        return fail(more.error());
      }
      if (!*more) break;
      seen.add(q.int64(0));
      ++n;
    }
    q.reset();
    return n;
  }

  // --- finding digests (digests.cpp) ---
  util::Status scan_finding_digests(
      std::optional<Timestamp> changed_after,
      const std::function<void(std::string_view, std::string_view)>& visit) override;
  util::Status put_finding_digests(std::span<const InventoryDigest> digests) override;
  util::Status erase_finding_digests(std::span<const std::string> device_ids) override;
  util::Status clear_finding_digests() override;
  Result<std::int64_t> mark_findings_seen(
      const WriteContext& ctx, std::span<const std::string> device_ids,
      const std::function<void(std::string_view, std::string_view)>& link,
      std::span<std::int64_t> open_per_device) override;
  Result<std::int64_t> set_findings_last_found(const WriteContext& ctx,
                                               std::span<const FindingLastFound> devices) override;
  Result<std::int64_t> close_gone_findings(const WriteContext& ctx, Timestamp snapshot_time,
                                           std::span<const GoneFindings> devices) override;

  Result<std::optional<Host>> find_host(std::string_view uid) override { return find<Host>(uid); }
  Result<std::optional<Vulnerability>> find_vulnerability(std::string_view uid) override {
    return find<Vulnerability>(uid);
  }

  util::Status scan(const RowVisitor<Host>& visit) override { return scan_rows<Host>(visit); }
  util::Status scan(const RowVisitor<Package>& visit) override { return scan_rows<Package>(visit); }
  util::Status scan(const RowVisitor<InstalledPackage>& visit) override {
    return scan_rows<InstalledPackage>(visit);
  }
  util::Status scan(const RowVisitor<Vulnerability>& visit) override {
    return scan_rows<Vulnerability>(visit);
  }
  util::Status scan(const RowVisitor<VulnerabilityDefinition>& visit) override {
    return scan_rows<VulnerabilityDefinition>(visit);
  }

  // --- runs and checkpoints (runs.cpp) ---

  Result<RunId> begin_run(std::string_view mode, const std::vector<std::string>& objects,
                          Timestamp started_at) override {
    // A sync of a store that holds data checks its pages before it commits (issue 17).
    if (m_lock && !m_first_sync && !m_check.valid() && !m_checked) {
      start_check(mode == "full" ? CheckScope::every_page : CheckScope::small_tables);
    }
    return write_op(
        [&]() -> Result<RunId> {
          // Holding the sync lock, no other sync is alive: a run left without an outcome was
          // killed (kill -9, power loss) and is interrupted.
          if (m_lock) {
            if (auto st = m_db->exec(k_interrupt_unfinished_runs); !st) {
              return fail(st.error());
            }
          }
          return sqlite::begin_run(*m_db, mode, objects, started_at);
        },
        false);
  }
  util::Status end_run(RunId run, Timestamp ended_at, std::string_view outcome,
                       std::string_view counts_json) override {
    return write_op([&] { return sqlite::end_run(*m_db, run, ended_at, outcome, counts_json); });
  }
  // A run without an outcome whose process is gone (nobody holds the sync lock, and
  // this store does not) was killed: it is reported as interrupted.
  Result<std::vector<SyncRun>> recent_runs(int limit) override {
    auto runs = sqlite::recent_runs(*m_db, limit);
    if (!runs || m_lock || m_db->path() == ":memory:" || FileLock::held(m_db->path())) return runs;
    mark_unfinished_interrupted(*runs);
    return runs;
  }
  util::Status save_checkpoint(const Checkpoint& cp) override {
    return write_op([&] { return sqlite::save_checkpoint(*m_db, cp); });
  }
  Result<std::optional<Checkpoint>> checkpoint(ObjectType object) override {
    auto all = read_checkpoints(*m_db, std::string(to_string(object)));
    if (!all) return fail(all.error());
    if (all->empty()) return std::optional<Checkpoint>{};
    return std::optional<Checkpoint>{std::move(all->front())};
  }
  Result<std::vector<Checkpoint>> checkpoints() override { return read_checkpoints(*m_db, {}); }
  Result<std::vector<StatusCount>> count_by_status() override {
    return sqlite::count_by_status(*m_db);
  }
  Result<int> schema_version() override { return sqlite::schema_version(*m_db); }

  // --- read queries (reports) ---

  util::Status read_query(std::string_view sql, const QueryVisitor& visit) override {
    auto st = m_db->prepare(sql);
    if (!st) return fail(st.error());
    const StatementRow row(*st);
    for (;;) {
      auto more = st->step();
      if (!more) return fail(more.error());
      if (!*more || !visit(row)) return {};
    }
  }
  util::Status read_snapshot(const std::function<util::Status()>& body) override {
    if (m_tx_open) return body();
    // A deferred transaction: its first read fixes the snapshot every later read sees.
    if (auto st = m_db->exec("BEGIN"); !st) return st;
    auto st = body();
    (void)m_db->exec(st ? "COMMIT" : "ROLLBACK");
    return st;
  }

 protected:
  util::Status do_begin() override {
    if (m_read_only) return fail(ErrorCode::invalid_argument, "store opened read-only");
    if (auto st = m_db->exec("BEGIN IMMEDIATE"); !st) return st;
    m_tx_open = true;
    m_seen_before_tx.reset();
    // Holding the write lock from here: nobody else changes the tables until commit.
    if (auto st = check_data_version(); !st) {
      do_rollback();
      return st;
    }
    return {};
  }
  util::Status do_commit() override {
    // Nothing of a damaged store's transaction is committed (the check overlaps the work
    // before the first commit: the first object's download).
    if (auto st = await_check(); !st) return st;
    if (auto st = restore_indexes(); !st) return st;
    if (auto st = m_db->exec("COMMIT"); !st) return st;
    m_tx_open = false;
    reset_probes();
    m_seen_before_tx.reset();
    return {};
  }
  void do_rollback() noexcept override {
    if (sqlite3_get_autocommit(m_db->handle()) == 0) (void)m_db->exec("ROLLBACK");
    m_tx_open = false;
    reset_probes();
    // The rollback undid every write of the transaction, dropped indexes included: the
    // in-memory state must follow.
    if (m_seen_before_tx) m_seen = std::move(*m_seen_before_tx);
    m_seen_before_tx.reset();
    forget_keys();
    for (auto& [object, state] : m_state) {
      state.dropped_indexes.clear();
      state.bulk = false;
    }
  }

 private:
  // Per object: the uid index of a full read and the indexes dropped for a first load.
  struct ObjectState {
    std::optional<KeyIndex> keys;
    std::vector<std::pair<std::string, std::string>> dropped_indexes;  // name, CREATE sql
    // A full read into a table that was empty when the transaction reached it: rows are
    // appended without lookups or a KeyIndex (memory stays flat), a uid that repeats is
    // resolved when the uid index is rebuilt at commit (the last row wins), and there is
    // nothing to sweep.
    bool bulk = false;
    // In the open transaction: whether the table was checked for a first load, and how
    // many rows of a read were upserted without a KeyIndex.
    bool probed = false;
    std::uint64_t unindexed_rows = 0;
    std::uint64_t rows_before_key_index = k_min_rows_before_key_index;
  };

  // Runs `op` atomically: inside the caller's transaction as a savepoint (undone on
  // error), or in a transaction of its own when none is open.
  // `checked`: an operation in a transaction of its own waits for the integrity check
  // before it commits; only the run's own record (begin_run) does not.
  template <typename Op>
  auto write_op(Op op, bool checked = true) -> decltype(op()) {
    if (m_read_only) return fail(ErrorCode::invalid_argument, "store opened read-only");
    const bool own = sqlite3_get_autocommit(m_db->handle()) != 0;
    if (own && checked) {
      if (auto st = await_check(); !st) return fail(st.error());
    }
    if (auto st = m_db->exec(own ? "BEGIN IMMEDIATE" : "SAVEPOINT op"); !st) {
      return fail(st.error());
    }
    m_op_seen.clear();
    if (own) {
      if (auto st = check_data_version(); !st) {
        (void)m_db->exec("ROLLBACK");
        return fail(st.error());
      }
    }
    auto result = op();
    if (result) {
      if (auto st = m_db->exec(own ? "COMMIT" : "RELEASE op"); !st) {
        if (own) (void)m_db->exec("ROLLBACK");
        undo_op();
        return fail(st.error());
      }
    } else {
      (void)m_db->exec(own ? "ROLLBACK" : "ROLLBACK TO op; RELEASE op");
      undo_op();
    }
    return result;
  }

  // After a failed operation: its seen rowids and any KeyIndex entry it wrote are gone
  // from the database, so they go from memory too.
  void undo_op() noexcept {
    for (const auto& [key, rowid] : m_op_seen) {
      if (auto it = m_seen.find(key); it != m_seen.end()) it->second.remove(rowid);
    }
    m_op_seen.clear();
    forget_keys();
    // A savepoint rollback may have undone a DROP INDEX of this very operation.
    for (auto& [object, state] : m_state) {
      if (!state.dropped_indexes.empty()) (void)restore_indexes(object);
    }
  }

  util::Status put_digest(const InventoryDigest& d) {
    if (auto st =
            run_cached("INSERT OR REPLACE INTO inventory_digest (device_id, digest, has_versions) "
                       "VALUES (?, ?, ?)",
                       [&](Statement& q) {
                         q.bind(1, std::string_view(d.device_id));
                         q.bind_blob(2, d.digest);
                         q.bind(3, std::int64_t{d.versions ? 1 : 0});
                       });
        !st) {
      return st;
    }
    if (!d.versions) {
      return run_cached("DELETE FROM inventory_versions WHERE device_id = ?",
                        [&](Statement& q) { q.bind(1, std::string_view(d.device_id)); });
    }
    return run_cached(
        "INSERT OR REPLACE INTO inventory_versions (device_id, versions) VALUES (?, ?)",
        [&](Statement& q) {
          q.bind(1, std::string_view(d.device_id));
          q.bind_blob(2, *d.versions);
        });
  }

  // Runs a statement returning no rows, prepared once per connection.
  template <typename Bind>
  util::Status run_cached(std::string_view sql, const Bind& bind) {
    auto st = cached(sql);
    if (!st) return fail(st.error());
    bind(**st);
    auto r = (*st)->run();
    if (!r) (*st)->reset();
    return r;
  }

  // A statement prepared once per connection (reset after each use by the caller).
  Result<Statement*> cached(std::string_view sql) {
    if (auto it = m_cached.find(sql); it != m_cached.end()) return &it->second;
    auto st = m_db->prepare(sql);
    if (!st) return fail(st.error());
    return &m_cached.emplace(std::string(sql), std::move(*st)).first->second;
  }

  void reset_probes() noexcept {
    for (auto& [object, state] : m_state) {
      state.probed = false;
      state.unindexed_rows = 0;
    }
  }

  // The largest rowid, 0 for an empty table (rowids are dense: about the row count).
  Result<std::int64_t> largest_id(ObjectType object);

  void forget_keys() noexcept {
    for (auto& [object, state] : m_state) state.keys.reset();
    m_finding_dims.forget();
    m_installed_dims.forget();
  }

  // Another connection's commit makes every KeyIndex stale.
  util::Status read_data_version() {
    auto st = m_db->prepare("PRAGMA data_version");
    if (!st) return fail(st.error());
    auto more = st->step();
    if (!more) return fail(more.error());
    m_data_version = st->int64(0);
    return {};
  }
  util::Status check_data_version() {
    const auto before = m_data_version;
    if (auto st = read_data_version(); !st) return st;
    if (before != m_data_version) forget_keys();
    return {};
  }

  // Recreates the indexes a first load dropped (before COMMIT, inside the transaction).
  util::Status restore_indexes();
  util::Status restore_indexes(ObjectType object);

  // A first load into an empty table inside a transaction: building the indexes once
  // from sorted keys at commit is far cheaper than maintaining them row by row. The
  // rows are appended (ObjectState::bulk) and a repeated uid is resolved when the unique
  // index is rebuilt; the DROP is undone by a rollback.
  util::Status drop_indexes(ObjectType object);

  // Fills the object's KeyIndex from the table (once per full read; kept while no one
  // else writes).
  util::Status load_keys(ObjectType object);

  SeenSet& seen_set(ObjectType object, RunId run) {
    // The first change to any seen set in a transaction saves them all for a rollback.
    if (m_tx_open && !m_seen_before_tx) m_seen_before_tx = m_seen;
    return m_seen[{static_cast<int>(object), run}];
  }

  void mark_seen(SeenSet& set, ObjectType object, RunId run, std::int64_t id) {
    if (set.add(id)) m_op_seen.emplace_back(std::pair{static_cast<int>(object), run}, id);
  }

  void forget_seen(ObjectType object, RunId run) {
    const std::pair key{static_cast<int>(object), run};
    if (!m_seen.contains(key)) return;
    if (m_tx_open && !m_seen_before_tx) m_seen_before_tx = m_seen;
    m_seen.erase(key);
  }

  util::Status finding_links(const std::unordered_set<std::uint64_t>& pairs,
                             const std::function<void(std::string_view, std::string_view)>& link);
  Result<SweepCounts> sweep_unseen(ObjectType object, const WriteContext& ctx,
                                   Timestamp snapshot_time);

  // What the table holds for one uid.
  struct Stored {
    std::optional<std::int64_t> id;
    std::optional<std::int64_t> hash;
    Lifecycle life;          // vulnerability only
    bool keys_read = false;  // s.compare.stored holds the row's indexed values
  };

  static void read_keys(TableStatements& s, const Statement& st, Stored& out);

  // Looks `uid` up: in the KeyIndex when loaded (confirmed by reading the row by id when
  // `need_row`), else by the uid index. `fast_hash` is set when the KeyIndex alone
  // answered and the caller may trust the stored hash without reading the row.
  template <typename Row>
  Result<Stored> lookup(TableStatements& s, ObjectState& state, const std::string& uid,
                        std::uint64_t key, bool need_row, bool& fast_hash);

  // Writes `row`: an insert, or an update by `existing.id` that sets the indexed columns
  // only where they differ from the stored values read by lookup (all of them when
  // none were read).
  template <typename Row>
  util::Status write_row(TableStatements& s, ObjectState& state, const WriteContext& ctx,
                         const Row& row, std::uint64_t key, const Stored& existing, RowHash hash,
                         std::int64_t& id_out);

  // The content hash of rows[i]: the caller's when it gave them (WriteContext::hashes).
  template <typename Row>
  static RowHash hash_of(const WriteContext& ctx, const Row& row, std::size_t i);

  template <typename Row>
  Result<UpsertCounts> upsert_rows(const WriteContext& ctx, std::span<const Row> rows);
  // Before a full read's rows: a first load (drop the indexes, insert only) or when to
  // load the key index.
  util::Status prepare_read(ObjectType object, const WriteContext& ctx, std::size_t rows);
  // One row of an upsert: its stored row looked up, the lifecycle merged, written when
  // its hash differs. `hash` is its content hash as given.
  template <typename Row>
  util::Status upsert_one(const WriteContext& ctx, const Row& in, RowHash hash, SeenSet* seen,
                          UpsertCounts& counts);

  Result<DeltaCounts> apply_events(const WriteContext& ctx, std::span<const Vulnerability> events,
                                   std::optional<Timestamp> baseline);

  // The declared columns Row's table lacks. Only a read-only store can lack any: an open
  // for writing adds them (open.cpp).
  template <typename Row>
  Result<std::vector<std::string>> absent_columns() {
    if (!m_read_only || is_narrow<Row>) return std::vector<std::string>{};
    auto existing = table_columns(*m_db, Table<Row>::name);
    if (!existing) return fail(existing.error());
    return missing_column_names(Table<Row>::name, *existing);
  }

  template <typename Row>
  Result<std::optional<Row>> find(std::string_view uid) {
    auto absent = absent_columns<Row>();
    if (!absent) return fail(absent.error());
    auto st = m_db->prepare(scan_sql<Row>("WHERE t.uid = ?", *absent));
    if (!st) return fail(st.error());
    st->bind(1, uid);
    auto more = st->step();
    if (!more) return fail(more.error());
    if (!*more) return std::optional<Row>{};
    auto row = read_row<Row>(*st);
    if (!row) return fail(row.error());
    return std::optional<Row>{std::move(*row)};
  }

  // The tables a scan of Row reads: its table, or a narrow table and the four it refers to.
  template <typename Row>
  static std::vector<std::string> tables_read() {
    if constexpr (std::is_same_v<Row, Vulnerability> || std::is_same_v<Row, InstalledPackage>) {
      return {std::string(Table<Row>::write_name), std::string(narrow::Layout<Row>::target),
              std::string(narrow::Layout<Row>::item),
              std::string(narrow::Layout<Row>::host_context),
              std::string(narrow::Layout<Row>::item_context)};
    } else {
      return {std::string(Table<Row>::name)};
    }
  }

  template <typename Row>
  util::Status scan_rows(const RowVisitor<Row>& visit) {
    // A reader (export) checks the pages first: a damaged page does not always fail the
    // read, it can also end it early without an error. A sync's own store is checked
    // from its open on (start_check) and never commits over damage.
    if (m_read_only) {
      if (auto ok = check_tables(m_db->path(), tables_read<Row>()); !ok) return ok;
    }
    auto absent = absent_columns<Row>();
    if (!absent) return fail(absent.error());
    auto st = m_db->prepare(scan_sql<Row>("", *absent));
    if (!st) return fail(st.error());
    for (;;) {
      auto more = st->step();
      if (!more) return fail(more.error());
      if (!*more) break;
      auto row = read_row<Row>(*st);
      if (!row) return fail(row.error());
      if (!visit(*row)) break;
    }
    return {};
  }

  std::unique_ptr<Db> m_db;
  std::unique_ptr<FileLock> m_lock;
  bool m_read_only;
  // Declared after m_db: its statements are finalized before the connection closes.
  NarrowDims<Vulnerability> m_finding_dims;
  NarrowDims<InstalledPackage> m_installed_dims;
  NarrowRefs m_refs;  // of the narrow row being written
  NarrowKeys m_keys;  // of the narrow row being written: narrow_keys(row)

  template <typename Row>
  NarrowDims<Row>& dims() {
    if constexpr (std::is_same_v<Row, Vulnerability>) {
      return m_finding_dims;
    } else {
      return m_installed_dims;
    }
  }
  std::map<ObjectType, TableStatements> m_tables;
  std::map<std::string, Statement, std::less<>> m_cached;  // by SQL text
  Vulnerability m_scratch;
  BindBuffers m_bind_buffers;
  std::map<ObjectType, ObjectState> m_state;
  bool m_tx_open = false;
  bool m_first_sync = false;
  // Page cache sizes in KiB (PRAGMA cache_size): open.cpp sets the usual one.
  static constexpr int k_cache_kib = 40960;
  static constexpr int k_first_sync_cache_kib = 8192;
  // The integrity check started at open, and its outcome once known.
  std::future<util::Status> m_check;
  std::optional<util::Status> m_checked;
  util::Status await_check() {
    if (m_check.valid()) m_checked = m_check.get();
    return m_checked.value_or(util::Status{});
  }
  std::int64_t m_data_version = 0;
  // Seen sets by (object, run): in memory, undone with the transaction or operation.
  std::map<std::pair<int, RunId>, SeenSet> m_seen;
  std::optional<std::map<std::pair<int, RunId>, SeenSet>> m_seen_before_tx;
  std::vector<std::pair<std::pair<int, RunId>, std::int64_t>> m_op_seen;
};

}  // namespace mdesync::store::sqlite
