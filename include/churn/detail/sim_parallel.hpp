#pragma once
// A minimal parallel loop for the simulator: tasks are taken in order by up to `threads` workers; the
// first exception is captured and rethrown on the caller's thread (as hnswlib's ParallelFor does).
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace churn {
namespace detail {

/// Calls fn(i) for i in [0, n) on up to `threads` threads (the caller is one of them).
template <class Fn>
void sim_parallel_for(std::size_t n, unsigned threads, Fn&& fn) {
  if (n == 0) return;
  if (threads <= 1 || n == 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    for (;;) {
      const std::size_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next.store(n);  // stop handing out tasks
      }
    }
  };
  const std::size_t extra = std::min<std::size_t>(threads, n) - 1;
  std::vector<std::thread> pool;
  pool.reserve(extra);
  for (std::size_t t = 0; t < extra; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
}

/// The number of threads to use for a request of `threads` (0: all hardware threads).
inline unsigned sim_thread_count(unsigned threads) noexcept {
  if (threads != 0) return threads;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : hw;
}

}  // namespace detail
}  // namespace churn
