#pragma once

// Test helper: damage a SQLite store file the way SQLite does not notice on its own. The
// last leaf page of a table gets half its cell count, so that a read of the table ends
// early without an error; only a page check (quick_check) finds it.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <string>

namespace mdesync::testing_support {

inline long long sqlite_int(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  long long out = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      out = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

// Halves the cell count of the right-most leaf page of `table` (the WAL is checkpointed
// into the file first).
inline void shorten_last_leaf(const std::string& path, const std::string& table) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  const long long page_size = sqlite_int(path, "PRAGMA page_size");
  long long page_no =
      sqlite_int(path, "SELECT rootpage FROM sqlite_master WHERE name = '" + table + "'");
  ASSERT_GT(page_no, 1);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  auto byte_at = [&](std::streamoff at) {
    char c = 0;
    f.seekg(at);
    f.read(&c, 1);
    return static_cast<unsigned char>(c);
  };
  for (;;) {
    const auto page = static_cast<std::streamoff>((page_no - 1) * page_size);
    if (byte_at(page) == 0x0D) {  // a table leaf: its cell count, big-endian
      const unsigned cells = (byte_at(page + 3) * 256U) + byte_at(page + 4);
      ASSERT_GE(cells, 2U);
      const unsigned half = cells / 2;
      const char count[2] = {static_cast<char>(half >> 8U), static_cast<char>(half & 0xFFU)};
      f.seekp(page + 3);
      f.write(count, 2);
      return;
    }
    ASSERT_EQ(byte_at(page), 0x05) << "not a table b-tree page";
    page_no = (static_cast<long long>(byte_at(page + 8)) << 24) | (byte_at(page + 9) << 16) |
              (byte_at(page + 10) << 8) | byte_at(page + 11);  // the right-most child
  }
}

}  // namespace mdesync::testing_support
