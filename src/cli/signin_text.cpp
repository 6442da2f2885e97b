#include "cli/signin_text.hpp"

#include <fmt/format.h>

#include "auth/credentials.hpp"

namespace mdesync::cli {
namespace {

std::string host_of(const std::string& url) {
  const auto start = url.find("://");
  if (start == std::string::npos) return url;
  const auto end = url.find('/', start + 3);
  return url.substr(start + 3, end == std::string::npos ? std::string::npos : end - start - 3);
}

}  // namespace

std::string signin_text(const config::Config& c) {
  std::string cloud = c.cloud;
  if (!c.region.empty()) cloud += fmt::format(" (region {})", c.region);
  return fmt::format("  cloud {}, API host {}, login host {}, audience {}\n  credential: {}\n",
                     cloud, host_of(c.api_url),
                     c.auth == "managed_identity" ? std::string("(managed identity endpoint)")
                                                  : host_of(c.login_url),
                     c.audience, auth::describe_credential(c));
}

std::string cloud_mismatch_hint(const config::Config& c, const util::Error& error) {
  if (error.message.find("AADSTS90002") == std::string::npos) return {};
  if (c.cloud == "public" || c.cloud == "gcc") {
    return fmt::format(
        "the tenant is not known to the login authority of the {} cloud ({}): a US government "
        "tenant signs in elsewhere; set cloud = \"gcc-high\" or \"dod\" for a GCC High or DoD "
        "tenant (cloud = \"gcc\" for GCC), or check tenant_id",
        c.cloud, host_of(c.login_url));
  }
  return fmt::format(
      "the tenant is not known to the {} login authority ({}): check tenant_id, and that the "
      "tenant is a {} tenant (a commercial tenant needs cloud = \"public\")",
      c.cloud, host_of(c.login_url), c.cloud);
}

}  // namespace mdesync::cli
