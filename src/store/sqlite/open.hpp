#pragma once

// Opening an SQLite store: the sync lock, the schema check and migrations, and the
// journal mode (open.cpp); the store itself is made by store.cpp.

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "store/sqlite/db.hpp"
#include "store/store.hpp"

namespace mdesync::store::sqlite {

using util::ErrorCode;
using util::fail;

// An flock(2) on PATH.lock: released by the kernel when the process ends, so a crashed
// sync never leaves a stale lock behind.
class FileLock final {
 public:
  static Result<std::unique_ptr<FileLock>> acquire(const std::string& db_path) {
    const std::string path = db_path + ".lock";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      return fail(ErrorCode::store,
                  fmt::format("cannot create lock file {}: {}", path, std::strerror(errno)));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        return fail(ErrorCode::store_locked,
                    fmt::format("another mdesync sync is using the store {} (lock {} is held); "
                                "nothing was written: wait for it to finish and run again",
                                db_path, path));
      }
      return fail(ErrorCode::store, fmt::format("cannot lock {}: {}", path, std::strerror(err)));
    }
    return std::unique_ptr<FileLock>(new FileLock(fd));
  }
  // Whether another process holds the lock of the store at `db_path` (a sync runs).
  static bool held(const std::string& db_path) {
    const std::string path = db_path + ".lock";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;  // never locked
    const bool busy = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    ::close(fd);  // releases the lock if it was taken here
    return busy;
  }
  ~FileLock() {
    ::flock(m_fd, LOCK_UN);
    ::close(m_fd);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  explicit FileLock(int fd) : m_fd(fd) {}
  int m_fd;
};

// What check_file reads: every page (PRAGMA quick_check, about 0.6-1 s for the 350 MB
// store of a 10,000-machine tenant), or every table but the four large ones
// (vulnerability_finding, installed_package_entry, inventory_digest, inventory_versions)
// and their indexes, for a delta, which must stay within seconds. A delta writes few
// rows of the large tables; a damaged page there fails its object, atomically.
enum class CheckScope { every_page, small_tables };

// PRAGMA quick_check of the file on a read-only connection of its own: ErrorCode::store
// naming the damage when the pages are not sound.
Status check_file(const std::string& path, CheckScope scope);

// PRAGMA quick_check of the named tables and their indexes, on a read-only connection of
// its own: ErrorCode::store naming the damage when their pages are not sound. For a
// reader about to read them whole: a damaged page does not always fail the read (a leaf
// whose cell count was overwritten reads as empty), so the pages are checked first.
Status check_tables(const std::string& path, const std::vector<std::string>& tables);

// A read-only connection to the store file that creates no file on read-only media: as
// SQLite's `mode=ro` URI, or `immutable=1` when the folder cannot hold the -wal and -shm
// files and none is there (then no writer can have the store open). Where the folder is
// writable and no -wal, -shm or -journal file was there, the -wal and -shm files SQLite's
// read makes are removed when the connection closes, unless another connection has the
// store open. Messages name `path`.
Result<std::unique_ptr<Db>> open_read_only(const std::string& path);

// Whether any object has been synced into the store (its first sync has committed one).
Result<bool> has_checkpoints(Db& db);

// The store over an open, migrated connection (or a read-only one). `first_sync`: the
// connection runs without WAL until the store is destroyed (choose_journal).
Result<std::unique_ptr<Store>> make_sqlite_store(std::unique_ptr<Db> db,
                                                 std::unique_ptr<FileLock> lock, bool read_only,
                                                 bool first_sync);

}  // namespace mdesync::store::sqlite
