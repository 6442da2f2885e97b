#pragma once

// The PostgreSQL store's factory (open.cpp; ADR 0067).

#include <memory>
#include <string>
#include <string_view>

#include "store/store.hpp"

namespace mdesync::store::pg {

// Opens the store of `url` (`postgresql://...`, libpq's URI plus `schema=NAME`):
// connects, takes the tenant's sync lock when asked, creates and migrates its schema.
Result<std::unique_ptr<Store>> open_postgres(std::string_view url, const OpenOptions& options);

// The URL with the password of its user info and any `password=` parameter masked: the
// only form of a store URL that may reach a message or a log (conn.cpp).
std::string redact_url(std::string_view url);

}  // namespace mdesync::store::pg
