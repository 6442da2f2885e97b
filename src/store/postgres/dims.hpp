#pragma once

// The rows a narrow finding or installed package refers to (ADR 0062), interned in the
// client for the PostgreSQL store as NarrowDims does for SQLite (ADR 0070): maps from
// content to id, loaded from the tables once per transaction. A new row gets its id
// here (the next after the largest loaded: the tenant's sync lock keeps other writers
// out) and waits in a COPY buffer until flush(), which the store runs before its next
// statement; the rows that refer to it may reach the server first (no foreign keys).

#include <cstdint>
#include <string>
#include <string_view>

#include "model/installed_package.hpp"
#include "model/vulnerability.hpp"
#include "store/interning.hpp"
#include "store/postgres/conn.hpp"
#include "util/result.hpp"

namespace mdesync::store::pg {

// Content -> id of one interned table.
class PgInterner final {
 public:
  PgInterner(std::string_view table, std::string_view columns);
  // Loads every row (`SELECT id, columns`); the content key of a stored row follows the
  // column types the server reports.
  util::Status load(Conn& conn);
  using Digest = NarrowKeys::Digest;
  // The id of the row whose content has the digest `d` (narrow_keys), a new one written
  // by `fields(writer)` (narrow_layout.hpp) when unknown.
  template <typename Fields>
  std::int64_t intern(const Digest& d, const Fields& fields);
  [[nodiscard]] bool pending() const noexcept { return !m_new.data().empty(); }
  // COPYs the new rows into the table and moves its identity sequence past them.
  util::Status flush(Conn& conn);
  void forget() noexcept;

 private:
  std::string m_table;
  std::string m_columns;
  DigestIds m_ids;
  Digest m_last;
  std::int64_t m_last_id = 0;
  std::int64_t m_max_id = 0;
  CopyBuffer m_new;
};

template <typename Row>
class PgDims final {
 public:
  PgDims();
  // The ids of `row`'s target and item and, with `contexts`, of its context rows (new
  // ones pending until flush), found by `keys` = narrow_keys(row); loads the maps first
  // when needed.
  util::Status refs(Conn& conn, const Row& row, const NarrowKeys& keys, NarrowRefs& out,
                    bool contexts = true);
  [[nodiscard]] bool pending() const noexcept;
  util::Status flush(Conn& conn);
  // Drops the maps and any pending rows; the next refs() loads them again.
  void forget() noexcept;

 private:
  bool m_loaded = false;
  PgInterner m_targets;
  PgInterner m_items;
  PgInterner m_host_contexts;
  PgInterner m_item_contexts;
  std::string m_scratch;
  std::string m_json[4];
};

}  // namespace mdesync::store::pg
