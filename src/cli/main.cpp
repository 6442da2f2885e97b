#include <cstdio>
#include <exception>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/command.hpp"
#include "cli/exit_codes.hpp"

#if defined(MDESYNC_WITH_JEMALLOC)
#include <jemalloc/jemalloc.h>
#endif

#include "util/memory.hpp"

#if defined(MDESYNC_WITH_JEMALLOC)
// jemalloc (docs/adr/0050) reads its options from this symbol: two arenas for a process
// with a handful of threads, and freed pages handed back to the system within a second,
// so that peak memory follows what the sync holds, not what it once held. The environment
// variable MALLOC_CONF is applied after these.
extern "C" {
// NOLINTNEXTLINE(cppcoreguidelines-avoid-non-const-global-variables)
const char* malloc_conf = "narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0";
}
#endif

namespace {

// Without jemalloc, glibc's defaults keep memory a sync has freed: one arena per thread
// each holding its high-water mark, and an mmap threshold that rises after each large
// free so later large buffers come from the heap and stay.
void bound_heap_growth() {
#if defined(__GLIBC__) && !defined(MDESYNC_WITH_JEMALLOC)
  mallopt(M_ARENA_MAX, 2);
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 4 << 20);
#endif
}

// How util::release_free_memory hands free pages back: jemalloc purges every arena's
// unused dirty pages at once (they would otherwise go within dirty_decay_ms); glibc trims
// its heaps.
void register_memory_release() {
#if defined(MDESYNC_WITH_JEMALLOC)
  mdesync::util::set_free_memory_releaser([] {
    static const std::string purge = "arena." + std::to_string(MALLCTL_ARENAS_ALL) + ".purge";
    (void)mallctl(purge.c_str(), nullptr, nullptr, nullptr, 0);
  });
#elif defined(__GLIBC__)
  mdesync::util::set_free_memory_releaser([] { (void)malloc_trim(0); });
#endif
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mdesync::cli;
  bound_heap_growth();
  register_memory_release();
  CLI::App app{
      "mdesync: keeps Microsoft Defender for Endpoint vulnerability data in your own database"};
  app.set_version_flag("--version", std::string("mdesync ") + MDESYNC_VERSION);
  app.require_subcommand(1);

  std::vector<std::pair<CLI::App*, CommandAction>> actions;
  for (const auto& command : registered_commands()) {
    CLI::App* sub = app.add_subcommand(command.name, command.description);
    actions.emplace_back(sub, command.setup(*sub));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? k_exit_ok : k_exit_usage;
  }

  try {
    for (auto& [sub, action] : actions) {
      if (sub->parsed()) return action();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mdesync: internal error: %s\n", e.what());
    return k_exit_failure;
  }
  return k_exit_usage;
}
