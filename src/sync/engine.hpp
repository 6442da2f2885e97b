#pragma once

// The sync engine: runs the configured objects in a full or delta sync against the
// Defender client, maps records, writes them through the Store with the lifecycle
// rules of docs/model.md, and returns the run summary.

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "defender/client.hpp"
#include "store/store.hpp"
#include "sync/summary.hpp"
#include "util/cancel.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace mdesync::sync {

// Progress of the object in flight, reported after every batch (at most a few times a
// second is the caller's business).
struct Progress {
  std::string object;
  std::int64_t rows = 0;
  std::uint64_t bytes = 0;  // downloaded so far by the run
  double seconds = 0;       // since the object started
  // Every row is read: the sweep and the commit follow (a first load builds the
  // table's indexes then, seconds for a large tenant). Sent once per object.
  bool finishing = false;
};

struct EngineDeps {
  store::Store* store = nullptr;
  defender::Client* client = nullptr;
  util::Clock* clock = nullptr;  // default: the system clock
  std::function<void(const Progress&)> on_progress;
  // Cancelled (on SIGINT/SIGTERM) to stop: the object in flight rolls back, the objects
  // after it are not run, and the run ends as `interrupted`. Give the client the same
  // token (ClientDeps::cancel) so that its requests and waits end at once too.
  const util::CancelToken* cancel = nullptr;
};

// What a sync would do, without doing it (`--dry-run`).
struct PlanStep {
  std::string object;
  std::string mode;
  std::vector<std::string> endpoints;
  std::vector<std::string> filters;  // pushed down ($filter) and local
  std::string calls;                 // expected number of calls, e.g. "1 per 10,000 rows"
};
struct Plan {
  std::string mode;
  std::string strategy;
  std::string reason;  // why this mode (auto)
  std::vector<PlanStep> steps;
};
std::string to_text(const Plan& plan);

class Engine final {
 public:
  Engine(config::Config config, EngineDeps deps);

  // Decides full or delta (config.mode; auto: delta when a good sync less than 14 days
  // old exists). Errors: invalid_argument when delta is impossible (no earlier good
  // sync, or older than 14 days), store.
  util::Result<Plan> plan();

  // Runs the sync. The returned summary says per object what happened; the Result is
  // an error only when the run could not start (store, configuration, refused delta).
  util::Result<RunSummary> run();

 private:
  config::Config m_config;
  EngineDeps m_deps;
};

}  // namespace mdesync::sync
