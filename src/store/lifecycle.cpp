#include "store/lifecycle.hpp"

#include <algorithm>
#include <tuple>

namespace mdesync::store {

using model::category_of;
using model::StatusCategory;
using model::Vulnerability;
using model::VulnerabilityStatus;

const Vulnerability* merge_full_row(const Vulnerability& in, const Lifecycle& stored,
                                    Vulnerability& scratch) {
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
  scratch = in;
  if (stored_newer || in_cat == stored_cat) {
    // Status unchanged (or the snapshot is older than what we know): keep it.
    scratch.status = stored.status;
    scratch.status_category = stored_cat;
    scratch.state_time = stored.state_time ? stored.state_time : in.state_time;
    if (!scratch.last_fixed) scratch.last_fixed = stored.last_fixed;
  } else if (in_cat == StatusCategory::open) {
    scratch.status = VulnerabilityStatus::reopened;
    scratch.status_category = StatusCategory::open;
    if (!scratch.last_fixed) scratch.last_fixed = stored.last_fixed;
  } else {
    scratch.status = VulnerabilityStatus::fixed;
    scratch.status_category = StatusCategory::closed;
    if (!scratch.last_fixed) scratch.last_fixed = in.state_time;
  }
  return &scratch;
}

std::vector<const Vulnerability*> event_order(std::span<const Vulnerability> events) {
  std::vector<const Vulnerability*> order;
  order.reserve(events.size());
  for (const auto& e : events) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return std::tie(a->state_time, a->uid) < std::tie(b->state_time, b->uid);
  });
  return order;
}

bool paired_fixed(std::span<const Vulnerability* const> order, std::size_t i) {
  const Vulnerability& ev = *order[i];
  for (std::size_t j = i + 1; j < order.size(); ++j) {
    if (order[j]->state_time != ev.state_time || order[j]->uid != ev.uid) break;
    if (category_of(order[j]->status) == StatusCategory::open) return true;
  }
  for (std::size_t j = i; j-- > 0;) {
    if (order[j]->state_time != ev.state_time || order[j]->uid != ev.uid) break;
    if (category_of(order[j]->status) == StatusCategory::open) return true;
  }
  return false;
}

EventEffect apply_event(const Vulnerability& ev, const std::optional<Lifecycle>& found,
                        std::optional<util::Timestamp> baseline, Vulnerability& row,
                        DeltaCounts& counts) {
  const bool ev_open = category_of(ev.status) == StatusCategory::open;
  row = ev;
  if (!found) {
    row.status = ev_open ? VulnerabilityStatus::active : VulnerabilityStatus::fixed;
    if (!ev_open) {
      row.last_fixed = ev.state_time;
      ++counts.created_closed;
    } else {
      ++counts.opened;
    }
    row.status_category = category_of(row.status);
    return EventEffect::write;
  }
  const Lifecycle& stored = *found;
  model::OptTime effective = stored.state_time;
  if (baseline && (!effective || *effective < *baseline)) effective = baseline;
  if (effective && ev.state_time && *ev.state_time < *effective) {
    ++counts.stale;
    return EventEffect::stale;
  }
  const bool stored_open = category_of(stored.status) == StatusCategory::open;
  const bool same_time = stored.state_time && ev.state_time && *stored.state_time == *ev.state_time;
  if (ev_open && stored_open) {
    row.status = stored.status;
    row.last_fixed = stored.last_fixed;
  } else if (ev_open && !stored_open) {
    // New after Fixed is a reopen, except the second half of a Fixed+New pair split
    // across calls (same timestamp): that finding never left.
    row.status = same_time ? VulnerabilityStatus::active : VulnerabilityStatus::reopened;
    row.last_fixed = stored.last_fixed;
    if (!same_time) ++counts.reopened;
  } else if (!ev_open && stored_open) {
    if (same_time) {
      ++counts.paired;  // the New half already applied at this timestamp
      return EventEffect::paired;
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
  row.status_category = category_of(row.status);
  return EventEffect::write;
}

}  // namespace mdesync::store
