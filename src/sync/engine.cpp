#include "sync/engine.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "mapping/filters.hpp"
#include "mapping/mapping.hpp"
#include "sync/inventory_digests.hpp"

namespace mdesync::sync {
namespace {

using namespace std::chrono_literals;
using util::ErrorCode;
using util::fail;
using util::Status;
using util::Timestamp;

constexpr std::size_t k_batch_rows = 5000;
// Rows per mapping batch: small enough that the batches in flight (one being received,
// one being mapped, one being written) stay a few MB.
constexpr std::size_t k_map_batch_rows = 2000;
constexpr auto k_bucket = std::chrono::hours{6};
constexpr auto k_delta_limit = std::chrono::hours{24 * 14};
// Kept clear of the change feed's 14-day limit: the request may reach the service a
// little after the time its last answer stated.
constexpr auto k_delta_margin = std::chrono::minutes{30};

// The order objects run in: installed packages before packages (the export strategy
// aggregates package versions from the inventory) and vulnerabilities before their
// definitions (the CVE -> recommendation links come from the vulnerability rows).
const std::vector<std::string> k_order = {"machine", "installed_package", "package",
                                          "vulnerability", "vulnerability_definition"};

double seconds_between(std::chrono::steady_clock::time_point a,
                       std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::string_view diagnostic_name(mapping::DiagnosticKind kind) {
  switch (kind) {
    case mapping::DiagnosticKind::unknown_enum_value:
      return "unknown enum value";
    case mapping::DiagnosticKind::unparseable_vector:
      return "unparseable CVSS vector";
    case mapping::DiagnosticKind::score_mismatch:
      return "CVSS score mismatch";
    case mapping::DiagnosticKind::unexpected_value:
      return "unexpected value";
  }
  return "diagnostic";
}

// Runs f(i) for i in [0, n) on up to `threads` threads.
template <class F>
void parallel_for(std::size_t n, int threads, const F& f) {
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < n; i = next++) f(i);
  };
  const std::size_t count =
      std::min<std::size_t>(n, static_cast<std::size_t>(std::max(threads, 1)));
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < count; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

// Orders (cve id, recommendation id) pairs and finds them by string_view pairs too, so a
// link seen on a million rows is looked up without building strings.
struct LinkLess {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    const std::string_view a1 = a.first;
    const std::string_view b1 = b.first;
    if (a1 != b1) return a1 < b1;
    return std::string_view(a.second) < std::string_view(b.second);
  }
};
using Links = std::set<std::pair<std::string, std::string>, LinkLess>;

// What one batch's mapping counted, merged into the object's summary on the writing
// thread.
void merge_tally(ObjectSummary& into, const ObjectSummary& from) {
  into.read += from.read;
  into.skipped += from.skipped;
  into.map_seconds += from.map_seconds;
  for (const auto& [k, v] : from.skipped_reasons) into.skipped_reasons[k] += v;
  for (const auto& [k, v] : from.diagnostics) into.diagnostics[k] += v;
  for (const auto& m : from.diagnostic_samples) {
    if (into.diagnostic_samples.size() < 5) into.diagnostic_samples.push_back(m);
  }
}

// Maps batches of source records on a worker thread while the calling thread keeps
// receiving records and writing the previous batch, so mapping and the store use both
// cores. Batches are consumed in arrival order, on the calling thread; the map function
// touches only its batch.
template <class Record, class Row>
class MapPipeline {
 public:
  struct Mapped {
    std::vector<Row> rows;
    // Content hashes of `rows` when the map function computed them (on the worker, so
    // that the store does not on the calling thread).
    std::vector<model::RowHash> hashes;
    ObjectSummary tally;
    Links links;
  };
  using MapFn = std::function<void(std::vector<Record>& batch, Mapped& out)>;
  using ConsumeFn = std::function<util::Status(Mapped& mapped)>;

  MapPipeline(MapFn map, ConsumeFn consume) : m_map(std::move(map)), m_consume(std::move(consume)) {
    m_in.reserve(k_map_batch_rows);
  }
  MapPipeline(const MapPipeline&) = delete;
  MapPipeline& operator=(const MapPipeline&) = delete;
  ~MapPipeline() {
    if (m_pending.valid()) m_pending.wait();
  }

  util::Status add(Record&& record) {
    m_in.push_back(std::move(record));
    if (m_in.size() >= k_map_batch_rows) return submit();
    return {};
  }
  // Maps and consumes what is left; call once after the last record.
  util::Status finish() {
    if (auto st = submit(); !st) return st;
    return take(std::move(m_pending));
  }

 private:
  // Starts mapping the collected batch, then consumes the one mapped before it.
  util::Status submit() {
    auto previous = std::move(m_pending);
    if (!m_in.empty()) {
      m_pending = std::async(std::launch::async, [this, batch = std::move(m_in)]() mutable {
        Mapped out;
        out.rows.reserve(batch.size());
        m_map(batch, out);
        return out;
      });
      m_in = {};
      m_in.reserve(k_map_batch_rows);
    }
    return take(std::move(previous));
  }
  util::Status take(std::future<Mapped> future) {
    if (!future.valid()) return {};
    Mapped mapped = future.get();
    return m_consume(mapped);
  }

  MapFn m_map;
  ConsumeFn m_consume;
  std::vector<Record> m_in;
  std::future<Mapped> m_pending;
};

}  // namespace

struct Engine::Impl {
  const config::Config& config;
  store::Store& store;
  defender::Client& client;
  util::Clock& clock;
  const EngineDeps& deps;

  Links links;  // gathered from the vulnerability rows of this run
  std::chrono::steady_clock::time_point object_started;  // of the object in progress
  bool links_complete = false;
  std::optional<VersionAggregate> versions;
  // Why this run's inventory read failed: the package versions it counts are incomplete.
  std::optional<util::Error> inventory_failure;

  const mapping::Filters& filters(const std::string& object) const {
    static const mapping::Filters none;
    auto it = config.filters.find(object);
    return it == config.filters.end() ? none : it->second;
  }
  bool selected(const std::string& object) const {
    return std::find(config.objects.begin(), config.objects.end(), object) != config.objects.end();
  }
  bool cancelled() const { return deps.cancel != nullptr && deps.cancel->load(); }
  Status check_cancel() const {
    if (cancelled()) return fail(ErrorCode::cancelled, "interrupted");
    return {};
  }
  Timestamp now() const { return util::to_timestamp(clock.now()); }

  template <class Row>
  static void note(ObjectSummary& s, const mapping::Mapped<Row>& m) {
    for (const auto& d : m.diagnostics) {
      ++s.diagnostics[fmt::format("{} ({})", diagnostic_name(d.kind), d.field)];
      if (s.diagnostic_samples.size() < 5) s.diagnostic_samples.push_back(d.message);
    }
    if (m.skipped()) skip(s, m.skip_reason);
  }
  static void skip(ObjectSummary& s, const std::string& reason) {
    ++s.skipped;
    ++s.skipped_reasons[reason];
  }

  // Counts a mapped row's diagnostics and adds it to `batch`, unless the mapper skipped it
  // or the object's operation options filter it out.
  template <class Row, class Sink>
  static Status add_mapped(ObjectSummary& s, mapping::Mapped<Row>&& mapped,
                           const mapping::Filters& wanted, Sink& batch) {
    note(s, mapped);
    if (mapped.skipped()) return {};
    if (!mapping::matches(*mapped.row, wanted)) {
      skip(s, "filtered out");
      return {};
    }
    return batch.add(std::move(*mapped.row));
  }

  // Per-item calls (api strategy), `download_concurrency` at a time within the client's
  // rate limits. Each item's records, or the error its call ended with.
  template <class T, class Call>
  std::vector<std::pair<std::vector<T>, std::optional<util::Error>>> fetch_each(
      const std::vector<std::string>& ids, const Call& call) {
    std::vector<std::pair<std::vector<T>, std::optional<util::Error>>> out(ids.size());
    parallel_for(ids.size(), config.download_concurrency, [&](std::size_t i) {
      if (cancelled()) return;
      auto r = call(ids[i], [&out, i](T&& record) -> Status {
        out[i].first.push_back(std::move(record));
        return {};
      });
      if (!r) out[i].second = r.error();
    });
    return out;
  }

  // Like fetch_each, but hands each item's records to `consume(index, records)` on the
  // calling thread as its call completes (completion order), so memory holds only the
  // items in flight, not the whole object. Stops at the first failed call (reported as
  // "<what> of <id>: ...") or failed consume.
  template <class T, class Call, class Consume>
  Status fetch_each_streamed(const std::vector<std::string>& ids, const Call& call,
                             const Consume& consume, std::string_view what) {
    struct Done {
      std::size_t index = 0;
      std::vector<T> records;
      std::optional<util::Error> error;
    };
    if (ids.empty()) return {};
    const std::size_t workers = std::clamp<std::size_t>(
        static_cast<std::size_t>(std::max(config.download_concurrency, 1)), 1, ids.size());
    std::mutex mutex;
    std::condition_variable can_push;
    std::condition_variable can_pop;
    std::deque<Done> queue;
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> next{0};
    std::size_t active = workers;
    auto work = [&] {
      for (std::size_t i = next++; i < ids.size() && !stop.load() && !cancelled(); i = next++) {
        Done done;
        done.index = i;
        auto r = call(ids[i], [&done](T&& record) -> Status {
          done.records.push_back(std::move(record));
          return {};
        });
        if (!r) done.error = r.error();
        std::unique_lock lock(mutex);
        can_push.wait(lock, [&] { return queue.size() < workers || stop.load(); });
        if (stop.load()) break;
        queue.push_back(std::move(done));
        can_pop.notify_one();
      }
      std::lock_guard lock(mutex);
      --active;
      can_pop.notify_all();
    };
    std::vector<std::thread> pool;
    pool.reserve(workers);
    for (std::size_t t = 0; t < workers; ++t) pool.emplace_back(work);
    Status result;
    for (;;) {
      Done done;
      {
        std::unique_lock lock(mutex);
        can_pop.wait(lock, [&] { return !queue.empty() || active == 0; });
        if (queue.empty()) break;
        done = std::move(queue.front());
        queue.pop_front();
        can_push.notify_one();
      }
      if (!result) continue;  // draining after a failure
      if (done.error) {
        result = fail(done.error->code,
                      fmt::format("{} of {}: {}", what, ids[done.index], done.error->describe()));
      } else {
        result = consume(done.index, done.records);
      }
      if (!result) {
        std::lock_guard lock(mutex);
        stop.store(true);
        can_push.notify_all();
      }
    }
    for (auto& t : pool) t.join();
    return result;
  }

  static std::vector<std::string> ids_of(const std::vector<defender::Software>& software) {
    std::vector<std::string> ids;
    ids.reserve(software.size());
    for (const auto& sw : software) ids.push_back(sw.id);
    return ids;
  }

  // The first failed item as the object's error.
  template <class T>
  static Status first_failure(
      const std::vector<std::pair<std::vector<T>, std::optional<util::Error>>>& results,
      const std::vector<std::string>& ids, std::string_view what) {
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (const auto& e = results[i].second) {
        return fail(e->code, fmt::format("{} of {}: {}", what, ids[i], e->describe()));
      }
    }
    return {};
  }

  void progress(const ObjectSummary& s, std::chrono::steady_clock::time_point started,
                bool finishing = false) {
    if (!deps.on_progress) return;
    const auto st = client.stats();
    deps.on_progress(Progress{s.object, s.read, st.download_bytes_compressed + st.api_bytes,
                              seconds_between(started, std::chrono::steady_clock::now()),
                              finishing});
  }

  // Collects rows and upserts them in batches; times the store.
  template <class Row>
  class Batch {
   public:
    Batch(Impl& impl, ObjectSummary& s, store::WriteContext ctx)
        : m_impl(impl), m_s(s), m_ctx(ctx), m_started(std::chrono::steady_clock::now()) {
      m_rows.reserve(k_batch_rows);
    }
    Status add(Row&& row) {
      m_rows.push_back(std::move(row));
      if (m_rows.size() >= k_batch_rows) return flush();
      return {};
    }
    // A row with its content hash, computed by the caller; a batch takes either kind only.
    Status add(Row&& row, model::RowHash hash) {
      m_hashes.push_back(hash);
      return add(std::move(row));
    }
    Status flush() {
      if (m_rows.empty()) return {};
      const auto t0 = std::chrono::steady_clock::now();
      store::WriteContext ctx = m_ctx;
      if (m_hashes.size() == m_rows.size()) ctx.hashes = m_hashes;
      auto counts = m_impl.store.upsert(ctx, std::span<const Row>(m_rows));
      m_s.store_seconds += seconds_between(t0, std::chrono::steady_clock::now());
      m_rows.clear();
      m_hashes.clear();
      if (!counts) return tl::unexpected(counts.error());
      m_s.written += counts->written;
      m_s.unchanged += counts->unchanged;
      m_impl.progress(m_s, m_started);
      return m_impl.check_cancel();
    }

   private:
    Impl& m_impl;
    ObjectSummary& m_s;
    store::WriteContext m_ctx;
    std::chrono::steady_clock::time_point m_started;
    std::vector<Row> m_rows;
    std::vector<model::RowHash> m_hashes;
  };

  // `every_row`: a full read that upserts every row it keeps (see WriteContext).
  store::WriteContext context(model::RunId run, bool track_seen, bool every_row = false) const {
    return store::WriteContext{run, now(), track_seen, every_row};
  }

  Status finish(ObjectSummary& s, model::ObjectType object, model::RunId run,
                const std::string& mode, std::optional<Timestamp> snapshot,
                std::optional<Timestamp> full_snapshot, std::optional<Timestamp> sweep_at,
                std::string state, store::Transaction& tx) {
    if (auto st = check_cancel(); !st) return st;
    progress(s, object_started, true);
    if (sweep_at) {
      const auto t0 = std::chrono::steady_clock::now();
      auto swept = store.sweep(object, context(run, true), *sweep_at);
      s.store_seconds += seconds_between(t0, std::chrono::steady_clock::now());
      if (!swept) return tl::unexpected(swept.error());
      s.closed += swept->closed;
    }
    store::Checkpoint cp;
    cp.object = object;
    cp.run_id = run;
    cp.mode = mode;
    cp.snapshot_time = snapshot;
    cp.full_snapshot_time = full_snapshot;
    cp.completed_at = now();
    cp.state = std::move(state);
    if (auto st = store.save_checkpoint(cp); !st) return st;
    if (auto st = check_cancel(); !st) return st;
    return tx.commit();
  }

  // --- machine -------------------------------------------------------------------------
  Status sync_hosts(ObjectSummary& s, model::RunId run) {
    auto tx = store.begin();
    if (!tx) return tl::unexpected(tx.error());
    Batch<model::Host> batch(*this, s, context(run, true, true));
    const Timestamp snapshot = now();
    defender::ODataQuery q;
    q.filter = mapping::machine_odata_filter(filters("machine"));
    auto listed = client.for_each_machine(q, [&](defender::Machine&& m) -> Status {
      if (auto st = check_cancel(); !st) return st;
      ++s.read;
      auto mapped = mapping::map_host(m);
      note(s, mapped);
      if (mapped.skipped()) return {};
      return batch.add(std::move(*mapped.row));
    });
    // The service answers 404 when there are no machines at all (defender-api.md 4.1).
    if (!listed && !(listed.error().code == ErrorCode::not_found && s.read == 0)) {
      return tl::unexpected(listed.error());
    }
    if (auto st = batch.flush(); !st) return st;
    return finish(s, model::ObjectType::host, run, "full", snapshot, snapshot, snapshot, "{}", *tx);
  }

  // --- software lists shared by package and installed_package (api strategy) -----------
  util::Result<std::vector<defender::Software>> list_software(const std::string& object) {
    std::vector<defender::Software> all;
    defender::ODataQuery q;
    q.filter = mapping::software_odata_filter(filters(object));
    auto r = client.for_each_software(q, [&](defender::Software&& sw) -> Status {
      if (auto st = check_cancel(); !st) return st;
      all.push_back(std::move(sw));
      return {};
    });
    if (!r) return tl::unexpected(r.error());
    return all;
  }

  // --- installed_package ----------------------------------------------------------------
  // What shapes the rows made from inventory lines besides the lines: it seeds their
  // digests, so that a change of rules or options rebuilds every device once (ADR 0060).
  std::uint64_t inventory_seed() const {
    std::string text = fmt::format("inventory-digest/1 rules={} non_cpe={} filters=",
                                   mapping::k_installed_package_rules, config.include_non_cpe);
    for (const auto& [key, values] : filters("installed_package")) {
      text += key;
      for (const auto& v : values) text += fmt::format("\x1f{}", v);
      text += '\x1e';
    }
    std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a: stable across builds
    for (const char c : text) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    return h;
  }

  // With `write` false the inventory is only read to aggregate package versions.
  Status sync_installed(ObjectSummary& s, model::RunId run, bool write) {
    if (config.strategy == "api") return sync_installed_api(s, run);
    const ObjectSummary before = s;
    bool conflict = false;
    auto st = sync_installed_export(s, run, write, true, conflict);
    if (!st || !conflict) return st;
    // A device's lines were not all in one block (ADR 0060): the skips cannot be trusted.
    // The first attempt's transaction was rolled back; read again, decoding every line.
    constexpr std::string_view k_why =
        "a device's inventory lines were not all in one block of the export; read the "
        "inventory again without skipping unchanged devices";
    spdlog::warn("installed_package: {}", k_why);
    s = before;
    s.warnings.emplace_back(k_why);
    return sync_installed_export(s, run, write, false, conflict);
  }

  // Sets `conflict` (and commits nothing) when skipped blocks turn out unsafe.
  Status sync_installed_export(ObjectSummary& s, model::RunId run, bool write, bool allow_skip,
                               bool& conflict) {
    std::optional<store::Transaction> tx;
    if (write) {
      auto t = store.begin();
      if (!t) return tl::unexpected(t.error());
      tx.emplace(std::move(*t));
    }
    // Skipped blocks never reach the store: then it sees only the changed devices' rows.
    Batch<model::InstalledPackage> batch(*this, s, context(run, true, !allow_skip));
    std::optional<model::InstalledPackage> pending;
    const bool aggregate = selected("package");
    if (aggregate) versions.emplace();
    const auto& wanted = filters("installed_package");

    // Skipping needs the stored rows to describe every row of a device: not with the
    // non-CPE inventory, whose rows share the devices but not the digests.
    const bool digests_kept = write && !config.include_non_cpe;
    InventoryDigests gate(inventory_seed(), allow_skip && (digests_kept || !write), aggregate);
    if (write && !digests_kept) {
      if (auto st = store.clear_inventory_digests(); !st) return st;
    }
    // Read even when skipping is off: the stale ones are erased at the end.
    if (digests_kept || !write) {
      auto scanned = store.scan_inventory_digests(
          [&](std::string_view device, std::string_view bytes, bool has_versions) {
            if (auto d = digest_from_bytes(bytes)) gate.add_stored(device, {*d, has_versions});
          });
      if (!scanned) return scanned;
    }
    std::vector<std::string> put_devices;
    // Decoded blocks' contributions and digests, on this thread.
    std::vector<store::InventoryDigest> digest_rows;
    auto absorb = [&]() -> Status {
      digest_rows.clear();
      for (auto& d : gate.take_decoded()) {
        if (aggregate && !add_versions(d.versions, *versions)) {
          return fail(ErrorCode::internal, "inventory version counts could not be read back");
        }
        if (!digests_kept || !d.whole) continue;
        put_devices.push_back(d.device_id);
        digest_rows.push_back({std::move(d.device_id), digest_bytes(d.digest), std::nullopt});
        if (aggregate) digest_rows.back().versions = std::move(d.versions);
      }
      if (digest_rows.empty()) return {};
      const auto t0 = std::chrono::steady_clock::now();
      auto st = store.put_inventory_digests(digest_rows);
      s.store_seconds += seconds_between(t0, std::chrono::steady_clock::now());
      return st;
    };

    // Mapping runs on the pipeline's worker; the merge of adjacent rows of one uid and
    // the writes stay on this thread, in order.
    using Pipeline = MapPipeline<defender::InventoryRow, model::InstalledPackage>;
    auto map_rows = [&](bool non_cpe) {
      return [&, non_cpe](std::vector<defender::InventoryRow>& rows, Pipeline::Mapped& out) {
        for (auto& row : rows) {
          const auto t0 = std::chrono::steady_clock::now();
          auto mapped =
              mapping::map_installed_package(std::move(row), {non_cpe, config.include_non_cpe});
          out.tally.map_seconds += seconds_between(t0, std::chrono::steady_clock::now());
          note(out.tally, mapped);
          if (mapped.skipped()) continue;
          if (!mapping::matches(*mapped.row, wanted)) {
            skip(out.tally, "filtered out");
            continue;
          }
          out.rows.push_back(std::move(*mapped.row));
        }
      };
    };
    auto consume = [&](Pipeline::Mapped& mapped) -> Status {
      merge_tally(s, mapped.tally);
      if (auto st = absorb(); !st) return st;
      for (auto& row : mapped.rows) {
        // Several versions of one software on one machine arrive as adjacent rows.
        if (pending && pending->uid == row.uid) {
          mapping::merge_into(*pending, row);
          continue;
        }
        if (pending) {
          if (auto st = batch.add(std::move(*pending)); !st) return st;
        }
        pending = std::move(row);
      }
      return check_cancel();
    };
    Pipeline cpe_pipeline(map_rows(false), consume);
    Pipeline non_cpe_pipeline(map_rows(true), consume);

    auto make_sink = [&](bool non_cpe) {
      Pipeline& pipeline = non_cpe ? non_cpe_pipeline : cpe_pipeline;
      return [&](defender::InventoryRow&& row) -> Status {
        if (auto st = check_cancel(); !st) return st;
        ++s.read;
        if (!write) return {};
        return pipeline.add(std::move(row));
      };
    };

    auto files = client.inventory_export_files(false);
    if (!files) return tl::unexpected(files.error());
    const Timestamp snapshot = files->generated_time;
    auto streamed = client.stream_inventory_files(
        *files, [&] { return client.inventory_export_files(false); }, make_sink(false), &gate);
    if (!streamed) return tl::unexpected(streamed.error());
    if (auto st = cpe_pipeline.finish(); !st) return st;
    if (auto st = absorb(); !st) return st;
    if (gate.conflict()) {
      conflict = true;
      return {};
    }
    // Unchanged devices: their stored rows stay, seen by this run; their stored version
    // counts stand in for their lines.
    for (const auto& [device, lines] : gate.skipped()) {
      s.read += static_cast<std::int64_t>(lines);
      s.reused += static_cast<std::int64_t>(lines);
      const auto t0 = std::chrono::steady_clock::now();
      if (write) {
        auto seen = store.mark_installed_seen(context(run, true), device);
        if (!seen) return tl::unexpected(seen.error());
        s.unchanged += *seen;
      }
      if (aggregate) {
        auto stored = store.inventory_versions(device);
        if (!stored) return tl::unexpected(stored.error());
        if (!*stored || !add_versions(**stored, *versions)) {
          return fail(ErrorCode::store,
                      fmt::format("inventory_digest: the version counts of device {} are "
                                  "missing or unreadable; delete the table's rows to rebuild",
                                  device));
        }
      }
      s.store_seconds += seconds_between(t0, std::chrono::steady_clock::now());
    }
    if (write && config.include_non_cpe) {
      auto more = client.stream_inventory_export(true, make_sink(true));
      if (!more) return tl::unexpected(more.error());
      if (auto st = non_cpe_pipeline.finish(); !st) return st;
    }
    if (!write) return {};
    if (pending) {
      if (auto st = batch.add(std::move(*pending)); !st) return st;
    }
    if (auto st = batch.flush(); !st) return st;
    if (digests_kept) {
      // Only a device met in one whole block keeps a digest: the next read can skip it.
      const auto t0 = std::chrono::steady_clock::now();
      for (const auto& device : put_devices) {
        if (gate.keep(device)) continue;
        if (auto st = store.erase_inventory_digest(device); !st) return st;
      }
      for (const auto& device : gate.stale_stored()) {
        if (auto st = store.erase_inventory_digest(device); !st) return st;
      }
      s.store_seconds += seconds_between(t0, std::chrono::steady_clock::now());
    }
    return finish(s, model::ObjectType::installed_package, run, "full", snapshot, snapshot,
                  snapshot, "{}", *tx);
  }

  Status sync_installed_api(ObjectSummary& s, model::RunId run) {
    auto software = list_software("installed_package");
    if (!software) return tl::unexpected(software.error());
    const Timestamp snapshot = now();
    const auto ids = ids_of(*software);
    auto tx = store.begin();
    if (!tx) return tl::unexpected(tx.error());
    // These rows are not made from inventory lines: no digest describes them any more.
    if (auto st = store.clear_inventory_digests(); !st) return st;
    Batch<model::InstalledPackage> batch(*this, s, context(run, true, true));
    const auto& wanted = filters("installed_package");
    // Each software's machine references are written as its call completes: a million
    // references are never all in memory. A failed call rolls the object back.
    auto streamed = fetch_each_streamed<defender::MachineReference>(
        ids,
        [&](const std::string& id, const auto& sink) {
          return client.for_each_software_machine_reference(id, sink);
        },
        [&](std::size_t i, const std::vector<defender::MachineReference>& refs) -> Status {
          for (const auto& ref : refs) {
            ++s.read;
            auto st =
                add_mapped(s, mapping::map_installed_package(ref, (*software)[i]), wanted, batch);
            if (!st) return st;
          }
          return check_cancel();
        },
        "machine references");
    if (!streamed) return streamed;
    if (auto st = check_cancel(); !st) return st;
    if (auto st = batch.flush(); !st) return st;
    return finish(s, model::ObjectType::installed_package, run, "full", snapshot, snapshot,
                  snapshot, "{}", *tx);
  }

  // --- package ---------------------------------------------------------------------------
  Status sync_packages(ObjectSummary& s, model::RunId run) {
    const Timestamp snapshot = now();
    auto software = list_software("package");
    if (!software) return tl::unexpected(software.error());
    std::vector<std::vector<defender::Distribution>> dists(software->size());
    if (config.strategy == "api") {
      const auto ids = ids_of(*software);
      auto fetched =
          fetch_each<defender::Distribution>(ids, [&](const std::string& id, const auto& sink) {
            return client.for_each_software_distribution(id, sink);
          });
      if (auto st = check_cancel(); !st) return st;
      if (auto st = first_failure(fetched, ids, "version distribution"); !st) return st;
      for (std::size_t i = 0; i < fetched.size(); ++i) {
        dists[i] = std::move(fetched[i].first);
        // Same order as the export strategy's aggregation: by version text.
        std::sort(dists[i].begin(), dists[i].end(),
                  [](const auto& a, const auto& b) { return a.version < b.version; });
      }
    } else if (inventory_failure) {
      // Versions counted from a partial inventory would be wrong: keep the stored rows.
      util::Error e = *inventory_failure;
      e.message =
          "the software inventory read failed, so package versions cannot be "
          "counted (" +
          e.message + ")";
      return tl::unexpected(e);
    } else if (versions) {
      for (std::size_t i = 0; i < software->size(); ++i) {
        auto it = versions->find((*software)[i].id);
        if (it == versions->end()) continue;
        for (const auto& [version, count] : it->second) {
          dists[i].push_back(
              defender::Distribution{version, count.installations, count.vulnerabilities});
        }
      }
    }
    auto tx = store.begin();
    if (!tx) return tl::unexpected(tx.error());
    Batch<model::Package> batch(*this, s, context(run, true, true));
    const auto& wanted = filters("package");
    for (std::size_t i = 0; i < software->size(); ++i) {
      ++s.read;
      auto st = add_mapped(s, mapping::map_package((*software)[i], dists[i]), wanted, batch);
      if (!st) return st;
    }
    if (auto st = batch.flush(); !st) return st;
    return finish(s, model::ObjectType::package, run, "full", snapshot, snapshot, snapshot, "{}",
                  *tx);
  }

  // --- vulnerability ---------------------------------------------------------------------
  // Maps one row; returns the row to keep or nullopt (skipped, counted).
  // Thread-safe: writes only to `s` and `found_links`.
  std::optional<model::Vulnerability> map_finding(ObjectSummary& s, Links& found_links,
                                                  defender::VulnerabilityRow&& row,
                                                  std::optional<Timestamp> snapshot) const {
    ++s.read;
    const auto t0 = std::chrono::steady_clock::now();
    auto mapped = mapping::map_vulnerability(std::move(row), {snapshot});
    s.map_seconds += seconds_between(t0, std::chrono::steady_clock::now());
    note(s, mapped);
    if (mapped.skipped()) return std::nullopt;
    if (!mapping::matches(*mapped.row, filters("vulnerability"))) {
      skip(s, "filtered out");
      return std::nullopt;
    }
    // type is the row's cveId. Most rows repeat a link already found: looked up by view.
    const auto& v = *mapped.row;
    if (v.source.recommendation_reference && !v.source.recommendation_reference->empty()) {
      const std::pair<std::string_view, std::string_view> link{v.type,
                                                               *v.source.recommendation_reference};
      if (!found_links.contains(link)) found_links.emplace(link.first, link.second);
    }
    return std::move(*mapped.row);
  }

  Status sync_vulnerabilities_full(ObjectSummary& s, model::RunId run) {
    auto tx = store.begin();
    if (!tx) return tl::unexpected(tx.error());
    Batch<model::Vulnerability> batch(*this, s, context(run, true, true));
    Timestamp snapshot{};
    using Pipeline = MapPipeline<defender::VulnerabilityRow, model::Vulnerability>;
    Pipeline pipeline(
        [&](std::vector<defender::VulnerabilityRow>& rows, Pipeline::Mapped& out) {
          for (auto& row : rows) {
            if (auto finding = map_finding(out.tally, out.links, std::move(row), snapshot)) {
              out.hashes.push_back(model::content_hash(*finding));
              out.rows.push_back(std::move(*finding));
            }
          }
        },
        [&](Pipeline::Mapped& mapped) -> Status {
          merge_tally(s, mapped.tally);
          links.insert(mapped.links.begin(), mapped.links.end());
          for (std::size_t i = 0; i < mapped.rows.size(); ++i) {
            if (auto st = batch.add(std::move(mapped.rows[i]), mapped.hashes[i]); !st) return st;
          }
          return check_cancel();
        });
    auto sink = [&](defender::VulnerabilityRow&& row) -> Status {
      if (auto st = check_cancel(); !st) return st;
      return pipeline.add(std::move(row));
    };
    if (config.strategy == "api") {
      // JSON pages carry no generation time: the time the first page was requested.
      snapshot = now();
      defender::ExportPageQuery q;
      auto r = client.for_each_vulnerability_by_machine(q, sink);
      if (!r) return tl::unexpected(r.error());
    } else {
      auto files = client.vulnerability_export_files();
      if (!files) return tl::unexpected(files.error());
      snapshot = files->generated_time;
      auto r = client.stream_vulnerability_files(
          *files, [&] { return client.vulnerability_export_files(); }, sink);
      if (!r) return tl::unexpected(r.error());
    }
    if (auto st = pipeline.finish(); !st) return st;
    if (auto st = batch.flush(); !st) return st;
    links_complete = true;
    return finish(s, model::ObjectType::vulnerability, run, "full", snapshot, snapshot, snapshot,
                  "{}", *tx);
  }

  Status sync_vulnerabilities_delta(ObjectSummary& s, model::RunId run,
                                    const store::Checkpoint& cp) {
    const Timestamp since = *cp.snapshot_time - k_bucket;
    // The change feed takes a start at most 14 days back from the request, in the
    // service's time (its Date header; the local clock may differ). A window that starts
    // earlier cannot be read without losing changes: the findings are read in full.
    const auto service_now = client.server_time();
    if (service_now && *service_now - since > k_delta_limit - k_delta_margin) {
      s.warnings.push_back(fmt::format(
          "the change feed would start at {}, more than 14 days before the service's time "
          "{}: vulnerabilities were read in full instead",
          util::format_timestamp_seconds(since), util::format_timestamp_seconds(*service_now)));
      s.mode = "full";
      return sync_vulnerabilities_full(s, run);
    }
    // The next window starts one bucket before this one's end: the newest event seen,
    // or a bucket before the service's time when the feed was quiet, so that the start
    // follows the service's clock instead of staying at the last event.
    Timestamp newest = *cp.snapshot_time;
    if (service_now && *service_now - k_bucket > newest) newest = *service_now - k_bucket;
    std::vector<model::Vulnerability> events;
    auto r = client.for_each_vulnerability_change(
        since, {}, [&](defender::VulnerabilityRow&& row) -> Status {
          if (auto st = check_cancel(); !st) return st;
          if (row.event_timestamp && *row.event_timestamp > newest) newest = *row.event_timestamp;
          auto finding = map_finding(s, links, std::move(row), std::nullopt);
          if (finding) events.push_back(std::move(*finding));
          return {};
        });
    if (!r) return tl::unexpected(r.error());
    std::stable_sort(events.begin(), events.end(), [](const auto& a, const auto& b) {
      return a.state_time.value_or(Timestamp{}) < b.state_time.value_or(Timestamp{});
    });
    auto tx = store.begin();
    if (!tx) return tl::unexpected(tx.error());
    const auto t0 = std::chrono::steady_clock::now();
    auto counts =
        store.apply_vulnerability_events(context(run, false), events, cp.full_snapshot_time);
    s.store_seconds += seconds_between(t0, std::chrono::steady_clock::now());
    if (!counts) return tl::unexpected(counts.error());
    s.written += counts->written;
    s.unchanged += counts->unchanged;
    s.closed += counts->fixed;
    s.stale += counts->stale;
    return finish(s, model::ObjectType::vulnerability, run, "delta", newest, cp.full_snapshot_time,
                  std::nullopt, "{}", *tx);
  }

  // --- vulnerability_definition ----------------------------------------------------------
  // patchAvailable, affected and recommendation of every stored definition (when `needed`).
  struct RecommendationAttributes {
    model::OptBool patch_available;
    std::optional<model::Strings> affected;
    std::optional<model::Strings> recommendation;
  };
  util::Result<std::unordered_map<std::string, RecommendationAttributes>>
  stored_recommendation_attributes(bool needed) {
    std::unordered_map<std::string, RecommendationAttributes> out;
    if (!needed) return out;
    auto st = store.scan(store::RowVisitor<model::VulnerabilityDefinition>(
        [&](const model::VulnerabilityDefinition& d) {
          if (d.patch_available || d.affected || d.recommendation) {
            out.emplace(d.uid,
                        RecommendationAttributes{d.patch_available, d.affected, d.recommendation});
          }
          return true;
        }));
    if (!st) return tl::unexpected(st.error());
    return out;
  }

  Status sync_definitions(ObjectSummary& s, model::RunId run, const std::string& mode) {
    auto previous = store.checkpoint(model::ObjectType::vulnerability_definition);
    if (!previous) return tl::unexpected(previous.error());
    Links stored_links;
    std::optional<Timestamp> watermark;
    if (*previous) {
      auto state = nlohmann::json::parse((*previous)->state, nullptr, false);
      if (state.is_object()) {
        for (const auto& l : state.value("links", nlohmann::json::array())) {
          if (l.is_array() && l.size() == 2)
            stored_links.emplace(l[0].get<std::string>(), l[1].get<std::string>());
        }
        if (state.contains("watermark") && state["watermark"].is_string()) {
          if (auto t = util::parse_timestamp(state["watermark"].get<std::string>())) watermark = *t;
        }
      }
    }

    // Recommendations: a failure leaves the recommendation attributes unknown.
    std::map<std::string, defender::Recommendation> recs;
    bool recs_known = true;
    auto listed = client.for_each_recommendation({}, [&](defender::Recommendation&& rec) -> Status {
      if (auto st = check_cancel(); !st) return st;
      std::string id = rec.id;
      recs.emplace(std::move(id), std::move(rec));
      return {};
    });
    if (!listed) {
      if (listed.error().code == ErrorCode::cancelled) return tl::unexpected(listed.error());
      recs_known = false;
      s.warnings.push_back(fmt::format(
          "recommendations unavailable, stored patchAvailable/affected/recommendation kept: {}",
          listed.error().describe()));
    }

    // CVE -> recommendation links.
    Links all_links;
    std::set<std::string> unknown_cves;  // covered by a recommendation whose call failed
    const bool per_recommendation =
        config.strategy == "api" ||
        (!links_complete && !selected("vulnerability") && stored_links.empty());
    if (recs_known && per_recommendation) {
      std::vector<std::string> ids;
      for (const auto& [id, rec] : recs) ids.push_back(id);
      const auto fetched =
          fetch_each<defender::Vulnerability>(ids, [&](const std::string& id, const auto& sink) {
            return client.for_each_recommendation_vulnerability(id, sink);
          });
      if (auto st = check_cancel(); !st) return st;
      std::size_t failed = 0;
      for (std::size_t i = 0; i < ids.size(); ++i) {
        if (fetched[i].second) {
          ++failed;
          for (const auto& [cve, rec] : stored_links) {
            if (rec == ids[i]) unknown_cves.insert(cve);
          }
          continue;
        }
        for (const auto& v : fetched[i].first) all_links.emplace(v.id, ids[i]);
      }
      if (failed > 0) {
        s.warnings.push_back(fmt::format(
            "{} recommendation call(s) failed; their CVEs keep recommendation attributes unknown",
            failed));
      }
    } else {
      all_links = links;
      if (!links_complete || mode == "delta")
        all_links.insert(stored_links.begin(), stored_links.end());
    }
    std::unordered_map<std::string, std::vector<std::string>> by_cve;
    for (const auto& [cve, rec] : all_links) by_cve[cve].push_back(rec);

    auto tx = store.begin();
    if (!tx) return tl::unexpected(tx.error());
    Batch<model::VulnerabilityDefinition> batch(*this, s, context(run, false));
    std::string filter =
        mapping::vulnerability_definition_odata_filter(filters("vulnerability_definition"));
    if (mode == "delta" && watermark) {
      const std::string since =
          "updatedOn gt " + util::format_timestamp_seconds(*watermark - k_bucket);
      filter = filter.empty() ? since : "(" + filter + ") and " + since;
    }
    std::optional<Timestamp> newest = watermark;
    std::vector<defender::Recommendation> covering;
    // A side feed that failed never erases what an earlier run learned: definitions whose
    // recommendations are unknown this time keep the stored attributes.
    auto kept = stored_recommendation_attributes(!recs_known || !unknown_cves.empty());
    if (!kept) return tl::unexpected(kept.error());
    std::int64_t kept_count = 0;
    auto r = client.for_each_vulnerability(
        {filter, std::nullopt, {}}, [&](defender::Vulnerability&& v) -> Status {
          if (auto st = check_cancel(); !st) return st;
          ++s.read;
          if (v.updated_on && (!newest || *v.updated_on > *newest)) newest = v.updated_on;
          std::optional<std::span<const defender::Recommendation>> recs_for;
          covering.clear();
          if (recs_known && !unknown_cves.contains(v.id)) {
            if (auto it = by_cve.find(v.id); it != by_cve.end()) {
              for (const auto& id : it->second) {
                if (auto rec = recs.find(id); rec != recs.end()) covering.push_back(rec->second);
              }
            }
            recs_for = std::span<const defender::Recommendation>(covering);
          }
          const auto t0 = std::chrono::steady_clock::now();
          auto mapped = mapping::map_vulnerability_definition(v, recs_for);
          s.map_seconds += seconds_between(t0, std::chrono::steady_clock::now());
          note(s, mapped);
          if (mapped.skipped()) return {};
          if (!recs_for) {
            if (auto it = kept->find(mapped.row->uid); it != kept->end()) {
              mapped.row->patch_available = it->second.patch_available;
              mapped.row->affected = it->second.affected;
              mapped.row->recommendation = it->second.recommendation;
              ++kept_count;
            }
          }
          return batch.add(std::move(*mapped.row));
        });
    if (!r) return tl::unexpected(r.error());
    if (kept_count > 0) {
      s.warnings.push_back(
          fmt::format("{} definition(s) kept their stored recommendation attributes", kept_count));
    }
    if (auto st = batch.flush(); !st) return st;

    nlohmann::json state_links = nlohmann::json::array();
    for (const auto& [cve, rec] : all_links) state_links.push_back({cve, rec});
    nlohmann::json state = {{"links", state_links}};
    if (newest) state["watermark"] = util::format_timestamp(*newest);
    const Timestamp snapshot = now();
    return finish(s, model::ObjectType::vulnerability_definition, run, mode, snapshot, snapshot,
                  std::nullopt, state.dump(), *tx);
  }
};

Engine::Engine(config::Config config, EngineDeps deps)
    : m_config(std::move(config)), m_deps(std::move(deps)) {
  if (m_deps.clock == nullptr) m_deps.clock = &util::system_clock();
}

std::string to_text(const Plan& plan) {
  std::string out =
      fmt::format("plan: {} sync, {} strategy ({})\n", plan.mode, plan.strategy, plan.reason);
  for (const auto& step : plan.steps) {
    out += fmt::format("  {} ({})\n", step.object, step.mode);
    for (const auto& e : step.endpoints) out += fmt::format("    GET {}\n", e);
    for (const auto& f : step.filters) out += fmt::format("    filter: {}\n", f);
    out += fmt::format("    calls: {}\n", step.calls);
  }
  out += "nothing was requested or written (--dry-run)\n";
  return out;
}

util::Result<Plan> Engine::plan() {
  if (auto st = mapping::validate_filters(m_config.filters); !st) {
    auto e = st.error();
    e.code = ErrorCode::config;
    return tl::unexpected(e);
  }
  Plan plan;
  plan.strategy = m_config.strategy;
  auto selected = [&](const std::string& o) {
    return std::find(m_config.objects.begin(), m_config.objects.end(), o) != m_config.objects.end();
  };

  // Delta needs, for every selected object that has a delta, a checkpoint of a good
  // sync less than 14 days old.
  const auto now = util::to_timestamp(m_deps.clock->now());
  std::string missing;
  bool any_delta_object = false;
  for (const auto& [name, type] :
       {std::pair{"vulnerability", model::ObjectType::vulnerability},
        std::pair{"vulnerability_definition", model::ObjectType::vulnerability_definition}}) {
    if (!selected(name)) continue;
    any_delta_object = true;
    auto cp = m_deps.store->checkpoint(type);
    if (!cp) return tl::unexpected(cp.error());
    if (!*cp || !(*cp)->snapshot_time || !(*cp)->full_snapshot_time) {
      missing = fmt::format("no earlier good sync of {}", name);
    } else if (now - (*cp)->completed_at > k_delta_limit) {
      missing = fmt::format("the last good sync of {} ({}) is more than 14 days old", name,
                            util::format_timestamp_seconds((*cp)->completed_at));
    }
  }
  if (m_config.mode == "full") {
    plan.mode = "full";
    plan.reason = "requested";
  } else if (m_config.mode == "delta") {
    if (!missing.empty()) {
      return fail(ErrorCode::invalid_argument,
                  fmt::format("a delta sync is not possible: {}; run a full sync first "
                              "(mdesync sync --mode full, or --mode auto)",
                              missing));
    }
    plan.mode = "delta";
    plan.reason = "requested";
  } else {
    plan.mode = missing.empty() && any_delta_object ? "delta" : "full";
    plan.reason = missing.empty() ? (any_delta_object ? "a good sync less than 14 days old exists"
                                                      : "no selected object has a delta")
                                  : missing;
  }

  const bool api = m_config.strategy == "api";
  auto filters_of = [&](const std::string& object, const std::string& pushed) {
    std::vector<std::string> out;
    if (!pushed.empty()) out.push_back("$filter=" + pushed);
    auto it = m_config.filters.find(object);
    if (it != m_config.filters.end()) {
      for (const auto& [k, v] : it->second)
        out.push_back(fmt::format("{} in [{}]", k, fmt::join(v, ", ")));
    }
    return out;
  };
  for (const auto& object : k_order) {
    if (!selected(object)) continue;
    PlanStep step;
    step.object = object;
    step.mode = "full";
    if (object == "machine") {
      step.endpoints = {"/api/machines"};
      step.filters = filters_of(object, mapping::machine_odata_filter(m_config.filters[object]));
      step.calls = "1 per 10,000 machines";
    } else if (object == "installed_package") {
      if (api) {
        step.endpoints = {"/api/software", "/api/software/{id}/machineReferences"};
        step.calls = "1 per 10,000 software + 1 per software";
      } else {
        step.endpoints = {"/api/machines/SoftwareInventoryExport", "export files (no bearer)"};
        step.calls = "1 export call + 1 download per file";
      }
      step.filters = filters_of(object, "");
    } else if (object == "package") {
      step.endpoints = {"/api/software"};
      if (api) step.endpoints.emplace_back("/api/software/{id}/distributions");
      step.filters = filters_of(object, mapping::software_odata_filter(m_config.filters[object]));
      step.calls = api ? "1 per 10,000 software + 1 per software" : "1 per 10,000 software";
    } else if (object == "vulnerability") {
      step.mode = plan.mode;
      if (plan.mode == "delta") {
        step.endpoints = {"/api/machines/SoftwareVulnerabilityChangesByMachine"};
        step.calls = "1 per 50,000 change rows";
      } else if (api) {
        step.endpoints = {"/api/machines/SoftwareVulnerabilitiesByMachine"};
        step.calls = "1 per 50,000 rows";
      } else {
        step.endpoints = {"/api/machines/SoftwareVulnerabilitiesExport",
                          "export files (no bearer)"};
        step.calls = "1 export call + 1 download per file";
      }
      step.filters = filters_of(object, "");
    } else if (object == "vulnerability_definition") {
      step.mode = plan.mode;
      step.endpoints = {"/api/vulnerabilities", "/api/recommendations"};
      if (api) step.endpoints.emplace_back("/api/recommendations/{id}/vulnerabilities");
      step.filters = filters_of(
          object, mapping::vulnerability_definition_odata_filter(m_config.filters[object]));
      if (plan.mode == "delta")
        step.filters.emplace_back("updatedOn after the last sync's newest update");
      step.calls = api ? "1 per 8,000 CVEs + 1 per 10,000 recommendations + 1 per recommendation"
                       : "1 per 8,000 CVEs + 1 per 10,000 recommendations";
    }
    plan.steps.push_back(std::move(step));
  }
  return plan;
}

util::Result<RunSummary> Engine::run() {
  auto plan_result = plan();
  if (!plan_result) return tl::unexpected(plan_result.error());
  const std::string mode = plan_result->mode;

  store::Store& store = *m_deps.store;
  defender::Client& client = *m_deps.client;
  Impl impl{m_config, store, client, *m_deps.clock, m_deps,
            {},       {},    false,  std::nullopt,  std::nullopt};

  RunSummary summary;
  summary.mode = mode;
  summary.started_at = impl.now();
  auto run = store.begin_run(mode, m_config.objects, summary.started_at);
  if (!run) return tl::unexpected(run.error());
  summary.run_id = *run;
  spdlog::info("sync run {} started: {} sync of {}", summary.run_id, mode,
               fmt::join(m_config.objects, ", "));

  std::optional<util::Error> fatal;
  for (const auto& object : k_order) {
    const bool write = impl.selected(object);
    // The export strategy reads the inventory for package versions even when installed
    // packages are not synced.
    const bool read_only_inventory = object == "installed_package" && !write &&
                                     impl.selected("package") && m_config.strategy == "export";
    if (!write && !read_only_inventory) continue;

    ObjectSummary s;
    s.object = object;
    s.mode = (object == "vulnerability" || object == "vulnerability_definition") ? mode : "full";
    if (fatal) {
      s.outcome = "not run";
      s.error_code = std::string(util::to_string(fatal->code));
      s.error = "skipped after an earlier error: " + fatal->message;
      summary.objects.push_back(std::move(s));
      continue;
    }
    if (impl.cancelled()) {
      s.outcome = "interrupted";
      summary.objects.push_back(std::move(s));
      continue;
    }
    const auto before = client.stats();
    const auto t0 = std::chrono::steady_clock::now();
    impl.object_started = t0;
    Status st;
    if (object == "machine") {
      st = impl.sync_hosts(s, *run);
    } else if (object == "installed_package") {
      st = impl.sync_installed(s, *run, write);
    } else if (object == "package") {
      st = impl.sync_packages(s, *run);
    } else if (object == "vulnerability") {
      if (mode == "delta") {
        auto cp = store.checkpoint(model::ObjectType::vulnerability);
        st = !cp ? Status(tl::unexpected(cp.error()))
                 : impl.sync_vulnerabilities_delta(s, *run, **cp);
      } else {
        st = impl.sync_vulnerabilities_full(s, *run);
      }
    } else {
      st = impl.sync_definitions(s, *run, mode);
    }
    const auto after = client.stats();
    s.seconds = seconds_between(t0, std::chrono::steady_clock::now());
    for (const auto& [endpoint, n] : after.calls_by_endpoint) {
      auto it = before.calls_by_endpoint.find(endpoint);
      const auto delta = n - (it == before.calls_by_endpoint.end() ? 0 : it->second);
      if (delta > 0) s.calls_by_endpoint[endpoint] = delta;
    }
    s.http_calls = after.api_calls - before.api_calls + after.downloads - before.downloads;
    s.retries = after.retries - before.retries;
    s.throttled = after.throttled - before.throttled;
    s.bytes_downloaded = (after.download_bytes_compressed - before.download_bytes_compressed) +
                         (after.api_bytes - before.api_bytes);
    s.download_seconds =
        std::chrono::duration<double>(after.download_time - before.download_time).count();
    s.decode_seconds =
        std::chrono::duration<double>(after.decode_time - before.decode_time).count();

    if (object == "installed_package" && !st && st.error().code != ErrorCode::cancelled) {
      impl.inventory_failure = st.error();
    }
    if (!write) {
      // Inventory read only for package versions: report failures on the package row.
      if (!st && st.error().code != ErrorCode::cancelled) {
        spdlog::warn("software inventory for package versions failed: {}", st.error().describe());
      }
      continue;
    }
    if (st) {
      s.outcome = "ok";
      spdlog::info("{}: {} read, {} written, {} unchanged, {} closed, {} skipped ({:.1f} s)",
                   object, s.read, s.written, s.unchanged, s.closed, s.skipped, s.seconds);
    } else if (st.error().code == ErrorCode::cancelled) {
      s.outcome = "interrupted";
      s.error = "interrupted; this object's changes were rolled back";
    } else {
      s.outcome = "failed";
      s.error_code = std::string(util::to_string(st.error().code));
      s.error = st.error().describe() +
                "; nothing of this object was written, the store keeps the last good state";
      spdlog::error("{}: {}", object, s.error);
      if (st.error().code == ErrorCode::auth || st.error().code == ErrorCode::store ||
          st.error().code == ErrorCode::store_locked) {
        fatal = st.error();
      }
    }
    summary.objects.push_back(std::move(s));
  }

  const auto stats = client.stats();
  summary.token_requests = stats.token_requests;
  summary.http_calls = stats.api_calls + stats.downloads + stats.token_requests;
  std::size_t ok = 0, failed = 0, interrupted = 0;
  for (const auto& o : summary.objects) {
    if (o.outcome == "ok") ++ok;
    if (o.outcome == "failed" || o.outcome == "not run") ++failed;
    if (o.outcome == "interrupted") ++interrupted;
  }
  if (interrupted > 0) {
    summary.outcome = "interrupted";
  } else if (failed == 0) {
    summary.outcome = "success";
  } else if (ok == 0) {
    summary.outcome = "failed";
  } else {
    summary.outcome = "partial";
  }
  if (fatal) summary.error = fatal->describe();
  summary.ended_at = impl.now();
  if (auto st = store.end_run(summary.run_id, summary.ended_at, summary.outcome, to_json(summary));
      !st) {
    spdlog::error("could not record the end of sync run {}: {}", summary.run_id,
                  st.error().describe());
  }
  return summary;
}

}  // namespace mdesync::sync
