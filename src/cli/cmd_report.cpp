// `mdesync report`: the stored exposure as one self-contained HTML page or as JSON
// (src/report, docs/report.md). Read-only; the file appears whole or not at all.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <optional>

#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/common.hpp"
#include "report/compute.hpp"
#include "report/html.hpp"
#include "report/json.hpp"
#include "store/open.hpp"
#include "store/store.hpp"
#include "util/time.hpp"

namespace mdesync::cli {
namespace {

struct ReportFlags {
  config::Overrides overrides;
  std::string out;
  std::string format = "html";
  int days = 90;
  std::vector<std::string> groups;
  std::optional<int> stale_after_hours;
  std::string now;  // evaluate at this time instead of the clock (reproducible reports)
};

// The report file, written beside its final path and renamed over it when complete:
// readers never see half a report, and a failed run leaves the old one. Created before
// any work, so that an unwritable destination fails at once.
class AtomicFile {
 public:
  static util::Result<AtomicFile> create(const std::string& path) {
    const std::filesystem::path target(path);
    if (std::filesystem::is_directory(target)) {
      return util::fail(util::ErrorCode::io, fmt::format("{} is a directory", path));
    }
    const auto dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    std::string tmp = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
    const int fd = ::mkstemp(tmp.data());
    if (fd < 0) {
      return util::fail(util::ErrorCode::io,
                        fmt::format("cannot write {}: {}", path, std::strerror(errno)));
    }
    ::fchmod(fd, 0644);
    return AtomicFile(fd, std::move(tmp), path);
  }
  AtomicFile(AtomicFile&& o) noexcept
      : m_fd(std::exchange(o.m_fd, -1)), m_tmp(std::move(o.m_tmp)), m_path(std::move(o.m_path)) {}
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() {
    if (m_fd >= 0) {
      ::close(m_fd);
      ::unlink(m_tmp.c_str());
    }
  }

  util::Status commit(std::string_view data) {
    std::size_t done = 0;
    while (done < data.size()) {
      const auto n = ::write(m_fd, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return error("write");
      done += static_cast<std::size_t>(n);
    }
    if (::fsync(m_fd) != 0) return error("sync");
    if (::close(std::exchange(m_fd, -1)) != 0) return error("close");
    if (::rename(m_tmp.c_str(), m_path.c_str()) != 0) {
      auto e = error("rename");
      ::unlink(m_tmp.c_str());
      return e;
    }
    return {};
  }

 private:
  AtomicFile(int fd, std::string tmp, std::string path)
      : m_fd(fd), m_tmp(std::move(tmp)), m_path(std::move(path)) {}
  util::Status error(std::string_view what) {
    return util::fail(util::ErrorCode::io,
                      fmt::format("cannot {} {}: {}", what, m_path, std::strerror(errno)));
  }
  int m_fd;
  std::string m_tmp;
  std::string m_path;
};

int run_report(ReportFlags& flags) {
  setup_logging(false, true);
  auto cfg = config::load(flags.overrides);
  if (!cfg) return report(cfg.error(), "configuration error");
  if (flags.out.empty()) flags.out = flags.format == "json" ? "report.json" : "report.html";
  util::Timestamp now = util::to_timestamp(std::chrono::system_clock::now());
  if (!flags.now.empty()) {
    auto t = util::parse_timestamp(flags.now);
    if (!t) {
      std::fprintf(stderr, "mdesync: --now: not an ISO 8601 time: %s\n", flags.now.c_str());
      return k_exit_usage;
    }
    now = *t;
  }
  const bool to_stdout = flags.out == "-";
  std::optional<AtomicFile> file;
  if (!to_stdout) {
    auto f = AtomicFile::create(flags.out);
    if (!f) return report(f.error(), "cannot write the report");
    file.emplace(std::move(*f));
  }

  report::ReportOptions options;
  options.days = flags.days;
  options.groups = flags.groups;
  options.stale_after_hours = flags.stale_after_hours.value_or(cfg->report.stale_after_hours);
  options.sla = {cfg->report.sla_critical, cfg->report.sla_high, cfg->report.sla_medium,
                 cfg->report.sla_low};
  options.now = now;
  options.tenant = cfg->tenant_id;
  options.store = store::redact_store_url(cfg->store);

  report::Figures figures;
  std::optional<util::Error> empty;  // the store holds nothing yet: why
  std::unique_ptr<store::Store> opened;
  auto store = store::open_store(cfg->store, {.read_only = true, .tenant = cfg->tenant_id});
  if (!store && store.error().code == util::ErrorCode::not_found) {
    empty = store.error();  // no file, or no schema: nothing has been synced yet
  } else if (!store) {
    return report(store.error(), "cannot open the store " + options.store);
  } else {
    opened = std::move(*store);
  }
  if (empty) {
    if (!flags.groups.empty()) {
      std::fprintf(stderr, "mdesync: unknown device group '%s': the store %s holds none yet\n",
                   flags.groups.front().c_str(), options.store.c_str());
      return k_exit_usage;
    }
    // An empty report that says so: nothing has been synced into this store yet.
    figures.header.tenant = options.tenant;
    figures.header.store = options.store;
    figures.header.generated_at = now;
    figures.header.days = options.days;
    figures.header.sla = options.sla;
    figures.header.stale_after_hours = options.stale_after_hours;
    figures.header.flow_bucket = "day";
    figures.header.no_data = true;
    figures.header.warnings.push_back(fmt::format("No sync has run yet: {}.", empty->message));
  } else {
    auto& s = *opened;
    if (!flags.groups.empty()) {
      auto known = report::known_groups(s);
      if (!known) return report(known.error(), "cannot read the store");
      for (const auto& g : flags.groups) {
        if (std::find(known->begin(), known->end(), g) == known->end()) {
          std::fprintf(stderr, "mdesync: unknown device group '%s'; the store knows: %s\n",
                       g.c_str(), fmt::format("{}", fmt::join(*known, ", ")).c_str());
          return k_exit_usage;
        }
      }
    }
    // The pages of the tables the report reads are checked on the other core while it
    // computes (a damaged page can end a read early without an error); nothing is
    // written unless they are sound.
    auto checking = std::async(std::launch::async, s.concurrent_check(report::tables_read()));
    auto computed = report::compute(s, options);
    if (auto ok = checking.get(); !ok) return report(ok.error(), "the store is damaged");
    if (!computed) return report(computed.error(), "cannot compute the report");
    figures = std::move(*computed);
  }

  const std::string text =
      flags.format == "json" ? report::render_json(figures) : report::render_html(figures);
  if (to_stdout) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return std::fflush(stdout) == 0 ? k_exit_ok : k_exit_failure;
  }
  if (auto st = file->commit(text); !st) return report(st.error(), "cannot write the report");
  const auto& h = figures.headline;
  std::fprintf(stderr, "report written to %s (%s, %lld open findings%s)\n", flags.out.c_str(),
               flags.format.c_str(), static_cast<long long>(h.open_total),
               figures.header.as_of
                   ? (", as of " + util::format_timestamp_seconds(*figures.header.as_of)).c_str()
                   : "");
  for (const auto& w : figures.header.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  return k_exit_ok;
}

const bool k_registered = register_command(
    {"report",
     "Write the stored exposure as a self-contained HTML page (or JSON): trends, remediation "
     "speed, ageing, top risks",
     [](CLI::App& sub) {
       auto flags = std::make_shared<ReportFlags>();
       config::add_flags(sub, flags->overrides, {false, true, false});
       add_tenant_flag(sub, flags->overrides);
       sub.add_option("--out,-o", flags->out,
                      "File to write (default report.html, or report.json with --format json); "
                      "- for standard output");
       sub.add_option("--format", flags->format, "html (default) or json")
           ->check(CLI::IsMember({"html", "json"}));
       sub.add_option("--days", flags->days, "Days of history in trends and remediation (1-3650)")
           ->check(CLI::Range(1, 3650));
       sub.add_option("--group", flags->groups,
                      "Report on this device group only (repeatable; \"Unassigned\" for hosts "
                      "in none)");
       sub.add_option("--stale-after-hours", flags->stale_after_hours,
                      "Flag a last good sync older than this as stale (default 48, or "
                      "[report] stale_after_hours)")
           ->check(CLI::Range(1, 24 * 365));
       sub.add_option("--now", flags->now,
                      "Judge staleness at this ISO 8601 time instead of the clock (for "
                      "reproducible reports)");
       return CommandAction([flags] { return run_report(*flags); });
     }});

}  // namespace
}  // namespace mdesync::cli
