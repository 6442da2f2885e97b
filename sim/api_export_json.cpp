// The JSON export pages (GET /api/machines/SoftwareVulnerabilitiesByMachine and the two
// inventory twins): pages of rows read from the same gzip parts as the file exports,
// continued by a $skiptoken that names the snapshot, the part and the line.

#include "simulator_impl.hpp"

#include <algorithm>
#include <array>

namespace mdesim {
namespace {

// The part and line where a page of `a.page` rows from (a.file, a.line) ends.
std::pair<std::size_t, std::uint64_t> page_end(const std::vector<ExportFile>& files,
                                               const PageArgs& a) {
  std::size_t ef = a.file;
  std::uint64_t el = a.line;
  std::uint64_t left = a.page;
  while (ef < files.size() && left > 0) {
    const std::uint64_t avail = files[ef].rows > el ? files[ef].rows - el : 0;
    const std::uint64_t take = std::min(avail, left);
    el += take;
    left -= take;
    if (el >= files[ef].rows) {
      ++ef;
      el = 0;
    }
  }
  return {ef, el};
}

// One page streamed out of the export parts, 256 KiB a chunk.
struct ExportPageStream {
  Snapshot snap;
  std::size_t k;
  std::size_t file;
  std::uint64_t skip;
  std::uint64_t left;
  std::unique_ptr<GzLineReader> reader;
  bool started = false;
  bool first = true;
  bool done = false;
  std::string head, tail;
  bool extra, dup;
  std::uint64_t n = 0;

  bool next(std::string& chunk) {
    if (done) return false;
    if (!started) {
      chunk = head;
      started = true;
    }
    std::string line;
    while (chunk.size() < (256U << 10U) && left > 0) {
      if (!reader) {
        if (file >= snap.files[k].size()) break;
        reader = std::make_unique<GzLineReader>(snap.path(static_cast<ExportKind>(k), file));
        if (!reader->ok()) throw std::runtime_error("export part missing");
        for (std::uint64_t i = 0; i < skip && reader->next(line); ++i) {
        }
        skip = 0;
      }
      if (!reader->next(line)) {
        reader.reset();
        ++file;
        continue;
      }
      if (extra) add_extra_member(line);
      if (!first) chunk.push_back(',');
      first = false;
      chunk += line;
      if (dup && ++n % 5 == 0) {
        chunk.push_back(',');
        chunk += line;
      }
      --left;
    }
    if (left == 0 || (!reader && file >= snap.files[k].size())) {
      chunk += tail;
      done = true;
    }
    return true;
  }
};

}  // namespace

std::string SimulatorImpl::skiptoken(const std::string& tp, std::size_t file, std::uint64_t line) {
  return base64(json{{"ExportDefinition", {{"TimePath", tp}}},
                     {"ExportFileIndex", file},
                     {"LineStoppedAt", line}}
                    .dump(),
                false);
}

std::variant<PageArgs, Reply> SimulatorImpl::page_args(const httplib::Request& req) {
  PageArgs a;
  if (m_opt.export_page_size > 0) a.page = m_opt.export_page_size;
  if (has_param(req, "pageSize")) {
    const auto v = parse_int(param(req, "pageSize"));
    if (!v || *v <= 0)
      return error_reply(400, "InvalidInput", "pageSize must be a positive integer", next_target());
    a.page = std::min<std::uint64_t>(static_cast<std::uint64_t>(*v), 200000);
  }
  if (has_param(req, "$top")) {
    const auto v = parse_int(param(req, "$top"));
    if (!v || *v < 0)
      return error_reply(400, "ODataError", "Invalid value for $top", next_target());
    a.page = static_cast<std::uint64_t>(*v);
    a.top = true;
  }
  if (has_param(req, "$skiptoken")) {
    const auto dec = unbase64(param(req, "$skiptoken"));
    try {
      const auto j = json::parse(dec.value_or(""));
      a.time_path = j.at("ExportDefinition").at("TimePath").get<std::string>();
      a.file = j.at("ExportFileIndex").get<std::size_t>();
      a.line = j.at("LineStoppedAt").get<std::uint64_t>();
    } catch (const std::exception&) {
      return error_reply(400, "BadRequest", "Invalid $skiptoken", next_target());
    }
  }
  return a;
}

Reply SimulatorImpl::export_json(const httplib::Request& req, ExportKind kind) {
  auto parsed = page_args(req);
  if (auto* r = std::get_if<Reply>(&parsed)) return *r;
  PageArgs a = std::get<PageArgs>(parsed);
  Snapshot snap;
  {
    std::shared_lock lock(m_world_mutex);
    snap = m_snapshot;
  }
  if (a.time_path && *a.time_path != snap.time_path) {
    auto old = m_store.load(*a.time_path);
    if (!old)
      return error_reply(400, "BadRequest", "The $skiptoken refers to an unknown export",
                         next_target());
    snap = *old;
  }
  const auto k = static_cast<std::size_t>(kind);
  if (a.file > snap.files[k].size())
    return error_reply(400, "BadRequest", "Invalid $skiptoken", next_target());
  const auto [ef, el] = page_end(snap.files[k], a);
  const bool more = ef < snap.files[k].size() &&
                    !(ef + 1 == snap.files[k].size() && el >= snap.files[k][ef].rows);
  static const std::array<const char*, 3> sets = {
      "Collection(microsoft.windowsDefenderATP.api.AssetVulnerability)",
      "Collection(microsoft.windowsDefenderATP.api.AssetSoftware)",
      "Collection(microsoft.windowsDefenderATP.api.AssetNonCpeSoftware)"};
  auto st = std::make_shared<ExportPageStream>();
  st->head = "{\"@odata.context\":";
  json_str(st->head, context(sets[k]));
  st->head += ",\"value\":[";
  st->tail = "]";
  if (more && !a.top) {
    std::string path = req.path;
    std::string link = m_base + path + "?pagesize=" + std::to_string(a.page) + "&$skiptoken=";
    if (consume_looping_next_link()) {
      link += url_encode(skiptoken(snap.time_path, a.file, a.line));
    } else {
      link += url_encode(skiptoken(snap.time_path, ef, el));
    }
    st->tail += ",\"@odata.nextLink\":";
    json_str(st->tail, link);
  }
  st->tail += "}";
  st->snap = std::move(snap);
  st->k = k;
  st->file = a.file;
  st->skip = a.line;
  st->left = a.page;
  st->extra = consume(&Faults::extra_fields);
  st->dup = consume(&Faults::duplicate_rows);
  Reply r;
  r.next = [st](std::string& chunk) { return st->next(chunk); };
  return r;
}

}  // namespace mdesim
