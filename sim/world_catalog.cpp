#include "world_catalog.hpp"

namespace mdesim {

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

}  // namespace mdesim
