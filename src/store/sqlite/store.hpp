#pragma once

// SQLite backend of the Store (the embedded default).

#include <memory>
#include <string>

#include "store/store.hpp"

namespace mdesync::store::sqlite {

// Opens PATH (":memory:" allowed), applying pending migrations unless read-only.
Result<std::unique_ptr<Store>> open_sqlite(const std::string& path, const OpenOptions& options);

}  // namespace mdesync::store::sqlite
