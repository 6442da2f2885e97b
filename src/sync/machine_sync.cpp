// machine -> Host: the machine listing, read in full every run; machines no longer
// listed are swept (Removed).

#include "mapping/filters.hpp"
#include "mapping/mapping.hpp"
#include "sync/pipeline.hpp"
#include "sync/sync_context.hpp"

namespace mdesync::sync {

using util::ErrorCode;
using util::Status;

Status sync_machines(SyncContext& ctx, ObjectSummary& s) {
  auto tx = ctx.store.begin();
  if (!tx) return tl::unexpected(tx.error());
  Batch<model::Host> batch(ctx, s, ctx.write_context(true, true));
  const util::Timestamp snapshot = ctx.now();
  defender::ODataQuery q;
  q.filter = mapping::machine_odata_filter(ctx.filters("machine"));
  auto listed = ctx.client.for_each_machine(q, [&](defender::Machine&& m) -> Status {
    if (auto st = ctx.check_cancel(); !st) return st;
    ++s.read;
    auto mapped = mapping::map_host(m);
    note(s, mapped);
    if (mapped.skipped()) return {};
    return batch.add(std::move(*mapped.row));
  });
  // The service answers 404 when there are no machines at all (docs/api.md, "Errors").
  if (!listed && !(listed.error().code == ErrorCode::not_found && s.read == 0)) {
    return tl::unexpected(listed.error());
  }
  if (auto st = batch.flush(); !st) return st;
  return ctx.finish_full(s, model::ObjectType::host, snapshot, *tx);
}

}  // namespace mdesync::sync
