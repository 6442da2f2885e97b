#pragma once

// The synthetic tenant: machines, products and their versions, installs, CVEs, device
// groups and the delta-event history. Everything is derived from WorldParams (seed
// included), and every 6-hour step is derived from the seed and the step number, so the
// world at a given simulator time is always the same.
//
// The class is defined by concern: world.cpp (accessors, aggregates, truth),
// world_generate.cpp (the world at its start), world_step.cpp (its evolution),
// world_json.cpp (OData entities), world_rows.cpp (export rows); world_catalog.hpp holds
// the catalogue it is drawn from.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim_util.hpp"
#include "simulator.hpp"

namespace mdesim {

struct Cve {
  std::string id;
  std::string severity;
  double cvss = 0;
  std::string vector;
  std::int64_t published = 0;
  std::int64_t updated = 0;
  bool public_exploit = false;
  bool exploit_verified = false;
  bool exploit_in_kit = false;
  std::vector<std::string> exploit_types;
  std::vector<std::string> exploit_uris;
  double epss = 0;
  std::string description;
  std::string supportability;
  std::uint32_t product = 0;
  std::uint16_t fixed_in = 0;  // affects versions < fixed_in (== versions.size(): unpatchable)
  std::string kb;              // fixing KB for Microsoft products, else empty
};

struct Product {
  std::string vendor;
  std::string name;
  std::string id;       // vendor-_-name
  std::string display;  // "Chrome"
  bool os = false;
  std::vector<std::string> versions;  // ascending; the last is the newest
  std::vector<std::vector<std::uint32_t>> version_cves;
  std::string eos_status = "None";
  std::int64_t eos_date = 0;  // 0 = null
  bool active_alert = false;
};

struct Install {
  std::uint32_t product = 0;
  std::uint16_t version = 0;
  std::int64_t first_seen = 0;
  // The version before the last patch and the time of that patch (0: never patched):
  // what a rollback reinstalls.
  std::uint16_t previous_version = 0;
  std::int64_t patched_at = 0;
};

struct NonCpe {
  std::string vendor;
  std::string name;
  std::string version;
};

struct Group {
  std::uint32_t id = 0;
  std::string name;
};

struct Machine {
  std::string id;
  std::string dns;
  std::string platform;
  std::string os_arch = "64-bit";
  std::string ipv4, ipv6, mac, external_ip;
  std::int64_t first_seen = 0;
  std::int64_t inactive_since = 0;  // 0 = active
  std::uint32_t group = 0;          // index into World::groups + 1; 0 = unassigned
  std::string risk, exposure, value;
  std::string aad;  // empty = null
  bool aad_joined = false;
  std::vector<std::string> tags;
  bool vm = false;
  std::string vm_id, subscription, resource_id;
  std::string merged_into;
  bool potential_dup = false;
  bool excluded = false;
  bool duplicate_record = false;  // a stale duplicate or merged record: no software
  std::string agent_version, managed_by;
  std::int64_t seen_offset = 0;  // seconds before the snapshot time of its last report
  std::uint32_t os_install = 0;  // index in installs of the OS product
  std::vector<Install> installs;
  std::vector<NonCpe> non_cpe;
};

enum class DeltaStatus : std::uint8_t { added, fixed, updated };

struct DeltaEvent {
  std::uint64_t seq = 0;
  std::int64_t time = 0;
  std::uint32_t machine = 0;
  std::uint32_t product = 0;
  std::uint32_t cve = 0;
  std::uint32_t group = 0;  // the machine's group when the event happened
  std::int64_t first_seen = 0;
  std::uint16_t version = 0;
  DeltaStatus status = DeltaStatus::added;
};

// One (machine, install, cve) finding, for machinesVulnerabilities.
struct FindingRef {
  std::uint32_t machine = 0;
  std::uint32_t install = 0;
  std::uint32_t cve = 0;
};

class World {
 public:
  explicit World(const WorldParams& params);

  // One 6-hour step: patches, upgrades, new CVEs, installs, group moves, onboarding.
  // Returns the number of delta events recorded.
  std::uint64_t step();

  [[nodiscard]] std::int64_t now() const { return m_now; }
  // Time the current export snapshot was generated (one minute after the 6-hour mark).
  [[nodiscard]] std::int64_t generated_time() const { return floor6h(m_now) + 60; }
  [[nodiscard]] const WorldParams& params() const { return m_params; }

  std::vector<Machine> machines;
  std::vector<Product> products;
  std::vector<Cve> cves;
  std::vector<Group> groups;
  std::vector<DeltaEvent> events;  // ascending time, 14 days kept

  // Aggregates, recomputed after each change (recompute()).
  std::vector<std::uint32_t> product_installs;
  std::vector<std::uint32_t> product_exposed;
  std::vector<std::uint32_t> product_weaknesses;
  std::vector<std::vector<std::uint32_t>> version_installs;
  std::vector<std::uint32_t> cve_exposed;
  std::vector<std::uint32_t> listed_products;       // products with >= 1 install
  std::vector<std::uint32_t> recommended_products;  // listed products with weaknesses
  std::vector<FindingRef> findings;
  void recompute();

  [[nodiscard]] bool vulnerable(const Install& in) const {
    return !products[in.product].version_cves[in.version].empty();
  }
  [[nodiscard]] std::int64_t finding_first_seen(const Install& in, const Cve& c) const {
    return std::max(in.first_seen, c.published);
  }
  [[nodiscard]] std::int64_t last_seen(const Machine& m) const {
    return m.inactive_since != 0 ? m.inactive_since : floor6h(m_now) - m.seen_offset;
  }
  [[nodiscard]] std::string group_name(const Machine& m) const;  // empty = null
  [[nodiscard]] std::string export_group_name(const Machine& m) const;
  [[nodiscard]] std::int64_t group_id(std::uint32_t group) const;
  [[nodiscard]] std::string os_version(const Machine& m) const;
  [[nodiscard]] std::string export_arch(const Machine& m) const;
  [[nodiscard]] bool in_exports(const Machine& m) const { return !m.duplicate_record; }

  // Entities as the OData endpoints show them.
  [[nodiscard]] nlohmann::ordered_json machine_json(std::uint32_t m) const;
  [[nodiscard]] nlohmann::ordered_json machine_ref_json(std::uint32_t m) const;
  [[nodiscard]] nlohmann::ordered_json software_json(std::uint32_t p) const;
  [[nodiscard]] nlohmann::ordered_json cve_json(std::uint32_t c, bool full) const;
  [[nodiscard]] nlohmann::ordered_json finding_json(const FindingRef& f) const;
  [[nodiscard]] nlohmann::ordered_json recommendation_json(std::uint32_t p) const;

  // Export rows as one JSON line each (no newline), camelCase, written by hand for speed.
  void vuln_row(std::string& out, std::uint32_t m, const Install& in, const Cve* c) const;
  void inventory_row(std::string& out, std::uint32_t m, const Install& in) const;
  void non_cpe_row(std::string& out, std::uint32_t m, const NonCpe& n) const;
  void delta_row(std::string& out, const DeltaEvent& e) const;

  [[nodiscard]] std::string finding_key(std::uint32_t m, const Install& in, const Cve& c) const;
  [[nodiscard]] Truth truth() const;

 private:
  // world_generate.cpp
  void generate();
  void make_products(Rng& rng);
  void add_duplicates(Rng& rng);
  Machine make_machine(std::uint32_t index, std::int64_t onboarded, Rng& rng);
  void add_installs(Machine& m, std::uint32_t index, Rng& rng);
  Install pick_install(std::uint32_t product, std::int64_t first_seen, Rng& rng) const;
  void make_cve(std::uint32_t index, std::uint32_t product, std::int64_t published, Rng& rng,
                bool all_versions);

  // world_step.cpp: the parts of one step, each drawing from the step's generator.
  [[nodiscard]] std::optional<std::uint32_t> random_live_machine(Rng& rng, std::uint32_t nm) const;
  void patch_one(Rng& rng, std::uint32_t nm);
  void publish_cve(Rng& rng, std::uint32_t nm);
  void rescore_cve(Rng& rng, std::uint32_t nm);
  void install_one(Rng& rng, std::uint32_t nm);
  void move_group(Rng& rng, std::uint32_t nm);
  void onboard_machine();
  void roll_back_one(Rng& rng, std::uint32_t nm);
  void emit(std::uint32_t m, const Install& in, std::uint32_t cve, DeltaStatus s);
  void emit_install(std::uint32_t m, const Install& in, DeltaStatus s);
  void emit_cve(std::uint32_t cve, std::uint32_t nm, DeltaStatus s);

  WorldParams m_params;
  std::int64_t m_now;
  std::uint64_t m_steps = 0;
  std::uint64_t m_serial = 0;
  std::uint64_t m_seq = 0;
  std::uint32_t m_app_begin = 0;  // first non-OS product
};

}  // namespace mdesim
