#include "store/store.hpp"

#include <fmt/format.h>
#include <xxhash.h>

#include <utility>

namespace mdesync::store {

using util::ErrorCode;
using util::fail;

Transaction::Transaction(Transaction&& other) noexcept
    : m_store(std::exchange(other.m_store, nullptr)) {}

Transaction::~Transaction() {
  rollback();
}

Status Transaction::commit() {
  if (m_store == nullptr) return fail(ErrorCode::invalid_argument, "transaction already ended");
  Store* store = std::exchange(m_store, nullptr);
  store->m_in_transaction = false;
  auto st = store->do_commit();
  if (!st) store->do_rollback();
  return st;
}

void Transaction::rollback() noexcept {
  if (m_store == nullptr) return;
  Store* store = std::exchange(m_store, nullptr);
  store->m_in_transaction = false;
  store->do_rollback();
}

std::uint32_t finding_identity(std::string_view uid) noexcept {
  const auto h = static_cast<std::uint32_t>(XXH3_64bits(uid.data(), uid.size()));
  return h == 0 ? 1U : h;
}

Result<Transaction> Store::begin() {
  if (m_in_transaction) {
    return fail(ErrorCode::invalid_argument, "a store transaction is already open");
  }
  if (auto st = do_begin(); !st) return fail(st.error());
  m_in_transaction = true;
  return Transaction(this);
}

Result<std::int64_t> count_active(Store& store, ObjectType object) {
  // The tables the writers write (the user-facing views join the narrow ones), in SQL
  // both backends read alike.
  std::string sql;
  switch (object) {
    case ObjectType::vulnerability:
      sql = "SELECT count(*) FROM vulnerability_finding WHERE status_category = 'Open'";
      break;
    case ObjectType::installed_package:
      sql = "SELECT count(*) FROM installed_package_entry WHERE status <> 'Removed'";
      break;
    case ObjectType::host:
    case ObjectType::package:
      sql = fmt::format("SELECT count(*) FROM {} WHERE status <> 'Removed'",
                        model::to_string(object));
      break;
    case ObjectType::vulnerability_definition:
      sql = "SELECT count(*) FROM vulnerability_definition";
      break;
  }
  std::int64_t n = 0;
  if (auto st = store.read_query(sql,
                                 [&](const QueryRow& row) {
                                   n = row.int64(0);
                                   return false;
                                 });
      !st) {
    return fail(st.error());
  }
  return n;
}

}  // namespace mdesync::store
