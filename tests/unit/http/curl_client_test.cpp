// CurlHttpClient against a loopback cpp-httplib server (port 0, hermetic).
#include "http/curl_client.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <zlib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <curl/curl.h>

namespace mdesync::http {
namespace {

std::string gzip(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(compressBound(static_cast<uLong>(in.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

class CurlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_server.Get("/plain", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content("hello " + req.get_header_value("X-Test"), "text/plain");
    });
    m_server.Get("/gz", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Content-Encoding", "gzip");
      res.set_content(gzip(std::string(10000, 'a')), "application/json");
    });
    m_server.Get("/status", [](const httplib::Request&, httplib::Response& res) {
      res.status = 503;
      res.set_header("Retry-After", "4");
      res.set_content("{\"error\":{\"code\":\"x\"}}", "application/json");
    });
    m_server.Post("/form", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.body, "text/plain");
    });
    // Answers only once the test releases it (a slow token service, say).
    m_server.Get("/held", [this](const httplib::Request&, httplib::Response& res) {
      enter_and_hold();
      res.set_content("late", "text/plain");
    });
    // Sends part of the body, then stalls until released (a stalled download).
    m_server.Get("/stalled", [this](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider(
          "application/octet-stream",
          [this, sent = false](std::size_t, httplib::DataSink& sink) mutable {
            if (!sent) {
              sent = true;
              const std::string part(4096, 'x');
              sink.write(part.data(), part.size());
              return true;
            }
            enter_and_hold();
            sink.done();
            return true;
          });
    });
    m_port = m_server.bind_to_any_port("127.0.0.1");
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    while (!m_server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  void TearDown() override {
    release();
    m_server.stop();
    m_thread.join();
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(m_port) + path;
  }

  void enter_and_hold() {
    std::unique_lock lock(m_hold_mutex);
    ++m_held;
    m_hold_cv.notify_all();
    m_hold_cv.wait(lock, [this] { return m_released; });
  }
  bool wait_until_held() {
    std::unique_lock lock(m_hold_mutex);
    return m_hold_cv.wait_for(lock, std::chrono::seconds{60}, [this] { return m_held > 0; });
  }
  void release() {
    std::lock_guard lock(m_hold_mutex);
    m_released = true;
    m_hold_cv.notify_all();
  }

  std::mutex m_hold_mutex;
  std::condition_variable m_hold_cv;
  int m_held = 0;
  bool m_released = false;
  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
};

// Certificate problems are final (their own code, not retried); connection trouble
// stays a transport error that the retry loop may recover from.
TEST(CurlErrorCode, CertificateFailuresAreNotTransportErrors) {
  for (const CURLcode rc : {CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE,
                            CURLE_SSL_CERTPROBLEM, CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR,
                            CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS}) {
    EXPECT_EQ(error_code_for_curl(rc), util::ErrorCode::tls_certificate) << curl_easy_strerror(rc);
  }
  for (const CURLcode rc :
       {CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_RECV_ERROR, CURLE_SEND_ERROR,
        CURLE_COULDNT_RESOLVE_HOST, CURLE_SSL_CONNECT_ERROR, CURLE_PARTIAL_FILE}) {
    EXPECT_EQ(error_code_for_curl(rc), util::ErrorCode::transport) << curl_easy_strerror(rc);
  }
}

TEST_F(CurlTest, SendsHeadersAndReusesHandles) {
  CurlHttpClient client(CurlOptions{});
  for (int i = 0; i < 3; ++i) {
    auto r = client.send(Request{"GET", url("/plain"), {{"X-Test", "there"}}, "", {}});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello there");
  }
}

TEST_F(CurlTest, DecompressesGzipBodies) {
  CurlHttpClient client(CurlOptions{});
  auto r = client.send(Request{"GET", url("/gz"), {}, "", {}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, std::string(10000, 'a'));
}

TEST_F(CurlTest, RawBytesWhenDecodingIsOff) {
  CurlHttpClient client(CurlOptions{});
  Request req{"GET", url("/gz"), {}, "", {}};
  req.decode_content = false;
  std::string raw;
  auto r = client.stream(req, [&](std::string_view c) {
    raw += c;
    return util::Status{};
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(raw, gzip(std::string(10000, 'a')));
}

TEST_F(CurlTest, StatusesAreValuesWithHeaders) {
  CurlHttpClient client(CurlOptions{});
  std::string streamed;
  auto r = client.stream(Request{"GET", url("/status"), {}, "", {}}, [&](std::string_view c) {
    streamed += c;
    return util::Status{};
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("retry-after"), "4");
  EXPECT_TRUE(streamed.empty());  // non-2xx bodies are buffered, not streamed
  EXPECT_NE(r->body.find("code"), std::string::npos);
}

TEST_F(CurlTest, PostsForms) {
  CurlHttpClient client(CurlOptions{});
  auto r = client.send(Request{"POST",
                               url("/form"),
                               {{"Content-Type", "application/x-www-form-urlencoded"}},
                               "a=1&b=2",
                               {}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "a=1&b=2");
}

TEST_F(CurlTest, StreamSinkErrorAbortsTheTransfer) {
  CurlHttpClient client(CurlOptions{});
  auto r = client.stream(Request{"GET", url("/plain"), {}, "", {}}, [](std::string_view) {
    return util::Status{util::fail(util::ErrorCode::parse, "stop here")};
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "stop here");
}

// A cancellation ends a transfer that waits for the server, before the server answers
// (the handler is held until after the result), with ErrorCode::cancelled.
TEST_F(CurlTest, CancelAbortsATransferWaitingForTheAnswer) {
  util::CancelToken cancel;
  CurlOptions o;
  o.cancel = &cancel;
  CurlHttpClient client(o);
  auto r = std::async(std::launch::async, [&] {
    return client.send(Request{"GET", url("/held"), {}, "", {}});
  });
  ASSERT_TRUE(wait_until_held());
  cancel.cancel();
  const bool ended = r.wait_for(std::chrono::seconds{60}) == std::future_status::ready;
  release();
  ASSERT_TRUE(ended) << "the transfer did not end on cancel";
  auto result = r.get();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, util::ErrorCode::cancelled) << result.error().message;
  EXPECT_NE(result.error().message.find("/held"), std::string::npos);
  // Once cancelled, nothing more is sent.
  auto again = client.send(Request{"GET", url("/plain"), {}, "", {}});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, util::ErrorCode::cancelled);
}

TEST_F(CurlTest, CancelAbortsAStalledBody) {
  util::CancelToken cancel;
  CurlOptions o;
  o.cancel = &cancel;
  CurlHttpClient client(o);
  std::atomic<std::size_t> received{0};
  auto r = std::async(std::launch::async, [&] {
    return client.stream(Request{"GET", url("/stalled"), {}, "", {}}, [&](std::string_view c) {
      received += c.size();
      return util::Status{};
    });
  });
  ASSERT_TRUE(wait_until_held());
  // The first part arrived: the transfer now waits in the middle of the body.
  for (int i = 0; i < 6000 && received.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  ASSERT_GT(received.load(), 0U);
  cancel.cancel();
  const bool ended = r.wait_for(std::chrono::seconds{60}) == std::future_status::ready;
  release();
  ASSERT_TRUE(ended) << "the transfer did not end on cancel";
  auto result = r.get();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, util::ErrorCode::cancelled) << result.error().message;
}

TEST(CurlTransport, FailureNamesHostAndPathButNotTheQuery) {
  // Bind a port without listening, so connections to it are refused.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  CurlOptions o;
  o.connect_timeout = std::chrono::seconds{2};
  o.low_speed_timeout = std::chrono::seconds{2};
  CurlHttpClient client(o);
  auto r =
      client.send(Request{"GET",
                          "http://127.0.0.1:" + std::to_string(port) + "/part-1.json.gz?sig=SECRET",
                          {},
                          "",
                          {}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::transport);
  EXPECT_NE(r.error().message.find("127.0.0.1"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("/part-1.json.gz"), std::string::npos);
  EXPECT_EQ(r.error().message.find("SECRET"), std::string::npos);
  ::close(fd);
}

}  // namespace
}  // namespace mdesync::http
