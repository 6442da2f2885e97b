#include "util/log_context.hpp"

#include <algorithm>

namespace mdesync::util {
namespace {

thread_local std::vector<LogField> t_context;
std::vector<LogField>& context() {
  return t_context;
}
thread_local std::vector<LogField> t_figures;

}  // namespace

void set_log_context(const std::string& key, LogValue value) {
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
  std::erase_if(context(), [&](const auto& f) { return f.first == key; });
}

std::vector<LogField> log_context() {
  return context();
}

AdoptedLogContext::AdoptedLogContext(std::vector<LogField> fields)
    : m_previous(std::move(t_context)) {
  t_context = std::move(fields);
}

AdoptedLogContext::~AdoptedLogContext() {
  t_context = std::move(m_previous);
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
