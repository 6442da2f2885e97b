#pragma once

// Helpers shared by the subcommands: logging set-up, configuration loading with
// user-facing errors, and the mapping from error codes to exit statuses.

#include <CLI/CLI.hpp>

#include <string>

#include "cli/exit_codes.hpp"
#include "cli/log_format.hpp"
#include "config/load.hpp"
#include "util/error.hpp"
#include "util/result.hpp"

namespace mdesync::cli {

// Logs go to stderr: short and coloured on a terminal, timestamped lines otherwise, or
// one JSON object per line with LogFormat::json (cli/log_format.hpp).
void setup_logging(bool verbose, bool quiet, LogFormat format = LogFormat::text);

// The exit status for an error that ends a command (README "Exit codes").
int exit_code_for(util::ErrorCode code);

// Prints "mdesync: <what>: <message>" on stderr and returns exit_code_for(code).
int report(const util::Error& error, const std::string& what);

bool stderr_is_terminal();

// --tenant-id for the commands that only read the store (status, export): it names the
// PostgreSQL schema (mdesync_<tenant id>) without a configuration file.
void add_tenant_flag(CLI::App& app, config::Overrides& overrides);

}  // namespace mdesync::cli
