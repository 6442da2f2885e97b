#pragma once

// Typed access to the Defender for Endpoint API: the only component that knows endpoint
// paths and JSON. Records are decoded into records.hpp structs and handed to a callback
// one at a time; pages and export files are never held whole beyond one page.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "auth/token_provider.hpp"
#include "config/config.hpp"
#include "defender/inventory_blocks.hpp"
#include "defender/records.hpp"
#include "http/http_client.hpp"
#include "http/rate_limiter.hpp"
#include "http/retry.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace mdesync::defender {

// A record callback. An error stops the listing and is returned unchanged.
template <class T>
using RecordSink = std::function<util::Status(T&&)>;
// What the calling thread does with one batch of a file export, once its turn comes.
using BatchStep = std::function<util::Status()>;
// Work on one batch of a file export's rows (a few hundred rows of one file, in file
// order, to be moved from), run on the download thread that decoded them, concurrently
// with the other files' threads: it returns the step the calling thread then runs for
// the batch, so that the work that does not need the calling thread (mapping, hashing)
// is spread over the download threads. The steps of one file run in file order. A batch
// never ends between two consecutive rows of one device: rows that continue each other
// (the versions of one software on a device) are always in one batch.
template <class T>
using BatchStage = std::function<BatchStep(std::vector<T>&&)>;

// Options of an OData list (machines, software, vulnerabilities, ...).
struct ODataQuery {
  std::string filter;      // $filter expression as OData text (unencoded); empty = none
  std::optional<int> top;  // one page of at most this many rows; disables nextLink paging
  std::vector<std::pair<std::string, std::string>> extra;  // further query parameters
};

// Options of the JSON assessment exports (...ByMachine).
struct ExportPageQuery {
  std::optional<int> page_size;  // pageSize (server default 50,000, max 200,000)
  std::optional<int> top;        // $top: that many rows, no paging (used by `check`)
};

// What a listing or an export run delivered.
struct ListResult {
  std::uint64_t records = 0;
  std::uint64_t pages = 0;
  // The export snapshot time: generatedTime of a file export; for JSON exports, the
  // snapshot that the $skiptoken pins (when it could be read).
  std::optional<Timestamp> generated_time;
  std::uint64_t files = 0;         // file exports: files read
  bool link_refreshed = false;     // file exports: an expired URL list was renewed
  bool fell_back_to_skip = false;  // OData: a malformed nextLink was replaced by $skip
};

// A consistent copy of the client's counters (ClientStats::snapshot()).
struct ClientStatsSnapshot {
  std::map<std::string, std::uint64_t> calls_by_endpoint;  // API calls (attempts) per family
  std::uint64_t api_calls = 0;               // requests sent to the API (all attempts)
  std::uint64_t retries = 0;                 // waits before a further attempt
  std::uint64_t throttled = 0;               // 429 answers received
  std::uint64_t unauthorized_refreshes = 0;  // 401s answered by a fresh token
  std::uint64_t token_requests = 0;          // (only when the client built its own credential)
  std::uint64_t api_bytes = 0;               // JSON bytes received from the API (decompressed)
  std::uint64_t downloads = 0;               // export files fetched (all attempts)
  std::uint64_t download_bytes_compressed = 0;
  std::uint64_t download_bytes_decompressed = 0;
  std::uint64_t export_lines = 0;    // export file lines read
  std::uint64_t skipped_lines = 0;   // of those, not decoded (an InventoryGate skipped them)
  std::uint64_t link_refreshes = 0;  // fresh export URL lists after an expired link
  std::chrono::milliseconds download_time{0};  // fetching + gunzip, excluding decoding
  std::chrono::milliseconds decode_time{0};    // JSON decoding of pages and lines
  std::chrono::milliseconds rate_limit_wait{0};
};

// Counters shared by all threads of one Client. Thread-safe.
class ClientStats {
 public:
  void count_call(const std::string& family);
  [[nodiscard]] ClientStatsSnapshot snapshot() const;

  http::RetryCounters retry;  // attempts/retries/throttled of every retry loop
  std::atomic<std::uint64_t> unauthorized_refreshes{0};
  std::atomic<std::uint64_t> api_bytes{0};
  std::atomic<std::uint64_t> downloads{0};
  std::atomic<std::uint64_t> download_bytes_compressed{0};
  std::atomic<std::uint64_t> download_bytes_decompressed{0};
  std::atomic<std::uint64_t> export_lines{0};
  std::atomic<std::uint64_t> skipped_lines{0};
  std::atomic<std::uint64_t> link_refreshes{0};
  std::atomic<std::int64_t> download_ns{0};
  std::atomic<std::int64_t> decode_ns{0};
  std::function<std::uint64_t()> token_requests;            // set by Client
  std::function<std::chrono::milliseconds()> limiter_wait;  // set by Client

 private:
  mutable std::mutex m_mutex;
  std::map<std::string, std::uint64_t> m_calls;
};

// Everything a Client can be given instead of building it from the config. Null
// members are built: a CurlHttpClient from the config, the credential config.auth names, the
// system clock, a real sleeper and a seeded random source.
struct ClientDeps {
  http::HttpClient* api = nullptr;       // API and token requests
  http::HttpClient* download = nullptr;  // export file downloads (no bearer); default `api`
  auth::TokenProvider* tokens = nullptr;
  util::Clock* clock = nullptr;
  util::Sleeper* sleeper = nullptr;
  http::Random random;
  std::optional<http::RetryPolicy> retry;  // default: config.max_retries, 1 s base, 60 s cap
  // Optional: its cancellation ends every request, retry wait and rate-limit wait of the
  // client (the token requests of the client's own credential included) with
  // ErrorCode::cancelled. Must outlive the client.
  const util::CancelToken* cancel = nullptr;
};

// Whether an export file URL may be downloaded: it must be https (its query is the SAS
// credential and its body the tenant's data), unless the API itself is plain http on a
// loopback host (a local simulator). A refused URL is a `paging` error naming it
// without its query.
util::Status check_download_url(std::string_view download_url, std::string_view api_url);

// Roles (application permissions) that an endpoint family needs (docs/api.md, "Limits").
std::string required_role(const std::string& family);

// Thread-safety: one Client may be used from several threads at once (counters, token
// cache and limiter are shared and locked); each call blocks its caller and invokes the
// callback on the caller's thread only.
class Client final {
 public:
  // Builds a client. Errors: config (bad api_url). Does not contact the network.
  static util::Result<std::unique_ptr<Client>> create(const config::Config& config,
                                                      ClientDeps deps = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // --- Auth ---------------------------------------------------------------------------
  // Gets (or reuses) a token and returns the roles its `roles` claim grants. Errors:
  // auth (refused credentials, with the AADSTS explanation), transport, parse.
  util::Result<std::vector<std::string>> granted_roles();

  // --- OData lists: every record of every page, following @odata.nextLink verbatim ---
  // All block, are not re-entrant per Client call site, and invoke `sink` on the calling
  // thread. Errors: auth, permission (403, names the missing role), paging (foreign
  // host, repeated link), parse, http_status, rate_limited, retries_exhausted.
  util::Result<ListResult> for_each_machine(const ODataQuery& q, const RecordSink<Machine>& sink);
  // One machine by id or DNS name; a 404 is retried twice (quirk Q7) before not_found.
  util::Result<Machine> get_machine(const std::string& id);
  util::Result<ListResult> for_each_software(const ODataQuery& q, const RecordSink<Software>& sink);
  util::Result<ListResult> for_each_software_distribution(const std::string& software_id,
                                                          const RecordSink<Distribution>& sink);
  util::Result<ListResult> for_each_software_machine_reference(
      const std::string& software_id, const RecordSink<MachineReference>& sink);
  util::Result<ListResult> for_each_vulnerability(const ODataQuery& q,
                                                  const RecordSink<Vulnerability>& sink);
  util::Result<ListResult> for_each_machine_vulnerability(
      const ODataQuery& q, const RecordSink<MachineVulnerability>& sink);
  util::Result<ListResult> for_each_recommendation(const ODataQuery& q,
                                                   const RecordSink<Recommendation>& sink);
  util::Result<ListResult> for_each_recommendation_vulnerability(
      const std::string& recommendation_id, const RecordSink<Vulnerability>& sink);

  // --- Assessment exports, JSON flavour (pageSize + $skiptoken paging) ----------------
  util::Result<ListResult> for_each_vulnerability_by_machine(
      const ExportPageQuery& q, const RecordSink<VulnerabilityRow>& sink);
  // Changes since `since` (at most 14 days back; rows carry status and eventTimestamp).
  util::Result<ListResult> for_each_vulnerability_change(Timestamp since, const ExportPageQuery& q,
                                                         const RecordSink<VulnerabilityRow>& sink);
  // `non_cpe`: SoftwareInventoryNoProductCodeByMachine instead of ...InventoryByMachine.
  util::Result<ListResult> for_each_inventory_by_machine(const ExportPageQuery& q, bool non_cpe,
                                                         const RecordSink<InventoryRow>& sink);

  // --- Assessment exports, file flavour ------------------------------------------------
  // One export call: the SAS URL list and the snapshot time. `sas_valid_hours` 1-6.
  util::Result<ExportFiles> vulnerability_export_files(std::optional<int> sas_valid_hours = {});
  util::Result<ExportFiles> inventory_export_files(bool non_cpe,
                                                   std::optional<int> sas_valid_hours = {});
  // Calls the export, then downloads every file (config.download_concurrency at once,
  // without the bearer token), gunzips and decodes lines while bytes arrive, and hands
  // rows to `sink` on the calling thread, never concurrently. An expired URL (403)
  // triggers one fresh export call and the remaining files continue from it. Errors
  // name the file (without its SAS query) and the line; corrupt_stream for a truncated
  // gzip, parse for a malformed line, link_expired when the refresh did not help.
  util::Result<ListResult> stream_vulnerability_export(const RecordSink<VulnerabilityRow>& sink);
  util::Result<ListResult> stream_inventory_export(bool non_cpe,
                                                   const RecordSink<InventoryRow>& sink);
  // Streams the given files (e.g. a list obtained earlier). `refresh` is called at most
  // once to renew expired URLs; null means an expired URL is an error. With a `gate`,
  // lines are split into device blocks and the blocks the gate skips are neither
  // decoded nor delivered (inventory_blocks.hpp).
  util::Result<ListResult> stream_vulnerability_files(
      const ExportFiles& files, const std::function<util::Result<ExportFiles>()>& refresh,
      const RecordSink<VulnerabilityRow>& sink, VulnerabilityGate* gate = nullptr);
  util::Result<ListResult> stream_inventory_files(
      const ExportFiles& files, const std::function<util::Result<ExportFiles>()>& refresh,
      const RecordSink<InventoryRow>& sink, InventoryGate* gate = nullptr);
  // The same, a batch of rows at a time, each batch first given to `stage` on its
  // download thread (BatchStage).
  util::Result<ListResult> stream_vulnerability_batches(
      const ExportFiles& files, const std::function<util::Result<ExportFiles>()>& refresh,
      const BatchStage<VulnerabilityRow>& stage, VulnerabilityGate* gate = nullptr);
  util::Result<ListResult> stream_inventory_batches(
      const ExportFiles& files, const std::function<util::Result<ExportFiles>()>& refresh,
      const BatchStage<InventoryRow>& stage, InventoryGate* gate = nullptr);

  // --- Counters -----------------------------------------------------------------------
  // A snapshot of the counters since construction. Thread-safe.
  [[nodiscard]] ClientStatsSnapshot stats() const;

  // The service's clock as of the latest API response (its Date header), nullopt before
  // any response carried one. The service's limits on start times (the change feed's 14
  // days) are in its time, which the local clock may not match. Thread-safe.
  [[nodiscard]] std::optional<util::Timestamp> server_time() const;

  // The rate limiter (tests and `check` adjust or inspect it).
  http::RateLimiter& limiter();

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace mdesync::defender
