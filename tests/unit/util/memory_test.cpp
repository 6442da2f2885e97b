#include "util/memory.hpp"

#include <gtest/gtest.h>

namespace mdesync::util {
namespace {

int g_calls = 0;

TEST(ReleaseFreeMemory, CallsTheRegisteredReleaserAndNothingWithoutOne) {
  set_free_memory_releaser(nullptr);
  release_free_memory();  // no releaser: nothing to call, no crash
  set_free_memory_releaser([] { ++g_calls; });
  release_free_memory();
  release_free_memory();
  EXPECT_EQ(g_calls, 2);
  set_free_memory_releaser(nullptr);
  release_free_memory();
  EXPECT_EQ(g_calls, 2);
}

}  // namespace
}  // namespace mdesync::util
