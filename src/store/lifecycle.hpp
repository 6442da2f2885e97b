#pragma once

// The finding lifecycle of docs/model.md ("Lifecycle"), as pure rules over a stored
// finding's status and an incoming row: a full snapshot's row merged with what is
// stored, delta events ordered, paired and applied. No SQL here: the store looks rows
// up and writes what these rules return.

#include <optional>
#include <span>
#include <vector>

#include "model/vulnerability.hpp"
#include "store/store.hpp"

namespace mdesync::store {

// Lifecycle fields of a stored finding.
struct Lifecycle {
  model::VulnerabilityStatus status = model::VulnerabilityStatus::active;
  model::OptTime last_fixed;
  model::OptTime state_time;
};

// A full snapshot's row against the stored lifecycle: the row to write, which is `in`
// itself when the lifecycle does not change, else `scratch` filled from it (Reopened
// when a closed finding is seen again; status and stateTime kept when the stored state
// is newer than the snapshot).
const model::Vulnerability* merge_full_row(const model::Vulnerability& in, const Lifecycle& stored,
                                           model::Vulnerability& scratch);

// Delta events in the order they are applied: by eventTimestamp, then uid; among equal
// (time, uid) an open event before a Fixed one.
std::vector<const model::Vulnerability*> event_order(std::span<const model::Vulnerability> events);

// Whether order[i], a Fixed event, has a New/Updated event for the same uid at the same
// time (a device moved between groups): such a Fixed is ignored.
bool paired_fixed(std::span<const model::Vulnerability* const> order, std::size_t i);

// What applying one event does. `stored`: the finding as stored, nullopt when new;
// `baseline`: the last complete full snapshot time. On `write`, `row` holds the finding
// to store (with its status, lastFixed and stateTime decided); `counts` is updated.
enum class EventEffect { write, stale, paired };
EventEffect apply_event(const model::Vulnerability& event, const std::optional<Lifecycle>& stored,
                        std::optional<util::Timestamp> baseline, model::Vulnerability& row,
                        DeltaCounts& counts);

}  // namespace mdesync::store
