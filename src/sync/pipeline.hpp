#pragma once

// The row path shared by every object: mapped rows are counted (diagnostics, skips,
// filters), mapped in batches on a worker thread (MapPipeline) and written to the store
// in batches (Batch), which times the store and reports progress.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "defender/client.hpp"
#include "mapping/filters.hpp"
#include "mapping/mapping.hpp"
#include "model/hash.hpp"
#include "sync/summary.hpp"
#include "sync/sync_context.hpp"
#include "util/log_context.hpp"
#include "util/result.hpp"

namespace mdesync::sync {

inline constexpr std::size_t k_batch_rows = 5000;
// Rows per mapping batch: small enough that the batches in flight (one being received,
// one being mapped, one being written) stay a few MB.
inline constexpr std::size_t k_map_batch_rows = 2000;

// Counts a record that became no row.
void skip(ObjectSummary& s, const std::string& reason);
// Counts a mapped row's diagnostics, and its skip.
void note(ObjectSummary& s, const std::vector<mapping::Diagnostic>& diagnostics, bool skipped,
          const std::string& skip_reason);
template <class Row>
void note(ObjectSummary& s, const mapping::Mapped<Row>& m) {
  note(s, m.diagnostics, m.skipped(), m.skip_reason);
}

// What one batch's mapping counted, merged into the object's summary on the writing
// thread.
void merge_tally(ObjectSummary& into, const ObjectSummary& from);

// Counts a mapped row's diagnostics and adds it to `batch`, unless the mapper skipped it
// or the object's operation options filter it out.
template <class Row, class Sink>
util::Status add_mapped(ObjectSummary& s, mapping::Mapped<Row>&& mapped,
                        const mapping::Filters& wanted, Sink& batch) {
  note(s, mapped);
  if (mapped.skipped()) return {};
  if (!mapping::matches(*mapped.row, wanted)) {
    skip(s, "filtered out");
    return {};
  }
  return batch.add(std::move(*mapped.row));
}

// One long-lived thread that runs tasks in submission order. The map pipeline used to
// start a thread per batch (std::async): about a thousand thread creations per full
// sync, with their stacks' page faults and allocator caches, on the critical path.
class TaskThread {
 public:
  TaskThread() : m_thread(util::with_log_context([this] { loop(); })) {}
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;
  // Runs what is queued, then stops.
  ~TaskThread() {
    {
      std::lock_guard lock(m_mutex);
      m_stop = true;
    }
    m_wake.notify_one();
    m_thread.join();
  }

  template <class F>
  auto run(F&& f) -> std::future<decltype(f())> {
    using R = decltype(f());
    auto task = std::make_shared<std::packaged_task<R()>>(std::forward<F>(f));
    auto future = task->get_future();
    {
      std::lock_guard lock(m_mutex);
      m_tasks.emplace_back([task] { (*task)(); });
    }
    m_wake.notify_one();
    return future;
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(m_mutex);
        m_wake.wait(lock, [&] { return m_stop || !m_tasks.empty(); });
        if (m_tasks.empty()) return;
        task = std::move(m_tasks.front());
        m_tasks.pop_front();
      }
      task();
    }
  }

  std::mutex m_mutex;
  std::condition_variable m_wake;
  std::deque<std::function<void()>> m_tasks;
  bool m_stop = false;
  std::thread m_thread;  // last: starts when the rest is ready
};

// The rows mapped from one batch of source records, with what the store needs of them.
template <class Row>
struct MappedBatch {
  std::vector<Row> rows;
  // Content hashes of `rows` when the map function computed them (off the calling
  // thread, so that the store does not on it).
  std::vector<model::RowHash> hashes;
  // store::narrow_keys of `rows` (findings, installed packages), likewise.
  std::vector<store::NarrowKeys> keys;
  ObjectSummary tally;

  // Empties the batch for reuse; its rows are freed by the thread that calls this.
  void clear() {
    rows.clear();
    hashes.clear();
    keys.clear();
    tally = {};
  }
};

// One T per thread that asks for it: state of a map function that runs on several
// threads at once (the links a findings read collects). Read with for_each once no
// thread uses it any more.
template <class T>
class PerThread {
 public:
  // This thread's T; one lock per call (call it once per batch, not per row).
  T& local() {
    std::lock_guard lock(m_mutex);
    return m_items[std::this_thread::get_id()];  // std::map: references stay valid
  }
  template <class F>
  void for_each(F&& f) {
    std::lock_guard lock(m_mutex);
    for (auto& [thread, item] : m_items) f(item);
  }

 private:
  std::mutex m_mutex;
  std::map<std::thread::id, T> m_items;
};

// Maps the batches of a file export on the download threads that decoded them, while
// they are still in those threads' caches, and consumes them on the calling thread
// (defender::BatchStage). The map function runs on several threads at once: it may
// touch only its batch, its output and per-thread state. A consumed batch goes back to
// the thread that mapped it, which empties it (and any other of its batches consumed
// meanwhile) at its next batch: the calling thread, the one that writes the store,
// never frees rows, each row's strings are freed by the thread that allocated them (the
// allocator's fast path), and no consumed rows are kept beyond that.
template <class Record, class Row>
class StagedMap {
 public:
  using Mapped = MappedBatch<Row>;
  using MapFn = std::function<void(std::vector<Record>& batch, Mapped& out)>;
  using ConsumeFn = std::function<util::Status(Mapped& mapped)>;

  StagedMap(MapFn map, ConsumeFn consume) : m_map(std::move(map)), m_consume(std::move(consume)) {}
  StagedMap(const StagedMap&) = delete;
  StagedMap& operator=(const StagedMap&) = delete;

  // For Client::stream_*_batches. Valid while this object lives.
  defender::BatchStage<Record> stage() {
    return [this](std::vector<Record>&& records) -> defender::BatchStep {
      std::shared_ptr<Owned> out = reclaim();
      out->mapped.rows.reserve(records.size());
      m_map(records, out->mapped);
      return [this, out]() -> util::Status {
        auto st = m_consume(out->mapped);
        give_back(out);
        return st;
      };
    };
  }

 private:
  struct Owned {
    std::thread::id owner;  // the thread that maps into it
    Mapped mapped;
  };

  // This thread's batches consumed since its last call, emptied here; one is kept for
  // the next batch, the others are freed.
  std::shared_ptr<Owned> reclaim() {
    const auto me = std::this_thread::get_id();
    std::vector<std::shared_ptr<Owned>> consumed;
    {
      std::lock_guard lock(m_mutex);
      consumed.swap(m_consumed[me]);
    }
    if (consumed.empty()) {
      auto out = std::make_shared<Owned>();
      out->owner = me;
      return out;
    }
    for (auto& c : consumed) c->mapped.clear();
    return consumed.front();
  }
  void give_back(const std::shared_ptr<Owned>& owned) {
    std::lock_guard lock(m_mutex);
    m_consumed[owned->owner].push_back(owned);
  }

  MapFn m_map;
  ConsumeFn m_consume;
  std::mutex m_mutex;
  // Per mapping thread: its batches consumed since its last batch.
  std::map<std::thread::id, std::vector<std::shared_ptr<Owned>>> m_consumed;
};

// Maps batches of source records on a worker thread while the calling thread keeps
// receiving records and writing the previous batch, so mapping and the store use both
// cores: for records that arrive on the calling thread (JSON pages). Batches are
// consumed in arrival order, on the calling thread; the map function touches only its
// batch.
template <class Record, class Row>
class MapPipeline {
 public:
  using Mapped = MappedBatch<Row>;
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
      m_pending = m_worker.run([this, batch = std::move(m_in)]() mutable {
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
  // Consumes a mapped batch on the calling thread, then hands it back to the worker to
  // be freed there: a batch's thousands of rows and strings took the calling thread
  // (the one that writes the store, the busiest) most of a second per sync to free.
  util::Status take(std::future<Mapped> future) {
    if (!future.valid()) return {};
    Mapped mapped = future.get();
    auto st = m_consume(mapped);
    m_worker.run([done = std::move(mapped)]() mutable { const Mapped freed = std::move(done); });
    return st;
  }

  MapFn m_map;
  ConsumeFn m_consume;
  std::vector<Record> m_in;
  std::future<Mapped> m_pending;
  TaskThread m_worker;
};

// Collects rows and upserts them in batches; times the store.
template <class Row>
class Batch {
 public:
  Batch(SyncContext& ctx, ObjectSummary& s, store::WriteContext write)
      : m_ctx(ctx), m_s(s), m_write(write), m_started(std::chrono::steady_clock::now()) {}
  util::Status add(Row&& row) {
    // Reserved at the first row: a batch that only writes mapped batches (write) never
    // holds rows, and 5,000 findings are 5 MB.
    if (m_rows.capacity() == 0) m_rows.reserve(k_batch_rows);
    m_rows.push_back(std::move(row));
    if (m_rows.size() >= k_batch_rows) return flush();
    return {};
  }
  // Rows with their content hashes (one each) and, for narrow rows, their narrow keys
  // (one each, or none), written as they are, after the rows collected before them.
  util::Status write(std::span<const Row> rows, std::span<const model::RowHash> hashes,
                     std::span<const store::NarrowKeys> keys = {}) {
    if (auto st = flush(); !st) return st;
    return upsert(rows, hashes, keys);
  }
  // A row with its content hash, computed by the caller; a batch takes either kind only.
  util::Status add(Row&& row, model::RowHash hash) {
    m_hashes.push_back(hash);
    return add(std::move(row));
  }
  // The context of the next upserts (a read's running counts: WriteContext::lines_skipped).
  store::WriteContext& context() noexcept { return m_write; }
  util::Status flush() {
    if (m_rows.empty()) return {};
    auto st = upsert(m_rows, m_hashes.size() == m_rows.size() ? std::span(m_hashes)
                                                              : std::span<model::RowHash>());
    m_rows.clear();
    m_hashes.clear();
    return st;
  }
  // Writes what is collected, then, when the store may hold rows back
  // (WriteContext::hold), merges them and counts them: once after the last row, before
  // the sweep.
  util::Status finish() {
    if (auto st = flush(); !st) return st;
    if (!m_write.hold) return {};
    const auto t0 = std::chrono::steady_clock::now();
    auto counts = m_ctx.store.flush_upserts();
    m_s.store_seconds += seconds_between(t0, std::chrono::steady_clock::now());
    if (!counts) return tl::unexpected(counts.error());
    m_s.written += counts->written;
    m_s.unchanged += counts->unchanged;
    return {};
  }

 private:
  util::Status upsert(std::span<const Row> rows, std::span<const model::RowHash> hashes,
                      std::span<const store::NarrowKeys> keys = {}) {
    if (rows.empty()) return {};
    const auto t0 = std::chrono::steady_clock::now();
    store::WriteContext write = m_write;
    write.hashes = hashes;
    write.keys = keys;
    auto counts = m_ctx.store.upsert(write, rows);
    m_s.store_seconds += seconds_between(t0, std::chrono::steady_clock::now());
    if (!counts) return tl::unexpected(counts.error());
    m_s.written += counts->written;
    m_s.unchanged += counts->unchanged;
    m_ctx.progress(m_s, m_started);
    return m_ctx.check_cancel();
  }

  SyncContext& m_ctx;
  ObjectSummary& m_s;
  store::WriteContext m_write;
  std::chrono::steady_clock::time_point m_started;
  std::vector<Row> m_rows;
  std::vector<model::RowHash> m_hashes;
};

}  // namespace mdesync::sync
