#pragma once

// The rows a narrow object row refers to (ADR 0062): a finding or an installed package
// is identified by its target (device id) and item (the rest of its uid, with its
// type), and keeps what it shares with the other rows of its device and of its item in
// two context rows. Kept in memory as maps from content to id (tens of thousands of
// rows for a 10,000-machine tenant), loaded from the tables on first use and forgotten
// whenever the tables may have changed under them (a rollback, another connection's
// commit).

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/installed_package.hpp"
#include "model/vulnerability.hpp"
#include "store/interning.hpp"
#include "store/sqlite/db.hpp"
#include "store/store.hpp"
#include "util/result.hpp"

namespace mdesync::store::sqlite {

// Content -> id of one table of rows that are never changed once written. The content is
// known by its 128-bit XXH3 digest (as inventory lines are, ADR 0060): two different
// contents with one digest are not a risk at tens of thousands of rows.
class Interner final {
 public:
  using Digest = NarrowKeys::Digest;
  Interner(std::string_view table, std::string_view columns, int count);
  // Loads every row: its content (columns 1.. of `SELECT id, columns`).
  util::Status load(Db& db);
  // The id of the row whose content has the digest `d` (narrow_keys); `bind` fills a new
  // row's parameters.
  template <typename Bind>
  util::Result<std::int64_t> intern(Db& db, const Digest& d, const Bind& bind);
  void forget() noexcept {
    m_ids.clear();
    m_last_id = 0;
  }
  void finalize() noexcept { m_insert = {}; }

 private:
  std::string m_table;
  std::string m_columns;
  int m_count;
  DigestIds m_ids;
  // The last content asked for: rows of one device arrive together.
  Digest m_last;
  std::int64_t m_last_id = 0;
  Statement m_insert;
};

template <typename Row>
class NarrowDims final {
 public:
  NarrowDims();
  // Fills item and host, inserting the rows when new; `keys` are narrow_keys(row). Needs
  // an open transaction.
  util::Status key_refs(Db& db, const Row& row, const NarrowKeys& keys, NarrowRefs& out);
  // Fills host_context, item_context (and literal_source_uid), inserting when new.
  util::Status context_refs(Db& db, const Row& row, const NarrowKeys& keys, NarrowRefs& out);
  // Drops what is in memory; the next call loads it again.
  void forget() noexcept;
  // Finalizes the prepared statements (before the connection closes).
  void finalize() noexcept;

 private:
  util::Status load(Db& db);

  bool m_loaded = false;
  Interner m_targets;
  Interner m_items;
  Interner m_host_contexts;
  Interner m_item_contexts;
  std::string m_scratch;
  std::string m_json[4];
};

}  // namespace mdesync::store::sqlite
