#pragma once

// Text and address rules shared by the mappers (docs/model.md, Host to Vulnerability).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mdesync::mapping {

std::string to_lower(std::string_view s);
std::string_view trim(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);

// The host-name rule: the lower-cased, trimmed name and, when it is a FQDN (a dot, not
// an IP address), its first label too. Empty input gives an empty list.
std::vector<std::string> host_names(std::string_view dns_name);

enum class IpKind {
  invalid,
  loopback,
  private_range,
  link_local_v4,
  unspecified,
  multicast,
  public_
};
// Classifies an IPv4 or IPv6 literal. private_range: RFC 1918, RFC 6598, fc00::/7,
// fe80::/10.
IpKind classify_ip(std::string_view ip);

// "00155d0a1b2c" / "00-15-5D-0A-1B-2C" -> "00:15:5D:0A:1B:2C"; nullopt when empty or
// all zero. Values that are not 12 hex digits come back upper-cased and trimmed.
std::optional<std::string> normalise_mac(std::string_view mac);

// Appends `value` when not already present.
void push_distinct(std::vector<std::string>& out, std::string value);

}  // namespace mdesync::mapping
