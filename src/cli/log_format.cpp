#include "cli/log_format.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <variant>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>

#include <nlohmann/json.hpp>

#include "util/log_context.hpp"

namespace mdesync::cli {
namespace {

std::atomic<bool> g_json{false};
std::atomic<bool> g_text_tenant{false};

class TenantFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& /*msg*/, const std::tm& /*tm*/,
              spdlog::memory_buf_t& dest) override {
    if (!g_text_tenant.load()) return;
    for (const auto& [key, value] : util::log_context()) {
      if (key != "tenant") continue;
      if (const auto* name = std::get_if<std::string>(&value)) {
        dest.append(name->data(), name->data() + name->size());
        dest.push_back(':');
        dest.push_back(' ');
      }
    }
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return spdlog::details::make_unique<TenantFlag>();
  }
};

void put(nlohmann::ordered_json& j, const util::LogField& field) {
  std::visit([&](const auto& v) { j[field.first] = v; }, field.second);
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto since_epoch = msg.time.time_since_epoch();
    const auto secs = std::chrono::floor<std::chrono::seconds>(since_epoch);
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - secs);
    nlohmann::ordered_json j;
    j["time"] = fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", std::chrono::sys_seconds(secs),
                            static_cast<int>(millis.count()));
    const auto level = spdlog::level::to_string_view(msg.level);
    j["level"] = std::string(level.data(), level.size());
    j["message"] = std::string(msg.payload.data(), msg.payload.size());
    for (const auto& field : util::log_context()) put(j, field);
    for (const auto& field : util::log_figures()) put(j, field);
    const std::string line =
        j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
    dest.append(line.data(), line.data() + line.size());
  }
  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

std::unique_ptr<spdlog::formatter> make_json_formatter() {
  return std::make_unique<JsonFormatter>();
}

std::unique_ptr<spdlog::formatter> make_text_formatter(const std::string& pattern,
                                                       spdlog::pattern_time_type time) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(time);
  formatter->add_flag<TenantFlag>('*').set_pattern(pattern);
  return formatter;
}

void set_text_log_tenant(bool on) {
  g_text_tenant.store(on);
}

bool json_logs() {
  return g_json.load();
}

void set_json_logs(bool on) {
  g_json.store(on);
}

void tell(spdlog::level::level_enum level, const std::string& text) {
  if (json_logs()) {
    spdlog::log(level, "{}", text);
    spdlog::default_logger()->flush();
  } else {
    std::fprintf(stderr, "mdesync: %s\n", text.c_str());
  }
}

}  // namespace mdesync::cli
