#pragma once

// Column encodings shared by the backends: times as fixed-width ISO 8601 UTC text
// (always 6 fraction digits, so text order is time order) and lists as JSON arrays.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/json_text.hpp"
#include "util/result.hpp"
#include "util/time.hpp"

namespace mdesync::store {

// "2025-06-01T08:30:12.000000Z". Appends to `out`.
void append_time(std::string& out, util::Timestamp t);
std::string encode_time(util::Timestamp t);
util::Result<util::Timestamp> decode_time(std::string_view text);

// ["a","b"] with JSON string escaping. Appends to `out`.
void append_json_list(std::string& out, const std::vector<std::string>& values);
std::string encode_json_list(const std::vector<std::string>& values);
util::Result<std::vector<std::string>> decode_json_list(std::string_view text);

// JSON string literal of `text` appended to `out` (quotes included).
using util::append_json_string;

}  // namespace mdesync::store
