#include "reply.hpp"

#include <nlohmann/json.hpp>

#include "sim_util.hpp"

namespace mdesim {

using json = nlohmann::ordered_json;

Reply error_reply(int status, const std::string& code, const std::string& message,
                  const std::string& target) {
  Reply r;
  r.status = status;
  r.content_type = "application/json; charset=utf-8";
  r.text = json{{"error", {{"code", code}, {"message", message}, {"target", target}}}}.dump();
  return r;
}

Reply azure_error(int status, const std::string& code, const std::string& message,
                  const std::string& detail) {
  Reply r;
  r.status = status;
  r.content_type = "application/xml";
  r.text =
      "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>" + code + "</Code><Message>" +
      message + "\nRequestId:" + guid(static_cast<std::uint64_t>(status), 1) +
      "\nTime:" + iso_time(0) + "</Message>" +
      (detail.empty() ? ""
                      : "<AuthenticationErrorDetail>" + detail + "</AuthenticationErrorDetail>") +
      "</Error>";
  return r;
}

std::string param(const httplib::Request& req, std::string_view name) {
  for (const auto& [k, v] : req.params) {
    if (iequals(k, name)) return v;
  }
  return {};
}

bool has_param(const httplib::Request& req, std::string_view name) {
  for (const auto& [k, v] : req.params) {
    if (iequals(k, name)) return true;
  }
  return false;
}

std::optional<long long> parse_int(const std::string& s) {
  if (s.empty()) return std::nullopt;
  std::size_t used = 0;
  try {
    const long long v = std::stoll(s, &used);
    if (used != s.size()) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace mdesim
