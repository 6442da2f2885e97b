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

// Sets a context field that every later message of this thread carries, or replaces it.
// The context is per thread: a run of several tenants syncs each on its own thread, with
// its own `tenant` and `run_id` (docs/adr/0090); a thread that a sync starts takes its
// starter's fields (with_log_context).
void set_log_context(const std::string& key, LogValue value);
void clear_log_context(std::string_view key);
// This thread's context fields, in the order they were first set.
std::vector<LogField> log_context();

// This thread's context is `fields` while the object lives (a thread started by a sync
// takes its starter's fields); the previous context comes back after.
class AdoptedLogContext {
 public:
  explicit AdoptedLogContext(std::vector<LogField> fields);
  ~AdoptedLogContext();
  AdoptedLogContext(const AdoptedLogContext&) = delete;
  AdoptedLogContext& operator=(const AdoptedLogContext&) = delete;

 private:
  std::vector<LogField> m_previous;
};

// `fn` wrapped to run with the calling thread's context fields: for std::thread bodies.
template <class F>
auto with_log_context(F fn) {
  return [fields = log_context(), fn = std::move(fn)]() mutable {
    const AdoptedLogContext adopted(fields);
    return fn();
  };
}

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
