// defender::Client against a scripted transport and fake time.
#include "defender/client.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "http/fake_http_client.hpp"
#include "http/url.hpp"

namespace mdesync::defender {
namespace {

using http::FakeHttpClient;
using http::Request;
using http::Response;

std::string gzip(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(compressBound(static_cast<uLong>(in.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string b64url(const std::string& in) {
  static constexpr char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned int val = 0;
  int bits = -6;
  for (char ch : in) {
    val = (val << 8U) + static_cast<unsigned char>(ch);
    bits += 8;
    while (bits >= 0) {
      out.push_back(k[(val >> static_cast<unsigned int>(bits)) & 0x3FU]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(k[((val << 8U) >> static_cast<unsigned int>(bits + 8)) & 0x3FU]);
  return out;
}

class FakeTokens final : public auth::TokenProvider {
 public:
  util::Result<std::string> token() override {
    std::lock_guard lock(m_mutex);
    if (!m_current) {
      ++m_issued;
      m_current = b64url("{}") + "." +
                  b64url(R"({"roles":["Machine.Read.All"],"n":)" + std::to_string(m_issued) + "}") +
                  ".sig";
    }
    return *m_current;
  }
  void invalidate(const std::string& t) override {
    std::lock_guard lock(m_mutex);
    if (m_current == t) m_current.reset();
  }
  int issued() const { return m_issued; }

 private:
  std::mutex m_mutex;
  std::optional<std::string> m_current;
  int m_issued = 0;
};

const std::string k_api = "https://api.test";

struct Fixture {
  util::FakeClock clock;
  util::FakeSleeper sleeper{&clock};
  FakeHttpClient fake;
  FakeTokens tokens;
  config::Config config;
  std::unique_ptr<Client> client;

  explicit Fixture(int concurrency = 2) {
    config.api_url = k_api + "/";
    config.download_concurrency = concurrency;
    config.max_retries = 3;
  }
  Client& make() {
    ClientDeps deps;
    deps.api = &fake;
    deps.tokens = &tokens;
    deps.clock = &clock;
    deps.sleeper = &sleeper;
    deps.random = [] { return 0.5; };
    auto c = Client::create(config, deps);
    EXPECT_TRUE(c);
    client = std::move(*c);
    return *client;
  }
};

std::string machines_page(int from, int n, const std::string& next = "") {
  std::string body = R"({"@odata.context":"x","value":[)";
  for (int i = 0; i < n; ++i) {
    if (i) body += ",";
    body += R"({"id":"m)" + std::to_string(from + i) + R"("})";
  }
  body += "]";
  if (!next.empty()) body += R"(,"@odata.nextLink":")" + next + "\"";
  return body + "}";
}

util::Status collect(std::vector<std::string>& ids, Machine&& m) {
  ids.push_back(m.id);
  return {};
}

TEST(ClientPaging, FollowsNextLinkVerbatimWithBearer) {
  Fixture f;
  f.fake.set_handler([](const Request& r) {
    if (r.url == k_api + "/api/machines?$filter=osPlatform%20eq%20%27Linux%27") {
      return FakeHttpClient::json(200,
                                  machines_page(0, 2, k_api + "/api/machines?$filter=x&$skip=2"));
    }
    if (r.url == k_api + "/api/machines?$filter=x&$skip=2")
      return FakeHttpClient::json(200, machines_page(2, 1));
    return FakeHttpClient::json(500, "{}");
  });
  std::vector<std::string> ids;
  ODataQuery q;
  q.filter = "osPlatform eq 'Linux'";
  auto r = f.make().for_each_machine(q, [&](Machine&& m) { return collect(ids, std::move(m)); });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(ids, (std::vector<std::string>{"m0", "m1", "m2"}));
  EXPECT_EQ(r->pages, 2U);
  const auto reqs = f.fake.requests();
  ASSERT_EQ(reqs.size(), 2U);
  for (const auto& req : reqs) {
    EXPECT_EQ(req.url.find("$top"), std::string::npos);
    EXPECT_EQ(http::find_header(req.headers, "Authorization").value_or("").rfind("Bearer ", 0), 0U);
  }
  EXPECT_EQ(f.client->stats().calls_by_endpoint.at("machines"), 2U);
}

TEST(ClientPaging, TopMeansOnePageAndNoFollow) {
  Fixture f;
  f.fake.set_handler([](const Request&) {
    return FakeHttpClient::json(200, machines_page(0, 1, k_api + "/api/machines?$skip=1"));
  });
  std::vector<std::string> ids;
  ODataQuery q;
  q.top = 1;
  ASSERT_TRUE(
      f.make().for_each_machine(q, [&](Machine&& m) { return collect(ids, std::move(m)); }));
  EXPECT_EQ(f.fake.requests().size(), 1U);
  EXPECT_EQ(f.fake.requests()[0].url, k_api + "/api/machines?$top=1");
}

TEST(ClientPaging, RefusesForeignHostWithoutSendingTheToken) {
  Fixture f;
  f.fake.set_handler([](const Request& r) {
    if (r.url.rfind(k_api, 0) == 0) {
      return FakeHttpClient::json(
          200, machines_page(0, 1, "https://wpatdadi-eus-stg.cloudapp.net/api/machines?$skip=1"));
    }
    return FakeHttpClient::json(200, machines_page(1, 1));
  });
  std::vector<std::string> ids;
  auto r = f.make().for_each_machine({}, [&](Machine&& m) { return collect(ids, std::move(m)); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::paging);
  EXPECT_NE(r.error().message.find("wpatdadi-eus-stg.cloudapp.net"), std::string::npos);
  EXPECT_EQ(f.fake.count("cloudapp.net"), 0U);
}

TEST(ClientPaging, RepeatedLinkStops) {
  Fixture f;
  f.fake.set_handler([](const Request&) {
    return FakeHttpClient::json(200, machines_page(0, 1, k_api + "/api/machines?$skiptoken=abc"));
  });
  auto r = f.make().for_each_machine({}, [](Machine&&) { return util::Status{}; });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::paging);
  EXPECT_NE(r.error().message.find("repeats"), std::string::npos);
  EXPECT_EQ(f.fake.requests().size(), 2U);
}

TEST(ClientPaging, SkipThatDoesNotAdvanceFallsBackToOffsets) {
  Fixture f;
  f.fake.set_handler([](const Request& r) {
    if (r.url == k_api + "/api/machines?$top=10000&$skip=2")
      return FakeHttpClient::json(200, machines_page(2, 1));
    return FakeHttpClient::json(200, machines_page(0, 2, k_api + "/api/machines?$skip=0"));
  });
  std::vector<std::string> ids;
  auto r = f.make().for_each_machine({}, [&](Machine&& m) { return collect(ids, std::move(m)); });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->fell_back_to_skip);
  EXPECT_EQ(ids, (std::vector<std::string>{"m0", "m1", "m2"}));
}

TEST(ClientPaging, LinkBackToTheFirstPageStops) {
  Fixture f;
  f.fake.set_handler([](const Request&) {
    return FakeHttpClient::json(200, machines_page(0, 1, k_api + "/api/machines"));
  });
  auto r = f.make().for_each_machine({}, [](Machine&&) { return util::Status{}; });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::paging);
  EXPECT_EQ(f.fake.requests().size(), 1U);
}

TEST(ClientPaging, MalformedQ2LinkFallsBackToSkip) {
  Fixture f;
  f.fake.set_handler([](const Request& r) {
    if (r.url == k_api + "/api/machines") {
      return FakeHttpClient::json(
          200, machines_page(0, 2, k_api + "/api/machines?=onboardingstatus&=2&$skip=2"));
    }
    if (r.url == k_api + "/api/machines?$top=10000&$skip=2")
      return FakeHttpClient::json(200, machines_page(2, 3));
    return FakeHttpClient::json(400, R"({"error":{"code":"ODataError"}})");
  });
  std::vector<std::string> ids;
  auto r = f.make().for_each_machine({}, [&](Machine&& m) { return collect(ids, std::move(m)); });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->fell_back_to_skip);
  EXPECT_EQ(ids.size(), 5U);
}

TEST(ClientPaging, NoMachinesIs404AndEmpty) {
  Fixture f;
  f.fake.set_handler([](const Request&) {
    return FakeHttpClient::json(404, R"({"error":{"code":"NotFound","message":"none"}})");
  });
  auto r = f.make().for_each_machine({}, [](Machine&&) { return util::Status{}; });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->records, 0U);
}

TEST(ClientPaging, SinkErrorStopsUnchanged) {
  Fixture f;
  f.fake.set_handler([](const Request&) { return FakeHttpClient::json(200, machines_page(0, 3)); });
  int n = 0;
  auto r = f.make().for_each_machine({}, [&](Machine&&) -> util::Status {
    if (++n == 2) return util::fail(util::ErrorCode::store, "disk full");
    return {};
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::store);
  EXPECT_EQ(r.error().message, "disk full");
}

TEST(ClientAuth, Unauthorized401RefreshesOnceAndRetries) {
  Fixture f;
  int calls = 0;
  f.fake.set_handler([&](const Request&) {
    return ++calls == 1 ? FakeHttpClient::json(401, R"({"error":{"code":"Unauthorized"}})")
                        : FakeHttpClient::json(200, machines_page(0, 1));
  });
  auto r = f.make().for_each_machine({}, [](Machine&&) { return util::Status{}; });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(f.tokens.issued(), 2);
  const auto reqs = f.fake.requests();
  ASSERT_EQ(reqs.size(), 2U);
  EXPECT_NE(http::find_header(reqs[0].headers, "Authorization"),
            http::find_header(reqs[1].headers, "Authorization"));
  EXPECT_EQ(f.client->stats().unauthorized_refreshes, 1U);
}

TEST(ClientAuth, Persistent401IsAnAuthError) {
  Fixture f;
  f.fake.set_handler([](const Request&) {
    return FakeHttpClient::json(401, R"({"error":{"code":"Unauthorized"}})");
  });
  auto r = f.make().for_each_machine({}, [](Machine&&) { return util::Status{}; });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::auth);
  EXPECT_EQ(f.fake.requests().size(), 2U);  // one resend, not a loop
}

TEST(ClientAuth, Forbidden403NamesTheMissingRole) {
  Fixture f;
  f.fake.set_handler([](const Request&) {
    return FakeHttpClient::json(
        403, R"({"error":{"code":"Forbidden","message":"Missing application roles"}})");
  });
  auto r = f.make().for_each_vulnerability({}, [](Vulnerability&&) { return util::Status{}; });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::permission);
  EXPECT_NE(r.error().message.find("Vulnerability.Read.All"), std::string::npos);
  EXPECT_NE(r.error().message.find("grants: Machine.Read.All"), std::string::npos)
      << r.error().message;
}

TEST(ClientRetry, ThrottledCallWaitsRetryAfterAndCounts) {
  Fixture f;
  int calls = 0;
  f.fake.set_handler([&](const Request&) {
    return ++calls == 1 ? FakeHttpClient::json(429, R"({"error":{"code":"TooManyRequests"}})",
                                               {{"Retry-After", "12"}})
                        : FakeHttpClient::json(200, machines_page(0, 1));
  });
  ASSERT_TRUE(f.make().for_each_machine({}, [](Machine&&) { return util::Status{}; }));
  EXPECT_EQ(f.sleeper.delays(),
            std::vector<std::chrono::milliseconds>{std::chrono::milliseconds{12000}});
  const auto s = f.client->stats();
  EXPECT_EQ(s.throttled, 1U);
  EXPECT_EQ(s.retries, 1U);
}

TEST(ClientRetry, ExhaustedErrorCarriesTheBodyCode) {
  Fixture f;
  f.fake.set_handler([](const Request&) {
    return FakeHttpClient::json(500, R"({"error":{"code":"InternalServerError"}})");
  });
  auto r = f.make().for_each_software({}, [](Software&&) { return util::Status{}; });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::retries_exhausted);
  EXPECT_NE(r.error().message.find("4 attempts"), std::string::npos);
  EXPECT_NE(r.error().message.find("InternalServerError"), std::string::npos);
}

// max_retries bounds the token request like any other (issue 27, item 4): a sync asks for
// a token before its first object (granted_roles) and again in each object's first call;
// a token request that ran out of its 1 + max_retries attempts is not sent again by the
// next caller, and its retries are counted.
TEST(ClientRetry, ThrottledTokenRequestMakesMaxRetriesPlusOneAttemptsThenFailsCleanly) {
  Fixture f;
  f.config.max_retries = 5;
  f.config.tenant_id = "tenant-1";
  f.config.client_id = "client-1";
  f.config.client_secret = config::Secret("secret");
  f.config.login_url = "https://login.test";
  f.fake.set_handler([](const Request& r) {
    if (r.url.find("/oauth2/") != std::string::npos) {
      return FakeHttpClient::json(
          429,
          R"({"error":"temporarily_unavailable","error_description":"AADSTS90055: busy",)"
          R"("error_codes":[90055]})",
          {{"Retry-After", "2"}});
    }
    return FakeHttpClient::json(200, machines_page(0, 1));
  });
  ClientDeps deps;
  deps.api = &f.fake;  // the token service answers through it too (no deps.tokens)
  deps.clock = &f.clock;
  deps.sleeper = &f.sleeper;
  deps.random = [] { return 0.5; };
  auto made = Client::create(f.config, deps);
  ASSERT_TRUE(made);
  Client& c = **made;

  auto roles = c.granted_roles();
  ASSERT_FALSE(roles);
  EXPECT_EQ(roles.error().code, util::ErrorCode::rate_limited);
  EXPECT_EQ(f.fake.count("/oauth2/v2.0/token"), 6U);
  EXPECT_EQ(f.sleeper.delays(),
            std::vector<std::chrono::milliseconds>(5, std::chrono::milliseconds{2000}));
  const std::string& message = roles.error().message;
  EXPECT_NE(message.find("token service is throttling"), std::string::npos) << message;
  EXPECT_NE(message.find("gave up after 6 attempts"), std::string::npos) << message;
  EXPECT_NE(message.find("HTTP 429 temporarily_unavailable AADSTS90055"), std::string::npos)
      << message;
  EXPECT_EQ(message.find("secret"), std::string::npos) << message;

  // The first object's call: the same failure, no seventh attempt, no API call.
  auto listed = c.for_each_machine({}, [](Machine&&) { return util::Status{}; });
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().code, util::ErrorCode::rate_limited);
  EXPECT_EQ(f.fake.count("/oauth2/v2.0/token"), 6U);
  EXPECT_EQ(f.fake.count("/api/machines"), 0U);
  const auto s = c.stats();
  EXPECT_EQ(s.token_requests, 6U);
  EXPECT_EQ(s.retries, 5U);
  EXPECT_EQ(s.throttled, 6U);
}

TEST(ClientLimiter, HealthyExportRunStaysUnderFiveAMinute) {
  Fixture f;
  f.fake.set_handler([](const Request&) {
    return FakeHttpClient::json(200,
                                R"({"exportFiles":[],"generatedTime":"2025-06-01T06:01:00Z"})");
  });
  auto& c = f.make();
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(c.vulnerability_export_files());
  ASSERT_EQ(f.sleeper.delays().size(), 1U);
  EXPECT_GE(f.sleeper.delays()[0], std::chrono::milliseconds{60'000});
}

TEST(ClientExportJson, PagesWithSkiptokenAndReportsSnapshot) {
  Fixture f;
  const std::string token = b64url(
      R"({"ExportDefinition":{"TimePath":"2025-06-01/0601/"},"ExportFileIndex":0,"LineStoppedAt":1})");
  f.fake.set_handler([&](const Request& r) {
    if (r.url.find("skiptoken") == std::string::npos) {
      return FakeHttpClient::json(
          200, R"({"value":[{"deviceId":"d1","cveId":"CVE-1"}],"@odata.nextLink":")" + k_api +
                   "/api/machines/SoftwareVulnerabilitiesByMachine?pagesize=1&$skiptoken=" + token +
                   "\"}");
    }
    return FakeHttpClient::json(200, R"({"value":[{"deviceId":"d2","cveId":null}]})");
  });
  ExportPageQuery q;
  q.page_size = 1;
  std::vector<VulnerabilityRow> rows;
  auto r = f.make().for_each_vulnerability_by_machine(q, [&](VulnerabilityRow&& row) {
    rows.push_back(std::move(row));
    return util::Status{};
  });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(rows.size(), 2U);
  EXPECT_EQ(f.fake.requests()[0].url,
            k_api + "/api/machines/SoftwareVulnerabilitiesByMachine?pageSize=1");
  ASSERT_TRUE(r->generated_time);
  EXPECT_EQ(util::format_timestamp(*r->generated_time), "2025-06-01T06:01:00Z");
}

TEST(ClientExportJson, DeltaSendsSinceTime) {
  Fixture f;
  f.fake.set_handler([](const Request&) { return FakeHttpClient::json(200, R"({"value":[]})"); });
  auto since = util::parse_timestamp("2025-06-01T06:00:00Z");
  ASSERT_TRUE(f.make().for_each_vulnerability_change(
      *since, {}, [](VulnerabilityRow&&) { return util::Status{}; }));
  EXPECT_EQ(
      f.fake.requests()[0].url,
      k_api +
          "/api/machines/SoftwareVulnerabilityChangesByMachine?sinceTime=2025-06-01T06%3A00%3A00Z");
}

// --- Export files ----------------------------------------------------------------------

std::string lines(int file, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    out += R"({"DeviceId":"d)" + std::to_string(file) + "-" + std::to_string(i) +
           R"(","cveId":"CVE-1","extra":[1]})" + "\n";
  }
  return out;
}

struct ExportServer {
  std::string blob = "https://blob.test";  // where the listed files are
  int files = 3;
  int rows = 1500;
  std::atomic<int> list_calls{0};
  std::atomic<int> expire_next{0};  // next N downloads answer 403
  std::string generated = "2025-06-01T06:01:00Z";
  std::map<std::string, std::string> override_body;  // path -> raw gzip body

  util::Result<Response> operator()(const Request& r) {
    if (r.url.find("/api/machines/SoftwareVulnerabilitiesExport") != std::string::npos) {
      const int gen = ++list_calls;
      std::string body = R"({"exportFiles":[)";
      for (int i = 0; i < files; ++i) {
        if (i) body += ",";
        body += "\"" + blob + "/c/part-" + std::to_string(i) + ".json.gz?se=x&sig=SIG" +
                std::to_string(gen) + "\"";
      }
      return FakeHttpClient::json(200, body + R"(],"generatedTime":")" + generated + "\"}");
    }
    EXPECT_FALSE(http::find_header(r.headers, "Authorization")) << "bearer sent to blob storage";
    if (expire_next.fetch_sub(1) > 0)
      return Response{403, {}, "<Error><Code>AuthenticationFailed</Code></Error>"};
    const auto path = http::redact_url(r.url);
    const int idx = path.back() == 'z' ? path[path.size() - 9] - '0' : 0;
    if (auto it = override_body.find(path); it != override_body.end())
      return Response{200, {}, it->second};
    return Response{200, {}, gzip(lines(idx, rows))};
  }
};

TEST(ClientExportFiles, ConcurrentDownloadsSerializedCallbacksOnCallerThread) {
  Fixture f(3);
  ExportServer server;
  f.fake.set_handler(std::ref(server));
  f.fake.set_chunk_size(333);
  const auto caller = std::this_thread::get_id();
  std::atomic<int> inside{0};
  bool overlap = false;
  bool other_thread = false;
  std::set<std::string> ids;
  auto r = f.make().stream_vulnerability_export([&](VulnerabilityRow&& row) {
    if (inside.fetch_add(1) != 0) overlap = true;
    if (std::this_thread::get_id() != caller) other_thread = true;
    ids.insert(row.device_id);
    inside.fetch_sub(1);
    return util::Status{};
  });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(overlap);
  EXPECT_FALSE(other_thread);
  EXPECT_EQ(r->records, 4500U);
  EXPECT_EQ(ids.size(), 4500U);
  EXPECT_EQ(r->files, 3U);
  EXPECT_EQ(util::format_timestamp(*r->generated_time), "2025-06-01T06:01:00Z");
  const auto s = f.client->stats();
  EXPECT_EQ(s.export_lines, 4500U);
  EXPECT_GT(s.download_bytes_decompressed, s.download_bytes_compressed);
}

// Lines of `devices` devices with `per_device` consecutive rows each; the row's cveId
// numbers the lines of the file.
std::string device_lines(int file, int devices, int per_device) {
  std::string out;
  int line = 0;
  for (int d = 0; d < devices; ++d) {
    for (int i = 0; i < per_device; ++i, ++line) {
      out += R"({"DeviceId":"f)" + std::to_string(file) + "-d" + std::to_string(d) +
             R"(","cveId":"CVE-)" + std::to_string(line) + "\"}\n";
    }
  }
  return out;
}

// Batches are staged on the download threads and their steps run on the caller's thread
// in file order; a batch never splits a device's consecutive rows, so that rows that
// continue each other are mapped together (ADR 0072).
TEST(ClientExportFiles, StagedBatchesKeepEachDevicesRowsTogether) {
  Fixture f(3);
  ExportServer server;
  // 7 rows per device: a full batch (256 rows) never ends on a device boundary by chance.
  for (int i = 0; i < server.files; ++i) {
    server.override_body["https://blob.test/c/part-" + std::to_string(i) + ".json.gz"] =
        gzip(device_lines(i, 400, 7));
  }
  f.fake.set_handler(std::ref(server));
  f.fake.set_chunk_size(333);
  auto& c = f.make();
  auto files = c.vulnerability_export_files();
  ASSERT_TRUE(files) << files.error().message;
  const auto caller = std::this_thread::get_id();
  std::atomic<int> staged_on_caller{0};
  bool step_off_caller = false;
  std::map<std::string, int> batch_of_device;  // device -> the step that saw it
  std::map<std::string, int> last_line;        // file -> last line number stepped
  bool split = false;
  bool out_of_order = false;
  int steps = 0;
  std::size_t rows = 0;
  auto r = c.stream_vulnerability_batches(
      *files, nullptr, [&](std::vector<VulnerabilityRow>&& batch) -> BatchStep {
        if (std::this_thread::get_id() == caller) ++staged_on_caller;
        return [&, mine = std::move(batch)]() -> util::Status {
          if (std::this_thread::get_id() != caller) step_off_caller = true;
          const int step = steps++;
          for (const auto& row : mine) {
            ++rows;
            auto [it, fresh] = batch_of_device.emplace(row.device_id, step);
            if (!fresh && it->second != step) split = true;
            const std::string file = row.device_id.substr(0, row.device_id.find('-'));
            const int line = std::stoi(row.cve_id->substr(4));
            auto [at, first] = last_line.emplace(file, line);
            if (!first && line != at->second + 1) out_of_order = true;
            at->second = line;
          }
          return {};
        };
      });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(staged_on_caller.load(), 0);
  EXPECT_FALSE(step_off_caller);
  EXPECT_FALSE(split) << "a device's rows were split between two batches";
  EXPECT_FALSE(out_of_order);
  EXPECT_EQ(rows, 3U * 400 * 7);
  EXPECT_EQ(batch_of_device.size(), 3U * 400);
  EXPECT_GT(steps, 3 * 5);  // 2,800 rows per file: several batches each
}

// The SAS query is a credential and the body the tenant's data: a plain-http file URL
// from a real API is refused before any file is fetched (issue 17, item 6).
TEST(ClientExportFiles, PlainHttpFileUrlIsRefusedBeforeAnyDownload) {
  Fixture f(2);
  ExportServer server;
  server.blob = "http://blob.test";
  f.fake.set_handler(std::ref(server));
  std::uint64_t rows = 0;
  auto r = f.make().stream_vulnerability_export([&](VulnerabilityRow&&) {
    ++rows;
    return util::Status{};
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::paging);
  EXPECT_NE(r.error().message.find("http://blob.test/c/part-"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(r.error().message.find("SIG"), std::string::npos) << r.error().message;
  EXPECT_EQ(f.fake.count("blob.test"), 0U);
  EXPECT_EQ(rows, 0U);
}

TEST(ClientExportFiles, DownloadUrlMustBeHttpsUnlessTheApiIsALoopbackSimulator) {
  EXPECT_TRUE(check_download_url("https://blob.test/c/p.json.gz?sig=x", "https://api.test"));
  EXPECT_FALSE(check_download_url("http://blob.test/c/p.json.gz?sig=x", "https://api.test"));
  EXPECT_FALSE(check_download_url("http://127.0.0.1:9/c/p.json.gz", "https://api.test"));
  // mdesim over plain http serves its files over plain http from the same loopback host.
  EXPECT_TRUE(check_download_url("http://127.0.0.1:9/c/p.json.gz", "http://127.0.0.1:9"));
  EXPECT_TRUE(check_download_url("http://localhost:9/c/p.json.gz", "http://localhost:9"));
  EXPECT_FALSE(check_download_url("ftp://blob.test/c/p.json.gz", "http://127.0.0.1:9"));
}

TEST(ClientExportFiles, ExpiredUrlRefreshesOnceAndResumesRemaining) {
  Fixture f(1);
  ExportServer server;
  server.expire_next = 1;  // the first download fails with 403
  f.fake.set_handler(std::ref(server));
  std::set<std::string> ids;
  auto r = f.make().stream_vulnerability_export([&](VulnerabilityRow&& row) {
    EXPECT_TRUE(ids.insert(row.device_id).second) << "duplicate " << row.device_id;
    return util::Status{};
  });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->link_refreshed);
  EXPECT_EQ(server.list_calls.load(), 2);
  EXPECT_EQ(ids.size(), 4500U);
  EXPECT_EQ(f.fake.count("sig=SIG2"), 1U);  // only the expired file used the fresh list
}

TEST(ClientExportFiles, ExpiredTwiceIsAClearError) {
  Fixture f(1);
  ExportServer server;
  server.expire_next = 100;
  f.fake.set_handler(std::ref(server));
  auto r = f.make().stream_vulnerability_export([](VulnerabilityRow&&) { return util::Status{}; });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::link_expired);
  EXPECT_EQ(server.list_calls.load(), 2);
  EXPECT_EQ(r.error().message.find("SIG"), std::string::npos) << r.error().message;
}

// Truncated on every attempt: downloaded again within max_retries, then it fails.
TEST(ClientExportFiles, TruncatedGzipNamesTheFileWithoutSas) {
  Fixture f(2);
  ExportServer server;
  const auto full = gzip(lines(1, 1000));
  server.override_body["https://blob.test/c/part-1.json.gz"] = full.substr(0, full.size() / 2);
  f.fake.set_handler(std::ref(server));
  auto r = f.make().stream_vulnerability_export([](VulnerabilityRow&&) { return util::Status{}; });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::retries_exhausted);
  EXPECT_NE(r.error().message.find("truncated download"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("https://blob.test/c/part-1.json.gz"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(r.error().message.find("sig="), std::string::npos);
}

TEST(ClientExportFiles, MalformedLineNamesFileAndLine) {
  Fixture f(1);
  ExportServer server;
  server.override_body["https://blob.test/c/part-2.json.gz"] =
      gzip(lines(2, 5) + "{\"deviceId\":\"x\",\n" + lines(2, 1));
  f.fake.set_handler(std::ref(server));
  auto r = f.make().stream_vulnerability_export([](VulnerabilityRow&&) { return util::Status{}; });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::parse);
  EXPECT_NE(r.error().message.find("part-2.json.gz: line 6"), std::string::npos)
      << r.error().message;
}

TEST(ClientExportFiles, EmptyFilesAndBlankLinesAreFine) {
  Fixture f(2);
  ExportServer server;
  server.override_body["https://blob.test/c/part-0.json.gz"] = "";
  server.override_body["https://blob.test/c/part-1.json.gz"] = gzip("\n" + lines(1, 2) + "\r\n");
  f.fake.set_handler(std::ref(server));
  auto r = f.make().stream_vulnerability_export([](VulnerabilityRow&&) { return util::Status{}; });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->records, 2U + 1500U);
}

TEST(ClientExportFiles, SinkErrorCancelsDownloads) {
  Fixture f(3);
  ExportServer server;
  f.fake.set_handler(std::ref(server));
  int n = 0;
  auto r = f.make().stream_vulnerability_export([&](VulnerabilityRow&&) -> util::Status {
    if (++n == 10) return util::fail(util::ErrorCode::store, "store failed");
    return {};
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::store);
  EXPECT_EQ(n, 10);
}

// A transport that cuts the first download of each file in the middle.
class CuttingTransport final : public http::HttpClient {
 public:
  explicit CuttingTransport(std::string body) : m_body(std::move(body)) {}
  util::Result<Response> send(const Request&) override {
    return util::fail(util::ErrorCode::internal, "unused");
  }
  util::Result<Response> stream(const Request&, const http::BodySink& sink) override {
    const bool cut = m_calls++ == 0;
    const std::size_t n = cut ? m_body.size() / 2 : m_body.size();
    for (std::size_t i = 0; i < n; i += 100) {
      if (auto st = sink(std::string_view(m_body).substr(i, std::min<std::size_t>(100, n - i)));
          !st) {
        return util::fail(st.error());
      }
    }
    if (cut)
      return util::fail(util::ErrorCode::transport,
                        "GET https://blob.test/c/part-0.json.gz: connection reset");
    return Response{200, {}, ""};
  }
  int m_calls = 0;

 private:
  std::string m_body;
};

TEST(ClientExportFiles, CutTransferResumesWithoutDuplicates) {
  Fixture f(1);
  CuttingTransport download(gzip(lines(0, 3000)));
  ClientDeps deps;
  deps.api = &f.fake;
  deps.download = &download;
  deps.tokens = &f.tokens;
  deps.clock = &f.clock;
  deps.sleeper = &f.sleeper;
  deps.random = [] { return 0.5; };
  auto c = Client::create(f.config, deps);
  ASSERT_TRUE(c);
  ExportFiles files;
  files.urls = {"https://blob.test/c/part-0.json.gz?sig=x"};
  std::set<std::string> ids;
  std::size_t rows = 0;
  auto r = (*c)->stream_vulnerability_files(files, nullptr, [&](VulnerabilityRow&& row) {
    ++rows;
    ids.insert(row.device_id);
    return util::Status{};
  });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(download.m_calls, 2);
  EXPECT_EQ(rows, 3000U);
  EXPECT_EQ(ids.size(), 3000U);
}

// --- Bodies cut short (issue 27, item 2) ---------------------------------------------
// A 200 whose body ends inside its JSON document (the transfer looked complete) is
// fetched again within max_retries; rows handed on before the cut are not handed on
// again; a complete body that is not JSON stays a parse error.

const std::string k_delta_url =
    k_api +
    "/api/machines/SoftwareVulnerabilityChangesByMachine?sinceTime=2025-06-01T06%3A00%3A00Z";

std::string delta_page(int from, int n, const std::string& next = "") {
  std::string body = R"({"@odata.context":"x","value":[)";
  for (int i = 0; i < n; ++i) {
    if (i) body += ",";
    body += R"({"deviceId":"d)" + std::to_string(from + i) +
            R"(","cveId":"CVE-2025-1","status":"New","eventTimestamp":"2025-06-01T07:00:00Z"})";
  }
  body += "]";
  if (!next.empty()) body += R"(,"@odata.nextLink":")" + next + "\"";
  return body + "}";
}

// The delta feed's two pages; `cuts[i]` answers the i-th request of page 1 with that
// many bytes of it (while there are cuts left), then the whole page.
struct DeltaServer {
  std::string token = b64url(
      R"({"ExportDefinition":{"TimePath":"2025-06-01/0601/"},"ExportFileIndex":0,"LineStoppedAt":5})");
  std::string second_url =
      k_api + "/api/machines/SoftwareVulnerabilityChangesByMachine?sincetime=x&$skiptoken=" + token;
  std::string first = delta_page(0, 5, second_url);
  std::string second = delta_page(5, 3);
  std::vector<std::size_t> cuts;
  std::size_t first_calls = 0;

  util::Result<Response> operator()(const Request& r) {
    if (r.url == k_delta_url) {
      const std::size_t i = first_calls++;
      if (i < cuts.size()) return FakeHttpClient::json(200, first.substr(0, cuts[i]));
      return FakeHttpClient::json(200, first);
    }
    if (r.url == second_url) return FakeHttpClient::json(200, second);
    return FakeHttpClient::json(404, "{}");
  }
};

util::Result<ListResult> read_delta(Fixture& f, std::vector<std::string>& ids) {
  return f.make().for_each_vulnerability_change(*util::parse_timestamp("2025-06-01T06:00:00Z"), {},
                                                [&](VulnerabilityRow&& row) {
                                                  ids.push_back(row.device_id);
                                                  return util::Status{};
                                                });
}

TEST(ClientTruncation, CutDeltaPageIsReadAgainWithTheSameRowsAsAWholeRead) {
  std::vector<std::string> whole;
  {
    Fixture f;
    DeltaServer server;
    f.fake.set_handler(std::ref(server));
    ASSERT_TRUE(read_delta(f, whole));
    ASSERT_EQ(whole.size(), 8U);
  }
  Fixture f;
  DeltaServer server;
  // Cut after two whole rows, then inside the first row, then inside the nextLink.
  const auto third_row = server.first.find(R"({"deviceId":"d2")");
  server.cuts = {third_row + 3, 40, server.first.size() - 20};
  f.fake.set_handler(std::ref(server));
  std::vector<std::string> ids;
  auto r = read_delta(f, ids);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(ids, whole);
  EXPECT_EQ(r->records, 8U);
  EXPECT_EQ(r->pages, 2U);
  EXPECT_EQ(server.first_calls, 4U);
  const auto s = f.client->stats();
  EXPECT_EQ(s.retries, 3U);
  EXPECT_EQ(f.sleeper.delays().size(), 3U);
}

// Wherever the cut falls in a page of an OData list, the rows are those of a whole read.
TEST(ClientTruncation, CutAtAnyByteOfAnODataPageGivesTheSameRows) {
  const std::string first = machines_page(0, 3, k_api + "/api/machines?$skip=3");
  const std::string second = machines_page(3, 3);
  for (const bool cut_second : {false, true}) {
    const std::string& page = cut_second ? second : first;
    for (std::size_t cut = 0; cut < page.size(); ++cut) {
      Fixture f;
      int calls = 0;
      f.fake.set_handler([&](const Request& r) {
        const bool is_second = r.url == k_api + "/api/machines?$skip=3";
        const std::string& body = is_second ? second : first;
        if (is_second == cut_second && calls++ == 0) {
          return FakeHttpClient::json(200, body.substr(0, cut));
        }
        return FakeHttpClient::json(200, body);
      });
      std::vector<std::string> ids;
      auto r =
          f.make().for_each_machine({}, [&](Machine&& m) { return collect(ids, std::move(m)); });
      ASSERT_TRUE(r) << cut << ": " << r.error().message;
      EXPECT_EQ(ids, (std::vector<std::string>{"m0", "m1", "m2", "m3", "m4", "m5"})) << cut;
      EXPECT_EQ(f.client->stats().retries, 1U) << cut;
    }
  }
}

TEST(ClientTruncation, MoreCutsThanMaxRetriesFailNamingTheUrl) {
  Fixture f;  // max_retries 3
  DeltaServer server;
  server.cuts = std::vector<std::size_t>(10, 135);
  f.fake.set_handler(std::ref(server));
  std::vector<std::string> ids;
  auto r = read_delta(f, ids);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::retries_exhausted);
  EXPECT_NE(r.error().message.find("GET " + k_api +
                                   "/api/machines/SoftwareVulnerabilityChangesByMachine"),
            std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("4 attempts"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().message;
  EXPECT_EQ(server.first_calls, 4U);
  EXPECT_EQ(f.client->stats().retries, 3U);
  // The rows before the cut were handed on once, not once per attempt.
  EXPECT_EQ(ids, (std::vector<std::string>{"d0"}));
}

TEST(ClientTruncation, CompleteMalformedPageIsAParseErrorWithoutRetry) {
  Fixture f;
  f.fake.set_handler([](const Request&) {
    return FakeHttpClient::json(200, R"({"value":[{"id":"m0"},,{"id":"m1"}]})");
  });
  std::vector<std::string> ids;
  auto r = f.make().for_each_machine({}, [&](Machine&& m) { return collect(ids, std::move(m)); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::parse) << r.error().message;
  EXPECT_NE(r.error().message.find("malformed JSON page"), std::string::npos);
  EXPECT_EQ(f.fake.requests().size(), 1U);
  EXPECT_EQ(f.client->stats().retries, 0U);
}

TEST(ClientTruncation, PageThatChangedAfterACutFailsInsteadOfRepeatingRows) {
  Fixture f;
  int calls = 0;
  f.fake.set_handler([&](const Request&) {
    const std::string page = machines_page(calls == 0 ? 0 : 10, 3);
    return FakeHttpClient::json(200, calls++ == 0 ? page.substr(0, page.size() - 5) : page);
  });
  std::vector<std::string> ids;
  auto r = f.make().for_each_machine({}, [&](Machine&& m) { return collect(ids, std::move(m)); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::paging) << r.error().message;
  EXPECT_EQ(ids, (std::vector<std::string>{"m0", "m1"}));
}

TEST(ClientTruncation, CutEntityAndExportListingAreFetchedAgain) {
  Fixture f;
  int machine_calls = 0;
  ExportServer server;
  server.files = 1;
  server.rows = 3;
  int listing_calls = 0;
  f.fake.set_handler([&](const Request& r) -> util::Result<Response> {
    if (r.url == k_api + "/api/machines/m1") {
      const std::string body = R"({"id":"m1","computerDnsName":"web-01"})";
      return FakeHttpClient::json(200, machine_calls++ == 0 ? body.substr(0, 12) : body);
    }
    auto resp = server(r);
    if (resp && r.url.find("SoftwareVulnerabilitiesExport") != std::string::npos &&
        listing_calls++ == 0) {
      resp->body.resize(resp->body.size() / 2);
    }
    return resp;
  });
  auto m = f.make().get_machine("m1");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->computer_dns_name, "web-01");
  EXPECT_EQ(machine_calls, 2);
  auto files = f.client->vulnerability_export_files();
  ASSERT_TRUE(files) << files.error().message;
  EXPECT_EQ(files->urls.size(), 1U);
  EXPECT_EQ(listing_calls, 2);
  EXPECT_EQ(f.client->stats().retries, 2U);
}

}  // namespace
}  // namespace mdesync::defender
