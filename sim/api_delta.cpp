// The delta export (GET /api/machines/SoftwareVulnerabilityChangesByMachine): the world's
// change events since sinceTime (at most 14 days back), paged by event sequence number.

#include "simulator_impl.hpp"

namespace mdesim {

Reply SimulatorImpl::export_delta(const httplib::Request& req) {
  if (!has_param(req, "sinceTime")) {
    return error_reply(400, "MissingRequiredParameter", "The sinceTime parameter is required",
                       next_target());
  }
  const std::string since_text = param(req, "sinceTime");
  const auto since = parse_time(since_text);
  if (!since)
    return error_reply(400, "InvalidInput",
                       "sinceTime '" + since_text + "' is not a valid date-time", next_target());
  auto parsed = page_args(req);
  if (auto* r = std::get_if<Reply>(&parsed)) return *r;
  const PageArgs a = std::get<PageArgs>(parsed);
  auto events = std::make_shared<std::vector<DeltaEvent>>();
  bool more = false;
  std::string tp;
  {
    std::shared_lock lock(m_world_mutex);
    const World& w = *m_world;
    if (*since < w.now() - 14 * 86400) {
      return error_reply(400, "InvalidInput", "sinceTime must be within the last 14 days",
                         next_target());
    }
    tp = m_snapshot.time_path;
    const std::int64_t bucket = floor6h(*since);
    const std::uint64_t from_seq = a.time_path ? a.line : 0;
    for (const DeltaEvent& e : w.events) {
      if (e.time < bucket || e.seq < from_seq) continue;
      if (events->size() == a.page) {
        more = true;
        break;
      }
      events->push_back(e);
    }
  }
  std::string head = "{\"@odata.context\":";
  json_str(head, context("Collection(microsoft.windowsDefenderATP.api.DeltaAssetVulnerability)"));
  head += ",\"value\":[";
  std::string tail = "]";
  if (more && !a.top) {
    const std::uint64_t next_seq =
        consume_looping_next_link() ? (a.time_path ? a.line : 0) : events->back().seq + 1;
    tail += ",\"@odata.nextLink\":";
    json_str(tail, m_base + req.path + "?sincetime=" + url_encode(since_text) +
                       "&pagesize=" + std::to_string(a.page) +
                       "&$skiptoken=" + url_encode(skiptoken(tp, 0, next_seq)));
  }
  tail += "}";
  const bool extra = consume(&Faults::extra_fields);
  auto pos = std::make_shared<std::size_t>(0);
  auto started = std::make_shared<bool>(false);
  Reply r;
  r.next = [this, events, pos, started, head, tail, extra](std::string& chunk) {
    if (*pos > events->size()) return false;
    if (!*started) {
      chunk = head;
      *started = true;
    }
    std::shared_lock lock(m_world_mutex);
    std::string line;
    while (*pos < events->size() && chunk.size() < (256U << 10U)) {
      line.clear();
      m_world->delta_row(line, (*events)[*pos]);
      if (extra) add_extra_member(line);
      if (*pos > 0) chunk.push_back(',');
      chunk += line;
      ++*pos;
    }
    if (*pos == events->size()) {
      chunk += tail;
      ++*pos;
    }
    return true;
  };
  return r;
}

}  // namespace mdesim
