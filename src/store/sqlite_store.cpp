#include "store/sqlite_store.hpp"

#include "store/sqlite_store_impl.hpp"

namespace mdesync::store::sqlite {

Result<std::unique_ptr<Store>> make_sqlite_store(std::unique_ptr<Db> db,
                                                 std::unique_ptr<FileLock> lock, bool read_only,
                                                 bool first_sync) {
  const bool syncing = lock != nullptr;
  auto store = std::make_unique<SqliteStore>(std::move(db), std::move(lock), read_only);
  store->set_first_sync(first_sync);
  if (auto st = store->init(); !st) return fail(st.error());
  // A sync checks the pages of a store that holds data before it writes (issue 17).
  if (syncing && !first_sync) store->start_check();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace mdesync::store::sqlite
