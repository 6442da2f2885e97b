#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "config/config.hpp"
#include "util/result.hpp"

namespace mdesync::config {

// Values given on the command line, as text, keyed by configuration key
// (`api_url`, `max_retries`, ...). Filled by the flags that add_flags() declares.
struct Overrides {
  std::optional<std::string> config_file;
  std::map<std::string, std::string> values;
  std::vector<std::string> objects;  // --objects (comma-separated or repeated)
  std::vector<std::string> tenants;  // --tenant NAME (repeatable): [[tenants]] to use
  bool all_tenants = false;          // sync --all
};

// Which flag groups a subcommand offers.
struct FlagGroups {
  bool connection = true;  // api/login urls, credentials, retries, HTTP options
  bool store = true;       // --store
  bool sync = false;       // --mode, --strategy, --objects, --include-non-cpe
};

// Declares one flag per configuration key on `app` (the secret has none on purpose:
// command lines end up in process lists and shell history). Not thread-safe.
void add_flags(CLI::App& app, Overrides& overrides, FlagGroups groups = {});

// Reads one environment variable; injectable for tests.
using Environment = std::function<std::optional<std::string>(const std::string& name)>;
Environment process_environment();

// Builds the configuration of one tenant (a multi-tenant config needs one --tenant):
// defaults, then the TOML file (--config, else
// $MDESYNC_CONFIG), then the environment (AZURE_TENANT_ID, AZURE_CLIENT_ID,
// AZURE_CLIENT_SECRET and MDESYNC_<KEY>), then flags; later wins. Errors
// (ErrorCode::config) name the key and its source and say what is expected; they never
// contain the secret.
util::Result<Config> load(const Overrides& overrides,
                          const Environment& env = process_environment());

// The tenants of the configuration that the overrides select: every [[tenants]] table
// with all_tenants, the named ones with --tenant (in file order), else the only tenant
// of a config without [[tenants]]. Errors (ErrorCode::config): a multi-tenant config
// without --all or --tenant, an unknown or repeated name, duplicate names, a SQLite
// store two tenants would share (no `{tenant}` in its path), `{tenant}` without
// [[tenants]], keys in the wrong place (docs/adr/0090).
util::Result<Tenants> load_tenants(const Overrides& overrides,
                                   const Environment& env = process_environment());

// For commands that talk to the API: tenant, client id and secret must be set.
util::Status require_credentials(const Config& config);

// The keys a config file may hold, with a one-line description and the default as text
// ("" when none); used by --help text and the README reference.
struct KeyInfo {
  std::string name;
  std::string description;
  std::string default_text;
};
const std::vector<KeyInfo>& known_keys();

}  // namespace mdesync::config
