#pragma once

// The running simulator behind the public `Simulator` interface: its state, and one
// member function per endpoint. The class is one class because every endpoint shares
// the same world, snapshot, faults, tokens and counters; its member functions are
// defined in the file of their endpoint family (docs/adr/0065):
//
//   simulator.cpp            start, server setup, the public interface
//   router.cpp               request dispatch, the API route table, handing replies to httplib
//   token_service.cpp        the token endpoints and the bearer-token check
//   signin.cpp               client assertions, managed identity endpoints, cloud audiences
//   rate_limits.cpp          the per-endpoint quotas
//   faults.cpp               fault injection (error answers, cut and slow bodies, row variants)
//   admin.cpp                the /sim/* admin endpoints
//   api_odata.cpp            OData list paging, entities and collections
//   api_machines.cpp         /api/machines and its sub-resources
//   api_software.cpp         /api/software and its sub-resources
//   api_vulnerabilities.cpp  /api/vulnerabilities and machinesVulnerabilities
//   api_recommendations.cpp  /api/recommendations and its sub-resources
//   api_export_json.cpp      the JSON export pages (...ByMachine) and their $skiptoken
//   api_delta.cpp            the delta export (SoftwareVulnerabilityChangesByMachine)
//   api_export_files.cpp     the file-based exports and the export file downloads

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "exports.hpp"
#include "odata.hpp"
#include "reply.hpp"
#include "sim_util.hpp"
#include "simulator.hpp"
#include "world.hpp"

namespace mdesim {

using json = nlohmann::ordered_json;
using Steady = std::chrono::steady_clock;

// Name of the API endpoint the current thread is answering (set by the router before the
// handler runs; the handlers build their pages on that thread), for faults aimed at one
// endpoint that are consumed inside a handler.
extern thread_local std::string t_endpoint;

struct TokenInfo {
  std::int64_t expires = 0;  // real Unix seconds
  std::uint64_t generation = 0;
  std::vector<std::string> roles;
  bool wrong_audience = false;
};

// What a valid scope or resource grants: the token's audience.
struct TokenGrant {
  std::string aud;
  std::string appid;            // "" = the application's client id
  bool wrong_audience = false;  // a valid Microsoft audience, but not this API's
};

struct Route {
  std::string name;
  std::vector<std::string> roles;  // any of them grants access
};

// An API route and the call that answers it.
struct Endpoint {
  Route route;
  std::function<Reply()> handler;
};

// $filter / $top / $skip of the OData lists.
struct ListArgs {
  std::optional<Filter> filter;
  std::size_t page = 0;
  bool top_given = false;
  std::size_t skip = 0;
};

// pageSize / $top / $skiptoken of the export pages and the delta export.
struct PageArgs {
  std::uint64_t page = 50000;
  bool top = false;
  std::optional<std::string> time_path;
  std::size_t file = 0;
  std::uint64_t line = 0;
};

// Row variants of the fault injection (faults.cpp).
std::string to_pascal(std::string line);
void add_extra_member(std::string& line);

// A certificate registered on the application (signin.cpp): its thumbprints and public key.
struct RegisteredCertificate {
  std::string thumbprint_s256;  // base64url SHA-256 of the DER certificate (x5t#S256)
  std::string thumbprint_sha1;  // base64url SHA-1 (the older x5t)
  std::shared_ptr<void> key;    // EVP_PKEY
};

// The audience of the Defender API in `cloud` (public, gcc, gcc-high, dod).
std::string cloud_audience(const std::string& cloud);

class SimulatorImpl final : public Simulator {
 public:
  explicit SimulatorImpl(Options options);
  ~SimulatorImpl() override;

  mdesync::util::Status init();

  [[nodiscard]] std::string base_url() const override { return m_base; }
  [[nodiscard]] int port() const override { return m_port; }
  [[nodiscard]] Credentials credentials() const override { return m_opt.credentials; }

  AdvanceResult advance(int hours) override;
  [[nodiscard]] Truth truth() const override;
  [[nodiscard]] std::string world_json() const override;
  void add_faults(const Faults& f) override;
  void clear_faults() override;
  [[nodiscard]] Faults pending_faults() const override;
  void set_roles(std::vector<std::string> roles) override;
  void set_rate_limits(bool enabled, double scale) override;
  [[nodiscard]] std::map<std::string, EndpointStats> stats() const override;
  void reset_stats() override;
  [[nodiscard]] std::uint64_t held_bodies() const override;
  void stop() override;

 private:
  // simulator.cpp
  static std::filesystem::path cache_root(const Options& o);
  static unsigned threads(const Options& o);
  std::string next_target() { return guid(m_secret, m_requests.fetch_add(1)); }
  // The world's clock, which every answer states in its Date header as the service does.
  std::int64_t world_now();

  // router.cpp
  void handle(const httplib::Request& req, httplib::Response& res);
  Reply api(const httplib::Request& req, std::string& name);
  std::optional<Endpoint> find_endpoint(const httplib::Request& req,
                                        const std::vector<std::string>& segs,
                                        const std::vector<std::string>& orig);
  std::optional<Endpoint> export_route(const httplib::Request& req, const std::string& seg);

  // faults.cpp
  std::optional<Reply> take_error_fault(const std::string& name);
  bool consume(std::uint32_t Faults::*field);
  // loopingNextLink, when the request being answered is for its endpoint.
  bool consume_looping_next_link();
  void apply_body_faults(const std::string& name, Reply& r);
  // The pause between two pieces of a slowed body; it ends early when the simulator
  // stops, so a long slowDelayMs never holds up stop().
  void slow_pause(std::chrono::milliseconds delay);
  // The wait of a body held by `hold_body`: until clear_faults() or stop().
  void hold_pause();

  // admin.cpp
  Reply admin(const httplib::Request& req, const std::string& lp);

  // token_service.cpp
  Reply token_error(int status, const std::string& error, int code, const std::string& text);
  Reply token(const httplib::Request& req, bool v2);
  std::optional<Reply> check_client(const httplib::Request& req, const std::string& tenant,
                                    std::map<std::string, std::string>& form, bool v2);
  std::variant<TokenGrant, Reply> grant_for(const std::string& target, bool v2,
                                            const std::string& tenant);
  std::string issue_token(const TokenGrant& g, std::int64_t now);
  // signin.cpp
  mdesync::util::Status load_certificates();
  std::optional<Reply> check_assertion(const httplib::Request& req,
                                       std::map<std::string, std::string>& form);
  Reply identity(const httplib::Request& req, bool app_service);
  std::optional<Reply> authorize(const httplib::Request& req, const Route& route);

  // rate_limits.cpp
  std::optional<Reply> rate_limit(const std::string& name);

  // api_odata.cpp
  [[nodiscard]] std::string context(const std::string& set) const;
  // OData collection with $filter/$top/$skip/nextLink over `count` rows.
  Reply odata_list(const httplib::Request& req, const std::string& set, std::size_t count,
                   const std::function<json(std::size_t)>& row,
                   const std::vector<std::string>& filterable, std::size_t max_top,
                   bool not_found_when_empty);
  std::variant<ListArgs, Reply> list_args(const httplib::Request& req,
                                          const std::vector<std::string>& filterable,
                                          std::size_t max_top);
  std::string odata_next_link(const httplib::Request& req, std::size_t skip, std::size_t page);
  Reply entity(const std::string& set, json j);
  Reply collection(const std::string& set, const json& rows);

  // api_machines.cpp
  Reply list_machines(const httplib::Request& req);
  [[nodiscard]] std::optional<std::uint32_t> find_machine(const std::string& id) const;
  Reply find_by_tag(const httplib::Request& req);
  // which: 0 the machine, 1 its vulnerabilities, 2 its software, 3 its recommendations.
  Reply machine_sub(const std::string& id, int which);
  [[nodiscard]] json machine_refs(const std::function<bool(const Machine&)>& pred) const;

  // api_software.cpp
  [[nodiscard]] std::optional<std::uint32_t> find_product(const std::string& id) const;
  Reply list_software(const httplib::Request& req);
  Reply software_sub(const std::string& id, int which);
  [[nodiscard]] json product_cves(std::uint32_t p) const;

  // api_vulnerabilities.cpp
  Reply list_vulnerabilities(const httplib::Request& req);
  Reply list_machine_vulnerabilities(const httplib::Request& req);
  [[nodiscard]] std::optional<std::uint32_t> find_cve(const std::string& id) const;
  Reply vulnerability_sub(const std::string& id, int which);

  // api_recommendations.cpp
  Reply list_recommendations(const httplib::Request& req);
  Reply recommendation_sub(const std::string& id, int which);

  // api_export_json.cpp
  static std::string skiptoken(const std::string& tp, std::size_t file, std::uint64_t line);
  std::variant<PageArgs, Reply> page_args(const httplib::Request& req);
  Reply export_json(const httplib::Request& req, ExportKind kind);

  // api_delta.cpp
  Reply export_delta(const httplib::Request& req);

  // api_export_files.cpp
  [[nodiscard]] std::string sas_sig(const std::string& path, const std::string& st,
                                    const std::string& se) const;
  Reply export_files(const httplib::Request& req, ExportKind kind);
  Reply download(const httplib::Request& req);
  // A 403 answer when the download's SAS signature is wrong or has expired.
  std::optional<Reply> check_sas(const httplib::Request& req);

  Options m_opt;
  ExportStore m_store;
  std::unique_ptr<httplib::Server> m_server;
  std::thread m_thread;
  std::mutex m_stop_mutex;
  mutable std::mutex m_slow_mutex;
  std::condition_variable m_slow_cv;
  bool m_stopping = false;
  std::uint64_t m_hold_release = 0;  // clear_faults() count: ends the holds begun before
  std::uint64_t m_held = 0;          // bodies that reached their hold
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
  std::vector<RegisteredCertificate> m_certificates;
  std::uint64_t m_token_generation = 0;
  std::uint64_t m_tokens_issued = 0;
  std::map<std::string, EndpointStats> m_stats;
  std::map<std::string, std::deque<Steady::time_point>> m_calls;
  bool m_rate_enabled;
  double m_rate_scale;
  std::uint64_t m_secret;
  std::atomic<std::uint64_t> m_requests{0};
};

}  // namespace mdesim
