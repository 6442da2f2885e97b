#pragma once

// What `check` and `sync --dry-run` say about the sign-in: the cloud, the API and login
// hosts and the credential type, and the hint for a tenant asked in the wrong cloud.

#include <string>

#include "config/config.hpp"
#include "util/error.hpp"

namespace mdesync::cli {

// "  cloud public (region eu), API host eu.api.security.microsoft.com, login host ...\n
//    credential: certificate (client ..., /etc/mdesync/key.pem)\n"
std::string signin_text(const config::Config& config);

// A hint for a token error that a tenant of another cloud gives (AADSTS90002 at the
// public authority: a US government tenant), "" when none applies.
std::string cloud_mismatch_hint(const config::Config& config, const util::Error& error);

}  // namespace mdesync::cli
