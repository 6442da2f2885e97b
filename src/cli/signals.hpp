#pragma once

// SIGINT and SIGTERM during `mdesync sync`: the first cancels the run's token (every
// wait and transfer ends, the object in flight rolls back, the run is recorded as
// interrupted, exit 130); a second one ends the process at once with 130.

#include <thread>

#include "util/cancel.hpp"

namespace mdesync::cli {

// Installs the handlers, which stay until the process ends. The handler itself only
// writes to a pipe, or calls _exit(130) on the second signal: a watcher thread, which
// runs while this object lives, reads the pipe and cancels `token`. Once per process.
class StopOnSignals final {
 public:
  explicit StopOnSignals(util::CancelToken& token);
  ~StopOnSignals();
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;

 private:
  util::CancelToken& m_token;
  std::thread m_watcher;
  bool m_installed = false;
};

}  // namespace mdesync::cli
