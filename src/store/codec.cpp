#include "store/codec.hpp"

#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>

namespace mdesync::store {

namespace {
void put2(char* at, unsigned v) {
  at[0] = static_cast<char>('0' + v / 10);
  at[1] = static_cast<char>('0' + v % 10);
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
    char year[4];
    const auto uy = static_cast<unsigned>(y);
    put2(year, uy / 100);
    put2(year + 2, uy % 100);
    out.append(year, 4);
  }
  // "-MM-DDTHH:MM:SS.uuuuuuZ", built in place and appended at once.
  char buf[23] = {'-', 0, 0, '-', 0, 0, 'T', 0, 0, ':', 0, 0, ':', 0, 0, '.'};
  put2(buf + 1, static_cast<unsigned>(ymd.month()));
  put2(buf + 4, static_cast<unsigned>(ymd.day()));
  put2(buf + 7, static_cast<unsigned>(h.count()));
  put2(buf + 10, static_cast<unsigned>(m.count()));
  put2(buf + 13, static_cast<unsigned>(s.count()));
  unsigned v = us;
  for (int i = 21; i >= 16; --i) {
    buf[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  buf[22] = 'Z';
  out.append(buf, sizeof buf);
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
