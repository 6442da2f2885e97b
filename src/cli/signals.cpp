#include "cli/signals.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "cli/exit_codes.hpp"

namespace mdesync::cli {
namespace {

// Shared with the handler: plain ints and a lock-free atomic only.
int g_pipe[2] = {-1, -1};
std::atomic<int> g_signals{0};

constexpr char k_signal = 's';
constexpr char k_quit = 'q';

extern "C" void on_stop_signal(int /*signal*/) {
  if (g_signals.fetch_add(1) > 0) {
    // Second signal: no clean stop. Everything the store holds is transactional (an
    // open transaction is rolled back by SQLite at the next open, by PostgreSQL when
    // the connection drops), so ending here leaves no torn state.
    static constexpr char k_msg[] = "\nmdesync: stopped at once (second signal)\n";
    (void)!::write(STDERR_FILENO, k_msg, sizeof k_msg - 1);
    ::_exit(k_exit_interrupted);
  }
  const int saved = errno;
  (void)!::write(g_pipe[1], &k_signal, 1);
  errno = saved;
}

}  // namespace

StopOnSignals::StopOnSignals(util::CancelToken& token) : m_token(token) {
  if (::pipe2(g_pipe, O_CLOEXEC) != 0) {
    spdlog::warn("cannot watch for SIGINT/SIGTERM: {}", std::strerror(errno));
    return;
  }
  g_signals.store(0);
  m_watcher = std::thread([this] {
    char c = 0;
    for (;;) {
      const ssize_t n = ::read(g_pipe[0], &c, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || c == k_quit) return;
      spdlog::warn(
          "interrupted: stopping (the object in flight is rolled back; a second Ctrl-C stops "
          "at once)");
      m_token.cancel();
    }
  });
  struct sigaction sa {};
  sa.sa_handler = &on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  m_installed = true;
}

StopOnSignals::~StopOnSignals() {
  if (!m_installed) return;
  // The handlers and the pipe stay until the process ends: a first signal from here on
  // changes nothing (the run is over), a second still ends the process with 130, and no
  // handler can ever write into a descriptor number that a closed pipe left for reuse.
  (void)!::write(g_pipe[1], &k_quit, 1);
  m_watcher.join();
}

}  // namespace mdesync::cli
