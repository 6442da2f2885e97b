#include "sync/pipeline.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace mdesync::sync {
namespace {

// A row that records which thread destroyed it.
struct Tracked {
  int value = 0;
  std::mutex* mutex = nullptr;
  std::vector<std::thread::id>* freed_on = nullptr;

  Tracked(int v, std::mutex* m, std::vector<std::thread::id>* f)
      : value(v), mutex(m), freed_on(f) {}
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  Tracked(Tracked&& o) noexcept : value(o.value), mutex(o.mutex), freed_on(o.freed_on) {
    o.freed_on = nullptr;
  }
  Tracked& operator=(Tracked&& o) noexcept {
    value = o.value;
    mutex = o.mutex;
    freed_on = o.freed_on;
    o.freed_on = nullptr;
    return *this;
  }
  ~Tracked() {
    if (freed_on == nullptr) return;
    std::lock_guard lock(*mutex);
    freed_on->push_back(std::this_thread::get_id());
  }
};

// Batches are mapped by the thread that stages them, consumed by the one that runs the
// step, and their rows freed by a thread that mapped: never by the consuming thread
// (ADR 0072).
TEST(StagedMap, MapsOnTheStagingThreadAndNeverFreesRowsOnTheConsumingOne) {
  std::mutex mutex;
  std::vector<std::thread::id> freed_on;
  std::vector<std::thread::id> mapped_on;
  std::vector<int> consumed;
  std::thread::id consumed_on;
  StagedMap<int, Tracked> staged(
      [&](std::vector<int>& batch, MappedBatch<Tracked>& out) {
        {
          std::lock_guard lock(mutex);
          mapped_on.push_back(std::this_thread::get_id());
        }
        for (int v : batch) out.rows.emplace_back(v * 10, &mutex, &freed_on);
        out.tally.read += static_cast<std::int64_t>(batch.size());
      },
      [&](MappedBatch<Tracked>& mapped) -> util::Status {
        consumed_on = std::this_thread::get_id();
        for (const auto& r : mapped.rows) consumed.push_back(r.value);
        return {};
      });
  const auto stage = staged.stage();
  std::thread::id stager;
  // One long-lived staging thread, as a download thread is for its file.
  std::vector<defender::BatchStep> steps;
  std::atomic<int> turn{0};
  std::thread worker([&] {
    stager = std::this_thread::get_id();
    steps.push_back(stage({1, 2, 3}));
    turn = 1;
    while (turn.load() != 2) std::this_thread::yield();
    steps.push_back(stage({4}));  // empties the consumed first batch, here
    turn = 3;
  });
  while (turn.load() != 1) std::this_thread::yield();
  ASSERT_TRUE(steps[0]());
  EXPECT_EQ(consumed_on, std::this_thread::get_id());
  {
    std::lock_guard lock(mutex);
    EXPECT_TRUE(freed_on.empty()) << "consuming a batch freed its rows";
  }
  turn = 2;
  while (turn.load() != 3) std::this_thread::yield();
  worker.join();
  ASSERT_TRUE(steps[1]());
  EXPECT_EQ(consumed, (std::vector<int>{10, 20, 30, 40}));
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(freed_on.size(), 3U);
    for (const auto& id : freed_on) EXPECT_EQ(id, stager);
    ASSERT_EQ(mapped_on.size(), 2U);
    EXPECT_EQ(mapped_on[0], stager);
    EXPECT_EQ(mapped_on[1], stager);
  }
}

// Each thread's T is its own; for_each sees them all.
TEST(PerThread, GivesEachThreadItsOwnItem) {
  PerThread<std::vector<int>> items;
  items.local().push_back(1);
  std::thread([&] {
    items.local().push_back(2);
    items.local().push_back(3);
  }).join();
  items.local().push_back(4);
  std::vector<std::size_t> sizes;
  items.for_each([&](const std::vector<int>& v) { sizes.push_back(v.size()); });
  std::sort(sizes.begin(), sizes.end());
  EXPECT_EQ(sizes, (std::vector<std::size_t>{2, 2}));
}

}  // namespace
}  // namespace mdesync::sync
