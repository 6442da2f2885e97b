#include "config/load.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <variant>

#include <fmt/format.h>

#include <toml++/toml.h>

#include "config/signin.hpp"

namespace mdesync::config {
namespace {

using util::ErrorCode;
using util::fail;
using util::Status;

const std::vector<std::string> k_objects = {"machine", "package", "installed_package",
                                            "vulnerability", "vulnerability_definition"};

// A value as it arrives from one source: TOML gives types, environment and flags text.
using Value = std::variant<std::string, std::int64_t, double, bool, std::vector<std::string>>;

struct Source {
  std::string where;  // "config file x.toml", "environment variable MDESYNC_X", "flag --x"
  bool is_text;       // environment and flags: every value is text to convert
};

tl::unexpected<util::Error> bad(const std::string& key, const Source& src,
                                std::string_view expected) {
  return fail(ErrorCode::config,
              fmt::format("{} (from {}): expected {}", key, src.where, expected));
}

util::Result<std::string> as_string(const std::string& key, const Value& v, const Source& src) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  return bad(key, src, "a string");
}

util::Result<std::int64_t> as_int(const std::string& key, const Value& v, const Source& src,
                                  std::int64_t min, std::int64_t max) {
  std::int64_t n = 0;
  if (const auto* i = std::get_if<std::int64_t>(&v)) {
    n = *i;
  } else if (const auto* s = std::get_if<std::string>(&v); s != nullptr && src.is_text) {
    char* end = nullptr;
    errno = 0;
    const long long parsed = std::strtoll(s->c_str(), &end, 10);
    if (s->empty() || *end != '\0' || errno != 0) {
      return bad(key, src, fmt::format("an integer from {} to {}, got '{}'", min, max, *s));
    }
    n = parsed;
  } else {
    return bad(key, src, fmt::format("an integer from {} to {}", min, max));
  }
  if (n < min || n > max) {
    return bad(key, src, fmt::format("an integer from {} to {}, got {}", min, max, n));
  }
  return n;
}

util::Result<double> as_double(const std::string& key, const Value& v, const Source& src,
                               double min, double max) {
  double d = 0;
  if (const auto* x = std::get_if<double>(&v)) {
    d = *x;
  } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
    d = static_cast<double>(*i);
  } else if (const auto* s = std::get_if<std::string>(&v); s != nullptr && src.is_text) {
    char* end = nullptr;
    errno = 0;
    d = std::strtod(s->c_str(), &end);
    if (s->empty() || *end != '\0' || errno != 0) {
      return bad(key, src, fmt::format("a number from {} to {}, got '{}'", min, max, *s));
    }
  } else {
    return bad(key, src, fmt::format("a number from {} to {}", min, max));
  }
  if (!(d >= min && d <= max))
    return bad(key, src, fmt::format("a number from {} to {}", min, max));
  return d;
}

// A share from 0 to 1: a number, or text such as "50%" or "0.5".
util::Result<double> as_share(const std::string& key, const Value& v, const Source& src) {
  if (const auto* s = std::get_if<std::string>(&v);
      s != nullptr && !s->empty() && s->back() == '%') {
    const Value number = s->substr(0, s->size() - 1);
    auto pct = as_double(key, number, Source{src.where, true}, 0.0, 100.0);
    if (!pct) return bad(key, src, fmt::format("a share from 0 to 1 or 0% to 100%, got '{}'", *s));
    return *pct / 100.0;
  }
  auto d = as_double(key, v, Source{src.where, true}, 0.0, 1.0);
  if (!d) return bad(key, src, "a share from 0 to 1 (0.5) or a percentage (50%)");
  return d;
}

util::Result<bool> as_bool(const std::string& key, const Value& v, const Source& src) {
  if (const auto* b = std::get_if<bool>(&v)) return *b;
  if (const auto* s = std::get_if<std::string>(&v); s != nullptr && src.is_text) {
    std::string t = *s;
    std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
    if (t == "true" || t == "1" || t == "yes") return true;
    if (t == "false" || t == "0" || t == "no") return false;
    return bad(key, src, fmt::format("true or false, got '{}'", *s));
  }
  return bad(key, src, "true or false");
}

util::Result<std::string> as_choice(const std::string& key, const Value& v, const Source& src,
                                    const std::vector<std::string>& choices) {
  auto s = as_string(key, v, src);
  if (!s) return s;
  if (std::find(choices.begin(), choices.end(), *s) == choices.end()) {
    return bad(key, src, fmt::format("one of {}, got '{}'", fmt::join(choices, ", "), *s));
  }
  return s;
}

// http(s) URL without a trailing slash; plain http only to a loopback host, so that a
// secret or token never crosses a network unencrypted.
util::Result<std::string> as_url(const std::string& key, const Value& v, const Source& src) {
  auto s = as_string(key, v, src);
  if (!s) return s;
  std::string url = *s;
  while (!url.empty() && url.back() == '/') url.pop_back();
  const bool https = url.rfind("https://", 0) == 0;
  const bool http = url.rfind("http://", 0) == 0;
  if (!https && !http) return bad(key, src, fmt::format("an https:// URL, got '{}'", url));
  const auto host_start = url.find("://") + 3;
  const auto host_end = url.find_first_of(":/", host_start);
  const std::string host = url.substr(
      host_start, host_end == std::string::npos ? std::string::npos : host_end - host_start);
  if (host.empty()) return bad(key, src, fmt::format("a URL with a host, got '{}'", url));
  if (http && host != "127.0.0.1" && host != "localhost" && host != "[::1]") {
    return bad(key, src,
               fmt::format("an https:// URL (plain http is allowed only for a local simulator on "
                           "127.0.0.1 or localhost), got '{}'",
                           url));
  }
  return url;
}

// The managed identity endpoints are plain http by design, on the machine itself: the
// metadata service's link-local address or a loopback host, nothing else.
util::Result<std::string> as_identity_url(const std::string& key, const Value& v,
                                          const Source& src) {
  auto s = as_string(key, v, src);
  if (!s) return s;
  const std::string& url = *s;
  for (const char* ok : {"http://169.254.169.254/", "http://127.0.0.1:", "http://127.0.0.1/",
                         "http://localhost:", "http://localhost/", "http://[::1]:"}) {
    if (url.rfind(ok, 0) == 0) return url;
  }
  return bad(key, src,
             fmt::format("an http:// URL on 169.254.169.254 (the instance metadata service) or on "
                         "a loopback host, got '{}'",
                         url));
}

// The host of an http(s) URL as written (lower case not enforced), "" when none;
// "[::1]" keeps its brackets.
std::string url_host(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return {};
  const auto start = scheme_end + 3;
  if (start < url.size() && url[start] == '[') {
    const auto close = url.find(']', start);
    return close == std::string::npos ? std::string{} : url.substr(start, close + 1 - start);
  }
  const auto end = url.find_first_of(":/?#", start);
  return url.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]";
}

util::Result<std::vector<std::string>> as_objects(const std::string& key, const Value& v,
                                                  const Source& src) {
  std::vector<std::string> items;
  if (const auto* list = std::get_if<std::vector<std::string>>(&v)) {
    items = *list;
  } else if (const auto* s = std::get_if<std::string>(&v)) {
    std::stringstream in(*s);
    for (std::string item; std::getline(in, item, ',');) {
      item.erase(0, item.find_first_not_of(' '));
      item.erase(item.find_last_not_of(' ') + 1);
      if (!item.empty()) items.push_back(item);
    }
  } else {
    return bad(key, src, "a list of object names");
  }
  std::vector<std::string> result = {"machine"};  // Machine is always synced
  for (const auto& item : items) {
    if (std::find(k_objects.begin(), k_objects.end(), item) == k_objects.end()) {
      return bad(key, src,
                 fmt::format("object names among {}, got '{}'", fmt::join(k_objects, ", "), item));
    }
    if (std::find(result.begin(), result.end(), item) == result.end()) result.push_back(item);
  }
  return result;
}

util::Result<Secret> read_secret_file(const std::string& key, const std::string& path,
                                      const Source& src) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return bad(key, src, fmt::format("a readable file; cannot open '{}'", path));
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!content.empty() &&
         (content.back() == '\n' || content.back() == '\r' || content.back() == ' ')) {
    content.pop_back();
  }
  if (content.empty())
    return bad(key, src, fmt::format("a file holding the secret; '{}' is empty", path));
  return Secret(std::move(content));
}

struct KeySpec {
  KeyInfo info;
  std::function<Status(Config&, const Value&, const Source&)> apply;
  bool from_flag = true;  // the secret itself has no flag
};

#define MDESYNC_ASSIGN(field, expr)             \
  do {                                          \
    auto r_ = (expr);                           \
    if (!r_) return tl::unexpected(r_.error()); \
    c.field = std::move(*r_);                   \
  } while (false)

const std::vector<KeySpec>& specs() {
  static const std::vector<KeySpec> table = [] {
    std::vector<KeySpec> t;
    auto add = [&](std::string name, std::string desc, std::string def,
                   std::function<Status(Config&, const Value&, const Source&)> fn,
                   bool flag = true) {
      t.push_back({{std::move(name), std::move(desc), std::move(def)}, std::move(fn), flag});
    };
    add("api_url", "Defender API base URL", "https://api.securitycenter.microsoft.com",
        [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(api_url, as_url("api_url", v, s));
          return {};
        });
    add("login_url", "Entra ID (token service) base URL", "https://login.microsoftonline.com",
        [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(login_url, as_url("login_url", v, s));
          return {};
        });
    add("tenant_id", "Entra tenant id (GUID or verified domain); env AZURE_TENANT_ID", "",
        [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(tenant_id, as_string("tenant_id", v, s));
          return {};
        });
    add("client_id", "Application (client) id; env AZURE_CLIENT_ID", "",
        [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(client_id, as_string("client_id", v, s));
          return {};
        });
    add(
        "client_secret", "Client secret value (config file or env AZURE_CLIENT_SECRET only)", "",
        [](Config& c, const Value& v, const Source& s) -> Status {
          auto r = as_string("client_secret", v, s);
          if (!r) return tl::unexpected(r.error());
          c.client_secret = Secret(*r);
          return {};
        },
        false);
    add("client_secret_file", "File whose content is the client secret", "",
        [](Config& c, const Value& v, const Source& s) -> Status {
          auto path = as_string("client_secret_file", v, s);
          if (!path) return tl::unexpected(path.error());
          MDESYNC_ASSIGN(client_secret, read_secret_file("client_secret_file", *path, s));
          return {};
        });
    add("audience", "Token audience (scope base); change for government clouds",
        "https://api.securitycenter.microsoft.com",
        [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(audience, as_string("audience", v, s));
          while (!c.audience.empty() && c.audience.back() == '/') c.audience.pop_back();
          return {};
        });
    add("auth", "Credential: client_secret, certificate or managed_identity", "what is configured",
        [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(auth, as_choice("auth", v, s, auth_kinds()));
          return {};
        });
    add("cloud", "Microsoft cloud: public, gcc, gcc-high or dod (sets API, login and audience)",
        "public", [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(cloud, as_choice("cloud", v, s, cloud_names()));
          return {};
        });
    add("region", "Regional API host of the public cloud (us, eu, uk, au, swa, ina, aea)", "",
        [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(region, as_choice("region", v, s, region_names()));
          return {};
        });
    add("client_certificate_path",
        "PEM (key and certificate) or PKCS#12 file; env AZURE_CLIENT_CERTIFICATE_PATH", "",
        [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(client_certificate_path, as_string("client_certificate_path", v, s));
          return {};
        });
    add("client_certificate_password_file",
        "File holding the certificate file's passphrase; or env AZURE_CLIENT_CERTIFICATE_PASSWORD",
        "", [](Config& c, const Value& v, const Source& s) -> Status {
          auto path = as_string("client_certificate_password_file", v, s);
          if (!path) return tl::unexpected(path.error());
          MDESYNC_ASSIGN(client_certificate_password,
                         read_secret_file("client_certificate_password_file", *path, s));
          return {};
        });
    add("managed_identity_endpoint",
        "Azure instance metadata identity endpoint (change only to test on loopback)",
        "http://169.254.169.254/metadata/identity/oauth2/token",
        [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(managed_identity_endpoint,
                         as_identity_url("managed_identity_endpoint", v, s));
          return {};
        });
    add("token_version", "Token endpoint: v2 (scope) or v1 (resource)", "v2",
        [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(token_version, as_choice("token_version", v, s, {"v2", "v1"}));
          return {};
        });
    add("max_retries", "Further attempts after a retryable failure (0-20)", "5",
        [](Config& c, const Value& v, const Source& s) -> Status {
          auto r = as_int("max_retries", v, s, 0, 20);
          if (!r) return tl::unexpected(r.error());
          c.max_retries = static_cast<int>(*r);
          return {};
        });
    add("proxy", "HTTP(S) proxy URL; default: the usual https_proxy/no_proxy variables", "",
        [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(proxy, as_string("proxy", v, s));
          return {};
        });
    add("ca_bundle", "PEM file of trusted certificate authorities", "",
        [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(ca_bundle, as_string("ca_bundle", v, s));
          return {};
        });
    add("insecure_skip_tls_verify", "Do not verify TLS certificates (local simulator only)",
        "false", [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(insecure_skip_tls_verify, as_bool("insecure_skip_tls_verify", v, s));
          return {};
        });
    add("allow_insecure_tls_to_remote_hosts",
        "Accept insecure_skip_tls_verify for hosts other than 127.0.0.1/localhost (dangerous)",
        "false", [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(allow_insecure_tls_to_remote_hosts,
                         as_bool("allow_insecure_tls_to_remote_hosts", v, s));
          return {};
        });
    add("connect_timeout_seconds", "Connect timeout (1-600)", "30",
        [](Config& c, const Value& v, const Source& s) -> Status {
          auto r = as_int("connect_timeout_seconds", v, s, 1, 600);
          if (!r) return tl::unexpected(r.error());
          c.connect_timeout_seconds = static_cast<int>(*r);
          return {};
        });
    add("low_speed_timeout_seconds", "Abort a transfer stalled for this long (1-3600)", "120",
        [](Config& c, const Value& v, const Source& s) -> Status {
          auto r = as_int("low_speed_timeout_seconds", v, s, 1, 3600);
          if (!r) return tl::unexpected(r.error());
          c.low_speed_timeout_seconds = static_cast<int>(*r);
          return {};
        });
    add("download_concurrency", "Export files read at once, one thread each (1-16)", "4",
        [](Config& c, const Value& v, const Source& s) -> Status {
          auto r = as_int("download_concurrency", v, s, 1, 16);
          if (!r) return tl::unexpected(r.error());
          c.download_concurrency = static_cast<int>(*r);
          return {};
        });
    add("rate_limit_scale",
        "Multiplies the documented API quotas; 0 turns client-side limiting off", "1.0",
        [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(rate_limit_scale, as_double("rate_limit_scale", v, s, 0.0, 1000.0));
          return {};
        });
    add("store", "Store URL: sqlite:PATH (default) or postgresql://...", "sqlite:mdesync.db",
        [](Config& c, const Value& v, const Source& s) -> Status {
          auto r = as_string("store", v, s);
          if (!r) return tl::unexpected(r.error());
          if (r->rfind("sqlite:", 0) != 0 && r->rfind("postgresql:", 0) != 0 &&
              r->rfind("postgres:", 0) != 0) {
            return bad("store", s, fmt::format("sqlite:PATH or postgresql://..., got '{}'", *r));
          }
          if (*r == "sqlite:") return bad("store", s, "sqlite:PATH with a file path");
          // SQLite's in-memory databases vanish when the process ends: a sync into one
          // would report success and keep nothing.
          if (r->find(":memory:") != std::string::npos ||
              r->find("mode=memory") != std::string::npos) {
            return bad("store", s,
                       fmt::format("a store that outlives the run (sqlite:PATH), got '{}': an "
                                   "in-memory database keeps nothing",
                                   *r));
          }
          c.store = *r;
          return {};
        });
    add("objects", "Objects to sync (machine is always included)",
        "machine,package,installed_package,vulnerability,vulnerability_definition",
        [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(objects, as_objects("objects", v, s));
          return {};
        });
    add("mode", "Sync mode: full, delta or auto", "auto",
        [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(mode, as_choice("mode", v, s, {"full", "delta", "auto"}));
          return {};
        });
    add("strategy", "Retrieval strategy: export (bulk files) or api (per-item endpoints)", "export",
        [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(strategy, as_choice("strategy", v, s, {"export", "api"}));
          return {};
        });
    add("removal_guard",
        "Largest share (0-1, or a percentage like 50%) of an object's active rows one full read "
        "may mark Removed or Fixed; 1 turns the guard off",
        "0.5", [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(removal_guard, as_share("removal_guard", v, s));
          return {};
        });
    add("removal_guard_min_rows",
        "Removals below this count never trip the removal guard, unless every active row would go",
        "20", [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(removal_guard_min_rows,
                         as_int("removal_guard_min_rows", v, s, 0, 1'000'000'000));
          return {};
        });
    add("accept_removals", "Let this run mark rows Removed or Fixed beyond the removal guard",
        "false", [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(accept_removals, as_bool("accept_removals", v, s));
          return {};
        });
    add("tenant_concurrency",
        "Tenants of a multi-tenant config that `sync --all` runs at once (1-64; shared only)", "2",
        [](Config& c, const Value& v, const Source& s) -> Status {
          auto r = as_int("tenant_concurrency", v, s, 1, 64);
          if (!r) return tl::unexpected(r.error());
          c.tenant_concurrency = static_cast<int>(*r);
          return {};
        });
    add("include_non_cpe", "Also sync software without a CPE as installed packages", "false",
        [](Config& c, const Value& v, const Source& s) -> Status {
          MDESYNC_ASSIGN(include_non_cpe, as_bool("include_non_cpe", v, s));
          return {};
        });
    return t;
  }();
  return table;
}

#undef MDESYNC_ASSIGN

const KeySpec* find_spec(std::string_view name) {
  for (const auto& s : specs()) {
    if (s.info.name == name) return &s;
  }
  return nullptr;
}

std::string flag_name(const std::string& key) {
  std::string f = "--" + key;
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

std::string env_name(const std::string& key) {
  std::string e = "MDESYNC_" + key;
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char ch) { return std::toupper(ch); });
  return e;
}

// The [report] table: stale_after_hours and [report.sla_days] critical/high/medium/low.
Status report_settings(const toml::node& node, const Source& src, ReportSettings& out) {
  const auto* table = node.as_table();
  if (table == nullptr) return bad("report", src, "a table: [report]");
  auto whole = [&](const std::string& name, const toml::node& n, int lo,
                   int hi) -> util::Result<int> {
    const auto v = n.value<std::int64_t>();
    if (!n.is_integer() || !v || *v < lo || *v > hi) {
      return bad(name, src, fmt::format("a whole number from {} to {}", lo, hi));
    }
    return static_cast<int>(*v);
  };
  for (const auto& [k, n] : *table) {
    const std::string key(k.str());
    if (key == "stale_after_hours") {
      auto v = whole("report.stale_after_hours", n, 1, 24 * 365);
      if (!v) return tl::unexpected(v.error());
      out.stale_after_hours = *v;
    } else if (key == "sla_days") {
      const auto* sla = n.as_table();
      if (sla == nullptr) return bad("report.sla_days", src, "a table: [report.sla_days]");
      for (const auto& [sk, sn] : *sla) {
        const std::string sev(sk.str());
        int* into = sev == "critical" ? &out.sla_critical
                    : sev == "high"   ? &out.sla_high
                    : sev == "medium" ? &out.sla_medium
                    : sev == "low"    ? &out.sla_low
                                      : nullptr;
        if (into == nullptr) {
          return bad("report.sla_days." + sev, src, "one of critical, high, medium, low");
        }
        auto v = whole("report.sla_days." + sev, sn, 1, 3650);
        if (!v) return tl::unexpected(v.error());
        *into = *v;
      }
    } else {
      return bad("report." + key, src, "stale_after_hours or sla_days");
    }
  }
  return {};
}

util::Result<Value> toml_value(const std::string& key, const toml::node& node, const Source& src) {
  if (auto s = node.as_string()) return Value{s->get()};
  if (auto i = node.as_integer()) return Value{i->get()};
  if (auto d = node.as_floating_point()) return Value{d->get()};
  if (auto b = node.as_boolean()) return Value{b->get()};
  if (auto a = node.as_array()) {
    std::vector<std::string> items;
    for (const auto& el : *a) {
      if (auto s = el.as_string()) {
        items.push_back(s->get());
      } else {
        return bad(key, src, "a list of strings");
      }
    }
    return Value{items};
  }
  return bad(key, src, "a string, number, boolean or list");
}

// Filter values become text: the filter validator (mapping/filters) checks keys and types.
util::Result<std::vector<std::string>> filter_values(const std::string& key, const toml::node& node,
                                                     const Source& src) {
  auto one = [&](const toml::node& n) -> util::Result<std::string> {
    if (auto s = n.as_string()) return s->get();
    if (auto i = n.as_integer()) return std::to_string(i->get());
    if (auto d = n.as_floating_point()) return fmt::format("{}", d->get());
    if (auto b = n.as_boolean()) return std::string(b->get() ? "true" : "false");
    return bad(key, src, "a string, number or boolean, or a list of them");
  };
  std::vector<std::string> values;
  if (auto a = node.as_array()) {
    if (a->empty()) return bad(key, src, "at least one value");
    for (const auto& el : *a) {
      auto v = one(el);
      if (!v) return tl::unexpected(v.error());
      values.push_back(*v);
    }
  } else {
    auto v = one(node);
    if (!v) return tl::unexpected(v.error());
    values.push_back(*v);
  }
  return values;
}

util::Result<toml::table> parse_file(const std::string& path) {
  // toml++ reads a directory as an empty document: without this check `--config DIR`
  // would silently run on defaults.
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (std::filesystem::is_directory(status)) {
    return fail(ErrorCode::config,
                fmt::format("config file {}: is a directory; expected a TOML file", path));
  }
  if (!std::filesystem::exists(status)) {
    return fail(ErrorCode::config, fmt::format("config file {}: no such file", path));
  }
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return fail(ErrorCode::config, fmt::format("config file {}: line {}, column {}: {}", path,
                                               where.line, where.column, e.description()));
  } catch (const std::exception& e) {
    return fail(ErrorCode::config, fmt::format("config file {}: {}", path, e.what()));
  }
}

// Keys that only the shared part of a config file may hold, and those that only a
// [[tenants]] table may hold (docs/adr/0090).
bool shared_only(const std::string& key) {
  return key == "tenant_concurrency" || key == "report" || key == "tenants";
}

// The keys of one table of a config file: the top level (`tenant` false) or one
// [[tenants]] table (`tenant` true; its `name` is read by the caller). `multi`: the file
// has [[tenants]] tables.
Status apply_table(Config& config, const toml::table& table, const Source& src,
                   const std::string& path, bool tenant, bool multi) {
  for (const auto& [k, node] : table) {
    const std::string key(k.str());
    if (key == "tenants" && !tenant) continue;  // read by load_tenants
    if (key == "name" && tenant) continue;
    if (tenant && shared_only(key)) {
      return fail(ErrorCode::config,
                  fmt::format("{}: '{}' is shared by every tenant: set it at the top level of "
                              "the file, not in a [[tenants]] table",
                              src.where, key));
    }
    if (!tenant && multi && key == "tenant_id") {
      return fail(ErrorCode::config,
                  fmt::format("config file {}: tenant_id belongs in each [[tenants]] table, not "
                              "among the shared keys at the top level",
                              path));
    }
    if (key == "filters") {
      const auto* objects = node.as_table();
      if (objects == nullptr) return bad("filters", src, "a table of [filters.<object>] tables");
      for (const auto& [obj_key, obj_node] : *objects) {
        const std::string object(obj_key.str());
        if (std::find(k_objects.begin(), k_objects.end(), object) == k_objects.end()) {
          return bad("filters." + object, src,
                     fmt::format("an object name among {}", fmt::join(k_objects, ", ")));
        }
        const auto* entries = obj_node.as_table();
        if (entries == nullptr) return bad("filters." + object, src, "a table of key = value(s)");
        Filters filters;
        for (const auto& [fk, fnode] : *entries) {
          const std::string name = "filters." + object + "." + std::string(fk.str());
          auto values = filter_values(name, fnode, src);
          if (!values) return tl::unexpected(values.error());
          filters[std::string(fk.str())] = std::move(*values);
        }
        // A tenant's filters of an object replace the shared ones of that object.
        config.filters[object] = std::move(filters);
      }
      continue;
    }
    if (key == "report") {
      if (auto st = report_settings(node, src, config.report); !st) return st;
      continue;
    }
    const KeySpec* spec = find_spec(key);
    if (spec == nullptr) {
      return fail(ErrorCode::config,
                  fmt::format("{}: unknown key '{}' (known keys: {}, filters, report, tenants)",
                              src.where, key,
                              fmt::join(
                                  [] {
                                    std::vector<std::string> names;
                                    for (const auto& s : specs()) names.push_back(s.info.name);
                                    return names;
                                  }(),
                                  ", ")));
    }
    auto value = toml_value(key, node, src);
    if (!value) return tl::unexpected(value.error());
    if (auto st = spec->apply(config, *value, src); !st) return st;
    config.sources[key] = src.where;
  }
  return {};
}

// The environment: the Azure SDK's names for the credentials, MDESYNC_<KEY> for the rest.
Status apply_environment(Config& config, const Environment& env) {
  const std::vector<std::pair<std::string, std::string>> azure = {
      {"AZURE_TENANT_ID", "tenant_id"},
      {"AZURE_CLIENT_ID", "client_id"},
      {"AZURE_CLIENT_SECRET", "client_secret"},
      {"AZURE_CLIENT_CERTIFICATE_PATH", "client_certificate_path"}};
  for (const auto& [var, key] : azure) {
    if (auto v = env(var); v && !v->empty()) {
      if (auto st =
              find_spec(key)->apply(config, Value{*v}, Source{"environment variable " + var, true});
          !st) {
        return st;
      }
      config.sources[key] = "environment variable " + var;
    }
  }
  // The certificate's passphrase and the App Service identity: the Azure SDK's variables.
  if (auto v = env("AZURE_CLIENT_CERTIFICATE_PASSWORD"); v && !v->empty()) {
    config.client_certificate_password = Secret(*v);
  }
  if (auto v = env("IDENTITY_ENDPOINT"); v && !v->empty()) {
    auto url = as_identity_url("IDENTITY_ENDPOINT", Value{*v},
                               Source{"environment variable IDENTITY_ENDPOINT", true});
    if (!url) return tl::unexpected(url.error());
    config.identity_endpoint = *url;
    config.sources["identity_endpoint"] = "environment variable IDENTITY_ENDPOINT";
  }
  if (auto v = env("IDENTITY_HEADER"); v && !v->empty()) config.identity_header = Secret(*v);
  for (const auto& spec : specs()) {
    if (spec.info.name == "client_secret") continue;  // only AZURE_CLIENT_SECRET
    const std::string var = env_name(spec.info.name);
    if (auto v = env(var); v && !v->empty()) {
      if (auto st = spec.apply(config, Value{*v}, Source{"environment variable " + var, true});
          !st) {
        return st;
      }
      config.sources[spec.info.name] = "environment variable " + var;
    }
  }
  return {};
}

// Flags, then the sign-in's resolution and the checks of the whole configuration.
Status apply_flags_and_finish(Config& config, const Overrides& overrides) {
  for (const auto& [key, text] : overrides.values) {
    const KeySpec* spec = find_spec(key);
    if (spec == nullptr || !spec->from_flag) {
      return fail(ErrorCode::config, fmt::format("unknown option '{}'", key));
    }
    if (auto st = spec->apply(config, Value{text}, Source{"flag " + flag_name(key), true}); !st) {
      return st;
    }
    config.sources[key] = "flag " + flag_name(key);
  }
  if (!overrides.objects.empty()) {
    auto objects = as_objects("objects", Value{overrides.objects}, Source{"flag --objects", true});
    if (!objects) return tl::unexpected(objects.error());
    config.objects = std::move(*objects);
  }
  if (auto st = resolve_signin(config); !st) return st;
  if (config.insecure_skip_tls_verify && !config.allow_insecure_tls_to_remote_hosts) {
    // Unverified TLS to a real host hands the secret and the tokens to whoever answers;
    // one forgotten switch must not do that.
    for (const auto* url : {&config.api_url, &config.login_url}) {
      const std::string host = url_host(*url);
      if (!is_loopback(host)) {
        return fail(ErrorCode::config,
                    fmt::format("insecure_skip_tls_verify is set but {} is not a loopback host: "
                                "refused, since anyone on the way could read the client secret "
                                "and tokens. Fix the certificate trust (ca_bundle) instead; if you "
                                "really mean it, also set allow_insecure_tls_to_remote_hosts",
                                *url));
      }
    }
  }
  return {};
}

constexpr std::string_view k_tenant_template = "{tenant}";

bool valid_tenant_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) != 0 || c == '_' || c == '-'; });
}

// What a tenant's store is, for finding two tenants that would share one: the SQLite
// file (its absolute path), or the PostgreSQL URL and the schema's tenant id (none when
// the URL names the schema itself).
std::string store_identity(const Config& c) {
  constexpr std::string_view k_sqlite = "sqlite:";
  if (c.store.rfind(k_sqlite, 0) == 0) {
    const std::string path = c.store.substr(k_sqlite.size());
    if (path.rfind("file:", 0) == 0) return "sqlite " + path;
    std::error_code ec;
    const auto full = std::filesystem::weakly_canonical(std::filesystem::absolute(path), ec);
    return "sqlite " + (ec ? path : full.string());
  }
  if (c.store.find("schema=") != std::string::npos) return "pg " + c.store;
  return "pg " + c.store + " tenant " + c.tenant_id;
}

}  // namespace

util::Result<Tenants> load_tenants(const Overrides& overrides, const Environment& env) {
  Config base;
  std::optional<std::string> file = overrides.config_file;
  if (!file) file = env("MDESYNC_CONFIG");
  toml::table doc;
  std::string path;
  if (file && !file->empty()) {
    path = *file;
    auto parsed = parse_file(path);
    if (!parsed) return tl::unexpected(parsed.error());
    doc = std::move(*parsed);
  }
  const toml::node* tenants_node = doc.get("tenants");
  const toml::array* tables = tenants_node != nullptr ? tenants_node->as_array() : nullptr;
  if (tenants_node != nullptr && (tables == nullptr || !tables->is_array_of_tables())) {
    return fail(
        ErrorCode::config,
        fmt::format("config file {}: tenants: expected [[tenants]] tables, one per tenant", path));
  }
  const bool multi = tables != nullptr;
  if (!path.empty()) {
    if (auto st = apply_table(base, doc, Source{"config file " + path, false}, path, false, multi);
        !st) {
      return tl::unexpected(st.error());
    }
  }
  // Layers: defaults, the file's shared keys, the environment, a tenant's own table,
  // flags (later wins): a tenant's table overrides the deployment's environment, a flag
  // of this run overrides everything.
  if (auto st = apply_environment(base, env); !st) return tl::unexpected(st.error());

  Tenants out;
  out.multi = multi;
  if (!multi) {
    if (!overrides.tenants.empty()) {
      return fail(ErrorCode::config,
                  fmt::format("--tenant {}: the configuration has no [[tenants]] tables (one "
                              "tenant, no names); drop --tenant or add [[tenants]] tables",
                              overrides.tenants.front()));
    }
    if (auto st = apply_flags_and_finish(base, overrides); !st) return tl::unexpected(st.error());
    if (base.store.find(k_tenant_template) != std::string::npos) {
      return fail(ErrorCode::config,
                  fmt::format("store {}: {{tenant}} names a tenant of [[tenants]] tables, but the "
                              "configuration has none",
                              base.store));
    }
    out.tenant_concurrency = base.tenant_concurrency;
    out.tenants.push_back(std::move(base));
    return out;
  }

  if (overrides.values.count("tenant_id") != 0) {
    return fail(ErrorCode::config,
                "--tenant-id: the configuration has [[tenants]] tables, each with its own "
                "tenant_id; choose tenants by name with --tenant NAME");
  }
  std::vector<Config> all;
  for (std::size_t i = 0; i < tables->size(); ++i) {
    const auto& table = *tables->get(i)->as_table();
    const std::string where = fmt::format("config file {}: [[tenants]] table {}", path, i + 1);
    const auto name = table["name"].value<std::string>();
    if (!name) {
      return fail(ErrorCode::config,
                  where +
                      ": name missing (a name of letters, digits, '-' and '_' that labels "
                      "the tenant's messages, metrics and store file)");
    }
    if (!valid_tenant_name(*name)) {
      return fail(
          ErrorCode::config,
          fmt::format("{}: name '{}': expected 1 to 64 letters, digits, '-' or '_'", where, *name));
    }
    for (const auto& other : all) {
      if (other.tenant_name == *name) {
        return fail(ErrorCode::config,
                    fmt::format("{}: name '{}' is used by an earlier [[tenants]] table too; "
                                "every tenant needs its own name",
                                where, *name));
      }
    }
    Config c = base;
    c.tenant_name = *name;
    c.sources.erase("tenant_id");
    c.tenant_id.clear();  // never the environment's: each table names its own
    const Source src{fmt::format("config file {}, tenant '{}'", path, *name), false};
    if (auto st = apply_table(c, table, src, path, true, true); !st) {
      return tl::unexpected(st.error());
    }
    if (c.tenant_id.empty()) {
      return fail(ErrorCode::config,
                  fmt::format("{}: tenant '{}' has no tenant_id", src.where, *name));
    }
    if (auto st = apply_flags_and_finish(c, overrides); !st) {
      auto e = st.error();
      if (e.message.find(*name) == std::string::npos)
        e.message = "tenant '" + *name + "': " + e.message;
      return tl::unexpected(e);
    }
    for (auto at = c.store.find(k_tenant_template); at != std::string::npos;
         at = c.store.find(k_tenant_template, at + name->size())) {
      c.store.replace(at, k_tenant_template.size(), *name);
    }
    all.push_back(std::move(c));
  }
  if (all.empty()) {
    return fail(ErrorCode::config, fmt::format("config file {}: no [[tenants]] tables", path));
  }
  // Two tenants must never write into one store: one SQLite file, or one schema.
  std::map<std::string, std::string> owner;
  for (const auto& c : all) {
    const auto [it, fresh] = owner.emplace(store_identity(c), c.tenant_name);
    if (fresh) continue;
    const bool sqlite = c.store.rfind("sqlite:", 0) == 0;
    return fail(ErrorCode::config,
                sqlite
                    ? fmt::format("tenants '{}' and '{}' would share the SQLite store {}: put "
                                  "{{tenant}} in the store URL's path (store = "
                                  "\"sqlite:/var/lib/mdesync/{{tenant}}.db\") or give each tenant "
                                  "its own store",
                                  it->second, c.tenant_name, c.store)
                    : fmt::format("tenants '{}' and '{}' would share one PostgreSQL schema ({}): "
                                  "give them different tenant ids, or a schema= per tenant "
                                  "(schema=mdesync_{{tenant}})",
                                  it->second, c.tenant_name, c.store));
  }

  out.tenant_concurrency = all.front().tenant_concurrency;
  std::vector<std::string> names;
  for (const auto& c : all) names.push_back(c.tenant_name);
  if (overrides.all_tenants || (overrides.tenants.empty() && all.size() == 1)) {
    out.tenants = std::move(all);
    return out;
  }
  if (overrides.tenants.empty()) {
    return fail(ErrorCode::config,
                fmt::format("the configuration has {} tenants ({}): choose one with --tenant "
                            "NAME (sync: --tenant, repeatable, or --all)",
                            all.size(), fmt::join(names, ", ")));
  }
  for (const auto& want : overrides.tenants) {
    if (std::find(names.begin(), names.end(), want) == names.end()) {
      return fail(ErrorCode::config,
                  fmt::format("--tenant {}: no such tenant in the configuration (its tenants: {})",
                              want, fmt::join(names, ", ")));
    }
  }
  for (auto& c : all) {
    if (std::find(overrides.tenants.begin(), overrides.tenants.end(), c.tenant_name) !=
        overrides.tenants.end()) {
      out.tenants.push_back(std::move(c));
    }
  }
  return out;
}

util::Result<Config> load(const Overrides& overrides, const Environment& env) {
  auto tenants = load_tenants(overrides, env);
  if (!tenants) return tl::unexpected(tenants.error());
  if (tenants->tenants.size() != 1) {
    return fail(ErrorCode::config, "this command reads one tenant: name one with --tenant NAME");
  }
  return std::move(tenants->tenants.front());
}

Environment process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

const std::vector<KeyInfo>& known_keys() {
  static const std::vector<KeyInfo> keys = [] {
    std::vector<KeyInfo> k;
    for (const auto& s : specs()) k.push_back(s.info);
    return k;
  }();
  return keys;
}

void add_flags(CLI::App& app, Overrides& overrides, FlagGroups groups) {
  app.add_option("--config", overrides.config_file, "TOML configuration file (env MDESYNC_CONFIG)");
  app.add_option("--tenant", overrides.tenants,
                 groups.sync ? "Sync this tenant of the config's [[tenants]] tables, by name "
                               "(repeatable)"
                             : "The tenant of the config's [[tenants]] tables to use, by name");
  auto add = [&](const std::string& key) {
    const KeySpec* spec = find_spec(key);
    std::string desc = spec->info.description;
    if (!spec->info.default_text.empty()) desc += " [default: " + spec->info.default_text + "]";
    app.add_option_function<std::string>(
        flag_name(key), [&overrides, key](const std::string& v) { overrides.values[key] = v; },
        desc);
  };
  if (groups.connection) {
    for (const char* key : {"api_url",
                            "login_url",
                            "tenant_id",
                            "client_id",
                            "client_secret_file",
                            "audience",
                            "auth",
                            "cloud",
                            "region",
                            "client_certificate_path",
                            "client_certificate_password_file",
                            "managed_identity_endpoint",
                            "token_version",
                            "max_retries",
                            "proxy",
                            "ca_bundle",
                            "connect_timeout_seconds",
                            "low_speed_timeout_seconds",
                            "download_concurrency",
                            "rate_limit_scale"}) {
      add(key);
    }
    app.add_flag_function(
        "--insecure-skip-tls-verify",
        [&overrides](std::int64_t) { overrides.values["insecure_skip_tls_verify"] = "true"; },
        "Do not verify TLS certificates (only for a local simulator with a test certificate)");
    app.add_flag_function(
        "--allow-insecure-tls-to-remote-hosts",
        [&overrides](std::int64_t) {
          overrides.values["allow_insecure_tls_to_remote_hosts"] = "true";
        },
        "Accept --insecure-skip-tls-verify for hosts other than 127.0.0.1/localhost (dangerous)");
  }
  if (groups.store) add("store");
  if (groups.sync) {
    for (const char* key :
         {"mode", "strategy", "removal_guard", "removal_guard_min_rows", "tenant_concurrency"}) {
      add(key);
    }
    app.add_option(
           "--objects", overrides.objects,
           "Objects to sync, comma-separated: machine (always), package, installed_package, "
           "vulnerability, vulnerability_definition [default: all]")
        ->delimiter(',');
    app.add_flag_function(
        "--include-non-cpe",
        [&overrides](std::int64_t) { overrides.values["include_non_cpe"] = "true"; },
        "Also sync software without a CPE as installed packages");
    app.add_flag_function(
        "--accept-removals",
        [&overrides](std::int64_t) { overrides.values["accept_removals"] = "true"; },
        "Let this run mark rows Removed or Fixed beyond the removal guard (after checking "
        "that the removals are real)");
  }
}

util::Status require_credentials(const Config& config) {
  std::vector<std::string> missing;
  if (config.tenant_id.empty()) missing.emplace_back("tenant_id (--tenant-id or AZURE_TENANT_ID)");
  if (config.auth != "managed_identity" && config.client_id.empty()) {
    missing.emplace_back("client_id (--client-id or AZURE_CLIENT_ID)");
  }
  if (config.auth == "certificate") {
    if (config.client_certificate_path.empty()) {
      missing.emplace_back(
          "client certificate (client_certificate_path, --client-certificate-path or "
          "AZURE_CLIENT_CERTIFICATE_PATH)");
    }
  } else if (config.auth != "managed_identity" && config.client_secret.empty()) {
    missing.emplace_back(
        "client secret (AZURE_CLIENT_SECRET, --client-secret-file, or client_secret in the config "
        "file), or a certificate (client_certificate_path), or auth = \"managed_identity\"");
  }
  if (missing.empty()) return {};
  return fail(
      ErrorCode::config,
      fmt::format("missing credentials for auth = {}: {}. See README, 'Signing in'.",
                  config.auth.empty() ? "client_secret" : config.auth, fmt::join(missing, "; ")));
}

}  // namespace mdesync::config
