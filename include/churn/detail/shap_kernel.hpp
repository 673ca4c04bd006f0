#pragma once
// Exact path-dependent TreeSHAP for one tree, in time linear in the depth of each leaf path, with a
// numerically stable evaluation. The public interface is churn/shap.hpp; this header works on one
// plain pre-order tree (churn::tree_node array + a parallel array of training covers).
//
// ## The value function
// Path-dependent TreeSHAP (Lundberg et al. 2020, "From local explanations to global understanding with
// explainable AI for trees") explains a tree f at x with the game v(S) = E[f | x_S]: walking down, a
// split on a feature in S sends the row where x goes; a split on a feature outside S takes both
// children, weighted by their share of the node's training cover, r_e = cover(child) / cover(node).
// v(S) is a sum over leaves L of v_L(S) = value_L * prod over the path's edges e of
// (feature(e) in S ? [x follows e] : r_e). Grouping the edges of each distinct feature j of the path:
//     v_L(S) = value_L * prod_{j in S} p_j * prod_{j in D_L \ S} q_j,
// with p_j = prod [x follows e] and q_j = prod r_e over the path's edges that split on j, D_L the
// distinct features of the path (d_L of them). A feature not in D_L is a null player of v_L.
//
// ## Shapley values of one leaf as an integral
// With the Beta integral |S|! (d - 1 - |S|)! / d! = int_0^1 t^|S| (1 - t)^(d - 1 - |S|) dt, the
// Shapley value of feature i in D_L for v_L is
//     phi_i(L) = value_L * (p_i - q_i) * int_0^1 prod_{j in D_L, j != i} f_j(t) dt,
//     f_j(t) = q_j (1 - t) + p_j t,
// and summing over S becomes the product of binomials f_j: no subset enumeration. (This is the form
// Linear TreeShap, Yu et al. NeurIPS 2022, starts from.) The integrand is a polynomial of degree
// d_L - 1, so an n-point Gauss-Legendre rule on [0, 1] integrates it exactly once 2n - 1 >= d_L - 1:
// n = ceil(D / 2) points for a tree whose paths have at most D distinct features.
//
// ## Linear time over the tree, in value form
// Every polynomial is kept as its values at the n quadrature points t_k, never as coefficients:
// products and quotients are pointwise, integrals are dot products with the weights w_k. Linear
// TreeShap's published coefficient form (products of binomials expanded into monomial coefficients,
// divided back out by synthetic division) cancels catastrophically past a dozen levels; here every
// stored value is a product of positive numbers (f_j(t_k) > 0 for interior t_k, since q_j > 0), and
// every quotient is by a positive number, so the relative error grows only linearly with depth.
//
// One depth-first walk per row (per batch of rows, below). For a node c reached by an edge e splitting on feature i:
//   - down: P_c(t) = P_parent(t) * f_e(t) / f_prev(t), the product of the current factors of every
//     distinct feature of the path, where prev is the nearest edge above e splitting on the same
//     feature (f_prev = 1 if none) and p_e, q_e are cumulative over i's edges down to e;
//   - up:   G_c(t) = sum over leaves L below c of value_L * P_L(t);
//   - S_c(t) = sum of G over the topmost edges below e that split on i again. Leaves below those have
//     a later factor for i; the others (G_c - S_c) have f_e as their last factor of i, so
//         phi_i += (p_e - q_e) * sum_k w_k (G_c(t_k) - S_c(t_k)) / f_e(t_k)
//     credits each leaf exactly once, at its last edge on feature i. G_c is then added to S_prev.
// Every node costs O(n) whatever its depth, so a tree costs O(nodes * D / 2) per row, against
// O(leaves * depth^2) for the original TreeSHAP. The sum over features of phi_i is v(N) - v(empty):
// with expected = v(empty) = sum_L value_L prod_{j in D_L} q_j, expected + sum phi = f(x) (efficiency).
//
// ## Four rows at a time, no division
// Rows differ only in p (0 or 1 per edge); the tree, the covers, q and the rule are shared. The walk
// takes a batch of four rows together, one per vector lane, so that the work that depends only on
// the tree (the steps, the frame bookkeeping, the branches on the tree's shape) is paid once per
// batch, and the vectors run across rows (any point count fills them). With p in {0, 1} the factor of
// an edge is q (1 - t) or q (1 - t) + t: 1/f is 1 / q * 1 / (1 - t) or a value of the plan
// (inv_f1, computed once per tree), so the walk never divides per point; a lane's choice is a
// product with p or 1 - p, which is exact. Every operation is lane by lane: a row's values are the
// same bits whatever the rows beside it and its lane.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <churn/tree.hpp>

namespace churn::detail {

/// The n-point Gauss-Legendre rule mapped to [0, 1]: nodes t (ascending) and weights w (sum 1).
/// Exact for polynomials of degree <= 2n - 1. Nodes by Newton's method on P_n from Chebyshev-like
/// starting points (converges to full double precision for any n used here).
inline void gauss_legendre_01(std::size_t n, std::vector<double>& t, std::vector<double>& w) {
  t.assign(n, 0.0);
  w.assign(n, 0.0);
  const double pi = 3.14159265358979323846;
  for (std::size_t i = 0; i < (n + 1) / 2; ++i) {
    double z = std::cos(pi * (static_cast<double>(i) + 0.75) / (static_cast<double>(n) + 0.5));
    double dp = 1;
    for (int iter = 0; iter < 100; ++iter) {
      double p0 = 1, p1 = 0;
      for (std::size_t j = 1; j <= n; ++j) {
        const double p2 = p1;
        p1 = p0;
        p0 = ((2.0 * static_cast<double>(j) - 1.0) * z * p1 - (static_cast<double>(j) - 1.0) * p2) /
             static_cast<double>(j);
      }
      dp = static_cast<double>(n) * (z * p0 - p1) / (z * z - 1.0);
      const double dz = p0 / dp;
      z -= dz;
      if (std::fabs(dz) <= 1e-16) break;
    }
    // Recompute the derivative at the converged node for the weight.
    double p0 = 1, p1 = 0;
    for (std::size_t j = 1; j <= n; ++j) {
      const double p2 = p1;
      p1 = p0;
      p0 = ((2.0 * static_cast<double>(j) - 1.0) * z * p1 - (static_cast<double>(j) - 1.0) * p2) /
           static_cast<double>(j);
    }
    dp = static_cast<double>(n) * (z * p0 - p1) / (z * z - 1.0);
    const double weight = 1.0 / ((1.0 - z * z) * dp * dp);  // on [-1, 1]: 2 / ((1 - z^2) P'^2), halved
    t[i] = 0.5 * (1.0 - z);
    t[n - 1 - i] = 0.5 * (1.0 + z);
    w[i] = weight;
    w[n - 1 - i] = weight;
  }
}

// Four doubles as one value: GCC/Clang vector extensions compile each operation to one AVX (or two
// SSE2) instructions; elsewhere a plain struct with the same operators.
#if defined(__GNUC__) || defined(__clang__)
// Stored in std::vector<double> and accessed through this type: aligned(8) makes every load and store
// an unaligned one (as fast on aligned data), may_alias makes the access through doubles legal.
typedef double shap_v4 __attribute__((vector_size(32), aligned(8), may_alias));
inline double shap_hsum(const shap_v4& a) noexcept { return (a[0] + a[1]) + (a[2] + a[3]); }
#else
struct shap_v4 {
  double v[4];
  double operator[](int i) const noexcept { return v[i]; }
};
inline shap_v4 operator+(shap_v4 a, shap_v4 b) noexcept {
  return {{a.v[0] + b.v[0], a.v[1] + b.v[1], a.v[2] + b.v[2], a.v[3] + b.v[3]}};
}
inline shap_v4 operator-(shap_v4 a, shap_v4 b) noexcept {
  return {{a.v[0] - b.v[0], a.v[1] - b.v[1], a.v[2] - b.v[2], a.v[3] - b.v[3]}};
}
inline shap_v4 operator*(shap_v4 a, shap_v4 b) noexcept {
  return {{a.v[0] * b.v[0], a.v[1] * b.v[1], a.v[2] * b.v[2], a.v[3] * b.v[3]}};
}
inline shap_v4 operator/(shap_v4 a, shap_v4 b) noexcept {
  return {{a.v[0] / b.v[0], a.v[1] / b.v[1], a.v[2] / b.v[2], a.v[3] / b.v[3]}};
}
inline shap_v4& operator+=(shap_v4& a, shap_v4 b) noexcept { return a = a + b; }
inline double shap_hsum(const shap_v4& a) noexcept { return (a.v[0] + a.v[1]) + (a.v[2] + a.v[3]); }
#endif

/// The number of quadrature points the walk uses for a tree whose paths have at most `distinct`
/// distinct features: ceil(distinct / 2), enough for exactness (the vectors of the walk run across
/// rows, not points, so any count fills them).
inline std::size_t shap_points(std::size_t distinct) { return std::max<std::size_t>(1, (distinct + 1) / 2); }

/// Rows the walk takes together: lane r of every vector is row r of the batch.
constexpr std::size_t shap_lanes = 4;

/// Values stored as doubles, read four at a time.
inline const shap_v4* as_v4(const std::vector<double>& a) noexcept {
  return reinterpret_cast<const shap_v4*>(a.data());
}
inline shap_v4* as_v4(std::vector<double>& a) noexcept { return reinterpret_cast<shap_v4*>(a.data()); }
// A value in all four lanes (a macro: a function returning a vector would be a call of a different ABI
// outside the AVX2 build). `a` is evaluated four times: pass a plain variable or constant.
#define CHURN_SHAP_SPLAT(a) \
  shap_v4 { (a), (a), (a), (a) }

/// The number of vectors of four points that hold `points` points (the last one padded).
inline std::size_t shap_blocks(std::size_t points) noexcept { return (points + 3) / 4; }

/// A quadrature rule in the two forms the walk uses it: for a batch (each value repeated in all four
/// lanes) and for one row (four consecutive points per vector, padded with points of weight 0 at
/// t = 1/2, which add exactly nothing to any sum).
struct shap_rule {
  std::size_t points = 0;
  std::vector<double> t, one_minus_t, w, inv_one_minus_t;                  // batch: points x 4 each
  std::vector<double> t_row, one_minus_t_row, w_row, inv_one_minus_t_row;  // one row: blocks x 4

  shap_rule() = default;  ///< no points: a placeholder
  /// The Gauss-Legendre rule of `n` >= 1 points.
  explicit shap_rule(std::size_t n) : points(n) {
    std::vector<double> nodes, weights;
    gauss_legendre_01(n, nodes, weights);
    for (auto* a : {&t, &one_minus_t, &w, &inv_one_minus_t}) a->resize(4 * n);
    for (auto* a : {&t_row, &one_minus_t_row, &w_row, &inv_one_minus_t_row}) a->resize(4 * shap_blocks(n));
    for (std::size_t k = 0; k < 4 * shap_blocks(n); ++k) {
      const double tk = k < n ? nodes[k] : 0.5, wk = k < n ? weights[k] : 0.0;
      t_row[k] = tk;
      one_minus_t_row[k] = 1.0 - tk;
      w_row[k] = wk;
      inv_one_minus_t_row[k] = 1.0 / (1.0 - tk);
      if (k >= n) continue;
      for (std::size_t r = 0; r < 4; ++r) {
        t[4 * k + r] = tk;
        one_minus_t[4 * k + r] = 1.0 - tk;
        w[4 * k + r] = wk;
        inv_one_minus_t[4 * k + r] = 1.0 / (1.0 - tk);
      }
    }
  }
};

/// One internal node of a tree as the walk takes it (internal nodes in pre-order; leaves are folded
/// into their parents).
struct shap_step {
  double q;                  ///< cumulative cover ratio of the node's incoming edge's feature (root: 1)
  double q_left;             ///< the same for the edge into the left child
  double q_right;            ///< ... and into the right child
  float v_left;              ///< the left child's value if it is a leaf, else 0 (it then adds nothing)
  float v_right;             ///< the same for the right child
  float threshold;           ///< the node's split: go left when x <= threshold
  std::uint32_t info;        ///< split feature | missing_left_bit | is_left_child_bit
  std::uint32_t pops;        ///< frames to finish (subtrees that ended) before this node's frame is pushed
  std::uint32_t prev;        ///< frame of the nearest edge above the node's incoming edge on the same feature (0: none)
  std::uint32_t child_prev;  ///< the same for the edges into its children (they split on the node's feature)
  std::uint32_t pad = 0;

  static constexpr std::uint32_t missing_left_bit = tree_node::missing_left_bit;
  static constexpr std::uint32_t is_left_bit = 1u << 31;
  std::uint32_t feature() const noexcept { return info & tree_node::feature_mask; }
  bool goes_left(float x) const noexcept { return (x <= threshold) | ((x != x) & ((info & missing_left_bit) != 0)); }
  bool is_left() const noexcept { return (info & is_left_bit) != 0; }
};

/// What the walk needs of one tree, computed once from its structure and covers.
struct shap_tree_plan {
  std::vector<shap_step> steps;  ///< internal nodes in pre-order (empty for a single-leaf tree)
  /// Per step, at each quadrature point t_k: 1 / (q (1 - t_k) + t_k), the reciprocal of the factor
  /// of the step's incoming edge when the row follows its feature (p = 1). It depends on the tree
  /// only, so the walk reads it instead of dividing (steps x 4 * shap_blocks(points) values).
  std::vector<double> inv_f1;
  std::size_t max_depth = 0;     ///< edges on the longest root-to-leaf path
  std::size_t max_distinct = 0;  ///< most distinct features on one root-to-leaf path (D)
  std::size_t points = 1;        ///< quadrature points (shap_points(D))
  double expected = 0;           ///< v(empty set) = sum_L value_L prod_j q_j: the tree's expected value
  std::size_t feature_end = 0;   ///< 1 + the largest feature the tree splits on (0: a single leaf)
};

/// Builds the plan of the pre-order tree nodes[0, n) with training covers cover[0, n).
/// Requires: a valid pre-order tree (as the loader and the trainer guarantee), cover > 0 everywhere.
/// Cost O(n * points) time, O(depth + features used) extra memory beside the plan.
inline shap_tree_plan make_shap_plan(const tree_node* nodes, const double* cover, std::size_t n) {
  shap_tree_plan plan;
  std::uint32_t max_feature = 0;
  std::size_t internal = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (!nodes[i].is_leaf()) {
      max_feature = std::max(max_feature, nodes[i].feature());
      ++internal;
    }
  plan.steps.reserve(internal);
  plan.feature_end = internal > 0 ? static_cast<std::size_t>(max_feature) + 1 : 0;
  std::vector<double> q(n, 1.0);
  // last_frame[j]: frame (depth + 1) of the nearest open edge splitting on j, 0 if none.
  std::vector<std::uint32_t> last_frame(static_cast<std::size_t>(max_feature) + 1, 0);
  struct item {
    std::uint32_t node;
    std::uint32_t depth;     // edges from the root
    std::uint32_t distinct;  // distinct features on the path to the node
    std::uint32_t prev;      // prev frame of the edge into the node
    double prod_q;           // prod over the path's distinct features of their cumulative q
    std::uint32_t state;     // 0: enter, 1: left done, 2: both done
    bool is_left;
  };
  std::vector<item> stack;
  stack.push_back({0, 0, 0, 0, 1.0, 0, false});
  // At each open edge, the feature and the last_frame value it replaced.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> undo;
  double expected = 0;
  std::uint32_t top = 0;  // frame of the last internal node entered (0 before the root)
  while (!stack.empty()) {
    item& it = stack.back();
    const tree_node& node = nodes[it.node];
    if (!node.is_leaf() && it.state == 0) {
      // Enter an internal node: its step, with its children's cover ratios.
      const std::uint32_t j = node.feature();
      const std::uint32_t child_prev = last_frame[j];
      const double q_prev = child_prev == 0 ? 1.0 : q[stack[child_prev - 1].node];
      const std::uint32_t l = it.node + 1, r = node.right;
      q[l] = cover[l] / cover[it.node] * q_prev;
      q[r] = cover[r] / cover[it.node] * q_prev;
      shap_step st;
      st.q = q[it.node];
      st.q_left = q[l];
      st.q_right = q[r];
      st.v_left = nodes[l].is_leaf() ? nodes[l].value : 0.0f;
      st.v_right = nodes[r].is_leaf() ? nodes[r].value : 0.0f;
      st.threshold = node.threshold;
      st.info =
          j | (node.missing_left() ? shap_step::missing_left_bit : 0u) | (it.is_left ? shap_step::is_left_bit : 0u);
      const std::uint32_t frame = it.depth + 1;
      st.pops = top + 1 - frame;  // frames frame .. top are finished first
      st.prev = it.prev;
      st.child_prev = child_prev;
      plan.steps.push_back(st);
      top = frame;
    }
    if (node.is_leaf() || it.state == 2) {
      if (node.is_leaf()) {
        expected += static_cast<double>(node.value) * it.prod_q;
        plan.max_depth = std::max<std::size_t>(plan.max_depth, it.depth);
        plan.max_distinct = std::max<std::size_t>(plan.max_distinct, it.distinct);
      }
      if (it.node != 0) {  // close the edge into this node
        last_frame[undo.back().first] = undo.back().second;
        undo.pop_back();
      }
      stack.pop_back();
      continue;
    }
    const std::uint32_t child = it.state == 0 ? it.node + 1 : node.right;
    const bool child_is_left = it.state == 0;
    ++it.state;
    const std::uint32_t j = node.feature();
    const std::uint32_t prev = last_frame[j];
    const double q_prev = prev == 0 ? 1.0 : q[stack[prev - 1].node];
    const double prod_q = it.prod_q / q_prev * q[child];
    const std::uint32_t distinct = it.distinct + (prev == 0 ? 1u : 0u);
    const std::uint32_t depth = it.depth + 1;
    undo.emplace_back(j, prev);
    last_frame[j] = depth + 1;  // the frame of `child` in the per-row walk is its depth + 1
    stack.push_back({child, depth, distinct, prev, prod_q, 0, child_is_left});
  }
  plan.expected = expected;
  plan.points = shap_points(plan.max_distinct);
  std::vector<double> t, w;
  gauss_legendre_01(plan.points, t, w);
  // Padded to whole vectors of four points (the padding points at t = 1/2, as in shap_rule).
  const std::size_t padded = 4 * shap_blocks(plan.points);
  plan.inv_f1.resize(plan.steps.size() * padded);
  for (std::size_t i = 0; i < plan.steps.size(); ++i)
    for (std::size_t k = 0; k < padded; ++k) {
      const double tk = k < plan.points ? t[k] : 0.5;
      plan.inv_f1[i * padded + k] = 1.0 / (plan.steps[i].q * (1.0 - tk) + tk);
    }
  return plan;
}

/// Per-thread scratch of the walk, reusable across trees and batches of rows.
struct shap_scratch {
  struct frame {
    shap_v4 p;              // per lane: cumulative p of the incoming edge's feature (0 or 1)
    shap_v4 left;           // per lane: 1 if the row goes left at this node, else 0
    double q;               // cumulative q of the incoming edge's feature
    std::uint32_t prev;     // frame of the previous edge on the same feature (0: none)
    std::uint32_t feature;  // the feature of the incoming edge (the parent's split)
  };
  std::vector<frame> frames;
  std::vector<double> poly;     // per frame: 1/f, P, G, S (`points` vectors of 4 lanes each)
  std::vector<double> row_phi;  // one row's values of one tree, 4 equal lanes per feature

  void prepare(std::size_t points, std::size_t max_depth, std::size_t feature_end) {
    const std::size_t n_frames = max_depth + 2, values = n_frames * 4 * std::max(points, 4 * shap_blocks(points));
    if (frames.size() < n_frames) frames.resize(n_frames);
    if (poly.size() < values * 4) poly.resize(values * 4);
    if (row_phi.size() < 4 * feature_end) row_phi.resize(4 * feature_end);
  }
};

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define CHURN_SHAP_AVX2 1
#define CHURN_SHAP_INLINE __attribute__((always_inline)) inline
#else
#define CHURN_SHAP_INLINE inline
#endif

/// The walk, in two modes that compute the same numbers. Batch (`Batch` true): four rows at once, one
/// per lane, one vector per quadrature point; x and phi are features x 4 lanes. One row (false): one
/// vector per four consecutive points (padded); x has a value per feature, phi one per feature. Every
/// value of a row at a point comes from the same operations on the same operands in both modes, and
/// the sums over points are taken in the same order (per point modulo 4, then (0 + 1) + (2 + 3)), so a
/// row's values are the same bits in either mode, in any lane, beside any rows. Internal nodes are
/// taken in pre-order; each pushes a frame, and the frames of subtrees that ended are finished first.
/// No branch depends on the rows, only on the shape of the tree; p is 0 or 1, so the per-row choices
/// are products with p and 1 - p, which are exact. Frame 0 is a sink that absorbs the updates of "no
/// previous edge". Always inlined into its callers below, so that each is compiled for its own
/// instruction set.
template <bool Batch>
CHURN_SHAP_INLINE void tree_shap_walk(const shap_tree_plan& plan, const shap_rule& rule, const float* x,
                                      double* phi_out, shap_scratch& scratch) noexcept {
  const std::size_t n_steps = plan.steps.size();
  if (n_steps == 0) return;
  const std::size_t n = rule.points;
  const std::size_t m = Batch ? n : shap_blocks(n);  // vectors per polynomial
  const std::size_t padded = 4 * shap_blocks(n);
  const shap_step* steps = plan.steps.data();
  const double* inv_f1 = plan.inv_f1.data();
  const shap_v4* t = as_v4(Batch ? rule.t : rule.t_row);
  const shap_v4* omt = as_v4(Batch ? rule.one_minus_t : rule.one_minus_t_row);
  const shap_v4* w = as_v4(Batch ? rule.w : rule.w_row);
  const shap_v4* inv_omt = as_v4(Batch ? rule.inv_one_minus_t : rule.inv_one_minus_t_row);
  auto* frames = scratch.frames.data();
  shap_v4* poly = as_v4(scratch.poly);
  const std::size_t stride = 4 * m;  // 1/f, P, G, S
  const shap_v4 zero = CHURN_SHAP_SPLAT(0.0), one = CHURN_SHAP_SPLAT(1.0);
  // Sum over points kk of `term`, which the statements given set (and may store): in a batch, four
  // sums by kk modulo 4, then (0 + 1) + (2 + 3); for one row the same, as one vector's lanes.
#define CHURN_SHAP_SUM(result, ...)                     \
  shap_v4 result;                                       \
  if (Batch) {                                          \
    shap_v4 s0 = zero, s1 = zero, s2 = zero, s3 = zero; \
    std::size_t k0 = 0;                                 \
    for (; k0 + 4 <= n; k0 += 4) {                      \
      {                                                 \
        const std::size_t kk = k0;                      \
        shap_v4 term;                                   \
        __VA_ARGS__ s0 += term;                         \
      }                                                 \
      {                                                 \
        const std::size_t kk = k0 + 1;                  \
        shap_v4 term;                                   \
        __VA_ARGS__ s1 += term;                         \
      }                                                 \
      {                                                 \
        const std::size_t kk = k0 + 2;                  \
        shap_v4 term;                                   \
        __VA_ARGS__ s2 += term;                         \
      }                                                 \
      {                                                 \
        const std::size_t kk = k0 + 3;                  \
        shap_v4 term;                                   \
        __VA_ARGS__ s3 += term;                         \
      }                                                 \
    }                                                   \
    if (k0 < n) {                                       \
      const std::size_t kk = k0;                        \
      shap_v4 term;                                     \
      __VA_ARGS__ s0 += term;                           \
    }                                                   \
    if (k0 + 1 < n) {                                   \
      const std::size_t kk = k0 + 1;                    \
      shap_v4 term;                                     \
      __VA_ARGS__ s1 += term;                           \
    }                                                   \
    if (k0 + 2 < n) {                                   \
      const std::size_t kk = k0 + 2;                    \
      shap_v4 term;                                     \
      __VA_ARGS__ s2 += term;                           \
    }                                                   \
    result = (s0 + s1) + (s2 + s3);                     \
  } else {                                              \
    shap_v4 s = zero;                                   \
    for (std::size_t kk = 0; kk < m; ++kk) {            \
      shap_v4 term;                                     \
      __VA_ARGS__ s += term;                            \
    }                                                   \
    const double total = shap_hsum(s);                  \
    result = CHURN_SHAP_SPLAT(total);                   \
  }
  for (std::size_t k = 0; k < m; ++k) {
    poly[k] = one;               // frame 0: 1/f = 1
    poly[stride + m + k] = one;  // root: P = 1
    poly[stride + 3 * m + k] = zero;
  }
  frames[0].p = one;
  frames[0].left = zero;
  frames[0].q = 1.0;
  frames[0].prev = 0;
  frames[0].feature = 0;
  // phi of a feature += value, as a vector in both modes (for one row into scratch.row_phi, whose
  // lane 0 is added to phi at the end), so that a compiler contracting into fused multiply-adds does
  // so alike.
  shap_v4* phi_v = reinterpret_cast<shap_v4*>(Batch ? phi_out : scratch.row_phi.data());
  if (!Batch)
    for (std::size_t f = 0; f < plan.feature_end; ++f) phi_v[f] = zero;
  auto add_phi = [&](std::uint32_t feature, const shap_v4& value) noexcept { phi_v[feature] += value; };
  std::size_t h = 0;
  for (std::size_t i = 0;; ++i) {
    // Finish the frames of the subtrees that ended (at the end: every frame above the root's). To
    // finish frame h: credit the feature of its incoming edge with (p - q) * integral of (G - S) / f,
    // then pass G up to the parent and to the previous edge on the same feature.
    std::size_t pops = i < n_steps ? steps[i].pops : h - 1;
    for (; pops > 0; --pops, --h) {
      const auto& fr = frames[h];
      shap_v4* cur = poly + h * stride;
      const shap_v4* inv_f = cur;
      const shap_v4* G = cur + 2 * m;
      const shap_v4* S = cur + 3 * m;
      shap_v4* G_parent = cur - stride + 2 * m;
      shap_v4* S_prev = poly + fr.prev * stride + 3 * m;
      CHURN_SHAP_SUM(acc, const shap_v4 g = G[kk]; term = w[kk] * (g - S[kk]) * inv_f[kk]; G_parent[kk] += g;
                     S_prev[kk] += g;)
      const double fq = fr.q;
      add_phi(fr.feature, (fr.p - CHURN_SHAP_SPLAT(fq)) * acc);
    }
    if (i == n_steps) break;
    const shap_step& st = steps[i];
    ++h;
    auto& fr = frames[h];
    shap_v4* cur = poly + h * stride;
    shap_v4* inv_f = cur;
    shap_v4* P = cur + m;
    shap_v4* G = cur + 2 * m;
    shap_v4* S = cur + 3 * m;
    if (h > 1) {
      // The edge into this node: its factor f = q (1 - t) + p t, and 1/f: 1 / (q (1 - t)) where
      // p = 0, the plan's inv_f1 where p = 1.
      const auto& parent = frames[h - 1];
      const shap_v4 follows = st.is_left() ? parent.left : one - parent.left;
      const shap_v4 p = frames[st.prev].p * follows;
      const shap_v4 not_p = one - p;
      const double q = st.q;
      fr.p = p;
      fr.q = q;
      fr.prev = st.prev;  // fr.feature was set by the parent
      const double r = 1.0 / q;
      const shap_v4 qv = CHURN_SHAP_SPLAT(q), inv_q = CHURN_SHAP_SPLAT(r);
      const double* f1 = inv_f1 + i * padded;
      const shap_v4* P_u = P - stride;
      const shap_v4* inv_f_prev = poly + st.prev * stride;
      if (Batch) {
        for (std::size_t k = 0; k < m; ++k) {
          const shap_v4 fk = qv * omt[k] + p * t[k];
          P[k] = P_u[k] * fk * inv_f_prev[k];
          const double v = f1[k];
          inv_f[k] = not_p * (inv_q * inv_omt[k]) + p * CHURN_SHAP_SPLAT(v);
          S[k] = zero;
        }
      } else {
        // One row: p is the same in every lane, and the choice above is exactly one of its two terms
        // (a product with 0 or 1, added to 0), so taking that term alone gives the same bits.
        for (std::size_t k = 0; k < m; ++k) {
          const shap_v4 fk = qv * omt[k] + p * t[k];
          P[k] = P_u[k] * fk * inv_f_prev[k];
          S[k] = zero;
        }
        if (p[0] != 0.0)
          for (std::size_t k = 0; k < m; ++k) inv_f[k] = reinterpret_cast<const shap_v4*>(f1)[k];
        else
          for (std::size_t k = 0; k < m; ++k) inv_f[k] = inv_q * inv_omt[k];
      }
    }
    const std::uint32_t feature = st.feature();
    shap_v4 left;
    if (Batch) {
      const float* xf = x + 4 * static_cast<std::size_t>(feature);
      left = shap_v4{st.goes_left(xf[0]) ? 1.0 : 0.0, st.goes_left(xf[1]) ? 1.0 : 0.0, st.goes_left(xf[2]) ? 1.0 : 0.0,
                     st.goes_left(xf[3]) ? 1.0 : 0.0};
    } else {
      const double l = st.goes_left(x[feature]) ? 1.0 : 0.0;
      left = CHURN_SHAP_SPLAT(l);
    }
    fr.left = left;
    // The parent's feature is what the children's edges credit: stored in the child frames.
    frames[h + 1].feature = feature;
    // The leaf children, together: a leaf is its own last edge on this feature and has nothing below,
    // so its G - S = v P_c and (G - S) / f_c = v P_u / f_prev (no division). Both children share
    // f_prev, hence H = P_u / f_prev, one integral of H, and G = H * (a (1 - t) + b t) with
    // a = sum v q, b = sum v p over the leaf children (an internal child has v = 0 here).
    const shap_v4 p_prev = frames[st.child_prev].p;
    const double v_l = static_cast<double>(st.v_left), v_r = static_cast<double>(st.v_right);
    const shap_v4 p_l = left * p_prev, p_r = (one - left) * p_prev;
    const double a = v_l * st.q_left + v_r * st.q_right, q_l = st.q_left, q_r = st.q_right;
    const shap_v4 av = CHURN_SHAP_SPLAT(a), vl = CHURN_SHAP_SPLAT(v_l), vr = CHURN_SHAP_SPLAT(v_r);
    const shap_v4 bv = vl * p_l + vr * p_r;
    const shap_v4 credit = (p_l - CHURN_SHAP_SPLAT(q_l)) * vl + (p_r - CHURN_SHAP_SPLAT(q_r)) * vr;
    const shap_v4* inv_f_cp = poly + st.child_prev * stride;
    shap_v4* S_cp = poly + st.child_prev * stride + 3 * m;
    CHURN_SHAP_SUM(acc, const shap_v4 H = P[kk] * inv_f_cp[kk]; const shap_v4 g = H * (av * omt[kk] + bv * t[kk]);
                   G[kk] = g; S_cp[kk] += g; term = w[kk] * H;)
    add_phi(feature, credit * acc);
  }
#undef CHURN_SHAP_SUM
  if (!Batch)
    for (std::size_t f = 0; f < plan.feature_end; ++f) phi_out[f] += phi_v[f][0];
}

// The walk compiled for the build's instruction set, and (on x86-64 with GCC or Clang) for AVX2 + FMA,
// chosen at run time: a build for any x86-64 processor then uses 256-bit vectors where they exist.
#define CHURN_SHAP_DISPATCH(name, attribute)                                                                         \
  attribute inline void name##_batch(const shap_tree_plan& plan, const shap_rule& rule, const float* x, double* phi, \
                                     shap_scratch& scratch) noexcept {                                               \
    tree_shap_walk<true>(plan, rule, x, phi, scratch);                                                               \
  }                                                                                                                  \
  attribute inline void name##_row(const shap_tree_plan& plan, const shap_rule& rule, const float* x, double* phi,   \
                                   shap_scratch& scratch) noexcept {                                                 \
    tree_shap_walk<false>(plan, rule, x, phi, scratch);                                                              \
  }
CHURN_SHAP_DISPATCH(tree_shap_portable, )
#ifdef CHURN_SHAP_AVX2
CHURN_SHAP_DISPATCH(tree_shap_avx2, __attribute__((target("avx2,fma"))))
#endif
#undef CHURN_SHAP_DISPATCH
#undef CHURN_SHAP_SPLAT

/// Whether tree_shap runs the AVX2 + FMA build of the walk on this processor.
inline bool shap_uses_avx2() noexcept {
#ifdef CHURN_SHAP_AVX2
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
#else
  return false;
#endif
}

/// Adds the SHAP values of one tree at a batch of four float rows to phi: x[f * 4 + r] is feature f
/// of row r, phi[f * 4 + r] its value (both have an entry for every feature the tree splits on).
/// `rule` has plan.points points. Each row's values are the same bits whatever the other rows and
/// its lane, and the same as tree_shap's for the row alone. Cost O(n_nodes * plan.points) for the
/// four rows.
inline void tree_shap_batch(const shap_tree_plan& plan, const shap_rule& rule, const float* x, double* phi,
                            shap_scratch& scratch) {
  scratch.prepare(rule.points, plan.max_depth, plan.feature_end);
#ifdef CHURN_SHAP_AVX2
  if (shap_uses_avx2()) return tree_shap_avx2_batch(plan, rule, x, phi, scratch);
#endif
  tree_shap_portable_batch(plan, rule, x, phi, scratch);
}

/// Adds the SHAP values of one tree at the float row x to phi[feature] (phi has an entry for every
/// feature the tree splits on): the same bits as the row in any lane of tree_shap_batch, at about a
/// quarter of a batch's cost (the vectors run across points). Cost O(n_nodes * plan.points).
inline void tree_shap(const shap_tree_plan& plan, const shap_rule& rule, const float* x, double* phi,
                      shap_scratch& scratch) {
  scratch.prepare(rule.points, plan.max_depth, plan.feature_end);
#ifdef CHURN_SHAP_AVX2
  if (shap_uses_avx2()) return tree_shap_avx2_row(plan, rule, x, phi, scratch);
#endif
  tree_shap_portable_row(plan, rule, x, phi, scratch);
}

}  // namespace churn::detail
