#include "mapping/text.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>

namespace mdesync::mapping {

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  }
  return out;
}

namespace {

// std::isspace and std::tolower of the "C" locale, without a call per character (trim
// runs on most text fields of every row).
constexpr bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

}  // namespace

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

void push_distinct(std::vector<std::string>& out, std::string value) {
  if (std::find(out.begin(), out.end(), value) == out.end()) out.push_back(std::move(value));
}

std::vector<std::string> host_names(std::string_view dns_name) {
  std::vector<std::string> out;
  std::string name = to_lower(trim(dns_name));
  while (!name.empty() && name.back() == '.') name.pop_back();  // rooted FQDN
  if (name.empty()) return out;
  const auto dot = name.find('.');
  const bool is_ip = classify_ip(name) != IpKind::invalid;
  out.push_back(name);
  if (dot != std::string::npos && dot > 0 && !is_ip) push_distinct(out, name.substr(0, dot));
  return out;
}

IpKind classify_ip(std::string_view text) {
  const std::string ip(trim(text));
  std::array<unsigned char, 16> buf{};
  if (inet_pton(AF_INET, ip.c_str(), buf.data()) == 1) {
    const unsigned a = buf[0];
    const unsigned b = buf[1];
    if (a == 127) return IpKind::loopback;
    if (a == 0) return IpKind::unspecified;
    if (a == 10 || (a == 172 && b >= 16 && b <= 31) || (a == 192 && b == 168)) {
      return IpKind::private_range;
    }
    if (a == 100 && b >= 64 && b <= 127) return IpKind::private_range;  // RFC 6598
    if (a == 169 && b == 254) return IpKind::link_local_v4;
    if (a >= 224) return IpKind::multicast;
    return IpKind::public_;
  }
  std::string v6 = ip;
  if (const auto pct = v6.find('%'); pct != std::string::npos) v6.resize(pct);  // zone id
  if (inet_pton(AF_INET6, v6.c_str(), buf.data()) == 1) {
    const bool all_zero_but_last =
        std::all_of(buf.begin(), buf.begin() + 15, [](unsigned char c) { return c == 0; });
    if (all_zero_but_last && buf[15] == 1) return IpKind::loopback;
    if (all_zero_but_last && buf[15] == 0) return IpKind::unspecified;
    // IPv4-mapped ::ffff:a.b.c.d: classify the IPv4 part.
    const bool mapped =
        std::all_of(buf.begin(), buf.begin() + 10, [](unsigned char c) { return c == 0; }) &&
        buf[10] == 0xFF && buf[11] == 0xFF;
    if (mapped) {
      const std::string v4 = std::to_string(buf[12]) + "." + std::to_string(buf[13]) + "." +
                             std::to_string(buf[14]) + "." + std::to_string(buf[15]);
      return classify_ip(v4);
    }
    if ((buf[0] & 0xFE) == 0xFC) return IpKind::private_range;                    // fc00::/7
    if (buf[0] == 0xFE && (buf[1] & 0xC0) == 0x80) return IpKind::private_range;  // fe80::/10
    if (buf[0] == 0xFF) return IpKind::multicast;
    return IpKind::public_;
  }
  return IpKind::invalid;
}

std::optional<std::string> normalise_mac(std::string_view mac) {
  const auto t = trim(mac);
  if (t.empty()) return std::nullopt;
  std::string hex;
  for (const char c : t) {
    if (c == ':' || c == '-' || c == '.' || c == ' ') continue;
    hex.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  const bool is_hex = hex.size() == 12 && std::all_of(hex.begin(), hex.end(), [](char c) {
                        return std::isxdigit(static_cast<unsigned char>(c)) != 0;
                      });
  if (!is_hex) {
    std::string upper(t);
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return upper;
  }
  if (std::all_of(hex.begin(), hex.end(), [](char c) { return c == '0'; })) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < 12; i += 2) {
    if (i > 0) out.push_back(':');
    out.append(hex, i, 2);
  }
  return out;
}

}  // namespace mdesync::mapping
