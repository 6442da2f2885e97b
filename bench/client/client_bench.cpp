// Export-file decode throughput (rows/s, MB/s of decompressed JSON): the line decoder
// alone, gunzip + split + decode, and the whole Client streaming path (worker threads,
// bounded queue, serialized callbacks) over an in-memory transport.
#include <benchmark/benchmark.h>
#include <zlib.h>

#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "defender/client.hpp"
#include "defender/decode.hpp"
#include "http/fake_http_client.hpp"
#include "util/gzip_lines.hpp"

namespace {

using namespace mdesync;

std::string row(int i) {
  // Shaped like a real SoftwareVulnerabilitiesExport line (~1 KB, docs/api.md).
  const std::string dev = fmt::format("{:040x}", static_cast<unsigned>(i / 40) * 2654435761U);
  return fmt::format(
      R"({{"id":"{0}_exampleviewer_4.1.{1}_CVE-2025-{2}_","deviceId":"{0}","rbacGroupName":"Finance laptops","rbacGroupId":17,)"
      R"("deviceName":"fin-lt-{1}.corp.example.org","osPlatform":"Windows11","osVersion":"10.0.26100.3775","osArchitecture":"x64",)"
      R"("softwareVendor":"examplesoft","softwareName":"exampleviewer","softwareVersion":"4.1.{1}","cveId":"CVE-2025-{2}",)"
      R"("cvssScore":7.8,"vulnerabilitySeverityLevel":"High","recommendedSecurityUpdate":"ExampleViewer 4.2.1",)"
      R"("recommendedSecurityUpdateId":null,"recommendedSecurityUpdateUrl":null,"diskPaths":["C:\\Program Files\\ExampleViewer\\viewer.exe"],)"
      R"("registryPaths":["HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\ExampleViewer"],)"
      R"("lastSeenTimestamp":"2025-06-01 05:40:12","firstSeenTimestamp":"2025-05-21 04:10:00.1234567","exploitabilityLevel":"ExploitIsPublic",)"
      R"("recommendationReference":"va-_-examplesoft-_-exampleviewer","securityUpdateAvailable":true}})",
      dev, i, 10000 + i % 5000);
}

const std::string& plain(int rows) {
  static std::map<int, std::string> cache;
  auto& s = cache[rows];
  if (s.empty()) {
    for (int i = 0; i < rows; ++i) s += row(i) + "\n";
  }
  return s;
}

std::string gzip(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(compressBound(static_cast<uLong>(in.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

const std::string& gz(int rows) {
  static std::map<int, std::string> cache;
  auto& s = cache[rows];
  if (s.empty()) s = gzip(plain(rows));
  return s;
}

void report(benchmark::State& state, std::int64_t rows, std::int64_t bytes) {
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(bytes);
}

void BM_DecodeLines(benchmark::State& state) {
  const std::string& text = plain(static_cast<int>(state.range(0)));
  defender::LineDecoder<defender::VulnerabilityRow> dec;
  defender::VulnerabilityRow r;
  std::int64_t rows = 0;
  for (auto _ : state) {
    std::size_t start = 0;
    while (start < text.size()) {
      const auto nl = text.find('\n', start);
      if (!dec.decode(std::string_view(text).substr(start, nl - start), r))
        state.SkipWithError("decode");
      benchmark::DoNotOptimize(r);
      start = nl + 1;
      ++rows;
    }
  }
  report(state, rows,
         static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(text.size()));
}
BENCHMARK(BM_DecodeLines)->Arg(20000)->Unit(benchmark::kMillisecond);

void BM_GunzipSplitDecode(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::string& file = gz(n);
  std::int64_t rows = 0;
  for (auto _ : state) {
    util::GzipLineDecoder g;
    defender::LineDecoder<defender::VulnerabilityRow> dec;
    defender::VulnerabilityRow r;
    const util::LineHandler on_line = [&](std::string_view line) {
      ++rows;
      return dec.decode(line, r);
    };
    for (std::size_t i = 0; i < file.size(); i += 16384) {
      if (!g.feed(std::string_view(file).substr(i, 16384), on_line)) state.SkipWithError("feed");
    }
    if (!g.finish(on_line)) state.SkipWithError("finish");
  }
  report(
      state, rows,
      static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(plain(n).size()));
  state.counters["gzip_ratio"] =
      static_cast<double>(plain(n).size()) / static_cast<double>(file.size());
}
BENCHMARK(BM_GunzipSplitDecode)->Arg(20000)->Unit(benchmark::kMillisecond);

// Whole client path: 8 files, args = rows per file, download concurrency.
void BM_ClientStreamExport(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::string& file = gz(n);
  http::FakeHttpClient fake([&](const http::Request&) -> util::Result<http::Response> {
    return http::Response{200, {}, file};
  });
  fake.set_chunk_size(16384);
  config::Config cfg;
  cfg.api_url = "https://api.bench";
  cfg.download_concurrency = static_cast<int>(state.range(1));
  defender::ClientDeps deps;
  deps.api = &fake;
  struct NoTokens final : auth::TokenProvider {
    util::Result<std::string> token() override { return std::string("t"); }
    void invalidate(const std::string&) override {}
  } tokens;
  deps.tokens = &tokens;
  auto client = defender::Client::create(cfg, deps);
  defender::ExportFiles files;
  for (int i = 0; i < 8; ++i)
    files.urls.push_back(fmt::format("https://blob.bench/part-{}.json.gz?sig=x", i));
  std::int64_t rows = 0;
  for (auto _ : state) {
    auto r = (*client)->stream_vulnerability_files(files, nullptr,
                                                   [&](defender::VulnerabilityRow&& row) {
                                                     benchmark::DoNotOptimize(row);
                                                     ++rows;
                                                     return util::Status{};
                                                   });
    if (!r) state.SkipWithError(r.error().message.c_str());
  }
  report(state, rows,
         static_cast<std::int64_t>(state.iterations()) * 8 *
             static_cast<std::int64_t>(plain(n).size()));
}
BENCHMARK(BM_ClientStreamExport)
    ->Args({20000, 1})
    ->Args({20000, 2})
    ->Args({20000, 4})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
