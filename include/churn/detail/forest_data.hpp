#pragma once
// Training data as the tree builder sees it: every feature coded once as the rank of its (float32)
// value among the column's distinct values, stored column-major as uint16. With at most 65,535 distinct
// values per column the coding is lossless, so every split scikit-learn could find stays available.
// Columns with more distinct values are grouped into 65,535 equal-frequency bins (documented in
// docs/model-format.md); no split inside a bin is then possible.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <churn/detail/parallel.hpp>
#include <churn/error.hpp>
#include <churn/matrix_view.hpp>

namespace churn {

namespace detail {

/// The message for a value the model cannot take: infinite or beyond float32's range.
inline std::string bad_value_message(std::size_t row, std::size_t col, double v) {
  char value[32];
  std::snprintf(value, sizeof value, "%g", v);
  const std::string where = "X[" + std::to_string(row) + ", " + std::to_string(col) + "] = " + value;
  const std::string position = " (row " + std::to_string(row) + ", column " + std::to_string(col) + ")";
  if (std::isinf(v)) return where + " is infinite" + position + "; replace infinite values (missing values may be NaN)";
  return where + " is too large for float32" + position + "; rescale the feature";
}

/// Converts one double to the float the trees compare (as scikit-learn does).
/// Throws data_error naming row and column for infinities and finite values beyond float32's range.
inline float checked_float(double v, std::size_t row, std::size_t col) {
  const float f = static_cast<float>(v);
  if (std::isinf(f)) throw data_error(bad_value_message(row, col, v));
  return f;
}

/// An unsigned key that orders like the float (finite or infinite, not NaN); -0 and +0 share a key.
inline std::uint32_t float_order_key(float f) noexcept {
  f += 0.0f;  // -0 becomes +0: equal floats, equal keys
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/// The float whose float_order_key is `key`.
inline float float_from_order_key(std::uint32_t key) noexcept {
  const std::uint32_t u = (key & 0x80000000u) ? (key ^ 0x80000000u) : ~key;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// The scatter of one pass of a stable LSD radix sort: moves in[0, n) to out, key k into bucket
/// digit(k), keeping the keys' order within each bucket. `start[b]` must hold where bucket b begins and
/// `end[b]` where it ends (start[b + 1]); both are used up. The first half of the keys fill each bucket
/// forward from its start and the second half backward from its end: the same places as one forward
/// pass, hence the same order, but in two independent chains of counter updates. A single chain waits
/// on every key for the counter it has just written (a store-to-load round trip), which was most of the
/// cost of sorting the small nodes of a tree (issue 21).
template <class Key, class Digit>
inline void radix_scatter_stable(const Key* in, Key* out, std::size_t n, std::uint32_t* start, std::uint32_t* end,
                                 Digit digit) noexcept {
  std::size_t i = 0, j = n;
  for (; i + 1 < j; ++i, --j) {
    const Key a = in[i], z = in[j - 1];
    out[start[digit(a)]++] = a;
    out[--end[digit(z)]] = z;
  }
  if (i < j) out[start[digit(in[i])]++] = in[i];  // the middle key of an odd count
}

/// Sorts 64-bit items by their upper 32 bits (LSD radix, stable, no comparisons). Binning sorts every
/// column once per fit; a comparison sort mispredicts about every other comparison, which made it the
/// larger part of fitting a small forest on a small table.
inline void radix_sort_high32(std::vector<std::uint64_t>& keys, std::vector<std::uint64_t>& tmp) {
  const std::size_t n = keys.size();
  if (n < 2) return;
  tmp.resize(n);
  // Byte digits for small columns (tables of 256 to clear and sum), 11-bit digits (3 passes) beyond.
  const int digit = n < 4096 ? 8 : 11;
  const int passes = (32 + digit - 1) / digit;
  const std::uint32_t buckets = 1u << digit, mask = buckets - 1u;
  std::vector<std::uint32_t> count(static_cast<std::size_t>(passes) * (buckets + 1), 0u);
  std::vector<std::uint32_t> end;
  for (const auto k : keys) {
    const auto hi = static_cast<std::uint32_t>(k >> 32);
    for (int pass = 0; pass < passes; ++pass) ++count[pass * (buckets + 1) + ((hi >> (pass * digit)) & mask) + 1];
  }
  for (int pass = 0; pass < passes; ++pass) {
    std::uint32_t* c = count.data() + pass * (buckets + 1);
    const int shift = 32 + pass * digit;
    if (c[1 + ((keys[0] >> shift) & mask)] == n) continue;  // one bucket: already in order
    for (std::uint32_t b = 0; b < buckets; ++b) c[b + 1] += c[b];
    end.assign(c + 1, c + 1 + buckets);
    radix_scatter_stable(keys.data(), tmp.data(), n, c, end.data(),
                         [shift, mask](std::uint64_t k) { return static_cast<std::uint32_t>(k >> shift) & mask; });
    keys.swap(tmp);
  }
}

/// Column-major rank codes of a training matrix.
struct binned_features {
  std::size_t n_rows = 0;
  std::size_t n_features = 0;
  std::vector<std::uint16_t> codes;       ///< codes[f * n_rows + row]; missing (NaN) = n_bins[f]
  std::vector<std::uint32_t> n_bins;      ///< non-missing bins per feature (0 if all missing)
  std::vector<std::uint8_t> has_missing;  ///< whether the column holds a NaN
  std::vector<std::vector<float>> lower;  ///< smallest value of each bin
  std::vector<std::vector<float>> upper;  ///< largest value of each bin (== lower when lossless)
  /// The two-valued columns (codes 0 and 1, no missing value: flags, one-hot columns), also kept as
  /// bits, row-major: bit j of binary_rows[row * binary_words + k] is the row's code of feature
  /// binary_features[64 * k + j]. The AND and OR of a node's rows then tell which of them are
  /// constant in the node in one pass, instead of one pass per column.
  std::vector<std::uint32_t> binary_features;
  std::vector<std::uint32_t> binary_slot;  ///< per feature: its j in binary_features, or -1 (uint32)
  std::size_t binary_words = 0;
  std::vector<std::uint64_t> binary_rows;

  const std::uint16_t* column(std::size_t f) const noexcept { return codes.data() + f * n_rows; }
  std::uint32_t max_bins() const noexcept {
    std::uint32_t m = 0;
    for (auto b : n_bins) m = std::max(m, b);
    return m;
  }
};

/// Fills the binary_* members of b from its codes.
inline void index_binary_columns(binned_features& b) {
  b.binary_features.clear();
  b.binary_slot.assign(b.n_features, ~std::uint32_t{0});
  for (std::size_t f = 0; f < b.n_features; ++f) {
    if (b.n_bins[f] == 2 && !b.has_missing[f]) {
      b.binary_slot[f] = static_cast<std::uint32_t>(b.binary_features.size());
      b.binary_features.push_back(static_cast<std::uint32_t>(f));
    }
  }
  b.binary_words = (b.binary_features.size() + 63) / 64;
  b.binary_rows.assign(b.n_rows * b.binary_words, 0);
  for (std::size_t j = 0; j < b.binary_features.size(); ++j) {
    const std::uint16_t* col = b.column(b.binary_features[j]);
    const std::size_t k = j / 64;
    const std::uint64_t bit = std::uint64_t{1} << (j % 64);
    for (std::size_t r = 0; r < b.n_rows; ++r)
      if (col[r]) b.binary_rows[r * b.binary_words + k] |= bit;
  }
}

/// The most bins a column may have: the missing code n_bins must still fit in a uint16.
constexpr std::uint32_t max_bins_per_feature = 65535;

/// Codes every column of X (parallel over columns).
/// Throws data_error for infinite values or values beyond float32's range (naming row and column).
/// Complexity: O(cols * rows) (radix sorts).
inline binned_features bin_features(const matrix_view& X, int n_threads) {
  binned_features b;
  b.n_rows = X.rows;
  b.n_features = X.cols;
  b.codes.assign(X.rows * X.cols, 0);
  b.n_bins.assign(X.cols, 0);
  b.has_missing.assign(X.cols, 0);
  b.lower.resize(X.cols);
  b.upper.resize(X.cols);
  parallel_for(X.cols, n_threads, [&](std::size_t f, std::size_t) {
    // (order key << 32 | row): sorted, equal values are adjacent and rows keep their order.
    std::vector<std::uint64_t> v, tmp;
    v.reserve(X.rows);
    std::uint16_t* code = b.codes.data() + f * X.rows;
    std::vector<std::uint32_t> missing_rows;
    for (std::size_t r = 0; r < X.rows; ++r) {
      const double x = X(r, f);
      if (std::isnan(x)) {
        missing_rows.push_back(static_cast<std::uint32_t>(r));
        continue;
      }
      v.push_back(static_cast<std::uint64_t>(float_order_key(checked_float(x, r, f))) << 32 | r);
    }
    radix_sort_high32(v, tmp);
    auto value = [&](std::size_t i) { return float_from_order_key(static_cast<std::uint32_t>(v[i] >> 32)); };
    auto row = [&](std::size_t i) { return static_cast<std::uint32_t>(v[i]); };
    auto new_value = [&](std::size_t i) { return i == 0 || (v[i] >> 32) != (v[i - 1] >> 32); };
    std::size_t distinct = 0;
    for (std::size_t i = 0; i < v.size(); ++i) distinct += new_value(i);
    auto& lo = b.lower[f];
    auto& hi = b.upper[f];
    if (distinct <= max_bins_per_feature) {
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (new_value(i)) {
          lo.push_back(value(i));
          hi.push_back(value(i));
        }
        code[row(i)] = static_cast<std::uint16_t>(lo.size() - 1);
      }
    } else {
      // Equal-frequency bins that never cut a run of equal values.
      const double per_bin = static_cast<double>(v.size()) / max_bins_per_feature;
      std::size_t i = 0;
      while (i < v.size()) {
        const std::size_t bin = lo.size();
        const std::size_t target = static_cast<std::size_t>(std::ceil(per_bin * static_cast<double>(bin + 1)));
        lo.push_back(value(i));
        code[row(i)] = static_cast<std::uint16_t>(bin);
        std::size_t j = i + 1;
        while (j < v.size() && (j < target || !new_value(j) || bin + 1 == max_bins_per_feature)) {
          code[row(j)] = static_cast<std::uint16_t>(bin);
          ++j;
        }
        hi.push_back(value(j - 1));
        i = j;
      }
    }
    b.n_bins[f] = static_cast<std::uint32_t>(lo.size());
    for (auto r : missing_rows) code[r] = static_cast<std::uint16_t>(lo.size());
    b.has_missing[f] = missing_rows.empty() ? 0 : 1;
  });
  index_binary_columns(b);
  return b;
}

}  // namespace detail
}  // namespace churn
