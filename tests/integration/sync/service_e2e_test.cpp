// mdesync as a service (issue 28, items 2, 3 and 5): the metrics file, JSON logs, and a
// sync that finds another one holding its store. The mdesync binary against mdesim.

#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "e2e_fixture.hpp"
#include "json_lines.hpp"
#include "store/open.hpp"

namespace mdesync {
namespace {

using Labels = std::map<std::string, std::string>;

std::string series(const std::string& name, const Labels& labels) {
  std::string key = name + "{";
  for (const auto& [k, v] : labels) key += k + "=\"" + v + "\",";
  return key + "}";
}

// A strict reader of the Prometheus text format as mdesync writes it: HELP and TYPE
// before the samples of each family, valid metric and label names, quoted and escaped
// label values, a number per sample, no series twice. Returns series -> value.
std::map<std::string, double> parse_metrics(const std::string& text) {
  static const std::regex help(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$)");
  static const std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter)$)");
  static const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$)");
  static const std::regex label(R"re(^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$))re");
  std::map<std::string, double> out;
  std::set<std::string> helped, typed;
  std::istringstream in(text);
  std::string line;
  std::smatch m;
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, help)) {
      EXPECT_TRUE(helped.insert(m[1]).second) << "HELP twice: " << line;
    } else if (std::regex_match(line, m, type)) {
      EXPECT_TRUE(helped.count(m[1])) << "TYPE before HELP: " << line;
      EXPECT_TRUE(typed.insert(m[1]).second) << "TYPE twice: " << line;
    } else if (std::regex_match(line, m, sample)) {
      EXPECT_TRUE(typed.count(m[1])) << "sample without TYPE: " << line;
      EXPECT_EQ(std::string(m[1]).rfind("mdesync_", 0), 0U) << line;
      Labels labels;
      std::string rest = m[3];
      std::smatch lm;
      while (!rest.empty()) {
        if (!std::regex_search(rest, lm, label)) {
          ADD_FAILURE() << "bad labels: " << line;
          break;
        }
        EXPECT_TRUE(labels.emplace(lm[1], lm[2]).second) << "label twice: " << line;
        rest = lm.suffix();
      }
      std::size_t used = 0;
      const double value = std::stod(m[4], &used);
      EXPECT_EQ(used, std::string(m[4]).size()) << line;
      EXPECT_TRUE(out.emplace(series(m[1], labels), value).second) << "series twice: " << line;
    } else {
      ADD_FAILURE() << "not a metrics line: '" << line << "'";
    }
  }
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// `promtool check metrics` (from Debian's prometheus package: scripts/setup puts it in
// its build folder's tools/, build/tools/ by default; other builds, such as CI's ASan
// build, use that one): its output, empty when the file parses and passes its lint.
std::string promtool(const std::string& path) {
  std::string tool = "promtool";
  for (const std::string& dir :
       {std::string(MDESYNC_BINARY_DIR), std::string(MDESYNC_SOURCE_DIR) + "/build"}) {
    if (fs::exists(dir + "/tools/promtool")) {
      tool = dir + "/tools/promtool";
      break;
    }
  }
  const std::string cmd = "'" + tool + "' check metrics < '" + path + "' 2>&1; echo \"exit $?\"";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return "popen failed";
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  ::pclose(p);
  return out == "exit 0\n" ? "" : out;
}

using testing_support::json_lines;

TEST_F(CliE2E, MetricsFileAgreesWithTheRunSummaryAndKeepsTheLastSuccessOfAFailedRun) {
  start();
  const auto prom = (m_dir / "mdesync.prom").string();
  const std::string tenant = m_sim->credentials().tenant_id;
  auto args = base_args(db("metrics"));
  args.insert(args.end(), {"--json", "--metrics-file", prom});
  auto p = cli(args, m_sim->credentials().client_secret);
  ASSERT_EQ(p.status, 0) << p.err;
  const auto summary = nlohmann::json::parse(p.out);
  EXPECT_EQ(promtool(prom), "");
  EXPECT_FALSE(fs::exists(prom + ".tmp"));
  auto m = parse_metrics(slurp(prom));

  const Labels t = {{"tenant", tenant}};
  EXPECT_EQ(m.at(series("mdesync_last_run_success", t)), 1);
  EXPECT_EQ(m.at(series("mdesync_last_run_exit_code", t)), 0);
  EXPECT_EQ(m.at(series("mdesync_last_run_outcome", {{"tenant", tenant}, {"outcome", "success"}})),
            1);
  EXPECT_EQ(m.at(series("mdesync_last_run_outcome", {{"tenant", tenant}, {"outcome", "failed"}})),
            0);
  EXPECT_NEAR(m.at(series("mdesync_last_run_duration_seconds", t)),
              summary["seconds"].get<double>(), 1e-5);
  EXPECT_EQ(m.at(series("mdesync_last_run_http_requests", t)), summary["httpCalls"].get<double>());
  EXPECT_EQ(m.at(series("mdesync_last_run_http_retries", t)), summary["retries"].get<double>());
  EXPECT_EQ(m.at(series("mdesync_last_run_http_throttled", t)), summary["throttled"].get<double>());
  const double ended = m.at(series("mdesync_last_run_timestamp_seconds", t));
  const double started = ended - m.at(series("mdesync_last_run_duration_seconds", t));
  std::map<std::string, double> last_success;
  ASSERT_EQ(summary["objects"].size(), 5U);
  for (const auto& o : summary["objects"]) {
    const std::string object = o["object"];
    const Labels l = {{"tenant", tenant}, {"object", object}};
    EXPECT_EQ(m.at(series("mdesync_object_last_run_success", l)), 1) << object;
    EXPECT_NEAR(m.at(series("mdesync_object_last_run_duration_seconds", l)),
                o["seconds"].get<double>(), 1e-5);
    for (const auto& [kind, key] : std::vector<std::pair<std::string, std::string>>{
             {"read", "read"},
             {"written", "written"},
             {"unchanged", "unchanged"},
             {"closed", "closed"},
             {"skipped", "skipped"},
             {"merged", "merged"},
             {"stale", "stale"},
             {"paired", "paired"},
             {"reused", "reused"},
             {"reused_without_row", "reusedWithoutRow"}}) {
      const auto it = m.find(series("mdesync_object_last_run_rows",
                                    {{"tenant", tenant}, {"object", object}, {"kind", kind}}));
      ASSERT_NE(it, m.end()) << object << " " << kind;
      EXPECT_EQ(it->second, o.value(key, -1.0)) << object << " " << kind;
    }
    EXPECT_EQ(m.at(series("mdesync_object_last_run_http_requests", l)),
              o["httpCalls"].get<double>());
    EXPECT_EQ(m.at(series("mdesync_object_last_run_http_retries", l)), o["retries"].get<double>());
    EXPECT_EQ(m.at(series("mdesync_object_last_run_http_throttled", l)),
              o["throttled"].get<double>());
    last_success[object] = m.at(series("mdesync_object_last_success_timestamp_seconds", l));
    EXPECT_GE(last_success[object], started - 1e-3) << object;
    EXPECT_LE(last_success[object], ended + 1e-3) << object;
  }
  EXPECT_GT(m.at(series("mdesync_object_last_run_rows",
                        {{"tenant", tenant}, {"object", "vulnerability"}, {"kind", "read"}})),
            0);

  // A run the token service refuses: the metrics say it failed, with its exit code, and
  // still give each object's last successful sync.
  p = cli(args, "not-the-secret");
  ASSERT_EQ(p.status, 4) << p.err;
  EXPECT_EQ(promtool(prom), "");
  m = parse_metrics(slurp(prom));
  EXPECT_EQ(m.at(series("mdesync_last_run_success", t)), 0);
  EXPECT_EQ(m.at(series("mdesync_last_run_exit_code", t)), 4);
  EXPECT_EQ(m.at(series("mdesync_last_run_outcome", {{"tenant", tenant}, {"outcome", "refused"}})),
            1);
  EXPECT_EQ(m.at(series("mdesync_last_run_outcome", {{"tenant", tenant}, {"outcome", "success"}})),
            0);
  EXPECT_GE(m.at(series("mdesync_last_run_timestamp_seconds", t)), ended);
  for (const auto& [object, when] : last_success) {
    const Labels l = {{"tenant", tenant}, {"object", object}};
    EXPECT_EQ(m.at(series("mdesync_object_last_run_success", l)), 0) << object;
    EXPECT_EQ(m.at(series("mdesync_object_last_success_timestamp_seconds", l)), when) << object;
  }
}

TEST_F(CliE2E, JsonLogsParseLineByLineCarryTheFiguresAndNeverTheSecret) {
  start();
  const std::string tenant = m_sim->credentials().tenant_id;
  const std::string secret = m_sim->credentials().client_secret;
  auto args = base_args(db("json-logs"));
  args.insert(args.end(), {"--json", "--log-format", "json", "-v"});
  auto p = cli(args, secret);
  ASSERT_EQ(p.status, 0) << p.err;
  EXPECT_EQ(p.err.find(secret), std::string::npos);
  const auto summary = nlohmann::json::parse(p.out);
  const auto lines = json_lines(p.err);
  ASSERT_GT(lines.size(), 5U);
  std::set<std::string> objects_with_figures;
  bool ended = false;
  for (const auto& l : lines) {
    ASSERT_TRUE(l.is_object());
    EXPECT_TRUE(std::regex_match(l.value("time", ""),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
        << l;
    EXPECT_TRUE(l.contains("level") && l.contains("message")) << l;
    EXPECT_EQ(l.value("tenant", ""), tenant) << l;
    if (l.contains("object")) {
      EXPECT_EQ(l.value("run_id", 0), summary["runId"].get<int>()) << l;
    }
    if (l.contains("object") && l.contains("read")) {
      for (const auto& o : summary["objects"]) {
        if (o["object"] != l["object"]) continue;
        for (const char* k : {"read", "written", "unchanged", "closed", "skipped"}) {
          EXPECT_EQ(l[k], o[k]) << l;
        }
        objects_with_figures.insert(l["object"].get<std::string>());
      }
    }
    if (l.value("outcome", "") == "success" && l.value("exit_code", -1) == 0) {
      ended = true;
      EXPECT_EQ(l["http_requests"], summary["httpCalls"]) << l;
    }
  }
  EXPECT_EQ(objects_with_figures.size(), 5U) << p.err;
  EXPECT_TRUE(ended) << p.err;

  // A refused run and its error are JSON lines too.
  p = cli(args, "not-the-secret");
  ASSERT_EQ(p.status, 4) << p.err;
  EXPECT_EQ(p.err.find("not-the-secret"), std::string::npos) << p.err;
  bool error = false;
  for (const auto& l : json_lines(p.err)) error = error || l.value("level", "") == "error";
  EXPECT_TRUE(error) << p.err;
}

TEST_F(CliE2E, ASyncThatFindsTheStoreLockedSkipsOrWaitsForIt) {
  start();
  const auto path = db("overlap");
  const auto prom = (m_dir / "overlap.prom").string();
  const std::string secret = m_sim->credentials().client_secret;
  auto holder = store::open_store("sqlite:" + path, {true, false});
  ASSERT_TRUE(holder) << holder.error().message;

  // By default the run is skipped at once, and the metrics say so.
  auto args = base_args(path);
  args.insert(args.end(), {"--metrics-file", prom});
  auto p = cli(args, secret);
  EXPECT_EQ(p.status, 6) << p.err;
  EXPECT_NE(p.err.find("this run is skipped (nothing was changed)"), std::string::npos) << p.err;
  auto m = parse_metrics(slurp(prom));
  EXPECT_EQ(
      m.at(series("mdesync_last_run_exit_code", {{"tenant", m_sim->credentials().tenant_id}})), 6);

  // With --lock-wait-seconds it waits, and syncs once the other lets go.
  args = base_args(path);
  args.insert(args.end(), {"--lock-wait-seconds", "120"});
  const pid_t pid = spawn(args, secret);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "the second sync did not wait";
  holder->reset();
  p = wait_for(pid);
  EXPECT_EQ(p.status, 0) << p.err;
  EXPECT_NE(p.err.find("waiting up to 120 s"), std::string::npos) << p.err;
  expect_ground_truth(path);

  // A wait that runs out skips the run and leaves the store as it was.
  holder = store::open_store("sqlite:" + path, {true, false});
  ASSERT_TRUE(holder) << holder.error().message;
  const auto runs = query_int(path, "SELECT count(*) FROM sync_run");
  args = base_args(path);
  args.insert(args.end(), {"--lock-wait-seconds", "1"});
  p = cli(args, secret);
  EXPECT_EQ(p.status, 6) << p.err;
  EXPECT_NE(p.err.find("after 1 s of waiting"), std::string::npos) << p.err;
  EXPECT_EQ(query_int(path, "SELECT count(*) FROM sync_run"), runs);
}

}  // namespace
}  // namespace mdesync
