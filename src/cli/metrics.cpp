#include "cli/metrics.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "store/open.hpp"
#include "store/store.hpp"

namespace mdesync::cli {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

std::string escape_label(const std::string& v) {
  std::string out;
  for (const char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Integers print as integers; other values with enough digits to round-trip.
std::string number(double v) {
  if (v == static_cast<double>(static_cast<long long>(v)) && v < 9.0e15 && v > -9.0e15) {
    return fmt::format("{}", static_cast<long long>(v));
  }
  return fmt::format("{}", v);
}

double epoch_seconds(util::Timestamp t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

class Writer {
 public:
  // Starts a metric family: its HELP and TYPE lines (every family here is a gauge: a
  // textfile holds the last run's values, which do not add up from run to run).
  void family(const std::string& name, const std::string& help) {
    m_name = name;
    m_out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
  }
  void sample(const Labels& labels, double value) {
    m_out += m_name;
    if (!labels.empty()) {
      m_out += '{';
      for (std::size_t i = 0; i < labels.size(); ++i) {
        if (i > 0) m_out += ',';
        m_out += fmt::format("{}=\"{}\"", labels[i].first, escape_label(labels[i].second));
      }
      m_out += '}';
    }
    m_out += ' ' + number(value) + '\n';
  }
  std::string take() { return std::move(m_out); }

 private:
  std::string m_name;
  std::string m_out;
};

}  // namespace

const std::vector<std::string>& run_outcomes() {
  static const std::vector<std::string> outcomes = {"success", "partial", "failed", "interrupted",
                                                    "refused"};
  return outcomes;
}

namespace {

// A run refused before the engine ran has no object figures; its objects still get
// their last success time and a failed outcome.
std::vector<sync::ObjectSummary> objects_of(const RunRecord& r) {
  if (r.summary) return r.summary->objects;
  std::vector<sync::ObjectSummary> objects;
  for (const auto& name : r.objects) {
    sync::ObjectSummary o;
    o.object = name;
    objects.push_back(std::move(o));
  }
  return objects;
}

}  // namespace

std::string metrics_text(const RunRecord& record) {
  return metrics_text(std::vector<RunRecord>{record});
}

std::string metrics_text(const std::vector<RunRecord>& records) {
  Writer w;
  // One family at a time, with the series of every tenant of the run.
  auto per_run = [&](const std::string& name, const std::string& help, auto value) {
    w.family(name, help);
    for (const auto& r : records) w.sample({{"tenant", r.tenant}}, value(r));
  };
  auto calls = [](std::uint64_t sync::RunSummary::*field) {
    return [field](const RunRecord& r) {
      return r.summary ? static_cast<double>((*r.summary).*field) : 0.0;
    };
  };
  per_run("mdesync_last_run_timestamp_seconds", "When the last sync run ended (Unix time).",
          [](const RunRecord& r) { return epoch_seconds(r.ended_at); });
  per_run("mdesync_last_run_duration_seconds", "How long the last sync run took.",
          [](const RunRecord& r) {
            return std::chrono::duration<double>(r.ended_at - r.started_at).count();
          });
  per_run("mdesync_last_run_success", "1 if the last sync run succeeded (exit code 0), else 0.",
          [](const RunRecord& r) { return r.exit_code == 0 ? 1.0 : 0.0; });
  per_run("mdesync_last_run_exit_code", "The exit code of the last sync run (README, Exit codes).",
          [](const RunRecord& r) { return static_cast<double>(r.exit_code); });
  w.family("mdesync_last_run_outcome",
           "1 for the outcome of the last sync run, 0 for the others; refused: stopped before "
           "the sync began.");
  for (const auto& r : records) {
    for (const auto& o : run_outcomes())
      w.sample({{"tenant", r.tenant}, {"outcome", o}}, o == r.outcome ? 1 : 0);
  }
  per_run("mdesync_last_run_http_requests",
          "HTTP requests of the last sync run, token requests included.",
          calls(&sync::RunSummary::http_calls));
  per_run("mdesync_last_run_http_retries",
          "Retried HTTP requests of the last sync run, token requests included.",
          calls(&sync::RunSummary::retries));
  per_run("mdesync_last_run_http_throttled",
          "HTTP 429 (throttled) answers in the last sync run, token requests included.",
          calls(&sync::RunSummary::throttled));

  std::vector<std::vector<sync::ObjectSummary>> objects;
  for (const auto& r : records) objects.push_back(objects_of(r));
  auto each_object = [&](auto fn) {
    for (std::size_t i = 0; i < records.size(); ++i) {
      for (const auto& o : objects[i]) fn(records[i], o);
    }
  };
  auto per_object = [&](const std::string& name, const std::string& help, auto value) {
    w.family(name, help);
    each_object([&](const RunRecord& r, const sync::ObjectSummary& o) {
      w.sample({{"tenant", r.tenant}, {"object", o.object}}, value(o));
    });
  };
  per_object("mdesync_object_last_run_success",
             "1 if the object was synced in the last run, else 0 (failed, interrupted, not run).",
             [](const sync::ObjectSummary& o) { return o.outcome == "ok" ? 1.0 : 0.0; });
  per_object("mdesync_object_last_run_duration_seconds",
             "How long the object took in the last run.",
             [](const sync::ObjectSummary& o) { return o.seconds; });
  w.family("mdesync_object_last_success_timestamp_seconds",
           "When the object's last successful sync ended (Unix time; its checkpoint).");
  each_object([&](const RunRecord& r, const sync::ObjectSummary& o) {
    if (auto it = r.last_success.find(o.object); it != r.last_success.end()) {
      w.sample({{"tenant", r.tenant}, {"object", o.object}}, epoch_seconds(it->second));
    }
  });
  w.family("mdesync_object_last_run_rows",
           "Rows of the object in the last run: read from the service, written (inserted or "
           "changed), unchanged, closed (findings fixed, rows marked Removed), skipped, merged "
           "(into the row before them), stale and paired (delta events ignored), reused (not "
           "decoded), reused_without_row (of those, lines beyond the stored rows). read = "
           "written + unchanged + skipped + merged + stale + paired + reused_without_row.");
  each_object([&](const RunRecord& r, const sync::ObjectSummary& o) {
    for (const auto& [kind, n] : std::vector<std::pair<std::string, std::int64_t>>{
             {"read", o.read},
             {"written", o.written},
             {"unchanged", o.unchanged},
             {"closed", o.closed},
             {"skipped", o.skipped},
             {"merged", o.merged},
             {"stale", o.stale},
             {"paired", o.paired},
             {"reused", o.reused},
             {"reused_without_row", o.reused_without_row}}) {
      w.sample({{"tenant", r.tenant}, {"object", o.object}, {"kind", kind}},
               static_cast<double>(n));
    }
  });
  per_object("mdesync_object_last_run_http_requests",
             "HTTP requests for the object in the last run.",
             [](const sync::ObjectSummary& o) { return static_cast<double>(o.http_calls); });
  per_object("mdesync_object_last_run_http_retries",
             "Retried HTTP requests for the object in the last run.",
             [](const sync::ObjectSummary& o) { return static_cast<double>(o.retries); });
  per_object("mdesync_object_last_run_http_throttled",
             "HTTP 429 (throttled) answers for the object in the last run.",
             [](const sync::ObjectSummary& o) { return static_cast<double>(o.throttled); });
  return w.take();
}

void read_last_success(RunRecord& record, const std::string& store_url, const std::string& tenant) {
  auto store = store::open_store(store_url, {.read_only = true, .tenant = tenant});
  if (!store) return;
  auto checkpoints = (*store)->checkpoints();
  if (!checkpoints) return;
  for (const auto& cp : *checkpoints) {
    // The metrics name objects as the configuration and the run summary do.
    const std::string name =
        cp.object == model::ObjectType::host ? "machine" : std::string(model::to_string(cp.object));
    record.last_success[name] = cp.completed_at;
  }
}

util::Status write_metrics_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  auto fail = [&](const std::string& what) {
    return util::fail(util::ErrorCode::io,
                      fmt::format("metrics file {}: {}: {}", path, what, std::strerror(errno)));
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail("cannot create " + tmp);
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const auto error = fail("cannot write " + tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return error;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const auto error = fail("cannot write " + tmp);
    ::unlink(tmp.c_str());
    return error;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const auto error = fail("cannot rename " + tmp + " to it");
    ::unlink(tmp.c_str());
    return error;
  }
  return {};
}

}  // namespace mdesync::cli
