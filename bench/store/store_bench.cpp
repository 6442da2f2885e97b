// SQLite store throughput: upserts of realistic vulnerability rows (all indexes in
// place) and the lifecycle sweep. Usage: store_bench [ROWS] [PATH]
// Prints rows/s for a first load, an unchanged re-read, a realistic changed re-read
// (every row's last_found advances, 3% also change severity, an indexed column), a
// worst-case re-read (every row changes severity) that lacks 1% of the findings, and
// the sweep time after it.

#include <fmt/format.h>

#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <sqlite3.h>

#include "store/open.hpp"
#include "store/store.hpp"

using namespace mdesync;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t k_batch = 10'000;

std::string hex40(std::uint64_t n) {
  std::string s = fmt::format("{:016x}{:016x}{:08x}", n * 0x9E3779B97F4A7C15ULL,
                              n ^ 0xC2B2AE3D27D4EB4FULL, static_cast<std::uint32_t>(n));
  return s.substr(0, 40);
}

// How a pass differs from the first load.
struct Change {
  bool advance_last_found = false;  // lastSeenTimestamp moved on (not indexed)
  std::size_t severity_every = 0;   // every n-th row changes severity (0: none)
  std::size_t severity_shift = 0;   // by this many steps
};

model::Vulnerability make_row(std::size_t i, util::Timestamp t, const Change& change) {
  const std::size_t device = i / 50;  // 50 findings per device
  const std::size_t sw = (i / 5) % 400;
  model::Vulnerability v;
  const std::string dev = hex40(device);
  const std::string vendor = fmt::format("vendor{}", sw % 60);
  const std::string name = fmt::format("product_{}", sw);
  const std::string version = fmt::format("{}.{}.{}", sw % 7, sw % 13, i % 5);
  const std::string cve = fmt::format("CVE-20{}-{:05}", 15 + i % 10, (i * 7919) % 99999);
  v.uid = fmt::format("{}_{}_{}_{}_{}", dev, vendor, name, version, cve);
  v.source_uid = fmt::format("{}_{}_{}_{}_", dev, name, version, cve);
  v.type = cve;
  v.targets = dev;
  v.hostnames = {fmt::format("host-{}.corp.example.org", device), fmt::format("host-{}", device)};
  v.first_found = util::parse_timestamp("2025-05-01T04:10:00Z").value();
  v.last_found = change.advance_last_found ? t - std::chrono::minutes(20)
                                           : util::parse_timestamp("2025-06-01T05:40:12Z").value();
  v.status = model::VulnerabilityStatus::active;
  v.status_category = model::StatusCategory::open;
  static constexpr model::Severity k_sev[] = {model::Severity::low, model::Severity::medium,
                                              model::Severity::high, model::Severity::critical};
  const bool sev_changed = change.severity_every != 0 && i % change.severity_every == 0;
  v.severity = k_sev[(i + (sev_changed ? change.severity_shift : 0)) % 4];
  v.source_severity = std::string(model::to_string(v.severity));
  v.results = fmt::format(
      "Software: {} {} {}\nPath: C:\\Program Files\\{}\\{}.exe\nRegistry: "
      "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{}",
      vendor, name, version, vendor, name, name);
  v.state_time = t;
  auto& s = v.source;
  s.rbac_group_id = std::to_string(device % 20);
  s.rbac_group_name = fmt::format("Group {}", device % 20);
  s.os_platform = "Windows11";
  s.os_version = "10.0.26100.3775";
  s.os_architecture = "x64";
  s.cvss_score = 7.8;
  s.exploitability_level = "ExploitIsPublic";
  s.recommendation_reference = fmt::format("va-_-{}-_-{}", vendor, name);
  s.recommended_security_update = fmt::format("{} {}.9", name, sw % 7);
  s.security_update_available = true;
  s.software_vendor = vendor;
  s.software_name = name;
  s.software_version = version;
  return v;
}

struct Pass {
  store::UpsertCounts counts;
  double seconds = 0;
  double cpu_seconds = 0;     // this process's CPU time: what an unshared core would take
  double commit_seconds = 0;  // of `seconds`: COMMIT (index builds, WAL checkpoint)
};

double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

Pass upsert_all(store::Store& s, std::size_t rows, store::RunId run, util::Timestamp t,
                const Change& change, std::size_t skip_every) {
  Pass pass;
  std::vector<model::Vulnerability> batch;
  batch.reserve(k_batch);
  auto tx = s.begin().value();
  for (std::size_t i = 0; i < rows;) {
    batch.clear();
    while (batch.size() < k_batch && i < rows) {
      if (skip_every == 0 || i % skip_every != 0) batch.push_back(make_row(i, t, change));
      ++i;
    }
    const auto start = Clock::now();
    const double cpu_start = cpu_now();
    auto r = s.upsert(store::WriteContext{run, t, true, true},
                      std::span<const model::Vulnerability>(batch));
    pass.seconds += std::chrono::duration<double>(Clock::now() - start).count();
    pass.cpu_seconds += cpu_now() - cpu_start;
    if (!r) {
      fmt::print(stderr, "upsert failed: {}\n", r.error().message);
      std::exit(1);
    }
    pass.counts.written += r->written;
    pass.counts.unchanged += r->unchanged;
  }
  const auto start = Clock::now();
  const double cpu_start = cpu_now();
  if (auto c = tx.commit(); !c) {
    fmt::print(stderr, "commit failed: {}\n", c.error().message);
    std::exit(1);
  }
  pass.commit_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  pass.seconds += pass.commit_seconds;
  pass.cpu_seconds += cpu_now() - cpu_start;
  return pass;
}

void report(const char* what, const Pass& p) {
  const auto total = static_cast<double>(p.counts.written + p.counts.unchanged);
  fmt::print(
      "{:<32} {:>9} rows  wall {:>6.2f} s {:>8.0f} rows/s  cpu {:>6.2f} s {:>8.0f} rows/s  "
      "(written {}, unchanged {}; commit {:.2f} s)\n",
      what, p.counts.written + p.counts.unchanged, p.seconds, total / p.seconds, p.cpu_seconds,
      total / p.cpu_seconds, p.counts.written, p.counts.unchanged, p.commit_seconds);
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each pass shows when it ends
  const std::size_t rows = argc > 1 ? std::stoul(argv[1]) : 1'500'000;
  const std::string path =
      argc > 2 ? argv[2]
               : (std::filesystem::temp_directory_path() / "mdesync_store_bench.db").string();
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) {
    std::filesystem::remove(path + suffix);
  }
  auto opened = store::open_store("sqlite:" + path, store::OpenOptions{true, false});
  if (!opened) {
    fmt::print(stderr, "{}\n", opened.error().message);
    return 1;
  }
  store::Store* store = opened->get();
  if (const char* drop = std::getenv("MDESYNC_BENCH_SQL")) {
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    char* err = nullptr;
    if (sqlite3_exec(db, drop, nullptr, nullptr, &err) != SQLITE_OK)
      fmt::print(stderr, "{}\n", err);
    sqlite3_close(db);
  }
  const auto t1 = util::parse_timestamp("2025-06-01T06:00:00Z").value();
  const auto t2 = util::parse_timestamp("2025-06-01T12:00:00Z").value();
  const auto t3 = util::parse_timestamp("2025-06-01T18:00:00Z").value();
  const auto t4 = util::parse_timestamp("2025-06-02T00:00:00Z").value();

  fmt::print("store_bench: {} vulnerability rows, batches of {}, {}\n", rows, k_batch, path);
  report("first load (insert)", upsert_all(*store, rows, 1, t1, Change{}, 0));
  if (std::getenv("MDESYNC_BENCH_FIRST_ONLY") != nullptr) return 0;
  if (auto sw = store->sweep(model::ObjectType::vulnerability, {1, t1, false}, t1); !sw) return 1;
  // As after a real first sync: a checkpoint, then a new process opens the store (which
  // is in WAL mode from then on; the first sync ran with a rollback journal).
  store::Checkpoint cp;
  cp.object = model::ObjectType::vulnerability;
  cp.run_id = 1;
  cp.mode = "full";
  cp.snapshot_time = t1;
  cp.completed_at = t1;
  if (!store->save_checkpoint(cp)) return 1;
  opened->reset();
  opened = store::open_store("sqlite:" + path, store::OpenOptions{true, false});
  if (!opened) {
    fmt::print(stderr, "{}\n", opened.error().message);
    return 1;
  }
  store::Store& s = **opened;

  report("full re-read, unchanged", upsert_all(s, rows, 2, t2, Change{}, 0));
  if (auto sw = s.sweep(model::ObjectType::vulnerability, {2, t2, false}, t2); !sw) return 1;

  // A real full sync: last_found advances on every row, a few percent change severity.
  report("full re-read, changed (real)", upsert_all(s, rows, 3, t3, Change{true, 33, 1}, 0));
  if (auto sw = s.sweep(model::ObjectType::vulnerability, {3, t3, false}, t3); !sw) return 1;

  // Worst case: every row changes an indexed column.
  const auto p4 = upsert_all(s, rows, 4, t4, Change{true, 1, 2}, 100);
  report("re-read, all severity, -1%", p4);
  auto tx = s.begin().value();
  const auto start = Clock::now();
  const double cpu_start = cpu_now();
  auto sw = s.sweep(model::ObjectType::vulnerability, {4, t4, false}, t4);
  if (!sw || !tx.commit()) return 1;
  const double sweep_s = std::chrono::duration<double>(Clock::now() - start).count();
  fmt::print("{:<32} {:>9} rows  wall {:>6.2f} s  cpu {:>6.2f} s  (closed {})\n",
             "sweep after the -1% read", rows, sweep_s, cpu_now() - cpu_start, sw->closed);
  fmt::print("database size: {:.0f} MB\n",
             static_cast<double>(std::filesystem::file_size(path)) / 1e6);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  fmt::print("peak RSS: {:.0f} MB\n", static_cast<double>(ru.ru_maxrss) / 1024.0);
  return 0;
}
