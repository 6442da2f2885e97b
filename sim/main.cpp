// mdesim: the Defender API simulator as a program (see docs/simulator.md).

#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>

#include "simulator.hpp"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}
}  // namespace

int main(int argc, char** argv) {
  mdesim::Options o;
  o.rate_limits = true;
  bool no_rate_limits = false;
  int token_lifetime = static_cast<int>(o.token_lifetime.count());
  std::string top_over_max = "clamp";
  CLI::App app{
      "mdesim: a simulator of the Microsoft Defender for Endpoint API and its token service"};
  app.add_option("--host", o.host, "Address to bind")->capture_default_str();
  app.add_option("--port", o.port, "Port (0 = any free port)")->capture_default_str();
  app.add_option("--machines", o.world.machines, "Machines in the tenant")->capture_default_str();
  app.add_option("--software-per-machine", o.world.software_per_machine,
                 "Installed CPE products per machine")
      ->capture_default_str();
  app.add_option("--vulnerable-share", o.world.vulnerable_share,
                 "Share of installs on a vulnerable version")
      ->capture_default_str();
  app.add_option("--cves", o.world.cves, "CVE catalogue size")->capture_default_str();
  app.add_option("--device-groups", o.world.device_groups, "Device groups")->capture_default_str();
  app.add_option("--non-cpe-per-machine", o.world.non_cpe_per_machine,
                 "Software without CPE per machine")
      ->capture_default_str();
  app.add_option("--seed", o.world.seed, "World seed")->capture_default_str();
  app.add_option("--start-time", o.world.start_time, "Simulator clock at start, Unix seconds")
      ->capture_default_str();
  app.add_option("--rows-per-file", o.world.rows_per_file, "Rows per export file part")
      ->capture_default_str();
  app.add_option("--tenant-id", o.credentials.tenant_id)->capture_default_str();
  app.add_option("--tenant-domain", o.credentials.tenant_domain)->capture_default_str();
  app.add_option("--client-id", o.credentials.client_id)->capture_default_str();
  app.add_option("--client-secret", o.credentials.client_secret)->capture_default_str();
  app.add_option("--client-certificate", o.credentials.client_certificates,
                 "PEM certificate registered on the application (repeatable): client assertions "
                 "signed with its key are accepted");
  app.add_option("--managed-identity-client-id", o.credentials.managed_identity_client_id,
                 "Client id of the managed identity the identity endpoints sign in as")
      ->capture_default_str();
  app.add_option("--identity-header", o.credentials.identity_header,
                 "X-IDENTITY-HEADER the App Service identity endpoint (/msi/token) expects")
      ->capture_default_str();
  app.add_option("--cloud", o.cloud, "Tenant cloud: public, gcc, gcc-high or dod (token audience)")
      ->check(CLI::IsMember({"public", "gcc", "gcc-high", "dod"}))
      ->capture_default_str();
  app.add_option("--roles", o.roles, "Roles put in issued tokens")->capture_default_str();
  app.add_option("--token-lifetime", token_lifetime, "Token lifetime, seconds")
      ->capture_default_str();
  app.add_option("--rate-limit-scale", o.rate_limit_scale, "Multiply every rate limit")
      ->capture_default_str();
  app.add_flag("--no-rate-limits", no_rate_limits, "Do not enforce rate limits");
  app.add_option("--top-over-max", top_over_max, "$top above the maximum: clamp or reject")
      ->check(CLI::IsMember({"clamp", "reject"}))
      ->capture_default_str();
  app.add_option("--cache-dir", o.cache_dir, "Export file cache (default: <tmp>/mdesim-cache)");
  app.add_option("--tls-cert", o.tls_cert, "PEM certificate: serve HTTPS");
  app.add_option("--tls-key", o.tls_key, "PEM private key for --tls-cert");
  app.add_option("--generator-threads", o.generator_threads,
                 "Threads generating export files (0 = auto)");
  CLI11_PARSE(app, argc, argv);
  o.rate_limits = !no_rate_limits;
  o.token_lifetime = std::chrono::seconds(token_lifetime);
  o.top_over_max =
      top_over_max == "reject" ? mdesim::TopOverMax::reject : mdesim::TopOverMax::clamp;
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    std::cerr << "mdesim: --tls-cert and --tls-key go together\n";
    return 2;
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  auto sim = mdesim::Simulator::start(o);
  if (!sim) {
    std::cerr << "mdesim: " << sim.error().describe() << "\n";
    return 1;
  }
  const auto c = (*sim)->credentials();
  std::cout << "listening on " << (*sim)->base_url() << "\n"
            << "tenant_id=" << c.tenant_id << "\n"
            << "client_id=" << c.client_id << "\n"
            << "client_secret=" << c.client_secret << "\n"
            << std::flush;
  while (g_stop == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  (*sim)->stop();
  return 0;
}
