#pragma once

// The PostgreSQL Store (ADR 0067): one connection, a tenant's tables in a schema of its
// own, a transaction per object as with SQLite. Rows go to the server with COPY into a
// temporary staging table and are merged in SQL (INSERT ... ON CONFLICT, UPDATE ...
// FROM), a batch at a time; the finding lifecycle is decided here with lifecycle.cpp
// over the stored states that one query returns per batch. Its parts: opening, the
// lock and migrations (open.cpp), upserts and delta events (writer.cpp), the
// sweep, reads, digests, runs and checkpoints (store.cpp).

#include <fmt/format.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "store/columns.hpp"
#include "store/key_index.hpp"
#include "store/lifecycle.hpp"
#include "store/postgres/conn.hpp"
#include "store/postgres/dims.hpp"
#include "store/postgres/store.hpp"
#include "store/store.hpp"

namespace mdesync::store::pg {

using util::ErrorCode;
using util::fail;
using namespace mdesync::model;

// Advisory lock keys (first half): the sync lock of a tenant schema (session) and the
// migration lock (transaction); the second half is hashtext(schema).
constexpr int k_sync_lock = 0x6d647331;     // "mds1"
constexpr int k_migrate_lock = 0x6d647332;  // "mds2"

// Takes the tenant's sync lock on `conn` (a session advisory lock): ErrorCode::
// store_locked when another session holds it.
util::Status take_sync_lock(Conn& conn);

// What a full read saw: rows by id, and devices whose installed packages it saw whole
// (mark_installed_seen, ADR 0113: a device instead of its hundred rows).
constexpr std::string_view k_seen_table =
    "CREATE TEMP TABLE IF NOT EXISTS mdesync_seen (object smallint, run bigint, id bigint, "
    "PRIMARY KEY (object, run, id)); CREATE TEMP TABLE IF NOT EXISTS mdesync_seen_device (object "
    "smallint, run bigint, host bigint, PRIMARY KEY (object, run, host))";

// An array literal of integers ({1,2,3}) for a bigint[] parameter.
inline std::string bigint_array(std::span<const std::int64_t> values) {
  std::string out = "{";
  for (const auto v : values) {
    if (out.size() > 1) out += ',';
    out += std::to_string(v);
  }
  out += '}';
  return out;
}

// Text of a time as the store writes it; microseconds of an integer time column.
inline std::string micros_text(util::Timestamp t) {
  return std::to_string(t.time_since_epoch().count());
}

// A set of (item, host) pairs of a first load: open addressing in one array, 8 bytes a
// key while ids fit 32 bits (a million findings: 16-32 MB for the load's duration).
class KeySet final {
 public:
  // Whether the pair was new.
  bool insert(std::int64_t item, std::int64_t host);

 private:
  bool insert_packed(std::uint64_t key);
  std::vector<std::uint64_t> m_slots;  // 0: empty (ids start at 1)
  std::size_t m_size = 0;
  std::set<std::pair<std::int64_t, std::int64_t>> m_wide;  // ids past 32 bits
};

class PgStore final : public Store {
 public:
  PgStore(std::unique_ptr<Conn> conn, bool exclusive, bool read_only)
      : m_conn(std::move(conn)), m_exclusive(exclusive), m_read_only(read_only) {}
  // The sync lock goes with the session, but the server ends a session after the client
  // has gone: released here, a store closed and opened again at once (the next run of a
  // process, the next tenant) never finds its own lock still held.
  ~PgStore() override {
    if (m_exclusive && m_conn) (void)m_conn->exec("SELECT pg_advisory_unlock_all()");
  }

  Result<UpsertCounts> upsert(const WriteContext& ctx, std::span<const Host> rows) override {
    return upsert_rows<Host>(ctx, rows);
  }
  Result<UpsertCounts> upsert(const WriteContext& ctx, std::span<const Package> rows) override {
    return upsert_rows<Package>(ctx, rows);
  }
  Result<UpsertCounts> upsert(const WriteContext& ctx,
                              std::span<const InstalledPackage> rows) override {
    return upsert_rows<InstalledPackage>(ctx, rows);
  }
  Result<UpsertCounts> upsert(const WriteContext& ctx,
                              std::span<const Vulnerability> rows) override {
    return upsert_rows<Vulnerability>(ctx, rows);
  }
  Result<UpsertCounts> upsert(const WriteContext& ctx,
                              std::span<const VulnerabilityDefinition> rows) override {
    return upsert_rows<VulnerabilityDefinition>(ctx, rows);
  }

  Result<UpsertCounts> flush_upserts() override;
  Result<SweepCounts> sweep(ObjectType object, const WriteContext& ctx,
                            Timestamp snapshot_time) override;
  Result<DeltaCounts> apply_vulnerability_events(const WriteContext& ctx,
                                                 std::span<const Vulnerability> events,
                                                 std::optional<Timestamp> baseline) override;

  util::Status scan_inventory_digests(
      const std::function<void(std::string_view, std::string_view, bool)>& visit) override;
  Result<std::optional<std::string>> inventory_versions(std::string_view device_id) override;
  util::Status put_inventory_digests(std::span<const InventoryDigest> digests) override;
  util::Status erase_inventory_digest(std::string_view device_id) override;
  util::Status clear_inventory_digests() override;
  Result<std::int64_t> mark_installed_seen(const WriteContext& ctx,
                                           std::string_view device_id) override;

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
  util::Status read_query(std::string_view sql, const QueryVisitor& visit) override;
  util::Status read_snapshot(const std::function<util::Status()>& body) override;

  Result<RunId> begin_run(std::string_view mode, const std::vector<std::string>& objects,
                          Timestamp started_at) override;
  util::Status end_run(RunId run, Timestamp ended_at, std::string_view outcome,
                       std::string_view counts_json) override;
  Result<std::vector<SyncRun>> recent_runs(int limit) override;
  util::Status save_checkpoint(const Checkpoint& checkpoint) override;
  Result<std::optional<Checkpoint>> checkpoint(ObjectType object) override;
  Result<std::vector<Checkpoint>> checkpoints() override;
  Result<std::vector<StatusCount>> count_by_status() override;
  Result<int> schema_version() override;
  // PostgreSQL checks its own pages (data checksums, when the cluster has them): this
  // checks that the server answers and that the schema holds a store this mdesync
  // knows, with every table, view and unique index of its version.
  util::Status check() override;
  std::function<util::Status()> concurrent_check(std::vector<std::string>) override {
    return [] { return util::Status{}; };
  }
  std::function<void()> interrupter() override { return m_conn->canceller(); }

 protected:
  util::Status do_begin() override;
  util::Status do_commit() override;
  void do_rollback() noexcept override;

 private:
  // Before a statement outside a transaction: a lost connection is opened again (and the
  // sync lock taken again); inside one, its loss fails the transaction.
  util::Status ready();

  // Runs `op` atomically: in the open transaction as a savepoint, or in a transaction
  // of its own.
  template <typename Op>
  auto write_op(Op op) -> decltype(op()) {
    if (m_read_only) return fail(ErrorCode::invalid_argument, "store opened read-only");
    const bool own = !m_tx_open;
    if (own) {
      if (auto st = ready(); !st) return fail(st.error());
    }
    // Inside a transaction the SAVEPOINT and the RELEASE ride with the next statement
    // (Conn::defer). What waits in the client goes before the savepoint (settle), and
    // before a RELEASE, which then goes at once.
    if (own) {
      if (auto st = m_conn->exec("BEGIN"); !st) return fail(st.error());
    } else {
      if (auto st = m_conn->settle(); !st) return fail(st.error());
      m_conn->defer("SAVEPOINT op");
    }
    auto result = op();
    util::Status end;
    // Pending interned rows go to the server before the RELEASE or COMMIT.
    if (result) {
      if (own) {
        end = m_conn->exec("COMMIT");
      } else if (m_conn->has_before_next()) {
        end = m_conn->exec("RELEASE op");
      } else {
        m_conn->defer("RELEASE op");
      }
    }
    if (!result || !end) {
      m_conn->abandon();
      forget_dims();  // ids given to rows that are rolled back
      if (own) {
        m_conn->drop_deferred();
        (void)m_conn->exec("ROLLBACK");
      } else if (!m_conn->cancel_deferred("SAVEPOINT op")) {
        // (A savepoint never sent has nothing to roll back.)
        (void)m_conn->exec("ROLLBACK TO op; RELEASE op");
      }
      m_stages.clear();  // a staging table created by the operation is gone
      schedule_flush();  // what waited before the operation
      if (!end) return fail(end.error());
    } else if (own && !m_exclusive) {
      forget_dims();  // another writer may intern next
    }
    return result;
  }

  template <typename Row>
  Result<UpsertCounts> upsert_rows(const WriteContext& ctx, std::span<const Row> rows);
  // COPYs rows into the object's staging table: (seq, hash, the object's columns), or for
  // a narrow object (hash, the narrow table's columns) with the ids of m_refs.
  template <typename Row>
  util::Status stage_rows(std::span<const Row> rows, std::span<const RowHash> hashes);
  // Interns and stages a batch of narrow rows (the last of each key; findings merged
  // with their stored lifecycle unless `first`): how many staged.
  template <typename Row>
  Result<std::size_t> stage_narrow(std::span<const Row> rows, const std::vector<RowHash>& hashes,
                                   std::span<const NarrowKeys> given_keys, bool first);
  // The ids each row refers to, into `out` (dims.hpp); `keys`: narrow_keys() of the
  // rows when the caller computed them (WriteContext::keys), else computed here.
  template <typename Row>
  util::Status narrow_refs(std::span<const Row> rows, std::vector<NarrowRefs>& out,
                           bool contexts = true, std::span<const NarrowKeys> keys = {});
  template <typename Row>
  PgDims<Row>& dims();
  // Writes what waits in the client (new interned rows, inventory digests); run by the
  // connection before its next statement (schedule_flush), so it reaches the server
  // before anything reads it, and before the commit.
  util::Status flush_pending();
  void schedule_flush();
  util::Status flush_digests();
  void forget_dims() noexcept;
  // A first load of a narrow object (ADR 0070): rows appended by a COPY left open.
  template <typename Row>
  Result<UpsertCounts> bulk_append(const WriteContext& ctx, std::span<const Row> rows,
                                   const std::vector<RowHash>& hashes);
  // Another operation writes the object: the rest of the transaction merges its rows
  // (an append could repeat a key that operation wrote).
  util::Status end_bulk(ObjectType object) {
    m_bulk_keys.erase(object);
    m_bulk_ended.insert(object);
    return {};
  }
  // Installed packages of an upsert with WriteContext::hold in a transaction (ADR 0106):
  // interned and kept in m_held, merged with the next ones once k_held_rows are held,
  // before any other statement, or by flush_upserts. Returns the counts of the rows
  // merged meanwhile.
  Result<UpsertCounts> hold_rows(const WriteContext& ctx, std::span<const InstalledPackage> rows,
                                 const std::vector<RowHash>& hashes, bool first);
  // Merges what m_held holds in one statement (in an operation of its own) and adds its
  // counts to m_held_counts.
  util::Status merge_held();
  // COPYs prepared rows into the object's staging table (emptied first), after the
  // statements `before` (no results) in the same round trip.
  template <typename Row>
  util::Status copy_stage(const CopyBuffer& rows, std::string_view before = {});
  // Merges the staged rows into the table: written rows (inserted or changed). With
  // `seen`, the staged rows go to the run's seen set in the same statement.
  template <typename Row>
  Result<std::int64_t> merge(const WriteContext& ctx, bool only_changed, std::int64_t& distinct,
                             bool seen = false);
  // Whether the object's table was empty when this transaction first wrote it.
  Result<bool> first_load(ObjectType object);

  // Appends digests to `out` as rows of mdesync_stage_digest.
  void copy_digests(std::span<const InventoryDigest> digests, CopyBuffer& out);
  // COPYs the rows of `rows` into mdesync_stage_digest, then mdesync_stage_digest_last
  // keeps the last one of each device, and `then` runs (SQL over it).
  util::Status stage_digests(const CopyBuffer& rows, std::string_view then = {});

  template <typename Row>
  Result<std::optional<Row>> find(std::string_view uid);
  template <typename Row>
  Result<std::vector<std::string>> absent_columns();
  template <typename Row>
  util::Status scan_rows(const RowVisitor<Row>& visit);

  std::unique_ptr<Conn> m_conn;
  PgDims<Vulnerability> m_finding_dims;
  PgDims<InstalledPackage> m_installed_dims;
  std::vector<NarrowRefs> m_refs;
  // Objects in a first load in the open transaction: the keys it wrote; then those
  // that another operation wrote meanwhile (merged from then on).
  std::map<ObjectType, KeySet> m_bulk_keys;
  std::set<ObjectType> m_bulk_ended;
  // The object whose first load the open COPY takes (when Conn::copy_open()).
  std::optional<ObjectType> m_streaming;
  bool m_exclusive;
  bool m_read_only;
  bool m_tx_open = false;
  bool m_read_tx = false;  // inside read_snapshot
  CopyBuffer m_copy;
  BinaryCopyBuffer m_binary;
  // Objects whose staging table exists in this session (a rollback may drop it: then
  // forgotten).
  std::set<ObjectType> m_stages;
  // Per object, in the open transaction: whether its table was empty when the
  // transaction first wrote it (a first load: no stored row to look up or sweep).
  std::map<ObjectType, bool> m_empty_at_begin;
  // (object, run) of full reads that were first loads: their sweep closes nothing.
  std::set<std::pair<ObjectType, RunId>> m_first_loads;
  std::vector<std::pair<ObjectType, RunId>> m_first_loads_in_tx;
  // mark_installed_seen in a transaction (a repeated inventory read calls it for every
  // unchanged device): the installed packages per device, counted once per transaction,
  // and the devices to mark, written to the seen set in one statement before the sweep
  // or the commit. Devices whose rows this transaction upserted are counted by SQL.
  std::optional<std::unordered_map<std::string, std::int64_t>> m_installed_counts;
  std::unordered_set<std::string> m_installed_dirty;
  std::map<RunId, std::vector<std::string>> m_pending_seen;
  // Inventory digests put in the open transaction, written in one go (flush_digests)
  // before the next statement or once they pass a size: a first load's COPY is not
  // ended for them after every batch.
  CopyBuffer m_digests;
  std::int64_t m_digest_seq = 0;
  // Installed packages held for one merge (hold_rows): their rows as COPY text with
  // the ids of their interned rows, the keys held (a key given again merges first: the
  // later row wins), and what the merge needs to count them.
  struct HeldRows {
    RunId run = 0;
    Timestamp now{};
    bool seen = false;        // the merge adds them to the run's seen set
    std::int64_t given = 0;   // rows the upserts passed, a key repeated in one call included
    std::int64_t staged = 0;  // rows in `copy`, one per key
    KeySet keys;
    CopyBuffer copy;
    // Rows the client found unchanged in m_installed_index (ADR 0113): not staged; their
    // devices, or their ids, go to the run's seen set with the merge. (host, id).
    std::vector<std::pair<std::int64_t, std::int64_t>> unchanged_rows;
  };
  HeldRows m_held;
  UpsertCounts m_held_counts;  // of merged held rows, not yet returned
  // A failed operation forgot the interned ids that held rows refer to: they were
  // dropped, and the transaction can only roll back.
  bool m_held_lost = false;
  // inventory_versions: the stored versions of a window of devices, by device id.
  std::optional<std::unordered_map<std::string, std::string>> m_versions_window;
  // The stored id and hash of every installed package by its exact (item, host) key
  // (ADR 0113), loaded once a full read has held k_held_rows rows, and at least as many
  // as the lines it skipped so far (WriteContext::lines_skipped): a read that decodes a
  // few devices of each hundred keeps its merges, which cost less than loading a million
  // rows. Kept until the read's sweep or the transaction's end. A Removed row has no
  // hash, and an entry whose row this read staged loses its hash: both are merged.
  // Per device (interned host id): its rows not Removed at the load, and how many of
  // them this read gave (m_found_ids, once each): a device whose rows were all given
  // goes to the seen set as one row, not one per unchanged row.
  std::optional<KeyIndex> m_installed_index;
  std::unordered_map<std::int64_t, std::int64_t> m_host_rows;
  std::unordered_map<std::int64_t, std::int64_t> m_host_found;
  SeenSet m_found_ids;
  std::int64_t m_held_in_read = 0;  // rows held by this read
  util::Status load_installed_index();
  // The held rows of `keep` that the index knows unchanged leave `keep` for
  // m_held.unchanged_rows.
  void drop_unchanged(std::vector<std::size_t>& keep, const std::vector<RowHash>& hashes);
  // The seen set's rows for m_held.unchanged_rows of `held`.
  util::Status mark_unchanged_seen(const HeldRows& held);
  void forget_installed_index() noexcept {
    m_installed_index.reset();
    m_host_rows.clear();
    m_host_found.clear();
    m_found_ids = SeenSet{};
    m_held_in_read = 0;
  }
  util::Status flush_pending_seen();
  Result<std::int64_t> mark_device_seen(RunId run, std::string_view device_id);
  void forget_pending() noexcept {
    m_installed_counts.reset();
    m_installed_dirty.clear();
    m_pending_seen.clear();
    m_digests.clear();
    m_held = HeldRows{};
    m_held_counts = {};
    m_held_lost = false;
    forget_installed_index();
  }
};

}  // namespace mdesync::store::pg
