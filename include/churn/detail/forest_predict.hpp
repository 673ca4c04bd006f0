#pragma once
// The prediction kernels of random_forest (forest.hpp): walking trees for one row (trees in lockstep),
// for a block of rows (rows in lockstep, walk_lanes) and for a large block (rows partitioned node by
// node, walk_partition), and the decision-path contributions of one row.
//
// The step at the heart of walk_partition: the rows that reached a node are split into those going
// left (kept first, in order) and those going right (after them, in order), once per node and block.
//
// Two kernels give the same result, element for element: a portable branch-free loop, and on x86-64
// processors with AVX-512 a loop that takes 16 rows at a time (gather, compare, compress). The wide one
// costs about 0.64 ns a row instead of 0.89 on the development machine (bench/bench_predict_floor.cpp)
// and is chosen at run time, so that a build for any x86-64 processor uses it where it exists.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include <churn/tree.hpp>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define CHURN_HAS_AVX512_SPLIT 1
#endif

namespace churn::detail {

/// Splits first[0, count) by `column[row] <= threshold` (NaN goes left when `missing_left`), keeping the
/// order within each side; `right` is scratch of at least `count` entries. Returns the left count.
using split_rows_fn = std::uint32_t (*)(const float* column, std::uint32_t* first, std::uint32_t* right,
                                        std::uint32_t count, float threshold, bool missing_left);

// Without branches on the comparison: each row is written to both sides, and only its own side's
// count advances (a mispredicted branch per row would cost more than the extra store).
template <bool MissingLeft>
inline std::uint32_t split_rows_scalar_loop(const float* column, std::uint32_t* first, std::uint32_t* right,
                                            std::uint32_t begin, std::uint32_t count, float threshold, std::uint32_t nl,
                                            std::uint32_t nr) noexcept {
  for (std::uint32_t i = begin; i < count; ++i) {
    const std::uint32_t r = first[i];
    // NaN compares false: "not greater" sends it left, "less or equal" right.
    const bool left = MissingLeft ? !(column[r] > threshold) : column[r] <= threshold;
    first[nl] = r;
    right[nr] = r;
    nl += left;
    nr += !left;
  }
  std::copy(right, right + nr, first + nl);
  return nl;
}

inline std::uint32_t split_rows_scalar(const float* column, std::uint32_t* first, std::uint32_t* right,
                                       std::uint32_t count, float threshold, bool missing_left) noexcept {
  return missing_left ? split_rows_scalar_loop<true>(column, first, right, 0, count, threshold, 0, 0)
                      : split_rows_scalar_loop<false>(column, first, right, 0, count, threshold, 0, 0);
}

#ifdef CHURN_HAS_AVX512_SPLIT
template <bool MissingLeft>
__attribute__((target("avx512f"))) inline std::uint32_t split_rows_avx512_loop(
    const float* column, std::uint32_t* first, std::uint32_t* right, std::uint32_t count, float threshold) noexcept {
  const __m512 t = _mm512_set1_ps(threshold);
  std::uint32_t nl = 0, nr = 0, i = 0;
  // Each store writes 16 lanes from position nl (or nr) <= i: never past the rows already read, and
  // never past `count`, because i + 16 <= count.
  for (; i + 16 <= count; i += 16) {
    const __m512i rows = _mm512_loadu_si512(first + i);
    // The masked gather with an explicit source: the plain one trips GCC 12's maybe-uninitialized check.
    const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), 0xFFFF, rows, column, 4);
    const __mmask16 left = _mm512_cmp_ps_mask(v, t, MissingLeft ? _CMP_NGT_UQ : _CMP_LE_OQ);
    // Register-form compress and a plain store: the memory form is microcoded and slow on AMD.
    _mm512_storeu_si512(first + nl, _mm512_maskz_compress_epi32(left, rows));
    _mm512_storeu_si512(right + nr, _mm512_maskz_compress_epi32(static_cast<__mmask16>(~left), rows));
    const auto n = static_cast<std::uint32_t>(__builtin_popcount(left));
    nl += n;
    nr += 16 - n;
  }
  return split_rows_scalar_loop<MissingLeft>(column, first, right, i, count, threshold, nl, nr);
}

inline std::uint32_t split_rows_avx512(const float* column, std::uint32_t* first, std::uint32_t* right,
                                       std::uint32_t count, float threshold, bool missing_left) noexcept {
  return missing_left ? split_rows_avx512_loop<true>(column, first, right, count, threshold)
                      : split_rows_avx512_loop<false>(column, first, right, count, threshold);
}
#endif

/// Whether this processor runs split_rows_avx512 (false where it was not compiled in).
inline bool has_avx512_split() noexcept {
#ifdef CHURN_HAS_AVX512_SPLIT
  return __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

/// The fastest kernel this processor runs.
inline split_rows_fn best_split_rows() noexcept {
#ifdef CHURN_HAS_AVX512_SPLIT
  if (has_avx512_split()) return split_rows_avx512;
#endif
  return split_rows_scalar;
}

/// The trees of a forest as the kernels read them: tree t is nodes[offsets[t], offsets[t + 1]).
struct tree_set {
  const tree_node* nodes = nullptr;
  const std::uint32_t* offsets = nullptr;
  std::size_t n_trees = 0;
  std::size_t n_features = 0;
  const tree_node* tree(std::size_t t) const noexcept { return nodes + offsets[t]; }
};

/// P(class 1) for one float row: the mean leaf value over the trees, walked 16 at a time in lockstep
/// so that their memory loads overlap; values are added in tree order.
inline double predict_row_lockstep(const tree_set& f, const float* x) noexcept {
  constexpr std::size_t block = 16;
  const std::size_t T = f.n_trees;
  double sum = 0;
  for (std::size_t t0 = 0; t0 < T; t0 += block) {
    const std::size_t nb = std::min(block, T - t0);
    const tree_node* root[block];
    std::uint32_t pos[block] = {};
    for (std::size_t k = 0; k < nb; ++k) root[k] = f.tree(t0 + k);
    for (;;) {
      std::uint32_t all_leaves = 1, leaf = 0;
      for (std::size_t k = 0; k < nb; ++k) {
        pos[k] = step(root[k], pos[k], x, leaf);
        all_leaves &= leaf;
      }
      if (all_leaves) break;
    }
    for (std::size_t k = 0; k < nb; ++k) sum += root[k][pos[k]].value;
  }
  return sum / static_cast<double>(T);
}

/// Below this many rows a block is walked row by row (walk_lanes); from it on, partitioned node by
/// node (walk_partition). The two cost about the same at 100 rows a block on the development machine
/// (a walk of 500 trees timed both ways); both give the same results.
inline constexpr std::size_t partition_min_rows = 128;

/// Adds every tree's leaf value to acc[r] for the m float rows xs (row-major), tree by tree. Within a
/// tree, 16 rows advance in lockstep so that their independent cache misses overlap; a lane whose row
/// reaches its leaf takes the next row at once rather than idling until the deepest of the 16 paths
/// ends (paths in a fully grown tree differ in length a lot).
inline void walk_lanes(const tree_set& f, const float* x, std::size_t m, double* acc) noexcept {
  const std::size_t p = f.n_features;
  constexpr std::size_t lanes = 16;
  constexpr std::uint32_t no_row = std::numeric_limits<std::uint32_t>::max();
  for (std::size_t t = 0; t < f.n_trees; ++t) {
    const tree_node* root = f.tree(t);
    std::uint32_t pos[lanes], row[lanes];
    const std::size_t nl = std::min(lanes, m);
    std::size_t next = 0;
    for (std::size_t k = 0; k < nl; ++k) pos[k] = 0, row[k] = static_cast<std::uint32_t>(next++);
    if (nl == lanes) {
      while (next < m) {
        for (std::size_t k = 0; k < lanes; ++k) {
          std::uint32_t leaf;
          const std::uint32_t at = step(root, pos[k], x + row[k] * p, leaf);
          if (leaf) {
            acc[row[k]] += root[at].value;
            row[k] = next < m ? static_cast<std::uint32_t>(next++) : no_row;
            pos[k] = 0;
          } else {
            pos[k] = at;
          }
        }
      }
    }
    for (std::size_t k = 0; k < nl; ++k) {
      if (row[k] == no_row) continue;
      const float* xr = x + row[k] * p;
      const tree_node* node = root + pos[k];
      while (!node->is_leaf()) node = node->goes_left(xr[node->feature()]) ? node + 1 : root + node->right;
      acc[row[k]] += node->value;
    }
  }
}

/// Scratch of walk_partition for blocks of up to m rows.
struct partition_scratch {
  explicit partition_scratch(std::size_t m) : rows(m), right(m) {}
  struct segment {
    std::uint32_t node, begin, end;
  };
  std::vector<std::uint32_t> rows, right;
  std::vector<segment> stack;
};

/// Adds the leaf value of tree `root` to acc[r] for the m rows of the column-major block x (feature f
/// of row r at x[f * stride + r]). The block's rows go down the tree together: at each node the rows
/// that reached it are split, without branches, into those going left (kept in place) and right
/// (moved after them), and each child then takes its share. A row-by-row walk spends most of its
/// time choosing the next node; here each level of each row is a few instructions in a loop the
/// processor runs at full speed, which pays off from about a hundred rows. `split` is the kernel of
/// that step (above). Each row still gets its trees' values added in tree order, so results equal
/// walk_lanes' bit for bit.
inline void walk_partition(const tree_node* root, const float* x, std::size_t stride, std::size_t m, double* acc,
                           partition_scratch& s, split_rows_fn split) {
  std::uint32_t* rows = s.rows.data();
  std::uint32_t* right = s.right.data();
  for (std::size_t r = 0; r < m; ++r) rows[r] = static_cast<std::uint32_t>(r);
  auto& stack = s.stack;
  stack.clear();
  stack.push_back({0, 0, static_cast<std::uint32_t>(m)});
  while (!stack.empty()) {
    const auto seg = stack.back();
    stack.pop_back();
    const tree_node& n = root[seg.node];
    std::uint32_t* first = rows + seg.begin;
    const std::uint32_t count = seg.end - seg.begin;
    if (n.is_leaf()) {
      const double v = n.value;
      for (std::uint32_t i = 0; i < count; ++i) acc[first[i]] += v;
      continue;
    }
    const std::uint32_t nl =
        split(x + static_cast<std::size_t>(n.feature()) * stride, first, right, count, n.threshold, n.missing_left());
    if (nl < count) stack.push_back({n.right, seg.begin + nl, seg.end});
    if (nl) stack.push_back({seg.node + 1, seg.begin, seg.begin + nl});
  }
}

/// Decision-path contributions of one float row: adds the mean per-tree contributions into
/// values[0, n_features) and returns the bias (the mean root value).
inline double path_contributions(const tree_set& f, const float* x, double* values) {
  const std::size_t T = f.n_trees;
  const std::size_t p = f.n_features;
  std::vector<double> sum(p, 0.0);
  double bias = 0;
  for (std::size_t t = 0; t < T; ++t) {
    const tree_node* root = f.tree(t);
    const tree_node* n = root;
    bias += n->value;
    while (!n->is_leaf()) {
      const tree_node* next = n->goes_left(x[n->feature()]) ? n + 1 : root + n->right;
      sum[n->feature()] += static_cast<double>(next->value) - static_cast<double>(n->value);
      n = next;
    }
  }
  for (std::size_t j = 0; j < p; ++j) values[j] += sum[j] / static_cast<double>(T);
  return bias / static_cast<double>(T);
}

}  // namespace churn::detail
