#include "http/curl_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "http/url.hpp"

namespace mdesync::http {

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  const BodySink* sink = nullptr;
  CURL* easy = nullptr;
  Response* response = nullptr;
  std::size_t max_error_body = 0;
  std::optional<util::Error> sink_error;
  bool status_known = false;
  bool streaming = false;  // 2xx with a sink: bytes go to the sink
};

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response starts (redirect or 100-continue): forget earlier headers.
    t->response->headers.clear();
    return n;
  }
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    t->response->headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  return n;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  if (!t->status_known) {
    long code = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    t->response->status = static_cast<int>(code);
    t->status_known = true;
    t->streaming = t->sink != nullptr && t->response->ok();
  }
  if (t->streaming) {
    auto st = (*t->sink)(std::string_view(data, n));
    if (!st) {
      t->sink_error = std::move(st.error());
      return CURL_WRITEFUNC_ERROR;
    }
    return n;
  }
  if (t->sink != nullptr && t->response->body.size() >= t->max_error_body) return n;
  t->response->body.append(data, n);
  return n;
}

}  // namespace

util::ErrorCode error_code_for_curl(int curl_code) {
  switch (static_cast<CURLcode>(curl_code)) {
    case CURLE_PEER_FAILED_VERIFICATION:  // also CURLE_SSL_CACERT: untrusted chain or name
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:  // our own client certificate
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
      return util::ErrorCode::tls_certificate;
    default:
      return util::ErrorCode::transport;
  }
}

// A transfer handle: the easy handle and the multi handle that drives it. The multi
// handle owns the connection cache, so both stay together in the pool.
struct Handle {
  CURL* easy = nullptr;
  CURLM* multi = nullptr;
};

struct CurlHttpClient::Pool {
  std::mutex mutex;
  std::vector<Handle> idle;
  ~Pool() {
    for (Handle h : idle) {
      curl_multi_cleanup(h.multi);
      curl_easy_cleanup(h.easy);
    }
  }
  Handle take() {
    {
      std::lock_guard lock(mutex);
      if (!idle.empty()) {
        Handle h = idle.back();
        idle.pop_back();
        return h;
      }
    }
    Handle h{curl_easy_init(), curl_multi_init()};
    if (h.easy == nullptr || h.multi == nullptr) {
      if (h.easy != nullptr) curl_easy_cleanup(h.easy);
      if (h.multi != nullptr) curl_multi_cleanup(h.multi);
      return {};
    }
    return h;
  }
  void give(Handle h) {
    std::lock_guard lock(mutex);
    idle.push_back(h);
  }
};

namespace {

// Runs the transfer of `h.easy` to its end, or until `cancel` is cancelled (then
// `*cancelled` is set). Returns the transfer's result.
CURLcode run_transfer(Handle h, const util::CancelToken* cancel, bool* cancelled) {
  if (CURLMcode mc = curl_multi_add_handle(h.multi, h.easy); mc != CURLM_OK) {
    return CURLE_FAILED_INIT;
  }
  CURLcode rc = CURLE_OK;
  bool done = false;
  for (;;) {
    int running = 0;
    if (curl_multi_perform(h.multi, &running) != CURLM_OK) {
      rc = CURLE_FAILED_INIT;
      break;
    }
    if (running == 0) {
      done = true;
      break;
    }
    if (util::cancelled(cancel)) {
      *cancelled = true;
      break;
    }
    curl_waitfd extra{};
    unsigned extra_count = 0;
    if (cancel != nullptr && cancel->fd() >= 0) {
      extra.fd = cancel->fd();
      extra.events = CURL_WAIT_POLLIN;
      extra_count = 1;
    }
    // Without a descriptor to watch, the token is looked at every 100 ms.
    const int timeout_ms = cancel != nullptr && extra_count == 0 ? 100 : 1000;
    if (curl_multi_poll(h.multi, extra_count > 0 ? &extra : nullptr, extra_count, timeout_ms,
                        nullptr) != CURLM_OK) {
      rc = CURLE_FAILED_INIT;
      break;
    }
  }
  if (done) {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(h.multi, &left)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == h.easy) rc = msg->data.result;
    }
  }
  // An unfinished transfer's connection is closed here, never reused.
  curl_multi_remove_handle(h.multi, h.easy);
  return rc;
}

}  // namespace

CurlHttpClient::CurlHttpClient(CurlOptions options)
    : m_options(std::move(options)), m_pool(std::make_unique<Pool>()) {
  global_init();
}

CurlHttpClient::~CurlHttpClient() = default;

util::Result<Response> CurlHttpClient::send(const Request& request) {
  return perform(request, nullptr);
}

util::Result<Response> CurlHttpClient::stream(const Request& request, const BodySink& sink) {
  return perform(request, &sink);
}

util::Result<Response> CurlHttpClient::perform(const Request& request, const BodySink* sink) {
  auto url = parse_url(request.url);
  if (!url) return util::fail(url.error());
  const auto interrupted = [&] {
    return util::fail(
        util::ErrorCode::cancelled,
        fmt::format("{} {}{}: interrupted", request.method, url->origin(), url->path));
  };
  if (util::cancelled(m_options.cancel)) return interrupted();
  const Handle handle = m_pool->take();
  CURL* easy = handle.easy;
  if (easy == nullptr) return util::fail(util::ErrorCode::internal, "curl_easy_init failed");
  // Handles go back to the pool after a reset: options are cleared, the connection
  // cache is kept.
  curl_easy_reset(easy);

  Response response;
  Transfer t;
  t.sink = sink;
  t.easy = easy;
  t.response = &response;
  t.max_error_body = m_options.max_error_body;

  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  if (request.decode_content) {
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
  } else {
    curl_easy_setopt(easy, CURLOPT_HTTP_CONTENT_DECODING, 0L);
  }
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT,
                   static_cast<long>(m_options.connect_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME,
                   static_cast<long>(m_options.low_speed_timeout.count()));
  if (request.timeout.count() > 0) {
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, static_cast<long>(request.timeout.count()));
  }
  curl_easy_setopt(easy, CURLOPT_USERAGENT, m_options.user_agent.c_str());
  if (m_options.proxy) curl_easy_setopt(easy, CURLOPT_PROXY, m_options.proxy->c_str());
  if (m_options.ca_bundle) curl_easy_setopt(easy, CURLOPT_CAINFO, m_options.ca_bundle->c_str());
  const long verify = m_options.insecure_skip_tls_verify ? 0L : 1L;
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, verify);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, m_options.insecure_skip_tls_verify ? 0L : 2L);

  curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    headers = curl_slist_append(headers, fmt::format("{}: {}", name, value).c_str());
  }
  // Keeps curl from sending "Expect: 100-continue" on form posts.
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);

  if (request.method == "GET") {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "POST") {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.c_str());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  } else {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (!request.body.empty()) {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.c_str());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
    }
  }
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);

  bool cancelled = false;
  const CURLcode rc = run_transfer(handle, m_options.cancel, &cancelled);
  curl_slist_free_all(headers);
  long code = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
  // The error buffer may quote the URL (with its query); build our own message.
  std::string cause;
  if (rc != CURLE_OK) {
    cause = errbuf[0] != '\0' ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    if (const auto q = cause.find('?'); q != std::string::npos) cause.resize(q);
    while (!cause.empty() && (cause.back() == '\n' || cause.back() == ' ')) cause.pop_back();
  }
  m_pool->give(handle);

  if (cancelled) return interrupted();
  if (t.sink_error) return util::fail(std::move(*t.sink_error));
  if (rc != CURLE_OK) {
    const auto kind = error_code_for_curl(static_cast<int>(rc));
    if (kind == util::ErrorCode::tls_certificate) {
      return util::fail(kind,
                        fmt::format("{} {}{}: TLS certificate problem: {}; not retried. Check the "
                                    "host name, the system CA certificates or ca_bundle, and any "
                                    "TLS-inspecting proxy",
                                    request.method, url->origin(), url->path, cause));
    }
    // The answer had begun (a status arrived) and the connection ended before its body
    // did: say so plainly, the callers' retry rules treat it as a cut transfer.
    const bool cut = code != 0 && (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR ||
                                   rc == CURLE_HTTP2_STREAM || rc == CURLE_HTTP2);
    return util::fail(kind,
                      fmt::format("{} {}{}: {}{}", request.method, url->origin(), url->path, cause,
                                  cut ? " (body truncated: the connection ended "
                                        "before the whole body arrived)"
                                      : ""));
  }
  response.status = static_cast<int>(code);
  return response;
}

}  // namespace mdesync::http
