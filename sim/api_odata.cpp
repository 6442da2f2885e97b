// The shapes of OData answers: a paged list with $filter, $top, $skip and nextLink, a
// single entity, a plain collection, and their @odata.context.

#include "simulator_impl.hpp"

#include <algorithm>

namespace mdesim {
namespace {

constexpr const char* k_meta = "/api/$metadata#";

}  // namespace

std::string SimulatorImpl::context(const std::string& set) const {
  return m_base + k_meta + set;
}

std::variant<ListArgs, Reply> SimulatorImpl::list_args(const httplib::Request& req,
                                                       const std::vector<std::string>& filterable,
                                                       std::size_t max_top) {
  ListArgs a;
  const std::string ftext = param(req, "$filter");
  if (has_param(req, "$filter")) {
    auto f = Filter::parse(ftext, filterable);
    if (!f)
      return error_reply(400, "ODataError", "Invalid filter clause: " + f.error().message,
                         next_target());
    a.filter = std::move(*f);
  }
  a.page = m_opt.odata_page_size == 0 ? max_top : std::min(max_top, m_opt.odata_page_size);
  if (has_param(req, "$top")) {
    const auto t = parse_int(param(req, "$top"));
    if (!t || *t < 0)
      return error_reply(400, "ODataError", "Invalid value for $top", next_target());
    if (static_cast<std::size_t>(*t) > max_top && m_opt.top_over_max == TopOverMax::reject) {
      return error_reply(
          400, "ODataError",
          "The limit of '" + std::to_string(max_top) + "' for Top query has been exceeded.",
          next_target());
    }
    a.page = std::min<std::size_t>(static_cast<std::size_t>(*t), max_top);
    a.top_given = true;
  }
  if (has_param(req, "$skip")) {
    const auto s = parse_int(param(req, "$skip"));
    if (!s || *s < 0)
      return error_reply(400, "ODataError", "Invalid value for $skip", next_target());
    a.skip = static_cast<std::size_t>(*s);
  }
  return a;
}

Reply SimulatorImpl::odata_list(const httplib::Request& req, const std::string& set,
                                std::size_t count, const std::function<json(std::size_t)>& row,
                                const std::vector<std::string>& filterable, std::size_t max_top,
                                bool not_found_when_empty) {
  auto parsed = list_args(req, filterable, max_top);
  if (auto* e = std::get_if<Reply>(&parsed)) return *e;
  const ListArgs& a = std::get<ListArgs>(parsed);
  const std::optional<Filter>& filter = a.filter;
  const std::size_t page = a.page;
  const std::size_t skip = a.skip;
  if (not_found_when_empty && count == 0)
    return error_reply(404, "NotFound", "No machines found", next_target());
  const bool extra = consume(&Faults::extra_fields);
  std::string out = "{\"@odata.context\":";
  json_str(out, context(set));
  out += ",\"value\":[";
  std::size_t matched = 0;
  std::size_t emitted = 0;
  bool more = false;
  for (std::size_t i = 0; i < count; ++i) {
    if (!filter && i < skip) {
      i = skip - 1;
      matched = skip;
      continue;
    }
    json r = row(i);
    if (filter && !filter->matches(r)) continue;
    ++matched;
    if (matched <= skip) continue;
    if (emitted == page) {
      more = true;
      break;
    }
    if (extra) r["simUnknownMember"] = "extra";
    if (emitted > 0) out.push_back(',');
    out += r.dump();
    ++emitted;
  }
  out += "]";
  if (more && !a.top_given) {
    out += ",\"@odata.nextLink\":";
    json_str(out, odata_next_link(req, skip, page));
  }
  out += "}";
  Reply r;
  r.text = std::move(out);
  return r;
}

std::string SimulatorImpl::odata_next_link(const httplib::Request& req, std::size_t skip,
                                           std::size_t page) {
  std::string link = m_base + req.path + "?";
  if (consume_looping_next_link()) {
    // The Q2 symptom: parameter names lost, the link serves the same page forever.
    for (const auto& [k, v] : req.params) link += "=" + url_encode(v) + "&";
    link += "$skip=" + std::to_string(skip);
  } else {
    for (const auto& [k, v] : req.params) {
      if (iequals(k, "$skip")) continue;
      link += k + "=" + url_encode(v) + "&";
    }
    link += "$skip=" + std::to_string(skip + page);
  }
  return link;
}

Reply SimulatorImpl::entity(const std::string& set, json j) {
  json out = {{"@odata.context", context(set)}};
  for (auto& [k, v] : j.items()) out[k] = v;
  Reply r;
  r.text = out.dump();
  return r;
}

Reply SimulatorImpl::collection(const std::string& set, const json& rows) {
  Reply r;
  r.text = json{{"@odata.context", context(set)}, {"value", rows}}.dump();
  return r;
}

}  // namespace mdesim
