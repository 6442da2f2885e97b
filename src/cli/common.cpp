#include "cli/common.hpp"

#include <unistd.h>

#include <cstdio>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace mdesync::cli {

bool stderr_is_terminal() {
  return isatty(STDERR_FILENO) == 1;
}

void setup_logging(bool verbose, bool quiet, LogFormat format) {
  set_json_logs(format == LogFormat::json);
  std::shared_ptr<spdlog::logger> logger;
  if (format == LogFormat::json) {
    logger = spdlog::stderr_logger_mt("mdesync");
    logger->set_formatter(make_json_formatter());
  } else if (stderr_is_terminal()) {
    // Each message first erases the line it starts on: a progress line of `sync` that
    // is still there would otherwise run into it.
    logger = spdlog::stderr_color_mt("mdesync");
    logger->set_formatter(make_text_formatter("\r\033[K%^%l%$: %*%v"));
  } else {
    logger = spdlog::stderr_color_mt("mdesync");
    logger->set_formatter(
        make_text_formatter("%Y-%m-%dT%H:%M:%S.%eZ %l %*%v", spdlog::pattern_time_type::utc));
  }
  logger->set_level(verbose ? spdlog::level::debug
                    : quiet ? spdlog::level::warn
                            : spdlog::level::info);
  spdlog::set_default_logger(logger);
}

int exit_code_for(util::ErrorCode code) {
  using util::ErrorCode;
  switch (code) {
    case ErrorCode::config:
    case ErrorCode::invalid_argument:
      return k_exit_config;
    case ErrorCode::auth:
    case ErrorCode::permission:
    case ErrorCode::tls_certificate:  // the host cannot be trusted: as final as a wrong secret
      return k_exit_auth;
    case ErrorCode::store:
    case ErrorCode::store_locked:
      return k_exit_store;
    case ErrorCode::cancelled:
      return k_exit_interrupted;
    default:
      return k_exit_partial;
  }
}

int report(const util::Error& error, const std::string& what) {
  tell(spdlog::level::err, what + ": " + error.describe());
  return exit_code_for(error.code);
}

void add_tenant_flag(CLI::App& app, config::Overrides& overrides) {
  app.add_option_function<std::string>(
      "--tenant-id", [&overrides](const std::string& v) { overrides.values["tenant_id"] = v; },
      "Tenant whose store to read: a PostgreSQL store keeps it in the schema "
      "mdesync_<tenant id> (env AZURE_TENANT_ID)");
}

}  // namespace mdesync::cli
