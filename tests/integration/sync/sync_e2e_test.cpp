// End-to-end: the sync engine against mdesim, in one process. Each test asserts on the
// rows the store ends up with, compared with the simulator's ground truth or with the
// store of another run.

#include <algorithm>

#include "e2e_fixture.hpp"
#include "exports.hpp"
#include "ground_truth.hpp"
#include "store/open.hpp"

namespace mdesync {
namespace {

// The value of a plain string member of a raw export line ("" when absent).
std::string member_of(const std::string& line, const std::string& key) {
  const std::string open = "\"" + key + "\":\"";
  const auto at = line.find(open);
  if (at == std::string::npos) return {};
  const auto begin = at + open.size();
  return line.substr(begin, line.find('"', begin) - begin);
}

std::string with_member(std::string line, const std::string& key, const std::string& value) {
  const std::string open = "\"" + key + "\":\"";
  const auto begin = line.find(open) + open.size();
  return line.replace(begin, line.find('"', begin) - begin, value);
}

// ADR 0101: rewrites the first finding export file of the simulator's newest snapshot so
// that, of four devices with several findings in the middle of it, the first has one line
// with other content (the same finding), the second loses one line (a finding gone), the
// third gets a line of a new finding, and the fourth has one line with another
// lastSeenTimestamp than its other lines. The lines of the other devices are left alone.
// `to` becomes a copy of the store `from` without its finding digests: the same history,
// read next time by decoding every line.
void copy_without_finding_digests(const fs::path& from, const fs::path& to) {
  fs::remove(to);
  fs::copy_file(from, to);
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(to.c_str(), &handle), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(handle, "DELETE FROM finding_digest", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(handle);
}

void tamper_with_findings(const fs::path& cache) {
  fs::path newest;
  fs::file_time_type when{};
  for (const auto& e : fs::recursive_directory_iterator(cache)) {
    if (e.path().filename() == "manifest.json" && (newest.empty() || e.last_write_time() > when)) {
      newest = e.path().parent_path();
      when = e.last_write_time();
    }
  }
  ASSERT_FALSE(newest.empty());
  std::vector<fs::path> parts;
  for (const auto& e : fs::directory_iterator(newest / "VaExport")) parts.push_back(e.path());
  ASSERT_FALSE(parts.empty());
  std::sort(parts.begin(), parts.end());
  std::ifstream in(parts[0], std::ios::binary);
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  const auto text = mdesim::gunzip_string(raw);
  ASSERT_TRUE(text);
  std::vector<std::string> lines;
  for (std::size_t start = 0; start < text->size();) {
    const auto nl = text->find('\n', start);
    lines.push_back(text->substr(start, nl - start));
    start = nl == std::string::npos ? text->size() : nl + 1;
  }
  // Blocks of one device with at least four findings, away from the file's ends.
  std::vector<std::pair<std::size_t, std::size_t>> blocks;  // [begin, end)
  for (std::size_t i = 0; i < lines.size();) {
    std::size_t j = i;
    while (j < lines.size() && member_of(lines[j], "deviceId") == member_of(lines[i], "deviceId")) {
      ++j;
    }
    const auto findings =
        std::count_if(lines.begin() + static_cast<std::ptrdiff_t>(i),
                      lines.begin() + static_cast<std::ptrdiff_t>(j),
                      [](const auto& l) { return !member_of(l, "cveId").empty(); });
    if (i > 0 && j < lines.size() && findings >= 4) blocks.emplace_back(i, j);
    i = j;
  }
  ASSERT_GE(blocks.size(), 8U);
  // Every other one, from the back, so that the line numbers of the others stay.
  auto finding_in = [&](std::pair<std::size_t, std::size_t> b) {
    std::size_t k = b.second - 1;
    while (member_of(lines[k], "cveId").empty()) --k;
    return k;
  };
  const auto mixed = finding_in(blocks[6]);
  lines[mixed] =
      with_member(lines[mixed], "lastSeenTimestamp", member_of(lines[mixed], "firstSeenTimestamp"));
  const auto added = finding_in(blocks[4]);
  lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(added) + 1,
               with_member(lines[added], "cveId", "CVE-2099-0101"));
  lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(finding_in(blocks[2])));
  const auto changed = finding_in(blocks[0]);
  lines[changed] = with_member(lines[changed], "exploitabilityLevel",
                               member_of(lines[changed], "exploitabilityLevel") == "NoExploit"
                                   ? "ExploitIsPublic"
                                   : "NoExploit");
  std::string out;
  for (const auto& l : lines) {
    if (l.empty()) continue;
    out += l;
    out += '\n';
  }
  std::ofstream(parts[0], std::ios::binary | std::ios::trunc) << mdesim::gzip_string(out);
}

TEST_F(SyncE2E, FullSyncStoresExactlyTheGroundTruth) {
  start();
  const auto path = db("full");
  const auto s = run(config_for(path));
  ASSERT_EQ(s.outcome, "success") << describe(s);
  EXPECT_EQ(s.mode, "full");
  expect_ground_truth(path);
  // Every stored attribute of every object, against the world the simulator serves.
  testing_support::expect_store_matches_world(path, m_sim->world_json());
  const auto truth = m_sim->truth();
  // Rows without a CVE are counted and skipped, not stored.
  for (const auto& o : s.objects) {
    if (o.object == "vulnerability") {
      EXPECT_EQ(o.skipped_reasons.at("row without cveId"),
                static_cast<std::int64_t>(truth.null_cve_rows));
    }
  }
}

TEST_F(SyncE2E, RepeatedFullSyncOfAnUnchangedTenantWritesNothing) {
  start();
  const auto path = db("repeat");
  auto c = full_config_for(path);
  ASSERT_EQ(run(c).outcome, "success");
  const auto s = run(c);
  ASSERT_EQ(s.outcome, "success") << describe(s);
  for (const auto& o : s.objects) {
    EXPECT_EQ(o.written, 0) << o.object;
    EXPECT_EQ(o.closed, 0) << o.object;
    EXPECT_GT(o.unchanged, 0) << o.object;
  }
}

// The change feed refuses a start more than 14 days back in the service's time (the
// simulator does, as the service). A store whose last snapshot is that old, while its
// last sync completed recently by the local clock, reads the findings in full instead of
// failing the object.
TEST_F(SyncE2E, DeltaOlderThanTheChangeFeedAllowsReadsTheFindingsInFull) {
  start();
  const auto path = db("old");
  ASSERT_EQ(run(config_for(path)).outcome, "success");
  ASSERT_GT(m_sim->advance(15 * 24).events, 0U);
  const auto s = run(config_for(path));
  ASSERT_EQ(s.outcome, "success") << describe(s);
  EXPECT_EQ(s.mode, "delta");
  for (const auto& o : s.objects) {
    if (o.object != "vulnerability") continue;
    EXPECT_EQ(o.mode, "full");
    ASSERT_EQ(o.warnings.size(), 1U);
    EXPECT_NE(o.warnings[0].find("more than 14 days"), std::string::npos) << o.warnings[0];
  }
  expect_ground_truth(path);
}

TEST_F(SyncE2E, DeltaReachesTheNewTruthAndAgreesWithAFullSync) {
  start();
  const auto delta_db = db("delta");
  ASSERT_EQ(run(config_for(delta_db)).outcome, "success");
  const auto advanced = m_sim->advance(12);
  ASSERT_GT(advanced.events, 0U);

  const auto s = run(config_for(delta_db));
  ASSERT_EQ(s.outcome, "success") << describe(s);
  EXPECT_EQ(s.mode, "delta");
  expect_ground_truth(delta_db);

  // A full sync on a copy of the same store gives identical rows.
  const auto full_db = db("full-after-delta");
  fs::copy_file(delta_db, full_db);
  auto c = full_config_for(full_db);
  const auto f = run(c);
  ASSERT_EQ(f.outcome, "success") << describe(f);
  expect_ground_truth(full_db);
  for (const auto& o : f.objects) {
    if (o.object == "vulnerability") {
      EXPECT_EQ(o.closed, 0) << "the delta already closed every fixed finding";
    }
  }
  // Which event established a finding's state (delta) or which snapshot saw it (full)
  // differs by construction, and the delta export has no event for a finding that was
  // merely seen again, so lastFound advances on full reads only. Every other attribute
  // must agree.
  // Source-only fields that only one feed carries differ too (securityUpdateAvailable is
  // absent from change rows, isOnboarded present only there), and a definition's
  // exposedMachines counter is re-read only when the definition is updated.
  expect_same_rows(delta_db, full_db,
                   {{"vulnerability",
                     {"state_time", "source_status", "source_last_modified", "last_found",
                      "security_update_available", "is_onboarded"}},
                    {"vulnerability_definition", {"exposed_machines"}}});
}

const sync::ObjectSummary* object_of(const sync::RunSummary& s, const std::string& name) {
  for (const auto& o : s.objects) {
    if (o.object == name) return &o;
  }
  return nullptr;
}

TEST_F(SyncE2E, UnchangedDevicesAreNotDecodedAgainAndTheRowsMatchAFreshRead) {
  start();
  const auto path = db("kept");
  ASSERT_EQ(run(config_for(path)).outcome, "success");
  ASSERT_GT(m_sim->advance(12).events, 0U);
  const auto s = run(config_for(path));
  ASSERT_EQ(s.outcome, "success") << describe(s);
  const auto* ip = object_of(s, "installed_package");
  ASSERT_NE(ip, nullptr);
  // Most devices did not change: their lines were not decoded, their rows were kept.
  EXPECT_GT(ip->reused, ip->read / 2) << describe(s);
  EXPECT_LT(ip->reused, ip->read) << "some devices changed in 12 hours";
  EXPECT_GT(ip->written + ip->closed, 0) << describe(s);
  expect_ground_truth(path);

  // A fresh store at the same state has the same installed packages and the same package
  // version counts (rebuilt from the stored per-device contributions above).
  const auto fresh = db("fresh");
  const auto f = run(config_for(fresh));
  ASSERT_EQ(f.outcome, "success") << describe(f);
  EXPECT_EQ(object_of(f, "installed_package")->reused, 0);
  for (const std::string table : {"installed_package", "package"}) {
    const auto a = dump_table(path, table);
    const auto b = dump_table(fresh, table);
    EXPECT_EQ(a.size(), b.size()) << table;
    std::size_t shown = 0;
    for (const auto& [uid, row] : a) {
      const auto other = b.find(uid);
      if (other == b.end() || other->second != row) {
        if (shown++ < 3) {
          ADD_FAILURE() << table << " " << uid << " differs from a fresh read:"
                        << (other == b.end() ? std::string(" missing")
                                             : field_diff(row, other->second));
        }
      }
    }
  }
}

// ADR 0068: a full read does not decode the finding lines of a device whose block is the
// one its last full read stored, unless an event changed its findings since. The store
// it leaves (findings, their lifecycle, and the definitions whose recommendation
// attributes come from the findings' links) is the one the same history gives when every
// line is decoded.
TEST_F(SyncE2E, UnchangedDevicesFindingsAreNotDecodedAgainAndTheStoreMatchesADecodedRead) {
  start();
  const auto kept = db("findings-kept");
  ASSERT_EQ(run(config_for(kept)).outcome, "success");
  ASSERT_GT(m_sim->advance(12).events, 0U);
  // A delta applies events: the devices they touch are decoded at the next full read.
  const auto d = run(config_for(kept));
  ASSERT_EQ(d.mode, "delta");
  ASSERT_EQ(d.outcome, "success") << describe(d);
  m_sim->advance(1);

  // The same history with no digests: every line is decoded.
  const auto decoded = db("findings-decoded");
  fs::copy_file(kept, decoded);
  ASSERT_EQ(query_int(decoded, "SELECT count(*) FROM finding_digest") > 0, true);
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(decoded.c_str(), &handle), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(handle, "DELETE FROM finding_digest", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(handle);

  auto c = full_config_for(kept);
  const auto s = run(c);
  ASSERT_EQ(s.outcome, "success") << describe(s);
  const auto* v = object_of(s, "vulnerability");
  ASSERT_NE(v, nullptr);
  EXPECT_GT(v->reused, 0) << describe(s);
  EXPECT_LT(v->reused, v->read) << "the delta's devices were decoded";
  expect_ground_truth(kept);

  auto c2 = full_config_for(decoded);
  const auto f = run(c2);
  ASSERT_EQ(f.outcome, "success") << describe(f);
  EXPECT_EQ(object_of(f, "vulnerability")->reused, 0);
  EXPECT_EQ(object_of(f, "vulnerability")->closed, v->closed);
  expect_same_rows(kept, decoded);
}

// ADR 0100: a full read a day after the last one finds most devices' finding lines
// changed only in their lastSeenTimestamp. They are not decoded: their open findings take
// the new lastFound in one statement. The store (every attribute of every row, the
// history of each finding) is the one the same history gives when every line is decoded,
// and stays so a day later again (the rows whose hash was cleared).
TEST_F(SyncE2E, ADayLaterFullMovesLastFoundWithoutDecodingAndMatchesADecodedRead) {
  start();
  const auto kept = db("day-kept");
  const auto decoded = db("day-decoded");
  auto c = full_config_for(kept);
  auto c2 = full_config_for(decoded);
  ASSERT_EQ(run(c).outcome, "success");
  for (int day = 1; day <= 2; ++day) {
    ASSERT_GT(m_sim->advance(24).events, 0U);
    // The same history with no digests: every line is decoded.
    copy_without_finding_digests(kept, decoded);

    const auto s = run(c);
    ASSERT_EQ(s.outcome, "success") << describe(s);
    const auto* v = object_of(s, "vulnerability");
    ASSERT_NE(v, nullptr);
    // Many devices' lines were skipped although every active device's lastSeenTimestamp
    // moved (on this small tenant a day changes the findings of about half the devices);
    // the devices whose findings changed were decoded.
    EXPECT_GT(v->reused, v->read / 3) << "day " << day << "\n" << describe(s);
    EXPECT_LT(v->reused, v->read) << "day " << day;
    const auto f = run(c2);
    ASSERT_EQ(f.outcome, "success") << describe(f);
    const auto* fv = object_of(f, "vulnerability");
    EXPECT_EQ(fv->reused, 0);
    // The findings whose lastFound moved are written, as decoding them writes them. (On
    // the second day the decoded copy also rewrites the rows whose hash the first day
    // cleared, unchanged or not.)
    if (day == 1) {
      EXPECT_EQ(v->written, fv->written);
      EXPECT_EQ(v->unchanged, fv->unchanged);
    }
    EXPECT_EQ(v->written + v->unchanged, fv->written + fv->unchanged) << "day " << day;
    EXPECT_EQ(v->closed, fv->closed) << "day " << day;
    EXPECT_GT(v->written, v->reused / 2) << "day " << day;
    expect_ground_truth(kept);
    expect_same_rows(kept, decoded);
    // A lastFound that moved records no history (ADR 0074): the same events in both.
    const std::string events =
        "SELECT e.finding || ' ' || e.event || ' ' || coalesce(e.event_time, '') || ' ' || "
        "e.severity || ' ' || coalesce(h.rbac_group_name, '-') || ' ' || "
        "coalesce(f.rbac_group_name, "
        "'-') FROM vulnerability_event e JOIN vulnerability_host_context h ON h.id = "
        "e.host_context LEFT JOIN vulnerability_host_context f ON f.id = e.from_host_context "
        "ORDER BY 1";
    const auto ev_kept = query_strings(kept, events);
    const auto ev_decoded = query_strings(decoded, events);
    EXPECT_EQ(ev_kept.size(), ev_decoded.size()) << "day " << day;
    for (std::size_t i = 0, shown = 0; i < std::min(ev_kept.size(), ev_decoded.size()); ++i) {
      if (ev_kept[i] != ev_decoded[i] && shown++ < 5) {
        ADD_FAILURE() << "day " << day << " event " << i << ": " << ev_kept[i] << " <> "
                      << ev_decoded[i];
      }
    }
  }
}

// ADR 0101: of the devices whose findings changed in a day, only the lines with new
// content are decoded; the device's other findings take the new lastFound in one
// statement. The store is the one the same history gives when every line is decoded, with
// these cases besides the simulator's own changes: a line with other content among
// unchanged ones, a line gone, a line added, and a device whose lines have two
// lastSeenTimestamp values; a week later too.
TEST_F(SyncE2E, OnlyChangedFindingLinesAreDecodedAndTheStoreMatchesADecodedRead) {
  start();
  const auto kept = db("lines-kept");
  const auto decoded = db("lines-decoded");
  auto c = full_config_for(kept);
  auto c2 = full_config_for(decoded);
  ASSERT_EQ(run(c).outcome, "success");
  for (const int hours : {24, 24 * 7}) {
    ASSERT_GT(m_sim->advance(hours).events, 0U);
    tamper_with_findings(m_dir / "sim-cache");
    copy_without_finding_digests(kept, decoded);

    const auto s = run(c);
    ASSERT_EQ(s.outcome, "success") << describe(s);
    const auto* v = object_of(s, "vulnerability");
    ASSERT_NE(v, nullptr);
    EXPECT_TRUE(v->warnings.empty()) << describe(s);
    const auto f = run(c2);
    ASSERT_EQ(f.outcome, "success") << describe(f);
    const auto* fv = object_of(f, "vulnerability");
    EXPECT_EQ(fv->reused, 0);
    if (hours == 24) {
      // Most lines were not decoded although most devices of this small tenant had a
      // finding changed in a day.
      EXPECT_GT(v->reused, v->read / 2) << describe(s);
      // Devices of which some lines were decoded and the others kept: their open findings
      // are partly rewritten (a row hash) and partly follow the device's new lastFound
      // (ADR 0110: no known row hash). Reading a device whole does one or the other.
      EXPECT_GT(query_int(kept,
                          "SELECT count(*) FROM (SELECT targets FROM vulnerability WHERE "
                          "status_category = 'Open' GROUP BY targets HAVING sum(row_hash IS "
                          "NULL) > 0 AND sum(row_hash IS NOT NULL) > 0)"),
                0);
    }
    EXPECT_GT(v->reused, 0) << hours << " h\n" << describe(s);
    EXPECT_EQ(v->read, fv->read) << hours << " h";
    EXPECT_EQ(v->closed, fv->closed) << hours << " h";
    EXPECT_GT(v->closed, 0) << hours << " h";
    EXPECT_EQ(v->read, v->written + v->unchanged + v->skipped + v->merged + v->stale + v->paired +
                           v->reused_without_row)
        << hours << " h";
    if (hours == 24) {
      // The findings whose lastFound moved are written, as decoding them writes them.
      EXPECT_EQ(v->written, fv->written);
      EXPECT_EQ(v->unchanged, fv->unchanged);
    }
    expect_same_rows(kept, decoded);
    const std::string events =
        "SELECT e.finding || ' ' || e.event || ' ' || coalesce(e.event_time, '') || ' ' || "
        "e.severity || ' ' || coalesce(h.rbac_group_name, '-') FROM vulnerability_event e JOIN "
        "vulnerability_host_context h ON h.id = e.host_context ORDER BY 1";
    EXPECT_EQ(query_strings(kept, events), query_strings(decoded, events)) << hours << " h";
  }
}

// ADR 0111's safety net: when the findings that the digests name gone are not the stored
// ones (a store edited by hand: every finding's uid changed), the store closes none of
// them, and the read is done again decoding every line, with a warning that says why. The
// store is then the one a read that decodes every line gives.
TEST_F(SyncE2E, GoneFindingsTheStoreDoesNotHaveMakeTheReadDecodeEveryLine) {
  start();
  const auto kept = db("gone-kept");
  const auto decoded = db("gone-decoded");
  auto c = full_config_for(kept);
  auto c2 = full_config_for(decoded);
  ASSERT_EQ(run(c).outcome, "success");
  ASSERT_GT(m_sim->advance(24).events, 0U);
  tamper_with_findings(m_dir / "sim-cache");
  {
    sqlite3* handle = nullptr;
    ASSERT_EQ(sqlite3_open(kept.c_str(), &handle), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(handle,
                           "UPDATE vulnerability_item SET uid_suffix = uid_suffix || '-edited' "
                           "WHERE substr(uid_suffix, 1, 1) <> char(1)",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(handle);
  }
  copy_without_finding_digests(kept, decoded);

  const auto s = run(c);
  ASSERT_EQ(s.outcome, "success") << describe(s);
  const auto* v = object_of(s, "vulnerability");
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(v->warnings.size(), 1U) << describe(s);
  EXPECT_NE(v->warnings[0].find("whose lines are gone were closed where the finding digests name"),
            std::string::npos)
      << v->warnings[0];
  EXPECT_EQ(v->reused, 0);
  const auto f = run(c2);
  ASSERT_EQ(f.outcome, "success") << describe(f);
  const auto* fv = object_of(f, "vulnerability");
  EXPECT_EQ(v->read, fv->read);
  EXPECT_EQ(v->written, fv->written);
  EXPECT_EQ(v->closed, fv->closed);
  expect_same_rows(kept, decoded);
}

// A recommendations outage (every retry answered 503) does not erase what the last run
// learned: the definitions keep their stored patchAvailable, affected and recommendation,
// and the summary says so.
TEST_F(SyncE2E, RecommendationsOutageKeepsTheStoredRecommendationAttributes) {
  start();
  const auto path = db("recs");
  ASSERT_EQ(run(config_for(path)).outcome, "success");
  const std::string attrs =
      "SELECT uid || '|' || coalesce(patch_available, 'null') || '|' || coalesce(affected, "
      "'null') || '|' || coalesce(recommendation, 'null') FROM vulnerability_definition ORDER BY "
      "uid";
  const auto before = query_strings(path, attrs);
  ASSERT_GT(query_int(path,
                      "SELECT count(*) FROM vulnerability_definition WHERE "
                      "recommendation IS NOT NULL"),
            0);
  mdesim::Faults f;
  f.errors.push_back({"recommendations.list", 503, 50, 0});
  m_sim->add_faults(f);
  auto c = full_config_for(path);
  c.objects = {"vulnerability_definition"};
  const auto s = run(c);
  ASSERT_EQ(s.outcome, "success") << describe(s);
  const auto* d = object_of(s, "vulnerability_definition");
  ASSERT_NE(d, nullptr);
  ASSERT_EQ(d->warnings.size(), 2U) << describe(s);
  EXPECT_NE(d->warnings[1].find("kept their stored recommendation"), std::string::npos);
  EXPECT_EQ(query_strings(path, attrs), before);
}

// Package versions are counted from the inventory export: when that read fails, the
// package object fails too and keeps its last good rows, with or without installed
// packages selected.
TEST_F(SyncE2E, PackagesFailAndKeepTheirRowsWhenTheInventoryReadFails) {
  start();
  const auto path = db("inventory-fails");
  ASSERT_EQ(run(config_for(path)).outcome, "success");
  m_sim->advance(6);
  const auto before = dump_table(path, "package");
  for (const bool with_installed : {true, false}) {
    SCOPED_TRACE(with_installed);
    mdesim::Faults f;
    f.truncated_gzip = 1000;  // every inventory download, every retry
    m_sim->add_faults(f);
    auto c = full_config_for(path);
    c.objects = with_installed ? std::vector<std::string>{"installed_package", "package"}
                               : std::vector<std::string>{"package"};
    const auto s = run(c);
    EXPECT_NE(s.outcome, "success") << describe(s);
    const auto* p = object_of(s, "package");
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->outcome, "failed") << describe(s);
    EXPECT_NE(p->error.find("software inventory"), std::string::npos) << p->error;
    EXPECT_EQ(dump_table(path, "package"), before);
    m_sim->clear_faults();
  }
}

TEST_F(SyncE2E, ADeviceWhoseLinesAreNotAdjacentMakesTheInventoryBeReadAgainInFull) {
  start();
  const auto path = db("stray");
  ASSERT_EQ(run(config_for(path)).outcome, "success");
  // Every file repeats its middle line at its end: that device's unchanged block would be
  // skipped, then its stray line met again.
  mdesim::Faults f;
  f.stray_row = 1000;
  m_sim->add_faults(f);
  auto c = full_config_for(path);
  c.objects = {"installed_package", "package"};
  const auto s = run(c);
  ASSERT_EQ(s.outcome, "success") << describe(s);
  const auto* ip = object_of(s, "installed_package");
  EXPECT_EQ(ip->reused, 0) << describe(s);
  ASSERT_EQ(ip->warnings.size(), 1U) << describe(s);
  EXPECT_NE(ip->warnings[0].find("not all in one block"), std::string::npos) << ip->warnings[0];
  EXPECT_EQ(ip->closed, 0);
  EXPECT_EQ(ip->written, 0) << "the stray line repeats a row already read";
  m_sim->clear_faults();

  // The repeated line is the same installation again: the rollback-and-reread gives the
  // fault-free counts (a device counts each version once, whatever its blocks).
  const auto fresh = db("fresh");
  ASSERT_EQ(run(config_for(fresh)).outcome, "success");
  for (const std::string table : {"installed_package", "package"}) {
    EXPECT_EQ(dump_table(path, table), dump_table(fresh, table)) << table;
  }
  // Without the fault, the devices met once in a whole block are skipped again.
  const auto again = run(c);
  ASSERT_EQ(again.outcome, "success") << describe(again);
  EXPECT_GT(object_of(again, "installed_package")->reused, 0) << describe(again);
  for (const std::string table : {"installed_package", "package"}) {
    EXPECT_EQ(dump_table(path, table), dump_table(fresh, table)) << table;
  }
}

TEST_F(SyncE2E, ApplyingTheSameDeltaTwiceChangesNothing) {
  start();
  const auto path = db("twice");
  ASSERT_EQ(run(config_for(path)).outcome, "success");
  m_sim->advance(6);
  ASSERT_EQ(run(config_for(path)).outcome, "success");
  const auto before = dump_table(path, "vulnerability");
  const auto s = run(config_for(path));
  ASSERT_EQ(s.outcome, "success") << describe(s);
  EXPECT_EQ(s.mode, "delta");
  EXPECT_EQ(dump_table(path, "vulnerability"), before);
  expect_ground_truth(path);
}

TEST_F(SyncE2E, AnApiStrategyReadForgetsTheInventoryDigests) {
  start();
  const auto path = db("mixed");
  ASSERT_EQ(run(config_for(path, "export")).outcome, "success");
  auto api = full_config_for(path, "api");
  ASSERT_EQ(run(api).outcome, "success");
  // The api strategy rewrote the installed packages without the inventory's fields: the
  // next export read must rebuild every device instead of keeping those rows.
  auto c = full_config_for(path, "export");
  const auto s = run(c);
  ASSERT_EQ(s.outcome, "success") << describe(s);
  EXPECT_EQ(object_of(s, "installed_package")->reused, 0) << describe(s);
  const auto fresh = db("fresh");
  ASSERT_EQ(run(config_for(fresh, "export")).outcome, "success");
  EXPECT_EQ(dump_table(path, "installed_package"), dump_table(fresh, "installed_package"));
}

TEST_F(SyncE2E, ExportAndApiStrategiesProduceTheSameRows) {
  start();
  const auto export_db = db("export");
  const auto api_db = db("api");
  auto e = run(config_for(export_db, "export"));
  ASSERT_EQ(e.outcome, "success") << describe(e);
  auto a = run(config_for(api_db, "api"));
  ASSERT_EQ(a.outcome, "success") << describe(a);
  expect_ground_truth(api_db);
  // Only the inventory carries installed versions, first-seen, end-of-support and the
  // evidence and group fields; JSON pages carry no snapshot time.
  expect_same_rows(export_db, api_db,
                   {{"installed_package",
                     {"version", "first_seen", "end_of_support_status", "end_of_support_date",
                      "rbac_group_id", "disk_paths", "registry_paths", "number_of_weaknesses",
                      // the inventory names a device without a group "Unassigned", a
                      // machine reference leaves it null (docs/api.md, "Software")
                      "rbac_group_name"}},
                    {"vulnerability", {"state_time"}}});
  // The api strategy costs more calls: one per software and recommendation.
  EXPECT_GT(a.http_calls, e.http_calls);
}

TEST_F(SyncE2E, OperationOptionsFilterWhatTheyShould) {
  start();
  const auto all_db = db("all");
  ASSERT_EQ(run(config_for(all_db)).outcome, "success");

  const auto filtered_db = db("filtered");
  auto c = config_for(filtered_db);
  c.filters["machine"]["healthStatus"] = {"Active"};
  c.filters["vulnerability"]["severity"] = {"Critical", "High"};
  c.filters["package"]["vendor"] = {"microsoft"};
  c.filters["installed_package"]["vendor"] = {"microsoft"};
  c.filters["vulnerability_definition"]["cvssV3"] = {"7.0"};
  const auto s = run(c);
  ASSERT_EQ(s.outcome, "success") << describe(s);

  auto count = [](const std::string& path, const std::string& sql) { return query_int(path, sql); };
  EXPECT_EQ(count(filtered_db, "SELECT count(*) FROM host"),
            count(all_db, "SELECT count(*) FROM host WHERE source_status = 'Active'"));
  EXPECT_EQ(count(filtered_db, "SELECT count(*) FROM host WHERE source_status <> 'Active'"), 0);
  EXPECT_EQ(
      count(filtered_db, "SELECT count(*) FROM vulnerability"),
      count(all_db, "SELECT count(*) FROM vulnerability WHERE severity IN ('Critical','High')"));
  EXPECT_GT(count(filtered_db, "SELECT count(*) FROM vulnerability"), 0);
  EXPECT_EQ(
      count(filtered_db, "SELECT count(*) FROM package"),
      count(all_db, "SELECT count(*) FROM package WHERE uid LIKE 'microsoft-\\_-%' ESCAPE '\\'"));
  EXPECT_EQ(
      count(filtered_db, "SELECT count(*) FROM installed_package"),
      count(
          all_db,
          "SELECT count(*) FROM installed_package WHERE type LIKE 'microsoft-\\_-%' ESCAPE '\\'"));
  EXPECT_EQ(count(filtered_db, "SELECT count(*) FROM vulnerability_definition"),
            count(all_db,
                  "SELECT count(*) FROM vulnerability_definition WHERE cvss_v3_base_score >= 7.0"));
  EXPECT_EQ(count(filtered_db,
                  "SELECT count(*) FROM vulnerability_definition WHERE cvss_v3_base_score < 7.0"),
            0);
}

TEST_F(SyncE2E, UnknownFilterKeyIsAConfigurationErrorBeforeAnyRequest) {
  start();
  auto c = config_for(db("badfilter"));
  c.filters["vulnerability"]["colour"] = {"red"};
  auto store = store::open_store(c.store, {true, false});
  ASSERT_TRUE(store);
  auto client = defender::Client::create(c);
  ASSERT_TRUE(client);
  m_sim->reset_stats();
  sync::Engine engine(c, {store->get(), client->get(), nullptr, {}, nullptr});
  auto r = engine.run();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::config);
  EXPECT_NE(r.error().message.find("colour"), std::string::npos) << r.error().message;
  std::uint64_t requests = 0;
  for (const auto& [name, st] : m_sim->stats()) requests += st.total;
  EXPECT_EQ(requests, 0U);
}

TEST_F(SyncE2E, RecoverableFaultsLeaveTheSameStoreAsAFaultFreeRun) {
  start();
  const auto clean_db = db("clean");
  ASSERT_EQ(run(config_for(clean_db)).outcome, "success");

  mdesim::Faults f;
  f.errors.push_back({"*", 429, 3, 1});
  f.errors.push_back({"*", 503, 2, 1});
  f.errors.push_back({"*", 500, 1, 0});
  f.reset_connection = 2;
  f.expire_tokens = true;
  f.expired_sas = 1;
  f.duplicate_rows = 1;
  f.extra_fields = 2;
  f.pascal_case_keys = 1;
  f.empty_export_file = 1;
  m_sim->add_faults(f);
  const auto faulty_db = db("faulty");
  auto c = config_for(faulty_db);
  c.max_retries = 12;  // every fault lands on the first request until it is used up
  const auto s = run(c);
  ASSERT_EQ(s.outcome, "success") << describe(s);
  std::uint64_t retries = 0, throttled = 0;
  for (const auto& o : s.objects) {
    retries += o.retries;
    throttled += o.throttled;
  }
  EXPECT_GE(throttled, 3U);
  EXPECT_GE(retries, 6U);
  expect_same_rows(clean_db, faulty_db);
}

// A connection cut inside the delta feed's page is read again (issue 27, item 2): the
// delta applies exactly the events a fault-free delta applies.
TEST_F(SyncE2E, ResetInsideTheDeltaFeedLeavesTheSameStoreAsAFaultFreeDelta) {
  start();
  const auto clean_db = db("clean");
  ASSERT_EQ(run(config_for(clean_db)).outcome, "success");
  const auto faulty_db = db("faulty");
  fs::copy_file(clean_db, faulty_db);
  ASSERT_GT(m_sim->advance(12).events, 0U);

  const auto clean = run(config_for(clean_db));
  ASSERT_EQ(clean.outcome, "success") << describe(clean);
  mdesim::Faults f;
  f.reset_endpoint = "export.vulnerabilities.delta";
  f.reset_connection = 2;
  f.reset_after_bytes = 700;  // inside the first rows
  m_sim->add_faults(f);
  const auto faulty = run(config_for(faulty_db));
  ASSERT_EQ(faulty.outcome, "success") << describe(faulty);
  bool saw = false;
  for (const auto& o : faulty.objects) {
    if (o.object != "vulnerability") continue;
    saw = true;
    EXPECT_EQ(o.mode, "delta");
  }
  EXPECT_TRUE(saw);
  EXPECT_EQ(faulty.retries, 2U) << "the run summary counts the pages read again";
  EXPECT_EQ(m_sim->pending_faults().reset_connection, 0U) << "both cuts were served";
  expect_same_rows(clean_db, faulty_db);
  expect_ground_truth(faulty_db);
}

TEST_F(SyncE2E, UnrecoverableFaultsFailClearlyAndKeepTheLastGoodState) {
  start();
  const auto path = db("good");
  ASSERT_EQ(run(config_for(path)).outcome, "success");
  m_sim->advance(6);
  std::map<std::string, std::map<std::string, std::string>> before;
  for (const auto& t : k_tables) before[t] = dump_table(path, t);

  for (int which = 0; which < 2; ++which) {
    mdesim::Faults f;
    if (which == 0) f.malformed_json_line = 1;
    if (which == 1) f.truncated_gzip = 1000;  // every download and every retry
    m_sim->add_faults(f);
    auto c = config_for(path);
    c.objects = {"machine", "installed_package"};
    const auto s = run(c);
    EXPECT_EQ(s.outcome, "partial") << describe(s);
    for (const auto& o : s.objects) {
      if (o.object != "installed_package") continue;
      EXPECT_EQ(o.outcome, "failed");
      EXPECT_NE(o.error.find(which == 0 ? "line" : "truncated"), std::string::npos) << o.error;
      EXPECT_EQ(o.error.find("sig="), std::string::npos)
          << "no SAS signature in messages: " << o.error;
    }
    EXPECT_EQ(dump_table(path, "installed_package"), before["installed_package"]);
    m_sim->clear_faults();
  }

  for (const auto& t : k_tables) before[t] = dump_table(path, t);
  auto wrong = config_for(path);
  wrong.client_secret = config::Secret("not-the-secret");
  const auto s = run(wrong);
  EXPECT_EQ(s.outcome, "failed") << describe(s);
  ASSERT_FALSE(s.objects.empty());
  EXPECT_EQ(s.objects.front().error_code, "auth");
  EXPECT_NE(s.objects.front().error.find("7000215"), std::string::npos) << s.objects.front().error;
  EXPECT_EQ(sync::to_json(s).find("not-the-secret"), std::string::npos);
  for (const auto& t : k_tables) EXPECT_EQ(dump_table(path, t), before[t]) << t;
}

// The progress line must not sit still without saying why: once an object's rows are
// all read, one report says the store is committing (a first load builds its indexes).
TEST_F(SyncE2E, EachObjectReportsOnceThatItIsCommittingAfterItsLastRows) {
  start();
  std::vector<sync::Progress> seen;
  const auto s =
      run(config_for(db("progress")), nullptr, [&](const sync::Progress& p) { seen.push_back(p); });
  ASSERT_EQ(s.outcome, "success") << describe(s);
  for (const auto& o : s.objects) {
    std::vector<const sync::Progress*> mine;
    for (const auto& p : seen) {
      if (p.object == o.object) mine.push_back(&p);
    }
    ASSERT_FALSE(mine.empty()) << o.object;
    EXPECT_TRUE(mine.back()->finishing) << o.object;
    EXPECT_EQ(std::count_if(mine.begin(), mine.end(), [](const auto* p) { return p->finishing; }),
              1)
        << o.object;
    EXPECT_EQ(mine.back()->rows, o.read) << o.object;
  }
}

TEST_F(SyncE2E, InterruptedSyncRollsBackTheObjectInFlightAndTheNextRunCompletes) {
  start();
  const auto path = db("interrupted");
  util::CancelToken cancel;
  const auto s = run(config_for(path), &cancel, [&](const sync::Progress& p) {
    if (p.object == "vulnerability" && p.rows > 0) cancel.cancel();
  });
  EXPECT_EQ(s.outcome, "interrupted") << describe(s);
  // What committed before stays; the object in flight left nothing.
  EXPECT_GT(query_int(path, "SELECT count(*) FROM host"), 0);
  EXPECT_EQ(query_int(path, "SELECT count(*) FROM vulnerability"), 0);
  EXPECT_EQ(query_int(path, "SELECT count(*) FROM checkpoint WHERE object = 'vulnerability'"), 0);

  const auto next = run(config_for(path));
  ASSERT_EQ(next.outcome, "success") << describe(next);
  EXPECT_EQ(next.mode, "full");
  expect_ground_truth(path);
}

TEST_F(CliE2E, SyncPrintsTheSummaryAndExitsZero) {
  start();
  const auto path = db("cli");
  auto args = base_args(path);
  args.emplace_back("--json");
  const auto p = cli(args, m_sim->credentials().client_secret);
  ASSERT_EQ(p.status, 0) << p.err;
  EXPECT_NE(p.out.find("\"outcome\":\"success\""), std::string::npos) << p.out;
  expect_ground_truth(path);
}

// What a user sees on a terminal: a progress line per object that says when it is
// committing, and log lines that erase it first instead of running into its text.
TEST_F(CliE2E, OnATerminalLogLinesNeverRunIntoTheProgressLine) {
  start();
  int master = -1;
  int slave = -1;
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  const auto args = base_args(db("terminal"));
  const auto out = (m_dir / "out.txt").string();
  const std::string secret = m_sim->credentials().client_secret;
  const Exec e = prepare_exec(args, secret);
  const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const pid_t pid = fork();
  if (pid == 0) {
    ::close(master);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(slave, STDERR_FILENO);
    ::close(slave);
    exec_cli(e);
  }
  ::close(out_fd);
  ::close(slave);
  std::string tty;  // everything written to the terminal, read as it comes
  std::array<char, 4096> buf{};
  for (;;) {
    const auto n = ::read(master, buf.data(), buf.size());
    if (n <= 0) break;  // EIO once the CLI has exited and closed the terminal
    tty.append(buf.data(), static_cast<std::size_t>(n));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(master);
  ASSERT_TRUE(WIFEXITED(status)) << tty;
  EXPECT_EQ(WEXITSTATUS(status), 0) << tty;
  EXPECT_NE(tty.find("vulnerability: "), std::string::npos) << tty;
  EXPECT_NE(tty.find("rows read, committing to the store"), std::string::npos) << tty;
  // Each log line ("info: machine: 10 read, ...") starts by erasing the line.
  const std::string erase = "\r\033[K";
  std::size_t lines = 0;
  for (auto at = tty.find("info\033[m: "); at != std::string::npos;
       at = tty.find("info\033[m: ", at + 1)) {
    ++lines;
    const auto start = tty.rfind(erase, at);
    ASSERT_NE(start, std::string::npos) << tty;
    // Between the erase and the level only its colour may stand.
    EXPECT_EQ(tty.substr(start + erase.size(), at - start - erase.size()), "\033[32m")
        << tty.substr(start, at - start + 40);
  }
  EXPECT_GE(lines, 5U) << tty;  // at least one per object
}

TEST_F(CliE2E, StatusAndExportShowWhatTheSyncStored) {
  start();
  const auto path = db("export");
  ASSERT_EQ(cli(base_args(path), m_sim->credentials().client_secret).status, 0);
  const auto status = cli({MDESYNC_BINARY, "status", "--store", "sqlite:" + path, "--json"}, "");
  ASSERT_EQ(status.status, 0) << status.err;
  EXPECT_NE(status.out.find("\"outcome\":\"success\""), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("\"object\":\"vulnerability\""), std::string::npos) << status.out;

  const auto open = cli({MDESYNC_BINARY, "export", "vulnerability", "--store", "sqlite:" + path,
                         "--where", "statusCategory=Open"},
                        "");
  ASSERT_EQ(open.status, 0) << open.err;
  const auto lines = static_cast<std::size_t>(std::count(open.out.begin(), open.out.end(), '\n'));
  EXPECT_EQ(lines, m_sim->truth().open_finding_keys.size());

  const auto csv =
      cli({MDESYNC_BINARY, "export", "host", "--store", "sqlite:" + path, "--format", "csv"}, "");
  ASSERT_EQ(csv.status, 0) << csv.err;
  EXPECT_EQ(static_cast<std::size_t>(std::count(csv.out.begin(), csv.out.end(), '\n')),
            m_sim->truth().machines + 1);  // header line
  EXPECT_EQ(csv.out.rfind("aadDeviceId,", 0), 0U) << csv.out.substr(0, 80);

  // --tenant-id names a PostgreSQL store's schema without a configuration (a SQLite
  // file is one tenant's): both readers take it.
  const auto tenant_status =
      cli({MDESYNC_BINARY, "status", "--store", "sqlite:" + path, "--tenant-id", "contoso"}, "");
  EXPECT_EQ(tenant_status.status, 0) << tenant_status.err;
  const auto tenant_export = cli(
      {MDESYNC_BINARY, "export", "package", "--store", "sqlite:" + path, "--tenant-id", "contoso"},
      "");
  EXPECT_EQ(tenant_export.status, 0) << tenant_export.err;

  const auto bad = cli({MDESYNC_BINARY, "export", "alerts", "--store", "sqlite:" + path}, "");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("unknown object 'alerts'"), std::string::npos) << bad.err;
}

// The same history synced into SQLite and into PostgreSQL (a schema of the test
// cluster, CTest fixture pg_cluster) exports byte-identical rows: a full sync (a first
// load on PostgreSQL), then a delta after the tenant changed, then a second full sync.
TEST_F(CliE2E, SqliteAndPostgresqlExportTheSameRowsForTheSameHistory) {
  const std::string base = test_pg_url();
  ASSERT_FALSE(base.empty()) << "no PostgreSQL test cluster (ctest fixture pg_cluster)";
  const std::string schema = "e2e_" + std::to_string(::getpid());
  auto drop = [&] { drop_pg_schema(base, schema); };
  drop();
  const std::string pg =
      base + (base.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema;
  const std::string lite = "sqlite:" + db("same");
  start();
  auto sync = [&](const std::string& store, const char* mode) {
    auto args = base_args(db("same"));
    *(std::find(args.begin(), args.end(), "--store") + 1) = store;
    args.insert(args.end(), {"--mode", mode});
    const auto p = cli(args, m_sim->credentials().client_secret);
    ASSERT_EQ(p.status, 0) << store << " " << mode << ": " << p.err;
  };
  auto same_exports = [&](const char* when) {
    for (const char* object :
         {"host", "package", "installed_package", "vulnerability", "vulnerability_definition"}) {
      const auto a = cli({MDESYNC_BINARY, "export", object, "--store", lite}, "");
      const auto b = cli({MDESYNC_BINARY, "export", object, "--store", pg}, "");
      ASSERT_EQ(a.status, 0) << a.err;
      ASSERT_EQ(b.status, 0) << b.err;
      EXPECT_FALSE(a.out.empty()) << when << " " << object;
      EXPECT_TRUE(a.out == b.out) << when << ": " << object << " exports differ";
    }
  };
  for (const auto& store : {lite, pg}) sync(store, "full");
  same_exports("after the first full sync");
  ASSERT_GT(m_sim->advance(12).events, 0U);
  for (const auto& store : {lite, pg}) sync(store, "delta");
  same_exports("after a delta");
  ASSERT_GT(m_sim->advance(12).events, 0U);
  for (const auto& store : {lite, pg}) sync(store, "full");
  same_exports("after a second full sync");
  drop();
}

// ADR 0100 and 0101 on both backends: a full a day after the last one, with most devices'
// lines skipped and of most others only the changed lines decoded, exports the rows SQLite
// stores when every line is decoded, byte for byte.
TEST_F(CliE2E, ADayLaterFullOnPostgresqlExportsTheRowsOfADecodedRead) {
  const std::string base = test_pg_url();
  ASSERT_FALSE(base.empty()) << "no PostgreSQL test cluster (ctest fixture pg_cluster)";
  const std::string schema = "e2e_day_" + std::to_string(::getpid());
  auto drop = [&] { drop_pg_schema(base, schema); };
  drop();
  const std::string pg =
      base + (base.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema;
  start();
  const auto lite = db("day-lite");
  const auto decoded = db("day-lite-decoded");
  auto c_lite = full_config_for(lite);
  auto c_pg = c_lite;
  c_pg.store = pg;
  auto c_decoded = full_config_for(decoded);
  ASSERT_EQ(run(c_lite).outcome, "success");
  ASSERT_EQ(run(c_pg).outcome, "success");
  ASSERT_GT(m_sim->advance(24).events, 0U);
  tamper_with_findings(m_dir / "sim-cache");  // lines changed, gone, added, mixed (ADR 0101)
  fs::copy_file(lite, decoded);
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(decoded.c_str(), &handle), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(handle, "DELETE FROM finding_digest", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(handle);
  const auto s = run(c_pg);
  ASSERT_EQ(s.outcome, "success") << describe(s);
  ASSERT_EQ(run(c_decoded).outcome, "success");
  for (const auto& o : s.objects) {
    if (o.object != "vulnerability") continue;
    EXPECT_GT(o.reused, o.read / 3) << describe(s);
    EXPECT_GT(o.written, o.reused / 2) << describe(s);
  }
  for (const char* object : {"vulnerability", "vulnerability_definition"}) {
    const auto a = cli({MDESYNC_BINARY, "export", object, "--store", "sqlite:" + decoded}, "");
    const auto b = cli({MDESYNC_BINARY, "export", object, "--store", pg}, "");
    ASSERT_EQ(a.status, 0) << a.err;
    ASSERT_EQ(b.status, 0) << b.err;
    EXPECT_FALSE(a.out.empty()) << object;
    EXPECT_TRUE(a.out == b.out) << object << " exports differ";
  }
  // No history for a moved lastFound: as many events as the decoded read recorded.
  PGconn* conn = PQconnectdb(base.c_str());
  PGresult* r = PQexec(conn, ("SELECT count(*) FROM " + schema + ".vulnerability_event").c_str());
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(conn);
  EXPECT_EQ(std::stoll(PQgetvalue(r, 0, 0)),
            query_int(decoded, "SELECT count(*) FROM vulnerability_event"));
  PQclear(r);
  PQfinish(conn);
  drop();
}

// While a writer holds the store (as the first sync of a new store does while it
// commits), status says a sync is writing it, not that the store does not exist.
TEST_F(CliE2E, StatusOnAStoreBeingWrittenSaysSo) {
  start();
  const auto path = db("locked");
  ASSERT_EQ(cli(base_args(path), m_sim->credentials().client_secret).status, 0);
  sqlite3* writer = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &writer), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(writer, "PRAGMA journal_mode = DELETE", nullptr, nullptr, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(writer, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  const auto status = cli({MDESYNC_BINARY, "status", "--store", "sqlite:" + path}, "");
  sqlite3_exec(writer, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(writer);
  EXPECT_EQ(status.status, 6) << status.err;
  EXPECT_NE(status.err.find("a sync is writing it"), std::string::npos) << status.err;
  EXPECT_EQ(status.err.find("first to create it"), std::string::npos) << status.err;
}

TEST_F(CliE2E, WrongSecretExitsWithTheAuthCodeAndNeverPrintsTheSecret) {
  start();
  const auto p = cli(base_args(db("wrong")), "Wr0ng-S3cret-Value");
  EXPECT_EQ(p.status, 4) << p.out << p.err;
  EXPECT_NE((p.out + p.err).find("AADSTS7000215"), std::string::npos) << p.out << p.err;
  EXPECT_EQ((p.out + p.err).find("Wr0ng-S3cret-Value"), std::string::npos);
}

// A run refused before it writes anything leaves no store behind: no empty, migrated
// file that a later `status` would take for a real one (issue 17, item 7).
TEST_F(CliE2E, ARunRefusedBeforeWritingCreatesNoStore) {
  start();
  const auto wrong_path = db("wrong-secret");
  const auto wrong = cli(base_args(wrong_path), "Wr0ng-S3cret-Value");
  EXPECT_EQ(wrong.status, 4) << wrong.err;
  EXPECT_FALSE(fs::exists(wrong_path));

  const auto filter_path = db("bad-filter");
  const auto toml = (m_dir / "bad-filter.toml").string();
  std::ofstream(toml) << "[filters.vulnerability]\ncolour = [\"red\"]\n";
  auto args = base_args(filter_path);
  args.insert(args.end(), {"--config", toml});
  const auto filter = cli(args, m_sim->credentials().client_secret);
  EXPECT_EQ(filter.status, 3) << filter.err;
  EXPECT_NE(filter.err.find("colour"), std::string::npos) << filter.err;
  EXPECT_FALSE(fs::exists(filter_path));

  const auto delta_path = db("no-base");
  args = base_args(delta_path);
  args.insert(args.end(), {"--mode", "delta"});
  const auto delta = cli(args, m_sim->credentials().client_secret);
  EXPECT_EQ(delta.status, 3) << delta.err;
  EXPECT_FALSE(fs::exists(delta_path));
}

// Exit 5 says "the others were stored"; a run that stored nothing must not say that.
TEST_F(CliE2E, ARunInWhichEveryObjectFailedExitsSeven) {
  start();
  mdesim::Faults f;
  f.errors.push_back({"*", 400, 100000, 0});  // every API call, not retried
  m_sim->add_faults(f);
  auto args = base_args(db("all-failed"));
  args.emplace_back("--json");
  const auto p = cli(args, m_sim->credentials().client_secret);
  EXPECT_EQ(p.status, 7) << p.out << p.err;
  EXPECT_NE(p.out.find("\"outcome\":\"failed\""), std::string::npos) << p.out;
}

TEST_F(CliE2E, BadInputThatUsedToPassSilentlyIsRefused) {
  start();
  // A directory as the config file, from the flag and from the environment.
  auto args = base_args(db("dir-config"));
  args.insert(args.end(), {"--config", m_dir.string()});
  auto p = cli(args, m_sim->credentials().client_secret);
  EXPECT_EQ(p.status, 3) << p.err;
  EXPECT_NE(p.err.find("is a directory"), std::string::npos) << p.err;
  ::setenv("MDESYNC_CONFIG", m_dir.c_str(), 1);
  p = cli(base_args(db("dir-config-env")), m_sim->credentials().client_secret);
  ::unsetenv("MDESYNC_CONFIG");
  EXPECT_EQ(p.status, 3) << p.err;
  EXPECT_NE(p.err.find("is a directory"), std::string::npos) << p.err;

  // An in-memory store would "succeed" and keep nothing.
  args = base_args(db("unused"));
  *(std::find(args.begin(), args.end(), "--store") + 1) = "sqlite::memory:";
  p = cli(args, m_sim->credentials().client_secret);
  EXPECT_EQ(p.status, 3) << p.err;
  EXPECT_NE(p.err.find("in-memory"), std::string::npos) << p.err;

  // An attribute no row has would export nothing and look like an empty store.
  p = cli({MDESYNC_BINARY, "export", "host", "--store", "sqlite:" + db("none"), "--where",
           "colour=red"},
          "");
  EXPECT_EQ(p.status, 2) << p.err;
  EXPECT_NE(p.err.find("'colour'"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("aadDeviceId"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("source.rbacGroupName"), std::string::npos) << p.err;
}

TEST_F(CliE2E, SecondSyncOnTheSameStoreIsRefused) {
  start();
  const auto path = db("locked");
  auto holder = store::open_store("sqlite:" + path, {true, false});
  ASSERT_TRUE(holder) << holder.error().message;
  const auto p = cli(base_args(path), m_sim->credentials().client_secret);
  EXPECT_EQ(p.status, 6) << p.err;
  EXPECT_NE(p.err.find("another `mdesync sync` is running"), std::string::npos) << p.err;
}

TEST_F(CliE2E, KilledMidExportThenTheNextRunCompletesToTheGroundTruth) {
  start();
  // Every export file download sends its first piece and then holds the rest until
  // clear_faults(): the run cannot get past the first export, whatever the timing.
  mdesim::Faults hold;
  hold.hold_endpoint = "download";
  hold.hold_body = 1000;
  m_sim->add_faults(hold);
  const auto path = db("killed");
  const pid_t pid = spawn(base_args(path), m_sim->credentials().client_secret);
  // Kill the process without warning once an export file is part way through its download
  // (machines, read from the OData list, are committed by then).
  for (int i = 0; i < 6000 && m_sim->held_bodies() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(m_sim->held_bodies(), 0U) << "no export file download began";
  ::kill(pid, SIGKILL);
  const auto killed = wait_for(pid);
  EXPECT_EQ(killed.status, 128 + SIGKILL);
  const auto committed = query_int(path, "SELECT count(*) FROM checkpoint");
  EXPECT_GE(committed, 1) << "killed before the first object committed";
  EXPECT_LT(committed, 5) << "killed after the run ended";
  m_sim->clear_faults();
  const auto p = cli(base_args(path), m_sim->credentials().client_secret);
  ASSERT_EQ(p.status, 0) << p.err;
  expect_ground_truth(path);
}

TEST_F(CliE2E, DeltaWithoutAnEarlierSyncIsRefusedWithAClearMessage) {
  start();
  auto args = base_args(db("nodelta"));
  args.insert(args.end(), {"--mode", "delta"});
  const auto p = cli(args, m_sim->credentials().client_secret);
  EXPECT_EQ(p.status, 3) << p.err;
  EXPECT_NE(p.err.find("run a full sync first"), std::string::npos) << p.err;
}

}  // namespace
}  // namespace mdesync
