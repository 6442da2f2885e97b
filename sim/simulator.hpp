#pragma once

// mdesim: an in-process, fault-injecting simulator of the Microsoft Defender for Endpoint
// API and its token service (see docs/simulator.md). Tests link `mdesim_lib` and start
// one Simulator per test or fixture; the `mdesim` executable is a thin main around it.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "util/result.hpp"

namespace mdesim {

// Shape of the synthetic tenant. The same parameters and seed always give the same world.
struct WorldParams {
  std::uint32_t machines = 50;              // onboarded devices (duplicates come on top)
  std::uint32_t software_per_machine = 20;  // installed CPE products per device (incl. the OS)
  double vulnerable_share = 0.3;            // share of installs on a vulnerable version
  std::uint32_t cves = 200;                 // initial CVE catalogue size
  std::uint32_t device_groups = 4;          // device groups (0 = tenant without groups)
  std::uint32_t non_cpe_per_machine = 2;    // software without a CPE per device
  std::uint64_t seed = 1;
  // Simulator clock at start, Unix seconds (default 2026-01-05T06:00:00Z).
  std::int64_t start_time = 1'767'592'800;
  // Rows per export file part; the JSON export pages walk the same parts.
  std::uint32_t rows_per_file = 50'000;
};

struct Credentials {
  std::string tenant_id = "8f3c2a1e-5b7d-4c9a-9e21-6d4f0b7a3c55";
  std::string tenant_domain = "mdesim.onmicrosoft.com";  // accepted in place of tenant_id
  std::string client_id = "0c7e9a52-3b1f-4d8e-a6c4-2f95e1b0d7a3";
  std::string client_secret = "mdesim-secret-value";
  // Certificates registered on the application (PEM files holding a certificate): client
  // assertions signed with their keys are accepted (docs/simulator.md, "Signing in").
  std::vector<std::string> client_certificates;
  // The managed identity that the instance metadata and App Service identity endpoints
  // sign in as (its client id), and the App Service endpoint's X-IDENTITY-HEADER secret.
  std::string managed_identity_client_id = "5d2b7f0e-91c4-4a36-b8e7-0f1a6c3d9e42";
  std::string identity_header = "mdesim-identity-header";
};

enum class TopOverMax { clamp, reject };

struct Options {
  WorldParams world;
  Credentials credentials;
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = any free port
  // Roles put in issued tokens (the `roles` claim); a missing role gives 403.
  std::vector<std::string> roles = {"Machine.Read.All", "Software.Read.All",
                                    "Vulnerability.Read.All", "SecurityRecommendation.Read.All"};
  std::chrono::seconds token_lifetime{3599};
  // The tenant's cloud: public, gcc, gcc-high or dod. It sets the token audience the
  // token service accepts (a US government API's in the government clouds); a GCC High
  // or DoD tenant asked for the public API answers as the public authority would: tenant
  // not found.
  std::string cloud = "public";
  // Rate limits of docs/api.md, "Limits". Off by default in-process (the CLI turns
  // them on); scale multiplies every quota (2.0 = twice as many calls allowed).
  bool rate_limits = false;
  double rate_limit_scale = 1.0;
  TopOverMax top_over_max = TopOverMax::clamp;
  // Server page size of the OData lists when no $top is given; 0 = the documented
  // maximum (10,000, or 8,000 for vulnerabilities). Tests lower it to exercise nextLink.
  std::size_t odata_page_size = 0;
  // Page size of the JSON exports and the delta export when the request names none
  // (`pageSize`); 0 = the documented default (50,000). Tests lower it so that a small
  // tenant's export and change feed come in several pages.
  std::uint64_t export_page_size = 0;
  // Export files cache; empty = <system temp>/mdesim-cache.
  std::string cache_dir;
  // HTTPS when both are set (PEM files).
  std::string tls_cert;
  std::string tls_key;
  unsigned generator_threads = 0;  // 0 = hardware concurrency (at most 4)
};

// Ground truth of the current snapshot. Keys are the uids the client stores:
// finding  `<deviceId>_<softwareVendor>_<softwareName>_<softwareVersion>_<cveId>`
// package  `<deviceId>_<vendor>-_-<name>` (vendor and name lower case).
struct Truth {
  std::string now;                       // simulator clock, ISO 8601
  std::string snapshot_time;             // generatedTime of the current export snapshot
  std::uint64_t machines = 0;            // rows of GET /api/machines
  std::uint64_t software = 0;            // rows of GET /api/software
  std::uint64_t installed_software = 0;  // rows of the CPE inventory export
  std::uint64_t non_cpe_installed_software = 0;
  std::uint64_t open_findings = 0;  // vulnerability export rows with a cveId
  std::uint64_t null_cve_rows = 0;  // vulnerability export rows without a cveId
  std::uint64_t definitions = 0;    // rows of GET /api/vulnerabilities
  std::uint64_t recommendations = 0;
  std::uint64_t delta_events = 0;                    // events kept for the delta export (14 days)
  std::vector<std::string> open_finding_keys;        // sorted
  std::vector<std::string> installed_software_keys;  // sorted
};

// "Next N calls answer `status`" for one endpoint name (see docs/simulator.md for the
// names, e.g. "machines.list", "export.vulnerabilities.files"; "*" matches all API
// endpoints, "token" the token service, "download" export file downloads).
struct ErrorFault {
  std::string endpoint = "*";
  int status = 503;
  std::uint32_t count = 1;
  int retry_after_s = 1;  // sent with 429 and 503
};

// Faults are consumed in arrival order; every count is "the next N matching responses".
struct Faults {
  std::vector<ErrorFault> errors;
  std::string reset_endpoint = "*";
  std::uint32_t reset_connection = 0;  // cut the body after `reset_after_bytes`
  std::uint32_t reset_after_bytes = 512;
  std::string slow_endpoint = "*";
  std::uint32_t slow_body = 0;  // stream the body in small chunks with a delay
  std::uint32_t slow_delay_ms = 20;
  // Next N answers of `hold_endpoint`: the first 1 KB piece of the body, then nothing until
  // clear_faults() or stop(); held_bodies() counts the answers that reached the hold.
  std::string hold_endpoint = "*";
  std::uint32_t hold_body = 0;
  bool expire_tokens = false;             // invalidate every token issued so far (one-shot)
  std::uint32_t expired_sas = 0;          // next N downloads: 403 XML AuthenticationFailed
  std::uint32_t truncated_gzip = 0;       // next N downloads: gzip stream cut in the middle
  std::uint32_t malformed_json_line = 0;  // next N downloads: one line is not JSON
  std::uint32_t empty_export_file = 0;    // next N file listings: an extra zero-byte file
  std::uint32_t duplicate_rows = 0;       // next N downloads / JSON pages: rows repeated
  std::uint32_t stray_row = 0;            // next N downloads: the middle line repeated at the end
  std::uint32_t looping_next_link = 0;    // next N paged responses: nextLink = same page
  std::string looping_endpoint = "*";     // endpoint name the looping nextLinks are for
  std::uint32_t extra_fields = 0;         // next N responses: unknown members added to rows
  std::uint32_t pascal_case_keys = 0;     // next N downloads: PascalCase member names
  std::uint32_t machine_not_found = 0;    // next N GET /api/machines/{id}: 404
};

struct EndpointStats {
  std::uint64_t total = 0;
  std::map<int, std::uint64_t> by_status;
};

struct AdvanceResult {
  std::string previous_time;
  std::string now;
  std::uint32_t steps = 0;
  std::uint64_t events = 0;  // delta events recorded by this call
};

// A running simulator: HTTP(S) server on a background thread plus the world it serves.
// All methods are thread-safe. Destruction stops the server.
class Simulator {
 public:
  // Generates the world and its first export snapshot (cached on disk), binds, and
  // starts serving. Blocks until the server accepts connections. Errors: bind failure,
  // unusable cache dir or TLS files.
  static mdesync::util::Result<std::unique_ptr<Simulator>> start(Options options);

  virtual ~Simulator() = default;
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // "http://127.0.0.1:PORT" (https when TLS is on); serves both token service and API.
  [[nodiscard]] virtual std::string base_url() const = 0;
  [[nodiscard]] virtual int port() const = 0;
  [[nodiscard]] virtual Credentials credentials() const = 0;

  // Moves the simulator clock forward in 6-hour steps (hours rounded up to a step) and
  // regenerates the snapshot. Blocks until the new export files exist.
  virtual AdvanceResult advance(int hours) = 0;
  [[nodiscard]] virtual Truth truth() const = 0;
  // The current world as the service shows it, for tests that compare a store with it
  // attribute by attribute. JSON text: {"snapshotTime", "machines" (GET /api/machines),
  // "software" (GET /api/software, each with its "distributions"), "vulnerabilities"
  // (GET /api/vulnerabilities), "recommendations" (GET /api/recommendations, each with
  // the "cveIds" it covers), "inventory" (CPE inventory export rows), "findings"
  // (vulnerability export rows with a cveId)}.
  [[nodiscard]] virtual std::string world_json() const = 0;

  // Adds to the pending faults (counts accumulate); clear_faults() drops them all.
  virtual void add_faults(const Faults& faults) = 0;
  // Also releases the bodies held by `hold_body`.
  virtual void clear_faults() = 0;
  [[nodiscard]] virtual Faults pending_faults() const = 0;
  // Roles for tokens issued from now on.
  virtual void set_roles(std::vector<std::string> roles) = 0;
  virtual void set_rate_limits(bool enabled, double scale) = 0;

  // Request counts per endpoint name (see docs/simulator.md), since start or reset.
  [[nodiscard]] virtual std::map<std::string, EndpointStats> stats() const = 0;
  virtual void reset_stats() = 0;
  // Answers that have sent the first piece of their body and are held (`hold_body`) now or
  // were until released, since start: a test waits for it to act mid-transfer.
  [[nodiscard]] virtual std::uint64_t held_bodies() const = 0;

  // Stops serving; idempotent. Blocks until the server thread has ended.
  virtual void stop() = 0;

 protected:
  Simulator() = default;
};

}  // namespace mdesim
