#include "store/key_index.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace mdesync::store {
namespace {

constexpr std::uint64_t k_a = 0x9E3779B97F4A7C15ULL;
constexpr std::uint64_t k_b = k_a ^ (std::uint64_t{1} << 63);  // same home slot, other shard
constexpr std::uint64_t k_c = k_a ^ 1U;                        // same shard, next slot

std::map<std::int64_t, std::size_t> rowids(KeyIndex& k) {
  std::map<std::int64_t, std::size_t> out;  // rowid -> times named
  k.for_each_slot([&](std::size_t, std::int64_t rowid) { ++out[rowid]; });
  return out;
}

TEST(KeyIndex, FindsWhatWasPutAndNothingElse) {
  KeyIndex k;
  EXPECT_FALSE(k.find(k_a));
  k.put(k_a, 7, 42);
  auto e = k.find(k_a);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->rowid, 7);
  EXPECT_EQ(e->row_hash, 42);
  EXPECT_FALSE(e->ambiguous);
  EXPECT_FALSE(k.find(k_a ^ (std::uint64_t{1} << 40)));
  k.put(k_a, 7, std::nullopt);  // same row, hash now NULL
  EXPECT_EQ(k.find(k_a)->row_hash, std::nullopt);
  EXPECT_EQ(k.size(), 1U);
}

TEST(KeyIndex, GrowsShardByShardAndKeepsEveryEntry) {
  KeyIndex k;
  std::uint64_t x = 1;
  std::vector<std::uint64_t> keys;
  for (int i = 1; i <= 100'000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    keys.push_back(x);
    k.put(x, i, -i);
  }
  std::size_t found = 0;
  std::size_t ambiguous = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto e = k.find(keys[i]);
    ASSERT_TRUE(e);
    if (e->ambiguous) {
      ++ambiguous;
      continue;
    }
    EXPECT_EQ(e->rowid, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(e->row_hash, -static_cast<std::int64_t>(i + 1));
    ++found;
  }
  EXPECT_EQ(ambiguous, 0U);  // distinct 64-bit keys
  EXPECT_EQ(found + ambiguous, keys.size());
  // Every rowid is named exactly once, ambiguous ones included.
  auto named = rowids(k);
  EXPECT_EQ(named.size(), keys.size());
  for (const auto& [rowid, times] : named) EXPECT_EQ(times, 1U) << rowid;
  EXPECT_LE(k.capacity(), 262'144U);  // load factor >= 0.38
}

TEST(KeyIndex, ReserveSizesOnceForTheExpectedRows) {
  KeyIndex k;
  k.reserve(100'000);
  const auto cap = k.capacity();
  EXPECT_GE(cap, 125'000U);
  std::uint64_t x = 7;
  for (int i = 1; i <= 100'000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    k.put(x, i, i);
  }
  EXPECT_EQ(k.capacity(), cap);  // no growth
}

TEST(KeyIndex, SharedKeyBecomesAmbiguousAndKeepsBothRowids) {
  KeyIndex k;
  k.put(k_a, 10, 1);
  k.put(k_c, 12, 3);
  k.put(k_a, 11, 2);  // another uid, same key
  auto e = k.find(k_a);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->ambiguous);
  EXPECT_EQ(k.find(k_c)->rowid, 12);  // the neighbour is untouched
  k.put(k_a, 10, 3);                  // stays ambiguous for good
  EXPECT_TRUE(k.find(k_a)->ambiguous);
  // The sweep still sees both rows, not under a slot (their hash cannot be cleared).
  std::set<std::int64_t> side;
  k.for_each_slot([&](std::size_t slot, std::int64_t rowid) {
    if (rowid != 12) {
      EXPECT_EQ(slot, KeyIndex::npos);
      side.insert(rowid);
    }
  });
  EXPECT_EQ(side, (std::set<std::int64_t>{10, 11}));
}

TEST(KeyIndex, MarkAmbiguousKeepsTheRowidItReplaces) {
  KeyIndex k;
  k.put(k_a, 5, 1);
  k.mark_ambiguous(k_a);  // the store found another uid behind the key
  EXPECT_TRUE(k.find(k_a)->ambiguous);
  EXPECT_EQ(rowids(k), (std::map<std::int64_t, std::size_t>{{5, 1}}));
}

TEST(KeyIndex, RowidTooLargeForASlotFallsBackToSql) {
  KeyIndex k;
  const std::int64_t big = KeyIndex::k_max_rowid + 1;
  k.put(k_a, big, 9);
  auto e = k.find(k_a);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->ambiguous);  // never a wrong (truncated) rowid
  k.put(k_b, KeyIndex::k_max_rowid, 8);
  auto fits = k.find(k_b);
  ASSERT_TRUE(fits);
  EXPECT_FALSE(fits->ambiguous);
  EXPECT_EQ(fits->rowid, KeyIndex::k_max_rowid);
  k.put(k_a ^ (std::uint64_t{1} << 62), -3, 1);  // negative rowid: by hand only
  EXPECT_TRUE(k.find(k_a ^ (std::uint64_t{1} << 62))->ambiguous);
  auto named = rowids(k);
  EXPECT_EQ(named.count(big), 1U);
  EXPECT_EQ(named.count(KeyIndex::k_max_rowid), 1U);
  EXPECT_EQ(named.count(-3), 1U);
}

TEST(KeyIndex, ClearHashForgetsTheStoredHash) {
  KeyIndex k;
  k.put(k_a, 3, 77);
  std::size_t slot = KeyIndex::npos;
  k.for_each_slot([&](std::size_t s, std::int64_t rowid) {
    if (rowid == 3) slot = s;
  });
  ASSERT_NE(slot, KeyIndex::npos);
  k.clear_hash(slot);
  auto e = k.find(k_a);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->rowid, 3);
  EXPECT_EQ(e->row_hash, std::nullopt);
}

TEST(SeenSet, DenseAndSparseRowids) {
  SeenSet s;
  EXPECT_TRUE(s.add(1));
  EXPECT_FALSE(s.add(1));
  EXPECT_TRUE(s.add(1'000'000));
  EXPECT_TRUE(s.add(-5));
  EXPECT_TRUE(s.add(std::int64_t{1} << 40));
  EXPECT_TRUE(s.contains(1'000'000));
  EXPECT_TRUE(s.contains(-5));
  EXPECT_FALSE(s.contains(2));
  s.remove(1'000'000);
  s.remove(-5);
  EXPECT_FALSE(s.contains(1'000'000));
  EXPECT_FALSE(s.contains(-5));
  EXPECT_TRUE(s.contains(std::int64_t{1} << 40));
}

// The PostgreSQL store counts a device's rows through these keys (ADR 0113): two pairs
// never share one, and a pair that does not fit has none.
TEST(PairKey, DistinctPairsHaveDistinctKeysAndPairsPast32BitsHaveNone) {
  std::set<std::uint64_t> keys;
  constexpr std::int64_t k_top = std::int64_t{1} << 32;
  const std::vector<std::int64_t> ids = {0, 1, 2, 3, 255, 256, 65535, 65536, k_top - 2, k_top - 1};
  for (const auto a : ids) {
    for (const auto b : ids) {
      const auto key = pair_key(a, b);
      if (a == 0 && b == 0) {
        EXPECT_FALSE(key);
        continue;
      }
      ASSERT_TRUE(key) << a << "," << b;
      EXPECT_NE(*key, 0U);  // 0 marks an empty KeyIndex slot
      EXPECT_TRUE(keys.insert(*key).second) << a << "," << b;
    }
  }
  EXPECT_NE(pair_key(1, 2), pair_key(2, 1));
  EXPECT_FALSE(pair_key(k_top, 1));
  EXPECT_FALSE(pair_key(1, k_top));
  EXPECT_FALSE(pair_key(-1, 1));
}

}  // namespace
}  // namespace mdesync::store
