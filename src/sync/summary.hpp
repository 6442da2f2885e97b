#pragma once

// The run summary: what a sync read, wrote and skipped per object, what it cost in
// HTTP calls and time. Printed as a table or JSON and stored in sync_run.counts.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/common.hpp"
#include "util/time.hpp"

namespace mdesync::sync {

struct ObjectSummary {
  std::string object;               // connector object: machine, package, ...
  std::string mode;                 // full | delta
  std::string outcome = "not run";  // ok | failed | interrupted | not run
  std::string error;                // what went wrong, when failed
  std::string error_code;           // util::to_string(ErrorCode) of the failure
  // What became of the records read. For an object that ended ok every record read has
  // exactly one of these outcomes:
  //   read = written + unchanged + skipped + merged + stale + paired + reused_without_row
  // (`reused` and `closed` are not outcomes of their own: a reused line is counted in
  // `unchanged` or `reused_without_row`, a closed row is one the read no longer lists, or
  // a delta event also counted in `written`).
  std::int64_t read = 0;       // source records received
  std::int64_t written = 0;    // rows inserted or changed
  std::int64_t unchanged = 0;  // rows identical to the stored ones
  std::int64_t reused = 0;     // of `read`, not decoded: lines unchanged since the last read
  std::int64_t closed = 0;     // findings closed / rows marked Removed
  std::int64_t skipped = 0;    // records that became no row
  std::int64_t merged = 0;     // records merged into the row before them (same uid)
  std::int64_t stale = 0;      // delta events older than the finding's state
  std::int64_t paired = 0;     // delta Fixed events paired with a New at their time
  // Of `reused`, the lines beyond the stored rows they stand for: lines that made no row
  // (or were merged) when they were last decoded. The other reused lines are `unchanged`.
  std::int64_t reused_without_row = 0;
  std::map<std::string, std::int64_t> skipped_reasons;
  std::map<std::string, std::int64_t> diagnostics;  // "kind field" -> count
  std::vector<std::string> diagnostic_samples;      // the first few messages
  std::vector<std::string> warnings;                // recovered problems worth reporting
  // HTTP, from the client's counters over this object's work.
  std::map<std::string, std::uint64_t> calls_by_endpoint;
  std::uint64_t http_calls = 0;
  std::uint64_t retries = 0;
  std::uint64_t throttled = 0;
  std::uint64_t bytes_downloaded = 0;  // compressed export bytes + API JSON bytes
  // Where the time went.
  double seconds = 0;
  double download_seconds = 0;
  double decode_seconds = 0;
  double map_seconds = 0;
  double store_seconds = 0;
};

struct RunSummary {
  model::RunId run_id = 0;
  std::string mode;     // full | delta (as resolved from auto)
  std::string outcome;  // success | partial | failed | interrupted
  std::string error;
  util::Timestamp started_at{};
  util::Timestamp ended_at{};
  std::uint64_t token_requests = 0;
  std::uint64_t http_calls = 0;  // every API call, including the token requests
  // Every retry and every 429 of the run, the token requests' included (also those of
  // the token request made before the first object): the objects' own counts leave out
  // what happened outside their work.
  std::uint64_t retries = 0;
  std::uint64_t throttled = 0;
  std::vector<ObjectSummary> objects;

  [[nodiscard]] double seconds() const;
};

// The records read that became neither a row written or unchanged nor a skip: merged +
// stale + paired + reused_without_row (the table's "other" column).
[[nodiscard]] std::int64_t other_outcomes(const ObjectSummary& o);

// One JSON object (stable keys, documented in the README).
std::string to_json(const RunSummary& summary);
// A readable table for a terminal.
std::string to_table(const RunSummary& summary);

}  // namespace mdesync::sync
