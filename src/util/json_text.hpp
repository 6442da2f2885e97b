#pragma once

#include <string>
#include <string_view>

namespace mdesync::util {

// Appends `s` as a quoted JSON string (escaping quotes, backslashes and control
// characters); bytes that are not valid UTF-8 become U+FFFD, so the output is valid JSON
// whatever the input held. Pure, thread-safe.
void append_json_string(std::string& out, std::string_view s);

}  // namespace mdesync::util
