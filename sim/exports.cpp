#include "exports.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "sim_util.hpp"

namespace mdesim {
namespace fs = std::filesystem;
using mdesync::util::ErrorCode;
using mdesync::util::fail;

namespace {
constexpr std::uint64_t k_format_version = 3;
constexpr std::uint32_t k_rows_per_member = 20'000;

std::string part_name(std::size_t i) {
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "part-%05zu.json.gz", i);
  return buf.data();
}

std::uint64_t rows_of(const World& w, ExportKind k, const Machine& m) {
  if (!w.in_exports(m)) return 0;
  switch (k) {
    case ExportKind::vulnerabilities: {
      std::uint64_t n = m.installs.empty() ? 0 : 1;
      for (const Install& in : m.installs)
        n += w.products[in.product].version_cves[in.version].size();
      return n;
    }
    case ExportKind::inventory:
      return m.installs.size();
    case ExportKind::non_cpe:
      return m.non_cpe.size();
  }
  return 0;
}

void write_rows(const World& w, ExportKind k, std::uint32_t mi, std::string& out,
                std::uint64_t& rows) {
  const Machine& m = w.machines[mi];
  if (!w.in_exports(m)) return;
  switch (k) {
    case ExportKind::vulnerabilities:
      if (!m.installs.empty()) {
        w.vuln_row(out, mi, m.installs[m.os_install], nullptr);
        out.push_back('\n');
        ++rows;
      }
      for (const Install& in : m.installs) {
        for (std::uint32_t c : w.products[in.product].version_cves[in.version]) {
          w.vuln_row(out, mi, in, &w.cves[c]);
          out.push_back('\n');
          ++rows;
        }
      }
      break;
    case ExportKind::inventory:
      for (const Install& in : m.installs) {
        w.inventory_row(out, mi, in);
        out.push_back('\n');
        ++rows;
      }
      break;
    case ExportKind::non_cpe:
      for (const NonCpe& n : m.non_cpe) {
        w.non_cpe_row(out, mi, n);
        out.push_back('\n');
        ++rows;
      }
      break;
  }
}

struct Task {
  ExportKind kind;
  std::size_t part;
  std::uint32_t begin;
  std::uint32_t end;
};

}  // namespace

std::string world_cache_name(const WorldParams& p) {
  std::uint64_t h = hash_combine(k_format_version, p.seed);
  h = hash_combine(h, p.machines);
  h = hash_combine(h, p.software_per_machine);
  h = hash_combine(h, static_cast<std::uint64_t>(p.vulnerable_share * 1e6));
  h = hash_combine(h, p.cves);
  h = hash_combine(h, p.device_groups);
  h = hash_combine(h, p.non_cpe_per_machine);
  h = hash_combine(h, static_cast<std::uint64_t>(p.start_time));
  h = hash_combine(h, p.rows_per_file);
  std::string out = "w";
  out += hex40(h, 0).substr(0, 16);
  return out;
}

namespace {

std::optional<Snapshot> read_manifest(const fs::path& dir, const std::string& time_path) {
  std::ifstream in(dir / "manifest.json");
  if (!in) return std::nullopt;
  try {
    const auto j = nlohmann::json::parse(in);
    Snapshot s;
    s.time_path = time_path;
    s.dir = dir;
    s.generated = j.at("generated").get<std::int64_t>();
    for (std::size_t k = 0; k < 3; ++k) {
      for (const auto& f : j.at("files").at(k)) {
        s.files[k].push_back(ExportFile{f.at("name").get<std::string>(),
                                        f.at("rows").get<std::uint64_t>(),
                                        f.at("bytes").get<std::uint64_t>()});
      }
    }
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Splits the machines into parts of about rows_per_file rows each, per export, and sizes
// the snapshot's file lists to match.
std::vector<Task> plan_parts(const World& world, Snapshot& snap) {
  std::vector<Task> tasks;
  const auto nm = static_cast<std::uint32_t>(world.machines.size());
  const std::uint64_t per_file = std::max<std::uint32_t>(1, world.params().rows_per_file);
  for (std::size_t k = 0; k < 3; ++k) {
    const auto kind = static_cast<ExportKind>(k);
    std::uint32_t begin = 0;
    std::uint64_t acc = 0;
    std::size_t part = 0;
    for (std::uint32_t mi = 0; mi < nm; ++mi) {
      acc += rows_of(world, kind, world.machines[mi]);
      if (acc >= per_file) {
        tasks.push_back(Task{kind, part++, begin, mi + 1});
        begin = mi + 1;
        acc = 0;
      }
    }
    if (begin < nm || part == 0) tasks.push_back(Task{kind, part++, begin, nm});
    snap.files[k].resize(part);
  }
  return tasks;
}

// Writes one part under `tmp` as gzip members of about k_rows_per_member rows and records
// it in `snap`; false when the file cannot be opened. The buffers are the caller's, reused.
bool write_part(const World& world, const Task& t, const fs::path& tmp, Snapshot& snap,
                std::string& rows_buf, std::string& gz_buf) {
  const std::string name = part_name(t.part);
  const fs::path path = tmp / k_export_dirs[static_cast<std::size_t>(t.kind)] / name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  GzipWriter gz;
  std::uint64_t rows = 0;
  std::uint64_t member_rows = 0;
  std::uint64_t bytes = 0;
  rows_buf.clear();
  auto flush = [&](bool end_member) {
    gz_buf.clear();
    gz.write(rows_buf, gz_buf);
    if (end_member) gz.finish_member(gz_buf);
    rows_buf.clear();
    if (!gz_buf.empty()) {
      bytes += std::fwrite(gz_buf.data(), 1, gz_buf.size(), f);
    }
  };
  for (std::uint32_t mi = t.begin; mi < t.end; ++mi) {
    const std::uint64_t before = rows;
    write_rows(world, t.kind, mi, rows_buf, rows);
    member_rows += rows - before;
    if (member_rows >= k_rows_per_member) {
      flush(true);
      member_rows = 0;
    } else if (rows_buf.size() > (1U << 20U)) {
      flush(false);
    }
  }
  if (!rows_buf.empty() || member_rows > 0) flush(true);
  std::fclose(f);
  snap.files[static_cast<std::size_t>(t.kind)][t.part] = ExportFile{name, rows, bytes};
  return true;
}

void write_manifest(const fs::path& tmp, const Snapshot& snap) {
  nlohmann::json manifest;
  manifest["generated"] = snap.generated;
  manifest["timePath"] = snap.time_path;
  manifest["files"] = nlohmann::json::array();
  for (std::size_t k = 0; k < 3; ++k) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& f : snap.files[k]) {
      arr.push_back({{"name", f.name}, {"rows", f.rows}, {"bytes", f.bytes}});
    }
    manifest["files"].push_back(arr);
  }
  std::ofstream out(tmp / "manifest.json");
  out << manifest.dump();
}

}  // namespace

std::uint64_t Snapshot::rows(ExportKind k) const {
  std::uint64_t n = 0;
  for (const auto& f : files[static_cast<std::size_t>(k)]) n += f.rows;
  return n;
}

fs::path Snapshot::path(ExportKind k, std::size_t index) const {
  return dir / k_export_dirs[static_cast<std::size_t>(k)] /
         files[static_cast<std::size_t>(k)][index].name;
}

ExportStore::ExportStore(fs::path root, unsigned threads)
    : m_root(std::move(root)), m_threads(threads == 0 ? 1 : threads) {}

std::optional<Snapshot> ExportStore::load(const std::string& time_path) const {
  if (time_path.find("..") != std::string::npos || time_path.size() < 2) return std::nullopt;
  return read_manifest(m_root / time_path.substr(0, time_path.size() - 1), time_path);
}

mdesync::util::Result<Snapshot> ExportStore::ensure(const World& world) {
  const auto started = std::chrono::steady_clock::now();
  const std::string tp = time_path(world.generated_time());
  const fs::path final_dir = m_root / tp.substr(0, tp.size() - 1);
  if (auto s = read_manifest(final_dir, tp)) {
    m_last_seconds = 0;
    return *s;
  }
  std::error_code ec;
  fs::create_directories(final_dir.parent_path(), ec);
  if (ec) {
    return fail(ErrorCode::io,
                "cannot create export cache " + final_dir.string() + ": " + ec.message());
  }
  static std::atomic<unsigned> counter{0};
  const fs::path tmp = final_dir.string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                       std::to_string(counter.fetch_add(1));
  fs::remove_all(tmp, ec);
  for (const char* d : k_export_dirs) {
    fs::create_directories(tmp / d, ec);
    if (ec) return fail(ErrorCode::io, "cannot create " + (tmp / d).string() + ": " + ec.message());
  }
  Snapshot snap;
  snap.time_path = tp;
  snap.generated = world.generated_time();
  snap.dir = final_dir;
  const std::vector<Task> tasks = plan_parts(world, snap);
  std::atomic<std::size_t> next{0};
  std::mutex err_mutex;
  std::string error;
  auto worker = [&]() {
    std::string rows_buf;
    std::string gz_buf;
    while (true) {
      const std::size_t ti = next.fetch_add(1);
      if (ti >= tasks.size()) return;
      const Task& t = tasks[ti];
      if (!write_part(world, t, tmp, snap, rows_buf, gz_buf)) {
        std::lock_guard lock(err_mutex);
        error =
            "cannot write " +
            (tmp / k_export_dirs[static_cast<std::size_t>(t.kind)] / part_name(t.part)).string();
        return;
      }
    }
  };
  std::vector<std::thread> threads;
  const unsigned n = std::min<unsigned>(m_threads, static_cast<unsigned>(tasks.size()));
  for (unsigned i = 1; i < n; ++i) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (!error.empty()) {
    fs::remove_all(tmp, ec);
    return fail(ErrorCode::io, error);
  }
  write_manifest(tmp, snap);
  const fs::path& target = final_dir;
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove_all(tmp, ec);
    if (auto s = read_manifest(final_dir, tp)) return *s;
    return fail(ErrorCode::io, "cannot publish export snapshot " + target.string());
  }
  m_last_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return snap;
}

GzLineReader::GzLineReader(const fs::path& path) : m_buf(1U << 20U) {
  m_file = gzopen(path.c_str(), "rb");
  if (m_file != nullptr) gzbuffer(m_file, 1U << 18U);
}

GzLineReader::~GzLineReader() {
  if (m_file != nullptr) gzclose(m_file);
}

bool GzLineReader::next(std::string& line) {
  line.clear();
  if (m_file == nullptr) return false;
  while (true) {
    char* got = gzgets(m_file, m_buf.data(), static_cast<int>(m_buf.size()));
    if (got == nullptr) return !line.empty();
    std::size_t len = std::strlen(got);
    if (len > 0 && got[len - 1] == '\n') {
      line.append(got, len - 1);
      return true;
    }
    line.append(got, len);
  }
}

GzipWriter::GzipWriter(int level) : m_level(level) {}

GzipWriter::~GzipWriter() {
  if (m_open) deflateEnd(&m_z);
}

void GzipWriter::write(std::string_view data, std::string& out) {
  if (!m_open) {
    m_z = z_stream{};
    deflateInit2(&m_z, m_level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    m_open = true;
  }
  m_z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  m_z.avail_in = static_cast<uInt>(data.size());
  std::array<char, 1U << 16U> buf{};
  while (m_z.avail_in > 0) {
    m_z.next_out = reinterpret_cast<Bytef*>(buf.data());
    m_z.avail_out = buf.size();
    deflate(&m_z, Z_NO_FLUSH);
    out.append(buf.data(), buf.size() - m_z.avail_out);
  }
}

void GzipWriter::finish_member(std::string& out) {
  if (!m_open) write({}, out);
  std::array<char, 1U << 16U> buf{};
  int rc = Z_OK;
  do {
    m_z.next_out = reinterpret_cast<Bytef*>(buf.data());
    m_z.avail_out = buf.size();
    rc = deflate(&m_z, Z_FINISH);
    out.append(buf.data(), buf.size() - m_z.avail_out);
  } while (rc == Z_OK);
  deflateEnd(&m_z);
  m_open = false;
}

std::string gzip_string(std::string_view data) {
  std::string out;
  GzipWriter gz(6);
  gz.write(data, out);
  gz.finish_member(out);
  return out;
}

std::optional<std::string> gunzip_string(std::string_view data) {
  std::string out;
  if (data.empty()) return out;
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) return std::nullopt;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  std::array<char, 1U << 16U> buf{};
  while (true) {
    z.next_out = reinterpret_cast<Bytef*>(buf.data());
    z.avail_out = buf.size();
    const int rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf.data(), buf.size() - z.avail_out);
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      inflateReset(&z);  // next gzip member
      continue;
    }
    if (rc != Z_OK) {
      inflateEnd(&z);
      return std::nullopt;
    }
  }
  inflateEnd(&z);
  return out;
}

}  // namespace mdesim
