#pragma once

// Export snapshots on disk: gzip JSON Lines parts for the vulnerability, inventory and
// non-CPE inventory exports, generated once per (world parameters, snapshot time) and
// reused by later runs. The JSON export pages read the same parts.

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <zlib.h>

#include "util/result.hpp"
#include "world.hpp"

namespace mdesim {

enum class ExportKind : std::uint8_t { vulnerabilities = 0, inventory = 1, non_cpe = 2 };
inline constexpr std::array<const char*, 3> k_export_dirs = {"VaExport", "SoftwareInventory",
                                                             "NonCpeSoftwareInventory"};

struct ExportFile {
  std::string name;  // part-00000.json.gz
  std::uint64_t rows = 0;
  std::uint64_t bytes = 0;
};

struct Snapshot {
  std::string time_path;  // 2026-01-05/0601/
  std::int64_t generated = 0;
  std::filesystem::path dir;
  std::array<std::vector<ExportFile>, 3> files;
  [[nodiscard]] std::uint64_t rows(ExportKind k) const;
  [[nodiscard]] std::filesystem::path path(ExportKind k, std::size_t index) const;
};

class ExportStore {
 public:
  ExportStore(std::filesystem::path root, unsigned threads);

  // The snapshot of the world's current time: loaded from the cache or generated
  // (in parallel, written to a temporary directory and renamed into place, so
  // concurrent simulators with the same parameters never see half a snapshot).
  mdesync::util::Result<Snapshot> ensure(const World& world);
  // A snapshot generated earlier (for skiptokens pinning an older TimePath).
  [[nodiscard]] std::optional<Snapshot> load(const std::string& time_path) const;
  [[nodiscard]] const std::filesystem::path& root() const { return m_root; }
  [[nodiscard]] double last_generation_seconds() const { return m_last_seconds; }

 private:
  std::filesystem::path m_root;
  unsigned m_threads;
  double m_last_seconds = 0;
};

// Streams lines out of a gzip file (multi-member aware); not thread-safe.
class GzLineReader {
 public:
  explicit GzLineReader(const std::filesystem::path& path);
  ~GzLineReader();
  GzLineReader(const GzLineReader&) = delete;
  GzLineReader& operator=(const GzLineReader&) = delete;
  [[nodiscard]] bool ok() const { return m_file != nullptr; }
  // Next line without its newline; false at the end.
  bool next(std::string& line);

 private:
  gzFile m_file = nullptr;
  std::vector<char> m_buf;
};

// Incremental gzip writer to memory (one member per begin/finish pair).
class GzipWriter {
 public:
  explicit GzipWriter(int level = 1);
  ~GzipWriter();
  GzipWriter(const GzipWriter&) = delete;
  GzipWriter& operator=(const GzipWriter&) = delete;
  void write(std::string_view data, std::string& out);
  void finish_member(std::string& out);  // ends the member; the next write starts another

 private:
  z_stream m_z{};
  bool m_open = false;
  int m_level;
};

// Cache directory name for a world: a hash of every parameter that shapes it.
std::string world_cache_name(const WorldParams& params);

std::string gzip_string(std::string_view data);
std::optional<std::string> gunzip_string(std::string_view data);

}  // namespace mdesim
