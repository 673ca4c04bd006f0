#pragma once
// A map from string keys to dense indices (0, 1, 2, ... in insertion order) for owners that already
// keep each key in their own element (the feature accumulator keeps the user id in its user state).
// The table holds only a 32-bit hash and the index per slot, 8 bytes, in one flat array: at full scale
// (22,000 users) it stays in cache, where std::unordered_map<std::string, ...> chases a node pointer
// into cold memory on every event (profiled at ~14% of the features pass on the full-size log).
#include <cstdint>
#include <limits>
#include <string_view>
#include <utility>
#include <vector>

#include "prefetch.hpp"

namespace churn::detail {

class string_index {
 public:
  /// What find() returns for an absent key.
  static constexpr std::uint32_t npos = std::numeric_limits<std::uint32_t>::max();

  /// The index of `key`, or, when it is absent, `next` (inserted). `key_of(i)` must return the key
  /// of index i for every index inserted so far. Returns (index, inserted).
  template <class KeyOf>
  std::pair<std::uint32_t, bool> try_emplace(std::string_view key, std::uint32_t next, const KeyOf& key_of) {
    return try_emplace_hashed(key, hash(key), next, key_of);
  }
  /// try_emplace() with `h` = hash(key) computed by the caller (who may have prefetched it).
  template <class KeyOf>
  std::pair<std::uint32_t, bool> try_emplace_hashed(std::string_view key, std::uint32_t h, std::uint32_t next,
                                                    const KeyOf& key_of) {
    if (2 * (count_ + 1) > slots_.size()) grow();
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      slot& s = slots_[i];
      if (s.index == empty) {
        s = {h, next};
        ++count_;
        return {next, true};
      }
      if (s.hash == h && std::string_view(key_of(s.index)) == key) return {s.index, false};
    }
  }

  /// The index of `key`, or npos when it is absent (nothing is inserted).
  template <class KeyOf>
  std::uint32_t find(std::string_view key, const KeyOf& key_of) const {
    return find_hashed(key, hash(key), key_of);
  }
  template <class KeyOf>
  std::uint32_t find_hashed(std::string_view key, std::uint32_t h, const KeyOf& key_of) const {
    if (slots_.empty()) return npos;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      const slot& s = slots_[i];
      if (s.index == empty) return npos;
      if (s.hash == h && std::string_view(key_of(s.index)) == key) return s.index;
    }
  }

  /// The index of the first key whose hash is `h` (probably the key itself, not certainly), or npos:
  /// lets a caller prefetch the owner's element before comparing keys. Touches only the table.
  std::uint32_t candidate(std::uint32_t h) const noexcept {
    if (slots_.empty()) return npos;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      const slot& s = slots_[i];
      if (s.index == empty || s.hash == h) return s.index;
    }
  }
  /// Asks the CPU to load the table slot where the search for hash `h` starts.
  void prefetch(std::uint32_t h) const noexcept {
    if (!slots_.empty()) detail::prefetch(&slots_[h & (slots_.size() - 1)]);
  }

  std::size_t size() const noexcept { return count_; }

  static std::uint32_t hash(std::string_view key) noexcept {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a, then a multiplicative mix for the low bits
    for (unsigned char c : key) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return static_cast<std::uint32_t>(h ^ (h >> 32));
  }

 private:
  struct slot {
    std::uint32_t hash;
    std::uint32_t index;
  };
  static constexpr std::uint32_t empty = npos;  // a free slot's index

  void grow() {
    std::vector<slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 64 : 2 * old.size(), slot{0, empty});
    const std::size_t mask = slots_.size() - 1;
    for (const slot& s : old) {
      if (s.index == empty) continue;
      std::size_t i = s.hash & mask;
      while (slots_[i].index != empty) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }

  std::vector<slot> slots_;
  std::size_t count_ = 0;
};

}  // namespace churn::detail
