#pragma once

// A test's own temporary folder: a new, unique folder under the system's temporary folder
// (mkdtemp), removed with its contents when the TempDir goes, unless MDESYNC_KEEP_TEST_DIR
// is set (to look into a failed test's files). Tests never use a fixed path, so parallel
// ctest runs and two checkouts on one machine cannot meet in a folder.

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace testing_support {

class TempDir {
 public:
  // `prefix` names the folder for a reader (e.g. the test's name); '/' becomes '_'.
  explicit TempDir(std::string prefix = "mdesync-test") {
    std::replace(prefix.begin(), prefix.end(), '/', '_');
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
    }
    m_path = pattern;
  }
  ~TempDir() {
    if (std::getenv("MDESYNC_KEEP_TEST_DIR") != nullptr) return;
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&&) = delete;
  TempDir& operator=(TempDir&&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return m_path; }

 private:
  std::filesystem::path m_path;
};

}  // namespace testing_support
