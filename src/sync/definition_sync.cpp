// vulnerability_definition: the CVE listing (delta: updated since the last watermark),
// with patchAvailable/affected/recommendation from the recommendations that cover each
// CVE. The CVE -> recommendation links come from this run's findings, the stored links,
// or one call per recommendation (api strategy).

#include <map>
#include <set>
#include <span>
#include <unordered_map>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "mapping/filters.hpp"
#include "mapping/mapping.hpp"
#include "sync/fetch.hpp"
#include "sync/pipeline.hpp"
#include "sync/sync_context.hpp"

namespace mdesync::sync {
namespace {

using util::ErrorCode;
using util::Status;
using util::Timestamp;

// patchAvailable, affected and recommendation of a stored definition.
struct RecommendationAttributes {
  model::OptBool patch_available;
  std::optional<model::Strings> affected;
  std::optional<model::Strings> recommendation;
};
using StoredAttributes = std::unordered_map<std::string, RecommendationAttributes>;

class DefinitionRead {
 public:
  DefinitionRead(SyncContext& ctx, ObjectSummary& s, std::string mode)
      : m_ctx(ctx), m_s(s), m_mode(std::move(mode)) {}

  Status run() {
    if (m_ctx.findings_failure) {
      // Without this run's findings a new CVE would be stored as covered by no
      // recommendation, and a CVE's links would be the last run's: keep the stored rows.
      util::Error e = *m_ctx.findings_failure;
      e.message =
          "the findings read failed, so the CVE -> recommendation links of this run "
          "are unknown (" +
          e.message + ")";
      return tl::unexpected(e);
    }
    if (auto st = load_state(); !st) return st;
    if (auto st = read_recommendations(); !st) return st;
    if (auto st = gather_links(); !st) return st;
    return write_definitions();
  }

 private:
  // The links and the newest updatedOn the last run of this object recorded.
  Status load_state() {
    auto previous = m_ctx.store.checkpoint(model::ObjectType::vulnerability_definition);
    if (!previous) return tl::unexpected(previous.error());
    if (!*previous) return {};
    auto state = nlohmann::json::parse((*previous)->state, nullptr, false);
    if (!state.is_object()) return {};
    for (const auto& l : state.value("links", nlohmann::json::array())) {
      if (l.is_array() && l.size() == 2)
        m_stored_links.emplace(l[0].get<std::string>(), l[1].get<std::string>());
    }
    if (state.contains("watermark") && state["watermark"].is_string()) {
      if (auto t = util::parse_timestamp(state["watermark"].get<std::string>())) m_watermark = *t;
    }
    return {};
  }

  // A failure leaves the recommendation attributes unknown (kept from the store).
  Status read_recommendations() {
    auto listed =
        m_ctx.client.for_each_recommendation({}, [&](defender::Recommendation&& rec) -> Status {
          if (auto st = m_ctx.check_cancel(); !st) return st;
          std::string id = rec.id;
          m_recs.emplace(std::move(id), std::move(rec));
          return {};
        });
    if (listed) return {};
    if (listed.error().code == ErrorCode::cancelled) return tl::unexpected(listed.error());
    m_recs_known = false;
    m_s.warnings.push_back(fmt::format(
        "recommendations unavailable, stored patchAvailable/affected/recommendation kept: {}",
        listed.error().describe()));
    return {};
  }

  // CVE -> recommendation links, by CVE.
  Status gather_links() {
    const bool per_recommendation =
        m_ctx.config.strategy == "api" ||
        (!m_ctx.links_complete && !m_ctx.selected("vulnerability") && m_stored_links.empty());
    if (m_recs_known && per_recommendation) {
      if (auto st = fetch_links(); !st) return st;
    } else {
      m_links = m_ctx.links;
      if (!m_ctx.links_complete || m_mode == "delta")
        m_links.insert(m_stored_links.begin(), m_stored_links.end());
    }
    for (const auto& [cve, rec] : m_links) m_by_cve[cve].push_back(rec);
    return {};
  }

  // One call per recommendation; a failed call leaves its stored CVEs unknown.
  Status fetch_links() {
    std::vector<std::string> ids;
    for (const auto& [id, rec] : m_recs) ids.push_back(id);
    const auto fetched = fetch_each<defender::Vulnerability>(
        m_ctx, ids, [&](const std::string& id, const auto& sink) {
          return m_ctx.client.for_each_recommendation_vulnerability(id, sink);
        });
    if (auto st = m_ctx.check_cancel(); !st) return st;
    std::size_t failed = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (fetched[i].second) {
        ++failed;
        for (const auto& [cve, rec] : m_stored_links) {
          if (rec == ids[i]) m_unknown_cves.insert(cve);
        }
        continue;
      }
      for (const auto& v : fetched[i].first) m_links.emplace(v.id, ids[i]);
    }
    if (failed > 0) {
      m_s.warnings.push_back(fmt::format(
          "{} recommendation call(s) failed; their CVEs keep recommendation attributes unknown",
          failed));
    }
    return {};
  }

  // The attributes of every stored definition, when some recommendations are unknown: a
  // side feed that failed never erases what an earlier run learned.
  util::Result<StoredAttributes> stored_attributes() {
    StoredAttributes out;
    if (m_recs_known && m_unknown_cves.empty()) return out;
    auto st = m_ctx.store.scan(store::RowVisitor<model::VulnerabilityDefinition>(
        [&](const model::VulnerabilityDefinition& d) {
          if (d.patch_available || d.affected || d.recommendation) {
            out.emplace(d.uid,
                        RecommendationAttributes{d.patch_available, d.affected, d.recommendation});
          }
          return true;
        }));
    if (!st) return tl::unexpected(st.error());
    return out;
  }

  std::string odata_filter() const {
    std::string filter =
        mapping::vulnerability_definition_odata_filter(m_ctx.filters("vulnerability_definition"));
    if (m_mode == "delta" && m_watermark) {
      const std::string since =
          "updatedOn gt " + util::format_timestamp_seconds(*m_watermark - k_bucket);
      filter = filter.empty() ? since : "(" + filter + ") and " + since;
    }
    return filter;
  }

  // The recommendations covering `cve`, or nullopt when they are unknown this run.
  std::optional<std::span<const defender::Recommendation>> covering(const std::string& cve) {
    if (!m_recs_known || m_unknown_cves.contains(cve)) return std::nullopt;
    m_covering.clear();
    if (auto it = m_by_cve.find(cve); it != m_by_cve.end()) {
      for (const auto& id : it->second) {
        if (auto rec = m_recs.find(id); rec != m_recs.end()) m_covering.push_back(rec->second);
      }
    }
    return std::span<const defender::Recommendation>(m_covering);
  }

  Status write_definitions() {
    auto tx = m_ctx.store.begin();
    if (!tx) return tl::unexpected(tx.error());
    Batch<model::VulnerabilityDefinition> batch(m_ctx, m_s, m_ctx.write_context(false));
    std::optional<Timestamp> newest = m_watermark;
    auto kept = stored_attributes();
    if (!kept) return tl::unexpected(kept.error());
    std::int64_t kept_count = 0;
    auto r = m_ctx.client.for_each_vulnerability(
        {odata_filter(), std::nullopt, {}}, [&](defender::Vulnerability&& v) -> Status {
          if (auto st = m_ctx.check_cancel(); !st) return st;
          ++m_s.read;
          if (v.updated_on && (!newest || *v.updated_on > *newest)) newest = v.updated_on;
          const auto recs_for = covering(v.id);
          const auto t0 = std::chrono::steady_clock::now();
          auto mapped = mapping::map_vulnerability_definition(v, recs_for);
          m_s.map_seconds += seconds_between(t0, std::chrono::steady_clock::now());
          note(m_s, mapped);
          if (mapped.skipped()) return {};
          if (!recs_for) {
            if (auto it = kept->find(mapped.row->uid); it != kept->end()) {
              mapped.row->patch_available = it->second.patch_available;
              mapped.row->affected = it->second.affected;
              mapped.row->recommendation = it->second.recommendation;
              ++kept_count;
            }
          }
          return batch.add(std::move(*mapped.row));
        });
    if (!r) return tl::unexpected(r.error());
    if (kept_count > 0) {
      m_s.warnings.push_back(
          fmt::format("{} definition(s) kept their stored recommendation attributes", kept_count));
    }
    if (auto st = batch.flush(); !st) return st;
    const Timestamp snapshot = m_ctx.now();
    return m_ctx.finish(m_s,
                        {model::ObjectType::vulnerability_definition, m_mode, snapshot, snapshot,
                         std::nullopt, state(newest)},
                        *tx);
  }

  std::string state(std::optional<Timestamp> newest) const {
    nlohmann::json links = nlohmann::json::array();
    for (const auto& [cve, rec] : m_links) links.push_back({cve, rec});
    nlohmann::json state = {{"links", links}};
    if (newest) state["watermark"] = util::format_timestamp(*newest);
    return state.dump();
  }

  SyncContext& m_ctx;
  ObjectSummary& m_s;
  const std::string m_mode;
  Links m_stored_links;
  std::optional<Timestamp> m_watermark;
  std::map<std::string, defender::Recommendation> m_recs;
  bool m_recs_known = true;
  Links m_links;
  std::set<std::string> m_unknown_cves;  // covered by a recommendation whose call failed
  std::unordered_map<std::string, std::vector<std::string>> m_by_cve;
  std::vector<defender::Recommendation> m_covering;
};

}  // namespace

Status sync_definitions(SyncContext& ctx, ObjectSummary& s, const std::string& mode) {
  return DefinitionRead(ctx, s, mode).run();
}

}  // namespace mdesync::sync
