#include "store/codec.hpp"

#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>

namespace mdesync::store {

namespace {
void put2(std::string& out, unsigned v) {
  out.push_back(static_cast<char>('0' + v / 10));
  out.push_back(static_cast<char>('0' + v % 10));
}
}  // namespace

void append_time(std::string& out, util::Timestamp t) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  auto rest = t - day;
  const auto h = duration_cast<hours>(rest);
  rest -= h;
  const auto m = duration_cast<minutes>(rest);
  rest -= m;
  const auto s = duration_cast<seconds>(rest);
  rest -= s;
  const auto us = static_cast<unsigned>(rest.count());
  const int y = static_cast<int>(ymd.year());
  if (y < 0 || y > 9999) {
    out += fmt::format("{:04}", y);
  } else {
    const auto uy = static_cast<unsigned>(y);
    put2(out, uy / 100);
    put2(out, uy % 100);
  }
  out.push_back('-');
  put2(out, static_cast<unsigned>(ymd.month()));
  out.push_back('-');
  put2(out, static_cast<unsigned>(ymd.day()));
  out.push_back('T');
  put2(out, static_cast<unsigned>(h.count()));
  out.push_back(':');
  put2(out, static_cast<unsigned>(m.count()));
  out.push_back(':');
  put2(out, static_cast<unsigned>(s.count()));
  out.push_back('.');
  char buf[6];
  unsigned v = us;
  for (int i = 5; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out.append(buf, 6);
  out.push_back('Z');
}

std::string encode_time(util::Timestamp t) {
  std::string out;
  out.reserve(27);
  append_time(out, t);
  return out;
}

util::Result<util::Timestamp> decode_time(std::string_view text) {
  return util::parse_timestamp(text);
}

void append_json_list(std::string& out, const std::vector<std::string>& values) {
  out.push_back('[');
  bool first = true;
  for (const auto& v : values) {
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, v);
  }
  out.push_back(']');
}

std::string encode_json_list(const std::vector<std::string>& values) {
  std::string out;
  append_json_list(out, values);
  return out;
}

util::Result<std::vector<std::string>> decode_json_list(std::string_view text) {
  if (text == "[]") return std::vector<std::string>{};
  try {
    auto j = nlohmann::json::parse(text);
    if (!j.is_array()) return util::fail(util::ErrorCode::store, "stored list is not a JSON array");
    std::vector<std::string> out;
    out.reserve(j.size());
    for (const auto& item : j) out.push_back(item.get<std::string>());
    return out;
  } catch (const nlohmann::json::exception& e) {
    return util::fail(util::ErrorCode::store,
                      fmt::format("stored list is malformed: {}", e.what()));
  }
}

}  // namespace mdesync::store
