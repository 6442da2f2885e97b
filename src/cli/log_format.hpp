#pragma once

// The log formats of `--log-format` (README "Operating mdesync", docs/adr/0084): text
// (the default; short and coloured on a terminal, timestamped lines elsewhere) or json
// (one JSON object per line on stderr, for log shippers).

#include <memory>
#include <string>

#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

namespace mdesync::cli {

enum class LogFormat { text, json };

// One JSON object per message: time (UTC, RFC 3339 with milliseconds), level, message,
// the context fields (tenant, run_id, object) and the message's figures
// (util/log_context.hpp). Bytes that are not UTF-8 become U+FFFD: every line parses.
std::unique_ptr<spdlog::formatter> make_json_formatter();

// Whether setup_logging chose the JSON format.
bool json_logs();
void set_json_logs(bool on);

// The text format with `pattern`, in which the flag %* stands for "<tenant>: " when
// set_text_log_tenant(true) and the message's thread syncs a tenant (its `tenant`
// context field), else for nothing: the lines of a run of several tenants say whose
// they are.
std::unique_ptr<spdlog::formatter> make_text_formatter(
    const std::string& pattern, spdlog::pattern_time_type time = spdlog::pattern_time_type::local);
void set_text_log_tenant(bool on);

// A message for the user on stderr: "mdesync: <text>" in the text format, a log record
// of `level` in the JSON format (so that every line of stderr stays JSON).
void tell(spdlog::level::level_enum level, const std::string& text);

}  // namespace mdesync::cli
