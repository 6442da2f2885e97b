// File exports of Client: the export call that lists the files, their download
// (inflate, split, decode; device blocks when a gate is given) by worker threads, and the
// hand-off of row batches to the caller's thread.

#include "defender/client.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "defender/client_impl.hpp"
#include "defender/decode.hpp"
#include "defender/inventory_blocks.hpp"
#include "http/url.hpp"
#include "util/gzip_lines.hpp"
#include "util/log_context.hpp"

namespace mdesync::defender {
namespace {

using util::ErrorCode;

constexpr std::size_t k_batch_rows = 256;

// A stage that does nothing on the download thread: the calling thread hands each row
// to a record sink.
template <class T>
BatchStage<T> each_of(const RecordSink<T>& sink) {
  return [&sink](std::vector<T>&& rows) -> BatchStep {
    return [&sink, batch = std::move(rows)]() mutable -> util::Status {
      for (auto& row : batch) {
        if (auto st = sink(std::move(row)); !st) return st;
      }
      return {};
    };
  };
}

}  // namespace

util::Result<ExportFiles> Client::Impl::export_files(const std::string& family,
                                                     std::optional<int> sas_hours) {
  std::string u = url("/api/machines/" + family);
  if (sas_hours) u = http::append_query(u, "sasValidHours", std::to_string(*sas_hours));
  std::optional<ExportFiles> files;
  auto resp = api_get(family, u, [&](http::Response& r) -> util::Status {
    auto decoded = decode_export_files(r.body);
    if (!decoded && decoded.error().code == ErrorCode::corrupt_stream) {
      return util::fail(decoded.error());  // fetched again
    }
    if (!decoded) {
      return util::fail(ErrorCode::parse,
                        fmt::format("GET {}: {}", http::redact_url(u), decoded.error().message));
    }
    files = std::move(*decoded);
    return {};
  });
  if (!resp) return util::fail(std::move(resp.error()));
  if (!resp->ok()) return util::fail(status_error(family, u, *resp));
  return std::move(*files);
}

template <class T>
util::Status Client::Impl::download_one(
    const std::string& url, const std::atomic<bool>& cancel, const BatchStage<T>& stage,
    const std::function<util::Status(BatchStep&&, std::size_t)>& push, DeviceGate<T>* gate) {
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
  // The batch is staged on this thread, then its step queued for the calling thread
  // (waiting while the queue is full).
  const auto send = [&]() -> util::Status {
    const std::size_t rows = batch.size();
    const auto p0 = Steady::now();
    BatchStep step = stage(std::move(batch));
    batch.clear();
    batch.reserve(k_batch_rows);
    auto pushed = push(std::move(step), rows);
    push_ns += ns_since(p0);
    return pushed;
  };
  // A full batch is sent before the next device's first row: a device's consecutive
  // rows stay in one batch (BatchStage).
  const auto deliver = [&](T&& row) -> util::Status {
    if (batch.size() >= k_batch_rows && row.device_id != batch.back().device_id) {
      if (auto st = send(); !st) return st;
    }
    batch.push_back(std::move(row));
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
  if (!batch.empty()) last = send();
  account();
  return last;
}

template <class T>
util::Status Client::Impl::download_all(const std::vector<std::string>& urls,
                                        const BatchStage<T>& stage, ListResult& out,
                                        std::vector<std::string>& expired, DeviceGate<T>* gate) {
  if (urls.empty()) return {};
  // Every URL before the first download: a refused one must not leave others half-read.
  for (const auto& url : urls) {
    if (auto st = check_download_url(url, api_base); !st) return st;
  }
  const std::size_t workers = std::clamp<std::size_t>(
      static_cast<std::size_t>(std::max(1, config.download_concurrency)), 1, urls.size());
  const std::size_t capacity = workers;

  std::mutex mutex;
  std::condition_variable can_push;
  std::condition_variable can_pop;
  // Staged batches: the step for the calling thread and the batch's row count.
  std::deque<std::pair<BatchStep, std::size_t>> queue;
  std::atomic<bool> cancel{false};
  std::size_t next = 0;
  std::size_t active = workers;
  std::optional<util::Error> worker_error;
  std::uint64_t files_done = 0;

  const std::function<util::Status(BatchStep&&, std::size_t)> push =
      [&](BatchStep&& step, std::size_t rows) -> util::Status {
    std::unique_lock lock(mutex);
    can_push.wait(lock, [&] { return queue.size() < capacity || cancel.load(); });
    if (cancel.load()) return util::fail(ErrorCode::cancelled, "download cancelled");
    queue.emplace_back(std::move(step), rows);
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
      auto st = download_one<T>(url, cancel, stage, push, gate);
      std::lock_guard lock(mutex);
      if (st) {
        ++files_done;
      } else if (st.error().code == ErrorCode::link_expired && st.error().http_status) {
        // Expired before any byte arrived: resumable with a fresh URL.
        expired.push_back(url);
      } else if (!worker_error && !(st.error().code == ErrorCode::cancelled && cancel.load())) {
        // A cancellation from outside (the run is interrupted) is an error of the
        // download too: the files after it were not read.
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
  for (std::size_t i = 0; i < workers; ++i) threads.emplace_back(util::with_log_context(work));

  std::optional<util::Error> sink_error;
  for (;;) {
    BatchStep step;
    std::size_t count = 0;
    {
      std::unique_lock lock(mutex);
      can_pop.wait(lock, [&] { return !queue.empty() || active == 0; });
      if (queue.empty()) break;
      step = std::move(queue.front().first);
      count = queue.front().second;
      queue.pop_front();
      can_push.notify_one();
    }
    if (sink_error) continue;  // draining after a failure
    if (auto st = step(); !st) {
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
    const BatchStage<T>& stage, DeviceGate<T>* gate) {
  ListResult out;
  out.generated_time = files.generated_time;
  std::vector<std::string> pending = files.urls;
  bool refreshed = false;
  for (;;) {
    std::vector<std::string> expired;
    if (auto st = download_all<T>(pending, stage, out, expired, gate); !st) {
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
    const BatchStage<VulnerabilityRow>& stage, VulnerabilityGate* gate) {
  return m_impl->stream_files<VulnerabilityRow>(files, refresh, stage, gate);
}

util::Result<ListResult> Client::stream_inventory_files(
    const ExportFiles& files, const std::function<util::Result<ExportFiles>()>& refresh,
    const RecordSink<InventoryRow>& sink, InventoryGate* gate) {
  return m_impl->stream_files<InventoryRow>(files, refresh, each_of(sink), gate);
}

util::Result<ListResult> Client::stream_inventory_batches(
    const ExportFiles& files, const std::function<util::Result<ExportFiles>()>& refresh,
    const BatchStage<InventoryRow>& stage, InventoryGate* gate) {
  return m_impl->stream_files<InventoryRow>(files, refresh, stage, gate);
}

}  // namespace mdesync::defender
