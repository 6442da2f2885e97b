// Streams an export file of more than one million lines from mdesim and measures the
// peak resident memory the download adds: it must be bounded by buffers, not by the
// file's size.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "defender/client.hpp"
#include "simulator.hpp"

namespace mdesync::defender {
namespace {

long status_kib(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  }
  return -1;
}

// Resets VmHWM to the current RSS (Linux >= 4.0), so the peak of one phase is visible.
bool reset_peak() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  return static_cast<bool>(out);
}

TEST(LargeExport, MillionLineFileStreamsInBoundedMemory) {
  mdesim::Options o;
  o.world.machines = 21'000;
  o.world.software_per_machine = 50;
  o.world.non_cpe_per_machine = 0;
  o.world.cves = 300;
  o.world.rows_per_file = 2'000'000;  // one file holds the whole inventory
  o.cache_dir = (std::filesystem::path(MDESYNC_BINARY_DIR) / "mdesim-cache-large").string();
  auto sim = mdesim::Simulator::start(o);
  ASSERT_TRUE(sim) << sim.error().message;
  const auto truth = (*sim)->truth();
  ASSERT_GE(truth.installed_software, 1'000'000U);

  config::Config c;
  c.api_url = (*sim)->base_url();
  c.login_url = (*sim)->base_url();
  c.tenant_id = (*sim)->credentials().tenant_id;
  c.client_id = (*sim)->credentials().client_id;
  c.client_secret = config::Secret((*sim)->credentials().client_secret);
  c.download_concurrency = 2;
  auto client = Client::create(c);
  ASSERT_TRUE(client);
  auto files = (*client)->inventory_export_files(false);
  ASSERT_TRUE(files) << files.error().message;
  ASSERT_EQ(files->urls.size(), 1U);

  const bool can_measure = reset_peak();
  const long rss_before = status_kib("VmRSS");
  std::uint64_t rows = 0;
  std::uint64_t name_bytes = 0;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = (*client)->stream_inventory_files(*files, nullptr, [&](InventoryRow&& row) {
    ++rows;
    name_bytes += row.software_name ? row.software_name->size() : 0;
    return util::Status{};
  });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r) << r.error().message;
  const long peak = status_kib("VmHWM");
  EXPECT_EQ(rows, truth.installed_software);
  EXPECT_GT(name_bytes, 0U);

  const auto s = (*client)->stats();
  const double mb_in = static_cast<double>(s.download_bytes_decompressed) / 1e6;
  const long added_kib = peak - rss_before;
  std::printf(
      "[large export] %llu lines, %.1f MB gzip, %.1f MB JSON in %.2f s (%.0f rows/s, %.1f MB/s); "
      "download %lld ms, decode %lld ms; RSS before %ld KiB, peak %ld KiB, added %ld KiB%s\n",
      static_cast<unsigned long long>(rows), static_cast<double>(s.download_bytes_compressed) / 1e6,
      mb_in, secs, static_cast<double>(rows) / secs, mb_in / secs,
      static_cast<long long>(s.download_time.count()),
      static_cast<long long>(s.decode_time.count()), rss_before, peak, added_kib,
      can_measure ? "" : " (peak reset unavailable)");
  RecordProperty("lines", std::to_string(rows));
  RecordProperty("decompressed_bytes", std::to_string(s.download_bytes_decompressed));
  RecordProperty("peak_added_kib", std::to_string(added_kib));
  if (can_measure) {
    // The simulator serves the file from disk in the same process; the client's share
    // is buffers (zlib window, 64 KiB inflate buffer, 2 x concurrency batches of 512
    // rows, one parser). A file-sized buffer would add hundreds of MB.
    EXPECT_LT(added_kib, 64 * 1024) << "memory grew with the file";
    EXPECT_LT(static_cast<double>(added_kib) * 1024.0,
              static_cast<double>(s.download_bytes_decompressed) / 8.0);
  }
}

}  // namespace
}  // namespace mdesync::defender
