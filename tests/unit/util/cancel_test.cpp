#include "util/cancel.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <future>
#include <thread>

#include "util/clock.hpp"

namespace mdesync::util {
namespace {

using namespace std::chrono_literals;

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

TEST(CancelToken, CancelWakesAWaitAndMakesItsDescriptorReadable) {
  CancelToken token;
  ASSERT_GE(token.fd(), 0);
  EXPECT_FALSE(token.cancelled());
  EXPECT_FALSE(readable(token.fd()));
  EXPECT_TRUE(token.wait_for(1ms));  // the time passed

  auto waiter = std::async(std::launch::async, [&] { return token.wait_for(1h); });
  token.cancel();
  ASSERT_EQ(waiter.wait_for(60s), std::future_status::ready);
  EXPECT_FALSE(waiter.get());
  EXPECT_TRUE(token.cancelled());
  EXPECT_TRUE(readable(token.fd()));
  EXPECT_TRUE(readable(token.fd()));  // stays readable
  EXPECT_FALSE(token.wait_for(1h));   // at once once cancelled
  token.cancel();                     // idempotent
}

TEST(CancelToken, CallbacksRunOnCancelWhileSubscribed) {
  CancelToken token;
  int a = 0, b = 0;
  auto sub_a = token.on_cancel([&] { ++a; });
  {
    auto sub_b = token.on_cancel([&] { ++b; });
  }
  token.cancel();
  token.cancel();
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 0);  // unsubscribed before
  int late = 0;
  auto sub_late = token.on_cancel([&] { ++late; });
  EXPECT_EQ(late, 1);  // already cancelled: at once
  EXPECT_TRUE(cancelled(&token));
  EXPECT_FALSE(cancelled(nullptr));
}

TEST(FakeSleeper, ACancelledTokenEndsASleepWithoutMovingTheClock) {
  FakeClock clock;
  const auto start = clock.now();
  FakeSleeper sleeper(&clock);
  CancelToken token;
  EXPECT_TRUE(sleeper.sleep_for(5s, &token));
  EXPECT_EQ(clock.now(), start + 5s);
  token.cancel();
  EXPECT_FALSE(sleeper.sleep_for(120s, &token));
  EXPECT_EQ(clock.now(), start + 5s);
}

TEST(FakeSleeper, ABlockingSleepWaitsForFakeTimeOrTheCancellation) {
  FakeClock clock;
  const auto start = clock.now();
  FakeSleeper sleeper(&clock, true);
  CancelToken token;
  auto first = std::async(std::launch::async, [&] { return sleeper.sleep_for(120s, &token); });
  ASSERT_TRUE(sleeper.wait_until_sleeping(1, 60s));
  sleeper.advance(60s);
  EXPECT_EQ(first.wait_for(10ms), std::future_status::timeout);  // 60 of 120 s passed
  sleeper.advance(60s);
  ASSERT_EQ(first.wait_for(60s), std::future_status::ready);
  EXPECT_TRUE(first.get());

  auto second = std::async(std::launch::async, [&] { return sleeper.sleep_for(120s, &token); });
  ASSERT_TRUE(sleeper.wait_until_sleeping(1, 60s));
  token.cancel();
  if (second.wait_for(60s) != std::future_status::ready) {
    sleeper.advance(120s);  // let the thread end before failing
    FAIL() << "a cancelled sleep did not return";
  }
  EXPECT_FALSE(second.get());
  EXPECT_EQ(clock.now(), start + 120s);
}

}  // namespace
}  // namespace mdesync::util
