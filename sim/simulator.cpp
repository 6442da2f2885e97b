#include "simulator.hpp"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>
#include <variant>

#include <nlohmann/json.hpp>

#include "exports.hpp"
#include "odata.hpp"
#include "sim_util.hpp"
#include "world.hpp"

namespace mdesim {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using mdesync::util::ErrorCode;
using mdesync::util::fail;
using Steady = std::chrono::steady_clock;

constexpr const char* k_audience = "https://api.securitycenter.microsoft.com";
constexpr const char* k_meta = "/api/$metadata#";

// A response before it is handed to httplib: either text or a chunk generator.
struct Reply {
  int status = 200;
  std::string content_type = "application/json; odata.metadata=minimal; charset=utf-8";
  std::string text;
  std::function<bool(std::string&)> next;  // fills the next chunk; false at the end
  std::optional<std::uint64_t> length;     // for streams of known size
  std::vector<std::pair<std::string, std::string>> headers;
};

Reply error_reply(int status, const std::string& code, const std::string& message,
                  const std::string& target) {
  Reply r;
  r.status = status;
  r.content_type = "application/json; charset=utf-8";
  r.text = json{{"error", {{"code", code}, {"message", message}, {"target", target}}}}.dump();
  return r;
}

Reply azure_error(int status, const std::string& code, const std::string& message,
                  const std::string& detail) {
  Reply r;
  r.status = status;
  r.content_type = "application/xml";
  r.text =
      "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>" + code + "</Code><Message>" +
      message + "\nRequestId:" + guid(static_cast<std::uint64_t>(status), 1) +
      "\nTime:" + iso_time(0) + "</Message>" +
      (detail.empty() ? ""
                      : "<AuthenticationErrorDetail>" + detail + "</AuthenticationErrorDetail>") +
      "</Error>";
  return r;
}

struct RateLimit {
  std::uint32_t per_minute;
  std::uint32_t per_hour;
};

RateLimit rate_limit_of(const std::string& name) {
  if (name.rfind("machines.", 0) == 0) {
    if (name == "machines.vulnerabilities") return {50, 1500};
    if (name == "machines.software" || name == "machines.recommendations") return {100, 1500};
    return {100, 1500};
  }
  if (name.size() > 6 && name.compare(name.size() - 6, 6, ".files") == 0) return {5, 20};
  if (name.rfind("export.", 0) == 0) return {30, 1000};
  return {100, 1500};
}

std::string param(const httplib::Request& req, std::string_view name) {
  for (const auto& [k, v] : req.params) {
    if (iequals(k, name)) return v;
  }
  return {};
}

bool has_param(const httplib::Request& req, std::string_view name) {
  for (const auto& [k, v] : req.params) {
    if (iequals(k, name)) return true;
  }
  return false;
}

std::optional<long long> parse_int(const std::string& s) {
  if (s.empty()) return std::nullopt;
  std::size_t used = 0;
  try {
    const long long v = std::stoll(s, &used);
    if (used != s.size()) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::map<std::string, std::string> parse_form(const std::string& body) {
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  while (pos <= body.size()) {
    const auto amp = body.find('&', pos);
    const std::string part =
        body.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    const auto eq = part.find('=');
    if (!part.empty()) {
      out[httplib::detail::decode_url(part.substr(0, eq), true)] =
          eq == std::string::npos ? "" : httplib::detail::decode_url(part.substr(eq + 1), true);
    }
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return out;
}

std::string to_pascal(std::string line) {
  // Upper-cases the first letter of every member name (keys are the strings followed by ':').
  bool in_str = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_str) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_str = false;
        if (i + 1 < line.size() && line[i + 1] == ':' && start + 1 < line.size()) {
          line[start + 1] =
              static_cast<char>(std::toupper(static_cast<unsigned char>(line[start + 1])));
        }
      }
    } else if (c == '"') {
      in_str = true;
      start = i;
    }
  }
  return line;
}

void add_extra_member(std::string& line) {
  if (!line.empty() && line.back() == '}') {
    line.pop_back();
    line += ",\"simUnknownColumn\":\"extra\",\"simUnknownNumber\":42}";
  }
}

json faults_json(const Faults& f) {
  json errors = json::array();
  for (const auto& e : f.errors) {
    errors.push_back({{"endpoint", e.endpoint},
                      {"status", e.status},
                      {"count", e.count},
                      {"retryAfter", e.retry_after_s}});
  }
  return {{"errors", errors},
          {"resetEndpoint", f.reset_endpoint},
          {"resetConnection", f.reset_connection},
          {"resetAfterBytes", f.reset_after_bytes},
          {"slowEndpoint", f.slow_endpoint},
          {"slowBody", f.slow_body},
          {"slowDelayMs", f.slow_delay_ms},
          {"expireTokens", f.expire_tokens},
          {"expiredSas", f.expired_sas},
          {"truncatedGzip", f.truncated_gzip},
          {"malformedJsonLine", f.malformed_json_line},
          {"emptyExportFile", f.empty_export_file},
          {"duplicateRows", f.duplicate_rows},
          {"strayRow", f.stray_row},
          {"loopingNextLink", f.looping_next_link},
          {"extraFields", f.extra_fields},
          {"pascalCaseKeys", f.pascal_case_keys},
          {"machineNotFound", f.machine_not_found}};
}

Faults faults_from_json(const json& j) {
  Faults f;
  if (j.contains("errors")) {
    for (const auto& e : j.at("errors")) {
      ErrorFault ef;
      ef.endpoint = e.value("endpoint", std::string("*"));
      ef.status = e.value("status", 503);
      ef.count = e.value("count", 1U);
      ef.retry_after_s = e.value("retryAfter", 1);
      f.errors.push_back(ef);
    }
  }
  f.reset_endpoint = j.value("resetEndpoint", std::string("*"));
  f.reset_connection = j.value("resetConnection", 0U);
  f.reset_after_bytes = j.value("resetAfterBytes", 512U);
  f.slow_endpoint = j.value("slowEndpoint", std::string("*"));
  f.slow_body = j.value("slowBody", 0U);
  f.slow_delay_ms = j.value("slowDelayMs", 20U);
  f.expire_tokens = j.value("expireTokens", false);
  f.expired_sas = j.value("expiredSas", 0U);
  f.truncated_gzip = j.value("truncatedGzip", 0U);
  f.malformed_json_line = j.value("malformedJsonLine", 0U);
  f.empty_export_file = j.value("emptyExportFile", 0U);
  f.duplicate_rows = j.value("duplicateRows", 0U);
  f.stray_row = j.value("strayRow", 0U);
  f.looping_next_link = j.value("loopingNextLink", 0U);
  f.extra_fields = j.value("extraFields", 0U);
  f.pascal_case_keys = j.value("pascalCaseKeys", 0U);
  f.machine_not_found = j.value("machineNotFound", 0U);
  return f;
}

json truth_json(const Truth& t, bool keys) {
  json j = {{"now", t.now},
            {"snapshotTime", t.snapshot_time},
            {"machines", t.machines},
            {"software", t.software},
            {"installedSoftware", t.installed_software},
            {"nonCpeInstalledSoftware", t.non_cpe_installed_software},
            {"openFindings", t.open_findings},
            {"nullCveRows", t.null_cve_rows},
            {"definitions", t.definitions},
            {"recommendations", t.recommendations},
            {"deltaEvents", t.delta_events}};
  if (keys) {
    j["openFindingKeys"] = t.open_finding_keys;
    j["installedSoftwareKeys"] = t.installed_software_keys;
  }
  return j;
}

struct TokenInfo {
  std::int64_t expires = 0;  // real Unix seconds
  std::uint64_t generation = 0;
  std::vector<std::string> roles;
  bool wrong_audience = false;
};

struct Route {
  std::string name;
  std::vector<std::string> roles;  // any of them grants access
};

class SimulatorImpl final : public Simulator {
 public:
  explicit SimulatorImpl(Options options)
      : m_opt(std::move(options)),
        m_store(cache_root(m_opt), threads(m_opt)),
        m_roles(m_opt.roles),
        m_rate_enabled(m_opt.rate_limits),
        m_rate_scale(m_opt.rate_limit_scale),
        m_secret(hash_combine(m_opt.world.seed, 0x51617)) {}

  ~SimulatorImpl() override { stop(); }

  mdesync::util::Status init() {
    m_world = std::make_unique<World>(m_opt.world);
    auto snap = m_store.ensure(*m_world);
    if (!snap) return tl::unexpected(snap.error());
    m_snapshot = *snap;
    if (!m_opt.tls_cert.empty() || !m_opt.tls_key.empty()) {
      auto ssl =
          std::make_unique<httplib::SSLServer>(m_opt.tls_cert.c_str(), m_opt.tls_key.c_str());
      if (!ssl->is_valid()) {
        return fail(ErrorCode::config,
                    "cannot load TLS certificate " + m_opt.tls_cert + " / key " + m_opt.tls_key);
      }
      m_server = std::move(ssl);
      m_scheme = "https";
    } else {
      m_server = std::make_unique<httplib::Server>();
    }
    m_server->new_task_queue = [] { return new httplib::ThreadPool(16); };
    m_server->set_write_timeout(120, 0);
    m_server->set_read_timeout(30, 0);
    m_server->set_payload_max_length(1U << 20U);
    auto h = [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); };
    m_server->Get(".*", h);
    m_server->Post(".*", h);
    m_server->Delete(".*", h);
    m_server->Put(".*", h);
    if (m_opt.port == 0) {
      m_port = m_server->bind_to_any_port(m_opt.host);
    } else {
      m_port = m_server->bind_to_port(m_opt.host, m_opt.port) ? m_opt.port : -1;
    }
    if (m_port <= 0)
      return fail(ErrorCode::transport,
                  "cannot bind " + m_opt.host + ":" + std::to_string(m_opt.port));
    m_base = m_scheme + "://" + m_opt.host + ":" + std::to_string(m_port);
    m_thread = std::thread([this] { m_server->listen_after_bind(); });
    for (int i = 0; i < 500 && !m_server->is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return {};
  }

  [[nodiscard]] std::string base_url() const override { return m_base; }
  [[nodiscard]] int port() const override { return m_port; }
  [[nodiscard]] Credentials credentials() const override { return m_opt.credentials; }

  AdvanceResult advance(int hours) override {
    std::unique_lock lock(m_world_mutex);
    AdvanceResult r;
    r.previous_time = iso_time(m_world->now());
    const int steps = hours <= 0 ? 0 : (hours + 5) / 6;
    for (int i = 0; i < steps; ++i) r.events += m_world->step();
    r.steps = static_cast<std::uint32_t>(steps);
    r.now = iso_time(m_world->now());
    if (steps > 0) {
      if (auto snap = m_store.ensure(*m_world)) m_snapshot = *snap;
    }
    return r;
  }

  [[nodiscard]] Truth truth() const override {
    std::shared_lock lock(m_world_mutex);
    return m_world->truth();
  }

  void add_faults(const Faults& f) override {
    std::lock_guard lock(m_mutex);
    for (const auto& e : f.errors) m_faults.errors.push_back(e);
    if (f.reset_connection > 0) {
      m_faults.reset_endpoint = f.reset_endpoint;
      m_faults.reset_after_bytes = f.reset_after_bytes;
    }
    if (f.slow_body > 0) {
      m_faults.slow_endpoint = f.slow_endpoint;
      m_faults.slow_delay_ms = f.slow_delay_ms;
    }
    m_faults.reset_connection += f.reset_connection;
    m_faults.slow_body += f.slow_body;
    if (f.expire_tokens) ++m_token_generation;
    m_faults.expired_sas += f.expired_sas;
    m_faults.truncated_gzip += f.truncated_gzip;
    m_faults.malformed_json_line += f.malformed_json_line;
    m_faults.empty_export_file += f.empty_export_file;
    m_faults.duplicate_rows += f.duplicate_rows;
    m_faults.stray_row += f.stray_row;
    m_faults.looping_next_link += f.looping_next_link;
    m_faults.extra_fields += f.extra_fields;
    m_faults.pascal_case_keys += f.pascal_case_keys;
    m_faults.machine_not_found += f.machine_not_found;
  }

  void clear_faults() override {
    std::lock_guard lock(m_mutex);
    m_faults = Faults{};
  }

  [[nodiscard]] Faults pending_faults() const override {
    std::lock_guard lock(m_mutex);
    return m_faults;
  }

  void set_roles(std::vector<std::string> roles) override {
    std::lock_guard lock(m_mutex);
    m_roles = std::move(roles);
  }

  void set_rate_limits(bool enabled, double scale) override {
    std::lock_guard lock(m_mutex);
    m_rate_enabled = enabled;
    m_rate_scale = scale;
    m_calls.clear();
  }

  [[nodiscard]] std::map<std::string, EndpointStats> stats() const override {
    std::lock_guard lock(m_mutex);
    return m_stats;
  }

  void reset_stats() override {
    std::lock_guard lock(m_mutex);
    m_stats.clear();
  }

  void stop() override {
    std::lock_guard lock(m_stop_mutex);
    if (m_server) m_server->stop();
    if (m_thread.joinable()) m_thread.join();
  }

 private:
  static fs::path cache_root(const Options& o) {
    fs::path base =
        o.cache_dir.empty() ? fs::temp_directory_path() / "mdesim-cache" : fs::path(o.cache_dir);
    return base / world_cache_name(o.world);
  }
  static unsigned threads(const Options& o) {
    if (o.generator_threads != 0) return o.generator_threads;
    return std::clamp(std::thread::hardware_concurrency(), 1U, 4U);
  }

  std::string next_target() { return guid(m_secret, m_requests.fetch_add(1)); }

  // ---- dispatch -------------------------------------------------------------------

  void handle(const httplib::Request& req, httplib::Response& res) {
    const std::string lp = lower(req.path);
    std::string name;
    Reply reply;
    try {
      if (lp.rfind("/sim/", 0) == 0) {
        reply = admin(req, lp);
        install(reply, res);
        return;
      }
      if (req.method == "POST" &&
          (lp.ends_with("/oauth2/v2.0/token") || lp.ends_with("/oauth2/token"))) {
        name = lp.ends_with("/oauth2/token") ? "token.v1" : "token.v2";
        reply = token(req, lp, name == "token.v2");
      } else if (req.method == "GET" && lp.rfind("/tvm-export/", 0) == 0) {
        name = "download";
        reply = download(req);
      } else if (req.method == "GET" && (lp == "/api" || lp.rfind("/api/", 0) == 0)) {
        reply = api(req, lp, name);
      } else {
        name = "unknown";
        reply = error_reply(404, "NotFound", "No route for " + req.method + " " + req.path,
                            next_target());
      }
    } catch (const std::exception& e) {
      reply = error_reply(500, "InternalServerError", e.what(), next_target());
    }
    apply_body_faults(name, reply);
    {
      std::lock_guard lock(m_mutex);
      auto& s = m_stats[name];
      ++s.total;
      ++s.by_status[reply.status];
    }
    install(reply, res);
    res.set_header("Date", http_date(world_now()));
  }

  // The world's clock, which every answer states in its Date header as the service does.
  std::int64_t world_now() {
    std::shared_lock lock(m_world_mutex);
    return m_world->now();
  }

  // IMF-fixdate (RFC 9110), "Sun, 06 Nov 1994 08:49:37 GMT".
  static std::string http_date(std::int64_t unix_seconds) {
    const std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    const std::size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return std::string(buf, n);
  }

  std::optional<Reply> take_error_fault(const std::string& name) {
    std::lock_guard lock(m_mutex);
    for (auto it = m_faults.errors.begin(); it != m_faults.errors.end(); ++it) {
      const bool api_name = name != "token.v1" && name != "token.v2" && name != "download";
      const bool match = it->endpoint == name || (it->endpoint == "*" && api_name) ||
                         (it->endpoint == "token" && !api_name && name != "download");
      if (!match) continue;
      const ErrorFault f = *it;
      if (--it->count == 0) m_faults.errors.erase(it);
      Reply r;
      if (name.rfind("token.", 0) == 0) {
        r.status = f.status;
        r.text = json{{"error", "temporarily_unavailable"},
                      {"error_description", "AADSTS90055: simulated fault"},
                      {"error_codes", {90055}}}
                     .dump();
      } else if (f.status == 429) {
        r = error_reply(429, "TooManyRequests", "Simulated throttling", next_target());
      } else if (f.status == 503) {
        r = error_reply(503, "ServiceUnavailable", "Simulated outage", next_target());
      } else if (f.status >= 500) {
        r = error_reply(f.status, "InternalServerError", "", next_target());
      } else {
        r = error_reply(f.status, f.status == 404 ? "NotFound" : "BadRequest", "Simulated error",
                        next_target());
      }
      if (f.status == 429 || f.status == 503)
        r.headers.emplace_back("Retry-After", std::to_string(f.retry_after_s));
      return r;
    }
    return std::nullopt;
  }

  bool consume(std::uint32_t Faults::*field) {
    std::lock_guard lock(m_mutex);
    if (m_faults.*field == 0) return false;
    --(m_faults.*field);
    return true;
  }

  void apply_body_faults(const std::string& name, Reply& r) {
    bool reset = false;
    bool slow = false;
    std::uint32_t after = 0;
    std::uint32_t delay = 0;
    {
      std::lock_guard lock(m_mutex);
      auto match = [&](const std::string& ep) { return ep == "*" || ep == name; };
      if (m_faults.reset_connection > 0 && match(m_faults.reset_endpoint)) {
        --m_faults.reset_connection;
        reset = true;
        after = m_faults.reset_after_bytes;
      }
      if (m_faults.slow_body > 0 && match(m_faults.slow_endpoint)) {
        --m_faults.slow_body;
        slow = true;
        delay = m_faults.slow_delay_ms;
      }
    }
    if (!reset && !slow) return;
    if (!r.next) {
      auto text = std::make_shared<std::string>(std::move(r.text));
      auto pos = std::make_shared<std::size_t>(0);
      r.length = text->size();
      r.next = [text, pos](std::string& chunk) {
        if (*pos >= text->size()) return false;
        const std::size_t n = std::min<std::size_t>(64 * 1024, text->size() - *pos);
        chunk.assign(*text, *pos, n);
        *pos += n;
        return true;
      };
    }
    auto inner = std::move(r.next);
    auto sent = std::make_shared<std::uint64_t>(0);
    auto pending = std::make_shared<std::string>();
    r.next = [inner, sent, pending, reset, slow, after, delay](std::string& chunk) {
      if (pending->empty() && !inner(*pending)) return false;
      const std::size_t piece =
          slow ? std::min<std::size_t>(pending->size(), 1024) : pending->size();
      if (slow) std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      if (reset && *sent + piece >= after) {
        const std::size_t allowed = after > *sent ? static_cast<std::size_t>(after - *sent) : 0;
        if (allowed == 0) throw std::runtime_error("simulated connection reset");
        chunk.assign(*pending, 0, allowed);
        pending->clear();
        *sent = after;
        return true;
      }
      chunk.assign(*pending, 0, piece);
      pending->erase(0, piece);
      *sent += piece;
      return true;
    };
  }

  static void install(Reply& r, httplib::Response& res) {
    res.status = r.status;
    for (const auto& [k, v] : r.headers) res.set_header(k, v);
    if (r.status < 300 && r.content_type.rfind("application/json", 0) == 0)
      res.set_header("OData-Version", "4.0");
    if (!r.next) {
      res.set_content(r.text, r.content_type);
      return;
    }
    auto gen = std::make_shared<std::function<bool(std::string&)>>(std::move(r.next));
    auto buf = std::make_shared<std::string>();
    auto write_chunk = [gen, buf](httplib::DataSink& sink) -> int {
      // 1 = wrote, 0 = end, -1 = abort.
      buf->clear();
      try {
        while (buf->empty()) {
          if (!(*gen)(*buf)) return 0;
        }
      } catch (const std::exception&) {
        return -1;
      }
      return sink.write(buf->data(), buf->size()) ? 1 : -1;
    };
    if (r.length) {
      res.set_content_provider(static_cast<std::size_t>(*r.length), r.content_type,
                               [write_chunk](std::size_t, std::size_t, httplib::DataSink& sink) {
                                 return write_chunk(sink) == 1;
                               });
    } else {
      res.set_chunked_content_provider(r.content_type,
                                       [write_chunk](std::size_t, httplib::DataSink& sink) {
                                         const int rc = write_chunk(sink);
                                         if (rc == 0) sink.done();
                                         return rc >= 0;
                                       });
    }
  }

  // ---- admin ----------------------------------------------------------------------

  Reply admin(const httplib::Request& req, const std::string& lp) {
    Reply r;
    r.content_type = "application/json";
    if (lp == "/sim/advance" && req.method == "POST") {
      const auto hours = parse_int(param(req, "hours"));
      if (!hours || *hours < 0)
        return error_reply(400, "InvalidInput", "hours must be a non-negative integer", "");
      const AdvanceResult a = advance(static_cast<int>(*hours));
      r.text = json{{"previousTime", a.previous_time},
                    {"now", a.now},
                    {"steps", a.steps},
                    {"events", a.events}}
                   .dump();
    } else if (lp == "/sim/truth" && req.method == "GET") {
      r.text = truth_json(truth(), param(req, "keys") != "false").dump();
    } else if (lp == "/sim/faults" && req.method == "POST") {
      try {
        add_faults(faults_from_json(json::parse(req.body.empty() ? "{}" : req.body)));
      } catch (const std::exception& e) {
        return error_reply(400, "InvalidRequestBody", e.what(), "");
      }
      r.text = faults_json(pending_faults()).dump();
    } else if (lp == "/sim/faults" && req.method == "GET") {
      r.text = faults_json(pending_faults()).dump();
    } else if ((lp == "/sim/faults" && req.method == "DELETE") ||
               (lp == "/sim/faults/clear" && req.method == "POST")) {
      clear_faults();
      r.text = faults_json(pending_faults()).dump();
    } else if (lp == "/sim/stats" && req.method == "GET") {
      json eps = json::object();
      std::uint64_t total = 0;
      for (const auto& [n, s] : stats()) {
        json by = json::object();
        for (const auto& [st, c] : s.by_status) by[std::to_string(st)] = c;
        eps[n] = {{"total", s.total}, {"byStatus", by}};
        total += s.total;
      }
      r.text = json{{"total", total}, {"endpoints", eps}}.dump();
    } else if (lp == "/sim/stats/reset" && req.method == "POST") {
      reset_stats();
      r.text = "{}";
    } else if (lp == "/sim/roles" && req.method == "POST") {
      try {
        set_roles(json::parse(req.body).at("roles").get<std::vector<std::string>>());
      } catch (const std::exception& e) {
        return error_reply(400, "InvalidRequestBody", e.what(), "");
      }
      r.text = "{}";
    } else if (lp == "/sim/ratelimits" && req.method == "POST") {
      try {
        const auto j = json::parse(req.body);
        set_rate_limits(j.value("enabled", true), j.value("scale", 1.0));
      } catch (const std::exception& e) {
        return error_reply(400, "InvalidRequestBody", e.what(), "");
      }
      r.text = "{}";
    } else if (lp == "/sim/health") {
      r.text = "{\"status\":\"ok\"}";
    } else {
      return error_reply(404, "NotFound", "unknown admin endpoint " + req.path, "");
    }
    return r;
  }

  // ---- token service --------------------------------------------------------------

  Reply token_error(int status, const std::string& error, int code, const std::string& text) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const std::string trace = next_target();
    const std::string corr = next_target();
    const std::string ts = aad_time(now);
    Reply r;
    r.status = status;
    r.content_type = "application/json; charset=utf-8";
    r.text =
        json{{"error", error},
             {"error_description", "AADSTS" + std::to_string(code) + ": " + text +
                                       "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + corr +
                                       "\r\nTimestamp: " + ts},
             {"error_codes", {code}},
             {"timestamp", ts},
             {"trace_id", trace},
             {"correlation_id", corr},
             {"error_uri", "https://login.microsoftonline.com/error?code=" + std::to_string(code)}}
            .dump();
    return r;
  }

  Reply token(const httplib::Request& req, const std::string& lp, bool v2) {
    if (auto f = take_error_fault(v2 ? "token.v2" : "token.v1")) return *f;
    const std::string tenant = req.path.substr(1, req.path.find('/', 1) - 1);
    (void)lp;
    const Credentials& c = m_opt.credentials;
    if (!iequals(tenant, c.tenant_id) && !iequals(tenant, c.tenant_domain)) {
      return token_error(400, "invalid_request", 90002,
                         "Tenant '" + tenant +
                             "' not found. Check to make sure you have the correct tenant ID and "
                             "are signing into the correct cloud.");
    }
    auto form = parse_form(req.body);
    if (req.has_header("Authorization")) {
      const std::string auth = req.get_header_value("Authorization");
      if (auth.size() > 6 && iequals(auth.substr(0, 6), "basic ")) {
        if (auto dec = unbase64(auth.substr(6))) {
          const auto colon = dec->find(':');
          if (colon != std::string::npos) {
            form.emplace("client_id", httplib::detail::decode_url(dec->substr(0, colon), true));
            form.emplace("client_secret",
                         httplib::detail::decode_url(dec->substr(colon + 1), true));
          }
        }
      }
    }
    for (const char* field : {"grant_type", "client_id"}) {
      if (form[field].empty()) {
        return token_error(
            400, "invalid_request", 900144,
            std::string("The request body must contain the following parameter: '") + field + "'.");
      }
    }
    if (form["grant_type"] != "client_credentials") {
      return token_error(
          400, "unsupported_grant_type", 70003,
          "The app requested an unsupported grant type '" + form["grant_type"] + "'.");
    }
    const bool assertion = !form["client_assertion"].empty();
    if (form["client_secret"].empty() && !assertion) {
      return token_error(400, "invalid_request", 900144,
                         "The request body must contain the following parameter: "
                         "'client_assertion' or 'client_secret'.");
    }
    const char* target_field = v2 ? "scope" : "resource";
    if (form[target_field].empty()) {
      return token_error(400, "invalid_request", 900144,
                         std::string("The request body must contain the following parameter: '") +
                             target_field + "'.");
    }
    if (!iequals(form["client_id"], c.client_id)) {
      return token_error(400, "unauthorized_client", 700016,
                         "Application with identifier '" + form["client_id"] +
                             "' was not found in the directory '" + tenant + "'.");
    }
    if (assertion || form["client_secret"] != c.client_secret) {
      return token_error(
          401, "invalid_client", 7000215,
          "Invalid client secret provided. Ensure the secret being sent in the request is the "
          "client secret value, not the client secret ID, for a secret added to app '" +
              c.client_id + "'.");
    }
    bool wrong_audience = false;
    std::string aud = k_audience;
    const std::string target = form[target_field];
    if (v2) {
      if (target == std::string(k_audience) + "/.default" ||
          target == "https://securitycenter.onmicrosoft.com/windowsatpservice/.default") {
      } else if (target == "https://api.security.microsoft.com/.default") {
        wrong_audience = true;
        aud = "https://api.security.microsoft.com";
      } else {
        return token_error(
            400, "invalid_scope", 70011,
            "The provided request must include a 'scope' input parameter. The provided value for "
            "the input parameter 'scope' is not valid. The scope " +
                target + " is not valid.");
      }
    } else if (target != k_audience &&
               target != "https://securitycenter.onmicrosoft.com/windowsatpservice") {
      return token_error(400, "invalid_resource", 500011,
                         "The resource principal named " + target +
                             " was not found in the tenant named " + tenant + ".");
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const auto lifetime = m_opt.token_lifetime.count();
    TokenInfo info;
    info.expires = now + lifetime;
    info.wrong_audience = wrong_audience;
    std::string tok;
    {
      std::lock_guard lock(m_mutex);
      info.roles = m_roles;
      info.generation = m_token_generation;
      const std::uint64_t n = ++m_tokens_issued;
      const json header = {{"typ", "JWT"}, {"alg", "RS256"}, {"kid", "mdesim"}};
      const json payload = {{"aud", aud},
                            {"iss", "https://sts.windows.net/" + c.tenant_id + "/"},
                            {"iat", now},
                            {"nbf", now},
                            {"exp", now + lifetime},
                            {"appid", c.client_id},
                            {"oid", guid(m_secret, 99)},
                            {"roles", info.roles},
                            {"tid", c.tenant_id},
                            {"ver", "1.0"},
                            {"uti", guid(m_secret, n)}};
      const std::string body = base64(header.dump(), true) + "." + base64(payload.dump(), true);
      tok = body + "." + base64(hex40(hash_str(body, m_secret), n), true);
      m_tokens[tok] = info;
    }
    Reply r;
    r.content_type = "application/json; charset=utf-8";
    if (v2) {
      r.text = json{
          {"token_type", "Bearer"},
          {"expires_in", lifetime},
          {"ext_expires_in", lifetime},
          {"access_token",
           tok}}.dump();
    } else {
      r.text = json{
          {"token_type", "Bearer"},
          {"expires_in", std::to_string(lifetime)},
          {"ext_expires_in", std::to_string(lifetime)},
          {"expires_on", std::to_string(now + lifetime)},
          {"not_before", std::to_string(now)},
          {"resource", target},
          {"access_token",
           tok}}.dump();
    }
    r.headers.emplace_back("Cache-Control", "no-store, no-cache");
    return r;
  }

  // ---- API ------------------------------------------------------------------------

  std::optional<Reply> authorize(const httplib::Request& req, const Route& route) {
    const std::string auth = req.get_header_value("Authorization");
    if (auth.size() < 8 || !iequals(auth.substr(0, 7), "bearer ")) {
      return with_www(error_reply(401, "Unauthorized",
                                  "Authorization header is missing or is not a Bearer token",
                                  next_target()));
    }
    const std::string tok = auth.substr(7);
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    std::lock_guard lock(m_mutex);
    auto it = m_tokens.find(tok);
    if (it == m_tokens.end()) {
      return with_www(
          error_reply(401, "Unauthorized", "The access token is invalid", next_target()));
    }
    if (it->second.expires <= now || it->second.generation != m_token_generation) {
      return with_www(
          error_reply(401, "Unauthorized", "The access token has expired", next_target()));
    }
    if (it->second.wrong_audience) {
      return error_reply(403, "Forbidden", "The access token audience is not valid for this API",
                         next_target());
    }
    for (const auto& role : route.roles) {
      if (std::find(it->second.roles.begin(), it->second.roles.end(), role) !=
          it->second.roles.end())
        return std::nullopt;
    }
    return error_reply(
        403, "Forbidden",
        "The application does not have any of the required application permissions (" +
            route.roles.front() + ") to access the resource.",
        next_target());
  }

  static Reply with_www(Reply r) {
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }

  std::optional<Reply> rate_limit(const std::string& name) {
    std::lock_guard lock(m_mutex);
    if (!m_rate_enabled) return std::nullopt;
    const RateLimit base = rate_limit_of(name);
    const auto per_min =
        static_cast<std::size_t>(std::max(1.0, std::floor(base.per_minute * m_rate_scale)));
    const auto per_hour =
        static_cast<std::size_t>(std::max(1.0, std::floor(base.per_hour * m_rate_scale)));
    auto& calls = m_calls[name];
    const auto now = Steady::now();
    while (!calls.empty() && now - calls.front() >= std::chrono::hours(1)) calls.pop_front();
    const auto minute_begin = std::lower_bound(
        calls.begin(), calls.end(), now - std::chrono::minutes(1) + std::chrono::milliseconds(1));
    const auto in_minute = static_cast<std::size_t>(calls.end() - minute_begin);
    std::optional<Steady::duration> wait;
    if (in_minute >= per_min)
      wait = *(calls.end() - static_cast<std::ptrdiff_t>(per_min)) + std::chrono::minutes(1) - now;
    if (calls.size() >= per_hour) {
      const auto w =
          *(calls.end() - static_cast<std::ptrdiff_t>(per_hour)) + std::chrono::hours(1) - now;
      wait = wait ? std::max(*wait, w) : w;
    }
    if (wait) {
      const auto secs = std::max<long long>(
          1, static_cast<long long>(std::ceil(std::chrono::duration<double>(*wait).count())));
      Reply r = error_reply(429, "TooManyRequests",
                            "API calls quota exceeded! Maximum allowed " + std::to_string(per_min) +
                                " per minute and " + std::to_string(per_hour) + " per hour.",
                            next_target());
      r.headers.emplace_back("Retry-After", std::to_string(secs));
      return r;
    }
    calls.push_back(now);
    return std::nullopt;
  }

  Reply api(const httplib::Request& req, const std::string& lp, std::string& name) {
    std::vector<std::string> segs;
    std::vector<std::string> orig;
    {
      std::size_t pos = 1;
      while (pos < req.path.size()) {
        auto slash = req.path.find('/', pos);
        if (slash == std::string::npos) slash = req.path.size();
        if (slash > pos) {
          orig.push_back(httplib::detail::decode_url(req.path.substr(pos, slash - pos), false));
          segs.push_back(lower(orig.back()));
        }
        pos = slash + 1;
      }
    }
    (void)lp;
    segs.erase(segs.begin());
    orig.erase(orig.begin());
    if (!segs.empty() && segs[0] == "v1.0") {
      segs.erase(segs.begin());
      orig.erase(orig.begin());
    }
    static const std::vector<std::string> k_machine = {"Machine.Read.All", "Machine.ReadWrite.All"};
    static const std::vector<std::string> k_machine_rw = {"Machine.ReadWrite.All"};
    static const std::vector<std::string> k_vuln = {"Vulnerability.Read.All"};
    static const std::vector<std::string> k_soft = {"Software.Read.All"};
    static const std::vector<std::string> k_rec = {"SecurityRecommendation.Read.All"};
    Route route;
    std::function<Reply()> handler;
    const std::size_t n = segs.size();
    const std::string s0 = n > 0 ? segs[0] : "";
    const std::string s1 = n > 1 ? segs[1] : "";
    const std::string id = n > 1 ? orig[1] : "";
    const std::string s2 = n > 2 ? segs[2] : "";
    if (s0 == "machines") {
      static const std::map<std::string, std::pair<std::string, int>> k_exports = {
          {"softwarevulnerabilitiesbymachine", {"export.vulnerabilities.json", 0}},
          {"softwarevulnerabilitiesexport", {"export.vulnerabilities.files", 0}},
          {"softwarevulnerabilitychangesbymachine", {"export.vulnerabilities.delta", 0}},
          {"softwareinventorybymachine", {"export.inventory.json", 1}},
          {"softwareinventoryexport", {"export.inventory.files", 1}},
          {"softwareinventorynoproductcodebymachine", {"export.noncpe.json", 2}},
          {"softwareinventorynoncpeexport", {"export.noncpe.files", 2}}};
      if (n == 1) {
        route = {"machines.list", k_machine};
        handler = [&] { return list_machines(req); };
      } else if (n == 2 && k_exports.count(s1) != 0) {
        const auto& [ename, kind] = k_exports.at(s1);
        route = {ename, kind == 0 ? k_vuln : k_soft};
        const auto k = static_cast<ExportKind>(kind);
        if (ename.ends_with(".files"))
          handler = [&, k] { return export_files(req, k); };
        else if (ename.ends_with(".delta"))
          handler = [&] { return export_delta(req); };
        else
          handler = [&, k, en = ename] { return export_json(req, k, en); };
      } else if (n == 2 && s1 == "findbytag") {
        route = {"machines.findbytag", k_machine_rw};
        handler = [&] { return find_by_tag(req); };
      } else if (n == 2) {
        route = {"machines.get", k_machine};
        handler = [&, id] { return get_machine(id); };
      } else if (n == 3 && s2 == "vulnerabilities") {
        route = {"machines.vulnerabilities", k_vuln};
        handler = [&, id] { return machine_sub(id, 0); };
      } else if (n == 3 && s2 == "software") {
        route = {"machines.software", k_soft};
        handler = [&, id] { return machine_sub(id, 1); };
      } else if (n == 3 && s2 == "recommendations") {
        route = {"machines.recommendations", k_rec};
        handler = [&, id] { return machine_sub(id, 2); };
      }
    } else if (s0 == "software") {
      if (n == 1) {
        route = {"software.list", k_soft};
        handler = [&] { return list_software(req); };
      } else if (n == 2) {
        route = {"software.get", k_soft};
        handler = [&, id] { return software_sub(id, 0); };
      } else if (n == 3 && s2 == "distributions") {
        route = {"software.distributions", k_soft};
        handler = [&, id] { return software_sub(id, 1); };
      } else if (n == 3 && s2 == "machinereferences") {
        route = {"software.machinereferences", k_soft};
        handler = [&, id] { return software_sub(id, 2); };
      } else if (n == 3 && s2 == "vulnerabilities") {
        route = {"software.vulnerabilities", k_vuln};
        handler = [&, id] { return software_sub(id, 3); };
      }
    } else if (s0 == "vulnerabilities") {
      if (n == 1) {
        route = {"vulnerabilities.list", k_vuln};
        handler = [&] { return list_vulnerabilities(req); };
      } else if (n == 2 && s1 == "machinesvulnerabilities") {
        route = {"vulnerabilities.machines", k_vuln};
        handler = [&] { return list_machine_vulnerabilities(req); };
      } else if (n == 2) {
        route = {"vulnerabilities.get", k_vuln};
        handler = [&, id] { return vulnerability_sub(id, 0); };
      } else if (n == 3 && s2 == "machinereferences") {
        route = {"vulnerabilities.machinereferences", k_vuln};
        handler = [&, id] { return vulnerability_sub(id, 1); };
      }
    } else if (s0 == "recommendations") {
      if (n == 1) {
        route = {"recommendations.list", k_rec};
        handler = [&] { return list_recommendations(req); };
      } else if (n == 2) {
        route = {"recommendations.get", k_rec};
        handler = [&, id] { return recommendation_sub(id, 0); };
      } else if (n == 3 && s2 == "software") {
        route = {"recommendations.software", k_soft};
        handler = [&, id] { return recommendation_sub(id, 1); };
      } else if (n == 3 && s2 == "vulnerabilities") {
        route = {"recommendations.vulnerabilities", k_vuln};
        handler = [&, id] { return recommendation_sub(id, 2); };
      } else if (n == 3 && s2 == "machinereferences") {
        route = {"recommendations.machinereferences", k_rec};
        handler = [&, id] { return recommendation_sub(id, 3); };
      }
    }
    if (!handler) {
      name = "unknown";
      return error_reply(404, "NotFound", "Resource " + req.path + " does not exist",
                         next_target());
    }
    name = route.name;
    if (auto f = take_error_fault(name)) return *f;
    if (auto a = authorize(req, route)) return *a;
    if (auto rl = rate_limit(name)) return *rl;
    return handler();
  }

  std::string context(const std::string& set) const { return m_base + k_meta + set; }

  // OData collection with $filter/$top/$skip/nextLink over `count` rows.
  Reply odata_list(const httplib::Request& req, const std::string& set, std::size_t count,
                   const std::function<json(std::size_t)>& row,
                   const std::vector<std::string>& filterable, std::size_t max_top,
                   bool not_found_when_empty) {
    std::optional<Filter> filter;
    const std::string ftext = param(req, "$filter");
    if (has_param(req, "$filter")) {
      auto f = Filter::parse(ftext, filterable);
      if (!f)
        return error_reply(400, "ODataError", "Invalid filter clause: " + f.error().message,
                           next_target());
      filter = std::move(*f);
    }
    std::size_t page =
        m_opt.odata_page_size == 0 ? max_top : std::min(max_top, m_opt.odata_page_size);
    bool top_given = false;
    if (has_param(req, "$top")) {
      const auto t = parse_int(param(req, "$top"));
      if (!t || *t < 0)
        return error_reply(400, "ODataError", "Invalid value for $top", next_target());
      if (static_cast<std::size_t>(*t) > max_top && m_opt.top_over_max == TopOverMax::reject) {
        return error_reply(
            400, "ODataError",
            "The limit of '" + std::to_string(max_top) + "' for Top query has been exceeded.",
            next_target());
      }
      page = std::min<std::size_t>(static_cast<std::size_t>(*t), max_top);
      top_given = true;
    }
    std::size_t skip = 0;
    if (has_param(req, "$skip")) {
      const auto s = parse_int(param(req, "$skip"));
      if (!s || *s < 0)
        return error_reply(400, "ODataError", "Invalid value for $skip", next_target());
      skip = static_cast<std::size_t>(*s);
    }
    if (not_found_when_empty && count == 0)
      return error_reply(404, "NotFound", "No machines found", next_target());
    const bool extra = consume(&Faults::extra_fields);
    std::string out = "{\"@odata.context\":";
    json_str(out, context(set));
    out += ",\"value\":[";
    std::size_t matched = 0;
    std::size_t emitted = 0;
    bool more = false;
    for (std::size_t i = 0; i < count; ++i) {
      if (!filter && i < skip) {
        i = skip - 1;
        matched = skip;
        continue;
      }
      json r = row(i);
      if (filter && !filter->matches(r)) continue;
      ++matched;
      if (matched <= skip) continue;
      if (emitted == page) {
        more = true;
        break;
      }
      if (extra) r["simUnknownMember"] = "extra";
      if (emitted > 0) out.push_back(',');
      out += r.dump();
      ++emitted;
    }
    out += "]";
    if (more && !top_given) {
      std::string link = m_base + req.path + "?";
      if (consume(&Faults::looping_next_link)) {
        // The Q2 symptom: parameter names lost, the link serves the same page forever.
        for (const auto& [k, v] : req.params) link += "=" + url_encode(v) + "&";
        link += "$skip=" + std::to_string(skip);
      } else {
        for (const auto& [k, v] : req.params) {
          if (iequals(k, "$skip")) continue;
          link += k + "=" + url_encode(v) + "&";
        }
        link += "$skip=" + std::to_string(skip + page);
      }
      out += ",\"@odata.nextLink\":";
      json_str(out, link);
    }
    out += "}";
    Reply r;
    r.text = std::move(out);
    return r;
  }

  Reply list_machines(const httplib::Request& req) {
    std::shared_lock lock(m_world_mutex);
    static const std::vector<std::string> k_f = {
        "computerDnsName", "id",         "version",       "deviceValue",      "aadDeviceId",
        "machineTags",     "lastSeen",   "exposureLevel", "onboardingStatus", "lastIpAddress",
        "healthStatus",    "osPlatform", "riskScore",     "rbacGroupId"};
    const World& w = *m_world;
    return odata_list(
        req, "Machines", w.machines.size(),
        [&](std::size_t i) { return w.machine_json(static_cast<std::uint32_t>(i)); }, k_f, 10000,
        true);
  }

  std::optional<std::uint32_t> find_machine(const std::string& id) const {
    const World& w = *m_world;
    for (std::uint32_t i = 0; i < w.machines.size(); ++i) {
      if (iequals(w.machines[i].id, id)) return i;
    }
    for (std::uint32_t i = 0; i < w.machines.size(); ++i) {
      if (!w.machines[i].duplicate_record && iequals(w.machines[i].dns, id)) return i;
    }
    return std::nullopt;
  }

  Reply entity(const std::string& set, json j) {
    json out = {{"@odata.context", context(set)}};
    for (auto& [k, v] : j.items()) out[k] = v;
    Reply r;
    r.text = out.dump();
    return r;
  }

  Reply collection(const std::string& set, const json& rows) {
    Reply r;
    r.text = json{{"@odata.context", context(set)}, {"value", rows}}.dump();
    return r;
  }

  Reply get_machine(const std::string& id) {
    std::shared_lock lock(m_world_mutex);
    auto mi = find_machine(id);
    if (!mi || consume(&Faults::machine_not_found)) {
      return error_reply(404, "ResourceNotFound", "Machine " + id + " was not found",
                         next_target());
    }
    return entity("Machines/$entity", m_world->machine_json(*mi));
  }

  Reply find_by_tag(const httplib::Request& req) {
    std::shared_lock lock(m_world_mutex);
    const std::string tag = param(req, "tag");
    const bool starts = iequals(param(req, "useStartsWithFilter"), "true");
    json rows = json::array();
    for (std::uint32_t i = 0; i < m_world->machines.size(); ++i) {
      for (const auto& t : m_world->machines[i].tags) {
        if (starts ? lower(t).rfind(lower(tag), 0) == 0 : iequals(t, tag)) {
          rows.push_back(m_world->machine_json(i));
          break;
        }
      }
    }
    return collection("Machines", rows);
  }

  Reply machine_sub(const std::string& id, int which) {
    std::shared_lock lock(m_world_mutex);
    auto mi = find_machine(id);
    if (!mi || consume(&Faults::machine_not_found)) {
      return error_reply(404, "ResourceNotFound", "Machine " + id + " was not found",
                         next_target());
    }
    const World& w = *m_world;
    const Machine& m = w.machines[*mi];
    json rows = json::array();
    if (which == 0) {
      std::set<std::uint32_t> seen;
      for (const Install& in : m.installs) {
        for (std::uint32_t c : w.products[in.product].version_cves[in.version]) {
          if (seen.insert(c).second) rows.push_back(w.cve_json(c, false));
        }
      }
      return collection("Collection(Analytics.Contracts.PublicAPI.PublicVulnerabilityDto)", rows);
    }
    if (which == 1) {
      for (const Install& in : m.installs) rows.push_back(w.software_json(in.product));
      return collection("Software", rows);
    }
    for (const Install& in : m.installs) {
      if (w.vulnerable(in)) rows.push_back(w.recommendation_json(in.product));
    }
    return collection("Recommendations", rows);
  }

  std::optional<std::uint32_t> find_product(const std::string& id) const {
    for (std::uint32_t p : m_world->listed_products) {
      if (iequals(m_world->products[p].id, id)) return p;
    }
    return std::nullopt;
  }

  Reply list_software(const httplib::Request& req) {
    std::shared_lock lock(m_world_mutex);
    static const std::vector<std::string> k_f = {"id", "name", "vendor"};
    const World& w = *m_world;
    return odata_list(
        req, "Software", w.listed_products.size(),
        [&](std::size_t i) { return w.software_json(w.listed_products[i]); }, k_f, 10000, false);
  }

  json machine_refs(const std::function<bool(const Machine&)>& pred) const {
    json rows = json::array();
    for (std::uint32_t i = 0; i < m_world->machines.size(); ++i) {
      if (pred(m_world->machines[i])) rows.push_back(m_world->machine_ref_json(i));
    }
    return rows;
  }

  Reply software_sub(const std::string& id, int which) {
    std::shared_lock lock(m_world_mutex);
    auto p = find_product(id);
    if (!p)
      return error_reply(404, "ResourceNotFound", "Software " + id + " was not found",
                         next_target());
    const World& w = *m_world;
    const Product& prod = w.products[*p];
    if (which == 0) return entity("Software/$entity", w.software_json(*p));
    if (which == 1) {
      json rows = json::array();
      for (std::size_t v = 0; v < prod.versions.size(); ++v) {
        if (w.version_installs[*p][v] == 0) continue;
        rows.push_back({{"version", prod.versions[v]},
                        {"installations", w.version_installs[*p][v]},
                        {"vulnerabilities", prod.version_cves[v].size()}});
      }
      return collection("Distributions", rows);
    }
    if (which == 2) {
      return collection("MachineReferences", machine_refs([&](const Machine& m) {
                          return std::any_of(m.installs.begin(), m.installs.end(),
                                             [&](const Install& in) { return in.product == *p; });
                        }));
    }
    return collection("Collection(Analytics.Contracts.PublicAPI.PublicVulnerabilityDto)",
                      product_cves(*p));
  }

  json product_cves(std::uint32_t p) const {
    const World& w = *m_world;
    std::set<std::uint32_t> cves;
    for (std::size_t v = 0; v < w.products[p].versions.size(); ++v) {
      if (w.version_installs[p][v] > 0)
        cves.insert(w.products[p].version_cves[v].begin(), w.products[p].version_cves[v].end());
    }
    json rows = json::array();
    for (std::uint32_t c : cves) rows.push_back(w.cve_json(c, false));
    return rows;
  }

  Reply list_vulnerabilities(const httplib::Request& req) {
    std::shared_lock lock(m_world_mutex);
    static const std::vector<std::string> k_f = {"id",          "name",     "description", "cvssV3",
                                                 "publishedOn", "severity", "updatedOn"};
    const World& w = *m_world;
    return odata_list(
        req, "Vulnerabilities", w.cves.size(),
        [&](std::size_t i) { return w.cve_json(static_cast<std::uint32_t>(i), true); }, k_f, 8000,
        false);
  }

  Reply list_machine_vulnerabilities(const httplib::Request& req) {
    std::shared_lock lock(m_world_mutex);
    static const std::vector<std::string> k_f = {"id",         "cveId",        "machineId",
                                                 "fixingKbId", "productName",  "productVersion",
                                                 "severity",   "productVendor"};
    const World& w = *m_world;
    return odata_list(
        req, "Collection(microsoft.windowsDefenderATP.api.PublicAssetVulnerabilityDto)",
        w.findings.size(), [&](std::size_t i) { return w.finding_json(w.findings[i]); }, k_f, 10000,
        false);
  }

  std::optional<std::uint32_t> find_cve(const std::string& id) const {
    for (std::uint32_t c = 0; c < m_world->cves.size(); ++c) {
      if (iequals(m_world->cves[c].id, id)) return c;
    }
    return std::nullopt;
  }

  Reply vulnerability_sub(const std::string& id, int which) {
    std::shared_lock lock(m_world_mutex);
    auto c = find_cve(id);
    if (!c)
      return error_reply(404, "ResourceNotFound", "Vulnerability " + id + " was not found",
                         next_target());
    const World& w = *m_world;
    if (which == 0) return entity("Vulnerabilities/$entity", w.cve_json(*c, true));
    const Cve& cve = w.cves[*c];
    return collection("MachineReferences", machine_refs([&](const Machine& m) {
                        return std::any_of(
                            m.installs.begin(), m.installs.end(), [&](const Install& in) {
                              return in.product == cve.product && in.version < cve.fixed_in;
                            });
                      }));
  }

  Reply list_recommendations(const httplib::Request& req) {
    std::shared_lock lock(m_world_mutex);
    static const std::vector<std::string> k_f = {"id",
                                                 "productName",
                                                 "vendor",
                                                 "recommendedVersion",
                                                 "recommendationCategory",
                                                 "subCategory",
                                                 "severityScore",
                                                 "remediationType",
                                                 "recommendedProgram",
                                                 "recommendedVendor",
                                                 "status"};
    const World& w = *m_world;
    return odata_list(
        req, "Recommendations", w.recommended_products.size(),
        [&](std::size_t i) { return w.recommendation_json(w.recommended_products[i]); }, k_f, 10000,
        false);
  }

  Reply recommendation_sub(const std::string& id, int which) {
    std::shared_lock lock(m_world_mutex);
    const World& w = *m_world;
    std::optional<std::uint32_t> p;
    for (std::uint32_t q : w.recommended_products) {
      if (iequals("va-_-" + w.products[q].vendor + "-_-" + w.products[q].name, id)) p = q;
    }
    if (!p)
      return error_reply(404, "ResourceNotFound", "Recommendation " + id + " was not found",
                         next_target());
    if (which == 0) return entity("Recommendations/$entity", w.recommendation_json(*p));
    if (which == 1)
      return entity("Analytics.Contracts.PublicAPI.PublicProductDto", w.software_json(*p));
    if (which == 2)
      return collection("Collection(Analytics.Contracts.PublicAPI.PublicVulnerabilityDto)",
                        product_cves(*p));
    return collection("MachineReferences", machine_refs([&](const Machine& m) {
                        return std::any_of(m.installs.begin(), m.installs.end(),
                                           [&](const Install& in) {
                                             return in.product == *p && w.vulnerable(in);
                                           });
                      }));
  }

  // ---- exports --------------------------------------------------------------------

  static std::string skiptoken(const std::string& tp, std::size_t file, std::uint64_t line) {
    return base64(json{{"ExportDefinition", {{"TimePath", tp}}},
                       {"ExportFileIndex", file},
                       {"LineStoppedAt", line}}
                      .dump(),
                  false);
  }

  struct PageArgs {
    std::uint64_t page = 50000;
    bool top = false;
    std::optional<std::string> time_path;
    std::size_t file = 0;
    std::uint64_t line = 0;
  };

  std::variant<PageArgs, Reply> page_args(const httplib::Request& req) {
    PageArgs a;
    if (has_param(req, "pageSize")) {
      const auto v = parse_int(param(req, "pageSize"));
      if (!v || *v <= 0)
        return error_reply(400, "InvalidInput", "pageSize must be a positive integer",
                           next_target());
      a.page = std::min<std::uint64_t>(static_cast<std::uint64_t>(*v), 200000);
    }
    if (has_param(req, "$top")) {
      const auto v = parse_int(param(req, "$top"));
      if (!v || *v < 0)
        return error_reply(400, "ODataError", "Invalid value for $top", next_target());
      a.page = static_cast<std::uint64_t>(*v);
      a.top = true;
    }
    if (has_param(req, "$skiptoken")) {
      const auto dec = unbase64(param(req, "$skiptoken"));
      try {
        const auto j = json::parse(dec.value_or(""));
        a.time_path = j.at("ExportDefinition").at("TimePath").get<std::string>();
        a.file = j.at("ExportFileIndex").get<std::size_t>();
        a.line = j.at("LineStoppedAt").get<std::uint64_t>();
      } catch (const std::exception&) {
        return error_reply(400, "BadRequest", "Invalid $skiptoken", next_target());
      }
    }
    return a;
  }

  Reply export_json(const httplib::Request& req, ExportKind kind, const std::string& name) {
    auto parsed = page_args(req);
    if (auto* r = std::get_if<Reply>(&parsed)) return *r;
    PageArgs a = std::get<PageArgs>(parsed);
    Snapshot snap;
    {
      std::shared_lock lock(m_world_mutex);
      snap = m_snapshot;
    }
    if (a.time_path && *a.time_path != snap.time_path) {
      auto old = m_store.load(*a.time_path);
      if (!old)
        return error_reply(400, "BadRequest", "The $skiptoken refers to an unknown export",
                           next_target());
      snap = *old;
    }
    const auto k = static_cast<std::size_t>(kind);
    if (a.file > snap.files[k].size())
      return error_reply(400, "BadRequest", "Invalid $skiptoken", next_target());
    // End position after `page` rows.
    std::size_t ef = a.file;
    std::uint64_t el = a.line;
    std::uint64_t left = a.page;
    while (ef < snap.files[k].size() && left > 0) {
      const std::uint64_t avail = snap.files[k][ef].rows > el ? snap.files[k][ef].rows - el : 0;
      const std::uint64_t take = std::min(avail, left);
      el += take;
      left -= take;
      if (el >= snap.files[k][ef].rows) {
        ++ef;
        el = 0;
      }
    }
    const bool more = ef < snap.files[k].size() &&
                      !(ef + 1 == snap.files[k].size() && el >= snap.files[k][ef].rows);
    static const std::array<const char*, 3> sets = {
        "Collection(microsoft.windowsDefenderATP.api.AssetVulnerability)",
        "Collection(microsoft.windowsDefenderATP.api.AssetSoftware)",
        "Collection(microsoft.windowsDefenderATP.api.AssetNonCpeSoftware)"};
    std::string head = "{\"@odata.context\":";
    json_str(head, context(sets[k]));
    head += ",\"value\":[";
    std::string tail = "]";
    if (more && !a.top) {
      std::string path = req.path;
      std::string link = m_base + path + "?pagesize=" + std::to_string(a.page) + "&$skiptoken=";
      if (consume(&Faults::looping_next_link)) {
        link += url_encode(skiptoken(snap.time_path, a.file, a.line));
      } else {
        link += url_encode(skiptoken(snap.time_path, ef, el));
      }
      tail += ",\"@odata.nextLink\":";
      json_str(tail, link);
    }
    tail += "}";
    (void)name;
    struct State {
      Snapshot snap;
      std::size_t k;
      std::size_t file;
      std::uint64_t skip;
      std::uint64_t left;
      std::unique_ptr<GzLineReader> reader;
      bool started = false;
      bool first = true;
      bool done = false;
      std::string head, tail;
      bool extra, dup;
      std::uint64_t n = 0;
    };
    auto st = std::make_shared<State>();
    st->snap = std::move(snap);
    st->k = k;
    st->file = a.file;
    st->skip = a.line;
    st->left = a.page;
    st->head = std::move(head);
    st->tail = std::move(tail);
    st->extra = consume(&Faults::extra_fields);
    st->dup = consume(&Faults::duplicate_rows);
    Reply r;
    r.next = [st](std::string& chunk) {
      if (st->done) return false;
      if (!st->started) {
        chunk = st->head;
        st->started = true;
      }
      std::string line;
      while (chunk.size() < (256U << 10U) && st->left > 0) {
        if (!st->reader) {
          if (st->file >= st->snap.files[st->k].size()) break;
          st->reader = std::make_unique<GzLineReader>(
              st->snap.path(static_cast<ExportKind>(st->k), st->file));
          if (!st->reader->ok()) throw std::runtime_error("export part missing");
          for (std::uint64_t i = 0; i < st->skip && st->reader->next(line); ++i) {
          }
          st->skip = 0;
        }
        if (!st->reader->next(line)) {
          st->reader.reset();
          ++st->file;
          continue;
        }
        if (st->extra) add_extra_member(line);
        if (!st->first) chunk.push_back(',');
        st->first = false;
        chunk += line;
        if (st->dup && ++st->n % 5 == 0) {
          chunk.push_back(',');
          chunk += line;
        }
        --st->left;
      }
      if (st->left == 0 || (!st->reader && st->file >= st->snap.files[st->k].size())) {
        chunk += st->tail;
        st->done = true;
      }
      return true;
    };
    return r;
  }

  Reply export_delta(const httplib::Request& req) {
    if (!has_param(req, "sinceTime")) {
      return error_reply(400, "MissingRequiredParameter", "The sinceTime parameter is required",
                         next_target());
    }
    const std::string since_text = param(req, "sinceTime");
    const auto since = parse_time(since_text);
    if (!since)
      return error_reply(400, "InvalidInput",
                         "sinceTime '" + since_text + "' is not a valid date-time", next_target());
    auto parsed = page_args(req);
    if (auto* r = std::get_if<Reply>(&parsed)) return *r;
    const PageArgs a = std::get<PageArgs>(parsed);
    auto events = std::make_shared<std::vector<DeltaEvent>>();
    bool more = false;
    std::string tp;
    {
      std::shared_lock lock(m_world_mutex);
      const World& w = *m_world;
      if (*since < w.now() - 14 * 86400) {
        return error_reply(400, "InvalidInput", "sinceTime must be within the last 14 days",
                           next_target());
      }
      tp = m_snapshot.time_path;
      const std::int64_t bucket = floor6h(*since);
      const std::uint64_t from_seq = a.time_path ? a.line : 0;
      for (const DeltaEvent& e : w.events) {
        if (e.time < bucket || e.seq < from_seq) continue;
        if (events->size() == a.page) {
          more = true;
          break;
        }
        events->push_back(e);
      }
    }
    std::string head = "{\"@odata.context\":";
    json_str(head, context("Collection(microsoft.windowsDefenderATP.api.DeltaAssetVulnerability)"));
    head += ",\"value\":[";
    std::string tail = "]";
    if (more && !a.top) {
      const std::uint64_t next_seq =
          consume(&Faults::looping_next_link) ? (a.time_path ? a.line : 0) : events->back().seq + 1;
      tail += ",\"@odata.nextLink\":";
      json_str(tail, m_base + req.path + "?sincetime=" + url_encode(since_text) +
                         "&pagesize=" + std::to_string(a.page) +
                         "&$skiptoken=" + url_encode(skiptoken(tp, 0, next_seq)));
    }
    tail += "}";
    const bool extra = consume(&Faults::extra_fields);
    auto pos = std::make_shared<std::size_t>(0);
    auto started = std::make_shared<bool>(false);
    Reply r;
    r.next = [this, events, pos, started, head, tail, extra](std::string& chunk) {
      if (*pos > events->size()) return false;
      if (!*started) {
        chunk = head;
        *started = true;
      }
      std::shared_lock lock(m_world_mutex);
      std::string line;
      while (*pos < events->size() && chunk.size() < (256U << 10U)) {
        line.clear();
        m_world->delta_row(line, (*events)[*pos]);
        if (extra) add_extra_member(line);
        if (*pos > 0) chunk.push_back(',');
        chunk += line;
        ++*pos;
      }
      if (*pos == events->size()) {
        chunk += tail;
        ++*pos;
      }
      return true;
    };
    return r;
  }

  std::string sas_sig(const std::string& path, const std::string& st, const std::string& se) const {
    return base64(hex40(hash_str(path + "|" + st + "|" + se, m_secret), 7), false);
  }

  Reply export_files(const httplib::Request& req, ExportKind kind) {
    int hours = 1;
    if (has_param(req, "sasValidHours")) {
      const auto v = parse_int(param(req, "sasValidHours"));
      if (!v || *v < 1 || *v > 6)
        return error_reply(400, "InvalidInput", "sasValidHours must be between 1 and 6",
                           next_target());
      hours = static_cast<int>(*v);
    }
    Snapshot snap;
    std::int64_t now = 0;
    {
      std::shared_lock lock(m_world_mutex);
      snap = m_snapshot;
      now = m_world->now();
    }
    const std::string st = iso_time(now);
    const std::string se = iso_time(now + static_cast<std::int64_t>(hours) * 3600);
    const auto k = static_cast<std::size_t>(kind);
    const std::string run = guid(m_secret, static_cast<std::uint64_t>(snap.generated));
    json files = json::array();
    auto add = [&](std::size_t index) {
      std::array<char, 16> part{};
      std::snprintf(part.data(), part.size(), "%05zu", index);
      const std::string path = "/tvm-export/" + snap.time_path + k_export_dirs[k] +
                               "/json/OrgId=" + m_opt.credentials.tenant_id + "/part-" +
                               part.data() + "-" + run + ".c000.json.gz";
      files.push_back(m_base + path + "?sv=2020-08-04&st=" + url_encode(st) + "&se=" +
                      url_encode(se) + "&sr=b&sp=r&sig=" + url_encode(sas_sig(path, st, se)));
    };
    for (std::size_t i = 0; i < snap.files[k].size(); ++i) add(i);
    if (consume(&Faults::empty_export_file)) add(99999);
    Reply r;
    r.text =
        json{{"@odata.context", context("microsoft.windowsDefenderATP.api.ExportFilesResponse")},
             {"exportFiles", files},
             {"generatedTime", iso_time(snap.generated)}}
            .dump();
    return r;
  }

  Reply download(const httplib::Request& req) {
    if (auto f = take_error_fault("download")) return *f;
    const std::string st = req.get_param_value("st");
    const std::string se = req.get_param_value("se");
    const std::string sig = req.get_param_value("sig");
    if (sig.empty() || sig != sas_sig(req.path, st, se)) {
      return azure_error(403, "AuthenticationFailed",
                         "Server failed to authenticate the request. Make sure the value of "
                         "Authorization header is formed correctly including the signature.",
                         "Signature did not match.");
    }
    std::int64_t now = 0;
    {
      std::shared_lock lock(m_world_mutex);
      now = m_world->now();
    }
    const auto expiry = parse_time(se);
    if (!expiry || now >= *expiry || consume(&Faults::expired_sas)) {
      return azure_error(
          403, "AuthenticationFailed",
          "Server failed to authenticate the request. Make sure the value of Authorization header "
          "is formed correctly including the signature.",
          "Signed expiry time [" + se + "] must be after current time [" + iso_time(now) + "]");
    }
    // /tvm-export/<date>/<HHmm>/<Kind>/json/OrgId=<t>/part-<n>-<guid>.c000.json.gz
    std::vector<std::string> segs;
    std::size_t pos = 1;
    while (pos < req.path.size()) {
      auto slash = req.path.find('/', pos);
      if (slash == std::string::npos) slash = req.path.size();
      segs.push_back(req.path.substr(pos, slash - pos));
      pos = slash + 1;
    }
    auto not_found = [] {
      return azure_error(404, "BlobNotFound", "The specified blob does not exist.", "");
    };
    if (segs.size() != 7) return not_found();
    std::optional<std::size_t> kind;
    for (std::size_t k = 0; k < 3; ++k) {
      if (segs[3] == k_export_dirs[k]) kind = k;
    }
    const auto index = parse_int(segs[6].size() > 10 ? segs[6].substr(5, 5) : "");
    if (!kind || !index) return not_found();
    Reply r;
    r.content_type = "application/octet-stream";
    r.headers.emplace_back("x-ms-blob-type", "BlockBlob");
    if (*index == 99999) {
      r.text.clear();
      return r;
    }
    auto snap = m_store.load(segs[1] + "/" + segs[2] + "/");
    if (!snap || static_cast<std::size_t>(*index) >= snap->files[*kind].size()) return not_found();
    const fs::path file =
        snap->path(static_cast<ExportKind>(*kind), static_cast<std::size_t>(*index));
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (ec) return not_found();
    const bool truncated = consume(&Faults::truncated_gzip);
    const bool malformed = consume(&Faults::malformed_json_line);
    const bool pascal = consume(&Faults::pascal_case_keys);
    const bool extra = consume(&Faults::extra_fields);
    const bool dup = consume(&Faults::duplicate_rows);
    const bool stray = consume(&Faults::stray_row);
    if (malformed || pascal || extra || dup || stray) {
      // Fault variants are built in memory: they are meant for test-sized tenants.
      std::ifstream in(file, std::ios::binary);
      std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const std::string text = gunzip_string(raw).value_or("");
      std::string out;
      std::size_t start = 0;
      std::size_t n = 0;
      const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
      std::string stray_line;
      while (start < text.size()) {
        auto nl = text.find('\n', start);
        if (nl == std::string::npos) nl = text.size();
        std::string line = text.substr(start, nl - start);
        start = nl + 1;
        ++n;
        if (pascal) line = to_pascal(line);
        if (extra) add_extra_member(line);
        if (malformed && n == 2) line = line.substr(0, line.size() / 2) + "<<not json";
        out += line;
        out.push_back('\n');
        if (dup && n % 5 == 1) {
          out += line;
          out.push_back('\n');
        }
        if (stray && n == (lines + 1) / 2) stray_line = line;
      }
      if (!stray_line.empty()) {
        out += stray_line;
        out.push_back('\n');
      }
      r.text = gzip_string(out);
      if (truncated) r.text.resize(r.text.size() / 2);
      return r;
    }
    auto fp = std::shared_ptr<std::FILE>(std::fopen(file.c_str(), "rb"), [](std::FILE* f) {
      if (f != nullptr) std::fclose(f);
    });
    if (!fp) return not_found();
    const std::uint64_t length = truncated ? size / 2 : size;
    auto sent = std::make_shared<std::uint64_t>(0);
    r.length = length;
    r.next = [fp, sent, length](std::string& chunk) {
      if (*sent >= length) return false;
      chunk.resize(static_cast<std::size_t>(std::min<std::uint64_t>(1U << 18U, length - *sent)));
      const std::size_t got = std::fread(chunk.data(), 1, chunk.size(), fp.get());
      if (got == 0) throw std::runtime_error("short read");
      chunk.resize(got);
      *sent += got;
      return true;
    };
    return r;
  }

  Options m_opt;
  ExportStore m_store;
  std::unique_ptr<httplib::Server> m_server;
  std::thread m_thread;
  std::mutex m_stop_mutex;
  std::string m_scheme = "http";
  std::string m_base;
  int m_port = 0;

  mutable std::shared_mutex m_world_mutex;
  std::unique_ptr<World> m_world;
  Snapshot m_snapshot;

  mutable std::mutex m_mutex;  // faults, tokens, stats, rate limits, roles
  Faults m_faults;
  std::vector<std::string> m_roles;
  std::map<std::string, TokenInfo> m_tokens;
  std::uint64_t m_token_generation = 0;
  std::uint64_t m_tokens_issued = 0;
  std::map<std::string, EndpointStats> m_stats;
  std::map<std::string, std::deque<Steady::time_point>> m_calls;
  bool m_rate_enabled;
  double m_rate_scale;
  std::uint64_t m_secret;
  std::atomic<std::uint64_t> m_requests{0};
};

}  // namespace

mdesync::util::Result<std::unique_ptr<Simulator>> Simulator::start(Options options) {
  auto sim = std::make_unique<SimulatorImpl>(std::move(options));
  if (auto st = sim->init(); !st) return tl::unexpected(st.error());
  return std::unique_ptr<Simulator>(std::move(sim));
}

}  // namespace mdesim
