#pragma once

// The store's front door (target mdesync_store, docs/adr/0099): a store URL to the
// backend that serves it. The one part of the store that knows both backends.

#include <memory>
#include <string>
#include <string_view>

#include "store/store.hpp"

namespace mdesync::store {

// Opens (creating and migrating when needed) the store named by `url`: `sqlite:PATH`
// (PATH may be relative; `sqlite::memory:` for tests) or `postgresql://...` (a libpq
// URI, plus `schema=NAME`: ADR 0067). Corrupt file or unreachable server:
// ErrorCode::store; locked: ErrorCode::store_locked.
Result<std::unique_ptr<Store>> open_store(std::string_view url, const OpenOptions& options = {});

// The store URL as it may appear in a message or a log: a password in it masked.
std::string redact_store_url(std::string_view url);

}  // namespace mdesync::store
