#pragma once
// A minimal fork-join parallel_for. Threads are started per call (no global pool, no global state); the
// calling thread takes part. The first exception thrown by any task is captured, the remaining tasks
// are skipped and the exception is rethrown on the caller's thread.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <churn/error.hpp>

namespace churn {
namespace detail {

/// Number of hardware threads, at least 1.
inline int hardware_threads() noexcept {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

/// The most threads any churn function starts for one call (docs/reliability.md). A caller's thread
/// count sizes per-thread state before the first thread starts: n_jobs = 10^9 was a MemoryError
/// (issue 15), not the parameter error it is now.
inline constexpr long long max_threads = 1024;

/// Throws parameter_error when `value` asks for more than max_threads threads.
inline void check_thread_count(const char* name, long long value) {
  if (value > max_threads)
    throw parameter_error(name, std::to_string(value),
                          "at most " + std::to_string(max_threads) + " threads (0 or -1: all cores)");
}

/// Resolves a scikit-learn style `n_jobs`: positive values are taken as they are, -1 means all cores,
/// -2 all but one, and so on (never fewer than 1).
/// Throws parameter_error for 0 and for more than max_threads.
inline int resolve_n_jobs(int n_jobs) {
  if (n_jobs == 0) throw parameter_error("n_jobs", "0", "a positive number of threads, or -1 for all cores");
  check_thread_count("n_jobs", n_jobs);
  if (n_jobs > 0) return n_jobs;
  return std::max(1, hardware_threads() + 1 + n_jobs);
}

/// Calls `fn(task, worker)` for every task in [0, n_tasks) on up to `n_threads` threads (worker in
/// [0, n_threads)), handing tasks out one at a time so uneven tasks balance. Results must not depend on
/// which worker runs a task; use `worker` only to pick per-thread scratch space.
/// Throws whatever the first failing task threw, after all threads have joined.
template <class Fn>
void parallel_for(std::size_t n_tasks, int n_threads, Fn&& fn) {
  if (n_tasks == 0) return;
  const std::size_t workers = std::min<std::size_t>(static_cast<std::size_t>(std::max(1, n_threads)), n_tasks);
  if (workers == 1) {
    for (std::size_t t = 0; t < n_tasks; ++t) fn(t, std::size_t{0});
    return;
  }
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto run = [&](std::size_t worker) {
    for (;;) {
      if (failed.load(std::memory_order_relaxed)) return;
      const std::size_t t = next.fetch_add(1, std::memory_order_relaxed);
      if (t >= n_tasks) return;
      try {
        fn(t, worker);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
        failed.store(true, std::memory_order_relaxed);
        return;
      }
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(workers - 1);
  try {
    for (std::size_t w = 1; w < workers; ++w) threads.emplace_back(run, w);
  } catch (...) {
    // Could not start a thread: run with the threads we have rather than fail.
  }
  run(0);
  for (auto& t : threads) t.join();
  if (first_error) std::rethrow_exception(first_error);
}

/// Splits [0, n) into contiguous blocks of at most `block` items and calls `fn(begin, end, worker)` for
/// each block in parallel (see parallel_for).
template <class Fn>
void parallel_for_blocks(std::size_t n, std::size_t block, int n_threads, Fn&& fn) {
  if (n == 0) return;
  block = std::max<std::size_t>(1, block);
  const std::size_t n_blocks = (n + block - 1) / block;
  parallel_for(n_blocks, n_threads, [&](std::size_t b, std::size_t worker) {
    const std::size_t begin = b * block;
    fn(begin, std::min(n, begin + block), worker);
  });
}

}  // namespace detail
}  // namespace churn
