// The store as its readers and a failing first sync meet it, through the mdesync binary
// (issue 27, item 5): `status`, `export` and `report` read a store they cannot write and
// leave no file behind, `export` of a damaged store fails instead of printing part of
// it, and a first sync that runs out of space leaves no store that `status` refuses.

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "e2e_fixture.hpp"
#include "sqlite_damage.hpp"
#include "store/open.hpp"

namespace mdesync {
namespace {

// The files of a folder, by name.
std::vector<std::string> names_in(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(folder)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class StoreAccessE2E : public CliE2E {
 protected:
  // How a child runs: as it is, without the power to write where permissions forbid it
  // (root keeps uid 0 but loses CAP_DAC_OVERRIDE: a folder of mode 0555 is then as
  // read-only to it as read-only media), or with a file size limit (a full disk).
  struct Limits {
    bool obey_permissions = false;
    rlim_t file_size = RLIM_INFINITY;
  };

  Process run_limited(const std::vector<std::string>& args, const Limits& limits,
                      const std::string& secret = "") {
    return wait_for(spawn(args, secret, &apply_limits, &limits));
  }

  // In the forked child, before the exec: system calls only.
  static void apply_limits(const void* arg) {
    const auto& limits = *static_cast<const Limits*>(arg);
    if (limits.obey_permissions) {
      // Fails without CAP_SETPCAP, that is for a user who obeys permissions anyway.
      (void)::prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0);
      (void)::prctl(PR_CAPBSET_DROP, CAP_DAC_READ_SEARCH, 0, 0, 0);
    }
    if (limits.file_size != RLIM_INFINITY) {
      ::signal(SIGXFSZ, SIG_IGN);  // a write past the limit fails instead of killing
      const rlimit r{limits.file_size, limits.file_size};
      ::setrlimit(RLIMIT_FSIZE, &r);
    }
  }
};

TEST_F(StoreAccessE2E, ReadersReadAStoreTheyCannotWriteAndLeaveNoFileBehind) {
  start();
  const fs::path folder = m_dir / "archive";
  fs::create_directories(folder);
  const std::string path = (folder / "store.db").string();
  const std::string store = "sqlite:" + path;
  ASSERT_EQ(cli(base_args(path), m_sim->credentials().client_secret).status, 0);
  fs::remove(path + ".lock");  // a copy of a store, as an archive holds it
  ASSERT_EQ(names_in(folder), std::vector<std::string>{"store.db"});
  const auto open_findings = m_sim->truth().open_finding_keys.size();
  const std::string report_out = (m_dir / "report.json").string();

  auto read_all = [&](const Limits& limits, const char* where) {
    const auto status = run_limited({MDESYNC_BINARY, "status", "--store", store}, limits);
    EXPECT_EQ(status.status, 0) << where << ": " << status.err;
    EXPECT_NE(status.out.find("success"), std::string::npos) << where << ": " << status.out;
    const auto exported = run_limited({MDESYNC_BINARY, "export", "vulnerability", "--store", store,
                                       "--where", "statusCategory=Open"},
                                      limits);
    EXPECT_EQ(exported.status, 0) << where << ": " << exported.err;
    EXPECT_EQ(static_cast<std::size_t>(std::count(exported.out.begin(), exported.out.end(), '\n')),
              open_findings)
        << where;
    const auto report = run_limited(
        {MDESYNC_BINARY, "report", "--store", store, "--format", "json", "--out", report_out},
        limits);
    EXPECT_EQ(report.status, 0) << where << ": " << report.err;
    EXPECT_NE(report.err.find(std::to_string(open_findings) + " open findings"), std::string::npos)
        << where << ": " << report.err;
    // No lock file, no -wal or -shm file of SQLite's read.
    EXPECT_EQ(names_in(folder), std::vector<std::string>{"store.db"}) << where;
  };

  read_all({}, "writable folder");

  // A sync that runs is still shown as running.
  {
    auto writer = store::open_store(store, {.exclusive = true});
    ASSERT_TRUE(writer) << writer.error().message;
    ASSERT_TRUE((*writer)->begin_run("delta", {"machine"}, util::Timestamp{}));
    const auto status = cli({MDESYNC_BINARY, "status", "--store", store}, "");
    EXPECT_EQ(status.status, 0) << status.err;
    EXPECT_NE(status.out.find("running"), std::string::npos) << status.out;
    EXPECT_EQ(status.out.find("interrupted"), std::string::npos) << status.out;
  }
  fs::remove(path + ".lock");
  ASSERT_EQ(names_in(folder), std::vector<std::string>{"store.db"});

  // The folder and the file read-only, as on read-only media: the -wal and -shm files a
  // read of a WAL store needs cannot be made there.
  struct Writable {  // again at the end, whatever happens, so that the folder can go
    fs::path folder;
    fs::path file;
    ~Writable() {
      std::error_code ec;
      fs::permissions(folder, fs::perms::owner_all, ec);
      fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write, ec);
    }
  } restore{folder, path};
  fs::permissions(path, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  fs::permissions(folder, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                              fs::perms::group_exec | fs::perms::others_read |
                              fs::perms::others_exec);
  const Limits read_only{.obey_permissions = true};
  const auto probe =
      run_limited({"/bin/sh", "-c", "echo x > '" + (folder / "probe").string() + "'"}, read_only);
  EXPECT_NE(probe.status, 0) << "the folder is writable for the readers: nothing is tested";
  read_all(read_only, "read-only folder");
}

TEST_F(StoreAccessE2E, ExportOfADamagedTableFailsWithTheStoreErrorAndPrintsNoRow) {
  start();
  const std::string path = db("damaged");
  ASSERT_EQ(cli(base_args(path), m_sim->credentials().client_secret).status, 0);
  const auto findings = query_int(path, "SELECT count(*) FROM vulnerability_finding");
  testing_support::shorten_last_leaf(path, "vulnerability_finding");
  // A scan of the table (as export reads it) is short, and SQLite says nothing.
  const auto scanned = query_int(path, "SELECT count(*) FROM vulnerability_finding NOT INDEXED");
  ASSERT_GE(scanned, 0) << "SQLite fails the read: the test needs a damage it does not see";
  ASSERT_LT(scanned, findings) << "the damage no longer shortens a read: the test damages nothing";

  const auto exported = cli({MDESYNC_BINARY, "export", "vulnerability", "--store", "sqlite:" + path,
                             "--where", "statusCategory=Open"},
                            "");
  EXPECT_EQ(exported.status, 6) << exported.err;
  EXPECT_TRUE(exported.out.empty())
      << std::count(exported.out.begin(), exported.out.end(), '\n') << " rows printed";
  EXPECT_NE(exported.err.find("is damaged"), std::string::npos) << exported.err;
  EXPECT_EQ(exported.err.find("exported"), std::string::npos) << exported.err;

  // The tables of the other objects are sound: they export.
  const auto hosts = cli({MDESYNC_BINARY, "export", "host", "--store", "sqlite:" + path}, "");
  EXPECT_EQ(hosts.status, 0) << hosts.err;
  EXPECT_EQ(static_cast<std::size_t>(std::count(hosts.out.begin(), hosts.out.end(), '\n')),
            m_sim->truth().machines);
}

TEST_F(StoreAccessE2E, AFirstSyncThatRunsOutOfSpaceLeavesNoStoreThatStatusRefuses) {
  start();
  const std::string secret = m_sim->credentials().client_secret;
  // The size of a new, empty store: its schema.
  std::uintmax_t empty_size = 0;
  {
    const std::string probe = db("empty");
    ASSERT_TRUE(store::open_store("sqlite:" + probe, {.exclusive = true}));
    empty_size = fs::file_size(probe);
  }

  // No room for the schema: the store cannot be created, and no file is left.
  const std::string none = db("no-room");
  const auto failed = run_limited(base_args(none), {.file_size = empty_size / 4}, secret);
  EXPECT_EQ(failed.status, 6) << failed.err;
  EXPECT_FALSE(fs::exists(none)) << fs::file_size(none) << " bytes left";
  EXPECT_FALSE(fs::exists(none + ".lock"));
  EXPECT_FALSE(fs::exists(none + "-journal"));

  // Room for the schema, not for the data: a valid empty store, which status shows.
  const std::string some = db("little-room");
  const auto partly = run_limited(base_args(some), {.file_size = empty_size + 32 * 1024}, secret);
  EXPECT_NE(partly.status, 0) << partly.out;
  ASSERT_TRUE(fs::exists(some));
  const auto status = cli({MDESYNC_BINARY, "status", "--store", "sqlite:" + some}, "");
  EXPECT_EQ(status.status, 0) << status.err;

  // With room, the next sync stores the tenant.
  ASSERT_EQ(cli(base_args(none), secret).status, 0);
  expect_ground_truth(none);
}

}  // namespace
}  // namespace mdesync
