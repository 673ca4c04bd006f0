#pragma once
// Exact SHAP values of a random forest: path-dependent TreeSHAP (Lundberg et al. 2020), the values
// shap.TreeExplainer(model, feature_perturbation="tree_path_dependent") computes, in time linear in
// the depth of each leaf path and numerically stable at any depth (detail/shap_kernel.hpp explains
// the method; docs/explain.md shows its use).
//
//   churn::tree_explainer ex(forest);              // plans every tree once; immutable, thread-safe
//   std::vector<double> phi = ex.shap_values(X, 2);  // rows x n_features, row-major
//   // for each row r: ex.expected_value() + sum_f phi[r * p + f] == forest.predict_proba(X)[r]
//
// The value function needs each node's training cover (weighted sample count), which models trained
// by this version keep; a model loaded from a file of format version 1 has none, and explaining it
// throws churn::model_capability_error (refit the model, or load a file saved by a newer version).
#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include <churn/detail/parallel.hpp>
#include <churn/detail/shap_kernel.hpp>
#include <churn/error.hpp>
#include <churn/forest.hpp>

namespace churn {

/// Explains the predictions P(class 1) of one forest with exact SHAP values. Keeps a plan per tree
/// (about 56 bytes per internal node) and refers to no forest data afterwards.
class tree_explainer {
 public:
  /// Plans every tree of `forest` (O(nodes)). Throws model_capability_error when the forest has no
  /// training cover (a model loaded from a format version 1 file).
  explicit tree_explainer(const random_forest& forest) : n_features_(forest.n_features()) {
    if (!forest.has_cover())
      throw model_capability_error(
          "SHAP values need each node's training cover, which this model does not have (it was loaded "
          "from a model file of format version 1): refit the model with this version of churn and save it again");
    const std::size_t T = forest.n_trees();
    plans_.reserve(T);
    double expected = 0;
    for (std::size_t t = 0; t < T; ++t) {
      plans_.push_back(detail::make_shap_plan(forest.tree(t), forest.tree_cover(t), forest.tree_size(t)));
      expected += plans_.back().expected;
      max_depth_ = std::max(max_depth_, plans_.back().max_depth);
      const std::size_t points = plans_.back().points;
      if (points / 4 >= rules_.size()) rules_.resize(points / 4 + 1);
      if (rules_[points / 4].points == 0) rules_[points / 4] = detail::shap_rule(points);
    }
    expected_ = T > 0 ? expected / static_cast<double>(T) : 0.0;
  }

  /// E[f(X)] under the trees' training cover: the mean over trees of the cover-weighted mean leaf
  /// value (shap's expected_value). expected_value() + the sum of a row's SHAP values = P(class 1).
  double expected_value() const noexcept { return expected_; }
  std::size_t n_features() const noexcept { return n_features_; }
  std::size_t n_trees() const noexcept { return plans_.size(); }
  /// The most distinct features on one root-to-leaf path of any tree, and the longest path.
  std::size_t max_distinct_features() const noexcept {
    std::size_t d = 0;
    for (const auto& p : plans_) d = std::max(d, p.max_distinct);
    return d;
  }
  std::size_t max_depth() const noexcept { return max_depth_; }

  /// SHAP values of every row of X (rows x n_features doubles, NaN = missing) into
  /// out[r * n_features + f], on `n_jobs` threads (-1: all cores). Values are compared as float32,
  /// and NaN follows each node's missing-value direction, exactly as prediction does. The result is
  /// the same whatever n_jobs: each value sums the trees in tree order.
  /// Throws data_error for a wrong number of columns or an infinite value (naming row and column),
  /// parameter_error for n_jobs == 0. Cost O(rows * nodes * D / 2) for paths of at most D distinct
  /// features (the original TreeSHAP: O(rows * leaves * depth^2)).
  void shap_values(const matrix_view& X, double* out, int n_jobs = 1) const {
    if (X.cols != n_features_)
      throw data_error("X has " + std::to_string(X.cols) + " features, but the model was trained with " +
                       std::to_string(n_features_));
    const int threads = detail::resolve_n_jobs(n_jobs);
    const std::size_t p = n_features_, T = plans_.size();
    const double scale = T > 0 ? 1.0 / static_cast<double>(T) : 0.0;
    std::fill(out, out + X.rows * p, 0.0);
    if (X.rows == 0 || T == 0) return;
    if (X.rows >= static_cast<std::size_t>(threads) || threads == 1) {
      // Rows in parallel; each row adds its trees one after the other.
      const std::size_t workers = std::min<std::size_t>(static_cast<std::size_t>(threads), X.rows);
      std::vector<detail::shap_scratch> scratch(workers);
      std::vector<std::vector<float>> xs(workers, std::vector<float>(p));
      std::vector<std::vector<double>> tree_phis(workers, std::vector<double>(p));
      detail::parallel_for(X.rows, static_cast<int>(workers), [&](std::size_t r, std::size_t worker) {
        float* x = xs[worker].data();
        double* tree_phi = tree_phis[worker].data();
        to_float_row(X, r, x);
        double* phi = out + r * p;
        for (std::size_t t = 0; t < T; ++t) {
          std::fill(tree_phi, tree_phi + p, 0.0);
          explain_tree(t, x, tree_phi, scratch[worker]);
          for (std::size_t f = 0; f < p; ++f) phi[f] += tree_phi[f];
        }
        for (std::size_t f = 0; f < p; ++f) phi[f] *= scale;
      });
      return;
    }
    // Fewer rows than threads (an interactive request): trees in parallel, each into its own row of
    // values, then added in tree order (the same sums as above, bit for bit).
    std::vector<float> x(p);
    std::vector<double> per_tree(T * p);
    for (std::size_t r = 0; r < X.rows; ++r) {
      to_float_row(X, r, x.data());
      std::fill(per_tree.begin(), per_tree.end(), 0.0);
      const std::size_t block =
          (T + static_cast<std::size_t>(threads) * 4 - 1) / (static_cast<std::size_t>(threads) * 4);
      detail::parallel_for_blocks(T, block, threads, [&](std::size_t begin, std::size_t end, std::size_t) {
        detail::shap_scratch scratch;
        for (std::size_t t = begin; t < end; ++t) explain_tree(t, x.data(), per_tree.data() + t * p, scratch);
      });
      double* phi = out + r * p;
      for (std::size_t t = 0; t < T; ++t)
        for (std::size_t f = 0; f < p; ++f) phi[f] += per_tree[t * p + f];
      for (std::size_t f = 0; f < p; ++f) phi[f] *= scale;
    }
  }

  /// The same, returned as a rows x n_features row-major vector.
  std::vector<double> shap_values(const matrix_view& X, int n_jobs = 1) const {
    std::vector<double> out(X.rows * n_features_);
    shap_values(X, out.data(), n_jobs);
    return out;
  }

 private:
  void explain_tree(std::size_t t, const float* x, double* phi, detail::shap_scratch& scratch) const {
    const detail::shap_tree_plan& plan = plans_[t];
    detail::tree_shap(plan, rules_[plan.points / 4], x, phi, scratch);
  }

  // Row r of X (any strides: a column-major table's row is not adjacent) as float32.
  void to_float_row(const matrix_view& X, std::size_t r, float* x) const {
    for (std::size_t f = 0; f < n_features_; ++f) x[f] = detail::checked_float(X(r, f), r, f);
  }

  std::size_t n_features_ = 0;
  std::size_t max_depth_ = 0;
  double expected_ = 0;
  std::vector<detail::shap_tree_plan> plans_;
  std::vector<detail::shap_rule> rules_;  // indexed by points / 4; points == 0 where unused
};

/// SHAP values of every row of X (rows x n_features, row-major): tree_explainer(forest).shap_values.
/// Throws model_capability_error for a forest without training cover, data_error for bad X.
inline std::vector<double> shap_values(const random_forest& forest, const matrix_view& X, int n_jobs = 1) {
  return tree_explainer(forest).shap_values(X, n_jobs);
}

/// The expected value that a row's SHAP values start from (tree_explainer::expected_value).
inline double shap_expected_value(const random_forest& forest) { return tree_explainer(forest).expected_value(); }

}  // namespace churn
