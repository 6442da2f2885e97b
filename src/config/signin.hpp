#pragma once

// Sign-in settings: the credential selector (`auth`) and the cloud and region presets
// that set the API host, the login authority and the token audience together
// (README "Signing in", docs/adr/0081).

#include <string>
#include <vector>

#include "config/config.hpp"
#include "util/result.hpp"

namespace mdesync::config {

// The hosts of one cloud: API base URL, login authority, token audience.
struct CloudHosts {
  std::string api_url;
  std::string login_url;
  std::string audience;
};

const std::vector<std::string>& auth_kinds();    // client_secret, certificate, managed_identity
const std::vector<std::string>& cloud_names();   // public, gcc, gcc-high, dod
const std::vector<std::string>& region_names();  // us, eu, uk, au, swa, ina, aea

// The hosts of `cloud` (one of cloud_names()), with the regional API host of the public
// cloud when `region` is not empty.
CloudHosts cloud_hosts(const std::string& cloud, const std::string& region);

// After every source is applied: fills api_url, login_url and audience from cloud and
// region where they were not set explicitly, and settles `auth` from what is configured.
// Errors (ErrorCode::config) name the settings that conflict and where each came from.
util::Status resolve_signin(Config& config);

// True when `login_url` is the public cloud's authority (a US government tenant asked
// there is "not found").
bool is_public_login(const std::string& login_url);

}  // namespace mdesync::config
