#pragma once

// The Store: where model rows, sync runs and checkpoints live. One interface, backends
// chosen by URL (`sqlite:PATH`, `postgresql://...`) so callers never change.
//
// Usage by a sync (one object):
//   auto tx = store->begin();                       // Result<Transaction>
//   store->upsert(ctx, rows) ... per batch          // ctx.track_seen for a full read
//   store->sweep(object, ctx, snapshot_time)        // full read completed without error
//   store->save_checkpoint(cp);
//   tx->commit();                                   // rows + checkpoint atomically
// A Transaction destroyed without commit() rolls everything back. A Store is used by
// one thread at a time (not thread-safe); every call blocks until the database answers.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/hash.hpp"
#include "model/model.hpp"
#include "util/result.hpp"

namespace mdesync::store {

using model::ObjectType;
using model::RunId;
using util::Result;
using util::Status;
using util::Timestamp;

struct OpenOptions {
  // Take the store's exclusive sync lock (held until the Store is destroyed). A second
  // opener asking for it fails with ErrorCode::store_locked. Readers do not ask for it.
  bool exclusive = false;
  // Open without writing anything (no creation, no migration): for status and export.
  bool read_only = false;
  // How long to wait for another connection's write lock before ErrorCode::store_locked.
  int busy_timeout_ms = 5000;
  // The tenant (the configured tenant id) whose data a `postgresql:` store holds: its
  // tables live in the schema `mdesync_<tenant>` unless the URL names one (ADR 0067).
  // The SQLite store ignores it (one file, one tenant).
  std::string tenant{};
};

// The content digests (XXH3-128) of the four rows a finding or an installed package
// refers to in a narrow store (ADR 0062): its target, its item, its host context and
// its item context. A pure function of the row (narrow_keys), so the engine computes it
// on its mapping thread beside the content hash and the store, on the writing thread,
// only looks the digests up (ADR 0071).
struct NarrowKeys {
  struct Digest {
    std::uint64_t low = 0;
    std::uint64_t high = 0;
    friend bool operator==(const Digest&, const Digest&) = default;
  };
  Digest target;
  Digest item;
  Digest host_context;
  Digest item_context;
};
NarrowKeys narrow_keys(const model::Vulnerability& row);
NarrowKeys narrow_keys(const model::InstalledPackage& row);
// The narrow keys of rows[i] of a write: the caller's (WriteContext::keys) when it gave
// them, else computed here.
template <class Row>
NarrowKeys narrow_keys_at(std::span<const NarrowKeys> given, std::size_t i, const Row& row) {
  return i < given.size() ? given[i] : narrow_keys(row);
}

// Who writes and when: every upsert/sweep/apply stamps rows it changes with these.
struct WriteContext {
  RunId run_id = 0;
  Timestamp now{};
  // Record the uids this call saw for the run, for a later sweep (full reads only).
  bool track_seen = false;
  // A full read that passes every row of the object to the store (none skipped
  // upstream): a store may prepare for a pass over the whole table at once. Speed only.
  bool every_row = false;
  // model::content_hash of each row of the upsert, in order, when the caller computed
  // them (on another thread, say); empty: the store computes them. Must match the rows.
  std::span<const model::RowHash> hashes{};
  // narrow_keys() of each row (findings and installed packages), when the caller
  // computed them; empty: the store does. Must match the rows.
  std::span<const NarrowKeys> keys{};
  // The caller takes the counts of rows a store holds back: the store may keep the rows
  // of this upsert and merge them with those of later ones in one statement (the
  // PostgreSQL store's installed packages in a transaction, ADR 0106). An upsert then
  // returns the counts of the rows merged during it, whichever call gave them, and
  // flush_upserts() merges the rest and returns their counts: call it after the last
  // upsert, before the sweep. Any other statement of the store merges what is held
  // first, so a read, a sweep or the commit sees every row; a rollback drops them.
  bool hold = false;
  // Of a full read that skips unchanged devices: the lines it skipped so far. A store
  // may judge by it how much of the read it will decode (docs/adr/0113).
  std::int64_t lines_skipped = 0;
};

struct UpsertCounts {
  std::int64_t written = 0;    // inserted or changed
  std::int64_t unchanged = 0;  // same content hash as stored: not rewritten
};

struct SweepCounts {
  std::int64_t closed = 0;  // vulnerabilities closed, or rows marked Removed
};

// Outcome of applying delta events (docs/model.md, "Lifecycle").
struct DeltaCounts {
  std::int64_t written = 0;         // rows inserted or changed
  std::int64_t unchanged = 0;       // applied, nothing changed (replay)
  std::int64_t stale = 0;           // older than the finding's stateTime: ignored
  std::int64_t paired = 0;          // Fixed + New at one timestamp: the Fixed ignored
  std::int64_t opened = 0;          // new findings created open
  std::int64_t fixed = 0;           // open findings closed
  std::int64_t reopened = 0;        // closed findings opened again
  std::int64_t created_closed = 0;  // Fixed for a finding never seen: created closed
};

struct SyncRun {
  RunId id = 0;
  std::string mode;  // full | delta
  std::vector<std::string> objects;
  Timestamp started_at{};
  std::optional<Timestamp> ended_at;
  std::optional<std::string> outcome;  // success | partial | failed | interrupted | ...
  std::string counts_json;             // run summary as a JSON object (opaque here)
};

struct Checkpoint {
  ObjectType object = ObjectType::host;
  RunId run_id = 0;
  std::string mode;  // full | delta
  // Full: the snapshot's generation time (or first-page request time). Delta: the end
  // of the window read. The next delta starts one 6-hour bucket before it.
  std::optional<Timestamp> snapshot_time;
  // Generation time of the last complete full read of this object (carried forward by
  // deltas): every stored finding's status is known to hold at that time.
  std::optional<Timestamp> full_snapshot_time;
  Timestamp completed_at{};
  std::string state;  // free-form JSON for the sync engine
};

// What the last inventory export read learned about one device's lines (ADR 0060): the
// digest of its block of lines and the package versions those lines counted. Both are
// opaque bytes owned by the sync engine.
struct InventoryDigest {
  std::string device_id;
  std::string digest;
  std::optional<std::string> versions;  // absent when the read did not count versions
};

// A device whose finding lines are those of the last full read but for their one
// lastSeenTimestamp value (ADR 0100), and the time that value decodes to.
struct FindingLastFound {
  std::string device_id;
  Timestamp last_found;
};

// The identity of a finding in the per-line digests of ADR 0101: 32 bits of the hash of
// its uid, never 0 (0 stands for a line that makes no finding).
std::uint32_t finding_identity(std::string_view uid) noexcept;

// A partly decoded device (ADR 0101) and the identities of its stored findings whose
// lines are gone from the export.
struct GoneFindings {
  std::string device_id;
  std::vector<std::uint32_t> identities;
};

struct StatusCount {
  ObjectType object = ObjectType::host;
  std::string status;
  std::int64_t count = 0;
};

// One row of a read query (Store::read_query): its columns by 0-based index.
class QueryRow {
 public:
  virtual ~QueryRow() = default;
  [[nodiscard]] virtual bool is_null(int column) const = 0;
  [[nodiscard]] virtual std::string_view text(int column) const = 0;
  // Integers, and booleans as 1/0.
  [[nodiscard]] virtual std::int64_t int64(int column) const = 0;
  [[nodiscard]] virtual double real(int column) const = 0;
};
// Return false to stop a query early.
using QueryVisitor = std::function<bool(const QueryRow&)>;

// Return false to stop a scan early.
template <typename Row>
using RowVisitor = std::function<bool(const Row&)>;

class Store;

// RAII transaction: rolls back in the destructor unless commit() succeeded. Move-only.
class Transaction final {
 public:
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  // Makes every write since begin() durable. Errors leave the transaction rolled back.
  Status commit();
  // Discards every write since begin(); also what the destructor does.
  void rollback() noexcept;

 private:
  friend class Store;
  explicit Transaction(Store* store) : m_store(store) {}
  Store* m_store;
};

// The Store's roles (docs/adr/0099): each caller names the one it uses.

// Writing an object's rows, inside the transaction the Store began (the sync engine).
class ObjectWriter {
 public:
  // Inserts or updates rows by uid; a row whose content hash equals the stored one is
  // not rewritten. Vulnerabilities keep their stored lifecycle (a closed finding seen
  // again becomes Reopened; lastFixed and stateTime survive). ErrorCode::store on failure.
  virtual Result<UpsertCounts> upsert(const WriteContext& ctx,
                                      std::span<const model::Host> rows) = 0;
  virtual Result<UpsertCounts> upsert(const WriteContext& ctx,
                                      std::span<const model::Package> rows) = 0;
  virtual Result<UpsertCounts> upsert(const WriteContext& ctx,
                                      std::span<const model::InstalledPackage> rows) = 0;
  virtual Result<UpsertCounts> upsert(const WriteContext& ctx,
                                      std::span<const model::Vulnerability> rows) = 0;
  virtual Result<UpsertCounts> upsert(const WriteContext& ctx,
                                      std::span<const model::VulnerabilityDefinition> rows) = 0;

  // Merges the rows held back by upserts with WriteContext::hold and returns the counts
  // no upsert returned yet. A store that never holds rows returns zeros.
  virtual Result<UpsertCounts> flush_upserts() { return UpsertCounts{}; }

  // Reconciles after a complete full read of `object` by ctx.run_id: vulnerabilities
  // not seen are closed (Fixed, Closed, lastFixed = snapshot_time) unless a later event
  // reopened them; hosts, packages and installed packages not seen become Removed.
  // Definitions are never swept. Then forgets the run's seen set for the object.
  virtual Result<SweepCounts> sweep(ObjectType object, const WriteContext& ctx,
                                    Timestamp snapshot_time) = 0;

  // Applies mapped delta rows (status from the delta `status`, stateTime =
  // eventTimestamp) in eventTimestamp order with the lifecycle rules. `baseline` is
  // the last complete full snapshot time: no finding's state is older than that.
  virtual Result<DeltaCounts> apply_vulnerability_events(
      const WriteContext& ctx, std::span<const model::Vulnerability> events,
      std::optional<Timestamp> baseline) = 0;

 protected:
  ObjectWriter() = default;
  ~ObjectWriter() = default;
  ObjectWriter(const ObjectWriter&) = default;
  ObjectWriter& operator=(const ObjectWriter&) = default;
};

// What lets a sync skip the export lines that did not change since the last read
// (ADR 0060, 0068): per device digests, and marking the rows of skipped lines seen.
class SkipCache {
 public:
  // Inventory digests (ADR 0060). `visit` gets every stored digest; `has_versions` tells
  // whether versions are stored (read them with inventory_versions). put replaces each
  // device's digest; erase and clear remove them. Call the writers inside the
  // transaction that holds the installed packages they describe.
  virtual Status scan_inventory_digests(
      const std::function<void(std::string_view device_id, std::string_view digest,
                               bool has_versions)>& visit) = 0;
  virtual Result<std::optional<std::string>> inventory_versions(std::string_view device_id) = 0;
  virtual Status put_inventory_digests(std::span<const InventoryDigest> digests) = 0;
  virtual Status erase_inventory_digest(std::string_view device_id) = 0;
  virtual Status clear_inventory_digests() = 0;
  // Marks every installed package of the device seen by ctx.run_id, as an unchanged
  // re-read of its rows would (so that the sweep keeps them); returns how many.
  virtual Result<std::int64_t> mark_installed_seen(const WriteContext& ctx,
                                                   std::string_view device_id) = 0;

  // Finding digests (ADR 0068): per device, the digest of its block of lines in the last
  // full read of the vulnerability export (InventoryDigest::versions is not used).
  // `visit` gets every stored digest except those of devices with a finding whose
  // stateTime is later than `changed_after`: an event changed them since a full read, so
  // their lines must be decoded again. put replaces each device's digest; erase and clear
  // remove them. Call the writers inside the transaction that holds the findings.
  virtual Status scan_finding_digests(
      std::optional<Timestamp> changed_after,
      const std::function<void(std::string_view device_id, std::string_view digest)>& visit) = 0;
  virtual Status put_finding_digests(std::span<const InventoryDigest> digests) = 0;
  virtual Status erase_finding_digests(std::span<const std::string> device_ids) = 0;
  virtual Status clear_finding_digests() = 0;
  // Marks every open finding of the devices seen by ctx.run_id, as an unchanged re-read
  // of their lines would (so that the sweep keeps them). `link` gets each distinct
  // (cveId, recommendation reference) of those findings that has a reference, as their
  // rows would have given. Returns how many findings were marked; `open_per_device`, when
  // not empty (one per device), gets each device's count (ADR 0101 checks it).
  virtual Result<std::int64_t> mark_findings_seen(
      const WriteContext& ctx, std::span<const std::string> device_ids,
      const std::function<void(std::string_view cve, std::string_view recommendation)>& link,
      std::span<std::int64_t> open_per_device) = 0;
  // Sets last_found of every open finding of each device to its time, as a re-read of
  // lines that differ from the stored ones only in lastSeenTimestamp would (ADR 0100),
  // without writing the findings (ADR 0110): one row per device that its open findings
  // not written since follow; the vulnerability view shows last_found, last_changed_at =
  // ctx.now and last_run_id = ctx.run_id from it, and row_hash NULL (unknown: the next
  // decoded read rewrites the row) where the row's own last_found differs. A finding
  // that closes keeps the time it showed. Returns how many open findings showed another
  // time before.
  virtual Result<std::int64_t> set_findings_last_found(
      const WriteContext& ctx, std::span<const FindingLastFound> devices) = 0;
  // Closes the open findings of each device whose finding_identity is listed, as the
  // sweep would close them unseen (Fixed at snapshot_time, unless an event changed them
  // later), before the device's other findings are marked seen and follow its new time
  // (ADR 0111). Returns how many were closed.
  virtual Result<std::int64_t> close_gone_findings(const WriteContext& ctx, Timestamp snapshot_time,
                                                   std::span<const GoneFindings> devices) = 0;

 protected:
  SkipCache() = default;
  ~SkipCache() = default;
  SkipCache(const SkipCache&) = default;
  SkipCache& operator=(const SkipCache&) = default;
};

// Reading what is stored: single rows, whole objects in uid order (`mdesync export`),
// read-only queries for reports, counts per status (`mdesync status`).
class RowReader {
 public:
  // One stored row by uid, nullopt when absent.
  virtual Result<std::optional<model::Host>> find_host(std::string_view uid) = 0;
  virtual Result<std::optional<model::Vulnerability>> find_vulnerability(std::string_view uid) = 0;

  // Every row of one object in uid order (for `mdesync export`).
  virtual Status scan(const RowVisitor<model::Host>& visit) = 0;
  virtual Status scan(const RowVisitor<model::Package>& visit) = 0;
  virtual Status scan(const RowVisitor<model::InstalledPackage>& visit) = 0;
  virtual Status scan(const RowVisitor<model::Vulnerability>& visit) = 0;
  virtual Status scan(const RowVisitor<model::VulnerabilityDefinition>& visit) = 0;

  // Read queries over the store's tables for reports (src/report). `sql` is one SELECT
  // in the SQL both backends understand alike (no parameters, no dialect functions);
  // its rows are streamed to `visit`, never held whole. Within read_snapshot, every
  // query sees the same committed state, whatever a sync commits meanwhile.
  virtual Status read_query(std::string_view sql, const QueryVisitor& visit) = 0;
  virtual Status read_snapshot(const std::function<Status()>& body) = 0;

  // Row counts per object and status (vulnerability: per status).
  virtual Result<std::vector<StatusCount>> count_by_status() = 0;

 protected:
  RowReader() = default;
  ~RowReader() = default;
  RowReader(const RowReader&) = default;
  RowReader& operator=(const RowReader&) = default;
};

// The history of sync runs and each object's checkpoint.
class RunLog {
 public:
  // Sync runs: begin_run inserts a row (committed at once) and returns its id.
  virtual Result<RunId> begin_run(std::string_view mode, const std::vector<std::string>& objects,
                                  Timestamp started_at) = 0;
  virtual Status end_run(RunId run, Timestamp ended_at, std::string_view outcome,
                         std::string_view counts_json) = 0;
  // Newest first.
  virtual Result<std::vector<SyncRun>> recent_runs(int limit) = 0;

  // Replaces the object's checkpoint; call inside the transaction holding its rows.
  virtual Status save_checkpoint(const Checkpoint& checkpoint) = 0;
  virtual Result<std::optional<Checkpoint>> checkpoint(ObjectType object) = 0;
  virtual Result<std::vector<Checkpoint>> checkpoints() = 0;

 protected:
  RunLog() = default;
  ~RunLog() = default;
  RunLog(const RunLog&) = default;
  RunLog& operator=(const RunLog&) = default;
};

// A store: every role, plus its transactions, its health and its interruption.
class Store : public ObjectWriter, public SkipCache, public RowReader, public RunLog {
 public:
  virtual ~Store() = default;
  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Starts a transaction; writes issued until commit belong to it. One at a time:
  // a nested begin() is ErrorCode::invalid_argument.
  Result<Transaction> begin();

  // Schema version the database is at.
  virtual Result<int> schema_version() = 0;

  // Checks that the database's pages are sound (SQLite's quick_check): ErrorCode::store,
  // naming the damage and what to do, when they are not. A sync's store runs it on its
  // own connection from the open on and waits for it before its first write. The
  // PostgreSQL store checks that the server answers (its pages are the server's).
  virtual Status check() = 0;
  // A check of the pages of `tables` (and their indexes) that may run on another thread
  // while this store is read, for a reader about to read them whole (`mdesync report`): a
  // damaged page does not always fail a read, it can also end it early. SQLite: a
  // quick_check on a connection of its own; PostgreSQL: nothing (its pages are the
  // server's; check() tells whether it answers).
  virtual std::function<Status()> concurrent_check(std::vector<std::string> tables) = 0;

  // A function that makes the statement this store is running, when it is called (from
  // any thread, e.g. on a sync's interruption), end early with an error; the caller then
  // rolls its transaction back. A call while no statement runs changes nothing. Made on
  // the thread that uses the store; valid while the store lives. SQLite:
  // sqlite3_interrupt; PostgreSQL: a cancel request to the server.
  virtual std::function<void()> interrupter() = 0;

 protected:
  virtual Status do_begin() = 0;
  virtual Status do_commit() = 0;
  virtual void do_rollback() noexcept = 0;

 private:
  friend class Transaction;
  bool m_in_transaction = false;
};

// How many of `object`'s rows are active: open findings; hosts, packages and installed
// packages not Removed (definitions: every row). Inside a transaction it counts what the
// transaction wrote (the removal guard counts after the sweep, before the commit).
Result<std::int64_t> count_active(Store& store, ObjectType object);

}  // namespace mdesync::store
