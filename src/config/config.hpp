#pragma once

// Typed configuration: defaults, then a TOML file, then the environment, then
// command-line flags (later wins). See README "Configuration reference".

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/result.hpp"

namespace mdesync::config {

// Holds the client secret. It has no streaming or formatting support on purpose: the
// only way to read it is reveal(), called where the token request is built.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : m_value(std::move(value)) {}
  [[nodiscard]] const std::string& reveal() const { return m_value; }
  [[nodiscard]] bool empty() const { return m_value.empty(); }

 private:
  std::string m_value;
};

// Operation options (docs/model.md, "Operation options"): key -> accepted values, per object.
using Filters = std::map<std::string, std::vector<std::string>>;

// `mdesync report` settings: the `[report]` table of the config file.
struct ReportSettings {
  int stale_after_hours = 48;  // a last good sync older than this is flagged stale
  // Remediation deadlines in days ([report.sla_days]).
  int sla_critical = 15;
  int sla_high = 30;
  int sla_medium = 90;
  int sla_low = 180;
};

struct Config {
  // Connection and credentials.
  std::string api_url = "https://api.securitycenter.microsoft.com";
  std::string login_url = "https://login.microsoftonline.com";
  std::string tenant_id;
  std::string client_id;
  Secret client_secret;
  std::string audience = "https://api.securitycenter.microsoft.com";  // token scope base
  std::string token_version = "v2";                                   // "v2" or "v1"
  int max_retries = 5;

  // Sign-in (README "Signing in"; config/signin.hpp). After load(), `auth` names the
  // credential in use and api_url/login_url/audience hold the cloud's (or region's)
  // hosts unless they were set explicitly.
  std::string auth;              // client_secret | certificate | managed_identity ("" before load)
  std::string cloud = "public";  // public | gcc | gcc-high | dod
  std::string region;            // "" = the global host; us, eu, uk, au, ... (public cloud)
  std::string client_certificate_path;  // PEM (key + certificate) or PKCS#12 file
  Secret client_certificate_password;   // its passphrase, if any
  // The Azure instance metadata service's identity endpoint (tests point it at loopback).
  std::string managed_identity_endpoint = "http://169.254.169.254/metadata/identity/oauth2/token";
  // App Service / Functions: IDENTITY_ENDPOINT and IDENTITY_HEADER from the environment.
  std::string identity_endpoint;
  Secret identity_header;
  // Where each setting that was given came from ("config file x.toml", "environment
  // variable AZURE_CLIENT_SECRET", "flag --api-url"), by key: conflicts name them.
  std::map<std::string, std::string> sources;

  // HTTP.
  std::optional<std::string> proxy;       // else the usual *_proxy environment variables
  std::optional<std::string> ca_bundle;   // PEM file of trusted CAs
  bool insecure_skip_tls_verify = false;  // only for a local simulator with a test certificate
  // insecure_skip_tls_verify is refused for api_url/login_url hosts other than loopback
  // unless this is set too: one switch alone must not expose a real tenant's secret.
  bool allow_insecure_tls_to_remote_hosts = false;
  int connect_timeout_seconds = 30;
  int low_speed_timeout_seconds = 120;  // abort a transfer slower than 1 byte/s for this long
  int download_concurrency = 4;         // export files fetched at once
  double rate_limit_scale = 1.0;        // multiplies the documented quotas; 0 disables limiting

  // Store.
  std::string store = "sqlite:mdesync.db";

  // Sync.
  std::vector<std::string> objects = {"machine", "package", "installed_package", "vulnerability",
                                      "vulnerability_definition"};
  std::string mode = "auto";        // full | delta | auto
  std::string strategy = "export";  // export | api
  bool include_non_cpe = false;
  // The removal guard: a full read that would mark more than this share of an object's
  // active rows Removed (hosts, packages, installed packages) or Fixed (open findings)
  // fails that object and keeps its rows, when at least removal_guard_min_rows would go
  // or every active row would. 1 turns it off; accept_removals lets one run through.
  double removal_guard = 0.5;
  std::int64_t removal_guard_min_rows = 20;
  bool accept_removals = false;
  std::map<std::string, Filters> filters;  // object name -> operation options

  // Report.
  ReportSettings report;

  // Several tenants in one configuration (README "Several tenants", docs/adr/0090).
  // `tenant_name` is the name of the config's [[tenants]] table this configuration was
  // built from ("" for a configuration without [[tenants]]): it labels messages,
  // metrics and log lines and fills `{tenant}` in the store URL. tenant_concurrency is
  // shared: how many tenants `sync --all` runs at once.
  std::string tenant_name;
  int tenant_concurrency = 2;
};

// A configuration file's tenants, each with its complete configuration (the shared
// defaults, its own [[tenants]] table, the environment and flags applied).
struct Tenants {
  bool multi = false;           // the file has [[tenants]] tables
  std::vector<Config> tenants;  // in file order; one (tenant_name "") without [[tenants]]
  int tenant_concurrency = 2;
};

}  // namespace mdesync::config
