#pragma once

// The row path shared by every object: mapped rows are counted (diagnostics, skips,
// filters), mapped in batches on a worker thread (MapPipeline) and written to the store
// in batches (Batch), which times the store and reports progress.

#include <chrono>
#include <functional>
#include <future>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "mapping/filters.hpp"
#include "mapping/mapping.hpp"
#include "model/hash.hpp"
#include "sync/summary.hpp"
#include "sync/sync_context.hpp"
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

// Collects rows and upserts them in batches; times the store.
template <class Row>
class Batch {
 public:
  Batch(SyncContext& ctx, ObjectSummary& s, store::WriteContext write)
      : m_ctx(ctx), m_s(s), m_write(write), m_started(std::chrono::steady_clock::now()) {
    m_rows.reserve(k_batch_rows);
  }
  util::Status add(Row&& row) {
    m_rows.push_back(std::move(row));
    if (m_rows.size() >= k_batch_rows) return flush();
    return {};
  }
  // A row with its content hash, computed by the caller; a batch takes either kind only.
  util::Status add(Row&& row, model::RowHash hash) {
    m_hashes.push_back(hash);
    return add(std::move(row));
  }
  util::Status flush() {
    if (m_rows.empty()) return {};
    const auto t0 = std::chrono::steady_clock::now();
    store::WriteContext write = m_write;
    if (m_hashes.size() == m_rows.size()) write.hashes = m_hashes;
    auto counts = m_ctx.store.upsert(write, std::span<const Row>(m_rows));
    m_s.store_seconds += seconds_between(t0, std::chrono::steady_clock::now());
    m_rows.clear();
    m_hashes.clear();
    if (!counts) return tl::unexpected(counts.error());
    m_s.written += counts->written;
    m_s.unchanged += counts->unchanged;
    m_ctx.progress(m_s, m_started);
    return m_ctx.check_cancel();
  }

 private:
  SyncContext& m_ctx;
  ObjectSummary& m_s;
  store::WriteContext m_write;
  std::chrono::steady_clock::time_point m_started;
  std::vector<Row> m_rows;
  std::vector<model::RowHash> m_hashes;
};

}  // namespace mdesync::sync
