#include "http/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <future>

namespace mdesync::http {
namespace {

using std::chrono::milliseconds;

TEST(RateLimiter, DocumentedQuotas) {
  EXPECT_EQ(documented_quota("machines").per_minute, 100);
  EXPECT_EQ(documented_quota("machines").per_hour, 1500);
  EXPECT_EQ(documented_quota("SoftwareVulnerabilitiesByMachine").per_minute, 30);
  EXPECT_EQ(documented_quota("SoftwareVulnerabilitiesByMachine").per_hour, 1000);
  EXPECT_EQ(documented_quota("SoftwareVulnerabilitiesExport").per_minute, 5);
  EXPECT_EQ(documented_quota("SoftwareInventoryExport").per_hour, 20);
  EXPECT_EQ(documented_quota("software").per_minute, 100);  // undocumented -> default
}

TEST(RateLimiter, MinuteWindowWaitsForTheOldestPermit) {
  util::FakeClock clock;
  util::FakeSleeper sleeper(&clock);
  RateLimiter limiter(clock, sleeper, 1.0, milliseconds{0});
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(limiter.acquire("SoftwareVulnerabilitiesExport"), milliseconds{0});
    clock.advance(milliseconds{1000});
  }
  // Five calls at t=0..4 s: the sixth waits until t=60 s (now t=5 s).
  EXPECT_EQ(limiter.acquire("SoftwareVulnerabilitiesExport"), milliseconds{55'000});
  EXPECT_EQ(sleeper.delays(), std::vector<milliseconds>{milliseconds{55'000}});
  // Families are independent.
  EXPECT_EQ(limiter.acquire("machines"), milliseconds{0});
}

// A wait for a permit, held in fake time, ends when the run is cancelled; no permit is
// taken.
TEST(RateLimiter, CancelEndsAWaitForAPermit) {
  util::FakeClock clock;
  const auto start = clock.now();
  util::FakeSleeper sleeper(&clock, true);
  util::CancelToken cancel;
  RateLimiter limiter(clock, sleeper, 1.0, milliseconds{0}, &cancel);
  limiter.set_quota("machines", {1, 0});
  EXPECT_EQ(limiter.acquire("machines"), milliseconds{0});
  auto second = std::async(std::launch::async, [&] { return limiter.acquire("machines"); });
  ASSERT_TRUE(sleeper.wait_until_sleeping(1, std::chrono::seconds{60}));
  cancel.cancel();
  if (second.wait_for(std::chrono::seconds{60}) != std::future_status::ready) {
    for (int i = 0; i < 10 && second.wait_for(milliseconds{100}) != std::future_status::ready; ++i)
      sleeper.advance(std::chrono::minutes{2});
    FAIL() << "the wait for a permit did not end on cancel";
  }
  EXPECT_EQ(second.get(), milliseconds{0});  // no fake time passed
  EXPECT_EQ(sleeper.delays(), std::vector<milliseconds>{milliseconds{60'000}});
  EXPECT_EQ(clock.now(), start);
  // Once cancelled, no wait at all.
  EXPECT_EQ(limiter.acquire("machines"), milliseconds{0});
  EXPECT_EQ(sleeper.delays().size(), 1U);
}

TEST(RateLimiter, HourWindowAfterMinuteWindows) {
  util::FakeClock clock;
  util::FakeSleeper sleeper(&clock);
  RateLimiter limiter(clock, sleeper, 1.0, milliseconds{0});
  const auto start = clock.now();
  for (int i = 0; i < 20; ++i) limiter.acquire("SoftwareInventoryExport");
  // 20/h spent in four minutes (5/min); the 21st waits for the first to leave the hour.
  const auto before = clock.now();
  limiter.acquire("SoftwareInventoryExport");
  EXPECT_EQ(clock.now() - start, std::chrono::hours{1});
  EXPECT_GT(clock.now(), before);
}

TEST(RateLimiter, ScaleAndDisable) {
  util::FakeClock clock;
  util::FakeSleeper sleeper(&clock);
  RateLimiter half(clock, sleeper, 0.5, milliseconds{0});
  half.acquire("SoftwareVulnerabilitiesExport");
  half.acquire("SoftwareVulnerabilitiesExport");  // floor(5 * 0.5) = 2 per minute
  EXPECT_GT(half.acquire("SoftwareVulnerabilitiesExport"), milliseconds{0});

  util::FakeSleeper idle(&clock);
  RateLimiter off(clock, idle, 0.0);
  for (int i = 0; i < 1000; ++i) off.acquire("SoftwareVulnerabilitiesExport");
  EXPECT_TRUE(idle.delays().empty());
}

TEST(RateLimiter, MarginAbsorbsClockSkew) {
  util::FakeClock clock;
  util::FakeSleeper sleeper(&clock);
  RateLimiter limiter(clock, sleeper, 1.0, milliseconds{1000});
  limiter.set_quota("x", Quota{1, 0});
  limiter.acquire("x");
  EXPECT_EQ(limiter.acquire("x"), milliseconds{61'000});
  EXPECT_EQ(limiter.total_wait(), milliseconds{61'000});
}

}  // namespace
}  // namespace mdesync::http
