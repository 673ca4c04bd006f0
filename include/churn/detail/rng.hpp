#pragma once
// Portable random numbers. std:: distributions differ between standard libraries, so everything that
// must be reproducible across machines draws from these instead. Seeds for parallel tasks are derived
// from (seed, task index) so results never depend on the number of threads.
#include <cstdint>
#include <limits>

namespace churn {
namespace detail {

__extension__ typedef unsigned __int128 uint128_t;  // GCC and Clang; __extension__ keeps -Wpedantic quiet

/// One step of splitmix64: a bijective 64-bit mixer, used to derive and expand seeds.
inline std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// A seed for task `index` of a job seeded with `seed`; distinct tasks get unrelated streams.
inline std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t index) noexcept {
  std::uint64_t s = seed ^ 0x243F6A8885A308D3ULL;
  std::uint64_t a = splitmix64(s);
  std::uint64_t t = a ^ (index * 0xD1B54A32D192ED03ULL + 0x13198A2E03707344ULL);
  return splitmix64(t);
}

/// xoshiro256** (Blackman & Vigna): small, fast, statistically strong. Meets UniformRandomBitGenerator.
/// The library's one generator: the forest, cross-validation and the simulator (sim_rng.hpp) draw from it.
class rng {
 public:
  using result_type = std::uint64_t;

  /// The forest's and cross-validation's seeding: the four state words are splitmix64(seed) expanded.
  explicit rng(std::uint64_t seed = 0) noexcept {
    std::uint64_t s = seed;
    for (auto& word : state_) word = splitmix64(s);
  }

  /// The simulator's seeding: an independent stream for (seed, stream), e.g. one per user, so that
  /// results do not depend on threads. Kept apart from the constructor's seeding because the
  /// simulator's calibrated outputs are fixed by it.
  static rng for_stream(std::uint64_t seed, std::uint64_t stream) noexcept {
    std::uint64_t x = seed;
    std::uint64_t mixed = splitmix64(x) ^ (stream * 0xD1B54A32D192ED03ULL + 0x8CB92BA72F3D8DD7ULL);
    rng g;
    for (auto& word : g.state_) word = splitmix64(mixed);
    return g;
  }

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

  result_type operator()() noexcept {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  /// Uniform integer in [0, n), n > 0, without modulo bias (Lemire's multiply-and-reject).
  std::uint64_t below(std::uint64_t n) noexcept {
    std::uint64_t x = (*this)();
    uint128_t m = static_cast<uint128_t>(x) * n;
    std::uint64_t low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        x = (*this)();
        m = static_cast<uint128_t>(x) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

  /// Uniform double in [0, 1) with 53 random bits.
  double uniform() noexcept { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::uint64_t state_[4];
};

}  // namespace detail
}  // namespace churn
