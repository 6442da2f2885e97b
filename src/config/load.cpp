#include "config/load.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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

Status apply_file(Config& config, const std::string& path) {
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
  toml::table doc;
  try {
    doc = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return fail(ErrorCode::config, fmt::format("config file {}: line {}, column {}: {}", path,
                                               where.line, where.column, e.description()));
  } catch (const std::exception& e) {
    return fail(ErrorCode::config, fmt::format("config file {}: {}", path, e.what()));
  }
  const Source src{"config file " + path, false};
  for (const auto& [k, node] : doc) {
    const std::string key(k.str());
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
                  fmt::format("config file {}: unknown key '{}' (known keys: {}, filters, report)",
                              path, key,
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

}  // namespace

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
    for (const char* key : {"mode", "strategy", "removal_guard", "removal_guard_min_rows"}) {
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

util::Result<Config> load(const Overrides& overrides, const Environment& env) {
  Config config;
  std::optional<std::string> file = overrides.config_file;
  if (!file) file = env("MDESYNC_CONFIG");
  if (file && !file->empty()) {
    if (auto st = apply_file(config, *file); !st) return tl::unexpected(st.error());
  }

  // Environment: the Azure SDK's names for the credentials, MDESYNC_<KEY> for the rest.
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
        return tl::unexpected(st.error());
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
        return tl::unexpected(st.error());
      }
      config.sources[spec.info.name] = "environment variable " + var;
    }
  }

  for (const auto& [key, text] : overrides.values) {
    const KeySpec* spec = find_spec(key);
    if (spec == nullptr || !spec->from_flag) {
      return fail(ErrorCode::config, fmt::format("unknown option '{}'", key));
    }
    if (auto st = spec->apply(config, Value{text}, Source{"flag " + flag_name(key), true}); !st) {
      return tl::unexpected(st.error());
    }
    config.sources[key] = "flag " + flag_name(key);
  }
  if (!overrides.objects.empty()) {
    auto objects = as_objects("objects", Value{overrides.objects}, Source{"flag --objects", true});
    if (!objects) return tl::unexpected(objects.error());
    config.objects = std::move(*objects);
  }
  if (auto st = resolve_signin(config); !st) return tl::unexpected(st.error());
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
  return config;
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
