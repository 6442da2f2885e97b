#pragma once

// The rows a narrow finding refers to (ADR 0062): its target (device id) and item (the
// rest of its uid, with its CVE) and the two context rows holding what it shares with
// the other findings of its device and of its software and CVE. Kept in memory as maps
// from content to id (a few tens of thousands of rows for a 10,000-machine tenant),
// loaded from the tables on first use and forgotten whenever the tables may have
// changed under them (a rollback, another connection's commit).

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "model/vulnerability.hpp"
#include "store/sqlite_db.hpp"
#include "util/result.hpp"

namespace mdesync::store::sqlite {

// The ids a finding row stores in place of its repeated attributes.
struct FindingRefs {
  std::int64_t item = 0;
  std::int64_t host = 0;
  std::int64_t host_context = 0;
  std::int64_t item_context = 0;
  // source_uid does not start with targets: the finding row keeps it whole.
  bool literal_source_uid = false;
};

class FindingDims final {
 public:
  // Fills item and host, inserting the rows when new. Needs an open transaction.
  util::Status key_refs(Db& db, const model::Vulnerability& v, FindingRefs& out);
  // Fills host_context, item_context and literal_source_uid, inserting when new.
  util::Status context_refs(Db& db, const model::Vulnerability& v, FindingRefs& out);
  // Drops what is in memory; the next call loads it again.
  void forget() noexcept;
  // Finalizes the prepared statements (before the connection closes).
  void finalize() noexcept {
    m_insert_target = {};
    m_insert_item = {};
    m_update_item_type = {};
    m_insert_host_context = {};
    m_insert_item_context = {};
  }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  using Ids = std::unordered_map<std::string, std::int64_t, Hash, std::equal_to<>>;

  util::Status load(Db& db);
  util::Result<std::int64_t> insert(Db& db, Statement& st, std::string_view sql, const auto& bind);

  bool m_loaded = false;
  Ids m_targets;
  // By uid suffix: id and type. The mapper's suffix ends with the type, so a type
  // never changes under a suffix; a row that says otherwise updates it (last one wins,
  // as for any attribute of a row with the same uid).
  std::unordered_map<std::string, std::pair<std::int64_t, std::string>, Hash, std::equal_to<>>
      m_items;
  Ids m_host_contexts;
  Ids m_item_contexts;
  std::string m_key;
  std::string m_json;
  Statement m_insert_target;
  Statement m_insert_item;
  Statement m_update_item_type;
  Statement m_insert_host_context;
  Statement m_insert_item_context;
};

// The part of `v.uid` after its targets, or char(1) + the whole uid when it does not
// start with them (schema v4).
std::string_view uid_suffix(const model::Vulnerability& v, std::string& scratch);

}  // namespace mdesync::store::sqlite
