#include "store/sqlite_store.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "store/codec.hpp"
#include "store/schema.hpp"
#include "store/sqlite_db.hpp"
#include "store/sqlite_tables.hpp"

namespace mdesync::store::sqlite {

using util::ErrorCode;
using util::fail;
using namespace mdesync::model;

namespace {

// An flock(2) on PATH.lock: released by the kernel when the process ends, so a crashed
// sync never leaves a stale lock behind.
class FileLock final {
 public:
  static Result<std::unique_ptr<FileLock>> acquire(const std::string& db_path) {
    const std::string path = db_path + ".lock";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      return fail(ErrorCode::store,
                  fmt::format("cannot create lock file {}: {}", path, std::strerror(errno)));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        return fail(ErrorCode::store_locked,
                    fmt::format("another mdesync sync is using the store {} (lock {} is held); "
                                "nothing was written: wait for it to finish and run again",
                                db_path, path));
      }
      return fail(ErrorCode::store, fmt::format("cannot lock {}: {}", path, std::strerror(err)));
    }
    return std::unique_ptr<FileLock>(new FileLock(fd));
  }
  ~FileLock() {
    ::flock(m_fd, LOCK_UN);
    ::close(m_fd);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  explicit FileLock(int fd) : m_fd(fd) {}
  int m_fd;
};

template <typename Row>
std::string column_list(std::string_view prefix = {}) {
  std::string out;
  for (const auto& c : Table<Row>::cols) {
    if (!out.empty()) out += ", ";
    out += prefix;
    out += c;
  }
  return out;
}

std::string placeholders(std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += i == 0 ? "?" : ", ?";
  return out;
}

// Prepared statements of one object table.
struct TableStatements {
  Statement select;  // id, row_hash [, lifecycle] by uid
  Statement insert;
  Statement update;
  Statement source;  // INSERT OR REPLACE by id
  Statement seen;    // INSERT OR IGNORE into temp.seen
};

template <typename Row>
Result<TableStatements> prepare_table(Db& db) {
  using T = Table<Row>;
  const std::string name(T::name);
  const std::size_t ncols = std::size(T::cols);
  TableStatements s;
  std::string select_sql =
      T::object == ObjectType::vulnerability
          ? "SELECT id, row_hash, status, last_fixed, state_time FROM vulnerability WHERE uid = ?"
          : fmt::format("SELECT id, row_hash FROM {} WHERE uid = ?", name);
  std::string insert_sql = fmt::format(
      "INSERT INTO {} ({}, last_changed_at, last_run_id, row_hash, first_synced_at) VALUES ({})",
      name, column_list<Row>(), placeholders(ncols + 4));
  std::string sets;
  for (const auto& c : T::cols) {
    sets += c;
    sets += " = ?, ";
  }
  std::string update_sql =
      fmt::format("UPDATE {} SET {}last_changed_at = ?, last_run_id = ?, row_hash = ? WHERE id = ?",
                  name, sets);
  std::string scols;
  for (const auto& c : T::source_cols) {
    scols += ", ";
    scols += c;
  }
  std::string source_sql = fmt::format("INSERT OR REPLACE INTO {}_source (id{}) VALUES ({})", name,
                                       scols, placeholders(std::size(T::source_cols) + 1));
  std::string seen_sql =
      fmt::format("INSERT OR IGNORE INTO temp.seen (object, run_id, row_id) VALUES ({}, ?, ?)",
                  static_cast<int>(T::object));
  auto p = [&](std::string& sql, Statement& into) -> util::Status {
    auto st = db.prepare(sql);
    if (!st) return fail(st.error());
    into = std::move(*st);
    return {};
  };
  for (auto [sql, into] : {std::pair{&select_sql, &s.select}, std::pair{&insert_sql, &s.insert},
                           std::pair{&update_sql, &s.update}, std::pair{&source_sql, &s.source},
                           std::pair{&seen_sql, &s.seen}}) {
    if (auto st = p(*sql, *into); !st) return fail(st.error());
  }
  return s;
}

template <typename Row>
std::string scan_sql(std::string_view where) {
  using T = Table<Row>;
  std::string scols;
  for (const auto& c : T::source_cols) {
    scols += ", s.";
    scols += c;
  }
  return fmt::format(
      "SELECT {}, t.first_synced_at, t.last_changed_at, t.last_run_id{} FROM {} t "
      "LEFT JOIN {}_source s ON s.id = t.id {} ORDER BY t.uid",
      column_list<Row>("t."), scols, T::name, T::name, where);
}

template <typename Row>
Result<Row> read_row(const Statement& st) {
  Row row;
  Reader rd(st);
  Table<Row>::read(rd, row);
  row.meta.first_synced_at = rd.opt_time();
  row.meta.last_changed_at = rd.opt_time();
  row.meta.last_run_id = rd.opt_int();
  Table<Row>::read_source(rd, row);
  if (rd.error()) {
    return fail(ErrorCode::store, fmt::format("stored {} row {} is unreadable: {}",
                                              Table<Row>::name, row.uid, *rd.error()));
  }
  return row;
}

std::int64_t hash_of(const Statement& st, int col, bool& has) {
  has = !st.is_null(col);
  return st.int64(col);
}

// Lifecycle fields of a stored vulnerability.
struct Lifecycle {
  VulnerabilityStatus status = VulnerabilityStatus::active;
  OptTime last_fixed;
  OptTime state_time;
};

Result<Lifecycle> read_lifecycle(const Statement& st) {
  Lifecycle l;
  Reader rd(st, 2);
  const auto status = rd.view();
  l.status = parse_vulnerability_status(status).value_or(VulnerabilityStatus::active);
  l.last_fixed = rd.opt_time();
  l.state_time = rd.opt_time();
  if (rd.error()) return fail(ErrorCode::store, *rd.error());
  return l;
}

class SqliteStore final : public Store {
 public:
  SqliteStore(std::unique_ptr<Db> db, std::unique_ptr<FileLock> lock, bool read_only)
      : m_db(std::move(db)), m_lock(std::move(lock)), m_read_only(read_only) {}

  ~SqliteStore() override {
    // Statements must be finalized before the connection closes.
    m_tables.clear();
    m_stmts.clear();
  }

  util::Status init() {
    if (m_read_only) return {};
    if (auto st = m_db->exec("CREATE TEMP TABLE IF NOT EXISTS seen (object INTEGER NOT NULL, "
                             "run_id INTEGER NOT NULL, row_id INTEGER NOT NULL, "
                             "PRIMARY KEY (object, run_id, row_id)) WITHOUT ROWID");
        !st) {
      return st;
    }
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
      if (object == ObjectType::vulnerability_definition) {
        return forget_seen(object, ctx.run_id).map([] { return SweepCounts{}; });
      }
      const std::string now = encode_time(ctx.now);
      const std::string snap = encode_time(snapshot_time);
      std::string sql;
      if (object == ObjectType::vulnerability) {
        sql =
            "UPDATE vulnerability SET status = 'Fixed', status_category = 'Closed', "
            "last_fixed = ?1, state_time = ?1, last_changed_at = ?2, last_run_id = ?3, "
            "row_hash = NULL WHERE status_category = 'Open' "
            "AND (state_time IS NULL OR state_time <= ?1) "
            "AND id NOT IN (SELECT row_id FROM temp.seen WHERE object = ?4 AND run_id = ?3)";
      } else {
        sql = fmt::format(
            "UPDATE {} SET status = 'Removed', last_changed_at = ?2, last_run_id = ?3, "
            "row_hash = NULL WHERE status <> 'Removed' AND ?1 = ?1 "
            "AND id NOT IN (SELECT row_id FROM temp.seen WHERE object = ?4 AND run_id = ?3)",
            to_string(object));
      }
      auto st = m_db->prepare(sql);
      if (!st) return fail(st.error());
      st->bind(1, std::string_view(snap));
      st->bind(2, std::string_view(now));
      st->bind(3, ctx.run_id);
      st->bind(4, std::int64_t{static_cast<int>(object)});
      if (auto r = st->run(); !r) return fail(r.error());
      SweepCounts counts{m_db->changes()};
      if (auto r = forget_seen(object, ctx.run_id); !r) return fail(r.error());
      return counts;
    });
  }

  Result<DeltaCounts> apply_vulnerability_events(const WriteContext& ctx,
                                                 std::span<const Vulnerability> events,
                                                 std::optional<Timestamp> baseline) override {
    return write_op([&] { return apply_events(ctx, events, baseline); });
  }

  // --- reads ---

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

  // --- runs and checkpoints ---

  Result<RunId> begin_run(std::string_view mode, const std::vector<std::string>& objects,
                          Timestamp started_at) override {
    return write_op([&]() -> Result<RunId> {
      auto st = m_db->prepare(
          "INSERT INTO sync_run (mode, objects, started_at, counts) VALUES (?, ?, ?, '{}')");
      if (!st) return fail(st.error());
      const std::string objs = encode_json_list(objects);
      const std::string start = encode_time(started_at);
      st->bind(1, mode);
      st->bind(2, std::string_view(objs));
      st->bind(3, std::string_view(start));
      if (auto r = st->run(); !r) return fail(r.error());
      return m_db->last_insert_rowid();
    });
  }

  util::Status end_run(RunId run, Timestamp ended_at, std::string_view outcome,
                       std::string_view counts_json) override {
    return write_op([&]() -> util::Status {
      auto st =
          m_db->prepare("UPDATE sync_run SET ended_at = ?, outcome = ?, counts = ? WHERE id = ?");
      if (!st) return fail(st.error());
      const std::string end = encode_time(ended_at);
      st->bind(1, std::string_view(end));
      st->bind(2, outcome);
      st->bind(3, counts_json.empty() ? std::string_view("{}") : counts_json);
      st->bind(4, run);
      if (auto r = st->run(); !r) return r;
      if (m_db->changes() == 0) {
        return fail(ErrorCode::not_found, fmt::format("no sync run with id {}", run));
      }
      return {};
    });
  }

  Result<std::vector<SyncRun>> recent_runs(int limit) override {
    auto st = m_db->prepare(
        "SELECT id, mode, objects, started_at, ended_at, outcome, counts FROM sync_run "
        "ORDER BY id DESC LIMIT ?");
    if (!st) return fail(st.error());
    st->bind(1, std::int64_t{limit});
    std::vector<SyncRun> runs;
    for (;;) {
      auto more = st->step();
      if (!more) return fail(more.error());
      if (!*more) break;
      Reader rd(*st);
      SyncRun r;
      r.id = st->int64(0);
      rd.skip();
      r.mode = rd.str();
      r.objects = rd.list();
      r.started_at = rd.opt_time().value_or(Timestamp{});
      r.ended_at = rd.opt_time();
      r.outcome = rd.opt_str();
      r.counts_json = rd.str();
      if (rd.error()) return fail(ErrorCode::store, "sync_run row unreadable: " + *rd.error());
      runs.push_back(std::move(r));
    }
    st->reset();
    return runs;
  }

  util::Status save_checkpoint(const Checkpoint& cp) override {
    return write_op([&]() -> util::Status {
      auto st = m_db->prepare(
          "INSERT OR REPLACE INTO checkpoint (object, run_id, mode, snapshot_time, "
          "full_snapshot_time, completed_at, state) VALUES (?, ?, ?, ?, ?, ?, ?)");
      if (!st) return fail(st.error());
      Binder b(*st);
      b.lit(to_string(cp.object));
      b.i64(cp.run_id);
      b.str(cp.mode);
      b.opt(cp.snapshot_time);
      b.opt(cp.full_snapshot_time);
      b.time(cp.completed_at);
      const std::string state = cp.state.empty() ? "{}" : cp.state;
      b.str(state);
      return st->run();
    });
  }

  Result<std::optional<Checkpoint>> checkpoint(ObjectType object) override {
    auto all = read_checkpoints(std::string(to_string(object)));
    if (!all) return fail(all.error());
    if (all->empty()) return std::optional<Checkpoint>{};
    return std::optional<Checkpoint>{std::move(all->front())};
  }

  Result<std::vector<Checkpoint>> checkpoints() override { return read_checkpoints({}); }

  Result<std::vector<StatusCount>> count_by_status() override {
    std::vector<StatusCount> out;
    for (const auto object : model::k_all_objects) {
      const std::string sql =
          object == ObjectType::vulnerability_definition
              ? "SELECT severity, count(*) FROM vulnerability_definition GROUP BY severity"
              : fmt::format("SELECT status, count(*) FROM {} GROUP BY status ORDER BY status",
                            to_string(object));
      auto st = m_db->prepare(sql);
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

  Result<int> schema_version() override {
    auto st = m_db->prepare("SELECT coalesce(max(version), 0) FROM schema_version");
    if (!st) return fail(st.error());
    auto more = st->step();
    if (!more) return fail(more.error());
    const auto v = static_cast<int>(st->int64(0));
    st->reset();
    return v;
  }

 protected:
  util::Status do_begin() override {
    if (m_read_only) return fail(ErrorCode::invalid_argument, "store opened read-only");
    return m_db->exec("BEGIN IMMEDIATE");
  }
  util::Status do_commit() override { return m_db->exec("COMMIT"); }
  void do_rollback() noexcept override {
    if (sqlite3_get_autocommit(m_db->handle()) == 0) (void)m_db->exec("ROLLBACK");
  }

 private:
  // Runs `op` atomically: inside the caller's transaction as a savepoint (undone on
  // error), or in a transaction of its own when none is open.
  template <typename Op>
  auto write_op(Op op) -> decltype(op()) {
    if (m_read_only) return fail(ErrorCode::invalid_argument, "store opened read-only");
    const bool own = sqlite3_get_autocommit(m_db->handle()) != 0;
    if (auto st = m_db->exec(own ? "BEGIN IMMEDIATE" : "SAVEPOINT op"); !st) {
      return fail(st.error());
    }
    auto result = op();
    if (result) {
      if (auto st = m_db->exec(own ? "COMMIT" : "RELEASE op"); !st) {
        if (own) (void)m_db->exec("ROLLBACK");
        return fail(st.error());
      }
    } else if (own) {
      (void)m_db->exec("ROLLBACK");
    } else {
      (void)m_db->exec("ROLLBACK TO op; RELEASE op");
    }
    return result;
  }

  util::Status forget_seen(ObjectType object, RunId run) {
    auto st = m_db->prepare("DELETE FROM temp.seen WHERE object = ? AND run_id = ?");
    if (!st) return fail(st.error());
    st->bind(1, std::int64_t{static_cast<int>(object)});
    st->bind(2, run);
    return st->run();
  }

  template <typename Row>
  util::Status write_row(TableStatements& s, const WriteContext& ctx, const Row& row,
                         std::optional<std::int64_t> existing_id, RowHash hash,
                         std::int64_t& id_out) {
    Statement& st = existing_id ? s.update : s.insert;
    Binder b(st);
    Table<Row>::bind(b, row);
    b.time(ctx.now);
    b.i64(ctx.run_id);
    b.i64(hash);
    if (existing_id) {
      b.i64(*existing_id);
    } else {
      b.time(ctx.now);
    }
    if (auto r = st.run(); !r) return r;
    id_out = existing_id ? *existing_id : m_db->last_insert_rowid();
    Binder sb(s.source);
    sb.i64(id_out);
    Table<Row>::bind_source(sb, row);
    return s.source.run();
  }

  util::Status mark_seen(TableStatements& s, RunId run, std::int64_t id) {
    s.seen.bind(1, run);
    s.seen.bind(2, id);
    return s.seen.run();
  }

  template <typename Row>
  Result<UpsertCounts> upsert_rows(const WriteContext& ctx, std::span<const Row> rows) {
    auto& s = m_tables.at(Table<Row>::object);
    UpsertCounts counts;
    for (const Row& in : rows) {
      s.select.bind(1, std::string_view(in.uid));
      auto found = s.select.step();
      if (!found) return fail(found.error());
      std::optional<std::int64_t> id;
      bool has_hash = false;
      std::int64_t stored_hash = 0;
      const Row* row = &in;
      if (*found) {
        id = s.select.int64(0);
        stored_hash = hash_of(s.select, 1, has_hash);
        if constexpr (std::is_same_v<Row, Vulnerability>) {
          auto l = read_lifecycle(s.select);
          if (!l) {
            s.select.reset();
            return fail(l.error());
          }
          // Hash-equivalent to the merge result (stateTime is not hashed): an unchanged
          // finding is detected without copying the row.
          const bool keeps = l->status == in.status && (in.last_fixed || !l->last_fixed);
          if (!keeps || !has_hash || content_hash(in) != stored_hash) {
            row = merge_full_row(in, *l);
          }
        }
      }
      s.select.reset();
      const RowHash hash = content_hash(*row);
      std::int64_t row_id = id.value_or(0);
      if (id && has_hash && stored_hash == hash) {
        ++counts.unchanged;
      } else {
        if (auto st = write_row(s, ctx, *row, id, hash, row_id); !st) return fail(st.error());
        ++counts.written;
      }
      if (ctx.track_seen) {
        if (auto st = mark_seen(s, ctx.run_id, row_id); !st) return fail(st.error());
      }
    }
    return counts;
  }

  // Full-snapshot row against the stored lifecycle: returns the row to write (the input
  // itself when the lifecycle does not change).
  const Vulnerability* merge_full_row(const Vulnerability& in, const Lifecycle& stored) {
    const auto in_cat = category_of(in.status);
    const auto stored_cat = category_of(stored.status);
    const bool stored_newer =
        stored.state_time && in.state_time && *stored.state_time > *in.state_time;
    // Common case of a repeated full read: open finding seen again, nothing to merge but
    // stateTime, which the hash ignores; the stored stateTime stays when not rewritten.
    if ((stored_newer || in_cat == stored_cat) && in.status == stored.status &&
        in.last_fixed == stored.last_fixed && in.state_time == stored.state_time) {
      return &in;
    }
    m_scratch = in;
    if (stored_newer || in_cat == stored_cat) {
      // Status unchanged (or the snapshot is older than what we know): keep it.
      m_scratch.status = stored.status;
      m_scratch.status_category = stored_cat;
      m_scratch.state_time = stored.state_time ? stored.state_time : in.state_time;
      if (!m_scratch.last_fixed) m_scratch.last_fixed = stored.last_fixed;
    } else if (in_cat == StatusCategory::open) {
      m_scratch.status = VulnerabilityStatus::reopened;
      m_scratch.status_category = StatusCategory::open;
      if (!m_scratch.last_fixed) m_scratch.last_fixed = stored.last_fixed;
    } else {
      m_scratch.status = VulnerabilityStatus::fixed;
      m_scratch.status_category = StatusCategory::closed;
      if (!m_scratch.last_fixed) m_scratch.last_fixed = in.state_time;
    }
    return &m_scratch;
  }

  Result<DeltaCounts> apply_events(const WriteContext& ctx, std::span<const Vulnerability> events,
                                   std::optional<Timestamp> baseline) {
    auto& s = m_tables.at(ObjectType::vulnerability);
    DeltaCounts counts;
    // Order by time, then uid; among equal (time, uid) an open event wins over Fixed.
    std::vector<const Vulnerability*> order;
    order.reserve(events.size());
    for (const auto& e : events) order.push_back(&e);
    std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
      return std::tie(a->state_time, a->uid) < std::tie(b->state_time, b->uid);
    });
    for (std::size_t i = 0; i < order.size(); ++i) {
      const Vulnerability& ev = *order[i];
      const bool ev_open = category_of(ev.status) == StatusCategory::open;
      if (!ev_open) {
        bool paired = false;
        for (std::size_t j = i + 1; j < order.size(); ++j) {
          if (order[j]->state_time != ev.state_time || order[j]->uid != ev.uid) break;
          if (category_of(order[j]->status) == StatusCategory::open) paired = true;
        }
        for (std::size_t j = i; j-- > 0;) {
          if (order[j]->state_time != ev.state_time || order[j]->uid != ev.uid) break;
          if (category_of(order[j]->status) == StatusCategory::open) paired = true;
        }
        if (paired) {
          ++counts.paired;
          continue;
        }
      }

      s.select.bind(1, std::string_view(ev.uid));
      auto found = s.select.step();
      if (!found) return fail(found.error());
      std::optional<std::int64_t> id;
      bool has_hash = false;
      std::int64_t stored_hash = 0;
      Lifecycle stored;
      if (*found) {
        id = s.select.int64(0);
        stored_hash = hash_of(s.select, 1, has_hash);
        auto l = read_lifecycle(s.select);
        if (!l) {
          s.select.reset();
          return fail(l.error());
        }
        stored = *l;
      }
      s.select.reset();

      m_scratch = ev;
      Vulnerability& row = m_scratch;
      if (!id) {
        row.status = ev_open ? VulnerabilityStatus::active : VulnerabilityStatus::fixed;
        if (!ev_open) {
          row.last_fixed = ev.state_time;
          ++counts.created_closed;
        } else {
          ++counts.opened;
        }
      } else {
        OptTime effective = stored.state_time;
        if (baseline && (!effective || *effective < *baseline)) effective = baseline;
        if (effective && ev.state_time && *ev.state_time < *effective) {
          ++counts.stale;
          continue;
        }
        const bool stored_open = category_of(stored.status) == StatusCategory::open;
        const bool same_time =
            stored.state_time && ev.state_time && *stored.state_time == *ev.state_time;
        if (ev_open && stored_open) {
          row.status = stored.status;
          row.last_fixed = stored.last_fixed;
        } else if (ev_open && !stored_open) {
          // New after Fixed is a reopen, except the second half of a Fixed+New pair
          // split across calls (same timestamp): that finding never left.
          row.status = same_time ? VulnerabilityStatus::active : VulnerabilityStatus::reopened;
          row.last_fixed = stored.last_fixed;
          if (!same_time) ++counts.reopened;
        } else if (!ev_open && stored_open) {
          if (same_time) {
            ++counts.paired;  // the New half already applied at this timestamp
            continue;
          }
          row.status = VulnerabilityStatus::fixed;
          row.last_fixed = ev.state_time;
          ++counts.fixed;
        } else {
          row.status = VulnerabilityStatus::fixed;
          row.last_fixed = ev.state_time ? ev.state_time : stored.last_fixed;
        }
        if (stored.state_time && (!row.state_time || *row.state_time < *stored.state_time)) {
          row.state_time = stored.state_time;
        }
      }
      row.status_category = category_of(row.status);
      const RowHash hash = content_hash(row);
      std::int64_t row_id = id.value_or(0);
      if (id && has_hash && stored_hash == hash && stored.state_time == row.state_time) {
        ++counts.unchanged;
        continue;
      }
      if (auto st = write_row(s, ctx, row, id, hash, row_id); !st) return fail(st.error());
      ++counts.written;
    }
    return counts;
  }

  template <typename Row>
  Result<std::optional<Row>> find(std::string_view uid) {
    auto st = m_db->prepare(scan_sql<Row>("WHERE t.uid = ?"));
    if (!st) return fail(st.error());
    st->bind(1, uid);
    auto more = st->step();
    if (!more) return fail(more.error());
    if (!*more) return std::optional<Row>{};
    auto row = read_row<Row>(*st);
    if (!row) return fail(row.error());
    return std::optional<Row>{std::move(*row)};
  }

  template <typename Row>
  util::Status scan_rows(const RowVisitor<Row>& visit) {
    auto st = m_db->prepare(scan_sql<Row>(""));
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

  Result<std::vector<Checkpoint>> read_checkpoints(const std::string& object) {
    auto st = m_db->prepare(
        "SELECT object, run_id, mode, snapshot_time, full_snapshot_time, completed_at, state "
        "FROM checkpoint WHERE ?1 = '' OR object = ?1 ORDER BY object");
    if (!st) return fail(st.error());
    st->bind(1, std::string_view(object));
    std::vector<Checkpoint> out;
    for (;;) {
      auto more = st->step();
      if (!more) return fail(more.error());
      if (!*more) break;
      Reader rd(*st);
      Checkpoint cp;
      const auto obj = parse_object_type(rd.view());
      if (!obj) continue;
      cp.object = *obj;
      cp.run_id = rd.opt_int().value_or(0);
      cp.mode = rd.str();
      cp.snapshot_time = rd.opt_time();
      cp.full_snapshot_time = rd.opt_time();
      cp.completed_at = rd.opt_time().value_or(Timestamp{});
      cp.state = rd.str();
      if (rd.error()) return fail(ErrorCode::store, "checkpoint row unreadable: " + *rd.error());
      out.push_back(std::move(cp));
    }
    return out;
  }

  std::unique_ptr<Db> m_db;
  std::unique_ptr<FileLock> m_lock;
  bool m_read_only;
  std::map<ObjectType, TableStatements> m_tables;
  std::vector<Statement> m_stmts;
  Vulnerability m_scratch;
};

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
  if (options.read_only) {
    if (!*has_schema) {
      return fail(ErrorCode::store,
                  fmt::format("{} holds no mdesync data yet; run `mdesync sync` first", path));
    }
  } else {
    for (const char* pragma : {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL",
                               "PRAGMA cache_size = -262144", "PRAGMA temp_store = MEMORY",
                               "PRAGMA mmap_size = 268435456", "PRAGMA foreign_keys = OFF"}) {
      if (auto st = (*db)->exec(pragma); !st) return fail(st.error());
    }
    if (auto st = migrate(**db); !st) return fail(st.error());
  }
  auto store = std::make_unique<SqliteStore>(std::move(*db), std::move(lock), options.read_only);
  if (auto st = store->init(); !st) return fail(st.error());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace mdesync::store::sqlite
