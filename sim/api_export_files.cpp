// The file-based exports (GET /api/machines/SoftwareVulnerabilitiesExport and the two
// inventory twins: a list of SAS links to the gzip parts) and the downloads of those
// parts, answered as Azure Blob Storage does, with the fault variants of a file.

#include "simulator_impl.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace mdesim {
namespace {

namespace fs = std::filesystem;

// A part named by a download path.
struct BlobRef {
  std::string time_path;  // 2026-01-05/0601/
  std::size_t kind = 0;
  long long index = 0;  // 99999: the extra empty file of the empty_export_file fault
};

// /tvm-export/<date>/<HHmm>/<Kind>/json/OrgId=<t>/part-<n>-<guid>.c000.json.gz
std::optional<BlobRef> parse_blob_path(const std::string& path) {
  std::vector<std::string> segs;
  std::size_t pos = 1;
  while (pos < path.size()) {
    auto slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    segs.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  if (segs.size() != 7) return std::nullopt;
  std::optional<std::size_t> kind;
  for (std::size_t k = 0; k < 3; ++k) {
    if (segs[3] == k_export_dirs[k]) kind = k;
  }
  const auto index = parse_int(segs[6].size() > 10 ? segs[6].substr(5, 5) : "");
  if (!kind || !index) return std::nullopt;
  return BlobRef{segs[1] + "/" + segs[2] + "/", *kind, *index};
}

Reply blob_not_found() {
  return azure_error(404, "BlobNotFound", "The specified blob does not exist.", "");
}

// Which row faults a download carries.
struct FileVariant {
  bool malformed = false;  // the second line is cut and is not JSON
  bool pascal = false;     // PascalCase member names
  bool extra = false;      // unknown members added
  bool dup = false;        // every fifth line repeated
  bool stray = false;      // the middle line repeated at the end
};

// The lines of a part with the faults of `v` applied (uncompressed).
std::string file_variant(const fs::path& file, const FileVariant& v) {
  std::ifstream in(file, std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string text = gunzip_string(raw).value_or("");
  std::string out;
  std::size_t start = 0;
  std::size_t n = 0;
  const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  std::string stray_line;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(start, nl - start);
    start = nl + 1;
    ++n;
    if (v.pascal) line = to_pascal(line);
    if (v.extra) add_extra_member(line);
    if (v.malformed && n == 2) line = line.substr(0, line.size() / 2) + "<<not json";
    out += line;
    out.push_back('\n');
    if (v.dup && n % 5 == 1) {
      out += line;
      out.push_back('\n');
    }
    if (v.stray && n == (lines + 1) / 2) stray_line = line;
  }
  if (!stray_line.empty()) {
    out += stray_line;
    out.push_back('\n');
  }
  return out;
}

}  // namespace

std::string SimulatorImpl::sas_sig(const std::string& path, const std::string& st,
                                   const std::string& se) const {
  return base64(hex40(hash_str(path + "|" + st + "|" + se, m_secret), 7), false);
}

Reply SimulatorImpl::export_files(const httplib::Request& req, ExportKind kind) {
  int hours = 1;
  if (has_param(req, "sasValidHours")) {
    const auto v = parse_int(param(req, "sasValidHours"));
    if (!v || *v < 1 || *v > 6)
      return error_reply(400, "InvalidInput", "sasValidHours must be between 1 and 6",
                         next_target());
    hours = static_cast<int>(*v);
  }
  Snapshot snap;
  std::int64_t now = 0;
  {
    std::shared_lock lock(m_world_mutex);
    snap = m_snapshot;
    now = m_world->now();
  }
  const std::string st = iso_time(now);
  const std::string se = iso_time(now + static_cast<std::int64_t>(hours) * 3600);
  const auto k = static_cast<std::size_t>(kind);
  const std::string run = guid(m_secret, static_cast<std::uint64_t>(snap.generated));
  json files = json::array();
  auto add = [&](std::size_t index) {
    std::array<char, 16> part{};
    std::snprintf(part.data(), part.size(), "%05zu", index);
    const std::string path = "/tvm-export/" + snap.time_path + k_export_dirs[k] +
                             "/json/OrgId=" + m_opt.credentials.tenant_id + "/part-" + part.data() +
                             "-" + run + ".c000.json.gz";
    files.push_back(m_base + path + "?sv=2020-08-04&st=" + url_encode(st) + "&se=" +
                    url_encode(se) + "&sr=b&sp=r&sig=" + url_encode(sas_sig(path, st, se)));
  };
  for (std::size_t i = 0; i < snap.files[k].size(); ++i) add(i);
  if (consume(&Faults::empty_export_file)) add(99999);
  Reply r;
  r.text = json{{"@odata.context", context("microsoft.windowsDefenderATP.api.ExportFilesResponse")},
                {"exportFiles", files},
                {"generatedTime", iso_time(snap.generated)}}
               .dump();
  return r;
}

Reply SimulatorImpl::download(const httplib::Request& req) {
  if (auto f = take_error_fault("download")) return *f;
  if (auto denied = check_sas(req)) return *denied;
  const auto blob = parse_blob_path(req.path);
  if (!blob) return blob_not_found();
  Reply r;
  r.content_type = "application/octet-stream";
  r.headers.emplace_back("x-ms-blob-type", "BlockBlob");
  if (blob->index == 99999) {
    r.text.clear();
    return r;
  }
  auto snap = m_store.load(blob->time_path);
  if (!snap || static_cast<std::size_t>(blob->index) >= snap->files[blob->kind].size())
    return blob_not_found();
  const fs::path file =
      snap->path(static_cast<ExportKind>(blob->kind), static_cast<std::size_t>(blob->index));
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) return blob_not_found();
  const bool truncated = consume(&Faults::truncated_gzip);
  FileVariant v;
  v.malformed = consume(&Faults::malformed_json_line);
  v.pascal = consume(&Faults::pascal_case_keys);
  v.extra = consume(&Faults::extra_fields);
  v.dup = consume(&Faults::duplicate_rows);
  v.stray = consume(&Faults::stray_row);
  if (v.malformed || v.pascal || v.extra || v.dup || v.stray) {
    // Fault variants are built in memory: they are meant for test-sized tenants.
    r.text = gzip_string(file_variant(file, v));
    if (truncated) r.text.resize(r.text.size() / 2);
    return r;
  }
  auto fp = std::shared_ptr<std::FILE>(std::fopen(file.c_str(), "rb"), [](std::FILE* f) {
    if (f != nullptr) std::fclose(f);
  });
  if (!fp) return blob_not_found();
  const std::uint64_t length = truncated ? size / 2 : size;
  auto sent = std::make_shared<std::uint64_t>(0);
  r.length = length;
  r.next = [fp, sent, length](std::string& chunk) {
    if (*sent >= length) return false;
    chunk.resize(static_cast<std::size_t>(std::min<std::uint64_t>(1U << 18U, length - *sent)));
    const std::size_t got = std::fread(chunk.data(), 1, chunk.size(), fp.get());
    if (got == 0) throw std::runtime_error("short read");
    chunk.resize(got);
    *sent += got;
    return true;
  };
  return r;
}

std::optional<Reply> SimulatorImpl::check_sas(const httplib::Request& req) {
  const std::string st = req.get_param_value("st");
  const std::string se = req.get_param_value("se");
  const std::string sig = req.get_param_value("sig");
  if (sig.empty() || sig != sas_sig(req.path, st, se)) {
    return azure_error(403, "AuthenticationFailed",
                       "Server failed to authenticate the request. Make sure the value of "
                       "Authorization header is formed correctly including the signature.",
                       "Signature did not match.");
  }
  std::int64_t now = 0;
  {
    std::shared_lock lock(m_world_mutex);
    now = m_world->now();
  }
  const auto expiry = parse_time(se);
  if (!expiry || now >= *expiry || consume(&Faults::expired_sas)) {
    return azure_error(
        403, "AuthenticationFailed",
        "Server failed to authenticate the request. Make sure the value of Authorization header "
        "is formed correctly including the signature.",
        "Signed expiry time [" + se + "] must be after current time [" + iso_time(now) + "]");
  }
  return std::nullopt;
}

}  // namespace mdesim
