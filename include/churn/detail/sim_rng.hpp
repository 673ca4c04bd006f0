#pragma once
// Random numbers for the simulator: the library's generator (detail::rng, xoshiro256**) seeded per
// stream, and hand-written distributions. The std:: distributions are not used on purpose: their algorithms differ
// between standard libraries, and the simulator promises the same events for the same seed everywhere.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <churn/detail/rng.hpp>

namespace churn {
namespace detail {

/// The simulator's draws: the library's xoshiro256** (detail::rng) seeded per (seed, stream), with the
/// distributions the simulator needs.
class sim_rng {
 public:
  sim_rng() noexcept : sim_rng(0, 0) {}
  /// An independent stream for (seed, stream): e.g. one per user, so results do not depend on threads.
  sim_rng(std::uint64_t seed, std::uint64_t stream) noexcept : engine_(rng::for_stream(seed, stream)) {}

  std::uint64_t next() noexcept { return engine_(); }

  /// Uniform in [0, 1), 53 random bits.
  double uniform() noexcept { return engine_.uniform(); }
  /// Uniform integer in [0, n), 0 < n < 2^53, by scaling a uniform double (not rng::below's rejection
  /// method: the simulator's streams, and so its calibrated outputs, are fixed by this one).
  std::uint64_t below(std::uint64_t n) noexcept {
    const auto i = static_cast<std::uint64_t>(uniform() * static_cast<double>(n));
    return i < n ? i : n - 1;
  }
  /// Exponential with the given mean.
  double exponential(double mean) noexcept { return -mean * std::log1p(-uniform()); }
  /// Standard normal (Box-Muller; one value per call keeps the stream simple).
  double normal() noexcept {
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  /// Lognormal scaled to mean 1: exp(sigma z - sigma^2 / 2).
  double lognormal_mean1(double sigma) noexcept { return std::exp(sigma * normal() - 0.5 * sigma * sigma); }

 private:
  rng engine_;
};

/// Draws an index with probability proportional to its weight in O(1) (Walker/Vose alias method).
class alias_table {
 public:
  alias_table() = default;
  template <class Weights>
  explicit alias_table(const Weights& weights) {
    const std::size_t n = weights.size();
    prob_.assign(n, 0.0);
    alias_.assign(n, 0);
    double total = 0;
    for (auto w : weights) total += static_cast<double>(w);
    std::vector<double> scaled(n);
    std::vector<std::uint32_t> small, large;
    std::size_t i = 0;
    for (auto w : weights) {
      scaled[i] = static_cast<double>(w) * static_cast<double>(n) / total;
      (scaled[i] < 1.0 ? small : large).push_back(static_cast<std::uint32_t>(i));
      ++i;
    }
    while (!small.empty() && !large.empty()) {
      const auto s = small.back();
      small.pop_back();
      const auto l = large.back();
      prob_[s] = scaled[s];
      alias_[s] = l;
      scaled[l] = (scaled[l] + scaled[s]) - 1.0;
      if (scaled[l] < 1.0) {
        large.pop_back();
        small.push_back(l);
      }
    }
    for (auto l : large) prob_[l] = 1.0;
    for (auto s : small) prob_[s] = 1.0;  // only rounding leftovers
  }
  std::uint32_t operator()(sim_rng& rng) const noexcept {
    const auto column = static_cast<std::uint32_t>(rng.below(prob_.size()));
    return rng.uniform() < prob_[column] ? column : alias_[column];
  }
  std::size_t size() const noexcept { return prob_.size(); }

 private:
  std::vector<double> prob_;
  std::vector<std::uint32_t> alias_;
};

}  // namespace detail
}  // namespace churn
