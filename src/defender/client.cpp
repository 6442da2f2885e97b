#include "defender/client.hpp"

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "auth/client_secret_credential.hpp"
#include "auth/jwt.hpp"
#include "defender/decode.hpp"
#include "http/curl_client.hpp"
#include "http/url.hpp"
#include "util/gzip_lines.hpp"

namespace mdesync::defender {

namespace {

using Steady = std::chrono::steady_clock;
using util::ErrorCode;

std::int64_t ns_since(Steady::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now() - t0).count();
}

constexpr std::size_t k_batch_rows = 512;

// A batch sink that hands each row to a record sink.
template <class T>
BatchSink<T> each_of(const RecordSink<T>& sink) {
  return [&sink](std::vector<T>&& rows) -> util::Status {
    for (auto& row : rows) {
      if (auto st = sink(std::move(row)); !st) return st;
    }
    return {};
  };
}

// A nextLink whose query has a parameter without a name (`?=x&=10000`) is the broken
// link of quirk Q2; following it returns mixed pages.
bool malformed_link(const http::Url& url) {
  std::string_view q = url.query;
  if (q.empty()) return false;
  std::size_t start = 0;
  while (start <= q.size()) {
    const auto amp = q.find('&', start);
    const auto part =
        q.substr(start, amp == std::string_view::npos ? q.size() - start : amp - start);
    if (!part.empty() && part.front() == '=') return true;
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return false;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      const int hi = hex(s[i + 1]);
      const int lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// The snapshot a JSON export $skiptoken pins: base64 JSON with
// {"ExportDefinition":{"TimePath":"2025-06-01/0601/"},...} (defender-api.md 3.4).
std::optional<Timestamp> skiptoken_snapshot(std::string_view link) {
  std::string lower(link);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto pos = lower.find("$skiptoken=");
  std::size_t skip = 11;
  if (pos == std::string::npos) {
    pos = lower.find("%24skiptoken=");
    skip = 13;
  }
  if (pos == std::string::npos) return std::nullopt;
  const auto start = pos + skip;
  const auto end = link.find('&', start);
  const auto token =
      percent_decode(link.substr(start, end == std::string_view::npos ? end : end - start));
  auto json = auth::base64url_decode(token);
  if (!json) return std::nullopt;
  const auto tp = json->find("\"TimePath\"");
  if (tp == std::string::npos) return std::nullopt;
  const auto q1 = json->find('"', json->find(':', tp) + 1);
  if (q1 == std::string::npos) return std::nullopt;
  const auto q2 = json->find('"', q1 + 1);
  if (q2 == std::string::npos) return std::nullopt;
  const std::string path = json->substr(q1 + 1, q2 - q1 - 1);  // yyyy-MM-dd/HHmm/
  if (path.size() < 15 || path[10] != '/') return std::nullopt;
  const std::string iso =
      fmt::format("{}T{}:{}:00Z", path.substr(0, 10), path.substr(11, 2), path.substr(13, 2));
  auto t = util::parse_timestamp(iso);
  if (!t) return std::nullopt;
  return *t;
}

// The value of a `$skip` parameter in a nextLink, if any.
std::optional<std::uint64_t> skip_param(const http::Url& url) {
  std::string_view q = url.query;
  std::size_t start = 0;
  while (start < q.size()) {
    const auto amp = q.find('&', start);
    const auto part =
        q.substr(start, amp == std::string_view::npos ? q.size() - start : amp - start);
    const auto eq = part.find('=');
    if (eq != std::string_view::npos) {
      const auto name = percent_decode(part.substr(0, eq));
      if (name.size() == 5 && (name == "$skip" || name == "$SKIP" || name == "$Skip")) {
        const auto value = part.substr(eq + 1);
        std::uint64_t n = 0;
        auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec == std::errc{} && p == value.data() + value.size()) return n;
        return std::nullopt;
      }
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return std::nullopt;
}

}  // namespace

// ---------------------------------------------------------------------------------------

void ClientStats::count_call(const std::string& family) {
  std::lock_guard lock(m_mutex);
  ++m_calls[family];
}

ClientStatsSnapshot ClientStats::snapshot() const {
  ClientStatsSnapshot s;
  {
    std::lock_guard lock(m_mutex);
    s.calls_by_endpoint = m_calls;
  }
  for (const auto& [family, n] : s.calls_by_endpoint) s.api_calls += n;
  s.retries = retry.retries.load();
  s.throttled = retry.throttled.load();
  s.unauthorized_refreshes = unauthorized_refreshes.load();
  s.token_requests = token_requests ? token_requests() : 0;
  s.api_bytes = api_bytes.load();
  s.downloads = downloads.load();
  s.download_bytes_compressed = download_bytes_compressed.load();
  s.download_bytes_decompressed = download_bytes_decompressed.load();
  s.export_lines = export_lines.load();
  s.skipped_lines = skipped_lines.load();
  s.link_refreshes = link_refreshes.load();
  s.download_time =
      std::chrono::milliseconds{std::max<std::int64_t>(0, download_ns.load()) / 1'000'000};
  s.decode_time = std::chrono::milliseconds{decode_ns.load() / 1'000'000};
  s.rate_limit_wait = limiter_wait ? limiter_wait() : std::chrono::milliseconds{0};
  return s;
}

std::string required_role(const std::string& family) {
  if (family == "machines") return "Machine.Read.All";
  if (family == "software" || family.rfind("SoftwareInventory", 0) == 0) return "Software.Read.All";
  if (family == "recommendations") return "SecurityRecommendation.Read.All";
  return "Vulnerability.Read.All";
}

// ---------------------------------------------------------------------------------------

struct Client::Impl {
  config::Config config;
  std::string api_base;  // api_url without a trailing slash
  std::string api_origin;
  std::unique_ptr<http::CurlHttpClient> own_http;
  std::unique_ptr<auth::ClientSecretCredential> own_credential;
  http::HttpClient* api_http = nullptr;
  http::HttpClient* download_http = nullptr;
  auth::TokenProvider* tokens = nullptr;
  util::Clock* clock = nullptr;
  util::Sleeper* sleeper = nullptr;
  http::RetryPolicy retry_policy;
  http::RetryContext retry_ctx;
  // Date of the latest API response, microseconds since 1970 (0: none yet).
  std::atomic<std::int64_t> server_date_us{0};
  std::unique_ptr<http::RateLimiter> limiter;
  ClientStats stats;

  std::string url(std::string_view path) const { return api_base + std::string(path); }

  util::Result<http::Response> api_get(const std::string& family, const std::string& url);
  util::Error status_error(const std::string& family, const std::string& url,
                           const http::Response& resp);
  template <class T>
  util::Result<ListResult> page(const std::string& family, const std::string& first_url,
                                bool follow, int page_max, bool not_found_is_empty,
                                const RecordSink<T>& sink);
  util::Result<ExportFiles> export_files(const std::string& family, std::optional<int> sas_hours);
  template <class T>
  util::Result<ListResult> stream_files(const ExportFiles& files,
                                        const std::function<util::Result<ExportFiles>()>& refresh,
                                        const BatchSink<T>& sink, DeviceGate<T>* gate = nullptr);
  template <class T>
  util::Status download_all(const std::vector<std::string>& urls, const BatchSink<T>& sink,
                            ListResult& out, std::vector<std::string>& expired,
                            DeviceGate<T>* gate);
  template <class T>
  util::Status download_one(const std::string& url, const std::atomic<bool>& cancel,
                            const std::function<util::Status(std::vector<T>&&)>& push,
                            DeviceGate<T>* gate);
};

util::Result<http::Response> Client::Impl::api_get(const std::string& family,
                                                   const std::string& url) {
  bool refreshed = false;
  const auto attempt = [&]() -> util::Result<http::Response> {
    limiter->acquire(family);
    auto token = tokens->token();
    if (!token) return util::fail(std::move(token.error()));
    http::Request req;
    req.url = url;
    req.headers = {{"Authorization", "Bearer " + *token}, {"Accept", "application/json"}};
    stats.count_call(family);
    const auto t0 = Steady::now();
    auto resp = api_http->send(req);
    spdlog::debug("GET {} -> {} ({} ms)", http::redact_url(url),
                  resp ? std::to_string(resp->status) : resp.error().message,
                  ns_since(t0) / 1'000'000);
    if (resp && resp->status == 401 && !refreshed) {
      spdlog::warn("GET {}: HTTP 401; fetching a new token and resending once",
                   http::redact_url(url));
      // The token may have been revoked or expired early: one fresh token, one resend.
      refreshed = true;
      stats.unauthorized_refreshes.fetch_add(1);
      tokens->invalidate(*token);
      auto fresh = tokens->token();
      if (!fresh) return util::fail(std::move(fresh.error()));
      req.headers[0].second = "Bearer " + *fresh;
      limiter->acquire(family);
      stats.count_call(family);
      resp = api_http->send(req);
    }
    if (resp) {
      stats.api_bytes.fetch_add(resp->body.size());
      if (auto date = resp->header("Date")) {
        if (auto t = http::parse_http_date(*date)) {
          server_date_us.store(util::to_timestamp(*t).time_since_epoch().count());
        }
      }
    }
    return resp;
  };
  return http::run_with_retry(retry_ctx, "GET " + http::redact_url(url), attempt);
}

util::Error Client::Impl::status_error(const std::string& family, const std::string& url,
                                       const http::Response& resp) {
  const ApiError api = decode_api_error(resp.body);
  std::string detail;
  if (!api.code.empty()) detail = " " + api.code;
  if (!api.message.empty()) detail += ": " + api.message;
  const std::string where = "GET " + http::redact_url(url);
  util::Error err{ErrorCode::http_status, {}, resp.status, std::nullopt};
  switch (resp.status) {
    case 401:
      err.code = ErrorCode::auth;
      err.message = fmt::format(
          "{}: HTTP 401{}; the API refused a freshly issued token. Check that `audience` is "
          "the one this API expects ({})",
          where, detail, config.audience);
      break;
    case 403: {
      err.code = ErrorCode::permission;
      std::string granted = "unknown";
      if (auto token = tokens->token()) {
        if (auto claims = auth::decode_claims(*token)) {
          granted =
              claims->roles.empty() ? "none" : fmt::format("{}", fmt::join(claims->roles, ", "));
        }
      }
      err.message = fmt::format(
          "{}: HTTP 403{}; this endpoint needs the application permission {} (the token grants: "
          "{}). Add it to the app registration and grant admin consent",
          where, detail, required_role(family), granted);
      break;
    }
    case 404:
      err.code = ErrorCode::not_found;
      err.message = fmt::format("{}: HTTP 404{}", where, detail);
      break;
    default:
      err.message = fmt::format("{}: HTTP {}{}", where, resp.status, detail);
      break;
  }
  return err;
}

template <class T>
util::Result<ListResult> Client::Impl::page(const std::string& family, const std::string& first_url,
                                            bool follow, int page_max, bool not_found_is_empty,
                                            const RecordSink<T>& sink) {
  ListResult out;
  std::set<std::string> seen{first_url};
  std::string url = first_url;
  bool skip_mode = false;
  std::optional<Timestamp> snapshot;
  for (;;) {
    auto resp = api_get(family, url);
    if (!resp) return util::fail(std::move(resp.error()));
    if (resp->status == 404 && not_found_is_empty && out.pages == 0) return out;
    if (!resp->ok()) return util::fail(status_error(family, url, *resp));
    ++out.pages;
    std::int64_t sink_ns = 0;
    bool sink_failed = false;
    const auto t0 = Steady::now();
    auto info = decode_page<T>(resp->body, [&](T&& record) -> util::Status {
      ++out.records;
      const auto s0 = Steady::now();
      auto st = sink(std::move(record));
      sink_ns += ns_since(s0);
      if (!st) sink_failed = true;
      return st;
    });
    stats.decode_ns.fetch_add(ns_since(t0) - sink_ns);
    if (!info) {
      if (sink_failed) return util::fail(std::move(info.error()));
      return util::fail(ErrorCode::parse, fmt::format("GET {} (page {}): {}", http::redact_url(url),
                                                      out.pages, info.error().message));
    }
    if (skip_mode) {
      if (static_cast<int>(info->items) < page_max) break;
      url = http::append_query(http::append_query(first_url, "$top", std::to_string(page_max)),
                               "$skip", std::to_string(out.records));
      continue;
    }
    if (!follow || !info->next_link) break;
    const std::string next = std::move(*info->next_link);
    auto parsed = http::parse_url(next);
    if (!parsed) {
      return util::fail(ErrorCode::paging,
                        fmt::format("GET {}: @odata.nextLink is not a URL", http::redact_url(url)));
    }
    if (parsed->origin() != api_origin) {
      return util::fail(ErrorCode::paging,
                        fmt::format("GET {}: @odata.nextLink points to {}, not to the API host {}; "
                                    "refusing to send the bearer token there",
                                    http::redact_url(url), parsed->origin(), api_origin));
    }
    // Q2: a link that lost its parameter names, or whose $skip does not continue where
    // this listing is, would serve mixed or repeated pages.
    const auto skip = skip_param(*parsed);
    if (malformed_link(*parsed) || (skip && *skip != out.records)) {
      if (page_max <= 0) {
        return util::fail(ErrorCode::paging,
                          fmt::format("GET {}: @odata.nextLink is malformed ({})",
                                      http::redact_url(url), http::redact_url(next)));
      }
      // Q2: fall back to explicit offsets over the original query.
      skip_mode = true;
      out.fell_back_to_skip = true;
      spdlog::warn("GET {}: inconsistent @odata.nextLink ({}); continuing with $top/$skip paging",
                   http::redact_url(url), next);
      url = http::append_query(http::append_query(first_url, "$top", std::to_string(page_max)),
                               "$skip", std::to_string(out.records));
      continue;
    }
    if (!seen.insert(next).second) {
      return util::fail(
          ErrorCode::paging,
          fmt::format("GET {}: @odata.nextLink repeats an earlier page after {} pages; "
                      "stopping instead of looping",
                      http::redact_url(url), out.pages));
    }
    if (auto snap = skiptoken_snapshot(next)) {
      if (snapshot && *snapshot != *snap) {
        return util::fail(
            ErrorCode::paging,
            fmt::format("GET {}: the export snapshot changed while paging ({} -> {}); "
                        "rerun the export",
                        http::redact_url(url), util::format_timestamp(*snapshot),
                        util::format_timestamp(*snap)));
      }
      snapshot = snap;
      out.generated_time = snap;
    }
    url = next;
  }
  return out;
}

util::Result<ExportFiles> Client::Impl::export_files(const std::string& family,
                                                     std::optional<int> sas_hours) {
  std::string u = url("/api/machines/" + family);
  if (sas_hours) u = http::append_query(u, "sasValidHours", std::to_string(*sas_hours));
  auto resp = api_get(family, u);
  if (!resp) return util::fail(std::move(resp.error()));
  if (!resp->ok()) return util::fail(status_error(family, u, *resp));
  auto files = decode_export_files(resp->body);
  if (!files) {
    return util::fail(ErrorCode::parse,
                      fmt::format("GET {}: {}", http::redact_url(u), files.error().message));
  }
  return files;
}

template <class T>
util::Status Client::Impl::download_one(const std::string& url, const std::atomic<bool>& cancel,
                                        const std::function<util::Status(std::vector<T>&&)>& push,
                                        DeviceGate<T>* gate) {
  const std::string name = http::redact_url(url);
  util::GzipLineDecoder gz;
  LineDecoder<T> decoder;
  std::vector<T> batch;
  batch.reserve(k_batch_rows);
  std::uint64_t line_no = 0;
  std::int64_t decode_ns = 0;
  std::int64_t push_ns = 0;
  const auto decode_line = [&](std::string_view line, std::uint64_t no, T& row) -> util::Status {
    const auto t0 = Steady::now();
    auto st = decoder.decode(line, row);
    decode_ns += ns_since(t0);
    if (!st) {
      return util::fail(ErrorCode::parse,
                        fmt::format("export file {}: line {}: {}", name, no, st.error().message));
    }
    return {};
  };
  const auto deliver = [&](T&& row) -> util::Status {
    batch.push_back(std::move(row));
    if (batch.size() >= k_batch_rows) {
      const auto p0 = Steady::now();
      auto pushed = push(std::move(batch));
      push_ns += ns_since(p0);
      batch.clear();
      batch.reserve(k_batch_rows);
      if (!pushed) return pushed;
    }
    return {};
  };
  std::unique_ptr<DeviceBlockSplitter<T>> blocks;
  if constexpr (std::is_same_v<T, InventoryRow> || std::is_same_v<T, VulnerabilityRow>) {
    if (gate != nullptr)
      blocks = std::make_unique<DeviceBlockSplitter<T>>(*gate, decode_line, deliver);
  }
  const util::LineHandler on_line = [&](std::string_view line) -> util::Status {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return {};
    if (blocks) return blocks->line(line, line_no);
    T row;
    if (auto st = decode_line(line, line_no, row); !st) return st;
    return deliver(std::move(row));
  };
  // A transfer cut mid-body is retried from the start; the bytes the decoder already
  // consumed are skipped so no row is delivered twice.
  std::uint64_t fed = 0;
  std::uint64_t skip = 0;
  const http::BodySink body_sink = [&](std::string_view chunk) -> util::Status {
    if (cancel.load()) return util::fail(ErrorCode::cancelled, "download cancelled");
    if (skip > 0) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(skip, chunk.size()));
      chunk.remove_prefix(n);
      skip -= n;
      if (chunk.empty()) return {};
    }
    fed += chunk.size();
    auto st = gz.feed(chunk, on_line);
    if (!st && st.error().code == ErrorCode::corrupt_stream) {
      st.error().message =
          fmt::format("export file {}: after line {}: {}", name, line_no, st.error().message);
    }
    return st;
  };
  const auto started = Steady::now();
  auto resp = http::run_with_retry(retry_ctx, "GET " + name, [&]() -> util::Result<http::Response> {
    http::Request req;
    req.url = url;  // no Authorization: the SAS query is the credential
    req.decode_content = false;
    skip = fed;
    stats.downloads.fetch_add(1);
    auto r = download_http->stream(req, body_sink);
    // A body that ends inside a gzip member was cut short (a proxy or the storage gave
    // up): downloaded again like a reset connection, resuming after the bytes decoded.
    if (r && r->ok() && !gz.complete() && gz.compressed_bytes() > 0) {
      return util::fail(ErrorCode::transport,
                        fmt::format("export file {}: the body ended inside the gzip stream "
                                    "after {} bytes (truncated download)",
                                    name, fed));
    }
    return r;
  });
  auto account = [&] {
    if (blocks) stats.skipped_lines.fetch_add(blocks->skipped_lines());
    stats.download_bytes_compressed.fetch_add(gz.compressed_bytes());
    stats.download_bytes_decompressed.fetch_add(gz.decompressed_bytes());
    stats.export_lines.fetch_add(line_no);
    stats.decode_ns.fetch_add(decode_ns);
    stats.download_ns.fetch_add(ns_since(started) - decode_ns - push_ns);
  };
  if (!resp) {
    account();
    return util::fail(std::move(resp.error()));
  }
  if (resp->status == 403 || resp->status == 410) {
    account();
    if (fed > 0) {
      return util::fail(ErrorCode::link_expired,
                        fmt::format("export file {}: the URL expired in the middle of the file "
                                    "(HTTP {}); rerun the export",
                                    name, resp->status));
    }
    util::Error err{
        ErrorCode::link_expired,
        fmt::format("export file {}: HTTP {} (the download URL has expired)", name, resp->status),
        resp->status, std::nullopt};
    return util::fail(std::move(err));
  }
  if (!resp->ok()) {
    account();
    util::Error err{ErrorCode::http_status,
                    fmt::format("export file {}: HTTP {}", name, resp->status), resp->status,
                    std::nullopt};
    return util::fail(std::move(err));
  }
  auto fin = gz.finish(on_line);
  if (!fin) {
    account();
    if (fin.error().code == ErrorCode::corrupt_stream) {
      fin.error().message =
          fmt::format("export file {}: truncated or corrupt gzip after line {}: {}", name, line_no,
                      fin.error().message);
    }
    return fin;
  }
  if (blocks) {
    if (auto st = blocks->finish(); !st) {
      account();
      return st;
    }
  }
  util::Status last{};
  if (!batch.empty()) last = push(std::move(batch));
  account();
  return last;
}

template <class T>
util::Status Client::Impl::download_all(const std::vector<std::string>& urls,
                                        const BatchSink<T>& sink, ListResult& out,
                                        std::vector<std::string>& expired, DeviceGate<T>* gate) {
  if (urls.empty()) return {};
  // Every URL before the first download: a refused one must not leave others half-read.
  for (const auto& url : urls) {
    if (auto st = check_download_url(url, api_base); !st) return st;
  }
  const std::size_t workers = std::clamp<std::size_t>(
      static_cast<std::size_t>(std::max(1, config.download_concurrency)), 1, urls.size());
  const std::size_t capacity = 2 * workers;

  std::mutex mutex;
  std::condition_variable can_push;
  std::condition_variable can_pop;
  std::deque<std::vector<T>> queue;
  std::atomic<bool> cancel{false};
  std::size_t next = 0;
  std::size_t active = workers;
  std::optional<util::Error> worker_error;
  std::uint64_t files_done = 0;

  const std::function<util::Status(std::vector<T> &&)> push =
      [&](std::vector<T>&& rows) -> util::Status {
    std::unique_lock lock(mutex);
    can_push.wait(lock, [&] { return queue.size() < capacity || cancel.load(); });
    if (cancel.load()) return util::fail(ErrorCode::cancelled, "download cancelled");
    queue.push_back(std::move(rows));
    can_pop.notify_one();
    return {};
  };
  const auto work = [&] {
    for (;;) {
      std::string url;
      {
        std::lock_guard lock(mutex);
        if (cancel.load() || next >= urls.size()) break;
        url = urls[next++];
      }
      auto st = download_one<T>(url, cancel, push, gate);
      std::lock_guard lock(mutex);
      if (st) {
        ++files_done;
      } else if (st.error().code == ErrorCode::link_expired && st.error().http_status) {
        // Expired before any byte arrived: resumable with a fresh URL.
        expired.push_back(url);
      } else if (!worker_error && st.error().code != ErrorCode::cancelled) {
        worker_error = std::move(st.error());
        cancel.store(true);
        can_push.notify_all();
      }
    }
    std::lock_guard lock(mutex);
    --active;
    can_pop.notify_all();
  };

  std::vector<std::thread> threads;
  threads.reserve(workers);
  for (std::size_t i = 0; i < workers; ++i) threads.emplace_back(work);

  std::optional<util::Error> sink_error;
  for (;;) {
    std::vector<T> rows;
    {
      std::unique_lock lock(mutex);
      can_pop.wait(lock, [&] { return !queue.empty() || active == 0; });
      if (queue.empty()) break;
      rows = std::move(queue.front());
      queue.pop_front();
      can_push.notify_one();
    }
    if (sink_error) continue;  // draining after a failure
    const std::size_t count = rows.size();
    if (auto st = sink(std::move(rows)); !st) {
      sink_error = std::move(st.error());
      std::lock_guard lock(mutex);
      cancel.store(true);
      can_push.notify_all();
      continue;
    }
    out.records += count;
  }
  for (auto& t : threads) t.join();
  out.files += files_done;
  if (sink_error) return util::fail(std::move(*sink_error));
  if (worker_error) return util::fail(std::move(*worker_error));
  return {};
}

template <class T>
util::Result<ListResult> Client::Impl::stream_files(
    const ExportFiles& files, const std::function<util::Result<ExportFiles>()>& refresh,
    const BatchSink<T>& sink, DeviceGate<T>* gate) {
  ListResult out;
  out.generated_time = files.generated_time;
  std::vector<std::string> pending = files.urls;
  bool refreshed = false;
  for (;;) {
    std::vector<std::string> expired;
    if (auto st = download_all<T>(pending, sink, out, expired, gate); !st) {
      return util::fail(st.error());
    }
    if (expired.empty()) break;
    const std::string first = http::redact_url(expired.front());
    if (refreshed || !refresh) {
      return util::fail(
          ErrorCode::link_expired,
          fmt::format("{} export file URL(s) expired (first: {}){}; rerun the export",
                      expired.size(), first, refreshed ? " even after a fresh export call" : ""));
    }
    refreshed = true;
    out.link_refreshed = true;
    spdlog::warn("{} export file URL(s) expired ({}); requesting a fresh list once", expired.size(),
                 first);
    stats.link_refreshes.fetch_add(1);
    auto fresh = refresh();
    if (!fresh) return util::fail(std::move(fresh.error()));
    if (fresh->generated_time != files.generated_time) {
      return util::fail(ErrorCode::link_expired,
                        fmt::format("export file URLs expired and the service now serves a newer "
                                    "snapshot ({} -> {}); rerun the export",
                                    util::format_timestamp(files.generated_time),
                                    util::format_timestamp(fresh->generated_time)));
    }
    std::vector<std::string> renewed;
    for (const auto& old : expired) {
      const auto key = http::redact_url(old);
      const auto it =
          std::find_if(fresh->urls.begin(), fresh->urls.end(),
                       [&](const std::string& u) { return http::redact_url(u) == key; });
      if (it == fresh->urls.end()) {
        return util::fail(ErrorCode::link_expired,
                          fmt::format("export file {} expired and is not in the fresh list; rerun "
                                      "the export",
                                      key));
      }
      renewed.push_back(*it);
    }
    pending = std::move(renewed);
  }
  return out;
}

// ---------------------------------------------------------------------------------------

util::Status check_download_url(std::string_view download_url, std::string_view api_url) {
  auto url = http::parse_url(download_url);
  if (!url) {
    return util::fail(ErrorCode::paging,
                      fmt::format("export file URL '{}' is not a URL: {}",
                                  http::redact_url(download_url), url.error().message));
  }
  if (url->scheme == "https") return {};
  auto api = http::parse_url(api_url);
  const bool local_plain_api = api && api->scheme == "http" && http::is_loopback_host(api->host);
  if (local_plain_api) return {};
  return util::fail(ErrorCode::paging,
                    fmt::format("export file URL {} is not https; refused, since its SAS "
                                "credential and the tenant's data would travel unencrypted (plain "
                                "http is accepted only when api_url is a loopback simulator)",
                                http::redact_url(download_url)));
}

Client::Client(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Client::~Client() = default;

util::Result<std::unique_ptr<Client>> Client::create(const config::Config& config,
                                                     ClientDeps deps) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->api_base = config.api_url;
  while (!impl->api_base.empty() && impl->api_base.back() == '/') impl->api_base.pop_back();
  auto api = http::parse_url(impl->api_base);
  if (!api) {
    return util::fail(ErrorCode::config, fmt::format("api_url: {}", api.error().message));
  }
  impl->api_origin = api->origin();
  if (config.insecure_skip_tls_verify) {
    // Loud on every run: with verification off, anyone on the path can read the secret
    // and the bearer and serve invented data.
    spdlog::warn(
        "TLS CERTIFICATE VERIFICATION IS OFF (insecure_skip_tls_verify): any host can pose as "
        "{} or {}, receive the client secret and tokens, and feed this store invented data. "
        "Use it only against a local simulator.",
        config.api_url, config.login_url);
  }
  impl->clock = deps.clock != nullptr ? deps.clock : &util::system_clock();
  impl->sleeper = deps.sleeper != nullptr ? deps.sleeper : &util::real_sleeper();
  if (deps.api == nullptr) {
    http::CurlOptions o;
    o.connect_timeout = std::chrono::seconds{config.connect_timeout_seconds};
    o.low_speed_timeout = std::chrono::seconds{config.low_speed_timeout_seconds};
    o.proxy = config.proxy;
    o.ca_bundle = config.ca_bundle;
    o.insecure_skip_tls_verify = config.insecure_skip_tls_verify;
    o.user_agent = "mdesync";
    impl->own_http = std::make_unique<http::CurlHttpClient>(std::move(o));
    impl->api_http = impl->own_http.get();
  } else {
    impl->api_http = deps.api;
  }
  impl->download_http = deps.download != nullptr ? deps.download : impl->api_http;
  impl->retry_policy = deps.retry.value_or(http::RetryPolicy{});
  if (!deps.retry) impl->retry_policy.max_retries = std::max(0, config.max_retries);
  impl->retry_ctx.policy = &impl->retry_policy;
  impl->retry_ctx.clock = impl->clock;
  impl->retry_ctx.sleeper = impl->sleeper;
  impl->retry_ctx.random = deps.random ? deps.random : http::default_random();
  impl->retry_ctx.counters = &impl->stats.retry;
  impl->retry_ctx.error_code = [](const http::Response& r) {
    return decode_api_error(r.body).code;
  };
  impl->limiter =
      std::make_unique<http::RateLimiter>(*impl->clock, *impl->sleeper, config.rate_limit_scale);
  if (deps.tokens == nullptr) {
    http::RetryContext token_retry = impl->retry_ctx;
    token_retry.error_code = {};
    impl->own_credential = std::make_unique<auth::ClientSecretCredential>(
        auth::CredentialOptions::from_config(config), *impl->api_http, *impl->clock, token_retry);
    impl->tokens = impl->own_credential.get();
    auto* cred = impl->own_credential.get();
    impl->stats.token_requests = [cred] { return static_cast<std::uint64_t>(cred->fetch_count()); };
  } else {
    impl->tokens = deps.tokens;
  }
  auto* limiter = impl->limiter.get();
  impl->stats.limiter_wait = [limiter] { return limiter->total_wait(); };
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

util::Result<std::vector<std::string>> Client::granted_roles() {
  auto token = m_impl->tokens->token();
  if (!token) return util::fail(std::move(token.error()));
  auto claims = auth::decode_claims(*token);
  if (!claims) return util::fail(std::move(claims.error()));
  return claims->roles;
}

namespace {

std::string odata_url(std::string base, const ODataQuery& q) {
  if (!q.filter.empty()) base = http::append_query(std::move(base), "$filter", q.filter);
  if (q.top) base = http::append_query(std::move(base), "$top", std::to_string(*q.top));
  for (const auto& [k, v] : q.extra) base = http::append_query(std::move(base), k, v);
  return base;
}

std::string export_url(std::string base, const ExportPageQuery& q) {
  if (q.page_size)
    base = http::append_query(std::move(base), "pageSize", std::to_string(*q.page_size));
  if (q.top) base = http::append_query(std::move(base), "$top", std::to_string(*q.top));
  return base;
}

}  // namespace

util::Result<ListResult> Client::for_each_machine(const ODataQuery& q,
                                                  const RecordSink<Machine>& sink) {
  // GET /api/machines answers 404 when the tenant has no machines (defender-api.md 4.1).
  return m_impl->page<Machine>("machines", odata_url(m_impl->url("/api/machines"), q), !q.top,
                               q.top ? 0 : 10'000, true, sink);
}

util::Result<Machine> Client::get_machine(const std::string& id) {
  const std::string u = m_impl->url("/api/machines/" + http::url_encode(id));
  // Q7: per-machine calls answer 404 intermittently for devices that exist; a few
  // retries with backoff tell a flaky answer from a device that is gone.
  constexpr int k_not_found_retries = 2;
  for (int attempt = 0;; ++attempt) {
    auto resp = m_impl->api_get("machines", u);
    if (!resp) return util::fail(std::move(resp.error()));
    if (resp->status == 404 && attempt < k_not_found_retries) {
      m_impl->stats.retry.retries.fetch_add(1);
      m_impl->sleeper->sleep_for(
          http::backoff_delay(m_impl->retry_policy, attempt, m_impl->retry_ctx.random()));
      continue;
    }
    if (!resp->ok()) return util::fail(m_impl->status_error("machines", u, *resp));
    auto m = decode_entity<Machine>(resp->body);
    if (!m) {
      return util::fail(ErrorCode::parse,
                        fmt::format("GET {}: {}", http::redact_url(u), m.error().message));
    }
    return m;
  }
}

util::Result<ListResult> Client::for_each_software(const ODataQuery& q,
                                                   const RecordSink<Software>& sink) {
  return m_impl->page<Software>("software", odata_url(m_impl->url("/api/software"), q), !q.top,
                                q.top ? 0 : 10'000, false, sink);
}

util::Result<ListResult> Client::for_each_software_distribution(
    const std::string& software_id, const RecordSink<Distribution>& sink) {
  return m_impl->page<Distribution>(
      "software", m_impl->url("/api/software/" + http::url_encode(software_id) + "/distributions"),
      true, 0, false, sink);
}

util::Result<ListResult> Client::for_each_software_machine_reference(
    const std::string& software_id, const RecordSink<MachineReference>& sink) {
  return m_impl->page<MachineReference>(
      "software",
      m_impl->url("/api/software/" + http::url_encode(software_id) + "/machineReferences"), true, 0,
      false, sink);
}

util::Result<ListResult> Client::for_each_vulnerability(const ODataQuery& q,
                                                        const RecordSink<Vulnerability>& sink) {
  return m_impl->page<Vulnerability>("vulnerabilities",
                                     odata_url(m_impl->url("/api/vulnerabilities"), q), !q.top,
                                     q.top ? 0 : 8'000, false, sink);
}

util::Result<ListResult> Client::for_each_machine_vulnerability(
    const ODataQuery& q, const RecordSink<MachineVulnerability>& sink) {
  return m_impl->page<MachineVulnerability>(
      "machinesVulnerabilities",
      odata_url(m_impl->url("/api/vulnerabilities/machinesVulnerabilities"), q), !q.top,
      q.top ? 0 : 10'000, false, sink);
}

util::Result<ListResult> Client::for_each_recommendation(const ODataQuery& q,
                                                         const RecordSink<Recommendation>& sink) {
  return m_impl->page<Recommendation>("recommendations",
                                      odata_url(m_impl->url("/api/recommendations"), q), !q.top,
                                      q.top ? 0 : 10'000, false, sink);
}

util::Result<ListResult> Client::for_each_recommendation_vulnerability(
    const std::string& recommendation_id, const RecordSink<Vulnerability>& sink) {
  return m_impl->page<Vulnerability>(
      "recommendationVulnerabilities",
      m_impl->url("/api/recommendations/" + http::url_encode(recommendation_id) +
                  "/vulnerabilities"),
      true, 0, false, sink);
}

util::Result<ListResult> Client::for_each_vulnerability_by_machine(
    const ExportPageQuery& q, const RecordSink<VulnerabilityRow>& sink) {
  return m_impl->page<VulnerabilityRow>(
      "SoftwareVulnerabilitiesByMachine",
      export_url(m_impl->url("/api/machines/SoftwareVulnerabilitiesByMachine"), q), !q.top, 0,
      false, sink);
}

util::Result<ListResult> Client::for_each_vulnerability_change(
    Timestamp since, const ExportPageQuery& q, const RecordSink<VulnerabilityRow>& sink) {
  std::string u =
      http::append_query(m_impl->url("/api/machines/SoftwareVulnerabilityChangesByMachine"),
                         "sinceTime", util::format_timestamp_seconds(since));
  return m_impl->page<VulnerabilityRow>("SoftwareVulnerabilityChangesByMachine", export_url(u, q),
                                        !q.top, 0, false, sink);
}

util::Result<ListResult> Client::for_each_inventory_by_machine(
    const ExportPageQuery& q, bool non_cpe, const RecordSink<InventoryRow>& sink) {
  const std::string family =
      non_cpe ? "SoftwareInventoryNoProductCodeByMachine" : "SoftwareInventoryByMachine";
  return m_impl->page<InventoryRow>(family, export_url(m_impl->url("/api/machines/" + family), q),
                                    !q.top, 0, false, sink);
}

util::Result<ExportFiles> Client::vulnerability_export_files(std::optional<int> sas_valid_hours) {
  return m_impl->export_files("SoftwareVulnerabilitiesExport", sas_valid_hours);
}

util::Result<ExportFiles> Client::inventory_export_files(bool non_cpe,
                                                         std::optional<int> sas_valid_hours) {
  return m_impl->export_files(non_cpe ? "SoftwareInventoryNonCpeExport" : "SoftwareInventoryExport",
                              sas_valid_hours);
}

util::Result<ListResult> Client::stream_vulnerability_export(
    const RecordSink<VulnerabilityRow>& sink) {
  auto files = vulnerability_export_files();
  if (!files) return util::fail(std::move(files.error()));
  return stream_vulnerability_files(
      *files, [this] { return vulnerability_export_files(); }, sink);
}

util::Result<ListResult> Client::stream_inventory_export(bool non_cpe,
                                                         const RecordSink<InventoryRow>& sink) {
  auto files = inventory_export_files(non_cpe);
  if (!files) return util::fail(std::move(files.error()));
  return stream_inventory_files(
      *files, [this, non_cpe] { return inventory_export_files(non_cpe); }, sink);
}

util::Result<ListResult> Client::stream_vulnerability_files(
    const ExportFiles& files, const std::function<util::Result<ExportFiles>()>& refresh,
    const RecordSink<VulnerabilityRow>& sink, VulnerabilityGate* gate) {
  return m_impl->stream_files<VulnerabilityRow>(files, refresh, each_of(sink), gate);
}

util::Result<ListResult> Client::stream_vulnerability_batches(
    const ExportFiles& files, const std::function<util::Result<ExportFiles>()>& refresh,
    const BatchSink<VulnerabilityRow>& sink, VulnerabilityGate* gate) {
  return m_impl->stream_files<VulnerabilityRow>(files, refresh, sink, gate);
}

util::Result<ListResult> Client::stream_inventory_files(
    const ExportFiles& files, const std::function<util::Result<ExportFiles>()>& refresh,
    const RecordSink<InventoryRow>& sink, InventoryGate* gate) {
  return m_impl->stream_files<InventoryRow>(files, refresh, each_of(sink), gate);
}

util::Result<ListResult> Client::stream_inventory_batches(
    const ExportFiles& files, const std::function<util::Result<ExportFiles>()>& refresh,
    const BatchSink<InventoryRow>& sink, InventoryGate* gate) {
  return m_impl->stream_files<InventoryRow>(files, refresh, sink, gate);
}

ClientStatsSnapshot Client::stats() const {
  return m_impl->stats.snapshot();
}

std::optional<util::Timestamp> Client::server_time() const {
  const auto us = m_impl->server_date_us.load();
  if (us == 0) return std::nullopt;
  return util::Timestamp(std::chrono::microseconds(us));
}

http::RateLimiter& Client::limiter() {
  return *m_impl->limiter;
}

}  // namespace mdesync::defender
