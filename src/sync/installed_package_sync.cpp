// installed_package: the software inventory export (export strategy), whose unchanged
// devices are not decoded again (ADR 0060), or the machine references of every software
// (api strategy). The export read also counts package versions for the package object.

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "mapping/filters.hpp"
#include "mapping/mapping.hpp"
#include "sync/fetch.hpp"
#include "sync/inventory_digests.hpp"
#include "sync/pipeline.hpp"
#include "sync/sync_context.hpp"

namespace mdesync::sync {
namespace {

using util::ErrorCode;
using util::fail;
using util::Status;

// What shapes the rows made from inventory lines besides the lines (ADR 0060).
std::uint64_t inventory_seed(const SyncContext& ctx) {
  return ctx.digest_seed(
      fmt::format("inventory-digest/1 rules={} non_cpe={}", mapping::k_installed_package_rules,
                  ctx.config.include_non_cpe),
      "installed_package");
}

store::WriteContext held(store::WriteContext write) {
  write.hold = true;
  return write;
}

// One read of the inventory export. With `write` false it only counts package versions.
// Sets `conflict` to why (and commits nothing) when skipped blocks turn out unsafe.
class InventoryRead {
 public:
  using Staged = StagedMap<defender::InventoryRow, model::InstalledPackage>;

  InventoryRead(SyncContext& ctx, ObjectSummary& s, bool write, bool allow_skip)
      : m_ctx(ctx),
        m_s(s),
        m_write(write),
        m_aggregate(ctx.selected("package")),
        // Skipping needs the stored rows to describe every row of a device: not with the
        // non-CPE inventory, whose rows share the devices but not the digests.
        m_digests_kept(write && !ctx.config.include_non_cpe),
        m_gate(inventory_seed(ctx), allow_skip && (m_digests_kept || !write), m_aggregate),
        // Skipped blocks never reach the store: then it sees only the changed devices' rows.
        // The store may merge the rows of several batches at once (ADR 0106): a batch is a
        // few devices, and a later full sync decodes thousands.
        m_batch(ctx, s, held(ctx.write_context(true, !allow_skip))),
        m_cpe(map_rows(false), [this](Staged::Mapped& m) { return consume(m); }),
        m_non_cpe(map_rows(true), [this](Staged::Mapped& m) { return consume(m); }) {}

  Status run(std::string& conflict) {
    std::optional<store::Transaction> tx;
    if (m_write) {
      auto t = m_ctx.store.begin();
      if (!t) return tl::unexpected(t.error());
      tx.emplace(std::move(*t));
    }
    if (m_aggregate) m_ctx.versions.emplace();
    if (auto st = load_digests(); !st) return st;
    auto files = m_ctx.client.inventory_export_files(false);
    if (!files) return tl::unexpected(files.error());
    const util::Timestamp snapshot = files->generated_time;
    // Only counting versions: the gate sees the decoded blocks; the rows are dropped.
    const defender::BatchStage<defender::InventoryRow> count_only =
        [this](std::vector<defender::InventoryRow>&& rows) -> defender::BatchStep {
      return [this, n = rows.size()]() -> Status {
        m_s.read += static_cast<std::int64_t>(n);
        return m_ctx.check_cancel();
      };
    };
    auto streamed = m_ctx.client.stream_inventory_batches(
        *files, [&] { return m_ctx.client.inventory_export_files(false); },
        m_write ? m_cpe.stage() : count_only, &m_gate);
    if (!streamed) return tl::unexpected(streamed.error());
    m_gate.release_counted();
    if (auto st = absorb(); !st) return st;
    if (m_gate.conflict()) {
      conflict = lines_split("inventory");
      return {};
    }
    if (auto st = reuse_skipped(); !st) return st;
    if (m_write && m_ctx.config.include_non_cpe) {
      auto more_files = m_ctx.client.inventory_export_files(true);
      if (!more_files) return tl::unexpected(more_files.error());
      auto more = m_ctx.client.stream_inventory_batches(
          *more_files, [&] { return m_ctx.client.inventory_export_files(true); },
          m_non_cpe.stage());
      if (!more) return tl::unexpected(more.error());
    }
    if (!m_write) return {};
    if (auto st = m_batch.finish(); !st) return st;
    if (auto st = erase_digests_not_kept(); !st) return st;
    return m_ctx.finish_full(m_s, model::ObjectType::installed_package, snapshot, *tx);
  }

 private:
  // The stored digests, read even when skipping is off: the stale ones are erased at
  // the end.
  Status load_digests() {
    if (m_write && !m_digests_kept) return m_ctx.store.clear_inventory_digests();
    return m_ctx.store.scan_inventory_digests(
        [&](std::string_view device, std::string_view bytes, bool has_versions) {
          if (auto d = digest_from_bytes(bytes)) m_gate.add_stored(device, {*d, has_versions, {}});
        });
  }

  // Decoded blocks' contributions and digests, on this thread.
  Status absorb() {
    std::vector<store::InventoryDigest> rows;
    for (auto& d : m_gate.take_decoded()) {
      if (m_aggregate && !add_versions(d.versions, *m_ctx.versions)) {
        return fail(ErrorCode::internal, "inventory version counts could not be read back");
      }
      if (!m_digests_kept || !d.whole) continue;
      m_put_devices.push_back(d.device_id);
      rows.push_back({std::move(d.device_id), digest_bytes(d.digest), std::nullopt});
      if (m_aggregate) rows.back().versions = std::move(d.versions);
    }
    if (rows.empty()) return {};
    const auto t0 = std::chrono::steady_clock::now();
    auto st = m_ctx.store.put_inventory_digests(rows);
    m_s.store_seconds += seconds_between(t0, std::chrono::steady_clock::now());
    return st;
  }

  // Mapping, the merge of adjacent rows of one uid (several versions of one software on
  // one machine), the content hashes and the narrow keys, on the download threads. A
  // batch holds a device's consecutive rows whole (BatchStage): no row continues in
  // another batch.
  Staged::MapFn map_rows(bool non_cpe) {
    return [this, non_cpe](std::vector<defender::InventoryRow>& rows, Staged::Mapped& out) {
      const auto t0 = std::chrono::steady_clock::now();
      const auto& wanted = m_ctx.filters("installed_package");
      out.tally.read += static_cast<std::int64_t>(rows.size());
      for (auto& row : rows) {
        auto mapped =
            mapping::map_installed_package(std::move(row), {non_cpe, m_ctx.config.include_non_cpe});
        note(out.tally, mapped);
        if (mapped.skipped()) continue;
        if (!mapping::matches(*mapped.row, wanted)) {
          skip(out.tally, "filtered out");
          continue;
        }
        if (!out.rows.empty() && out.rows.back().uid == mapped.row->uid) {
          mapping::merge_into(out.rows.back(), *mapped.row);
          ++out.tally.merged;
          continue;
        }
        out.rows.push_back(std::move(*mapped.row));
      }
      out.hashes.reserve(out.rows.size());
      out.keys.reserve(out.rows.size());
      for (const auto& r : out.rows) {
        out.hashes.push_back(model::content_hash(r));
        out.keys.push_back(store::narrow_keys(r));
      }
      out.tally.map_seconds += seconds_between(t0, std::chrono::steady_clock::now());
    };
  }

  // A mapped batch, written as it is: its rows are freed on a download thread.
  Status consume(Staged::Mapped& mapped) {
    merge_tally(m_s, mapped.tally);
    if (auto st = absorb(); !st) return st;
    m_batch.context().lines_skipped = static_cast<std::int64_t>(m_gate.skipped_lines());
    if (auto st = m_batch.write(mapped.rows, mapped.hashes, mapped.keys); !st) return st;
    return m_ctx.check_cancel();
  }

  // Unchanged devices: their stored rows stay, seen by this run; their stored version
  // counts stand in for their lines.
  Status reuse_skipped() {
    for (const auto& [device, lines] : m_gate.skipped()) {
      m_s.read += static_cast<std::int64_t>(lines);
      m_s.reused += static_cast<std::int64_t>(lines);
      const auto t0 = std::chrono::steady_clock::now();
      if (m_write) {
        auto seen = m_ctx.store.mark_installed_seen(m_ctx.write_context(true), device);
        if (!seen) return tl::unexpected(seen.error());
        m_s.unchanged += *seen;
        // The device's lines beyond its stored rows: merged, skipped or filtered out when
        // they were decoded.
        m_s.reused_without_row +=
            std::max<std::int64_t>(0, static_cast<std::int64_t>(lines) - *seen);
      }
      if (m_aggregate) {
        auto stored = m_ctx.store.inventory_versions(device);
        if (!stored) return tl::unexpected(stored.error());
        if (!*stored || !add_versions(**stored, *m_ctx.versions)) {
          return fail(ErrorCode::store,
                      fmt::format("inventory_digest: the version counts of device {} are "
                                  "missing or unreadable; delete the table's rows to rebuild",
                                  device));
        }
      }
      m_s.store_seconds += seconds_between(t0, std::chrono::steady_clock::now());
    }
    return {};
  }

  // Only a device met in one whole block keeps a digest: the next read can skip it.
  Status erase_digests_not_kept() {
    if (!m_digests_kept) return {};
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& device : m_put_devices) {
      if (m_gate.keep(device)) continue;
      if (auto st = m_ctx.store.erase_inventory_digest(device); !st) return st;
    }
    for (const auto& device : m_gate.stale_stored()) {
      if (auto st = m_ctx.store.erase_inventory_digest(device); !st) return st;
    }
    m_s.store_seconds += seconds_between(t0, std::chrono::steady_clock::now());
    return {};
  }

  SyncContext& m_ctx;
  ObjectSummary& m_s;
  const bool m_write;
  const bool m_aggregate;
  const bool m_digests_kept;
  InventoryDigests m_gate;
  Batch<model::InstalledPackage> m_batch;
  std::vector<std::string> m_put_devices;
  Staged m_cpe;
  Staged m_non_cpe;
};

Status sync_installed_api(SyncContext& ctx, ObjectSummary& s) {
  auto software = ctx.list_software("installed_package");
  if (!software) return tl::unexpected(software.error());
  const util::Timestamp snapshot = ctx.now();
  const auto ids = ids_of(*software);
  auto tx = ctx.store.begin();
  if (!tx) return tl::unexpected(tx.error());
  // These rows are not made from inventory lines: no digest describes them any more.
  if (auto st = ctx.store.clear_inventory_digests(); !st) return st;
  Batch<model::InstalledPackage> batch(ctx, s, ctx.write_context(true, true));
  const auto& wanted = ctx.filters("installed_package");
  // Each software's machine references are written as its call completes: a million
  // references are never all in memory. A failed call rolls the object back.
  auto streamed = fetch_each_streamed<defender::MachineReference>(
      ctx, ids,
      [&](const std::string& id, const auto& sink) {
        return ctx.client.for_each_software_machine_reference(id, sink);
      },
      [&](std::size_t i, const std::vector<defender::MachineReference>& refs) -> Status {
        for (const auto& ref : refs) {
          ++s.read;
          auto st =
              add_mapped(s, mapping::map_installed_package(ref, (*software)[i]), wanted, batch);
          if (!st) return st;
        }
        return ctx.check_cancel();
      },
      "machine references");
  if (!streamed) return streamed;
  if (auto st = ctx.check_cancel(); !st) return st;
  if (auto st = batch.flush(); !st) return st;
  return ctx.finish_full(s, model::ObjectType::installed_package, snapshot, *tx);
}

}  // namespace

Status sync_installed_packages(SyncContext& ctx, ObjectSummary& s, bool write) {
  if (ctx.config.strategy == "api") return sync_installed_api(ctx, s);
  return read_skipping_unchanged(ctx, s, [&](bool allow_skip, std::string& conflict) {
    return InventoryRead(ctx, s, write, allow_skip).run(conflict);
  });
}

}  // namespace mdesync::sync
