#pragma once

// The retry loop shared by API calls, token requests and export downloads.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "http/http_client.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace mdesync::http {

// Returns a uniformly distributed value in [0, 1). Injected so tests fix the jitter.
using Random = std::function<double()>;

// A thread-safe Random backed by a seeded std::mt19937_64 per thread.
Random default_random();

struct RetryPolicy {
  int max_retries = 5;  // further attempts after the first
  std::chrono::milliseconds base_delay{1000};
  std::chrono::milliseconds max_delay{60'000};  // cap of the computed (jittered) delay
  // A Retry-After longer than this is not waited out: the call fails at once with the
  // server's value in Error::retry_after (e.g. an hourly quota that is spent).
  std::chrono::seconds max_retry_after{900};
};

// 408, 429 and 5xx except 501.
bool is_retryable_status(int status);

// Parses Retry-After as delta-seconds or an IMF-fixdate/RFC 850/asctime HTTP date
// (relative to `now`; a date in the past is zero). nullopt when absent or unparseable.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, util::SystemTime now);

// An HTTP date (RFC 9110: IMF-fixdate, RFC 850 or asctime form), nullopt when malformed.
std::optional<util::SystemTime> parse_http_date(std::string_view value);

// Full-jitter exponential backoff: uniform in [0, min(max_delay, base * 2^retry)).
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, double random01);

// Counters a retry loop updates; all atomic, shareable between threads.
struct RetryCounters {
  std::atomic<std::uint64_t> attempts{0};
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::uint64_t> throttled{0};  // 429 responses received
};

// Extracts a short error code (e.g. "TooManyRequests") from an error body; may be empty.
using ErrorCodeExtractor = std::function<std::string(const Response&)>;

struct RetryContext {
  const RetryPolicy* policy = nullptr;
  util::Clock* clock = nullptr;
  util::Sleeper* sleeper = nullptr;
  Random random;
  RetryCounters* counters = nullptr;  // optional
  ErrorCodeExtractor error_code;      // optional
  // Optional: a cancelled token ends the loop (its waits included) with
  // ErrorCode::cancelled.
  const util::CancelToken* cancel = nullptr;
};

// One attempt: a response (any status) or an error. Transport errors
// (ErrorCode::transport) are retried; any other error ends the loop at once.
using Attempt = std::function<util::Result<Response>()>;

// Runs `attempt` until it yields a non-retryable response, an error that is not a
// transport failure, or max_retries further attempts have been made. Waits between
// attempts through ctx.sleeper (Retry-After wins over backoff); a cancellation of
// ctx.cancel, before an attempt or during a wait, ends it with ErrorCode::cancelled at
// once. When retries run out the
// error (retries_exhausted, or rate_limited after a 429) names `what`, the attempt count,
// the last status and its error code. Blocks; thread-safe if `attempt` is.
util::Result<Response> run_with_retry(const RetryContext& ctx, std::string_view what,
                                      const Attempt& attempt);

// Decorator: an HttpClient whose send()/stream() retry through run_with_retry. A stream
// is only retried while no body byte has reached the sink.
class RetryingHttpClient final : public HttpClient {
 public:
  RetryingHttpClient(HttpClient& inner, RetryContext ctx) : m_inner(inner), m_ctx(std::move(ctx)) {}
  util::Result<Response> send(const Request& request) override;
  util::Result<Response> stream(const Request& request, const BodySink& sink) override;

 private:
  HttpClient& m_inner;
  RetryContext m_ctx;
};

}  // namespace mdesync::http
