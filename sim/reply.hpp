#pragma once

// A simulator response before it is handed to httplib, the error bodies the Defender API
// and Azure Blob Storage answer with, and the query-parameter helpers every endpoint uses.

#include <httplib.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mdesim {

// Either text or a chunk generator.
struct Reply {
  int status = 200;
  std::string content_type = "application/json; odata.metadata=minimal; charset=utf-8";
  std::string text;
  std::function<bool(std::string&)> next;  // fills the next chunk; false at the end
  std::optional<std::uint64_t> length;     // for streams of known size
  std::vector<std::pair<std::string, std::string>> headers;
};

// The Defender API's JSON error body: {"error":{"code","message","target"}}.
Reply error_reply(int status, const std::string& code, const std::string& message,
                  const std::string& target);
// Azure Blob Storage's XML error body (export file downloads).
Reply azure_error(int status, const std::string& code, const std::string& message,
                  const std::string& detail);

// Query parameters by name, compared case-insensitively as the service does.
std::string param(const httplib::Request& req, std::string_view name);
bool has_param(const httplib::Request& req, std::string_view name);
// A whole decimal integer, or nothing.
std::optional<long long> parse_int(const std::string& s);

}  // namespace mdesim
