// The world's evolution: one 6-hour step of patches, upgrades, new and re-scored CVEs,
// new installs, group moves, machines going quiet, new machines and patches rolled back
// (findings that open again), each recorded as
// delta events; events older than 14 days are dropped.

#include <algorithm>

#include "cvss31.hpp"
#include "world.hpp"
#include "world_catalog.hpp"

namespace mdesim {

void World::emit(std::uint32_t m, const Install& in, std::uint32_t cve, DeltaStatus s) {
  DeltaEvent e;
  e.seq = m_seq++;
  e.time = m_now;
  e.machine = m;
  e.product = in.product;
  e.version = in.version;
  e.cve = cve;
  e.group = machines[m].group;
  e.first_seen = finding_first_seen(in, cves[cve]);
  e.status = s;
  events.push_back(e);
}

void World::emit_install(std::uint32_t m, const Install& in, DeltaStatus s) {
  for (std::uint32_t c : products[in.product].version_cves[in.version]) emit(m, in, c, s);
}

std::uint64_t World::step() {
  const std::size_t before = events.size();
  m_now = floor6h(m_now) + k_step;
  ++m_steps;
  Rng rng(hash_combine(m_params.seed, 0xa000000ULL + m_steps));
  const auto nm = static_cast<std::uint32_t>(machines.size());
  const std::uint32_t scale = std::max(1U, m_params.machines / 100);
  for (std::uint32_t k = 0; k < 2 * scale; ++k) patch_one(rng, nm);
  if (rng.chance(0.5) && !findings.empty()) publish_cve(rng, nm);
  if (rng.chance(0.3) && !findings.empty()) rescore_cve(rng, nm);
  for (std::uint32_t k = 0; k < scale; ++k) install_one(rng, nm);
  if (groups.size() > 1 && rng.chance(0.6)) move_group(rng, nm);
  // A machine stops reporting.
  if (rng.chance(0.3)) {
    if (auto mi = random_live_machine(rng, nm)) machines[*mi].inactive_since = m_now - 3600;
  }
  if (rng.chance(0.4)) onboard_machine();
  // Drawn from a generator of its own, so that the events above stay those of a world
  // without rollbacks.
  Rng rollbacks(hash_combine(m_params.seed, 0xb000000ULL + m_steps));
  if (rollbacks.chance(0.5)) roll_back_one(rollbacks, nm);
  // Keep 14 days and one bucket of events.
  const std::int64_t horizon = floor6h(m_now - 14 * k_day) - k_step;
  const auto keep = std::find_if(events.begin(), events.end(),
                                 [&](const DeltaEvent& e) { return e.time >= horizon; });
  const auto dropped = static_cast<std::size_t>(keep - events.begin());
  events.erase(events.begin(), keep);
  recompute();
  return events.size() + dropped - before;
}

std::optional<std::uint32_t> World::random_live_machine(Rng& rng, std::uint32_t nm) const {
  for (int tries = 0; tries < 20; ++tries) {
    const auto i = static_cast<std::uint32_t>(rng.below(nm));
    if (!machines[i].duplicate_record && machines[i].inactive_since == 0) return i;
  }
  return std::nullopt;
}

// Patching and upgrades: Fixed for the old version, New for the new one.
void World::patch_one(Rng& rng, std::uint32_t nm) {
  auto mi = random_live_machine(rng, nm);
  if (!mi) return;
  Machine& m = machines[*mi];
  std::vector<std::uint32_t> vulnerable_installs;
  for (std::uint32_t ii = 0; ii < m.installs.size(); ++ii) {
    if (vulnerable(m.installs[ii])) vulnerable_installs.push_back(ii);
  }
  if (vulnerable_installs.empty()) return;
  Install& in = m.installs[vulnerable_installs[rng.below(vulnerable_installs.size())]];
  const auto nv = static_cast<std::uint16_t>(products[in.product].versions.size());
  emit_install(*mi, in, DeltaStatus::fixed);
  in.previous_version = in.version;
  in.patched_at = m_now;
  in.version = rng.chance(0.5) ? static_cast<std::uint16_t>(nv - 1)
                               : static_cast<std::uint16_t>(std::min<int>(in.version + 1, nv - 1));
  emit_install(*mi, in, DeltaStatus::added);
}

// A patch rolled back in a later step: Fixed for the installed version, New for the one
// before the patch, whose findings (closed by the patch) open again.
void World::roll_back_one(Rng& rng, std::uint32_t nm) {
  for (int tries = 0; tries < 40; ++tries) {
    auto mi = random_live_machine(rng, nm);
    if (!mi) return;
    Machine& m = machines[*mi];
    for (Install& in : m.installs) {
      if (in.patched_at == 0 || in.patched_at >= m_now || in.previous_version == in.version) {
        continue;
      }
      emit_install(*mi, in, DeltaStatus::fixed);
      in.version = in.previous_version;
      in.patched_at = 0;
      emit_install(*mi, in, DeltaStatus::added);
      return;
    }
  }
}

// A new CVE against the older versions of an installed product.
void World::publish_cve(Rng& rng, std::uint32_t nm) {
  const FindingRef& f = findings[rng.below(findings.size())];
  const std::uint32_t prod = machines[f.machine].installs[f.install].product;
  const auto ci = static_cast<std::uint32_t>(cves.size());
  make_cve(ci, prod, m_now, rng, false);
  cves.back().fixed_in = static_cast<std::uint16_t>(products[prod].versions.size() - 1);
  for (auto& vc : products[prod].version_cves) {
    vc.erase(std::remove(vc.begin(), vc.end(), ci), vc.end());
  }
  for (std::uint16_t v = 0; v < cves.back().fixed_in; ++v) {
    products[prod].version_cves[v].push_back(ci);
  }
  emit_cve(ci, nm, DeltaStatus::added);
}

// A CVE re-scored: Updated for each of its findings.
void World::rescore_cve(Rng& rng, std::uint32_t nm) {
  const std::uint32_t ci = findings[rng.below(findings.size())].cve;
  Cve& c = cves[ci];
  c.vector = random_vector(rng);
  c.cvss = cvss31_base_score(c.vector).value_or(5.0);
  c.severity = c.cvss == 0.0 ? "Low" : severity_of(c.cvss);
  c.updated = m_now;
  emit_cve(ci, nm, DeltaStatus::updated);
}

// An event for every install of the first `nm` machines that the CVE affects.
void World::emit_cve(std::uint32_t ci, std::uint32_t nm, DeltaStatus s) {
  const Cve& c = cves[ci];
  for (std::uint32_t mi = 0; mi < nm; ++mi) {
    for (const Install& in : machines[mi].installs) {
      if (in.product == c.product && in.version < c.fixed_in) emit(mi, in, ci, s);
    }
  }
}

// A new install of an application the machine does not have yet.
void World::install_one(Rng& rng, std::uint32_t nm) {
  auto mi = random_live_machine(rng, nm);
  if (!mi) return;
  Machine& m = machines[*mi];
  const auto p = m_app_begin + static_cast<std::uint32_t>(rng.below(products.size() - m_app_begin));
  bool has = false;
  for (const Install& in : m.installs) has = has || in.product == p;
  if (has) return;
  m.installs.push_back(pick_install(p, m_now, rng));
  emit_install(*mi, m.installs.back(), DeltaStatus::added);
}

// Device-group move: Fixed under the old group, New under the new one.
void World::move_group(Rng& rng, std::uint32_t nm) {
  auto mi = random_live_machine(rng, nm);
  if (!mi) return;
  Machine& m = machines[*mi];
  for (const Install& in : m.installs) emit_install(*mi, in, DeltaStatus::fixed);
  m.group =
      1 + static_cast<std::uint32_t>((m.group + rng.below(groups.size() - 1)) % groups.size());
  for (const Install& in : m.installs) emit_install(*mi, in, DeltaStatus::added);
}

// A machine is onboarded, with its own generator as at the start.
void World::onboard_machine() {
  const auto index = static_cast<std::uint32_t>(machines.size());
  Rng mr(hash_combine(m_params.seed, 0x10000000ULL + index));
  Machine m = make_machine(index, m_now - 3 * 3600, mr);
  add_installs(m, index, mr);
  for (Install& in : m.installs) in.first_seen = m.first_seen;
  machines.push_back(std::move(m));
  for (const Install& in : machines.back().installs) {
    emit_install(index, in, DeltaStatus::added);
  }
}

}  // namespace mdesim
