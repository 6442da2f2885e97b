// `mdesync check`: verifies credentials, permissions and reachability of every endpoint
// the configured objects need, with one small call each, and prints a pass/fail table.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "auth/jwt.hpp"
#include "cli/command.hpp"
#include "cli/common.hpp"
#include "defender/client.hpp"

namespace mdesync::cli {
namespace {

struct CheckFlags {
  config::Overrides overrides;
  bool verbose = false;
};

struct Probe {
  std::string endpoint;  // what the table shows
  std::string role;
  std::function<util::Status(defender::Client&)> call;
};

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Machine.ReadWrite.All also grants what Machine.Read.All does.
bool granted(const std::set<std::string>& roles, const std::string& role) {
  if (roles.count(role) != 0) return true;
  const auto dot = role.find(".Read.");
  return dot != std::string::npos &&
         roles.count(role.substr(0, dot) + ".ReadWrite." + role.substr(dot + 6)) != 0;
}

template <class T>
defender::RecordSink<T> ignore() {
  return [](T&&) { return util::Status{}; };
}

template <class R>
util::Status status_of(const R& r) {
  if (!r) return util::fail(r.error());
  return {};
}

std::vector<Probe> probes_for(const config::Config& cfg) {
  using defender::Client;
  std::vector<Probe> out;
  defender::ODataQuery one;
  one.top = 1;
  defender::ExportPageQuery row;
  row.top = 1;
  const bool api = cfg.strategy == "api";
  // The machine list is always synced (it anchors every other object).
  out.push_back({"GET /api/machines?$top=1", "Machine.Read.All", [one](Client& c) {
                   return status_of(c.for_each_machine(one, ignore<defender::Machine>()));
                 }});
  if (contains(cfg.objects, "package")) {
    out.push_back({"GET /api/software?$top=1", "Software.Read.All", [one](Client& c) {
                     return status_of(c.for_each_software(one, ignore<defender::Software>()));
                   }});
  }
  if (contains(cfg.objects, "vulnerability_definition")) {
    out.push_back({"GET /api/vulnerabilities?$top=1", "Vulnerability.Read.All", [one](Client& c) {
                     return status_of(
                         c.for_each_vulnerability(one, ignore<defender::Vulnerability>()));
                   }});
  }
  if (contains(cfg.objects, "installed_package")) {
    if (api) {
      out.push_back({"GET /api/machines/SoftwareInventoryByMachine?$top=1", "Software.Read.All",
                     [row](Client& c) {
                       return status_of(c.for_each_inventory_by_machine(
                           row, false, ignore<defender::InventoryRow>()));
                     }});
    } else {
      out.push_back({"GET /api/machines/SoftwareInventoryExport", "Software.Read.All",
                     [](Client& c) { return status_of(c.inventory_export_files(false)); }});
    }
    if (cfg.include_non_cpe) {
      if (api) {
        out.push_back({"GET /api/machines/SoftwareInventoryNoProductCodeByMachine?$top=1",
                       "Software.Read.All", [row](Client& c) {
                         return status_of(c.for_each_inventory_by_machine(
                             row, true, ignore<defender::InventoryRow>()));
                       }});
      } else {
        out.push_back({"GET /api/machines/SoftwareInventoryNonCpeExport", "Software.Read.All",
                       [](Client& c) { return status_of(c.inventory_export_files(true)); }});
      }
    }
  }
  if (contains(cfg.objects, "vulnerability")) {
    if (api) {
      out.push_back({"GET /api/machines/SoftwareVulnerabilitiesByMachine?$top=1",
                     "Vulnerability.Read.All", [row](Client& c) {
                       return status_of(c.for_each_vulnerability_by_machine(
                           row, ignore<defender::VulnerabilityRow>()));
                     }});
    } else {
      out.push_back({"GET /api/machines/SoftwareVulnerabilitiesExport", "Vulnerability.Read.All",
                     [](Client& c) { return status_of(c.vulnerability_export_files()); }});
    }
    if (cfg.mode != "full") {
      out.push_back({"GET /api/machines/SoftwareVulnerabilityChangesByMachine?$top=1",
                     "Vulnerability.Read.All", [row](Client& c) {
                       const auto since = util::to_timestamp(std::chrono::system_clock::now() -
                                                             std::chrono::hours{24});
                       return status_of(c.for_each_vulnerability_change(
                           since, row, ignore<defender::VulnerabilityRow>()));
                     }});
    }
  }
  return out;
}

int run_check(const CheckFlags& flags) {
  setup_logging(flags.verbose, false);
  auto cfg = config::load(flags.overrides);
  if (!cfg) return report(cfg.error(), "configuration error");
  if (auto st = config::require_credentials(*cfg); !st)
    return report(st.error(), "configuration error");
  auto client = defender::Client::create(*cfg);
  if (!client) return report(client.error(), "configuration error");

  std::printf("mdesync check: tenant %s, application %s, API %s\n", cfg->tenant_id.c_str(),
              cfg->client_id.c_str(), cfg->api_url.c_str());
  auto roles = (*client)->granted_roles();
  if (!roles) {
    std::printf("  token ............................................. FAIL\n");
    return report(roles.error(), "cannot get a token");
  }
  std::printf("  token ............................................. ok\n\n");
  const std::set<std::string> have(roles->begin(), roles->end());
  const auto probes = probes_for(*cfg);

  std::set<std::string> needed;
  for (const auto& p : probes) needed.insert(p.role);
  bool missing_role = false;
  std::printf("  %-34s %s\n", "permission (application role)", "granted");
  for (const auto& role : needed) {
    const bool ok = granted(have, role);
    missing_role = missing_role || !ok;
    std::printf("  %-34s %s\n", role.c_str(), ok ? "yes" : "NO  <- add it and grant admin consent");
  }
  std::printf("\n  %-66s %-24s %s\n", "endpoint", "needs", "result");
  int worst = k_exit_ok;
  for (const auto& p : probes) {
    const auto t0 = std::chrono::steady_clock::now();
    auto st = p.call(**client);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    if (st) {
      std::printf("  %-66s %-24s pass (%lld ms)\n", p.endpoint.c_str(), p.role.c_str(),
                  static_cast<long long>(ms));
      continue;
    }
    std::printf("  %-66s %-24s FAIL: %s\n", p.endpoint.c_str(), p.role.c_str(),
                st.error().describe().c_str());
    const int code = exit_code_for(st.error().code);
    if (worst == k_exit_ok || code == k_exit_auth) worst = code;
  }
  if (missing_role) worst = k_exit_auth;
  const auto s = (*client)->stats();
  std::printf("\n  %llu API calls, %llu retries, %llu throttled (429)\n",
              static_cast<unsigned long long>(s.api_calls),
              static_cast<unsigned long long>(s.retries),
              static_cast<unsigned long long>(s.throttled));
  std::printf("%s\n", worst == k_exit_ok ? "check passed" : "check FAILED");
  return worst;
}

const bool k_registered = register_command(
    {"check", "Verify credentials, permissions and API reachability for the configured objects",
     [](CLI::App& sub) {
       auto flags = std::make_shared<CheckFlags>();
       config::FlagGroups groups;
       groups.store = false;
       groups.sync = true;
       config::add_flags(sub, flags->overrides, groups);
       sub.add_flag("-v,--verbose", flags->verbose, "Log each request");
       return CommandAction([flags] { return run_check(*flags); });
     }});

}  // namespace
}  // namespace mdesync::cli
