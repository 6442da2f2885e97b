#pragma once

namespace mdesync::cli {

// Process exit statuses, documented in the README.
enum ExitCode : int {
  k_exit_ok = 0,
  k_exit_failure = 1,        // generic failure (invalid input to a tool command)
  k_exit_usage = 2,          // bad command line
  k_exit_config = 3,         // configuration error
  k_exit_auth = 4,           // authentication, permission or TLS certificate error
  k_exit_partial = 5,        // some objects failed, others were stored
  k_exit_store = 6,          // store error (including a locked store)
  k_exit_failed = 7,         // sync: every object failed, nothing was stored
  k_exit_interrupted = 130,  // SIGINT/SIGTERM: committed work kept, object in flight rolled back
};

}  // namespace mdesync::cli
