#include "world.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <set>

#include "cvss31.hpp"

namespace mdesim {
namespace {

constexpr std::int64_t k_day = 86400;
constexpr std::int64_t k_step = 6 * 3600;

struct OsSpec {
  const char* platform;
  const char* vendor;
  const char* product;
  const char* display;
  std::array<const char*, 4> versions;
  std::array<const char*, 4> releases;
  std::array<std::int64_t, 4> builds;
  std::uint32_t weight;
};

const std::array<OsSpec, 6> k_os = {{
    {"Windows11",
     "microsoft",
     "windows_11",
     "Windows 11",
     {"10.0.22621.4317", "10.0.22631.4602", "10.0.26100.2605", "10.0.26100.3775"},
     {"22H2", "23H2", "24H2", "24H2"},
     {22621, 22631, 26100, 26100},
     40},
    {"Windows10",
     "microsoft",
     "windows_10",
     "Windows 10",
     {"10.0.19044.5131", "10.0.19045.4529", "10.0.19045.5247", "10.0.19045.5608"},
     {"21H2", "22H2", "22H2", "22H2"},
     {19044, 19045, 19045, 19045},
     25},
    {"WindowsServer2022",
     "microsoft",
     "windows_server_2022",
     "Windows Server 2022",
     {"10.0.20348.2655", "10.0.20348.2849", "10.0.20348.3091", "10.0.20348.3328"},
     {"21H2", "21H2", "21H2", "21H2"},
     {20348, 20348, 20348, 20348},
     12},
    {"WindowsServer2019",
     "microsoft",
     "windows_server_2019",
     "Windows Server 2019",
     {"10.0.17763.5936", "10.0.17763.6293", "10.0.17763.6659", "10.0.17763.7009"},
     {"1809", "1809", "1809", "1809"},
     {17763, 17763, 17763, 17763},
     5},
    {"Linux",
     "canonical",
     "ubuntu_linux",
     "Ubuntu Linux",
     {"20.04", "22.04", "22.04.5", "24.04"},
     {"20.04", "22.04", "22.04", "24.04"},
     {0, 0, 0, 0},
     12},
    {"macOS",
     "apple",
     "macos",
     "macOS",
     {"13.6.9", "14.6.1", "15.1.1", "15.3.2"},
     {"13.6", "14.6", "15.1", "15.3"},
     {0, 0, 0, 0},
     6},
}};

struct AppSpec {
  const char* vendor;
  const char* name;
  const char* display;
};

const std::array<AppSpec, 40> k_apps = {{
    {"google", "chrome", "Chrome"},
    {"mozilla", "firefox", "Firefox"},
    {"microsoft", "edge_chromium-based", "Microsoft Edge"},
    {"microsoft", "office", "Microsoft Office"},
    {"microsoft", "teams", "Microsoft Teams"},
    {"microsoft", "visual_studio_code", "Visual Studio Code"},
    {"microsoft", ".net_framework", ".NET Framework"},
    {"adobe", "acrobat_reader_dc", "Acrobat Reader DC"},
    {"7-zip", "7-zip", "7-Zip"},
    {"oracle", "jre", "Java Runtime Environment"},
    {"oracle", "virtualbox", "VirtualBox"},
    {"videolan", "vlc_media_player", "VLC media player"},
    {"notepad-plus-plus", "notepad++", "Notepad++"},
    {"python", "python", "Python"},
    {"git-scm", "git", "Git"},
    {"zoom", "zoom", "Zoom"},
    {"slack", "slack", "Slack"},
    {"openssl", "openssl", "OpenSSL"},
    {"apache", "log4j", "Log4j"},
    {"nodejs", "node.js", "Node.js"},
    {"putty", "putty", "PuTTY"},
    {"rarlab", "winrar", "WinRAR"},
    {"wireshark", "wireshark", "Wireshark"},
    {"vmware", "workstation", "VMware Workstation"},
    {"docker", "desktop", "Docker Desktop"},
    {"postgresql", "postgresql", "PostgreSQL"},
    {"oracle", "mysql", "MySQL"},
    {"eclipse", "temurin", "Temurin"},
    {"filezilla-project", "filezilla_client", "FileZilla Client"},
    {"keepass", "keepass", "KeePass"},
    {"citrix", "workspace", "Citrix Workspace"},
    {"cisco", "anyconnect_secure_mobility_client", "AnyConnect"},
    {"jetbrains", "intellij_idea", "IntelliJ IDEA"},
    {"haxx", "curl", "curl"},
    {"libreoffice", "libreoffice", "LibreOffice"},
    {"gimp", "gimp", "GIMP"},
    {"audacityteam", "audacity", "Audacity"},
    {"dropbox", "dropbox", "Dropbox"},
    {"tightvnc", "tightvnc", "TightVNC"},
    {"openvpn", "openvpn_connect", "OpenVPN Connect"},
}};

const std::array<const char*, 12> k_group_names = {"Finance laptops",
                                                   "Servers - Prod",
                                                   "Servers - Dev",
                                                   "Engineering workstations",
                                                   "Sales",
                                                   "HR",
                                                   "Kiosks",
                                                   "Branch offices",
                                                   "Executives",
                                                   "Lab",
                                                   "DMZ",
                                                   "Contractors"};

const std::array<const char*, 4> k_sev = {"Low", "Medium", "High", "Critical"};

std::string severity_of(double score) {
  if (score >= 9.0) return "Critical";
  if (score >= 7.0) return "High";
  if (score >= 4.0) return "Medium";
  return "Low";
}

std::string random_vector(Rng& rng) {
  static constexpr std::array<const char*, 4> av = {"N", "A", "L", "P"};
  static constexpr std::array<const char*, 2> ac = {"L", "H"};
  static constexpr std::array<const char*, 3> pr = {"N", "L", "H"};
  static constexpr std::array<const char*, 2> ui = {"N", "R"};
  static constexpr std::array<const char*, 2> sc = {"U", "C"};
  static constexpr std::array<const char*, 3> cia = {"H", "L", "N"};
  std::string v = rng.chance(0.85) ? "CVSS:3.1" : "CVSS:3.0";
  v += "/AV:";
  v += av[rng.chance(0.6) ? 0 : rng.below(4)];
  v += "/AC:";
  v += ac[rng.chance(0.8) ? 0 : 1];
  v += "/PR:";
  v += pr[rng.below(3)];
  v += "/UI:";
  v += ui[rng.below(2)];
  v += "/S:";
  v += sc[rng.chance(0.8) ? 0 : 1];
  v += "/C:";
  v += cia[rng.below(3)];
  v += "/I:";
  v += cia[rng.below(3)];
  v += "/A:";
  v += cia[rng.chance(0.5) ? 0 : rng.below(3)];
  return v;
}

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

}  // namespace

World::World(const WorldParams& params) : m_params(params), m_now(params.start_time) {
  static std::atomic<std::uint64_t> serial{1};
  m_serial = serial.fetch_add(1);
  generate();
  recompute();
}

std::string World::group_name(const Machine& m) const {
  if (m.group == 0) return {};
  return groups[m.group - 1].name;
}

std::string World::export_group_name(const Machine& m) const {
  if (groups.empty()) return "None";
  if (m.group == 0) return "Unassigned";
  return groups[m.group - 1].name;
}

std::int64_t World::group_id(std::uint32_t group) const {
  return group == 0 ? 0 : static_cast<std::int64_t>(groups[group - 1].id);
}

std::string World::os_version(const Machine& m) const {
  const Install& os = m.installs[m.os_install];
  return products[os.product].versions[os.version];
}

std::string World::export_arch(const Machine& m) const {
  if (m.platform == "macOS") return "arm64";
  return m.os_arch == "32-bit" ? "x86" : "x64";
}

void World::make_cve(std::uint32_t index, std::uint32_t product, std::int64_t published, Rng& rng,
                     bool all_versions) {
  Cve c;
  const std::int64_t year = 2019 + static_cast<std::int64_t>(rng.below(7));
  if (rng.chance(0.02)) {
    std::array<char, 32> buf{};
    std::snprintf(buf.data(), buf.size(), "TVM-%lld-%04u", static_cast<long long>(year),
                  index % 10000U);
    c.id = buf.data();
  } else {
    std::array<char, 32> buf{};
    std::snprintf(buf.data(), buf.size(), "CVE-%lld-%05u", static_cast<long long>(year),
                  10000U + index);
    c.id = buf.data();
  }
  c.vector = random_vector(rng);
  c.cvss = cvss31_base_score(c.vector).value_or(5.0);
  c.severity = c.cvss == 0.0 ? "Low" : severity_of(c.cvss);
  c.published = published;
  c.updated = published + static_cast<std::int64_t>(rng.below(20)) * k_day;
  if (c.updated > m_now) c.updated = m_now;
  c.public_exploit = rng.chance(0.25);
  c.exploit_verified = c.public_exploit && rng.chance(0.4);
  c.exploit_in_kit = c.exploit_verified && rng.chance(0.3);
  if (c.public_exploit) {
    c.exploit_types.emplace_back(rng.chance(0.5) ? "Local privilege escalation"
                                                 : "Denial of service");
    c.exploit_uris.push_back("https://exploits.example.net/" + lower(c.id));
  }
  c.epss = static_cast<double>(rng.below(100000)) / 100000.0;
  const Product& p = products[product];
  c.description =
      "Summary: A flaw in " + p.display + " allows " +
      (c.vector.find("AV:N") != std::string::npos ? "a remote attacker" : "a local user") +
      " to compromise the device. Impact: " + c.severity + " severity. Remediation: update to " +
      p.versions.back() + ".";
  c.supportability = rng.chance(0.9) ? "Supported" : "SupportedInPremium";
  c.product = product;
  const auto nv = static_cast<std::uint16_t>(p.versions.size());
  c.fixed_in = all_versions
                   ? nv
                   : static_cast<std::uint16_t>(1 + rng.below(std::max<std::uint16_t>(
                                                        1, static_cast<std::uint16_t>(nv - 1))));
  if (p.vendor == "microsoft") c.kb = std::to_string(5030000 + rng.below(40000));
  const auto ci = static_cast<std::uint32_t>(cves.size());
  for (std::uint16_t v = 0; v < c.fixed_in; ++v) products[product].version_cves[v].push_back(ci);
  cves.push_back(std::move(c));
}

Install World::pick_install(std::uint32_t product, std::int64_t first_seen, Rng& rng) const {
  const Product& p = products[product];
  Install in;
  in.product = product;
  in.first_seen = first_seen;
  const auto nv = static_cast<std::uint16_t>(p.versions.size());
  if (nv > 1 && rng.chance(m_params.vulnerable_share)) {
    in.version = static_cast<std::uint16_t>(rng.below(nv - 1U));
  } else {
    in.version = static_cast<std::uint16_t>(nv - 1);
  }
  return in;
}

void World::add_installs(Machine& m, std::uint32_t index, Rng& rng) {
  std::uint32_t os_product = 0;
  for (std::uint32_t i = 0; i < m_app_begin; ++i) {
    if (m.platform == k_os[i].platform) os_product = i;
  }
  Install os = pick_install(os_product, m.first_seen, rng);
  m.os_install = 0;
  m.installs.push_back(os);
  const auto napps = static_cast<std::uint32_t>(products.size()) - m_app_begin;
  const std::uint32_t want =
      std::min(napps, m_params.software_per_machine > 0 ? m_params.software_per_machine - 1 : 0);
  std::set<std::uint32_t> chosen;
  while (chosen.size() < want) {
    // Skewed choice: popular products are on most machines.
    const double u = rng.unit();
    const auto pick = static_cast<std::uint32_t>(u * u * napps);
    if (!chosen.insert(m_app_begin + std::min(pick, napps - 1)).second) {
      chosen.insert(m_app_begin + static_cast<std::uint32_t>(rng.below(napps)));
    }
  }
  for (std::uint32_t p : chosen) {
    if (m.installs.size() > want) break;
    m.installs.push_back(
        pick_install(p, m.first_seen + static_cast<std::int64_t>(rng.below(30)) * k_day / 3, rng));
  }
  for (std::uint32_t i = 0; i < m_params.non_cpe_per_machine; ++i) {
    const std::uint64_t k = rng.below(50);
    m.non_cpe.push_back(NonCpe{"contoso internal " + std::to_string(k % 7),
                               "line of business tool " + std::to_string(k),
                               std::to_string(1 + k % 5) + "." + std::to_string(index % 10)});
  }
  (void)index;
}

Machine World::make_machine(std::uint32_t index, std::int64_t onboarded, Rng& rng) {
  Machine m;
  m.id = hex40(hash_combine(m_params.seed, index), index);
  std::uint32_t total = 0;
  for (const auto& os : k_os) total += os.weight;
  auto r = static_cast<std::uint32_t>(rng.below(total));
  std::size_t os_i = 0;
  while (r >= k_os[os_i].weight) {
    r -= k_os[os_i].weight;
    ++os_i;
  }
  const OsSpec& os = k_os[os_i];
  m.platform = os.platform;
  const bool server = m.platform.find("Server") != std::string::npos || m.platform == "Linux";
  static constexpr std::array<const char*, 6> prefixes = {"fin-lt", "eng-ws", "srv-app",
                                                          "srv-db", "web",    "hr-lt"};
  const char* prefix = server ? prefixes[2 + rng.below(3)] : prefixes[rng.below(2) * 5];
  std::array<char, 64> name{};
  std::snprintf(name.data(), name.size(), "%s-%05u", prefix, index);
  m.dns = name.data();
  if (rng.chance(0.7)) m.dns += ".corp.example.org";
  m.first_seen = onboarded;
  m.os_arch = rng.chance(0.03) ? "32-bit" : "64-bit";
  m.ipv4 = "10." + std::to_string(index / 62500U + 1U) + "." + std::to_string(index / 250U % 250U) +
           "." + std::to_string(index % 250U + 2U);
  std::array<char, 64> buf{};
  std::snprintf(buf.data(), buf.size(), "fe80::215:5dff:fe%02x:%04x", (index >> 16U) & 0xffU,
                index & 0xffffU);
  m.ipv6 = buf.data();
  std::snprintf(buf.data(), buf.size(), "00155D%06X", index & 0xffffffU);
  m.mac = buf.data();
  m.external_ip =
      (rng.chance(0.5) ? "198.51.100." : "203.0.113.") + std::to_string(rng.below(254) + 1);
  m.group = groups.empty() || rng.chance(0.1)
                ? 0
                : 1 + static_cast<std::uint32_t>(rng.below(groups.size()));
  static constexpr std::array<const char*, 5> risk = {"None", "Informational", "Low", "Medium",
                                                      "High"};
  static constexpr std::array<const char*, 4> exposure = {"None", "Low", "Medium", "High"};
  static constexpr std::array<const char*, 3> value = {"Normal", "Low", "High"};
  m.risk = risk[rng.below(5)];
  m.exposure = exposure[rng.below(4)];
  m.value = value[rng.chance(0.8) ? 0 : 1 + rng.below(2)];
  if (m.platform.rfind("Windows1", 0) == 0) {
    m.aad_joined = rng.chance(0.8);
    if (m.aad_joined)
      m.aad = guid(hash_combine(m_params.seed, index), 77);
    else if (rng.chance(0.15))
      m.aad = "00000000-0000-0000-0000-000000000000";
  }
  if (rng.chance(0.3)) m.tags.emplace_back(server ? "tier-1" : "finance");
  if (rng.chance(0.1)) m.tags.emplace_back("vip");
  if (server && rng.chance(0.4)) {
    m.vm = true;
    m.vm_id = guid(hash_combine(m_params.seed, index), 91);
    m.subscription = guid(m_params.seed, 1234);
    m.resource_id = "/subscriptions/" + m.subscription + "/resourceGroups/rg-" +
                    std::string(prefix) + "/providers/Microsoft.Compute/virtualMachines/" +
                    m.dns.substr(0, m.dns.find('.'));
    if (rng.chance(0.5)) m.tags.push_back("instanceId:i-" + m.vm_id.substr(0, 17));
  } else if (server && rng.chance(0.15)) {
    m.tags.push_back("instanceId=i-" + hex40(index, 5).substr(0, 17));
  }
  m.agent_version = m.platform.rfind("Windows", 0) == 0 ? "10.8760.26100.3775" : "101.25032.0008";
  m.managed_by = m.aad_joined ? "Intune" : "Unknown";
  m.seen_offset = static_cast<std::int64_t>(rng.below(6 * 3600));
  m.excluded = rng.chance(0.01);
  return m;
}

void World::generate() {
  Rng rng(hash_combine(m_params.seed, 0x5eed));
  for (std::uint32_t g = 0; g < m_params.device_groups; ++g) {
    Group grp;
    grp.id = 100 + g * 7 + 1;
    grp.name = k_group_names[g % k_group_names.size()];
    if (g >= k_group_names.size()) grp.name += " " + std::to_string(g / k_group_names.size() + 1);
    groups.push_back(grp);
  }
  for (const auto& os : k_os) {
    Product p;
    p.vendor = os.vendor;
    p.name = os.product;
    p.id = p.vendor + "-_-" + p.name;
    p.display = os.display;
    p.os = true;
    for (const char* v : os.versions) p.versions.emplace_back(v);
    products.push_back(std::move(p));
  }
  m_app_begin = static_cast<std::uint32_t>(products.size());
  const std::uint32_t napps = std::max<std::uint32_t>(60, 3 * m_params.software_per_machine);
  for (std::uint32_t i = 0; i < napps; ++i) {
    Product p;
    if (i < k_apps.size()) {
      p.vendor = k_apps[i].vendor;
      p.name = k_apps[i].name;
      p.display = k_apps[i].display;
    } else {
      p.vendor = "vendor" + std::to_string(i);
      p.name = "app_" + std::to_string(i);
      p.display = "App " + std::to_string(i);
    }
    p.id = p.vendor + "-_-" + p.name;
    const auto nv = 3 + rng.below(4);
    std::uint64_t major = 1 + rng.below(120);
    for (std::uint64_t v = 0; v < nv; ++v) {
      major += 1 + rng.below(3);
      p.versions.push_back(std::to_string(major) + "." + std::to_string(rng.below(10)) + "." +
                           std::to_string(rng.below(3000)));
    }
    if (rng.chance(0.05)) {
      p.eos_status = rng.chance(0.5) ? "EOS Version" : "Upcoming EOS Version";
      p.eos_date = m_now + (p.eos_status == "EOS Version" ? -200 : 200) * k_day;
      p.eos_date -= p.eos_date % k_day;
    }
    p.active_alert = rng.chance(0.03);
    products.push_back(std::move(p));
  }
  for (auto& p : products) p.version_cves.resize(p.versions.size());
  // CVEs: most go to applications, some to the OS; a few cannot be patched.
  for (std::uint32_t i = 0; i < m_params.cves; ++i) {
    const std::uint32_t prod = rng.chance(0.15)
                                   ? static_cast<std::uint32_t>(rng.below(m_app_begin))
                                   : m_app_begin + static_cast<std::uint32_t>(rng.below(napps));
    const std::int64_t published = m_now - static_cast<std::int64_t>(30 + rng.below(900)) * k_day;
    make_cve(i, prod, published, rng, rng.chance(0.02));
  }
  // Machines, then a few stale duplicate and merged records.
  for (std::uint32_t i = 0; i < m_params.machines; ++i) {
    Rng mr(hash_combine(m_params.seed, 0x10000000ULL + i));
    const std::int64_t onboarded = m_now - static_cast<std::int64_t>(10 + mr.below(600)) * k_day -
                                   static_cast<std::int64_t>(mr.below(k_day));
    Machine m = make_machine(i, onboarded, mr);
    add_installs(m, i, mr);
    if (mr.chance(0.05)) {
      m.inactive_since = m_now - static_cast<std::int64_t>(1 + mr.below(20)) * k_day;
    }
    machines.push_back(std::move(m));
  }
  const std::uint32_t dups = m_params.machines >= 10 ? std::max(1U, m_params.machines / 50) : 0;
  for (std::uint32_t d = 0; d < dups; ++d) {
    const std::uint32_t of = static_cast<std::uint32_t>(rng.below(m_params.machines));
    Machine copy = machines[of];
    copy.id = hex40(hash_combine(m_params.seed, 0xd00b + d), of);
    copy.installs.clear();
    copy.non_cpe.clear();
    copy.duplicate_record = true;
    copy.first_seen -= 40 * k_day;
    copy.inactive_since = m_now - static_cast<std::int64_t>(25 + d) * k_day;
    copy.ipv4 = "10.250." + std::to_string(d / 250) + "." + std::to_string(d % 250 + 1);
    copy.vm = false;
    copy.tags.clear();
    if (d % 2 == 1) {
      copy.merged_into = machines[of].id;
    } else {
      copy.potential_dup = true;
      machines[of].potential_dup = true;
    }
    machines.push_back(std::move(copy));
  }
}

void World::recompute() {
  const std::size_t np = products.size();
  product_installs.assign(np, 0);
  product_exposed.assign(np, 0);
  product_weaknesses.assign(np, 0);
  version_installs.assign(np, {});
  for (std::size_t p = 0; p < np; ++p) version_installs[p].assign(products[p].versions.size(), 0);
  cve_exposed.assign(cves.size(), 0);
  findings.clear();
  std::vector<std::vector<bool>> version_seen(np);
  for (std::size_t p = 0; p < np; ++p) version_seen[p].assign(products[p].versions.size(), false);
  for (std::uint32_t mi = 0; mi < machines.size(); ++mi) {
    const Machine& m = machines[mi];
    for (std::uint32_t ii = 0; ii < m.installs.size(); ++ii) {
      const Install& in = m.installs[ii];
      ++product_installs[in.product];
      ++version_installs[in.product][in.version];
      version_seen[in.product][in.version] = true;
      const auto& vc = products[in.product].version_cves[in.version];
      if (!vc.empty()) ++product_exposed[in.product];
      for (std::uint32_t c : vc) {
        ++cve_exposed[c];
        findings.push_back(FindingRef{mi, ii, c});
      }
    }
  }
  listed_products.clear();
  recommended_products.clear();
  for (std::uint32_t p = 0; p < np; ++p) {
    if (product_installs[p] == 0) continue;
    std::set<std::uint32_t> distinct;
    for (std::size_t v = 0; v < products[p].versions.size(); ++v) {
      if (version_seen[p][v])
        distinct.insert(products[p].version_cves[v].begin(), products[p].version_cves[v].end());
    }
    product_weaknesses[p] = static_cast<std::uint32_t>(distinct.size());
    listed_products.push_back(p);
    if (product_weaknesses[p] > 0) recommended_products.push_back(p);
  }
}

void World::emit(std::uint32_t m, const Install& in, std::uint32_t cve, DeltaStatus s) {
  DeltaEvent e;
  e.seq = m_seq++;
  e.time = m_now;
  e.machine = m;
  e.product = in.product;
  e.version = in.version;
  e.cve = cve;
  e.group = machines[m].group;
  e.first_seen = finding_first_seen(in, cves[cve]);
  e.status = s;
  events.push_back(e);
}

void World::emit_install(std::uint32_t m, const Install& in, DeltaStatus s) {
  for (std::uint32_t c : products[in.product].version_cves[in.version]) emit(m, in, c, s);
}

std::uint64_t World::step() {
  const std::size_t before = events.size();
  m_now = floor6h(m_now) + k_step;
  ++m_steps;
  Rng rng(hash_combine(m_params.seed, 0xa000000ULL + m_steps));
  const auto nm = static_cast<std::uint32_t>(machines.size());
  const std::uint32_t scale = std::max(1U, m_params.machines / 100);
  auto random_live_machine = [&]() -> std::optional<std::uint32_t> {
    for (int tries = 0; tries < 20; ++tries) {
      const auto i = static_cast<std::uint32_t>(rng.below(nm));
      if (!machines[i].duplicate_record && machines[i].inactive_since == 0) return i;
    }
    return std::nullopt;
  };
  // Patching and upgrades: Fixed for the old version, New for the new one.
  for (std::uint32_t k = 0; k < 2 * scale; ++k) {
    auto mi = random_live_machine();
    if (!mi) continue;
    Machine& m = machines[*mi];
    std::vector<std::uint32_t> vulnerable_installs;
    for (std::uint32_t ii = 0; ii < m.installs.size(); ++ii) {
      if (vulnerable(m.installs[ii])) vulnerable_installs.push_back(ii);
    }
    if (vulnerable_installs.empty()) continue;
    Install& in = m.installs[vulnerable_installs[rng.below(vulnerable_installs.size())]];
    const auto nv = static_cast<std::uint16_t>(products[in.product].versions.size());
    emit_install(*mi, in, DeltaStatus::fixed);
    in.version = rng.chance(0.5)
                     ? static_cast<std::uint16_t>(nv - 1)
                     : static_cast<std::uint16_t>(std::min<int>(in.version + 1, nv - 1));
    emit_install(*mi, in, DeltaStatus::added);
  }
  // A new CVE against the older versions of an installed product.
  if (rng.chance(0.5) && !findings.empty()) {
    const FindingRef& f = findings[rng.below(findings.size())];
    const std::uint32_t prod = machines[f.machine].installs[f.install].product;
    const auto ci = static_cast<std::uint32_t>(cves.size());
    make_cve(ci, prod, m_now, rng, false);
    cves.back().fixed_in = static_cast<std::uint16_t>(products[prod].versions.size() - 1);
    for (auto& vc : products[prod].version_cves) {
      vc.erase(std::remove(vc.begin(), vc.end(), ci), vc.end());
    }
    for (std::uint16_t v = 0; v < cves.back().fixed_in; ++v) {
      products[prod].version_cves[v].push_back(ci);
    }
    for (std::uint32_t mi = 0; mi < nm; ++mi) {
      for (const Install& in : machines[mi].installs) {
        if (in.product == prod && in.version < cves.back().fixed_in) {
          emit(mi, in, ci, DeltaStatus::added);
        }
      }
    }
  }
  // A CVE re-scored: Updated for each of its findings.
  if (rng.chance(0.3) && !findings.empty()) {
    const std::uint32_t ci = findings[rng.below(findings.size())].cve;
    Cve& c = cves[ci];
    c.vector = random_vector(rng);
    c.cvss = cvss31_base_score(c.vector).value_or(5.0);
    c.severity = c.cvss == 0.0 ? "Low" : severity_of(c.cvss);
    c.updated = m_now;
    for (std::uint32_t mi = 0; mi < nm; ++mi) {
      for (const Install& in : machines[mi].installs) {
        if (in.product == c.product && in.version < c.fixed_in) {
          emit(mi, in, ci, DeltaStatus::updated);
        }
      }
    }
  }
  // New installs.
  for (std::uint32_t k = 0; k < scale; ++k) {
    auto mi = random_live_machine();
    if (!mi) continue;
    Machine& m = machines[*mi];
    const auto p =
        m_app_begin + static_cast<std::uint32_t>(rng.below(products.size() - m_app_begin));
    bool has = false;
    for (const Install& in : m.installs) has = has || in.product == p;
    if (has) continue;
    m.installs.push_back(pick_install(p, m_now, rng));
    emit_install(*mi, m.installs.back(), DeltaStatus::added);
  }
  // Device-group move: Fixed under the old group, New under the new one.
  if (groups.size() > 1 && rng.chance(0.6)) {
    if (auto mi = random_live_machine()) {
      Machine& m = machines[*mi];
      for (const Install& in : m.installs) emit_install(*mi, in, DeltaStatus::fixed);
      m.group =
          1 + static_cast<std::uint32_t>((m.group + rng.below(groups.size() - 1)) % groups.size());
      for (const Install& in : m.installs) emit_install(*mi, in, DeltaStatus::added);
    }
  }
  // A machine stops reporting.
  if (rng.chance(0.3)) {
    if (auto mi = random_live_machine()) machines[*mi].inactive_since = m_now - 3600;
  }
  // A machine is onboarded.
  if (rng.chance(0.4)) {
    const auto index = static_cast<std::uint32_t>(machines.size());
    Rng mr(hash_combine(m_params.seed, 0x10000000ULL + index));
    Machine m = make_machine(index, m_now - 3 * 3600, mr);
    add_installs(m, index, mr);
    for (Install& in : m.installs) in.first_seen = m.first_seen;
    machines.push_back(std::move(m));
    for (const Install& in : machines.back().installs) {
      emit_install(index, in, DeltaStatus::added);
    }
  }
  // Keep 14 days and one bucket of events.
  const std::int64_t horizon = floor6h(m_now - 14 * k_day) - k_step;
  const auto keep = std::find_if(events.begin(), events.end(),
                                 [&](const DeltaEvent& e) { return e.time >= horizon; });
  const auto dropped = static_cast<std::size_t>(keep - events.begin());
  events.erase(events.begin(), keep);
  recompute();
  return events.size() + dropped - before;
}

std::string World::finding_key(std::uint32_t m, const Install& in, const Cve& c) const {
  const Product& p = products[in.product];
  std::string k = machines[m].id;
  k += '_';
  k += lower(p.vendor);
  k += '_';
  k += lower(p.name);
  k += '_';
  k += p.versions[in.version];
  k += '_';
  k += c.id;
  return k;
}

Truth World::truth() const {
  Truth t;
  t.now = iso_time(m_now);
  t.snapshot_time = iso_time(generated_time());
  t.machines = machines.size();
  t.software = listed_products.size();
  t.definitions = cves.size();
  t.recommendations = recommended_products.size();
  t.delta_events = events.size();
  t.open_findings = findings.size();
  for (std::uint32_t mi = 0; mi < machines.size(); ++mi) {
    const Machine& m = machines[mi];
    if (!m.installs.empty()) ++t.null_cve_rows;
    t.non_cpe_installed_software += m.non_cpe.size();
    for (const Install& in : m.installs) {
      ++t.installed_software;
      const Product& p = products[in.product];
      t.installed_software_keys.push_back(m.id + "_" + lower(p.vendor) + "-_-" + lower(p.name));
    }
  }
  t.open_finding_keys.reserve(findings.size());
  for (const FindingRef& f : findings) {
    t.open_finding_keys.push_back(
        finding_key(f.machine, machines[f.machine].installs[f.install], cves[f.cve]));
  }
  std::sort(t.open_finding_keys.begin(), t.open_finding_keys.end());
  std::sort(t.installed_software_keys.begin(), t.installed_software_keys.end());
  return t;
}

// ---- OData entities -------------------------------------------------------------

nlohmann::ordered_json World::machine_json(std::uint32_t mi) const {
  const Machine& m = machines[mi];
  using json = nlohmann::ordered_json;
  json j = json::object();
  j["id"] = m.id;
  j["mergedIntoMachineId"] = m.merged_into.empty() ? json(nullptr) : json(m.merged_into);
  j["isPotentialDuplication"] = m.potential_dup;
  j["isExcluded"] = m.excluded;
  j["exclusionReason"] = m.excluded ? json("Duplicate") : json(nullptr);
  j["computerDnsName"] = m.dns;
  j["firstSeen"] = iso_time_frac(m.first_seen, static_cast<int>(mix64(mi) % 10000000));
  j["lastSeen"] = iso_time(last_seen(m));
  j["osPlatform"] = m.platform;
  j["osVersion"] = nullptr;
  j["osProcessor"] = m.os_arch == "64-bit" ? "x64" : "x86";
  const Install& os = m.installs.empty() ? Install{} : m.installs[m.os_install];
  const OsSpec& spec = k_os[std::min<std::size_t>(os.product, k_os.size() - 1)];
  j["version"] = spec.releases[std::min<std::size_t>(os.version, 3)];
  j["lastIpAddress"] = m.ipv4;
  j["lastExternalIpAddress"] = m.external_ip;
  j["agentVersion"] = m.agent_version;
  const std::int64_t build = spec.builds[std::min<std::size_t>(os.version, 3)];
  j["osBuild"] = build == 0 ? json(nullptr) : json(build);
  j["healthStatus"] = m.inactive_since != 0 ? "Inactive" : "Active";
  j["deviceValue"] = m.value;
  j["rbacGroupId"] = group_id(m.group);
  j["rbacGroupName"] = m.group == 0 ? json(nullptr) : json(group_name(m));
  j["riskScore"] = m.risk;
  j["exposureLevel"] = m.exposure;
  j["isAadJoined"] = m.aad_joined;
  j["aadDeviceId"] = m.aad.empty() ? json(nullptr) : json(m.aad);
  j["machineTags"] = m.tags;
  j["defenderAvStatus"] = "Updated";
  j["onboardingStatus"] = "Onboarded";
  j["osArchitecture"] = m.os_arch;
  j["managedBy"] = m.managed_by;
  j["managedByStatus"] = "Unknown";
  json ips = json::array();
  ips.push_back({{"ipAddress", m.ipv4},
                 {"macAddress", m.mac},
                 {"type", "Ethernet"},
                 {"operationalStatus", "Up"}});
  ips.push_back({{"ipAddress", m.ipv6},
                 {"macAddress", m.mac},
                 {"type", "Ethernet"},
                 {"operationalStatus", "Up"}});
  ips.push_back({{"ipAddress", "127.0.0.1"},
                 {"macAddress", nullptr},
                 {"type", "SoftwareLoopback"},
                 {"operationalStatus", "Up"}});
  j["ipAddresses"] = ips;
  if (m.vm) {
    j["vmMetadata"] = {{"vmId", m.vm_id},
                       {"cloudProvider", "Azure"},
                       {"resourceId", m.resource_id},
                       {"subscriptionId", m.subscription}};
  } else {
    j["vmMetadata"] = nullptr;
  }
  return j;
}

nlohmann::ordered_json World::machine_ref_json(std::uint32_t mi) const {
  const Machine& m = machines[mi];
  return {{"id", m.id},
          {"computerDnsName", m.dns},
          {"osPlatform", m.platform},
          {"rbacGroupName",
           m.group == 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(group_name(m))}};
}

nlohmann::ordered_json World::software_json(std::uint32_t pi) const {
  const Product& p = products[pi];
  bool exploit = false;
  for (const auto& vc : p.version_cves) {
    for (std::uint32_t c : vc) exploit = exploit || cves[c].public_exploit;
  }
  const double impact =
      product_exposed[pi] == 0
          ? 0.0
          : std::round(static_cast<double>(product_weaknesses[pi]) *
                       static_cast<double>(product_exposed[pi]) * 1000.0 /
                       static_cast<double>(std::max<std::size_t>(1, machines.size()))) /
                1000.0;
  return {{"id", p.id},
          {"name", p.name},
          {"vendor", p.vendor},
          {"weaknesses", product_weaknesses[pi]},
          {"publicExploit", exploit && product_weaknesses[pi] > 0},
          {"activeAlert", p.active_alert},
          {"exposedMachines", product_exposed[pi]},
          {"impactScore", impact}};
}

nlohmann::ordered_json World::cve_json(std::uint32_t ci, bool full) const {
  const Cve& c = cves[ci];
  nlohmann::ordered_json j = {{"id", c.id},
                              {"name", c.id},
                              {"description", c.description},
                              {"severity", c.severity},
                              {"cvssV3", c.cvss},
                              {"cvssVector", c.vector},
                              {"exposedMachines", cve_exposed[ci]},
                              {"publishedOn", iso_time(c.published)},
                              {"updatedOn", iso_time(c.updated)},
                              {"publicExploit", c.public_exploit},
                              {"exploitVerified", c.exploit_verified},
                              {"exploitInKit", c.exploit_in_kit},
                              {"exploitTypes", c.exploit_types},
                              {"exploitUris", c.exploit_uris}};
  if (full) {
    j["firstDetected"] = iso_time(std::max(c.published, m_params.start_time - 30 * k_day));
    j["cveSupportability"] = c.supportability;
    j["tags"] = nlohmann::ordered_json::array();
    j["epss"] = c.epss;
  }
  return j;
}

nlohmann::ordered_json World::finding_json(const FindingRef& f) const {
  const Machine& m = machines[f.machine];
  const Install& in = m.installs[f.install];
  const Product& p = products[in.product];
  const Cve& c = cves[f.cve];
  const std::string& ver = p.versions[in.version];
  return {
      {"id", m.id + "-_-" + c.id + "-_-" + p.vendor + "-_-" + p.name + "-_-" + ver + "-_-" + c.kb},
      {"cveId", c.id},
      {"machineId", m.id},
      {"fixingKbId", c.kb.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(c.kb)},
      {"productName", p.name},
      {"productVendor", p.vendor},
      {"productVersion", ver},
      {"severity", c.severity}};
}

nlohmann::ordered_json World::recommendation_json(std::uint32_t pi) const {
  const Product& p = products[pi];
  bool exploit = false;
  bool unpatchable = false;
  for (const auto& vc : p.version_cves) {
    for (std::uint32_t c : vc) {
      exploit = exploit || cves[c].public_exploit;
      unpatchable = unpatchable || cves[c].fixed_in >= p.versions.size();
    }
  }
  const bool upgrade = p.os;
  return {{"id", "va-_-" + p.vendor + "-_-" + p.name},
          {"productName", p.name},
          {"recommendationName", (upgrade ? "Upgrade " : "Update ") + p.display +
                                     (unpatchable ? "" : " to version " + p.versions.back())},
          {"weaknesses", product_weaknesses[pi]},
          {"vendor", p.vendor},
          {"recommendedVersion", unpatchable ? "" : p.versions.back()},
          {"recommendedVendor", ""},
          {"recommendedProgram", ""},
          {"recommendationCategory", p.os ? "OS" : "Application"},
          {"subCategory", ""},
          {"severityScore", 0},
          {"publicExploit", exploit},
          {"activeAlert", p.active_alert},
          {"associatedThreats", nlohmann::ordered_json::array()},
          {"remediationType", upgrade ? "Upgrade" : "Update"},
          {"status", "Active"},
          {"configScoreImpact", 0},
          {"exposureImpact",
           std::round(static_cast<double>(product_exposed[pi]) * 1000.0 /
                      static_cast<double>(std::max<std::size_t>(1, machines.size()))) /
               1000.0},
          {"totalMachineCount", product_installs[pi]},
          {"exposedMachinesCount", product_exposed[pi]},
          {"nonProductivityImpactedAssets", 0},
          {"relatedComponent", p.display},
          {"hasUnpatchableCve", unpatchable},
          {"tags", nlohmann::ordered_json::array()},
          {"exposedCriticalDevices", product_exposed[pi] / 10}};
}

// ---- export rows ----------------------------------------------------------------

void World::vuln_row(std::string& out, std::uint32_t mi, const Install& in, const Cve* c) const {
  // Rows of one install are written one after another: cache what they share.
  struct Shared {
    std::uint64_t world = 0;  // World::m_serial + steps: a stale cache never matches
    const Install* install = nullptr;
    std::uint32_t product = 0;
    std::uint32_t machine = 0;
    std::uint16_t version = 0;
    std::string id_prefix, head, paths, last_seen, rec_ref, update;
  };
  thread_local Shared sh;
  const Machine& m = machines[mi];
  const Product& p = products[in.product];
  const std::string& ver = p.versions[in.version];
  const std::uint64_t world_state = hash_combine(m_serial, m_steps);
  if (sh.world != world_state || sh.install != &in || sh.machine != mi ||
      sh.version != in.version || sh.product != in.product) {
    sh.world = world_state;
    sh.product = in.product;
    sh.install = &in;
    sh.machine = mi;
    sh.version = in.version;
    sh.id_prefix = m.id + "_" + p.name + "_" + ver + "_";
    sh.head.clear();
    add_str(sh.head, "deviceId", m.id);
    add_str(sh.head, "rbacGroupName", export_group_name(m));
    add_int(sh.head, "rbacGroupId", group_id(m.group));
    add_str(sh.head, "deviceName", m.dns);
    add_str(sh.head, "osPlatform", m.platform);
    add_str(sh.head, "osVersion", os_version(m));
    add_str(sh.head, "osArchitecture", export_arch(m));
    add_str(sh.head, "softwareVendor", p.vendor);
    add_str(sh.head, "softwareName", p.name);
    add_str(sh.head, "softwareVersion", ver);
    sh.paths = "\"diskPaths\":[";
    if (!p.os) json_str(sh.paths, disk_path(p, m));
    sh.paths += "],\"registryPaths\":[";
    const std::string rp = registry_path(p, m);
    if (!rp.empty() && !p.os) json_str(sh.paths, rp);
    sh.paths += "],";
    sh.last_seen.clear();
    add_str(sh.last_seen, "lastSeenTimestamp", export_time(last_seen(m)));
    sh.rec_ref.clear();
    add_str(sh.rec_ref, "recommendationReference", "va-_-" + p.vendor + "-_-" + p.name);
    sh.update.clear();
    add_str(sh.update, "recommendedSecurityUpdate", recommended_update(p));
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
  add_str(out, "deviceId", m.id);
  add_str(out, "deviceName", m.dns);
  add_str(out, "osPlatform", m.platform);
  add_str(out, "rbacGroupName", export_group_name(m));
  add_int(out, "rbacGroupId", group_id(m.group));
  add_str(out, "softwareVendor", p.vendor);
  add_str(out, "softwareName", p.name);
  add_str(out, "softwareVersion", p.versions[in.version]);
  add_int(out, "numberOfWeaknesses", static_cast<std::int64_t>(p.version_cves[in.version].size()));
  out.append("\"diskPaths\":[");
  if (!p.os) json_str(out, disk_path(p, m));
  out.append("],\"registryPaths\":[");
  const std::string rp = registry_path(p, m);
  if (!p.os && !rp.empty()) json_str(out, rp);
  out.append("],");
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
  add_str(out, "deviceId", m.id);
  add_str(out, "deviceName", m.dns);
  add_str(out, "osPlatform", m.platform);
  add_str(out, "rbacGroupName", export_group_name(m));
  add_int(out, "rbacGroupId", group_id(m.group));
  add_str(out, "softwareVendor", n.vendor);
  add_str(out, "softwareName", n.name);
  add_str(out, "softwareVersion", n.version);
  add_str(out, "softwareLastSeenTimestamp", export_time(last_seen(m)) + ".000");
  out.append("\"registryPath\":");
  json_str(out, "HKEY_LOCAL_MACHINE\\SOFTWARE\\" + n.vendor + "\\" + n.name);
  out.push_back('}');
}

void World::delta_row(std::string& out, const DeltaEvent& e) const {
  const Machine& m = machines[e.machine];
  Install in;
  in.product = e.product;
  in.version = e.version;
  in.first_seen = e.first_seen;
  Machine shown = m;  // group at the time of the event
  shown.group = e.group;
  std::string row;
  // Reuse the full-row writer, then swap the trailing member for the delta members.
  const Cve& c = cves[e.cve];
  out.push_back('{');
  const Product& p = products[e.product];
  const std::string& ver = p.versions[e.version];
  add_str(out, "id", m.id + "_" + p.name + "_" + ver + "_" + c.id + "_");
  add_str(out, "deviceId", m.id);
  add_str(out, "rbacGroupName", export_group_name(shown));
  add_int(out, "rbacGroupId", group_id(e.group));
  add_str(out, "deviceName", m.dns);
  add_str(out, "osPlatform", m.platform);
  add_str(out, "osVersion", os_version(m));
  add_str(out, "osArchitecture", export_arch(m));
  add_str(out, "softwareVendor", p.vendor);
  add_str(out, "softwareName", p.name);
  add_str(out, "softwareVersion", ver);
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
  out.append("\"diskPaths\":[");
  if (!p.os) json_str(out, disk_path(p, m));
  out.append("],\"registryPaths\":[");
  const std::string rp = registry_path(p, m);
  if (!p.os && !rp.empty()) json_str(out, rp);
  out.append("],");
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
  (void)in;
  (void)row;
}

}  // namespace mdesim
