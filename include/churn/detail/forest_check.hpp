#pragma once
// The structural check of one flattened tree, run on every tree of a model that is assembled or loaded.
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <churn/tree.hpp>

namespace churn::detail {

/// The first problem found in one tree (empty message: none). `field` names the JSON array of the
/// model format (see docs/model-format.md) so that the loader can report "/trees/t/<field>/<node>".
struct tree_problem {
  std::string field;
  std::size_t node = 0;
  std::string message;
  bool ok() const noexcept { return message.empty(); }
};

/// Checks one pre-order tree: features in range, thresholds not NaN, values in [0, 1], and child
/// links that visit every node exactly once in pre-order (so traversal always ends in a leaf).
inline tree_problem check_tree(const tree_node* nodes, std::size_t n, std::size_t n_features) {
  if (n == 0) return {"value", 0, "a tree must have at least one node"};
  for (std::size_t i = 0; i < n; ++i) {
    const tree_node& nd = nodes[i];
    if (!(nd.value >= 0.0f && nd.value <= 1.0f))
      return {"value", i, "node value " + std::to_string(nd.value) + " is not a probability in [0, 1]"};
    if (nd.is_leaf()) continue;
    if (nd.feature() >= n_features)
      return {"feature", i,
              "split feature " + std::to_string(nd.feature()) + " out of range (the model has " +
                  std::to_string(n_features) + " features)"};
    if (std::isnan(nd.threshold)) return {"threshold", i, "split threshold is NaN"};
  }
  // Walk in pre-order: node i must be the next expected index; an internal node's right child must be
  // where its left subtree ends.
  struct pending_right {
    std::size_t parent, child;
  };
  std::vector<pending_right> pending;
  std::size_t expected = 0;
  std::size_t current = 0;
  for (;;) {
    ++expected;
    const tree_node& nd = nodes[current];
    if (!nd.is_leaf()) {
      if (current + 1 >= n)
        return {"right", current, "left child " + std::to_string(current + 1) + " is past the end of the tree"};
      if (nd.right <= current + 1 || nd.right >= n)
        return {"right", current,
                "right child index " + std::to_string(nd.right) + " out of range (" + std::to_string(current + 2) +
                    ".." + std::to_string(n - 1) + ")"};
      pending.push_back({current, nd.right});
      current = current + 1;
      continue;
    }
    if (pending.empty()) break;
    const pending_right next = pending.back();
    pending.pop_back();
    if (next.child != expected)
      return {"right", next.parent,
              "right child index " + std::to_string(next.child) + " should be " + std::to_string(expected) +
                  " (subtrees overlap or leave gaps)"};
    current = next.child;
  }
  if (expected != n) return {"right", expected, std::to_string(n - expected) + " node(s) unreachable from the root"};
  return {};
}

/// Checks the training cover of one tree that passed check_tree: every value finite and positive,
/// at least 1e-200 times the root's, and each internal node's children summing to it within a relative 1e-6 (the sums are of weights
/// added in different orders, so they may differ in the last digits; anything more is corruption).
inline tree_problem check_cover(const tree_node* nodes, const double* cover, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (!(std::isfinite(cover[i]) && cover[i] > 0))
      return {"cover", i, "node cover " + std::to_string(cover[i]) + " is not a finite positive weight"};
    // SHAP's cover ratios must stay far from underflow; no training set spans 200 orders of magnitude.
    if (!(cover[i] >= 1e-200 * cover[0]))
      return {"cover", i,
              "node cover " + std::to_string(cover[i]) + " is below 1e-200 times the root's (" +
                  std::to_string(cover[0]) + ")"};
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (nodes[i].is_leaf()) continue;
    const double children = cover[i + 1] + cover[nodes[i].right];
    if (!(std::fabs(children - cover[i]) <= 1e-6 * cover[i]))
      return {"cover", i,
              "node cover " + std::to_string(cover[i]) + " is not the sum of its children's (" +
                  std::to_string(cover[i + 1]) + " + " + std::to_string(cover[nodes[i].right]) + ")"};
  }
  return {};
}

}  // namespace churn::detail
