// The simulator's life: the world and its first snapshot, the HTTP(S) server, the public
// interface (clock, truth, roles, stats, stop). Endpoints live in the files named in
// simulator_impl.hpp.

#include "simulator_impl.hpp"

#include <algorithm>

namespace mdesim {

namespace fs = std::filesystem;
using mdesync::util::ErrorCode;
using mdesync::util::fail;

SimulatorImpl::SimulatorImpl(Options options)
    : m_opt(std::move(options)),
      m_store(cache_root(m_opt), threads(m_opt)),
      m_roles(m_opt.roles),
      m_rate_enabled(m_opt.rate_limits),
      m_rate_scale(m_opt.rate_limit_scale),
      m_secret(hash_combine(m_opt.world.seed, 0x51617)) {}

SimulatorImpl::~SimulatorImpl() {
  stop();
}

mdesync::util::Status SimulatorImpl::init() {
  m_world = std::make_unique<World>(m_opt.world);
  auto snap = m_store.ensure(*m_world);
  if (!snap) return tl::unexpected(snap.error());
  m_snapshot = *snap;
  if (auto st = load_certificates(); !st) return st;
  if (!m_opt.tls_cert.empty() || !m_opt.tls_key.empty()) {
    auto ssl = std::make_unique<httplib::SSLServer>(m_opt.tls_cert.c_str(), m_opt.tls_key.c_str());
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
  // httplib writes the headers and the body in separate sends: with Nagle's algorithm on,
  // a small answer's body waited for the client's delayed ACK (about 40 ms a request).
  m_server->set_tcp_nodelay(true);
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

AdvanceResult SimulatorImpl::advance(int hours) {
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

Truth SimulatorImpl::truth() const {
  std::shared_lock lock(m_world_mutex);
  return m_world->truth();
}

std::string SimulatorImpl::world_json() const {
  std::shared_lock lock(m_world_mutex);
  const World& w = *m_world;
  json out = json::object();
  out["snapshotTime"] = w.truth().snapshot_time;
  json& machines = out["machines"] = json::array();
  for (std::uint32_t m = 0; m < w.machines.size(); ++m) machines.push_back(w.machine_json(m));
  json& software = out["software"] = json::array();
  for (std::uint32_t p : w.listed_products) {
    json s = w.software_json(p);
    json d = json::array();
    const Product& prod = w.products[p];
    for (std::size_t v = 0; v < prod.versions.size(); ++v) {
      if (w.version_installs[p][v] == 0) continue;
      d.push_back({{"version", prod.versions[v]},
                   {"installations", w.version_installs[p][v]},
                   {"vulnerabilities", prod.version_cves[v].size()}});
    }
    s["distributions"] = std::move(d);
    software.push_back(std::move(s));
  }
  json& vulnerabilities = out["vulnerabilities"] = json::array();
  for (std::uint32_t c = 0; c < w.cves.size(); ++c) vulnerabilities.push_back(w.cve_json(c, true));
  json& recommendations = out["recommendations"] = json::array();
  for (std::uint32_t p : w.recommended_products) {
    json r = w.recommendation_json(p);
    json ids = json::array();  // as GET /api/recommendations/{id}/vulnerabilities
    for (const auto& c : product_cves(p)) ids.push_back(c.at("id"));
    r["cveIds"] = std::move(ids);
    recommendations.push_back(std::move(r));
  }
  json& inventory = out["inventory"] = json::array();
  json& findings = out["findings"] = json::array();
  std::string line;
  for (std::uint32_t m = 0; m < w.machines.size(); ++m) {
    const Machine& mach = w.machines[m];
    if (!w.in_exports(mach)) continue;
    for (const Install& in : mach.installs) {
      line.clear();
      w.inventory_row(line, m, in);
      inventory.push_back(json::parse(line));
      for (std::uint32_t c : w.products[in.product].version_cves[in.version]) {
        line.clear();
        w.vuln_row(line, m, in, &w.cves[c]);
        findings.push_back(json::parse(line));
      }
    }
  }
  return out.dump();
}

void SimulatorImpl::set_roles(std::vector<std::string> roles) {
  std::lock_guard lock(m_mutex);
  m_roles = std::move(roles);
}

void SimulatorImpl::set_rate_limits(bool enabled, double scale) {
  std::lock_guard lock(m_mutex);
  m_rate_enabled = enabled;
  m_rate_scale = scale;
  m_calls.clear();
}

std::map<std::string, EndpointStats> SimulatorImpl::stats() const {
  std::lock_guard lock(m_mutex);
  return m_stats;
}

void SimulatorImpl::reset_stats() {
  std::lock_guard lock(m_mutex);
  m_stats.clear();
}

void SimulatorImpl::stop() {
  std::lock_guard lock(m_stop_mutex);
  {
    std::lock_guard slow(m_slow_mutex);
    m_stopping = true;
    m_slow_cv.notify_all();
  }
  if (m_server) m_server->stop();
  if (m_thread.joinable()) m_thread.join();
}

fs::path SimulatorImpl::cache_root(const Options& o) {
  fs::path base =
      o.cache_dir.empty() ? fs::temp_directory_path() / "mdesim-cache" : fs::path(o.cache_dir);
  return base / world_cache_name(o.world);
}

unsigned SimulatorImpl::threads(const Options& o) {
  if (o.generator_threads != 0) return o.generator_threads;
  return std::clamp(std::thread::hardware_concurrency(), 1U, 4U);
}

std::int64_t SimulatorImpl::world_now() {
  std::shared_lock lock(m_world_mutex);
  return m_world->now();
}

mdesync::util::Result<std::unique_ptr<Simulator>> Simulator::start(Options options) {
  auto sim = std::make_unique<SimulatorImpl>(std::move(options));
  if (auto st = sim->init(); !st) return tl::unexpected(st.error());
  return std::unique_ptr<Simulator>(std::move(sim));
}

}  // namespace mdesim
