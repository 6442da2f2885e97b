#pragma once

// Structured fields for log messages (README "Operating mdesync", docs/adr/0084). The
// text format ignores them (its messages already say what they mean); the JSON format
// (`--log-format json`) writes them beside the message: the context fields (`tenant`,
// `run_id`, `object`) on every message, the figures only on the message logged while
// a LogFigures object lives on the same thread. Nothing here ever holds a secret.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace mdesync::util {

using LogValue = std::variant<std::string, std::int64_t, double>;
using LogField = std::pair<std::string, LogValue>;

// Sets a context field that every later message of the process carries, or replaces
// it. A run holds one tenant today; a run of several tenants will set the tenant per
// thread (ADR 0084).
void set_log_context(const std::string& key, LogValue value);
void clear_log_context(std::string_view key);
// The context fields, in the order they were first set.
std::vector<LogField> log_context();

// A context field for as long as the object lives (the object a sync works on, say).
class ScopedLogContext {
 public:
  ScopedLogContext(std::string key, LogValue value) : m_key(std::move(key)) {
    set_log_context(m_key, std::move(value));
  }
  ~ScopedLogContext() { clear_log_context(m_key); }
  ScopedLogContext(const ScopedLogContext&) = delete;
  ScopedLogContext& operator=(const ScopedLogContext&) = delete;

 private:
  std::string m_key;
};

// Figures for the messages this thread logs while the object lives, e.g.
//   util::LogFigures figures({{"read", s.read}, {"written", s.written}});
//   spdlog::info("{}: {} read, {} written", ...);
class LogFigures {
 public:
  explicit LogFigures(std::vector<LogField> figures);
  ~LogFigures();
  LogFigures(const LogFigures&) = delete;
  LogFigures& operator=(const LogFigures&) = delete;

 private:
  std::vector<LogField> m_previous;
};
// This thread's figures (empty outside a LogFigures).
const std::vector<LogField>& log_figures();

}  // namespace mdesync::util
