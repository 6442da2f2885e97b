// Export rows as JSON Lines, written by hand for speed: the vulnerability export (one row
// per finding, and one without a CVE per install), the two inventory exports and the delta
// export.

#include <array>
#include <cstdio>

#include "world.hpp"

namespace mdesim {
namespace {

void add_str(std::string& out, const char* key, std::string_view v) {
  out.push_back('"');
  out.append(key);
  out.append("\":");
  json_str(out, v);
  out.push_back(',');
}

void add_null(std::string& out, const char* key) {
  out.push_back('"');
  out.append(key);
  out.append("\":null,");
}

void add_raw(std::string& out, const char* key, std::string_view raw) {
  out.push_back('"');
  out.append(key);
  out.append("\":");
  out.append(raw);
  out.push_back(',');
}

void add_num(std::string& out, const char* key, double v) {
  std::array<char, 32> buf{};
  const int n = std::snprintf(buf.data(), buf.size(), "%.15g", v);
  add_raw(out, key, std::string_view(buf.data(), static_cast<std::size_t>(n)));
}

void add_int(std::string& out, const char* key, std::int64_t v) {
  add_raw(out, key, std::to_string(v));
}

std::string disk_path(const Product& p, const Machine& m) {
  if (m.platform.rfind("Windows", 0) == 0) {
    return "C:\\Program Files\\" + p.display + "\\" + p.name + ".exe";
  }
  if (m.platform == "macOS") return "/Applications/" + p.display + ".app";
  return "/usr/bin/" + p.name;
}

std::string registry_path(const Product& p, const Machine& m) {
  if (m.platform.rfind("Windows", 0) != 0) return {};
  return "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\" +
         p.display;
}

const char* exploitability(const Cve& c) {
  if (c.exploit_in_kit) return "ExploitIsInKit";
  if (c.exploit_verified) return "ExploitIsVerified";
  if (c.public_exploit) return "ExploitIsPublic";
  return "NoExploit";
}

std::string recommended_update(const Product& p) {
  if (p.vendor == "microsoft") return "January 2026 Security Updates";
  return p.display + " " + p.versions.back();
}

// The members that start every vulnerability row: device, then software.
void add_row_head(std::string& out, const World& w, const Machine& m, const Product& p,
                  const std::string& ver) {
  add_str(out, "deviceId", m.id);
  add_str(out, "rbacGroupName", w.export_group_name(m));
  add_int(out, "rbacGroupId", w.group_id(m.group));
  add_str(out, "deviceName", m.dns);
  add_str(out, "osPlatform", m.platform);
  add_str(out, "osVersion", w.os_version(m));
  add_str(out, "osArchitecture", w.export_arch(m));
  add_str(out, "softwareVendor", p.vendor);
  add_str(out, "softwareName", p.name);
  add_str(out, "softwareVersion", ver);
}

// The members that start every inventory row: device, then software.
void add_inventory_head(std::string& out, const World& w, const Machine& m, std::string_view vendor,
                        std::string_view name, std::string_view version) {
  add_str(out, "deviceId", m.id);
  add_str(out, "deviceName", m.dns);
  add_str(out, "osPlatform", m.platform);
  add_str(out, "rbacGroupName", w.export_group_name(m));
  add_int(out, "rbacGroupId", w.group_id(m.group));
  add_str(out, "softwareVendor", vendor);
  add_str(out, "softwareName", name);
  add_str(out, "softwareVersion", version);
}

// "diskPaths" and "registryPaths" of an application (empty for the OS).
void add_paths(std::string& out, const Product& p, const Machine& m) {
  out.append("\"diskPaths\":[");
  if (!p.os) json_str(out, disk_path(p, m));
  out.append("],\"registryPaths\":[");
  const std::string rp = registry_path(p, m);
  if (!p.os && !rp.empty()) json_str(out, rp);
  out.append("],");
}

// Rows of one install are written one after another: what they share is cached.
struct InstallRowCache {
  std::uint64_t world = 0;  // World::m_serial + steps: a stale cache never matches
  const Install* install = nullptr;
  std::uint32_t product = 0;
  std::uint32_t machine = 0;
  std::uint16_t version = 0;
  std::string id_prefix, head, paths, last_seen, rec_ref, update;

  void fill(const World& w, std::uint64_t world_state, std::uint32_t mi, const Install& in) {
    const Machine& m = w.machines[mi];
    const Product& p = w.products[in.product];
    const std::string& ver = p.versions[in.version];
    world = world_state;
    product = in.product;
    install = &in;
    machine = mi;
    version = in.version;
    id_prefix = m.id + "_" + p.name + "_" + ver + "_";
    head.clear();
    add_row_head(head, w, m, p, ver);
    paths.clear();
    add_paths(paths, p, m);
    last_seen.clear();
    add_str(last_seen, "lastSeenTimestamp", export_time(w.last_seen(m)));
    rec_ref.clear();
    add_str(rec_ref, "recommendationReference", "va-_-" + p.vendor + "-_-" + p.name);
    update.clear();
    add_str(update, "recommendedSecurityUpdate", recommended_update(p));
  }
};

}  // namespace

void World::vuln_row(std::string& out, std::uint32_t mi, const Install& in, const Cve* c) const {
  thread_local InstallRowCache sh;
  const Product& p = products[in.product];
  const std::uint64_t world_state = hash_combine(m_serial, m_steps);
  if (sh.world != world_state || sh.install != &in || sh.machine != mi ||
      sh.version != in.version || sh.product != in.product) {
    sh.fill(*this, world_state, mi, in);
  }
  out.append("{\"id\":\"");
  out.append(sh.id_prefix);
  if (c != nullptr) out.append(c->id);
  out.append("_\",");
  out.append(sh.head);
  if (c != nullptr) {
    add_str(out, "cveId", c->id);
    add_num(out, "cvssScore", c->cvss);
    add_str(out, "vulnerabilitySeverityLevel", c->severity);
    if (c->fixed_in >= p.versions.size()) {
      out.append(
          "\"recommendedSecurityUpdate\":null,\"recommendedSecurityUpdateId\":null,"
          "\"recommendedSecurityUpdateUrl\":null,");
    } else {
      out.append(sh.update);
      if (c->kb.empty()) {
        out.append("\"recommendedSecurityUpdateId\":null,\"recommendedSecurityUpdateUrl\":null,");
      } else {
        add_str(out, "recommendedSecurityUpdateId", c->kb);
        add_str(out, "recommendedSecurityUpdateUrl", "https://support.microsoft.com/help/" + c->kb);
      }
    }
    out.append(sh.paths);
  } else {
    out.append(
        "\"cveId\":null,\"cvssScore\":null,\"vulnerabilitySeverityLevel\":null,"
        "\"recommendedSecurityUpdate\":null,\"recommendedSecurityUpdateId\":null,"
        "\"recommendedSecurityUpdateUrl\":null,\"diskPaths\":[],\"registryPaths\":[],");
  }
  out.append(sh.last_seen);
  add_str(out, "firstSeenTimestamp",
          export_time(c != nullptr ? finding_first_seen(in, *c) : in.first_seen));
  add_str(out, "exploitabilityLevel", c != nullptr ? exploitability(*c) : "NoExploit");
  out.append(sh.rec_ref);
  out.append("\"securityUpdateAvailable\":");
  out.append(c != nullptr && c->fixed_in < p.versions.size() ? "true" : "false");
  out.push_back('}');
}

void World::inventory_row(std::string& out, std::uint32_t mi, const Install& in) const {
  const Machine& m = machines[mi];
  const Product& p = products[in.product];
  out.push_back('{');
  add_inventory_head(out, *this, m, p.vendor, p.name, p.versions[in.version]);
  add_int(out, "numberOfWeaknesses", static_cast<std::int64_t>(p.version_cves[in.version].size()));
  add_paths(out, p, m);
  add_str(out, "softwareFirstSeenTimestamp", export_time(in.first_seen));
  add_str(out, "endOfSupportStatus", p.eos_status);
  if (p.eos_date == 0) {
    out.append("\"endOfSupportDate\":null}");
  } else {
    std::string d = iso_time(p.eos_date);
    d.pop_back();
    d += "+00:00";
    out.append("\"endOfSupportDate\":");
    json_str(out, d);
    out.push_back('}');
  }
}

void World::non_cpe_row(std::string& out, std::uint32_t mi, const NonCpe& n) const {
  const Machine& m = machines[mi];
  out.push_back('{');
  add_inventory_head(out, *this, m, n.vendor, n.name, n.version);
  add_str(out, "softwareLastSeenTimestamp", export_time(last_seen(m)) + ".000");
  out.append("\"registryPath\":");
  json_str(out, "HKEY_LOCAL_MACHINE\\SOFTWARE\\" + n.vendor + "\\" + n.name);
  out.push_back('}');
}

void World::delta_row(std::string& out, const DeltaEvent& e) const {
  const Machine& m = machines[e.machine];
  Machine shown = m;  // group at the time of the event
  shown.group = e.group;
  const Cve& c = cves[e.cve];
  out.push_back('{');
  const Product& p = products[e.product];
  const std::string& ver = p.versions[e.version];
  add_str(out, "id", m.id + "_" + p.name + "_" + ver + "_" + c.id + "_");
  add_row_head(out, *this, shown, p, ver);
  add_str(out, "cveId", c.id);
  add_num(out, "cvssScore", c.cvss);
  add_str(out, "vulnerabilitySeverityLevel", c.severity);
  if (c.fixed_in >= p.versions.size()) {
    add_null(out, "recommendedSecurityUpdate");
  } else {
    add_str(out, "recommendedSecurityUpdate", recommended_update(p));
  }
  if (c.kb.empty()) {
    add_null(out, "recommendedSecurityUpdateId");
    add_null(out, "recommendedSecurityUpdateUrl");
  } else {
    add_str(out, "recommendedSecurityUpdateId", c.kb);
    add_str(out, "recommendedSecurityUpdateUrl", "https://support.microsoft.com/help/" + c.kb);
  }
  add_paths(out, p, m);
  add_str(out, "lastSeenTimestamp", export_time(std::min(last_seen(m), e.time)));
  add_str(out, "firstSeenTimestamp", export_time(e.first_seen));
  add_str(out, "exploitabilityLevel", exploitability(c));
  add_str(out, "recommendationReference", "va-_-" + p.vendor + "-_-" + p.name);
  add_raw(out, "isOnboarded", "true");
  add_str(out, "status",
          e.status == DeltaStatus::added ? "New"
                                         : (e.status == DeltaStatus::fixed ? "Fixed" : "Updated"));
  out.append("\"eventTimestamp\":");
  json_str(out, export_time7(e.time));
  out.push_back('}');
}

}  // namespace mdesim
