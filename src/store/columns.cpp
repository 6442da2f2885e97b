#include "store/columns.hpp"

#include <type_traits>

#include <nlohmann/json.hpp>

#include "store/codec.hpp"

namespace mdesync::store {

using namespace mdesync::model;

// --- Binder ---------------------------------------------------------------------------

std::string& Binder::buffer() {
  if (m_buffers != nullptr) return m_buffers->next();
  m_buf.clear();
  return m_buf;
}
void Binder::hand_on(const std::string& b) {
  if (m_buffers != nullptr) {
    m_sink->text(b);
  } else {
    m_sink->text_copy(b);
  }
}

void Binder::opt(const OptString& v) {
  if (v) {
    m_sink->text(*v);
  } else {
    null();
  }
}
void Binder::opt(const OptBool& v) {
  if (v) {
    i64(*v ? 1 : 0);
  } else {
    null();
  }
}
void Binder::opt(const OptInt& v) {
  if (v) {
    i64(*v);
  } else {
    null();
  }
}
void Binder::opt(const OptDouble& v) {
  if (v) {
    m_sink->real(*v);
  } else {
    null();
  }
}
void Binder::opt(const OptTime& v) {
  if (v) {
    time(*v);
  } else {
    null();
  }
}
void Binder::opt_micros(const OptTime& v) {
  if (v) {
    micros(*v);
  } else {
    null();
  }
}
void Binder::time(util::Timestamp t) {
  std::string& b = buffer();
  append_time(b, t);
  hand_on(b);
}
void Binder::list(const Strings& v) {
  if (v.empty()) {
    m_sink->text("[]");
    return;
  }
  std::string& b = buffer();
  append_json_list(b, v);
  hand_on(b);
}
void Binder::json(const std::string& v) {
  if (m_buffers != nullptr) {
    std::string& b = m_buffers->next();
    b = v;
    m_sink->text(b);
    return;
  }
  m_sink->text_copy(v);
}
void Binder::opt_list(const std::optional<Strings>& v) {
  if (v) {
    list(*v);
  } else {
    null();
  }
}

// --- Reader ---------------------------------------------------------------------------

std::string Reader::str() {
  return std::string(m_src->text(m_index++));
}
OptString Reader::opt_str() {
  const int i = m_index++;
  if (m_src->is_null(i)) return std::nullopt;
  return std::string(m_src->text(i));
}
OptBool Reader::opt_bool() {
  const int i = m_index++;
  if (m_src->is_null(i)) return std::nullopt;
  return m_src->int64(i) != 0;
}
OptInt Reader::opt_int() {
  const int i = m_index++;
  if (m_src->is_null(i)) return std::nullopt;
  return m_src->int64(i);
}
OptDouble Reader::opt_double() {
  const int i = m_index++;
  if (m_src->is_null(i)) return std::nullopt;
  return m_src->real(i);
}
OptTime Reader::opt_time() {
  const int i = m_index++;
  if (m_src->is_null(i)) return std::nullopt;
  auto t = decode_time(m_src->text(i));
  if (!t) {
    fail(t.error().message);
    return std::nullopt;
  }
  return *t;
}
Strings Reader::list() {
  const int i = m_index++;
  if (m_src->is_null(i)) return {};
  auto v = decode_json_list(m_src->text(i));
  if (!v) {
    fail(v.error().message);
    return {};
  }
  return std::move(*v);
}
std::optional<Strings> Reader::opt_list() {
  if (m_src->is_null(m_index)) {
    ++m_index;
    return std::nullopt;
  }
  return list();
}

namespace {

// Package versions: one JSON array column.
void bind_value(Binder& b, const std::vector<PackageVersion>& versions) {
  std::string json = "[";
  bool first = true;
  for (const auto& v : versions) {
    if (!first) json += ',';
    first = false;
    json += "{\"version\":";
    append_json_string(json, v.version);
    json += ",\"installations\":";
    json += v.installations ? std::to_string(*v.installations) : "null";
    json += ",\"vulnerabilities\":";
    json += v.vulnerabilities ? std::to_string(*v.vulnerabilities) : "null";
    json += '}';
  }
  json += ']';
  b.json(json);
}
void read_value(Reader& rd, std::vector<PackageVersion>& versions) {
  const auto text = rd.view();
  versions.clear();
  if (text.empty()) return;
  try {
    for (const auto& item : nlohmann::json::parse(text)) {
      PackageVersion v;
      v.version = item.at("version").get<std::string>();
      if (item.contains("installations") && !item["installations"].is_null()) {
        v.installations = item["installations"].get<std::int64_t>();
      }
      if (item.contains("vulnerabilities") && !item["vulnerabilities"].is_null()) {
        v.vulnerabilities = item["vulnerabilities"].get<std::int64_t>();
      }
      versions.push_back(std::move(v));
    }
  } catch (const nlohmann::json::exception& e) {
    rd.fail(fmt::format("stored package versions are malformed: {}", e.what()));
  }
}

// One declared attribute's value as its column holds it (columns.hpp, column_type).
template <typename T>
void bind_value(Binder& b, const T& v) {
  if constexpr (std::is_enum_v<T>) {
    b.lit(to_string(v));
  } else if constexpr (std::is_same_v<T, std::string>) {
    b.str(v);
  } else if constexpr (std::is_same_v<T, Strings>) {
    b.list(v);
  } else if constexpr (std::is_same_v<T, std::optional<Strings>>) {
    b.opt_list(v);
  } else {
    b.opt(v);
  }
}
template <typename T>
void read_value(Reader& rd, T& v) {
  if constexpr (std::is_enum_v<T>) {
    const auto text = rd.view();
    if (auto e = parse_enum(text, static_cast<T*>(nullptr))) {
      v = *e;
    } else {
      rd.fail(fmt::format("unknown stored enum value '{}'", text));
    }
  } else if constexpr (std::is_same_v<T, std::string>) {
    v = rd.str();
  } else if constexpr (std::is_same_v<T, Strings>) {
    v = rd.list();
  } else if constexpr (std::is_same_v<T, std::optional<Strings>>) {
    v = rd.opt_list();
  } else if constexpr (std::is_same_v<T, OptString>) {
    v = rd.opt_str();
  } else if constexpr (std::is_same_v<T, OptBool>) {
    v = rd.opt_bool();
  } else if constexpr (std::is_same_v<T, OptInt>) {
    v = rd.opt_int();
  } else if constexpr (std::is_same_v<T, OptDouble>) {
    v = rd.opt_double();
  } else {
    static_assert(std::is_same_v<T, OptTime>);
    v = rd.opt_time();
  }
}

// The declared attributes of one group, in declaration (column) order.
template <AttrGroup Group, typename Row>
void bind_group(Binder& b, const Row& r) {
  for_each_attribute<Row>([&](const auto& a) {
    if (a.info.group == Group) bind_value(b, a.get(r));
  });
}
template <AttrGroup Group, typename Row>
void read_group(Reader& rd, Row& r) {
  for_each_attribute<Row>([&](const auto& a) {
    if (a.info.group == Group) read_value(rd, a.get(r));
  });
}

}  // namespace

// --- every object: from its declaration ------------------------------------------------

#define MDESYNC_DECLARED_TABLE(Row)                       \
  void Table<Row>::bind(Binder& b, const Row& r) {        \
    bind_group<AttrGroup::model>(b, r);                   \
  }                                                       \
  void Table<Row>::bind_source(Binder& b, const Row& r) { \
    bind_group<AttrGroup::source>(b, r);                  \
  }                                                       \
  void Table<Row>::read(Reader& rd, Row& r) {             \
    read_group<AttrGroup::model>(rd, r);                  \
  }                                                       \
  void Table<Row>::read_source(Reader& rd, Row& r) {      \
    read_group<AttrGroup::source>(rd, r);                 \
  }

MDESYNC_DECLARED_TABLE(Host)
MDESYNC_DECLARED_TABLE(Package)
MDESYNC_DECLARED_TABLE(InstalledPackage)
MDESYNC_DECLARED_TABLE(Vulnerability)
MDESYNC_DECLARED_TABLE(VulnerabilityDefinition)

#undef MDESYNC_DECLARED_TABLE

// --- the narrow objects' own rows (ADR 0062) -------------------------------------------

void Table<InstalledPackage>::bind_narrow(Binder& b, const InstalledPackage& r,
                                          const NarrowRefs& refs) {
  b.i64(refs.item);
  b.i64(refs.host);
  b.i64(refs.host_context);
  b.i64(refs.item_context);
  b.list(r.version);
  b.lit(to_string(r.status));
  b.opt_micros(r.first_seen);
}
void Table<Vulnerability>::bind_narrow(Binder& b, const Vulnerability& r, const NarrowRefs& refs) {
  b.i64(refs.item);
  b.i64(refs.host);
  b.i64(refs.host_context);
  b.i64(refs.item_context);
  if (refs.literal_source_uid) {
    b.opt(r.source_uid);
  } else {
    b.opt(OptString{});
  }
  b.opt_micros(r.first_found);
  b.opt_micros(r.last_found);
  b.opt_micros(r.source_last_modified);
  b.opt_micros(r.last_fixed);
  b.lit(to_string(r.status));
  b.lit(to_string(r.status_category));
  b.opt(r.source_status);
  b.lit(to_string(r.severity));
  b.opt_micros(r.state_time);
}

// --- Tables, runs and checkpoints ------------------------------------------------------

std::string_view write_table(ObjectType object) {
  if (object == ObjectType::vulnerability) return Table<Vulnerability>::write_name;
  if (object == ObjectType::installed_package) return Table<InstalledPackage>::write_name;
  return to_string(object);
}

SyncRun read_sync_run(Reader& rd) {
  SyncRun r;
  r.id = rd.opt_int().value_or(0);
  r.mode = rd.str();
  r.objects = rd.list();
  r.started_at = rd.opt_time().value_or(Timestamp{});
  r.ended_at = rd.opt_time();
  r.outcome = rd.opt_str();
  r.counts_json = rd.str();
  return r;
}

Lifecycle read_lifecycle(const ValueSource& src, int first) {
  auto micros_at = [&](int column) -> OptTime {
    if (src.is_null(column)) return std::nullopt;
    return util::Timestamp(std::chrono::microseconds(src.int64(column)));
  };
  Lifecycle l;
  l.status = parse_vulnerability_status(src.text(first)).value_or(VulnerabilityStatus::active);
  l.last_fixed = micros_at(first + 1);
  l.state_time = micros_at(first + 2);
  return l;
}

void mark_unfinished_interrupted(std::vector<SyncRun>& runs) {
  for (auto& r : runs) {
    if (!r.outcome) r.outcome = "interrupted";
  }
}

std::optional<Checkpoint> read_checkpoint(Reader& rd) {
  Checkpoint cp;
  const auto obj = parse_object_type(rd.view());
  if (!obj) return std::nullopt;
  cp.object = *obj;
  cp.run_id = rd.opt_int().value_or(0);
  cp.mode = rd.str();
  cp.snapshot_time = rd.opt_time();
  cp.full_snapshot_time = rd.opt_time();
  cp.completed_at = rd.opt_time().value_or(Timestamp{});
  cp.state = rd.str();
  return cp;
}

}  // namespace mdesync::store
