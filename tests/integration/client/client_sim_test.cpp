// defender::Client against mdesim: every endpoint, paging, and every fault mdesim injects.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "defender/client.hpp"
#include "simulator.hpp"

namespace mdesync::defender {
namespace {

class ClientSim : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    mdesim::Options o;
    o.world.machines = 40;
    o.world.software_per_machine = 10;
    o.world.cves = 120;
    o.world.rows_per_file = 150;  // several export files, several JSON export pages
    o.odata_page_size = 7;        // several OData pages
    o.cache_dir = (std::filesystem::path(MDESYNC_BINARY_DIR) / "mdesim-cache-client").string();
    auto sim = mdesim::Simulator::start(o);
    ASSERT_TRUE(sim) << sim.error().message;
    s_sim = std::move(*sim);
  }
  static void TearDownTestSuite() { s_sim.reset(); }

  void SetUp() override {
    s_sim->clear_faults();
    s_sim->set_roles({"Machine.Read.All", "Software.Read.All", "Vulnerability.Read.All",
                      "SecurityRecommendation.Read.All"});
    s_sim->set_rate_limits(false, 1.0);
    s_sim->reset_stats();
  }

  config::Config config() const {
    config::Config c;
    c.api_url = s_sim->base_url();
    c.login_url = s_sim->base_url();
    const auto cred = s_sim->credentials();
    c.tenant_id = cred.tenant_id;
    c.client_id = cred.client_id;
    c.client_secret = config::Secret(cred.client_secret);
    c.max_retries = 4;
    c.download_concurrency = 3;
    c.rate_limit_scale = 1.0;
    return c;
  }

  // A client that records waits instead of sleeping; its clock moves by what it waited,
  // so the rate limiter can never spin.
  std::unique_ptr<Client> client(const config::Config& c) {
    ClientDeps deps;
    deps.clock = &m_clock;
    deps.sleeper = &m_sleeper;
    auto made = Client::create(c, deps);
    EXPECT_TRUE(made);
    return std::move(*made);
  }
  std::unique_ptr<Client> client() { return client(config()); }

  std::uint64_t status_count(int status) const {
    std::uint64_t n = 0;
    for (const auto& [name, st] : s_sim->stats()) {
      if (auto it = st.by_status.find(status); it != st.by_status.end()) n += it->second;
    }
    return n;
  }

  template <class T>
  static RecordSink<T> counter(std::uint64_t& n) {
    return [&n](T&&) {
      ++n;
      return util::Status{};
    };
  }

  static std::unique_ptr<mdesim::Simulator> s_sim;
  util::FakeClock m_clock{std::chrono::system_clock::now()};
  util::FakeSleeper m_sleeper{&m_clock};
};

std::unique_ptr<mdesim::Simulator> ClientSim::s_sim;

// --- every endpoint ----------------------------------------------------------------------

TEST_F(ClientSim, RolesFromTheToken) {
  auto roles = client()->granted_roles();
  ASSERT_TRUE(roles) << roles.error().message;
  EXPECT_EQ(std::set<std::string>(roles->begin(), roles->end()).count("Vulnerability.Read.All"),
            1U);
}

TEST_F(ClientSim, MachinesAllPagesAndById) {
  auto c = client();
  std::vector<Machine> ms;
  auto r = c->for_each_machine({}, [&](Machine&& m) {
    ms.push_back(std::move(m));
    return util::Status{};
  });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->records, s_sim->truth().machines);
  ASSERT_FALSE(ms.empty());
  auto one = c->get_machine(ms.front().id);
  ASSERT_TRUE(one) << one.error().message;
  EXPECT_EQ(one->id, ms.front().id);
  ODataQuery top;
  top.top = 3;
  std::uint64_t n = 0;
  ASSERT_TRUE(c->for_each_machine(top, counter<Machine>(n)));
  EXPECT_EQ(n, 3U);
}

TEST_F(ClientSim, MachinesFiltered) {
  auto c = client();
  ODataQuery q;
  q.filter = "onboardingStatus eq 'Onboarded'";
  std::uint64_t n = 0;
  auto r = c->for_each_machine(q, [&](Machine&& m) {
    ++n;
    EXPECT_EQ(m.onboarding_status, "Onboarded");
    return util::Status{};
  });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_GT(n, 0U);
}

TEST_F(ClientSim, SoftwareAndSubResources) {
  auto c = client();
  std::vector<Software> sw;
  auto r = c->for_each_software({}, [&](Software&& s) {
    sw.push_back(std::move(s));
    return util::Status{};
  });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->records, s_sim->truth().software);
  ASSERT_FALSE(sw.empty());
  std::uint64_t d = 0;
  std::uint64_t refs = 0;
  ASSERT_TRUE(c->for_each_software_distribution(sw.front().id, counter<Distribution>(d)));
  ASSERT_TRUE(
      c->for_each_software_machine_reference(sw.front().id, counter<MachineReference>(refs)));
  EXPECT_GT(d, 0U);
  EXPECT_GT(refs, 0U);
}

TEST_F(ClientSim, VulnerabilitiesAndMachineVulnerabilities) {
  auto c = client();
  std::uint64_t v = 0;
  auto r = c->for_each_vulnerability({}, counter<Vulnerability>(v));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(v, s_sim->truth().definitions);
  std::uint64_t mv = 0;
  auto r2 = c->for_each_machine_vulnerability({}, counter<MachineVulnerability>(mv));
  ASSERT_TRUE(r2) << r2.error().message;
  EXPECT_GT(mv, 0U);
}

TEST_F(ClientSim, RecommendationsAndTheirVulnerabilities) {
  auto c = client();
  std::vector<Recommendation> recs;
  auto r = c->for_each_recommendation({}, [&](Recommendation&& x) {
    recs.push_back(std::move(x));
    return util::Status{};
  });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->records, s_sim->truth().recommendations);
  ASSERT_FALSE(recs.empty());
  std::uint64_t n = 0;
  auto r2 = c->for_each_recommendation_vulnerability(recs.front().id, counter<Vulnerability>(n));
  ASSERT_TRUE(r2) << r2.error().message;
}

TEST_F(ClientSim, VulnerabilityExportJsonPagesMatchTruth) {
  auto c = client();
  ExportPageQuery q;
  q.page_size = 100;
  std::set<std::string> keys;
  std::uint64_t rows = 0;
  auto r = c->for_each_vulnerability_by_machine(q, [&](VulnerabilityRow&& row) {
    ++rows;
    if (row.cve_id) {
      keys.insert(row.device_id + "_" + row.software_vendor.value_or("") + "_" +
                  row.software_name.value_or("") + "_" + row.software_version.value_or("") + "_" +
                  *row.cve_id);
    }
    return util::Status{};
  });
  ASSERT_TRUE(r) << r.error().message;
  const auto truth = s_sim->truth();
  EXPECT_EQ(rows, truth.open_findings + truth.null_cve_rows);
  EXPECT_EQ(keys,
            std::set<std::string>(truth.open_finding_keys.begin(), truth.open_finding_keys.end()));
  EXPECT_GT(r->pages, 1U);
  EXPECT_TRUE(r->generated_time);
}

TEST_F(ClientSim, VulnerabilityExportFilesMatchTruth) {
  auto c = client();
  std::set<std::string> keys;
  std::uint64_t rows = 0;
  auto r = c->stream_vulnerability_export([&](VulnerabilityRow&& row) {
    ++rows;
    if (row.cve_id) {
      keys.insert(row.device_id + "_" + row.software_vendor.value_or("") + "_" +
                  row.software_name.value_or("") + "_" + row.software_version.value_or("") + "_" +
                  *row.cve_id);
    }
    return util::Status{};
  });
  ASSERT_TRUE(r) << r.error().message;
  const auto truth = s_sim->truth();
  EXPECT_EQ(rows, truth.open_findings + truth.null_cve_rows);
  EXPECT_EQ(keys,
            std::set<std::string>(truth.open_finding_keys.begin(), truth.open_finding_keys.end()));
  EXPECT_GT(r->files, 1U);
  EXPECT_EQ(util::format_timestamp(*r->generated_time).substr(0, 16),
            truth.snapshot_time.substr(0, 16));
  const auto s = c->stats();
  EXPECT_GT(s.download_bytes_compressed, 0U);
  EXPECT_EQ(s.export_lines, rows);
}

TEST_F(ClientSim, InventoryExportsJsonAndFiles) {
  auto c = client();
  const auto truth = s_sim->truth();
  std::uint64_t json = 0;
  std::uint64_t files = 0;
  std::uint64_t noncpe_json = 0;
  std::uint64_t noncpe_files = 0;
  ExportPageQuery q;
  q.page_size = 200;
  ASSERT_TRUE(c->for_each_inventory_by_machine(q, false, counter<InventoryRow>(json)));
  ASSERT_TRUE(c->stream_inventory_export(false, counter<InventoryRow>(files)));
  ASSERT_TRUE(c->for_each_inventory_by_machine(q, true, counter<InventoryRow>(noncpe_json)));
  ASSERT_TRUE(c->stream_inventory_export(true, counter<InventoryRow>(noncpe_files)));
  EXPECT_EQ(json, truth.installed_software);
  EXPECT_EQ(files, truth.installed_software);
  EXPECT_EQ(noncpe_json, truth.non_cpe_installed_software);
  EXPECT_EQ(noncpe_files, truth.non_cpe_installed_software);
}

TEST_F(ClientSim, DeltaExportAfterAdvance) {
  const auto before = util::parse_timestamp(s_sim->truth().now);
  ASSERT_TRUE(before);
  s_sim->advance(6);
  auto c = client();
  std::uint64_t rows = 0;
  std::set<std::string> statuses;
  auto r = c->for_each_vulnerability_change(*before, {}, [&](VulnerabilityRow&& row) {
    ++rows;
    if (row.status) statuses.insert(*row.status);
    EXPECT_TRUE(row.event_timestamp);
    return util::Status{};
  });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_GT(rows, 0U);
}

TEST_F(ClientSim, HealthyRunDrawsNo429WithServerQuotasOn) {
  s_sim->set_rate_limits(true, 1.0);
  auto c = client();
  std::uint64_t n = 0;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c->for_each_machine({}, counter<Machine>(n)));
    ASSERT_TRUE(c->vulnerability_export_files());
  }
  ASSERT_TRUE(c->for_each_vulnerability_by_machine({}, counter<VulnerabilityRow>(n)));
  EXPECT_EQ(status_count(429), 0U);
  EXPECT_EQ(c->stats().throttled, 0U);
}

// --- faults ------------------------------------------------------------------------------

TEST_F(ClientSim, Transient503And500Recover) {
  mdesim::Faults f;
  f.errors.push_back({"machines.list", 503, 2, 1});
  f.errors.push_back({"software.list", 500, 1, 0});
  s_sim->add_faults(f);
  auto c = client();
  std::uint64_t n = 0;
  ASSERT_TRUE(c->for_each_machine({}, counter<Machine>(n)));
  ASSERT_TRUE(c->for_each_software({}, counter<Software>(n)));
  EXPECT_EQ(c->stats().retries, 3U);
  EXPECT_EQ(m_sleeper.delays().front(), std::chrono::milliseconds{1000});  // Retry-After: 1
}

TEST_F(ClientSim, ThrottledBurstRecoversHonouringRetryAfter) {
  mdesim::Faults f;
  f.errors.push_back({"*", 429, 3, 2});
  s_sim->add_faults(f);
  auto c = client();
  std::uint64_t n = 0;
  ASSERT_TRUE(c->for_each_recommendation({}, counter<Recommendation>(n)));
  EXPECT_EQ(c->stats().throttled, 3U);
  EXPECT_EQ(m_sleeper.delays(),
            std::vector<std::chrono::milliseconds>(3, std::chrono::milliseconds{2000}));
}

TEST_F(ClientSim, PersistentOutageIsAClearError) {
  mdesim::Faults f;
  f.errors.push_back({"vulnerabilities.list", 503, 50, 0});
  s_sim->add_faults(f);
  auto cfg = config();
  cfg.max_retries = 2;
  std::uint64_t n = 0;
  auto r = client(cfg)->for_each_vulnerability({}, counter<Vulnerability>(n));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::retries_exhausted);
  EXPECT_NE(r.error().message.find("3 attempts"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("HTTP 503"), std::string::npos);
}

TEST_F(ClientSim, NotImplementedIsNotRetried) {
  mdesim::Faults f;
  f.errors.push_back({"machines.list", 501, 1, 0});
  s_sim->add_faults(f);
  std::uint64_t n = 0;
  auto c = client();
  auto r = c->for_each_machine({}, counter<Machine>(n));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::http_status);
  EXPECT_EQ(c->stats().retries, 0U);
}

TEST_F(ClientSim, TokenServiceOutageRecovers) {
  mdesim::Faults f;
  f.errors.push_back({"token", 503, 1, 0});
  s_sim->add_faults(f);
  auto c = client();
  std::uint64_t n = 0;
  ASSERT_TRUE(c->for_each_machine({}, counter<Machine>(n)));
}

// max_retries bounds the token request (issue 27, item 4): five throttled answers of the
// token service are survived with max_retries 5; after a sixth the request fails with an
// error naming the token service and its throttling, and the next caller (a sync's first
// object, after its check of the roles) gets that error without a seventh request.
TEST_F(ClientSim, TokenThrottlingIsSurvivedWithinMaxRetriesAndFailsCleanlyBeyond) {
  auto cfg = config();
  cfg.max_retries = 5;
  mdesim::Faults five;
  five.errors.push_back({"token", 429, 5, 0});
  s_sim->add_faults(five);
  {
    auto c = client(cfg);
    auto roles = c->granted_roles();
    ASSERT_TRUE(roles) << roles.error().message;
    const auto s = c->stats();
    EXPECT_EQ(s.token_requests, 6U);
    EXPECT_EQ(s.retries, 5U);
    EXPECT_EQ(s.throttled, 5U);
  }

  s_sim->reset_stats();
  mdesim::Faults six;
  six.errors.push_back({"token", 429, 6, 0});
  s_sim->add_faults(six);
  auto c = client(cfg);
  auto roles = c->granted_roles();
  ASSERT_FALSE(roles);
  EXPECT_EQ(roles.error().code, util::ErrorCode::rate_limited);
  EXPECT_EQ(roles.error().http_status, 429);
  const std::string& message = roles.error().message;
  EXPECT_NE(message.find("token service is throttling"), std::string::npos) << message;
  EXPECT_NE(message.find("gave up after 6 attempts; last answer HTTP 429"), std::string::npos)
      << message;
  EXPECT_NE(message.find("AADSTS90055"), std::string::npos) << message;
  std::uint64_t n = 0;
  auto listed = c->for_each_machine({}, counter<Machine>(n));
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().code, util::ErrorCode::rate_limited);
  const auto stats = s_sim->stats();
  EXPECT_EQ(stats.at("token.v2").total, 6U);
  EXPECT_EQ(stats.count("machines.list"), 0U);
  EXPECT_EQ(c->stats().token_requests, 6U);
  EXPECT_EQ(c->stats().retries, 5U);
  EXPECT_TRUE(s_sim->pending_faults().errors.empty());
}

TEST_F(ClientSim, ExpiredTokenMidRunRefreshesOnce) {
  auto c = client();
  std::uint64_t n = 0;
  ASSERT_TRUE(c->for_each_machine({}, counter<Machine>(n)));
  mdesim::Faults f;
  f.expire_tokens = true;
  s_sim->add_faults(f);
  ASSERT_TRUE(c->for_each_software({}, counter<Software>(n)));
  const auto s = c->stats();
  EXPECT_EQ(s.unauthorized_refreshes, 1U);
  EXPECT_EQ(s.token_requests, 2U);
}

TEST_F(ClientSim, WrongSecretAndUnknownTenant) {
  auto cfg = config();
  cfg.client_secret = config::Secret("0c7e9a52-secret-id-not-value");
  std::uint64_t n = 0;
  auto r = client(cfg)->for_each_machine({}, counter<Machine>(n));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::auth);
  EXPECT_NE(r.error().message.find("AADSTS7000215"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("secret-id-not-value"), std::string::npos);

  cfg = config();
  cfg.tenant_id = "nosuchtenant.onmicrosoft.com";
  auto r2 = client(cfg)->for_each_machine({}, counter<Machine>(n));
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, util::ErrorCode::auth);
  EXPECT_NE(r2.error().message.find("AADSTS90002"), std::string::npos) << r2.error().message;

  cfg = config();
  cfg.tenant_id = s_sim->credentials().tenant_domain;  // a verified domain works too
  EXPECT_TRUE(client(cfg)->for_each_machine({}, counter<Machine>(n)));
}

TEST_F(ClientSim, V1TokenEndpoint) {
  auto cfg = config();
  cfg.token_version = "v1";
  std::uint64_t n = 0;
  auto r = client(cfg)->for_each_machine({}, counter<Machine>(n));
  ASSERT_TRUE(r) << r.error().message;
}

TEST_F(ClientSim, MissingRoleIsAPermissionErrorNamingIt) {
  s_sim->set_roles({"Machine.Read.All"});
  auto c = client();
  std::uint64_t n = 0;
  auto r = c->for_each_vulnerability({}, counter<Vulnerability>(n));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::permission);
  EXPECT_NE(r.error().message.find("Vulnerability.Read.All"), std::string::npos)
      << r.error().message;
}

TEST_F(ClientSim, ConnectionResetsRetryAndDownloadsResume) {
  mdesim::Faults f;
  f.reset_endpoint = "machines.list";
  f.reset_connection = 1;
  f.reset_after_bytes = 300;
  s_sim->add_faults(f);
  auto c = client();
  std::uint64_t n = 0;
  ASSERT_TRUE(c->for_each_machine({}, counter<Machine>(n)));
  EXPECT_EQ(n, s_sim->truth().machines);

  mdesim::Faults d;
  d.reset_endpoint = "download";
  d.reset_connection = 2;
  d.reset_after_bytes = 2000;
  s_sim->add_faults(d);
  std::set<std::string> ids;
  std::uint64_t rows = 0;
  auto r = c->stream_inventory_export(false, [&](InventoryRow&& row) {
    ++rows;
    ids.insert(row.device_id + row.software_name.value_or("") + row.software_version.value_or(""));
    return util::Status{};
  });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(rows, s_sim->truth().installed_software);
}

// A connection cut inside a JSON page (the delta feed's, an OData list's) is survived
// with exactly the rows of a fault-free read; more cuts than max_retries fail naming
// the URL and saying the body was truncated (issue 27, item 2).
TEST_F(ClientSim, CutJsonPagesAreReadAgainWithTheSameRows) {
  const auto since = util::parse_timestamp(s_sim->truth().now);
  ASSERT_TRUE(since);
  s_sim->advance(6);
  const auto delta = [&](Client& c, std::vector<std::string>& rows) {
    return c.for_each_vulnerability_change(*since, {}, [&](VulnerabilityRow&& row) {
      rows.push_back(row.device_id + "|" + row.cve_id.value_or("") + "|" +
                     row.software_name.value_or("") + "|" + row.software_version.value_or("") +
                     "|" + row.status.value_or(""));
      return util::Status{};
    });
  };
  const auto machines = [&](Client& c, std::vector<std::string>& ids) {
    return c.for_each_machine({}, [&](Machine&& m) {
      ids.push_back(m.id);
      return util::Status{};
    });
  };
  std::vector<std::string> clean_delta;
  std::vector<std::string> clean_machines;
  {
    auto c = client();
    ASSERT_TRUE(delta(*c, clean_delta));
    ASSERT_TRUE(machines(*c, clean_machines));
  }
  ASSERT_GT(clean_delta.size(), 2U);
  ASSERT_GT(clean_machines.size(), 7U);  // several pages

  auto c = client();
  mdesim::Faults f;
  f.reset_endpoint = "export.vulnerabilities.delta";
  f.reset_connection = 2;
  f.reset_after_bytes = 700;  // inside the rows
  s_sim->add_faults(f);
  std::vector<std::string> rows;
  auto r = delta(*c, rows);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(rows, clean_delta);
  EXPECT_EQ(c->stats().retries, 2U);

  f.reset_endpoint = "machines.list";
  f.reset_connection = 3;
  f.reset_after_bytes = 300;
  s_sim->add_faults(f);
  std::vector<std::string> ids;
  auto m = machines(*c, ids);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(ids, clean_machines);
  EXPECT_EQ(c->stats().retries, 5U);

  f.reset_endpoint = "export.vulnerabilities.delta";
  f.reset_connection = 100;
  f.reset_after_bytes = 135;
  s_sim->add_faults(f);
  rows.clear();
  auto cut = delta(*c, rows);
  s_sim->clear_faults();
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().code, util::ErrorCode::retries_exhausted);
  EXPECT_NE(cut.error().message.find("/api/machines/SoftwareVulnerabilityChangesByMachine"),
            std::string::npos)
      << cut.error().message;
  EXPECT_NE(cut.error().message.find("5 attempts"), std::string::npos) << cut.error().message;
  EXPECT_NE(cut.error().message.find("truncated"), std::string::npos) << cut.error().message;
}

TEST_F(ClientSim, SlowBodiesStillComplete) {
  mdesim::Faults f;
  f.slow_endpoint = "download";
  f.slow_body = 1;
  f.slow_delay_ms = 5;
  s_sim->add_faults(f);
  std::uint64_t n = 0;
  ASSERT_TRUE(client()->stream_inventory_export(true, counter<InventoryRow>(n)));
  EXPECT_EQ(n, s_sim->truth().non_cpe_installed_software);
}

TEST_F(ClientSim, ExpiredSasRefreshesOnceAndResumes) {
  mdesim::Faults f;
  f.expired_sas = 1;
  s_sim->add_faults(f);
  auto c = client();
  std::uint64_t n = 0;
  auto r = c->stream_vulnerability_export(counter<VulnerabilityRow>(n));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->link_refreshed);
  const auto truth = s_sim->truth();
  EXPECT_EQ(n, truth.open_findings + truth.null_cve_rows);
  EXPECT_EQ(s_sim->stats().at("export.vulnerabilities.files").total, 2U);
}

TEST_F(ClientSim, ExpiredSasTwiceIsAClearError) {
  mdesim::Faults f;
  f.expired_sas = 1000;
  s_sim->add_faults(f);
  std::uint64_t n = 0;
  auto r = client()->stream_vulnerability_export(counter<VulnerabilityRow>(n));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::link_expired);
  EXPECT_EQ(r.error().message.find("sig="), std::string::npos) << r.error().message;
}

// A body cut inside the gzip stream is downloaded again, resuming after what was decoded:
// every row arrives once. Cut on every attempt, the file fails, named, after the retries.
TEST_F(ClientSim, TruncatedGzipIsDownloadedAgainThenFailsNamingTheFile) {
  std::uint64_t clean = 0;
  ASSERT_TRUE(client()->stream_vulnerability_export(counter<VulnerabilityRow>(clean)));
  mdesim::Faults once;
  once.truncated_gzip = 1;
  s_sim->add_faults(once);
  std::uint64_t n = 0;
  auto recovered = client()->stream_vulnerability_export(counter<VulnerabilityRow>(n));
  ASSERT_TRUE(recovered) << recovered.error().message;
  EXPECT_EQ(n, clean);
  s_sim->clear_faults();

  mdesim::Faults always;
  always.truncated_gzip = 1000;
  s_sim->add_faults(always);
  auto r = client()->stream_vulnerability_export(counter<VulnerabilityRow>(n));
  s_sim->clear_faults();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::retries_exhausted);
  EXPECT_NE(r.error().message.find(".json.gz"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("sig="), std::string::npos);
}

TEST_F(ClientSim, MalformedLineFailsNamingFileAndLine) {
  mdesim::Faults f;
  f.malformed_json_line = 1;
  s_sim->add_faults(f);
  std::uint64_t n = 0;
  auto r = client()->stream_vulnerability_export(counter<VulnerabilityRow>(n));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::parse);
  EXPECT_NE(r.error().message.find(".json.gz: line "), std::string::npos) << r.error().message;
}

TEST_F(ClientSim, EmptyFileExtraFieldsPascalCaseAndDuplicatesDecode) {
  mdesim::Faults f;
  f.empty_export_file = 1;
  f.extra_fields = 2;
  f.pascal_case_keys = 2;
  s_sim->add_faults(f);
  auto c = client();
  std::uint64_t n = 0;
  auto r = c->stream_vulnerability_export([&](VulnerabilityRow&& row) {
    ++n;
    EXPECT_FALSE(row.device_id.empty());
    return util::Status{};
  });
  ASSERT_TRUE(r) << r.error().message;
  const auto truth = s_sim->truth();
  EXPECT_EQ(n, truth.open_findings + truth.null_cve_rows);

  mdesim::Faults dup;
  dup.duplicate_rows = 1;
  s_sim->add_faults(dup);
  std::uint64_t m = 0;
  ASSERT_TRUE(c->stream_vulnerability_export(counter<VulnerabilityRow>(m)));
  EXPECT_GE(m, n);  // duplicates are delivered; de-duplication is the sync's job
}

TEST_F(ClientSim, LoopingNextLinkFallsBackToSkipPaging) {
  // mdesim's Q2 link keeps the values but loses the parameter names (or, without
  // parameters, restarts at the same offset): the client switches to $top/$skip.
  auto c = client();
  for (const bool filtered : {false, true}) {
    mdesim::Faults f;
    f.looping_next_link = 1;
    s_sim->add_faults(f);
    ODataQuery q;
    if (filtered) q.filter = "onboardingStatus eq 'Onboarded'";
    std::set<std::string> ids;
    std::uint64_t n = 0;
    auto r = c->for_each_machine(q, [&](Machine&& m) {
      ++n;
      ids.insert(m.id);
      return util::Status{};
    });
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->fell_back_to_skip) << filtered;
    EXPECT_EQ(n, ids.size()) << "a page was delivered twice";
    if (!filtered) {
      EXPECT_EQ(n, s_sim->truth().machines);
    }
  }
}

TEST_F(ClientSim, MachineNotFoundIsNotFound) {
  auto c = client();
  std::string id;
  ODataQuery q;
  q.top = 1;
  ASSERT_TRUE(c->for_each_machine(q, [&](Machine&& m) {
    id = m.id;
    return util::Status{};
  }));
  mdesim::Faults f;
  f.machine_not_found = 2;  // Q7: intermittent, recovered by the retries
  s_sim->add_faults(f);
  auto ok = c->get_machine(id);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->id, id);
  EXPECT_EQ(s_sim->pending_faults().machine_not_found, 0U) << "both 404s were met";
  f.machine_not_found = 3;  // persistent: the device is gone
  s_sim->add_faults(f);
  auto r = c->get_machine(id);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::not_found);
  EXPECT_EQ(s_sim->pending_faults().machine_not_found, 0U);
}

}  // namespace
}  // namespace mdesync::defender
