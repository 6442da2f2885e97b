#include "util/log_context.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace mdesync::util {
namespace {

std::string field(const std::string& key) {
  for (const auto& [k, v] : log_context()) {
    if (k == key) return std::get<std::string>(v);
  }
  return "";
}

// The tenants of one run sync on threads of their own: each thread's context is its
// own, and a thread that a sync starts takes its starter's fields (docs/adr/0090).
TEST(LogContext, EachThreadHasItsOwnFieldsAndStartedThreadsTakeTheirStarters) {
  const ScopedLogContext mine("tenant", std::string("a"));
  std::string seen_by_other;
  std::string inherited;
  std::thread other([&] {
    const ScopedLogContext theirs("tenant", std::string("b"));
    seen_by_other = field("tenant");
    std::thread child(with_log_context([&] { inherited = field("tenant"); }));
    child.join();
  });
  other.join();
  EXPECT_EQ(seen_by_other, "b");
  EXPECT_EQ(inherited, "b");
  EXPECT_EQ(field("tenant"), "a") << "another thread's tenant leaked into this one";
  std::string plain;
  std::thread bare([&] { plain = field("tenant"); });
  bare.join();
  EXPECT_EQ(plain, "");
}

}  // namespace
}  // namespace mdesync::util
