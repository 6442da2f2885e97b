#pragma once

// Scripted HttpClient for tests: a handler decides each answer; every request is
// recorded. Header-only so every test folder can use it without a library of its own.

#include <algorithm>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "http/http_client.hpp"

namespace mdesync::http {

class FakeHttpClient final : public HttpClient {
 public:
  using Handler = std::function<util::Result<Response>(const Request&)>;

  explicit FakeHttpClient(Handler handler = {}) : m_handler(std::move(handler)) {}

  void set_handler(Handler handler) {
    std::lock_guard lock(m_mutex);
    m_handler = std::move(handler);
  }
  // Streams deliver 2xx bodies in pieces of this size (to exercise chunk boundaries).
  void set_chunk_size(std::size_t n) { m_chunk = n; }

  util::Result<Response> send(const Request& request) override {
    Handler h;
    {
      std::lock_guard lock(m_mutex);
      m_requests.push_back(request);
      h = m_handler;
    }
    if (!h) return util::fail(util::ErrorCode::transport, "no fake handler");
    return h(request);
  }

  util::Result<Response> stream(const Request& request, const BodySink& sink) override {
    auto r = send(request);
    if (!r || !r->ok()) return r;
    std::string body = std::move(r->body);
    r->body.clear();
    for (std::size_t i = 0; i < body.size(); i += m_chunk) {
      if (auto st = sink(std::string_view(body).substr(i, m_chunk)); !st) {
        return util::fail(std::move(st.error()));
      }
    }
    return r;
  }

  [[nodiscard]] std::vector<Request> requests() const {
    std::lock_guard lock(m_mutex);
    return m_requests;
  }
  [[nodiscard]] std::size_t count(std::string_view url_part) const {
    std::lock_guard lock(m_mutex);
    return static_cast<std::size_t>(
        std::count_if(m_requests.begin(), m_requests.end(),
                      [&](const Request& r) { return r.url.find(url_part) != std::string::npos; }));
  }

  static Response json(int status, std::string body, Headers headers = {}) {
    headers.emplace_back("Content-Type", "application/json");
    return Response{status, std::move(headers), std::move(body)};
  }

 private:
  mutable std::mutex m_mutex;
  Handler m_handler;
  std::vector<Request> m_requests;
  std::size_t m_chunk = 7;
};

}  // namespace mdesync::http
