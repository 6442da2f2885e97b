#include "http/retry.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "http/url.hpp"

namespace mdesync::http {

Random default_random() {
  return [] {
    thread_local std::mt19937_64 engine{std::random_device{}() ^
                                        std::hash<std::thread::id>{}(std::this_thread::get_id())};
    return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
  };
}

bool is_retryable_status(int status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599 && status != 501);
}

namespace {

int month_index(std::string_view m) {
  static constexpr std::array<std::string_view, 12> k_months = {
      "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  std::string lower;
  for (char c : m) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  for (std::size_t i = 0; i < k_months.size(); ++i) {
    if (lower == k_months[i]) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

std::optional<util::SystemTime> parse_http_date(std::string_view v) {
  // Tokenise on spaces, commas, dashes and colons; all three RFC 9110 forms reduce to
  // day, month name, year, hh, mm, ss in some order.
  std::vector<std::string_view> tok;
  std::size_t i = 0;
  while (i < v.size()) {
    while (i < v.size() && (v[i] == ' ' || v[i] == ',' || v[i] == '-' || v[i] == ':')) ++i;
    std::size_t j = i;
    while (j < v.size() && v[j] != ' ' && v[j] != ',' && v[j] != '-' && v[j] != ':') ++j;
    if (j > i) tok.push_back(v.substr(i, j - i));
    i = j;
  }
  auto num = [](std::string_view s) -> std::optional<int> {
    int out = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
    return out;
  };
  std::optional<int> day, year, hh, mm, ss;
  int month = -1;
  if (tok.size() == 8 && tok.back() == "GMT") {
    // IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" or RFC 850 "Sunday, 06-Nov-94 ...".
    day = num(tok[1]);
    month = month_index(tok[2]);
    year = num(tok[3]);
    hh = num(tok[4]);
    mm = num(tok[5]);
    ss = num(tok[6]);
    if (year && *year < 100) *year += *year < 70 ? 2000 : 1900;
  } else if (tok.size() == 7) {
    // asctime "Sun Nov  6 08:49:37 1994".
    month = month_index(tok[1]);
    day = num(tok[2]);
    hh = num(tok[3]);
    mm = num(tok[4]);
    ss = num(tok[5]);
    year = num(tok[6]);
  } else {
    return std::nullopt;
  }
  if (!day || !year || !hh || !mm || !ss || month < 0) return std::nullopt;
  using namespace std::chrono;
  const year_month_day ymd{std::chrono::year{*year},
                           std::chrono::month{static_cast<unsigned>(month + 1)},
                           std::chrono::day{static_cast<unsigned>(*day)}};
  if (!ymd.ok() || *hh > 23 || *mm > 59 || *ss > 60) return std::nullopt;
  return sys_days{ymd} + hours{*hh} + minutes{*mm} + seconds{*ss};
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      util::SystemTime now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::isdigit(static_cast<unsigned char>(value.front())) != 0) {
    long long secs = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), secs);
    if (ec != std::errc{} || p != value.data() + value.size() || secs < 0) return std::nullopt;
    return std::chrono::seconds{secs};
  }
  const auto when = parse_http_date(value);
  if (!when) return std::nullopt;
  const auto delta = std::chrono::ceil<std::chrono::seconds>(*when - now);
  return std::max(delta, std::chrono::seconds{0});
}

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, double random01) {
  const double base = static_cast<double>(policy.base_delay.count());
  const double cap = static_cast<double>(policy.max_delay.count());
  const double ceiling = std::min(cap, base * std::ldexp(1.0, std::min(retry, 30)));
  const double r = std::clamp(random01, 0.0, 1.0);
  return std::chrono::milliseconds{static_cast<std::int64_t>(std::floor(ceiling * r))};
}

util::Result<Response> run_with_retry(const RetryContext& ctx, std::string_view what,
                                      const Attempt& attempt) {
  const RetryPolicy& policy = *ctx.policy;
  int attempts = 0;
  std::optional<util::Error> last_error;
  std::optional<Response> last_response;
  const auto interrupted = [&] {
    return util::fail(util::ErrorCode::cancelled, fmt::format("{}: interrupted", what));
  };
  for (int retry = 0;; ++retry) {
    if (util::cancelled(ctx.cancel)) return interrupted();
    ++attempts;
    if (ctx.counters != nullptr) ctx.counters->attempts.fetch_add(1, std::memory_order_relaxed);
    auto result = attempt();
    std::optional<std::chrono::milliseconds> server_delay;
    if (result) {
      const int status = result->status;
      if (status == 429 && ctx.counters != nullptr) {
        ctx.counters->throttled.fetch_add(1, std::memory_order_relaxed);
      }
      if (!is_retryable_status(status)) return result;
      if (auto ra = result->header("Retry-After")) {
        if (auto secs = parse_retry_after(*ra, ctx.clock->now())) {
          if (*secs > policy.max_retry_after) {
            util::Error err{util::ErrorCode::rate_limited,
                            fmt::format("{}: the server asks to wait {} s, longer than the {} s "
                                        "this client waits; try again later",
                                        what, secs->count(), policy.max_retry_after.count()),
                            status, *secs};
            return util::fail(std::move(err));
          }
          server_delay = *secs;
        }
      }
      last_response = std::move(*result);
      last_error.reset();
    } else {
      if (result.error().code != util::ErrorCode::transport) return result;
      last_error = std::move(result.error());
      last_response.reset();
    }
    if (retry >= policy.max_retries) break;
    const auto delay = server_delay ? *server_delay
                                    : backoff_delay(policy, retry, ctx.random ? ctx.random() : 1.0);
    if (ctx.counters != nullptr) ctx.counters->retries.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug(
        "{}: {}; retry {}/{} in {} ms", what,
        last_response ? fmt::format("HTTP {}", last_response->status) : last_error->message,
        retry + 1, policy.max_retries, delay.count());
    if (!ctx.sleeper->sleep_for(delay, ctx.cancel)) return interrupted();
  }
  if (last_response) {
    std::string code = ctx.error_code ? ctx.error_code(*last_response) : std::string{};
    const bool throttled = last_response->status == 429;
    util::Error err{throttled ? util::ErrorCode::rate_limited : util::ErrorCode::retries_exhausted,
                    fmt::format("{}: gave up after {} attempts; last answer HTTP {}{}{}", what,
                                attempts, last_response->status, code.empty() ? "" : " ", code),
                    last_response->status, std::nullopt};
    if (auto ra = last_response->header("Retry-After")) {
      err.retry_after = parse_retry_after(*ra, ctx.clock->now());
    }
    return util::fail(std::move(err));
  }
  util::Error err{util::ErrorCode::retries_exhausted,
                  fmt::format("{}: gave up after {} attempts; last error: {}", what, attempts,
                              last_error ? last_error->message : std::string("unknown")),
                  std::nullopt, std::nullopt};
  return util::fail(std::move(err));
}

util::Result<Response> RetryingHttpClient::send(const Request& request) {
  return run_with_retry(m_ctx, fmt::format("{} {}", request.method, redact_url(request.url)),
                        [&] { return m_inner.send(request); });
}

util::Result<Response> RetryingHttpClient::stream(const Request& request, const BodySink& sink) {
  bool delivered = false;
  const BodySink tracking = [&](std::string_view chunk) {
    delivered = true;
    return sink(chunk);
  };
  return run_with_retry(m_ctx, fmt::format("{} {}", request.method, redact_url(request.url)),
                        [&]() -> util::Result<Response> {
                          auto r = m_inner.stream(request, tracking);
                          if (!r && delivered && r.error().code == util::ErrorCode::transport) {
                            // Bytes already reached the consumer: a blind retry would
                            // duplicate them, so the failure is final here.
                            r.error().code = util::ErrorCode::io;
                          }
                          return r;
                        });
}

}  // namespace mdesync::http
