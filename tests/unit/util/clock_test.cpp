#include "util/clock.hpp"

#include <gtest/gtest.h>

namespace mdesync::util {
namespace {

using namespace std::chrono_literals;

TEST(FakeClock, MovesOnlyWhenAdvanced) {
  FakeClock clock;
  const auto start = clock.now();
  EXPECT_EQ(clock.now(), start);
  clock.advance(1500ms);
  EXPECT_EQ(clock.now() - start, 1500ms);
}

TEST(FakeSleeper, RecordsDelaysAndAdvancesTheClock) {
  FakeClock clock;
  FakeSleeper sleeper(&clock);
  const auto start = clock.now();
  sleeper.sleep_for(100ms);
  sleeper.sleep_for(250ms);
  EXPECT_EQ(sleeper.delays(), (std::vector<std::chrono::milliseconds>{100ms, 250ms}));
  EXPECT_EQ(sleeper.total(), 350ms);
  EXPECT_EQ(clock.now() - start, 350ms);
}

}  // namespace
}  // namespace mdesync::util
