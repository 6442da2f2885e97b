#pragma once

// Per-item calls of the api strategy (one call per software or recommendation),
// `download_concurrency` at a time within the client's rate limits.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "sync/sync_context.hpp"
#include "util/log_context.hpp"
#include "util/result.hpp"

namespace mdesync::sync {

// Runs f(i) for i in [0, n) on up to `threads` threads.
template <class F>
void parallel_for(std::size_t n, int threads, const F& f) {
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < n; i = next++) f(i);
  };
  const std::size_t count =
      std::min<std::size_t>(n, static_cast<std::size_t>(std::max(threads, 1)));
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < count; ++t) pool.emplace_back(util::with_log_context(worker));
  worker();
  for (auto& t : pool) t.join();
}

template <class T>
using ItemResults = std::vector<std::pair<std::vector<T>, std::optional<util::Error>>>;

// Each item's records, or the error its call ended with.
template <class T, class Call>
ItemResults<T> fetch_each(const SyncContext& ctx, const std::vector<std::string>& ids,
                          const Call& call) {
  ItemResults<T> out(ids.size());
  parallel_for(ids.size(), ctx.config.download_concurrency, [&](std::size_t i) {
    if (ctx.cancelled()) return;
    auto r = call(ids[i], [&out, i](T&& record) -> util::Status {
      out[i].first.push_back(std::move(record));
      return {};
    });
    if (!r) out[i].second = r.error();
  });
  return out;
}

// The first failed item as the object's error.
template <class T>
util::Status first_failure(const ItemResults<T>& results, const std::vector<std::string>& ids,
                           std::string_view what) {
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (const auto& e = results[i].second) {
      return util::fail(e->code, fmt::format("{} of {}: {}", what, ids[i], e->describe()));
    }
  }
  return {};
}

// Like fetch_each, but hands each item's records to `consume(index, records)` on the
// calling thread as its call completes (completion order), so memory holds only the
// items in flight, not the whole object. Stops at the first failed call (reported as
// "<what> of <id>: ...") or failed consume.
template <class T, class Call, class Consume>
util::Status fetch_each_streamed(const SyncContext& ctx, const std::vector<std::string>& ids,
                                 const Call& call, const Consume& consume, std::string_view what) {
  struct Done {
    std::size_t index = 0;
    std::vector<T> records;
    std::optional<util::Error> error;
  };
  if (ids.empty()) return {};
  const std::size_t workers = std::clamp<std::size_t>(
      static_cast<std::size_t>(std::max(ctx.config.download_concurrency, 1)), 1, ids.size());
  std::mutex mutex;
  std::condition_variable can_push;
  std::condition_variable can_pop;
  std::deque<Done> queue;
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> next{0};
  std::size_t active = workers;
  auto work = [&] {
    for (std::size_t i = next++; i < ids.size() && !stop.load() && !ctx.cancelled(); i = next++) {
      Done done;
      done.index = i;
      auto r = call(ids[i], [&done](T&& record) -> util::Status {
        done.records.push_back(std::move(record));
        return {};
      });
      if (!r) done.error = r.error();
      std::unique_lock lock(mutex);
      can_push.wait(lock, [&] { return queue.size() < workers || stop.load(); });
      if (stop.load()) break;
      queue.push_back(std::move(done));
      can_pop.notify_one();
    }
    std::lock_guard lock(mutex);
    --active;
    can_pop.notify_all();
  };
  std::vector<std::thread> pool;
  pool.reserve(workers);
  for (std::size_t t = 0; t < workers; ++t) pool.emplace_back(util::with_log_context(work));
  util::Status result;
  for (;;) {
    Done done;
    {
      std::unique_lock lock(mutex);
      can_pop.wait(lock, [&] { return !queue.empty() || active == 0; });
      if (queue.empty()) break;
      done = std::move(queue.front());
      queue.pop_front();
      can_push.notify_one();
    }
    if (!result) continue;  // draining after a failure
    if (done.error) {
      result = util::fail(done.error->code, fmt::format("{} of {}: {}", what, ids[done.index],
                                                        done.error->describe()));
    } else {
      result = consume(done.index, done.records);
    }
    if (!result) {
      std::lock_guard lock(mutex);
      stop.store(true);
      can_push.notify_all();
    }
  }
  for (auto& t : pool) t.join();
  return result;
}

// The ids of listed software, in order.
std::vector<std::string> ids_of(const std::vector<defender::Software>& software);

}  // namespace mdesync::sync
