// package: the software listing, with version distributions per software (api strategy)
// or counted from this run's inventory read (export strategy).

#include <algorithm>

#include "mapping/filters.hpp"
#include "mapping/mapping.hpp"
#include "sync/fetch.hpp"
#include "sync/pipeline.hpp"
#include "sync/sync_context.hpp"

namespace mdesync::sync {
namespace {

using util::Status;
using Distributions = std::vector<std::vector<defender::Distribution>>;

// Each software's version distribution, one call per software.
Status fetch_distributions(SyncContext& ctx, const std::vector<defender::Software>& software,
                           Distributions& dists) {
  const auto ids = ids_of(software);
  auto fetched =
      fetch_each<defender::Distribution>(ctx, ids, [&](const std::string& id, const auto& sink) {
        return ctx.client.for_each_software_distribution(id, sink);
      });
  if (auto st = ctx.check_cancel(); !st) return st;
  if (auto st = first_failure(fetched, ids, "version distribution"); !st) return st;
  for (std::size_t i = 0; i < fetched.size(); ++i) {
    dists[i] = std::move(fetched[i].first);
    // Same order as the export strategy's aggregation: by version text.
    std::sort(dists[i].begin(), dists[i].end(),
              [](const auto& a, const auto& b) { return a.version < b.version; });
  }
  return {};
}

// Each software's versions as the inventory read counted them.
Status counted_distributions(SyncContext& ctx, const std::vector<defender::Software>& software,
                             Distributions& dists) {
  if (ctx.inventory_failure) {
    // Versions counted from a partial inventory would be wrong: keep the stored rows.
    util::Error e = *ctx.inventory_failure;
    e.message =
        "the software inventory read failed, so package versions cannot be "
        "counted (" +
        e.message + ")";
    return tl::unexpected(e);
  }
  if (!ctx.versions) return {};
  for (std::size_t i = 0; i < software.size(); ++i) {
    auto it = ctx.versions->find(software[i].id);
    if (it == ctx.versions->end()) continue;
    for (const auto& [version, count] : it->second) {
      dists[i].push_back(
          defender::Distribution{version, count.installations, count.vulnerabilities});
    }
  }
  return {};
}

}  // namespace

Status sync_packages(SyncContext& ctx, ObjectSummary& s) {
  const util::Timestamp snapshot = ctx.now();
  auto software = ctx.list_software("package");
  if (!software) return tl::unexpected(software.error());
  Distributions dists(software->size());
  auto got = ctx.config.strategy == "api" ? fetch_distributions(ctx, *software, dists)
                                          : counted_distributions(ctx, *software, dists);
  if (!got) return got;
  auto tx = ctx.store.begin();
  if (!tx) return tl::unexpected(tx.error());
  Batch<model::Package> batch(ctx, s, ctx.write_context(true, true));
  const auto& wanted = ctx.filters("package");
  for (std::size_t i = 0; i < software->size(); ++i) {
    ++s.read;
    auto st = add_mapped(s, mapping::map_package((*software)[i], dists[i]), wanted, batch);
    if (!st) return st;
  }
  if (auto st = batch.flush(); !st) return st;
  return ctx.finish_full(s, model::ObjectType::package, snapshot, *tx);
}

}  // namespace mdesync::sync
