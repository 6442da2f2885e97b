#include "store/postgres/conn.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

namespace mdesync::store::pg {

using util::ErrorCode;
using util::fail;

namespace {

// Lower case, [a-z0-9_] only, starting with a letter or _, at most 63 bytes.
bool plain_identifier(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (std::isdigit(static_cast<unsigned char>(s.front())) != 0) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string tenant_schema(std::string_view tenant) {
  std::string out = "mdesync";
  if (tenant.empty()) return out;
  out += '_';
  for (const char c : tenant) {
    const auto u = static_cast<unsigned char>(c);
    out += std::isalnum(u) != 0 ? static_cast<char>(std::tolower(u)) : '_';
  }
  if (out.size() > 63) out.resize(63);
  return out;
}

}  // namespace

std::string redact_url(std::string_view url) {
  std::string out(url);
  // user:password@ in the authority
  const auto scheme = out.find("://");
  if (scheme != std::string::npos) {
    const auto start = scheme + 3;
    const auto end = out.find_first_of("/?", start);
    const auto at = out.rfind('@', end == std::string::npos ? out.size() : end);
    if (at != std::string::npos && at > start) {
      const auto colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // password=... parameters
  for (std::size_t pos = 0; (pos = out.find("password=", pos)) != std::string::npos;) {
    const bool param =
        pos == 0 || out[pos - 1] == '?' || out[pos - 1] == '&' || out[pos - 1] == ' ';
    pos += 9;
    if (!param) continue;
    const auto end = out.find_first_of("& ", pos);
    out.replace(pos, (end == std::string::npos ? out.size() : end) - pos, "***");
  }
  return out;
}

util::Result<PgTarget> parse_target(std::string_view url, std::string_view tenant) {
  PgTarget t;
  t.schema = tenant_schema(tenant);
  std::string rest(url);
  if (rest.starts_with("postgres:")) rest.replace(0, 9, "postgresql:");
  const auto q = rest.find('?');
  std::string base = rest.substr(0, q);
  std::vector<std::string> kept;
  if (q != std::string::npos) {
    std::string_view params = std::string_view(rest).substr(q + 1);
    while (!params.empty()) {
      const auto amp = params.find('&');
      const auto p = params.substr(0, amp);
      if (p.starts_with("schema=")) {
        t.schema = std::string(p.substr(7));
      } else if (!p.empty()) {
        kept.emplace_back(p);
      }
      params = amp == std::string_view::npos ? std::string_view{} : params.substr(amp + 1);
    }
  }
  for (std::size_t i = 0; i < kept.size(); ++i) base += (i == 0 ? "?" : "&") + kept[i];
  t.conninfo = base;
  t.redacted = redact_url(url);
  if (!plain_identifier(t.schema)) {
    return fail(ErrorCode::config,
                fmt::format("store URL {}: schema '{}' is not a plain lower-case identifier "
                            "(letters, digits, _; at most 63)",
                            t.redacted, t.schema));
  }
  return t;
}

std::string quote_ident(std::string_view name) {
  std::string out = "\"";
  for (const char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

// --- PgResult ----------------------------------------------------------------------------

PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    if (m_res != nullptr) PQclear(m_res);
    m_res = std::exchange(other.m_res, nullptr);
    m_row = other.m_row;
  }
  return *this;
}

PgResult::~PgResult() {
  if (m_res != nullptr) PQclear(m_res);
}

bool PgResult::is_null(int column) const {
  return PQgetisnull(m_res, m_row, column) != 0;
}

std::string_view PgResult::text(int column) const {
  if (is_null(column)) return {};
  return {PQgetvalue(m_res, m_row, column),
          static_cast<std::size_t>(PQgetlength(m_res, m_row, column))};
}

std::int64_t PgResult::int64(int column) const {
  const auto t = text(column);
  if (t == "t") return 1;
  if (t == "f") return 0;
  std::int64_t v = 0;
  std::from_chars(t.data(), t.data() + t.size(), v);
  return v;
}

double PgResult::real(int column) const {
  const std::string t(text(column));
  return std::strtod(t.c_str(), nullptr);
}

std::int64_t PgResult::affected() const {
  const char* n = PQcmdTuples(m_res);
  return n == nullptr || *n == '\0' ? 0 : std::strtoll(n, nullptr, 10);
}

// --- CopyBuffer --------------------------------------------------------------------------

void CopyBuffer::separate() {
  if (!m_first) m_data += '\t';
  m_first = false;
}

void CopyBuffer::text(std::string_view v) {
  separate();
  for (const char c : v) {
    switch (c) {
      case '\\':
        m_data += "\\\\";
        break;
      case '\t':
        m_data += "\\t";
        break;
      case '\n':
        m_data += "\\n";
        break;
      case '\r':
        m_data += "\\r";
        break;
      default:
        m_data += c;
    }
  }
}

void CopyBuffer::integer(std::int64_t v) {
  separate();
  fmt::format_to(std::back_inserter(m_data), "{}", v);
}

void CopyBuffer::real(double v) {
  separate();
  // Shortest text that reads back as the same double.
  fmt::format_to(std::back_inserter(m_data), "{}", v);
}

void CopyBuffer::null() {
  separate();
  m_data += "\\N";
}

void CopyBuffer::end_row() {
  m_data += '\n';
  m_first = true;
}

// --- BinaryCopyBuffer --------------------------------------------------------------------

namespace {
template <typename T>
void append_be(std::string& out, T v) {
  using U = std::make_unsigned_t<T>;
  auto u = static_cast<U>(v);
  char bytes[sizeof(U)];
  for (std::size_t i = sizeof(U); i-- > 0;) {
    bytes[i] = static_cast<char>(u & 0xff);
    u = static_cast<U>(u >> 8);
  }
  out.append(bytes, sizeof(U));
}
}  // namespace

std::string_view BinaryCopyBuffer::header() {
  static constexpr char k_header[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
  return {k_header, sizeof k_header - 1};
}

void BinaryCopyBuffer::field(std::int32_t length) {
  if (m_row_start == std::string::npos) {
    m_row_start = m_data.size();
    m_data.append(2, '\0');  // the field count, set by end_row
  }
  ++m_fields;
  append_be(m_data, length);
}

void BinaryCopyBuffer::text(std::string_view v) {
  field(static_cast<std::int32_t>(v.size()));
  m_data.append(v);
}

void BinaryCopyBuffer::integer(std::int64_t v) {
  field(8);
  append_be(m_data, v);
}

void BinaryCopyBuffer::real(double v) {
  field(8);
  std::uint64_t bits = 0;
  static_assert(sizeof bits == sizeof v);
  std::memcpy(&bits, &v, sizeof bits);
  append_be(m_data, bits);
}

void BinaryCopyBuffer::null() {
  field(-1);
}

void BinaryCopyBuffer::end_row() {
  if (m_row_start == std::string::npos) field(-1);  // never a row without fields
  m_data[m_row_start] = static_cast<char>(m_fields >> 8);
  m_data[m_row_start + 1] = static_cast<char>(m_fields & 0xff);
  m_fields = 0;
  m_row_start = std::string::npos;
}

// --- Conn --------------------------------------------------------------------------------

util::Result<std::unique_ptr<Conn>> Conn::connect(const PgTarget& target) {
  PGconn* c = PQconnectdb(target.conninfo.c_str());
  if (c == nullptr || PQstatus(c) != CONNECTION_OK) {
    std::string why = c != nullptr ? PQerrorMessage(c) : "out of memory";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    if (c != nullptr) PQfinish(c);
    return fail(ErrorCode::store,
                fmt::format("cannot connect to the PostgreSQL store {}: {}; check the URL, "
                            "that the server runs, and the password (PGPASSWORD or ~/.pgpass)",
                            target.redacted, why));
  }
  std::unique_ptr<Conn> conn(new Conn(c, target));
  if (auto st = conn->prepare_session(); !st) return fail(st.error());
  return conn;
}

Conn::~Conn() {
  PQfinish(m_conn);
}

util::Status Conn::prepare_session() {
  // Quiet NOTICEs (IF NOT EXISTS and the like), UTC times, our schema first, and no JIT
  // compilation (ADR 0114): the store's statements run again and again with new
  // parameters, each planned anew, and a batch of 5,000 keys passes jit_above_cost:
  // compiling took 250 ms of a 300 ms lookup.
  return exec(fmt::format(
      "SET client_min_messages = warning; SET TIME ZONE 'UTC'; SET search_path = {}, public; "
      "SET application_name = 'mdesync/{}'; SET jit = off",
      quote_ident(m_target.schema), m_target.schema));
}

util::Error Conn::error(const PGresult* res, std::string_view what) {
  std::string msg = res != nullptr ? PQresultErrorMessage(res) : "";
  if (msg.empty()) msg = PQerrorMessage(m_conn);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const std::string_view code = state != nullptr ? state : "";
  m_last_state = code;
  // lock_not_available, deadlock_detected, serialization_failure: another writer.
  const bool locked = code == "55P03" || code == "40P01" || code == "40001";
  return util::Error{
      locked ? ErrorCode::store_locked : ErrorCode::store,
      fmt::format("PostgreSQL store {}: {} failed: {}", m_target.redacted, what, msg), std::nullopt,
      std::nullopt};
}

namespace {
bool ok(const PGresult* res) {
  const auto st = PQresultStatus(res);
  return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}
std::string_view first_words(std::string_view sql) {
  while (!sql.empty() && std::isspace(static_cast<unsigned char>(sql.front())) != 0) {
    sql.remove_prefix(1);
  }
  const auto n = std::min(sql.find('\n'), std::size_t{60});
  return sql.substr(0, n);
}
}  // namespace

util::Status Conn::settle() {
  if (copy_open()) {
    if (auto st = finish_copy(); !st) {
      m_before = nullptr;
      return st;
    }
  }
  if (m_before) {
    // Deferred statements go with its first statement, ahead of it.
    auto fn = std::exchange(m_before, nullptr);
    return fn();
  }
  return {};
}

util::Status Conn::send_deferred() {
  if (m_deferred.empty()) return {};
  const std::string text = std::exchange(m_deferred, {});
  PgResult res(PQexec(m_conn, text.c_str()));
  if (!ok(res.raw())) return fail(error(res.raw(), first_words(text)));
  return {};
}

bool Conn::cancel_deferred(std::string_view sql) {
  const std::string last = std::string(sql) + "; ";
  if (m_deferred.size() < last.size() ||
      m_deferred.compare(m_deferred.size() - last.size(), last.size(), last) != 0) {
    return false;
  }
  m_deferred.resize(m_deferred.size() - last.size());
  return true;
}

util::Status Conn::exec(std::string_view sql) {
  if (auto st = settle(); !st) return st;
  // The deferred statements ride ahead of this one.
  const std::string text = std::exchange(m_deferred, {}) + std::string(sql);
  PgResult res(PQexec(m_conn, text.c_str()));
  if (!ok(res.raw())) return fail(error(res.raw(), first_words(sql)));
  return {};
}

util::Result<PgResult> Conn::query(std::string_view sql, std::initializer_list<OptText> params) {
  if (auto st = settle(); !st) return fail(st.error());
  if (auto st = send_deferred(); !st) return fail(st.error());
  const std::string text(sql);
  std::vector<std::string> values;
  values.reserve(params.size());
  std::vector<const char*> ptrs;
  for (const auto& p : params) {
    if (p) {
      values.emplace_back(*p);
      ptrs.push_back(nullptr);  // filled below: values may move while growing
    } else {
      ptrs.push_back(nullptr);
    }
  }
  std::size_t v = 0;
  std::size_t i = 0;
  for (const auto& p : params) {
    if (p) ptrs[i] = values[v++].c_str();
    ++i;
  }
  PgResult res(PQexecParams(m_conn, text.c_str(), static_cast<int>(ptrs.size()), nullptr,
                            ptrs.data(), nullptr, nullptr, 0));
  if (!ok(res.raw())) return fail(error(res.raw(), first_words(sql)));
  return res;
}

util::Status Conn::copy_rows(std::string_view copy_sql, const CopyBuffer& buffer) {
  if (auto st = begin_copy(copy_sql); !st) return st;
  if (auto st = put_copy(buffer); !st) {
    abandon();
    return st;
  }
  return finish_copy();
}

util::Status Conn::begin_copy(std::string_view copy_sql) {
  if (auto st = settle(); !st) return st;
  // Deferred statements, and any before the COPY in `copy_sql`, run first: PQexec stops
  // at the COPY (an error of one of them ends the query string there).
  const std::string text = std::exchange(m_deferred, {}) + std::string(copy_sql);
  PgResult res(PQexec(m_conn, text.c_str()));
  if (PQresultStatus(res.raw()) != PGRES_COPY_IN) {
    return fail(error(res.raw(), first_words(copy_sql)));
  }
  m_copy_sql = std::string(copy_sql);
  return {};
}

util::Status Conn::put(std::string_view data, std::string_view what) {
  constexpr std::size_t k_chunk = 1 << 20;
  for (std::size_t off = 0; off < data.size(); off += k_chunk) {
    const auto n = std::min(k_chunk, data.size() - off);
    if (PQputCopyData(m_conn, data.data() + off, static_cast<int>(n)) != 1) {
      return fail(error(nullptr, what));
    }
  }
  return {};
}

util::Status Conn::put_copy(const CopyBuffer& buffer) {
  return put_copy(std::string_view(buffer.data()));
}

util::Status Conn::put_copy(std::string_view data) {
  if (!copy_open()) return fail(ErrorCode::internal, "put_copy without an open COPY");
  return put(data, first_words(m_copy_sql));
}

util::Status Conn::finish_copy() {
  if (!copy_open()) return {};
  const std::string sql = std::exchange(m_copy_sql, {});
  if (PQputCopyEnd(m_conn, nullptr) != 1) return fail(error(nullptr, first_words(sql)));
  util::Status result;
  while (PGresult* r = PQgetResult(m_conn)) {
    PgResult res(r);
    if (result && !ok(res.raw())) result = fail(error(res.raw(), first_words(sql)));
  }
  return result;
}

void Conn::abandon() noexcept {
  m_before = nullptr;
  if (!copy_open()) return;
  m_copy_sql.clear();
  if (PQputCopyEnd(m_conn, "abandoned by mdesync") == 1) {
    while (PGresult* r = PQgetResult(m_conn)) PQclear(r);
  }
}

std::function<void()> Conn::canceller() const {
  std::shared_ptr<PGcancel> cancel(PQgetCancel(m_conn), [](PGcancel* c) {
    if (c != nullptr) PQfreeCancel(c);
  });
  return [cancel] {
    if (!cancel) return;
    char errbuf[256];
    (void)PQcancel(cancel.get(), errbuf, sizeof errbuf);
  };
}

bool Conn::in_transaction() const noexcept {
  return PQtransactionStatus(m_conn) != PQTRANS_IDLE;
}

util::Result<bool> Conn::ensure_alive() {
  if (PQstatus(m_conn) == CONNECTION_OK) return false;
  m_copy_sql.clear();
  m_before = nullptr;
  m_deferred.clear();
  PQreset(m_conn);
  if (PQstatus(m_conn) != CONNECTION_OK) {
    return fail(ErrorCode::store,
                fmt::format("lost the connection to the PostgreSQL store {} and could not "
                            "reconnect: {}",
                            m_target.redacted, PQerrorMessage(m_conn)));
  }
  if (auto st = prepare_session(); !st) return fail(st.error());
  return true;
}

}  // namespace mdesync::store::pg
