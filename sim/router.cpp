// The thin router: which family answers a request (admin, token service, export file
// downloads, API), the API's route table with the role each route needs, the statistics
// per endpoint name, and handing the reply to httplib.

#include "simulator_impl.hpp"

#include <array>
#include <ctime>
#include <string_view>

namespace mdesim {
namespace {

const std::vector<std::string> k_machine = {"Machine.Read.All", "Machine.ReadWrite.All"};
const std::vector<std::string> k_machine_rw = {"Machine.ReadWrite.All"};
const std::vector<std::string> k_vuln = {"Vulnerability.Read.All"};
const std::vector<std::string> k_soft = {"Software.Read.All"};
const std::vector<std::string> k_rec = {"SecurityRecommendation.Read.All"};

// The decoded path segments after /api (and /v1.0): as sent, and lower case.
struct ApiPath {
  std::vector<std::string> segs;
  std::vector<std::string> orig;
};

ApiPath split_api_path(const std::string& path) {
  ApiPath p;
  std::size_t pos = 1;
  while (pos < path.size()) {
    auto slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    if (slash > pos) {
      p.orig.push_back(httplib::detail::decode_url(path.substr(pos, slash - pos), false));
      p.segs.push_back(lower(p.orig.back()));
    }
    pos = slash + 1;
  }
  p.segs.erase(p.segs.begin());
  p.orig.erase(p.orig.begin());
  if (!p.segs.empty() && p.segs[0] == "v1.0") {
    p.segs.erase(p.segs.begin());
    p.orig.erase(p.orig.begin());
  }
  return p;
}

// The IMF-fixdate (RFC 9110) of the Date header, "Sun, 06 Nov 1994 08:49:37 GMT".

std::string http_date(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

void install(Reply& r, httplib::Response& res) {
  res.status = r.status;
  for (const auto& [k, v] : r.headers) res.set_header(k, v);
  if (r.status < 300 && r.content_type.rfind("application/json", 0) == 0)
    res.set_header("OData-Version", "4.0");
  if (!r.next) {
    res.set_content(r.text, r.content_type);
    return;
  }
  auto gen = std::make_shared<std::function<bool(std::string&)>>(std::move(r.next));
  auto buf = std::make_shared<std::string>();
  auto write_chunk = [gen, buf](httplib::DataSink& sink) -> int {
    // 1 = wrote, 0 = end, -1 = abort.
    buf->clear();
    try {
      while (buf->empty()) {
        if (!(*gen)(*buf)) return 0;
      }
    } catch (const std::exception&) {
      return -1;
    }
    return sink.write(buf->data(), buf->size()) ? 1 : -1;
  };
  if (r.length) {
    res.set_content_provider(static_cast<std::size_t>(*r.length), r.content_type,
                             [write_chunk](std::size_t, std::size_t, httplib::DataSink& sink) {
                               return write_chunk(sink) == 1;
                             });
  } else {
    res.set_chunked_content_provider(r.content_type,
                                     [write_chunk](std::size_t, httplib::DataSink& sink) {
                                       const int rc = write_chunk(sink);
                                       if (rc == 0) sink.done();
                                       return rc >= 0;
                                     });
  }
}

}  // namespace

thread_local std::string t_endpoint;

void SimulatorImpl::handle(const httplib::Request& req, httplib::Response& res) {
  const std::string lp = lower(req.path);
  t_endpoint.clear();
  std::string name;
  Reply reply;
  try {
    if (lp.rfind("/sim/", 0) == 0) {
      reply = admin(req, lp);
      install(reply, res);
      return;
    }
    if (req.method == "POST" &&
        (lp.ends_with("/oauth2/v2.0/token") || lp.ends_with("/oauth2/token"))) {
      name = lp.ends_with("/oauth2/token") ? "token.v1" : "token.v2";
      reply = token(req, name == "token.v2");
    } else if (req.method == "GET" &&
               (lp == "/metadata/identity/oauth2/token" || lp == "/msi/token")) {
      name = lp == "/msi/token" ? "identity.appservice" : "identity.imds";
      reply = identity(req, lp == "/msi/token");
    } else if (req.method == "GET" && lp.rfind("/tvm-export/", 0) == 0) {
      name = "download";
      reply = download(req);
    } else if (req.method == "GET" && (lp == "/api" || lp.rfind("/api/", 0) == 0)) {
      reply = api(req, name);
    } else {
      name = "unknown";
      reply = error_reply(404, "NotFound", "No route for " + req.method + " " + req.path,
                          next_target());
    }
  } catch (const std::exception& e) {
    reply = error_reply(500, "InternalServerError", e.what(), next_target());
  }
  apply_body_faults(name, reply);
  {
    std::lock_guard lock(m_mutex);
    auto& s = m_stats[name];
    ++s.total;
    ++s.by_status[reply.status];
  }
  install(reply, res);
  res.set_header("Date", http_date(world_now()));
}

Reply SimulatorImpl::api(const httplib::Request& req, std::string& name) {
  const ApiPath path = split_api_path(req.path);
  std::optional<Endpoint> ep = find_endpoint(req, path.segs, path.orig);
  if (!ep) {
    name = "unknown";
    return error_reply(404, "NotFound", "Resource " + req.path + " does not exist", next_target());
  }
  name = ep->route.name;
  t_endpoint = name;
  if (auto f = take_error_fault(name)) return *f;
  if (auto a = authorize(req, ep->route)) return *a;
  if (auto rl = rate_limit(name)) return *rl;
  return ep->handler();
}

// The route table. Named routes are tried before routes by id, so that
// /api/machines/findbytag is never read as the machine "findbytag".
std::optional<Endpoint> SimulatorImpl::find_endpoint(const httplib::Request& req,
                                                     const std::vector<std::string>& segs,
                                                     const std::vector<std::string>& orig) {
  using ListFn = Reply (SimulatorImpl::*)(const httplib::Request&);
  using IdFn = Reply (SimulatorImpl::*)(const std::string&, int);
  // /api/<family> (sub empty) or /api/<family>/<sub>
  struct Named {
    std::string_view family, sub;
    const char* name;
    const std::vector<std::string>* roles;
    ListFn answer;
  };
  // /api/<family>/{id} (sub empty) or /api/<family>/{id}/<sub>
  struct ById {
    std::string_view family, sub;
    const char* name;
    const std::vector<std::string>* roles;
    IdFn answer;
    int which;
  };
  using S = SimulatorImpl;
  static const std::array<Named, 6> named = {{
      {"machines", "", "machines.list", &k_machine, &S::list_machines},
      {"machines", "findbytag", "machines.findbytag", &k_machine_rw, &S::find_by_tag},
      {"software", "", "software.list", &k_soft, &S::list_software},
      {"vulnerabilities", "", "vulnerabilities.list", &k_vuln, &S::list_vulnerabilities},
      {"vulnerabilities", "machinesvulnerabilities", "vulnerabilities.machines", &k_vuln,
       &S::list_machine_vulnerabilities},
      {"recommendations", "", "recommendations.list", &k_rec, &S::list_recommendations},
  }};
  static const std::array<ById, 14> by_id = {{
      {"machines", "", "machines.get", &k_machine, &S::machine_sub, 0},
      {"machines", "vulnerabilities", "machines.vulnerabilities", &k_vuln, &S::machine_sub, 1},
      {"machines", "software", "machines.software", &k_soft, &S::machine_sub, 2},
      {"machines", "recommendations", "machines.recommendations", &k_rec, &S::machine_sub, 3},
      {"software", "", "software.get", &k_soft, &S::software_sub, 0},
      {"software", "distributions", "software.distributions", &k_soft, &S::software_sub, 1},
      {"software", "machinereferences", "software.machinereferences", &k_soft, &S::software_sub, 2},
      {"software", "vulnerabilities", "software.vulnerabilities", &k_vuln, &S::software_sub, 3},
      {"vulnerabilities", "", "vulnerabilities.get", &k_vuln, &S::vulnerability_sub, 0},
      {"vulnerabilities", "machinereferences", "vulnerabilities.machinereferences", &k_vuln,
       &S::vulnerability_sub, 1},
      {"recommendations", "", "recommendations.get", &k_rec, &S::recommendation_sub, 0},
      {"recommendations", "software", "recommendations.software", &k_soft, &S::recommendation_sub,
       1},
      {"recommendations", "vulnerabilities", "recommendations.vulnerabilities", &k_vuln,
       &S::recommendation_sub, 2},
      {"recommendations", "machinereferences", "recommendations.machinereferences", &k_rec,
       &S::recommendation_sub, 3},
  }};
  const std::size_t n = segs.size();
  if (n == 0) return std::nullopt;
  if (n == 2 && segs[0] == "machines") {
    if (auto e = export_route(req, segs[1])) return e;
  }
  for (const Named& r : named) {
    if (segs[0] == r.family && ((n == 1 && r.sub.empty()) || (n == 2 && segs[1] == r.sub)))
      return Endpoint{{r.name, *r.roles}, [this, &req, f = r.answer] { return (this->*f)(req); }};
  }
  for (const ById& r : by_id) {
    if (segs[0] == r.family && ((n == 2 && r.sub.empty()) || (n == 3 && segs[2] == r.sub))) {
      return Endpoint{{r.name, *r.roles}, [this, id = orig[1], f = r.answer, w = r.which] {
                        return (this->*f)(id, w);
                      }};
    }
  }
  return std::nullopt;
}

// The exports: /api/machines/<export name>.
std::optional<Endpoint> SimulatorImpl::export_route(const httplib::Request& req,
                                                    const std::string& seg) {
  static const std::map<std::string, std::pair<std::string, int>> k_exports = {
      {"softwarevulnerabilitiesbymachine", {"export.vulnerabilities.json", 0}},
      {"softwarevulnerabilitiesexport", {"export.vulnerabilities.files", 0}},
      {"softwarevulnerabilitychangesbymachine", {"export.vulnerabilities.delta", 0}},
      {"softwareinventorybymachine", {"export.inventory.json", 1}},
      {"softwareinventoryexport", {"export.inventory.files", 1}},
      {"softwareinventorynoproductcodebymachine", {"export.noncpe.json", 2}},
      {"softwareinventorynoncpeexport", {"export.noncpe.files", 2}}};
  const auto it = k_exports.find(seg);
  if (it == k_exports.end()) return std::nullopt;
  const auto& [ename, kind] = it->second;
  const Route route{ename, kind == 0 ? k_vuln : k_soft};
  const auto k = static_cast<ExportKind>(kind);
  if (ename.ends_with(".files"))
    return Endpoint{route, [this, &req, k] { return export_files(req, k); }};
  if (ename.ends_with(".delta")) return Endpoint{route, [this, &req] { return export_delta(req); }};
  return Endpoint{route, [this, &req, k] { return export_json(req, k); }};
}

}  // namespace mdesim
