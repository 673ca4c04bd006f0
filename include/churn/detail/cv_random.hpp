#pragma once
// The few pieces of numpy's legacy `RandomState` that scikit-learn's splitters consume, reproduced bit
// for bit so that churn's folds and splits are the ones scikit-learn makes for the same seed.
//
// `np.random.RandomState(seed)` for an integer seed in [0, 2^32) is MT19937 seeded by init_genrand,
// which is exactly `std::mt19937(seed)`. Its legacy `shuffle` of a 1-D array runs Fisher-Yates from the
// end, drawing each index with `random_interval` (mask to the smallest all-ones mask >= max, reject
// values > max). `permutation(n)` shuffles `arange(n)`; `choice(a, k, replace=False)` (no p) takes the
// first k of `permutation(len(a))`.
#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace churn {
namespace detail {

/// numpy's `random_interval(bitgen, max)`: a uniform integer in [0, max] by masked rejection.
inline std::uint64_t cv_random_interval(std::mt19937& gen, std::uint64_t max) {
  if (max == 0) return 0;
  std::uint64_t mask = max;
  for (int shift : {1, 2, 4, 8, 16, 32}) mask |= mask >> shift;
  std::uint64_t value;
  if (max <= 0xffffffffULL) {
    while ((value = (static_cast<std::uint64_t>(gen()) & mask)) > max) {
    }
  } else {
    // numpy's next_uint64 for MT19937 is (first draw << 32) | second draw.
    for (;;) {
      std::uint64_t hi = gen();
      std::uint64_t lo = gen();
      value = ((hi << 32) | lo) & mask;
      if (value <= max) break;
    }
  }
  return value;
}

/// `RandomState.shuffle(x)` for a 1-D array.
template <class T>
void cv_legacy_shuffle(std::mt19937& gen, std::vector<T>& x) {
  if (x.size() < 2) return;
  for (std::size_t i = x.size() - 1; i > 0; --i) {
    auto j = static_cast<std::size_t>(cv_random_interval(gen, i));
    std::swap(x[i], x[j]);
  }
}

/// `RandomState.permutation(n)`.
inline std::vector<std::size_t> cv_legacy_permutation(std::mt19937& gen, std::size_t n) {
  std::vector<std::size_t> p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = i;
  cv_legacy_shuffle(gen, p);
  return p;
}

}  // namespace detail
}  // namespace churn
