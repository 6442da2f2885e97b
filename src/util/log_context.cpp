#include "util/log_context.hpp"

#include <algorithm>
#include <mutex>

namespace mdesync::util {
namespace {

std::mutex g_mutex;
std::vector<LogField>& context() {
  static std::vector<LogField> fields;
  return fields;
}
thread_local std::vector<LogField> t_figures;

}  // namespace

void set_log_context(const std::string& key, LogValue value) {
  const std::lock_guard lock(g_mutex);
  auto& fields = context();
  auto it =
      std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return f.first == key; });
  if (it != fields.end()) {
    it->second = std::move(value);
  } else {
    fields.emplace_back(key, std::move(value));
  }
}

void clear_log_context(std::string_view key) {
  const std::lock_guard lock(g_mutex);
  std::erase_if(context(), [&](const auto& f) { return f.first == key; });
}

std::vector<LogField> log_context() {
  const std::lock_guard lock(g_mutex);
  return context();
}

LogFigures::LogFigures(std::vector<LogField> figures) : m_previous(std::move(t_figures)) {
  t_figures = std::move(figures);
}

LogFigures::~LogFigures() {
  t_figures = std::move(m_previous);
}

const std::vector<LogField>& log_figures() {
  return t_figures;
}

}  // namespace mdesync::util
