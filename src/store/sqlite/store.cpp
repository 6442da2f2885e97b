#include "store/sqlite/store.hpp"

#include "store/sqlite/store_impl.hpp"

namespace mdesync::store::sqlite {

Result<std::unique_ptr<Store>> make_sqlite_store(std::unique_ptr<Db> db,
                                                 std::unique_ptr<FileLock> lock, bool read_only,
                                                 bool first_sync) {
  auto store = std::make_unique<SqliteStore>(std::move(db), std::move(lock), read_only);
  store->set_first_sync(first_sync);
  if (auto st = store->init(); !st) return fail(st.error());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace mdesync::store::sqlite
