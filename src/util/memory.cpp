#include "util/memory.hpp"

#include <atomic>

namespace mdesync::util {
namespace {

std::atomic<void (*)()> g_release{nullptr};

}  // namespace

void set_free_memory_releaser(void (*release)()) {
  g_release.store(release);
}

void release_free_memory() {
  if (auto* release = g_release.load()) release();
}

}  // namespace mdesync::util
