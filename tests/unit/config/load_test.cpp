#include "config/load.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

namespace mdesync::config {
namespace {

namespace fs = std::filesystem;

class ConfigLoad : public testing::Test {
 protected:
  void SetUp() override {
    m_dir = m_tmp
                .emplace(std::string("mdesync-config-test-") +
                         ::testing::UnitTest::GetInstance()->current_test_info()->name())
                .path();
  }
  void TearDown() override { m_tmp.reset(); }

  std::string write(const std::string& name, const std::string& content) {
    const auto path = m_dir / name;
    std::ofstream(path) << content;
    return path.string();
  }

  Environment env() const {
    return [this](const std::string& name) -> std::optional<std::string> {
      auto it = m_env.find(name);
      if (it == m_env.end()) return std::nullopt;
      return it->second;
    };
  }

  std::optional<::testing_support::TempDir> m_tmp;  // the test's own folder
  fs::path m_dir;
  std::map<std::string, std::string> m_env;
};

TEST_F(ConfigLoad, DefaultsMatchTheDocumentation) {
  auto c = load({}, env());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->api_url, "https://api.securitycenter.microsoft.com");
  EXPECT_EQ(c->login_url, "https://login.microsoftonline.com");
  EXPECT_EQ(c->max_retries, 5);
  EXPECT_EQ(c->store, "sqlite:mdesync.db");
  EXPECT_EQ(c->mode, "auto");
  EXPECT_EQ(c->strategy, "export");
  EXPECT_TRUE(c->tenant_id.empty());
  EXPECT_TRUE(c->client_secret.empty());
}

TEST_F(ConfigLoad, FileThenEnvironmentThenFlagsLaterWins) {
  Overrides o;
  o.config_file = write("a.toml",
                        "tenant_id = \"file-tenant\"\n"
                        "client_id = \"file-client\"\n"
                        "max_retries = 2\n"
                        "store = \"sqlite:file.db\"\n");
  m_env["AZURE_CLIENT_ID"] = "env-client";
  m_env["MDESYNC_MAX_RETRIES"] = "3";
  m_env["MDESYNC_STORE"] = "sqlite:env.db";
  o.values["store"] = "sqlite:flag.db";
  auto c = load(o, env());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->tenant_id, "file-tenant");  // file only
  EXPECT_EQ(c->client_id, "env-client");   // env over file
  EXPECT_EQ(c->max_retries, 3);            // env over file
  EXPECT_EQ(c->store, "sqlite:flag.db");   // flag over env over file
}

// [[tenants]]: shared keys, then the environment, then the tenant's table, then flags;
// {tenant} in the store URL is the tenant's name (docs/adr/0090).
TEST_F(ConfigLoad, TenantsLayerSharedKeysEnvironmentTheirTableAndFlags) {
  Overrides o;
  o.config_file =
      write("t.toml",
            "client_id = \"shared-client\"\n"
            "max_retries = 2\n"
            "store = \"sqlite:/var/lib/mdesync/{tenant}.db\"\n"
            "tenant_concurrency = 3\n"
            "[filters.vulnerability]\nseverity = [\"Critical\"]\n"
            "[filters.machine]\nhealthStatus = [\"Active\"]\n"
            "[[tenants]]\nname = \"a\"\ntenant_id = \"ta\"\n"
            "client_secret = \"secret-a\"\nmax_retries = 7\n"
            "[tenants.filters.vulnerability]\nseverity = [\"High\"]\n"
            "[[tenants]]\nname = \"b\"\ntenant_id = \"tb\"\nclient_id = \"client-b\"\n");
  m_env["AZURE_CLIENT_SECRET"] = "env-secret";
  m_env["AZURE_TENANT_ID"] = "env-tenant";
  m_env["MDESYNC_MAX_RETRIES"] = "4";
  o.values["mode"] = "full";
  o.all_tenants = true;
  auto t = load_tenants(o, env());
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_EQ(t->tenants.size(), 2U);
  EXPECT_TRUE(t->multi);
  EXPECT_EQ(t->tenant_concurrency, 3);
  const auto& a = t->tenants[0];
  const auto& b = t->tenants[1];
  EXPECT_EQ(a.tenant_name, "a");
  EXPECT_EQ(a.tenant_id, "ta");
  EXPECT_EQ(b.tenant_id, "tb");                       // never the environment's
  EXPECT_EQ(a.client_secret.reveal(), "secret-a");    // its table over the environment
  EXPECT_EQ(b.client_secret.reveal(), "env-secret");  // the environment over nothing
  EXPECT_EQ(a.max_retries, 7);                        // its table over env over shared
  EXPECT_EQ(b.max_retries, 4);                        // env over shared
  EXPECT_EQ(a.client_id, "shared-client");
  EXPECT_EQ(b.client_id, "client-b");
  EXPECT_EQ(a.mode, "full");  // a flag applies to every tenant
  EXPECT_EQ(b.mode, "full");
  EXPECT_EQ(a.store, "sqlite:/var/lib/mdesync/a.db");
  EXPECT_EQ(b.store, "sqlite:/var/lib/mdesync/b.db");
  EXPECT_EQ(a.filters.at("vulnerability").at("severity"), std::vector<std::string>{"High"});
  EXPECT_EQ(b.filters.at("vulnerability").at("severity"), std::vector<std::string>{"Critical"});
  EXPECT_EQ(a.filters.at("machine").at("healthStatus"), std::vector<std::string>{"Active"});

  // One tenant by name; a command that reads one store needs exactly one.
  o.all_tenants = false;
  o.tenants = {"b"};
  auto one = load(o, env());
  ASSERT_TRUE(one) << one.error().message;
  EXPECT_EQ(one->tenant_name, "b");
  o.tenants = {"a", "b"};
  EXPECT_FALSE(load(o, env()));
}

TEST_F(ConfigLoad, ConfigFileFromEnvironment) {
  m_env["MDESYNC_CONFIG"] = write("b.toml", "tenant_id = \"t\"\n");
  auto c = load({}, env());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->tenant_id, "t");
}

TEST_F(ConfigLoad, SecretFromEnvironmentFileOrConfig) {
  {
    Overrides o;
    o.config_file = write("s.toml", "client_secret = \"from-file-key\"\n");
    auto c = load(o, env());
    ASSERT_TRUE(c);
    EXPECT_EQ(c->client_secret.reveal(), "from-file-key");
  }
  {
    Overrides o;
    o.values["client_secret_file"] = write("secret.txt", "s3cr3t-value\n");
    auto c = load(o, env());
    ASSERT_TRUE(c);
    EXPECT_EQ(c->client_secret.reveal(), "s3cr3t-value");  // trailing newline trimmed
  }
  {
    m_env["AZURE_CLIENT_SECRET"] = "env-secret";
    auto c = load({}, env());
    ASSERT_TRUE(c);
    EXPECT_EQ(c->client_secret.reveal(), "env-secret");
  }
}

TEST_F(ConfigLoad, SecretHasNoFlag) {
  Overrides o;
  o.values["client_secret"] = "on-the-command-line";
  auto c = load(o, env());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, util::ErrorCode::config);
  EXPECT_EQ(c.error().message.find("on-the-command-line"), std::string::npos);
}

TEST_F(ConfigLoad, UnknownKeyInFileIsAnErrorNamingIt) {
  Overrides o;
  o.config_file = write("u.toml", "api_ulr = \"https://x\"\n");
  auto c = load(o, env());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, util::ErrorCode::config);
  EXPECT_NE(c.error().message.find("unknown key 'api_ulr'"), std::string::npos)
      << c.error().message;
}

TEST_F(ConfigLoad, BadEnvironmentValueNamesTheVariable) {
  m_env["MDESYNC_MAX_RETRIES"] = "many";
  auto c = load({}, env());
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("max_retries (from environment variable MDESYNC_MAX_RETRIES)"),
            std::string::npos)
      << c.error().message;
  EXPECT_NE(c.error().message.find("'many'"), std::string::npos);
}

struct BadValue {
  std::string toml;
  std::string expect_in_message;
};

class ConfigBadValue : public ConfigLoad, public testing::WithParamInterface<BadValue> {};

TEST_P(ConfigBadValue, IsAnErrorNamingKeyAndExpectation) {
  Overrides o;
  o.config_file = write("bad.toml", GetParam().toml + "\n");
  auto c = load(o, env());
  ASSERT_FALSE(c) << GetParam().toml;
  EXPECT_EQ(c.error().code, util::ErrorCode::config);
  EXPECT_NE(c.error().message.find(GetParam().expect_in_message), std::string::npos)
      << c.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ConfigBadValue,
    testing::Values(BadValue{"max_retries = \"five\"", "max_retries (from config file"},
                    BadValue{"max_retries = 99", "an integer from 0 to 20, got 99"},
                    BadValue{"max_retries = -1", "an integer from 0 to 20"},
                    BadValue{"api_url = \"ftp://x\"", "api_url"},
                    BadValue{"api_url = \"http://api.example.com\"", "plain http is allowed only"},
                    BadValue{"login_url = 5", "login_url"},
                    BadValue{"mode = \"sometimes\"", "one of full, delta, auto, got 'sometimes'"},
                    BadValue{"strategy = \"scrape\"", "strategy"},
                    BadValue{"token_version = \"v3\"", "token_version"},
                    BadValue{"store = \"mysql://x\"", "store"},
                    BadValue{"objects = [\"machine\", \"alerts\"]", "got 'alerts'"},
                    BadValue{"rate_limit_scale = -1.0", "rate_limit_scale"},
                    BadValue{"download_concurrency = 0", "download_concurrency"},
                    BadValue{"insecure_skip_tls_verify = \"yes please\"",
                             "insecure_skip_tls_verify"},
                    BadValue{"client_secret_file = \"/nonexistent/secret\"", "cannot open"},
                    BadValue{"[filters.alerts]\nseverity = \"High\"", "filters.alerts"},
                    BadValue{"[filters.vulnerability]\nseverity = []", "at least one value"},
                    BadValue{"tenant_id = ", "line 1"}));

TEST_F(ConfigLoad, SecretNeverInErrorMessages) {
  Overrides o;
  o.config_file = write("leak.toml", "client_secret = \"TOPSECRET-123\"\nmax_retries = \"x\"\n");
  auto c = load(o, env());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message.find("TOPSECRET"), std::string::npos);
}

TEST_F(ConfigLoad, FiltersAreReadAsTextLists) {
  Overrides o;
  o.config_file =
      write("f.toml",
            "[filters.machine]\nhealthStatus = [\"Active\", \"Inactive\"]\nrbacGroupId = 17\n"
            "[filters.vulnerability_definition]\ncvssV3 = 7.5\n");
  auto c = load(o, env());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->filters["machine"]["healthStatus"],
            (std::vector<std::string>{"Active", "Inactive"}));
  EXPECT_EQ(c->filters["machine"]["rbacGroupId"], (std::vector<std::string>{"17"}));
  EXPECT_EQ(c->filters["vulnerability_definition"]["cvssV3"], (std::vector<std::string>{"7.5"}));
}

TEST_F(ConfigLoad, ReportSettingsComeFromTheReportTable) {
  Overrides o;
  o.config_file = write("r.toml",
                        "[report]\nstale_after_hours = 72\n[report.sla_days]\ncritical = 7\n"
                        "low = 365\n");
  auto c = load(o, env());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->report.stale_after_hours, 72);
  EXPECT_EQ(c->report.sla_critical, 7);
  EXPECT_EQ(c->report.sla_high, 30);  // not given: the default
  EXPECT_EQ(c->report.sla_medium, 90);
  EXPECT_EQ(c->report.sla_low, 365);
}

TEST_F(ConfigLoad, BadReportSettingsNameTheKey) {
  for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
           {"[report.sla_days]\nurgent = 3\n", "report.sla_days.urgent"},
           {"[report.sla_days]\nhigh = 0\n", "report.sla_days.high"},
           {"[report.sla_days]\nhigh = \"30\"\n", "report.sla_days.high"},
           {"[report]\nstale_after_hours = -1\n", "report.stale_after_hours"},
           {"[report]\nformat = \"pdf\"\n", "report.format"},
           {"report = 3\n", "report"}}) {
    Overrides o;
    o.config_file = write("bad.toml", text);
    auto c = load(o, env());
    ASSERT_FALSE(c) << text;
    EXPECT_NE(c.error().message.find(key), std::string::npos) << c.error().message;
  }
}

TEST_F(ConfigLoad, RemovalGuardTakesAShareOrAPercentage) {
  auto d = load({}, env());
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_DOUBLE_EQ(d->removal_guard, 0.5);
  EXPECT_EQ(d->removal_guard_min_rows, 20);
  EXPECT_FALSE(d->accept_removals);

  Overrides file;
  file.config_file = write("g.toml", "removal_guard = 0.25\nremoval_guard_min_rows = 500\n");
  auto f = load(file, env());
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_DOUBLE_EQ(f->removal_guard, 0.25);
  EXPECT_EQ(f->removal_guard_min_rows, 500);

  m_env["MDESYNC_REMOVAL_GUARD"] = "80%";
  Overrides flag;
  flag.values["accept_removals"] = "true";
  auto e = load(flag, env());
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_DOUBLE_EQ(e->removal_guard, 0.8);
  EXPECT_TRUE(e->accept_removals);

  for (const std::string bad : {"101%", "1.5", "-0.1", "half", "%"}) {
    m_env["MDESYNC_REMOVAL_GUARD"] = bad;
    auto r = load({}, env());
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("removal_guard"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("MDESYNC_REMOVAL_GUARD"), std::string::npos)
        << r.error().message;
  }
}

TEST_F(ConfigLoad, MachineIsAlwaysSynced) {
  Overrides o;
  o.objects = {"vulnerability"};
  auto c = load(o, env());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->objects, (std::vector<std::string>{"machine", "vulnerability"}));
}

TEST_F(ConfigLoad, HttpAllowedForLoopbackSimulator) {
  Overrides o;
  o.values["api_url"] = "http://127.0.0.1:8080/";
  auto c = load(o, env());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->api_url, "http://127.0.0.1:8080");  // trailing slash removed
}

// Unverified TLS to a real host hands the secret to whoever answers: one switch alone
// is refused there (issue 17, item 6).
TEST_F(ConfigLoad, InsecureTlsIsRefusedForRemoteHostsWithoutTheSecondSwitch) {
  Overrides o;
  o.values["insecure_skip_tls_verify"] = "true";
  auto c = load(o, env());  // default api_url and login_url are Microsoft's hosts
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, util::ErrorCode::config);
  EXPECT_NE(c.error().message.find("https://api.securitycenter.microsoft.com"), std::string::npos)
      << c.error().message;
  EXPECT_NE(c.error().message.find("allow_insecure_tls_to_remote_hosts"), std::string::npos)
      << c.error().message;

  // A remote login host alone is refused too.
  o.values["api_url"] = "https://127.0.0.1:8443";
  c = load(o, env());
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("login.microsoftonline.com"), std::string::npos)
      << c.error().message;
}

TEST_F(ConfigLoad, InsecureTlsIsAcceptedForLoopbackOrWithTheSecondSwitch) {
  Overrides o;
  o.values["insecure_skip_tls_verify"] = "true";
  o.values["api_url"] = "https://127.0.0.1:8443";
  o.values["login_url"] = "https://localhost:8443";
  auto c = load(o, env());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->insecure_skip_tls_verify);

  Overrides remote;
  remote.values["insecure_skip_tls_verify"] = "true";
  m_env["MDESYNC_ALLOW_INSECURE_TLS_TO_REMOTE_HOSTS"] = "true";
  c = load(remote, env());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->allow_insecure_tls_to_remote_hosts);
}

// A directory given as the config file used to be read as an empty document, so the
// run went on with defaults (issue 17, item 7).
TEST_F(ConfigLoad, ConfigDirectoryIsAnErrorFromTheFlagAndTheEnvironment) {
  Overrides o;
  o.config_file = m_dir.string();
  auto c = load(o, env());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, util::ErrorCode::config);
  EXPECT_NE(c.error().message.find("is a directory"), std::string::npos) << c.error().message;

  m_env["MDESYNC_CONFIG"] = m_dir.string();
  c = load({}, env());
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("is a directory"), std::string::npos) << c.error().message;
}

TEST_F(ConfigLoad, MissingConfigFileIsAnError) {
  Overrides o;
  o.config_file = (m_dir / "absent.toml").string();
  auto c = load(o, env());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, util::ErrorCode::config);
  EXPECT_NE(c.error().message.find("absent.toml"), std::string::npos) << c.error().message;
}

// An in-memory SQLite store "succeeds" and keeps nothing (issue 17, item 7).
TEST_F(ConfigLoad, InMemoryStoreIsRefused) {
  for (const std::string url :
       {"sqlite::memory:", "sqlite:file::memory:?cache=shared", "sqlite:file:x?mode=memory"}) {
    Overrides o;
    o.values["store"] = url;
    auto c = load(o, env());
    ASSERT_FALSE(c) << url;
    EXPECT_EQ(c.error().code, util::ErrorCode::config);
    EXPECT_NE(c.error().message.find("in-memory"), std::string::npos) << c.error().message;
  }
}

TEST_F(ConfigLoad, RequireCredentialsNamesWhatIsMissing) {
  Config c;
  c.tenant_id = "t";
  auto st = require_credentials(c);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("client_id"), std::string::npos);
  EXPECT_NE(st.error().message.find("AZURE_CLIENT_SECRET"), std::string::npos);
  EXPECT_EQ(st.error().message.find("tenant_id"), std::string::npos);
}

TEST_F(ConfigLoad, FlagsAreDeclaredForEveryKeyButTheSecret) {
  CLI::App app;
  Overrides o;
  add_flags(app, o, {true, true, true});
  for (const auto& key : known_keys()) {
    std::string flag = "--" + key.name;
    std::replace(flag.begin(), flag.end(), '_', '-');
    if (key.name == "client_secret") {
      EXPECT_THROW(app.get_option(flag), CLI::OptionNotFound);
    } else {
      EXPECT_NO_THROW(app.get_option(flag)) << flag;
    }
  }
  app.parse("--max-retries 7 --store sqlite:x.db --objects package,vulnerability", false);
  EXPECT_EQ(o.values["max_retries"], "7");
  auto c = load(o, env());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->max_retries, 7);
  EXPECT_EQ(c->objects, (std::vector<std::string>{"machine", "package", "vulnerability"}));
}

}  // namespace
}  // namespace mdesync::config
