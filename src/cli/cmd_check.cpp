// `mdesync check`: verifies credentials, permissions and reachability of every endpoint
// the configured objects need, with one small call each, and prints a pass/fail table.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "auth/jwt.hpp"
#include "cli/command.hpp"
#include "cli/common.hpp"
#include "cli/signin_text.hpp"
#include "defender/client.hpp"

namespace mdesync::cli {
namespace {

struct CheckFlags {
  config::Overrides overrides;
  bool verbose = false;
};

struct Probe {
  Probe(std::string e, std::string r, std::function<util::Status(defender::Client&)> c)
      : endpoint(std::move(e)), role(std::move(r)), call(std::move(c)) {}
  std::string endpoint;  // what the table shows
  std::string role;
  std::function<util::Status(defender::Client&)> call;
  std::vector<std::string> objects;  // the configured objects that read this endpoint
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
  auto add = [&out](Probe&& p) { out.push_back(std::move(p)); };
  // Tags every probe added since `from` with the object that needs it.
  auto for_object = [&out](std::size_t from, const std::string& object) {
    for (std::size_t i = from; i < out.size(); ++i) out[i].objects.push_back(object);
  };
  // The machine list is always synced (it anchors every other object).
  add({"GET /api/machines?$top=1", "Machine.Read.All", [one](Client& c) {
         return status_of(c.for_each_machine(one, ignore<defender::Machine>()));
       }});
  for_object(0, "machine");
  if (contains(cfg.objects, "package")) {
    const auto from = out.size();
    add({"GET /api/software?$top=1", "Software.Read.All", [one](Client& c) {
           return status_of(c.for_each_software(one, ignore<defender::Software>()));
         }});
    for_object(from, "package");
  }
  if (contains(cfg.objects, "vulnerability_definition")) {
    const auto from = out.size();
    add({"GET /api/vulnerabilities?$top=1", "Vulnerability.Read.All", [one](Client& c) {
           return status_of(c.for_each_vulnerability(one, ignore<defender::Vulnerability>()));
         }});
    // patchAvailable, affected and recommendation come from the recommendations: without
    // the role a sync keeps stale values with only a warning.
    out.push_back(
        {"GET /api/recommendations?$top=1", "SecurityRecommendation.Read.All", [one](Client& c) {
           return status_of(c.for_each_recommendation(one, ignore<defender::Recommendation>()));
         }});
    for_object(from, "vulnerability_definition");
  }
  if (contains(cfg.objects, "installed_package")) {
    const auto from = out.size();
    if (api) {
      add({"GET /api/machines/SoftwareInventoryByMachine?$top=1", "Software.Read.All",
           [row](Client& c) {
             return status_of(
                 c.for_each_inventory_by_machine(row, false, ignore<defender::InventoryRow>()));
           }});
    } else {
      add({"GET /api/machines/SoftwareInventoryExport", "Software.Read.All",
           [](Client& c) { return status_of(c.inventory_export_files(false)); }});
    }
    if (cfg.include_non_cpe) {
      if (api) {
        add({"GET /api/machines/SoftwareInventoryNoProductCodeByMachine?$top=1",
             "Software.Read.All", [row](Client& c) {
               return status_of(
                   c.for_each_inventory_by_machine(row, true, ignore<defender::InventoryRow>()));
             }});
      } else {
        add({"GET /api/machines/SoftwareInventoryNonCpeExport", "Software.Read.All",
             [](Client& c) { return status_of(c.inventory_export_files(true)); }});
      }
    }
    for_object(from, "installed_package");
  }
  if (contains(cfg.objects, "vulnerability")) {
    const auto from = out.size();
    if (api) {
      add({"GET /api/machines/SoftwareVulnerabilitiesByMachine?$top=1", "Vulnerability.Read.All",
           [row](Client& c) {
             return status_of(
                 c.for_each_vulnerability_by_machine(row, ignore<defender::VulnerabilityRow>()));
           }});
    } else {
      add({"GET /api/machines/SoftwareVulnerabilitiesExport", "Vulnerability.Read.All",
           [](Client& c) { return status_of(c.vulnerability_export_files()); }});
    }
    if (cfg.mode != "full") {
      add({"GET /api/machines/SoftwareVulnerabilityChangesByMachine?$top=1",
           "Vulnerability.Read.All", [row](Client& c) {
             const auto since =
                 util::to_timestamp(std::chrono::system_clock::now() - std::chrono::hours{24});
             return status_of(
                 c.for_each_vulnerability_change(since, row, ignore<defender::VulnerabilityRow>()));
           }});
    }
    for_object(from, "vulnerability");
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

  std::printf("mdesync check: tenant %s, application %s, API %s\n%s", cfg->tenant_id.c_str(),
              cfg->client_id.empty() ? "(managed identity)" : cfg->client_id.c_str(),
              cfg->api_url.c_str(), signin_text(*cfg).c_str());
  auto roles = (*client)->granted_roles();
  if (!roles) {
    std::printf("  token ............................................. FAIL\n");
    if (const auto hint = cloud_mismatch_hint(*cfg, roles.error()); !hint.empty()) {
      roles.error().message += "; " + hint;
    }
    return report(roles.error(), "cannot get a token");
  }
  std::printf("  token ............................................. ok\n\n");
  const std::set<std::string> have(roles->begin(), roles->end());
  const std::string granted_text =
      roles->empty() ? std::string("none") : fmt::format("{}", fmt::join(*roles, ", "));
  const auto probes = probes_for(*cfg);

  // Each role, and the configured objects that cannot be synced without it.
  std::map<std::string, std::set<std::string>> needed;
  for (const auto& p : probes) needed[p.role].insert(p.objects.begin(), p.objects.end());
  bool missing_role = false;
  std::printf("  %-34s %-8s %s\n", "permission (application role)", "granted", "needed by");
  for (const auto& [role, objects] : needed) {
    const bool ok = granted(have, role);
    missing_role = missing_role || !ok;
    std::printf("  %-34s %-8s %s%s\n", role.c_str(), ok ? "yes" : "NO",
                fmt::format("{}", fmt::join(objects, ", ")).c_str(),
                ok ? "" : "  <- FAIL: add it and grant admin consent");
  }
  std::printf("\n  %-66s %-24s %s\n", "endpoint", "needs", "result");
  int worst = k_exit_ok;
  for (const auto& p : probes) {
    if (!granted(have, p.role)) {
      // The advice a sync gives when the API answers 403 for the missing role.
      std::printf(
          "  %-66s %-24s FAIL: %s cannot be synced: this endpoint needs the "
          "application permission %s (the token grants: %s). Add it to the app "
          "registration and grant admin consent\n",
          p.endpoint.c_str(), p.role.c_str(), fmt::format("{}", fmt::join(p.objects, ", ")).c_str(),
          p.role.c_str(), granted_text.c_str());
      continue;
    }
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
