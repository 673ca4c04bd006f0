#pragma once
// Decision trees: the hyper-parameters of one CART tree, the compact node used for prediction, and the
// traversal of a flattened tree. The trainer lives in detail/forest_tree.hpp; the forest in forest.hpp.
//
// Semantics follow scikit-learn: feature values are compared as float32 (`float(x) <= threshold`),
// a NaN goes to the child recorded in the node (learned at training time), leaf values are the
// (weighted) fraction of class 1 among the node's training samples.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include <churn/error.hpp>

namespace churn {

/// Impurity measure used to choose splits. `log_loss` is scikit-learn's alias of entropy.
enum class criterion { gini, entropy };

/// `best`: the best threshold of each candidate feature (CART). `random`: one uniformly drawn
/// threshold per candidate feature (extremely randomized trees); faster, more randomness.
enum class splitter { best, random };

inline std::string to_string(criterion c) { return c == criterion::gini ? "gini" : "entropy"; }
inline std::string to_string(splitter s) { return s == splitter::best ? "best" : "random"; }

/// Throws parameter_error unless `name` is "gini", "entropy" or "log_loss".
inline criterion parse_criterion(const std::string& name) {
  if (name == "gini") return criterion::gini;
  if (name == "entropy" || name == "log_loss") return criterion::entropy;
  throw parameter_error("criterion", "'" + name + "'", "'gini', 'entropy', 'log_loss'");
}

/// Throws parameter_error unless `name` is "best" or "random".
inline splitter parse_splitter(const std::string& name) {
  if (name == "best") return splitter::best;
  if (name == "random") return splitter::random;
  throw parameter_error("splitter", "'" + name + "'", "'best', 'random'");
}

/// Deprecated names (text to a value is parse_<type> everywhere): removed in the next release.
[[deprecated("renamed churn::parse_criterion")]] inline criterion criterion_from_string(const std::string& name) {
  return parse_criterion(name);
}
[[deprecated("renamed churn::parse_splitter")]] inline splitter splitter_from_string(const std::string& name) {
  return parse_splitter(name);
}

/// How many features each split draws at random (scikit-learn's `max_features`).
struct max_features_rule {
  enum class kind { sqrt, log2, all, count, fraction };
  kind how = kind::sqrt;
  double value = 0;  ///< the count (kind::count) or the fraction in (0, 1] (kind::fraction)

  static max_features_rule sqrt() { return {kind::sqrt, 0}; }
  static max_features_rule log2() { return {kind::log2, 0}; }
  static max_features_rule all() { return {kind::all, 0}; }
  static max_features_rule count(std::size_t n) { return {kind::count, static_cast<double>(n)}; }
  static max_features_rule fraction(double f) { return {kind::fraction, f}; }

  /// Throws parameter_error for a count below 1 or a fraction outside (0, 1].
  void validate() const {
    if (how == kind::count && !(value >= 1 && value == std::floor(value)))
      throw parameter_error("max_features", std::to_string(value), "an integer >= 1");
    if (how == kind::fraction && !(value > 0 && value <= 1))
      throw parameter_error("max_features", std::to_string(value), "a fraction in (0, 1]");
  }

  /// The number of features to draw out of `n_features` (at least 1, at most n_features).
  /// Throws parameter_error when an explicit count exceeds n_features (as scikit-learn does).
  std::size_t resolve(std::size_t n_features) const {
    const double p = static_cast<double>(n_features);
    double k = p;
    switch (how) {
      case kind::sqrt: k = std::floor(std::sqrt(p)); break;
      case kind::log2: k = n_features > 0 ? std::floor(std::log2(p)) : 0; break;
      case kind::all: k = p; break;
      case kind::count:
        if (value > p)
          throw parameter_error("max_features", std::to_string(static_cast<std::size_t>(value)),
                                "at most the number of features, " + std::to_string(n_features));
        k = value;
        break;
      case kind::fraction: k = std::floor(value * p); break;
    }
    if (k < 1) k = 1;
    if (k > p) k = p;
    return static_cast<std::size_t>(k);
  }

  std::string to_string() const {
    switch (how) {
      case kind::sqrt: return "sqrt";
      case kind::log2: return "log2";
      case kind::all: return "all";
      case kind::count: return std::to_string(static_cast<std::size_t>(value));
      case kind::fraction: return std::to_string(value);
    }
    return "?";
  }
};

/// Hyper-parameters of one tree, with scikit-learn's names and meanings.
struct tree_params {
  criterion split_criterion = criterion::gini;
  splitter split_strategy = splitter::best;
  std::size_t max_depth = 0;            ///< 0: unlimited
  std::size_t min_samples_split = 2;    ///< distinct training rows a node needs to be split (>= 2)
  std::size_t min_samples_leaf = 1;     ///< distinct training rows each child must keep (>= 1)
  double min_weight_fraction_leaf = 0;  ///< minimum fraction of the tree's total weight in a leaf, [0, 0.5]
  max_features_rule max_features = max_features_rule::sqrt();
  std::size_t max_leaf_nodes = 0;    ///< 0: unlimited; otherwise grown best-first (>= 2)
  double min_impurity_decrease = 0;  ///< a split must decrease weighted impurity by at least this

  /// Throws parameter_error naming the first invalid parameter.
  void validate() const {
    if (min_samples_split < 2)
      throw parameter_error("min_samples_split", std::to_string(min_samples_split), "an integer >= 2");
    if (min_samples_leaf < 1)
      throw parameter_error("min_samples_leaf", std::to_string(min_samples_leaf), "an integer >= 1");
    if (!(min_weight_fraction_leaf >= 0 && min_weight_fraction_leaf <= 0.5))
      throw parameter_error("min_weight_fraction_leaf", std::to_string(min_weight_fraction_leaf), "[0, 0.5]");
    if (max_leaf_nodes == 1) throw parameter_error("max_leaf_nodes", "1", "an integer >= 2, or 0 (unlimited)");
    if (!(min_impurity_decrease >= 0) || std::isinf(min_impurity_decrease))
      throw parameter_error("min_impurity_decrease", std::to_string(min_impurity_decrease), "a finite value >= 0");
    max_features.validate();
  }
};

/// One node of a flattened tree, 16 bytes. Trees are stored in pre-order: the left child of an
/// internal node i is i + 1, the right child is `right` (relative to the tree's first node).
/// A row goes left when `float(x[feature]) <= threshold`, or when x is NaN and the node's
/// missing-goes-left bit is set. `value` is P(class 1) among the node's (weighted) training samples,
/// for internal nodes too (decision-path contributions need it).
struct tree_node {
  float threshold;      ///< largest float <= the double midpoint threshold: the same decisions as sklearn
  float value;          ///< P(class 1) of the node's training samples
  std::uint32_t info;   ///< feature index | missing_left_bit | leaf_bit
  std::uint32_t right;  ///< index of the right child within the tree (internal nodes), 0 for leaves

  static constexpr std::uint32_t leaf_bit = 1u << 31;
  static constexpr std::uint32_t missing_left_bit = 1u << 30;
  static constexpr std::uint32_t feature_mask = missing_left_bit - 1;
  /// Largest supported feature index + 1.
  static constexpr std::size_t max_features = feature_mask;

  bool is_leaf() const noexcept { return (info & leaf_bit) != 0; }
  bool missing_left() const noexcept { return (info & missing_left_bit) != 0; }
  std::uint32_t feature() const noexcept { return info & feature_mask; }

  /// Which child a value goes to: true for the left one.
  bool goes_left(float x) const noexcept { return (x <= threshold) | ((x != x) & ((info & missing_left_bit) != 0)); }

  static tree_node leaf(float value) noexcept { return {0.0f, value, leaf_bit, 0}; }
  static tree_node split(std::uint32_t feature, float threshold, bool missing_left, float value,
                         std::uint32_t right) noexcept {
    return {threshold, value, feature | (missing_left ? missing_left_bit : 0u), right};
  }
};
static_assert(sizeof(tree_node) == 16, "tree_node must stay 16 bytes");

/// The leaf reached by the float row `x` in the tree whose root is `root`.
/// Requires: `root` is a valid pre-order tree and `x` has at least (largest feature used + 1) values.
inline const tree_node* find_leaf(const tree_node* root, const float* x) noexcept {
  const tree_node* node = root;
  while (!node->is_leaf()) node = node->goes_left(x[node->feature()]) ? node + 1 : root + node->right;
  return node;
}

/// One branch-free traversal step within a tree: the position of the child that `x` goes to, or
/// `pos` itself when node `pos` is a leaf. Sets `leaf` to 1 for a leaf. Walking many trees or rows
/// in lockstep with this step lets their cache misses overlap and avoids mispredicted branches.
inline std::uint32_t step(const tree_node* root, std::uint32_t pos, const float* x, std::uint32_t& leaf) noexcept {
  const tree_node& n = root[pos];
  const std::uint32_t info = n.info;
  leaf = info >> 31;
  // A leaf's feature bits are 0, so this read is always in range.
  const float v = x[info & tree_node::feature_mask];
  const std::uint32_t left =
      static_cast<std::uint32_t>(v <= n.threshold) | (static_cast<std::uint32_t>(v != v) & (info >> 30) & 1u);
  // Selects by masks rather than ?: so that the compiler cannot emit an unpredictable branch.
  const std::uint32_t next = n.right ^ ((n.right ^ (pos + 1)) & (0u - left));
  return next ^ ((next ^ pos) & (0u - leaf));
}

/// Rounds a double down to the largest float not above it. Comparing a float x with the result gives
/// exactly the same answer as comparing double(x) with `d`.
inline float float_floor(double d) noexcept {
  if (std::isnan(d)) return std::numeric_limits<float>::quiet_NaN();
  if (d >= static_cast<double>(std::numeric_limits<float>::max())) {
    return d == std::numeric_limits<double>::infinity() ? std::numeric_limits<float>::infinity()
                                                        : std::numeric_limits<float>::max();
  }
  float f = static_cast<float>(d);
  if (static_cast<double>(f) > d) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  return f;
}

}  // namespace churn
