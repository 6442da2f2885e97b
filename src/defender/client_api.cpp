// The Defender API calls of Client: one GET with retries, rate limits and token refresh
// (api_get), OData and export-page paging with their quirks (page), and the public
// listing functions built on them.

#include "defender/client.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "auth/jwt.hpp"
#include "defender/client_impl.hpp"
#include "defender/decode.hpp"
#include "http/url.hpp"

namespace mdesync::defender {
namespace {

using util::ErrorCode;

// A nextLink whose query has a parameter without a name (`?=x&=10000`) is the broken
// link of quirk Q2; following it returns mixed pages.
bool malformed_link(const http::Url& url) {
  std::string_view q = url.query;
  if (q.empty()) return false;
  std::size_t start = 0;
  while (start <= q.size()) {
    const auto amp = q.find('&', start);
    const auto part =
        q.substr(start, amp == std::string_view::npos ? q.size() - start : amp - start);
    if (!part.empty() && part.front() == '=') return true;
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return false;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      const int hi = hex(s[i + 1]);
      const int lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// The snapshot a JSON export $skiptoken pins: base64 JSON with
// {"ExportDefinition":{"TimePath":"2025-06-01/0601/"},...} (docs/api.md, "Paging").
std::optional<Timestamp> skiptoken_snapshot(std::string_view link) {
  std::string lower(link);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto pos = lower.find("$skiptoken=");
  std::size_t skip = 11;
  if (pos == std::string::npos) {
    pos = lower.find("%24skiptoken=");
    skip = 13;
  }
  if (pos == std::string::npos) return std::nullopt;
  const auto start = pos + skip;
  const auto end = link.find('&', start);
  const auto token =
      percent_decode(link.substr(start, end == std::string_view::npos ? end : end - start));
  auto json = auth::base64url_decode(token);
  if (!json) return std::nullopt;
  const auto tp = json->find("\"TimePath\"");
  if (tp == std::string::npos) return std::nullopt;
  const auto q1 = json->find('"', json->find(':', tp) + 1);
  if (q1 == std::string::npos) return std::nullopt;
  const auto q2 = json->find('"', q1 + 1);
  if (q2 == std::string::npos) return std::nullopt;
  const std::string path = json->substr(q1 + 1, q2 - q1 - 1);  // yyyy-MM-dd/HHmm/
  if (path.size() < 15 || path[10] != '/') return std::nullopt;
  const std::string iso =
      fmt::format("{}T{}:{}:00Z", path.substr(0, 10), path.substr(11, 2), path.substr(13, 2));
  auto t = util::parse_timestamp(iso);
  if (!t) return std::nullopt;
  return *t;
}

// The value of a `$skip` parameter in a nextLink, if any.
std::optional<std::uint64_t> skip_param(const http::Url& url) {
  std::string_view q = url.query;
  std::size_t start = 0;
  while (start < q.size()) {
    const auto amp = q.find('&', start);
    const auto part =
        q.substr(start, amp == std::string_view::npos ? q.size() - start : amp - start);
    const auto eq = part.find('=');
    if (eq != std::string_view::npos) {
      const auto name = percent_decode(part.substr(0, eq));
      if (name.size() == 5 && (name == "$skip" || name == "$SKIP" || name == "$Skip")) {
        const auto value = part.substr(eq + 1);
        std::uint64_t n = 0;
        auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec == std::errc{} && p == value.data() + value.size()) return n;
        return std::nullopt;
      }
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return std::nullopt;
}

}  // namespace

util::Result<http::Response> Client::Impl::api_get(const std::string& family,
                                                   const std::string& url, const BodyCheck& check) {
  bool refreshed = false;
  const auto interrupted = [&] {
    return util::fail(ErrorCode::cancelled,
                      fmt::format("GET {}: interrupted", http::redact_url(url)));
  };
  const auto attempt = [&]() -> util::Result<http::Response> {
    limiter->acquire(family);
    if (util::cancelled(run_cancel)) return interrupted();
    auto token = tokens->token();
    if (!token) return util::fail(std::move(token.error()));
    http::Request req;
    req.url = url;
    req.headers = {{"Authorization", "Bearer " + *token}, {"Accept", "application/json"}};
    stats.count_call(family);
    const auto t0 = Steady::now();
    auto resp = api_http->send(req);
    spdlog::debug("GET {} -> {} ({} ms)", http::redact_url(url),
                  resp ? std::to_string(resp->status) : resp.error().message,
                  ns_since(t0) / 1'000'000);
    if (resp && resp->status == 401 && !refreshed) {
      spdlog::warn("GET {}: HTTP 401; fetching a new token and resending once",
                   http::redact_url(url));
      // The token may have been revoked or expired early: one fresh token, one resend.
      refreshed = true;
      stats.unauthorized_refreshes.fetch_add(1);
      tokens->invalidate(*token);
      auto fresh = tokens->token();
      if (!fresh) return util::fail(std::move(fresh.error()));
      req.headers[0].second = "Bearer " + *fresh;
      limiter->acquire(family);
      if (util::cancelled(run_cancel)) return interrupted();
      stats.count_call(family);
      resp = api_http->send(req);
    }
    if (resp) {
      stats.api_bytes.fetch_add(resp->body.size());
      if (auto date = resp->header("Date")) {
        if (auto t = http::parse_http_date(*date)) {
          server_date_us.store(util::to_timestamp(*t).time_since_epoch().count());
        }
      }
      if (resp->ok() && check) {
        if (auto st = check(*resp); !st) {
          // The body ended inside its document: a transfer cut short that the
          // connection did not report (a proxy or server that ended the body cleanly).
          if (st.error().code == ErrorCode::corrupt_stream) {
            return util::fail(ErrorCode::transport, std::move(st.error().message));
          }
          return util::fail(std::move(st.error()));
        }
      }
    }
    return resp;
  };
  return http::run_with_retry(retry_ctx, "GET " + http::redact_url(url), attempt);
}

util::Error Client::Impl::status_error(const std::string& family, const std::string& url,
                                       const http::Response& resp) {
  const ApiError api = decode_api_error(resp.body);
  std::string detail;
  if (!api.code.empty()) detail = " " + api.code;
  if (!api.message.empty()) detail += ": " + api.message;
  const std::string where = "GET " + http::redact_url(url);
  util::Error err{ErrorCode::http_status, {}, resp.status, std::nullopt};
  switch (resp.status) {
    case 401:
      err.code = ErrorCode::auth;
      err.message = fmt::format(
          "{}: HTTP 401{}; the API refused a freshly issued token. Check that `audience` is "
          "the one this API expects ({})",
          where, detail, config.audience);
      break;
    case 403: {
      err.code = ErrorCode::permission;
      std::string granted = "unknown";
      if (auto token = tokens->token()) {
        if (auto claims = auth::decode_claims(*token)) {
          granted =
              claims->roles.empty() ? "none" : fmt::format("{}", fmt::join(claims->roles, ", "));
        }
      }
      err.message = fmt::format(
          "{}: HTTP 403{}; this endpoint needs the application permission {} (the token grants: "
          "{}). Add it to the app registration and grant admin consent",
          where, detail, required_role(family), granted);
      break;
    }
    case 404:
      err.code = ErrorCode::not_found;
      err.message = fmt::format("{}: HTTP 404{}", where, detail);
      break;
    default:
      err.message = fmt::format("{}: HTTP {}{}", where, resp.status, detail);
      break;
  }
  return err;
}

template <class T>
util::Result<ListResult> Client::Impl::page(const std::string& family, const std::string& first_url,
                                            bool follow, int page_max, bool not_found_is_empty,
                                            const RecordSink<T>& sink) {
  ListResult out;
  std::set<std::string> seen{first_url};
  std::string url = first_url;
  bool skip_mode = false;
  std::optional<Timestamp> snapshot;
  for (;;) {
    // A page cut short is fetched again; the rows an earlier attempt handed on are not
    // handed on again (ADR 0076).
    PageProgress progress;
    std::optional<PageInfo> decoded;
    std::optional<util::Error> sink_error;
    const std::uint64_t page_no = out.pages + 1;
    const BodyCheck read_page = [&](http::Response& r) -> util::Status {
      std::int64_t sink_ns = 0;
      const auto t0 = Steady::now();
      auto info = decode_page<T>(
          r.body,
          [&](T&& record) -> util::Status {
            ++out.records;
            const auto s0 = Steady::now();
            auto st = sink(std::move(record));
            sink_ns += ns_since(s0);
            if (!st) sink_error = st.error();
            return st;
          },
          &progress);
      stats.decode_ns.fetch_add(ns_since(t0) - sink_ns);
      if (sink_error) return util::fail(ErrorCode::cancelled, "the record callback failed");
      if (!info) {
        const ErrorCode code = info.error().code;
        if (code == ErrorCode::corrupt_stream) {
          return util::fail(code, fmt::format("page {}: {}", page_no, info.error().message));
        }
        return util::fail(code == ErrorCode::paging ? code : ErrorCode::parse,
                          fmt::format("GET {} (page {}): {}", http::redact_url(url), page_no,
                                      info.error().message));
      }
      decoded = std::move(*info);
      return {};
    };
    auto resp = api_get(family, url, read_page);
    if (sink_error) return util::fail(std::move(*sink_error));
    if (!resp) return util::fail(std::move(resp.error()));
    if (resp->status == 404 && not_found_is_empty && out.pages == 0) return out;
    if (!resp->ok()) return util::fail(status_error(family, url, *resp));
    ++out.pages;
    auto& info = decoded;
    if (skip_mode) {
      if (static_cast<int>(info->items) < page_max) break;
      url = http::append_query(http::append_query(first_url, "$top", std::to_string(page_max)),
                               "$skip", std::to_string(out.records));
      continue;
    }
    if (!follow || !info->next_link) break;
    const std::string next = std::move(*info->next_link);
    auto parsed = http::parse_url(next);
    if (!parsed) {
      return util::fail(ErrorCode::paging,
                        fmt::format("GET {}: @odata.nextLink is not a URL", http::redact_url(url)));
    }
    if (parsed->origin() != api_origin) {
      return util::fail(ErrorCode::paging,
                        fmt::format("GET {}: @odata.nextLink points to {}, not to the API host {}; "
                                    "refusing to send the bearer token there",
                                    http::redact_url(url), parsed->origin(), api_origin));
    }
    // Q2: a link that lost its parameter names, or whose $skip does not continue where
    // this listing is, would serve mixed or repeated pages.
    const auto skip = skip_param(*parsed);
    if (malformed_link(*parsed) || (skip && *skip != out.records)) {
      if (page_max <= 0) {
        return util::fail(ErrorCode::paging,
                          fmt::format("GET {}: @odata.nextLink is malformed ({})",
                                      http::redact_url(url), http::redact_url(next)));
      }
      // Q2: fall back to explicit offsets over the original query.
      skip_mode = true;
      out.fell_back_to_skip = true;
      spdlog::warn("GET {}: inconsistent @odata.nextLink ({}); continuing with $top/$skip paging",
                   http::redact_url(url), next);
      url = http::append_query(http::append_query(first_url, "$top", std::to_string(page_max)),
                               "$skip", std::to_string(out.records));
      continue;
    }
    if (!seen.insert(next).second) {
      return util::fail(
          ErrorCode::paging,
          fmt::format("GET {}: @odata.nextLink repeats an earlier page after {} pages; "
                      "stopping instead of looping",
                      http::redact_url(url), out.pages));
    }
    if (auto snap = skiptoken_snapshot(next)) {
      if (snapshot && *snapshot != *snap) {
        return util::fail(
            ErrorCode::paging,
            fmt::format("GET {}: the export snapshot changed while paging ({} -> {}); "
                        "rerun the export",
                        http::redact_url(url), util::format_timestamp(*snapshot),
                        util::format_timestamp(*snap)));
      }
      snapshot = snap;
      out.generated_time = snap;
    }
    url = next;
  }
  return out;
}

namespace {

std::string odata_url(std::string base, const ODataQuery& q) {
  if (!q.filter.empty()) base = http::append_query(std::move(base), "$filter", q.filter);
  if (q.top) base = http::append_query(std::move(base), "$top", std::to_string(*q.top));
  for (const auto& [k, v] : q.extra) base = http::append_query(std::move(base), k, v);
  return base;
}

std::string export_url(std::string base, const ExportPageQuery& q) {
  if (q.page_size)
    base = http::append_query(std::move(base), "pageSize", std::to_string(*q.page_size));
  if (q.top) base = http::append_query(std::move(base), "$top", std::to_string(*q.top));
  return base;
}

}  // namespace

util::Result<ListResult> Client::for_each_machine(const ODataQuery& q,
                                                  const RecordSink<Machine>& sink) {
  // GET /api/machines answers 404 when the tenant has no machines (docs/api.md, "Errors").
  return m_impl->page<Machine>("machines", odata_url(m_impl->url("/api/machines"), q), !q.top,
                               q.top ? 0 : 10'000, true, sink);
}

util::Result<Machine> Client::get_machine(const std::string& id) {
  const std::string u = m_impl->url("/api/machines/" + http::url_encode(id));
  // Q7: per-machine calls answer 404 intermittently for devices that exist; a few
  // retries with backoff tell a flaky answer from a device that is gone.
  constexpr int k_not_found_retries = 2;
  for (int attempt = 0;; ++attempt) {
    std::optional<Machine> machine;
    auto resp = m_impl->api_get("machines", u, [&](http::Response& r) -> util::Status {
      auto m = decode_entity<Machine>(r.body);
      if (!m && m.error().code == ErrorCode::corrupt_stream) return util::fail(m.error());
      if (!m) {
        return util::fail(ErrorCode::parse,
                          fmt::format("GET {}: {}", http::redact_url(u), m.error().message));
      }
      machine = std::move(*m);
      return {};
    });
    if (!resp) return util::fail(std::move(resp.error()));
    if (resp->status == 404 && attempt < k_not_found_retries) {
      m_impl->stats.retry.retries.fetch_add(1);
      if (!m_impl->sleeper->sleep_for(
              http::backoff_delay(m_impl->retry_policy, attempt, m_impl->retry_ctx.random()),
              m_impl->run_cancel)) {
        return util::fail(ErrorCode::cancelled, fmt::format("GET {}: interrupted", u));
      }
      continue;
    }
    if (!resp->ok()) return util::fail(m_impl->status_error("machines", u, *resp));
    return std::move(*machine);
  }
}

util::Result<ListResult> Client::for_each_software(const ODataQuery& q,
                                                   const RecordSink<Software>& sink) {
  return m_impl->page<Software>("software", odata_url(m_impl->url("/api/software"), q), !q.top,
                                q.top ? 0 : 10'000, false, sink);
}

util::Result<ListResult> Client::for_each_software_distribution(
    const std::string& software_id, const RecordSink<Distribution>& sink) {
  return m_impl->page<Distribution>(
      "software", m_impl->url("/api/software/" + http::url_encode(software_id) + "/distributions"),
      true, 0, false, sink);
}

util::Result<ListResult> Client::for_each_software_machine_reference(
    const std::string& software_id, const RecordSink<MachineReference>& sink) {
  return m_impl->page<MachineReference>(
      "software",
      m_impl->url("/api/software/" + http::url_encode(software_id) + "/machineReferences"), true, 0,
      false, sink);
}

util::Result<ListResult> Client::for_each_vulnerability(const ODataQuery& q,
                                                        const RecordSink<Vulnerability>& sink) {
  return m_impl->page<Vulnerability>("vulnerabilities",
                                     odata_url(m_impl->url("/api/vulnerabilities"), q), !q.top,
                                     q.top ? 0 : 8'000, false, sink);
}

util::Result<ListResult> Client::for_each_machine_vulnerability(
    const ODataQuery& q, const RecordSink<MachineVulnerability>& sink) {
  return m_impl->page<MachineVulnerability>(
      "machinesVulnerabilities",
      odata_url(m_impl->url("/api/vulnerabilities/machinesVulnerabilities"), q), !q.top,
      q.top ? 0 : 10'000, false, sink);
}

util::Result<ListResult> Client::for_each_recommendation(const ODataQuery& q,
                                                         const RecordSink<Recommendation>& sink) {
  return m_impl->page<Recommendation>("recommendations",
                                      odata_url(m_impl->url("/api/recommendations"), q), !q.top,
                                      q.top ? 0 : 10'000, false, sink);
}

util::Result<ListResult> Client::for_each_recommendation_vulnerability(
    const std::string& recommendation_id, const RecordSink<Vulnerability>& sink) {
  return m_impl->page<Vulnerability>(
      "recommendationVulnerabilities",
      m_impl->url("/api/recommendations/" + http::url_encode(recommendation_id) +
                  "/vulnerabilities"),
      true, 0, false, sink);
}

util::Result<ListResult> Client::for_each_vulnerability_by_machine(
    const ExportPageQuery& q, const RecordSink<VulnerabilityRow>& sink) {
  return m_impl->page<VulnerabilityRow>(
      "SoftwareVulnerabilitiesByMachine",
      export_url(m_impl->url("/api/machines/SoftwareVulnerabilitiesByMachine"), q), !q.top, 0,
      false, sink);
}

util::Result<ListResult> Client::for_each_vulnerability_change(
    Timestamp since, const ExportPageQuery& q, const RecordSink<VulnerabilityRow>& sink) {
  std::string u =
      http::append_query(m_impl->url("/api/machines/SoftwareVulnerabilityChangesByMachine"),
                         "sinceTime", util::format_timestamp_seconds(since));
  return m_impl->page<VulnerabilityRow>("SoftwareVulnerabilityChangesByMachine", export_url(u, q),
                                        !q.top, 0, false, sink);
}

util::Result<ListResult> Client::for_each_inventory_by_machine(
    const ExportPageQuery& q, bool non_cpe, const RecordSink<InventoryRow>& sink) {
  const std::string family =
      non_cpe ? "SoftwareInventoryNoProductCodeByMachine" : "SoftwareInventoryByMachine";
  return m_impl->page<InventoryRow>(family, export_url(m_impl->url("/api/machines/" + family), q),
                                    !q.top, 0, false, sink);
}

}  // namespace mdesync::defender
