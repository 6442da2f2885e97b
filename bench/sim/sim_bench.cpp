// sim_bench: generation time and serving speed of mdesim for a large tenant.
// Usage: sim_bench [machines=10000] [software_per_machine=100] [cves=2200] [cache_dir]

#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "simulator.hpp"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Streams a GET and counts bytes (and newline-separated rows when asked).
std::uint64_t fetch(httplib::Client& cli, const std::string& path, const std::string& token,
                    std::string* body_prefix) {
  std::uint64_t bytes = 0;
  httplib::Headers h;
  if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
  auto r = cli.Get(path.c_str(), h, [&](const char* data, std::size_t n) {
    bytes += n;
    if (body_prefix != nullptr && body_prefix->size() < (1U << 16U)) body_prefix->append(data, n);
    return true;
  });
  if (!r || r->status != 200) {
    std::fprintf(stderr, "GET %s failed\n", path.c_str());
    std::exit(1);
  }
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  mdesim::Options o;
  o.world.machines = argc > 1 ? static_cast<std::uint32_t>(std::stoul(argv[1])) : 10000;
  o.world.software_per_machine = argc > 2 ? static_cast<std::uint32_t>(std::stoul(argv[2])) : 100;
  o.world.cves = argc > 3 ? static_cast<std::uint32_t>(std::stoul(argv[3])) : 2200;
  o.world.vulnerable_share = 0.3;
  o.world.device_groups = 8;
  o.cache_dir =
      argc > 4 ? argv[4] : (std::filesystem::temp_directory_path() / "mdesim-bench").string();
  std::filesystem::remove_all(o.cache_dir);

  auto t0 = std::chrono::steady_clock::now();
  auto started = mdesim::Simulator::start(o);
  if (!started) {
    std::fprintf(stderr, "%s\n", started.error().describe().c_str());
    return 1;
  }
  auto& sim = *started;
  const double gen = seconds_since(t0);
  const auto truth = sim->truth();
  std::printf("tenant: %u machines, %u software/machine, %u CVEs\n", o.world.machines,
              o.world.software_per_machine, o.world.cves);
  std::printf("rows: vulnerabilities %llu (+%llu without CVE), inventory %llu, non-CPE %llu\n",
              static_cast<unsigned long long>(truth.open_findings),
              static_cast<unsigned long long>(truth.null_cve_rows),
              static_cast<unsigned long long>(truth.installed_software),
              static_cast<unsigned long long>(truth.non_cpe_installed_software));
  std::printf("generation (world + all export files, cold cache): %.2f s\n", gen);

  httplib::Client cli(sim->base_url());
  cli.set_read_timeout(600, 0);
  const auto c = sim->credentials();
  auto tr =
      cli.Post(("/" + c.tenant_id + "/oauth2/v2.0/token").c_str(),
               httplib::Params{{"grant_type", "client_credentials"},
                               {"client_id", c.client_id},
                               {"client_secret", c.client_secret},
                               {"scope", "https://api.securitycenter.microsoft.com/.default"}});
  const std::string token = nlohmann::json::parse(tr->body).at("access_token").get<std::string>();

  const std::uint64_t vuln_rows = truth.open_findings + truth.null_cve_rows;
  for (const char* ep : {"SoftwareVulnerabilitiesExport", "SoftwareInventoryExport"}) {
    auto lr = cli.Get((std::string("/api/machines/") + ep).c_str(),
                      httplib::Headers{{"Authorization", "Bearer " + token}});
    const auto files = nlohmann::json::parse(lr->body).at("exportFiles");
    t0 = std::chrono::steady_clock::now();
    std::uint64_t bytes = 0;
    for (const auto& u : files) {
      bytes += fetch(cli, u.get<std::string>().substr(sim->base_url().size()), "", nullptr);
    }
    const double s = seconds_since(t0);
    const double rows = static_cast<double>(
        std::string(ep).find("Vuln") != std::string::npos ? vuln_rows : truth.installed_software);
    std::printf("%s files: %zu files, %.1f MB gzip in %.2f s = %.1f MB/s, %.0f rows/s\n", ep,
                files.size(), static_cast<double>(bytes) / 1e6, s,
                static_cast<double>(bytes) / 1e6 / s, rows / s);
  }

  // One full JSON page of 200,000 rows, streamed (the simulator never holds it whole).
  t0 = std::chrono::steady_clock::now();
  const std::uint64_t bytes =
      fetch(cli, "/api/machines/SoftwareVulnerabilitiesByMachine?pageSize=200000", token, nullptr);
  const double s = seconds_since(t0);
  std::printf(
      "SoftwareVulnerabilitiesByMachine first JSON page (pageSize=200000): %.1f MB in %.2f s = "
      "%.1f MB/s, %.0f rows/s\n",
      static_cast<double>(bytes) / 1e6, s, static_cast<double>(bytes) / 1e6 / s,
      static_cast<double>(std::min<std::uint64_t>(200000, vuln_rows)) / s);
  sim->stop();
  return 0;
}
