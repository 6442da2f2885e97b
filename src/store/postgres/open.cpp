// Opening a PostgreSQL store: the connection, the tenant's sync lock, the schema check
// and migrations (ADR 0067).

#include "store/declared_columns.hpp"
#include "store/postgres/schema.hpp"
#include "store/postgres/store_impl.hpp"

namespace mdesync::store::pg {

namespace {

// Whether the schema holds an mdesync store; its version (0: no store yet).
Result<int> stored_version(Conn& conn) {
  auto r = conn.query(
      "SELECT to_regclass(quote_ident($1) || '.schema_version') IS NOT NULL, "
      "(SELECT count(*) FROM pg_tables WHERE schemaname = $1)",
      {conn.target().schema});
  if (!r) return fail(r.error());
  const bool has_version = r->int64(0) != 0;
  const auto tables = r->int64(1);
  if (!has_version) {
    if (tables > 0) {
      return fail(ErrorCode::store,
                  fmt::format("schema {} of {} holds tables but not an mdesync store; nothing "
                              "was written: name another schema (?schema=NAME)",
                              conn.target().schema, conn.target().redacted));
    }
    return 0;
  }
  auto v = conn.query("SELECT coalesce(max(version), 0) FROM schema_version");
  if (!v) return fail(v.error());
  return static_cast<int>(v->int64(0));
}

// Adds the declared columns (columns.hpp) that the wide objects' tables lack: those of
// attributes declared after the frozen migrations. A new attribute needs no migration.
util::Status add_declared_columns(Conn& conn) {
  for (const auto table : k_wide_tables) {
    auto existing = table_columns(conn, table);
    if (!existing) return fail(existing.error());
    for (const auto& column : missing_columns(table, *existing)) {
      if (auto st = conn.exec(add_column_sql(column, true)); !st) return st;
    }
  }
  return {};
}

// Creates the schema and applies the missing migrations in one transaction, under a
// lock of the tenant (two first syncs racing each other wait instead of failing).
util::Status migrate(Conn& conn) {
  const auto& schema = conn.target().schema;
  if (auto st = conn.exec("BEGIN"); !st) return st;
  auto rollback = [&](util::Error e) -> util::Status {
    (void)conn.exec("ROLLBACK");
    return fail(std::move(e));
  };
  if (auto r = conn.query(
          fmt::format("SELECT pg_advisory_xact_lock({}, hashtext($1))", k_migrate_lock), {schema});
      !r) {
    return rollback(r.error());
  }
  if (auto st = conn.exec("CREATE SCHEMA IF NOT EXISTS " + quote_ident(schema)); !st) {
    return rollback(st.error());
  }
  auto current = stored_version(conn);
  if (!current) return rollback(current.error());
  if (*current == 0) {
    if (auto st = conn.exec("CREATE TABLE schema_version (version integer PRIMARY KEY, "
                            "description text NOT NULL, applied_at text NOT NULL)");
        !st) {
      return rollback(st.error());
    }
  }
  const int latest = migrations().back().version;
  if (*current > latest) {
    return rollback(util::Error{
        ErrorCode::store,
        fmt::format("schema {} of {} is at version {}, newer than this mdesync knows ({}); "
                    "nothing was written: upgrade mdesync",
                    schema, conn.target().redacted, *current, latest),
        std::nullopt, std::nullopt});
  }
  for (const auto& m : migrations()) {
    if (m.version <= *current) continue;
    if (auto st = conn.exec(m.sql); !st) return rollback(st.error());
    const std::string v = std::to_string(m.version);
    if (auto r = conn.query(
            "INSERT INTO schema_version (version, description, applied_at) VALUES ($1, $2, "
            "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))",
            {v, m.description});
        !r) {
      return rollback(r.error());
    }
  }
  if (auto st = add_declared_columns(conn); !st) return rollback(st.error());
  return conn.exec("COMMIT");
}

}  // namespace

util::Status take_sync_lock(Conn& conn) {
  auto r = conn.query(fmt::format("SELECT pg_try_advisory_lock({}, hashtext($1))", k_sync_lock),
                      {conn.target().schema});
  if (!r) return fail(r.error());
  if (r->int64(0) == 0) {
    return fail(ErrorCode::store_locked,
                fmt::format("another mdesync sync is using the store {} (schema {}); nothing "
                            "was written: wait for it to finish and run again",
                            conn.target().redacted, conn.target().schema));
  }
  return {};
}

Result<std::unique_ptr<Store>> open_postgres(std::string_view url, const OpenOptions& options) {
  auto target = parse_target(url, options.tenant);
  if (!target) return fail(target.error());
  auto conn = Conn::connect(*target);
  if (!conn) return fail(conn.error());
  const bool exclusive = options.exclusive && !options.read_only;
  if (exclusive) {
    if (auto st = take_sync_lock(**conn); !st) return fail(st.error());
  }
  if (options.read_only) {
    auto v = stored_version(**conn);
    if (!v) return fail(v.error());
    if (*v == 0) {
      // not_found: a reader may treat it as an empty store (`mdesync report` does).
      return fail(ErrorCode::not_found,
                  fmt::format("schema {} of {} holds no mdesync data yet; run `mdesync sync` "
                              "first (the schema is mdesync_<tenant id>: set the same tenant_id "
                              "as the sync, or name the schema with ?schema=NAME)",
                              target->schema, target->redacted));
    }
    if (*v > migrations().back().version) {
      return fail(ErrorCode::store,
                  fmt::format("schema {} of {} is at version {}, newer than this mdesync "
                              "knows; upgrade mdesync",
                              target->schema, target->redacted, *v));
    }
  } else if (auto st = migrate(**conn); !st) {
    return fail(st.error());
  }
  return std::unique_ptr<Store>(new PgStore(std::move(*conn), exclusive, options.read_only));
}

}  // namespace mdesync::store::pg
