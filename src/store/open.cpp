// The store's front door: a store URL to the backend that serves it. The only file that
// knows both backends (docs/adr/0099).

#include <fmt/format.h>

#include "store/postgres/store.hpp"
#include "store/sqlite/store.hpp"
#include "store/store.hpp"

namespace mdesync::store {

using util::ErrorCode;
using util::fail;

std::string redact_store_url(std::string_view url) {
  return pg::redact_url(url);
}

Result<std::unique_ptr<Store>> open_store(std::string_view url, const OpenOptions& options) {
  constexpr std::string_view k_sqlite = "sqlite:";
  if (url.starts_with(k_sqlite)) {
    std::string path(url.substr(k_sqlite.size()));
    if (path.starts_with("//")) path.erase(0, 2);  // tolerate sqlite://PATH
    if (path.empty()) {
      return fail(ErrorCode::config, "store URL 'sqlite:' names no file; use sqlite:PATH");
    }
    return sqlite::open_sqlite(path, options);
  }
  if (url.starts_with("postgresql:") || url.starts_with("postgres:")) {
    return pg::open_postgres(url, options);
  }
  return fail(ErrorCode::config,
              fmt::format("unknown store URL '{}': expected sqlite:PATH or postgresql://...",
                          pg::redact_url(url)));
}

}  // namespace mdesync::store
