#include "store/columns.hpp"

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
template <typename E, typename Parse>
E read_enum(Reader& rd, Parse parse, E fallback) {
  const auto text = rd.view();
  if (auto e = parse(text)) return *e;
  rd.fail(fmt::format("unknown stored enum value '{}'", text));
  return fallback;
}
}  // namespace

// --- Host -----------------------------------------------------------------------------

void Table<Host>::bind(Binder& b, const Host& r) {
  b.str(r.uid);
  b.str(r.name);
  b.opt(r.aad_device_id);
  b.list(r.hostnames);
  b.list(r.private_dns_names);
  b.list(r.public_dns_names);
  b.list(r.ip_addresses);
  b.list(r.private_ip_addresses);
  b.opt(r.public_ip_address);
  b.list(r.mac_addresses);
  b.opt(r.os);
  b.opt(r.description);
  b.lit(to_string(r.status));
  b.opt(r.source_status);
  b.opt(r.last_seen);
  b.opt(r.first_seen);
  b.list(r.tags);
  b.opt(r.instance_id);
  b.opt(r.cloud_provider);
  b.list(r.categories);
  b.opt(r.merged_into_machine_id);
  b.opt(r.potential_duplication);
  b.opt(r.source_risk_rating);
}
void Table<Host>::bind_source(Binder& b, const Host& r) {
  const auto& s = r.source;
  b.opt(s.agent_version);
  b.opt(s.defender_av_status);
  b.opt(s.device_value);
  b.opt(s.exclusion_reason);
  b.opt(s.exposure_level);
  b.opt(s.is_aad_joined);
  b.opt(s.is_excluded);
  b.opt(s.managed_by);
  b.opt(s.managed_by_status);
  b.opt(s.onboarding_status);
  b.opt(s.os_processor);
  b.opt(s.rbac_group_id);
  b.opt(s.rbac_group_name);
  b.opt(s.resource_id);
  b.opt(s.subscription_id);
  b.opt(s.team_id);
  b.opt(s.team_name);
  b.opt(s.uptime);
}
void Table<Host>::read(Reader& rd, Host& r) {
  r.uid = rd.str();
  r.name = rd.str();
  r.aad_device_id = rd.opt_str();
  r.hostnames = rd.list();
  r.private_dns_names = rd.list();
  r.public_dns_names = rd.list();
  r.ip_addresses = rd.list();
  r.private_ip_addresses = rd.list();
  r.public_ip_address = rd.opt_str();
  r.mac_addresses = rd.list();
  r.os = rd.opt_str();
  r.description = rd.opt_str();
  r.status = read_enum(rd, parse_host_status, HostStatus::unknown);
  r.source_status = rd.opt_str();
  r.last_seen = rd.opt_time();
  r.first_seen = rd.opt_time();
  r.tags = rd.list();
  r.instance_id = rd.opt_str();
  r.cloud_provider = rd.opt_str();
  r.categories = rd.list();
  r.merged_into_machine_id = rd.opt_str();
  r.potential_duplication = rd.opt_bool();
  r.source_risk_rating = rd.opt_str();
}
void Table<Host>::read_source(Reader& rd, Host& r) {
  auto& s = r.source;
  s.agent_version = rd.opt_str();
  s.defender_av_status = rd.opt_str();
  s.device_value = rd.opt_str();
  s.exclusion_reason = rd.opt_str();
  s.exposure_level = rd.opt_str();
  s.is_aad_joined = rd.opt_bool();
  s.is_excluded = rd.opt_bool();
  s.managed_by = rd.opt_str();
  s.managed_by_status = rd.opt_str();
  s.onboarding_status = rd.opt_str();
  s.os_processor = rd.opt_str();
  s.rbac_group_id = rd.opt_str();
  s.rbac_group_name = rd.opt_str();
  s.resource_id = rd.opt_str();
  s.subscription_id = rd.opt_str();
  s.team_id = rd.opt_str();
  s.team_name = rd.opt_str();
  s.uptime = rd.opt_str();
}

// --- Package --------------------------------------------------------------------------

void Table<Package>::bind(Binder& b, const Package& r) {
  b.str(r.uid);
  b.opt(r.name);
  b.lit(to_string(r.status));
  b.list(r.categories);
}
void Table<Package>::bind_source(Binder& b, const Package& r) {
  const auto& s = r.source;
  b.opt(s.vendor);
  b.opt(s.weaknesses);
  b.opt(s.public_exploit);
  b.opt(s.active_alert);
  b.opt(s.exposed_machines);
  b.opt(s.impact_score);
  std::string json = "[";
  bool first = true;
  for (const auto& v : s.versions) {
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
void Table<Package>::read(Reader& rd, Package& r) {
  r.uid = rd.str();
  r.name = rd.opt_str();
  r.status = read_enum(rd, parse_package_status, PackageStatus::active);
  r.categories = rd.list();
}
void Table<Package>::read_source(Reader& rd, Package& r) {
  auto& s = r.source;
  s.vendor = rd.opt_str();
  s.weaknesses = rd.opt_int();
  s.public_exploit = rd.opt_bool();
  s.active_alert = rd.opt_bool();
  s.exposed_machines = rd.opt_int();
  s.impact_score = rd.opt_double();
  const auto text = rd.view();
  s.versions.clear();
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
      s.versions.push_back(std::move(v));
    }
  } catch (const nlohmann::json::exception& e) {
    rd.fail(fmt::format("stored package versions are malformed: {}", e.what()));
  }
}

// --- InstalledPackage -----------------------------------------------------------------

void Table<InstalledPackage>::bind(Binder& b, const InstalledPackage& r) {
  b.str(r.uid);
  b.opt(r.name);
  b.str(r.type);
  b.str(r.targets);
  b.list(r.dns_names);
  b.opt(r.os);
  b.list(r.version);
  b.lit(to_string(r.status));
  b.opt(r.first_seen);
  b.opt(r.end_of_support_status);
  b.opt(r.end_of_support_date);
}
void Table<InstalledPackage>::bind_source(Binder& b, const InstalledPackage& r) {
  const auto& s = r.source;
  b.opt(s.rbac_group_id);
  b.opt(s.rbac_group_name);
  b.list(s.disk_paths);
  b.list(s.registry_paths);
  b.opt(s.number_of_weaknesses);
}
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
void Table<InstalledPackage>::read(Reader& rd, InstalledPackage& r) {
  r.uid = rd.str();
  r.name = rd.opt_str();
  r.type = rd.str();
  r.targets = rd.str();
  r.dns_names = rd.list();
  r.os = rd.opt_str();
  r.version = rd.list();
  r.status = read_enum(rd, parse_installed_package_status, InstalledPackageStatus::installed);
  r.first_seen = rd.opt_time();
  r.end_of_support_status = rd.opt_str();
  r.end_of_support_date = rd.opt_time();
}
void Table<InstalledPackage>::read_source(Reader& rd, InstalledPackage& r) {
  auto& s = r.source;
  s.rbac_group_id = rd.opt_str();
  s.rbac_group_name = rd.opt_str();
  s.disk_paths = rd.list();
  s.registry_paths = rd.list();
  s.number_of_weaknesses = rd.opt_int();
}

// --- Vulnerability --------------------------------------------------------------------

void Table<Vulnerability>::bind(Binder& b, const Vulnerability& r) {
  b.str(r.uid);
  b.opt(r.source_uid);
  b.str(r.type);
  b.str(r.targets);
  b.list(r.hostnames);
  b.opt(r.first_found);
  b.opt(r.last_found);
  b.opt(r.source_last_modified);
  b.opt(r.last_fixed);
  b.lit(to_string(r.status));
  b.lit(to_string(r.status_category));
  b.opt(r.source_status);
  b.lit(to_string(r.severity));
  b.opt(r.source_severity);
  b.opt(r.results);
  b.opt(r.state_time);
}
void Table<Vulnerability>::bind_source(Binder& b, const Vulnerability& r) {
  const auto& s = r.source;
  b.opt(s.rbac_group_id);
  b.opt(s.rbac_group_name);
  b.opt(s.os_platform);
  b.opt(s.os_version);
  b.opt(s.os_architecture);
  b.opt(s.cvss_score);
  b.opt(s.exploitability_level);
  b.opt(s.recommendation_reference);
  b.opt(s.recommended_security_update);
  b.opt(s.recommended_security_update_id);
  b.opt(s.recommended_security_update_url);
  b.opt(s.security_update_available);
  b.opt(s.is_onboarded);
  b.opt(s.software_vendor);
  b.opt(s.software_name);
  b.opt(s.software_version);
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
void Table<Vulnerability>::read(Reader& rd, Vulnerability& r) {
  r.uid = rd.str();
  r.source_uid = rd.opt_str();
  r.type = rd.str();
  r.targets = rd.str();
  r.hostnames = rd.list();
  r.first_found = rd.opt_time();
  r.last_found = rd.opt_time();
  r.source_last_modified = rd.opt_time();
  r.last_fixed = rd.opt_time();
  r.status = read_enum(rd, parse_vulnerability_status, VulnerabilityStatus::active);
  r.status_category = read_enum(rd, parse_status_category, StatusCategory::open);
  r.source_status = rd.opt_str();
  const auto sev = rd.view();
  r.severity =
      sev == "Unknown" ? Severity::unknown : parse_severity(sev).value_or(Severity::unknown);
  r.source_severity = rd.opt_str();
  r.results = rd.opt_str();
  r.state_time = rd.opt_time();
}
void Table<Vulnerability>::read_source(Reader& rd, Vulnerability& r) {
  auto& s = r.source;
  s.rbac_group_id = rd.opt_str();
  s.rbac_group_name = rd.opt_str();
  s.os_platform = rd.opt_str();
  s.os_version = rd.opt_str();
  s.os_architecture = rd.opt_str();
  s.cvss_score = rd.opt_double();
  s.exploitability_level = rd.opt_str();
  s.recommendation_reference = rd.opt_str();
  s.recommended_security_update = rd.opt_str();
  s.recommended_security_update_id = rd.opt_str();
  s.recommended_security_update_url = rd.opt_str();
  s.security_update_available = rd.opt_bool();
  s.is_onboarded = rd.opt_bool();
  s.software_vendor = rd.opt_str();
  s.software_name = rd.opt_str();
  s.software_version = rd.opt_str();
}

// --- VulnerabilityDefinition ----------------------------------------------------------

void Table<VulnerabilityDefinition>::bind(Binder& b, const VulnerabilityDefinition& r) {
  b.str(r.uid);
  b.list(r.cve_ids);
  b.list(r.cve_records);
  b.opt(r.name);
  b.opt(r.description);
  b.opt(r.summary);
  b.lit(to_string(r.severity));
  b.opt(r.source_severity);
  b.opt(r.cvss_v3_base_score);
  b.list(r.exploits);
  b.list(r.references);
  b.str(r.exploitability);
  b.opt(r.published_date);
  b.opt(r.source_last_modified);
  b.opt(r.patch_available);
  b.opt_list(r.affected);
  b.opt_list(r.recommendation);
  b.opt(r.epss);
  const auto& c3 = r.cvss_v3;
  for (const auto* v : {&c3.vector, &c3.av, &c3.ac, &c3.pr, &c3.ui, &c3.s, &c3.ci, &c3.ii, &c3.ai,
                        &c3.e, &c3.rl, &c3.rc}) {
    b.opt(*v);
  }
  b.opt(c3.base_score);
  b.opt(c3.temporal_score);
  const auto& c2 = r.cvss_v2;
  for (const auto* v :
       {&c2.vector, &c2.av, &c2.ac, &c2.au, &c2.ci, &c2.ii, &c2.ai, &c2.e, &c2.rl, &c2.rc}) {
    b.opt(*v);
  }
  b.opt(c2.base_score);
  b.opt(c2.temporal_score);
}
void Table<VulnerabilityDefinition>::bind_source(Binder& b, const VulnerabilityDefinition& r) {
  const auto& s = r.source;
  b.list(s.exploit_types);
  b.opt(s.exposed_machines);
  b.opt(s.first_detected);
  b.opt(s.cve_supportability);
  b.list(s.tags);
  b.opt(s.public_exploit);
  b.opt(s.exploit_verified);
  b.opt(s.exploit_in_kit);
}
void Table<VulnerabilityDefinition>::read(Reader& rd, VulnerabilityDefinition& r) {
  r.uid = rd.str();
  r.cve_ids = rd.list();
  r.cve_records = rd.list();
  r.name = rd.opt_str();
  r.description = rd.opt_str();
  r.summary = rd.opt_str();
  const auto sev = rd.view();
  r.severity = parse_severity(sev).value_or(Severity::unknown);
  r.source_severity = rd.opt_str();
  r.cvss_v3_base_score = rd.opt_double();
  r.exploits = rd.list();
  r.references = rd.list();
  r.exploitability = rd.str();
  r.published_date = rd.opt_time();
  r.source_last_modified = rd.opt_time();
  r.patch_available = rd.opt_bool();
  r.affected = rd.opt_list();
  r.recommendation = rd.opt_list();
  r.epss = rd.opt_double();
  auto& c3 = r.cvss_v3;
  for (auto* v : {&c3.vector, &c3.av, &c3.ac, &c3.pr, &c3.ui, &c3.s, &c3.ci, &c3.ii, &c3.ai, &c3.e,
                  &c3.rl, &c3.rc}) {
    *v = rd.opt_str();
  }
  c3.base_score = rd.opt_double();
  c3.temporal_score = rd.opt_double();
  auto& c2 = r.cvss_v2;
  for (auto* v :
       {&c2.vector, &c2.av, &c2.ac, &c2.au, &c2.ci, &c2.ii, &c2.ai, &c2.e, &c2.rl, &c2.rc}) {
    *v = rd.opt_str();
  }
  c2.base_score = rd.opt_double();
  c2.temporal_score = rd.opt_double();
}
void Table<VulnerabilityDefinition>::read_source(Reader& rd, VulnerabilityDefinition& r) {
  auto& s = r.source;
  s.exploit_types = rd.list();
  s.exposed_machines = rd.opt_int();
  s.first_detected = rd.opt_time();
  s.cve_supportability = rd.opt_str();
  s.tags = rd.list();
  s.public_exploit = rd.opt_bool();
  s.exploit_verified = rd.opt_bool();
  s.exploit_in_kit = rd.opt_bool();
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
