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
// One depth-first walk per row. For a node c reached by an edge e splitting on feature i:
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
        p0 = ((2.0 * static_cast<double>(j) - 1.0) * z * p1 - (static_cast<double>(j) - 1.0) * p2) / static_cast<double>(j);
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
      p0 = ((2.0 * static_cast<double>(j) - 1.0) * z * p1 - (static_cast<double>(j) - 1.0) * p2) / static_cast<double>(j);
    }
    dp = static_cast<double>(n) * (z * p0 - p1) / (z * z - 1.0);
    const double weight = 1.0 / ((1.0 - z * z) * dp * dp);  // on [-1, 1]: 2 / ((1 - z^2) P'^2), halved
    t[i] = 0.5 * (1.0 - z);
    t[n - 1 - i] = 0.5 * (1.0 + z);
    w[i] = weight;
    w[n - 1 - i] = weight;
  }
}

/// What the per-row walk needs of one tree, computed once from its structure and covers.
struct shap_tree_plan {
  std::vector<double> q;           ///< per node: cumulative cover ratio of its incoming edge's feature (root: 1)
  std::vector<std::uint32_t> prev; ///< per node: frame of the nearest ancestor edge on the same feature (0: none)
  std::size_t max_depth = 0;       ///< edges on the longest root-to-leaf path
  std::size_t max_distinct = 0;    ///< most distinct features on one root-to-leaf path (D)
  std::size_t points = 1;          ///< quadrature points, ceil(D / 2), at least 1
  double expected = 0;             ///< v(empty set) = sum_L value_L prod_j q_j: the tree's expected value
};

/// Builds the plan of the pre-order tree nodes[0, n) with training covers cover[0, n).
/// Requires: a valid pre-order tree (as the loader and the trainer guarantee), cover > 0 everywhere.
/// Cost O(n) time, O(depth + features used) extra memory.
inline shap_tree_plan make_shap_plan(const tree_node* nodes, const double* cover, std::size_t n) {
  shap_tree_plan plan;
  plan.q.assign(n, 1.0);
  plan.prev.assign(n, 0);
  std::uint32_t max_feature = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (!nodes[i].is_leaf()) max_feature = std::max(max_feature, nodes[i].feature());
  // last_frame[j]: frame (depth + 1) of the nearest open edge splitting on j, 0 if none.
  std::vector<std::uint32_t> last_frame(static_cast<std::size_t>(max_feature) + 1, 0);
  struct item {
    std::uint32_t node;
    std::uint32_t depth;     // edges from the root
    std::uint32_t distinct;  // distinct features on the path to the node
    double prod_q;           // prod over the path's distinct features of their cumulative q
    std::uint32_t state;     // 0: enter, 1: left done, 2: both done
  };
  std::vector<item> stack;
  stack.push_back({0, 0, 0, 1.0, 0});
  // Undo log: at each open edge, the feature and the last_frame value it replaced.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> undo;
  double expected = 0;
  while (!stack.empty()) {
    item& it = stack.back();
    const tree_node& node = nodes[it.node];
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
    ++it.state;
    const std::uint32_t j = node.feature();
    const std::uint32_t prev = last_frame[j];
    const double r = cover[child] / cover[it.node];
    // Frame f holds the node at depth f - 1, which is stack[f - 1]: the prev edge's lower node.
    const double q_prev = prev == 0 ? 1.0 : plan.q[stack[prev - 1].node];
    plan.q[child] = r * q_prev;
    plan.prev[child] = prev;
    const double prod_q = it.prod_q / q_prev * plan.q[child];
    const std::uint32_t distinct = it.distinct + (prev == 0 ? 1u : 0u);
    const std::uint32_t depth = it.depth + 1;
    undo.emplace_back(j, prev);
    last_frame[j] = depth + 1;  // the frame of `child` in the per-row walk is its depth + 1
    stack.push_back({child, depth, distinct, prod_q, 0});
  }
  plan.expected = expected;
  plan.points = std::max<std::size_t>(1, (plan.max_distinct + 1) / 2);
  return plan;
}

/// Per-thread scratch of the per-row walk, reusable across trees and rows.
struct shap_scratch {
  std::vector<double> t, w, one_minus_t;  // the rule in use
  std::size_t points = 0;
  std::vector<double> poly;  // per frame: f, 1/f, P, G, S (points values each)
  struct frame {
    std::uint32_t node;
    std::uint32_t state;
    double p;
    double q;
  };
  std::vector<frame> frames;

  void prepare(std::size_t n_points, std::size_t max_depth) {
    if (points != n_points) {
      gauss_legendre_01(n_points, t, w);
      one_minus_t.resize(n_points);
      for (std::size_t k = 0; k < n_points; ++k) one_minus_t[k] = 1.0 - t[k];
      points = n_points;
    }
    const std::size_t n_frames = max_depth + 2;
    if (frames.size() < n_frames) frames.resize(n_frames);
    if (poly.size() < n_frames * 5 * n_points) poly.resize(n_frames * 5 * n_points);
  }
};

/// Adds the SHAP values of one tree at the float row x to phi[feature] (phi has one entry per
/// feature the tree uses, at least). Requires `scratch.prepare(plan.points, plan.max_depth)`.
/// Cost O(n_nodes * plan.points).
inline void tree_shap(const tree_node* nodes, const shap_tree_plan& plan, const float* x, double* phi,
                      shap_scratch& scratch) noexcept {
  const std::size_t n = scratch.points;
  const double* t = scratch.t.data();
  const double* w = scratch.w.data();
  const double* omt = scratch.one_minus_t.data();
  double* poly = scratch.poly.data();
  auto* frames = scratch.frames.data();
  const std::size_t stride = 5 * n;
  // Frame 0 is the unit factor of "no earlier edge": p = q = 1, f = 1/f = 1; its S collects nothing
  // useful (it is written to and never read) and keeps the walk free of branches on "has prev".
  // Frame 1 is the root; frame h holds the node at depth h - 1.
  {
    double* f0 = poly;
    for (std::size_t k = 0; k < n; ++k) {
      f0[k] = 1.0;
      f0[n + k] = 1.0;
      f0[4 * n + k] = 0.0;
    }
    frames[0] = {0, 0, 1.0, 1.0};
    double* f1 = poly + stride;
    for (std::size_t k = 0; k < n; ++k) {
      f1[k] = 1.0;
      f1[n + k] = 1.0;
      f1[2 * n + k] = 1.0;
      f1[3 * n + k] = 0.0;
      f1[4 * n + k] = 0.0;
    }
    frames[1] = {0, 0, 1.0, 1.0};
  }
  std::size_t h = 1;
  for (;;) {
    auto& fr = frames[h];
    const tree_node& node = nodes[fr.node];
    double* cur = poly + h * stride;
    if (node.is_leaf() || fr.state == 2) {
      double* G = cur + 3 * n;
      if (node.is_leaf()) {
        const double v = static_cast<double>(node.value);
        const double* P = cur + 2 * n;
        for (std::size_t k = 0; k < n; ++k) G[k] = v * P[k];
      }
      if (h == 1) break;
      // Finish the edge into this node: credit its feature, pass G up and to the previous edge.
      const std::uint32_t prev = plan.prev[fr.node];
      const double* inv_f = cur + n;
      const double* S = cur + 4 * n;
      double sum = 0;
      for (std::size_t k = 0; k < n; ++k) sum += w[k] * (G[k] - S[k]) * inv_f[k];
      const tree_node& parent = nodes[frames[h - 1].node];
      phi[parent.feature()] += (fr.p - fr.q) * sum;
      double* G_parent = poly + (h - 1) * stride + 3 * n;
      double* S_prev = poly + prev * stride + 4 * n;
      for (std::size_t k = 0; k < n; ++k) {
        G_parent[k] += G[k];
        S_prev[k] += G[k];
      }
      --h;
      continue;
    }
    // Enter a child.
    const std::uint32_t child = fr.state == 0 ? fr.node + 1 : node.right;
    const bool left = node.goes_left(x[node.feature()]);
    const bool follows = (fr.state == 0) == left;
    ++fr.state;
    const std::uint32_t prev = plan.prev[child];
    const double p = follows ? frames[prev].p : 0.0;
    const double q = plan.q[child];
    auto& next = frames[h + 1];
    next = {child, 0, p, q};
    double* nx = cur + stride;
    const double* inv_f_prev = poly + prev * stride + n;
    const double* P_parent = cur + 2 * n;
    double* f = nx;
    double* inv_f = nx + n;
    double* P = nx + 2 * n;
    double* G = nx + 3 * n;
    double* S = nx + 4 * n;
    for (std::size_t k = 0; k < n; ++k) {
      const double fk = q * omt[k] + p * t[k];
      f[k] = fk;
      inv_f[k] = 1.0 / fk;
      P[k] = P_parent[k] * fk * inv_f_prev[k];
      G[k] = 0.0;
      S[k] = 0.0;
    }
    ++h;
  }
}

}  // namespace churn::detail
