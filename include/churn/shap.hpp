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
/// (about 56 bytes, plus 8 per quadrature point, per internal node) and refers to no forest data afterwards.
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
      if (points >= rules_.size()) rules_.resize(points + 1);
      if (rules_[points].points == 0) rules_[points] = detail::shap_rule(points);
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
    // Rows go through the trees in batches of four (rows 0-3, 4-7, ...; the last one padded), one row
    // per vector lane. A row's values do not depend on its batch, its lane or the thread.
    constexpr std::size_t L = detail::shap_lanes;
    const std::size_t batches = (X.rows + L - 1) / L;
    if (batches >= static_cast<std::size_t>(threads) || threads == 1) {
      // Batches in parallel; each adds its trees one after the other.
      const std::size_t workers = std::min<std::size_t>(static_cast<std::size_t>(threads), batches);
      std::vector<detail::shap_scratch> scratch(workers);
      std::vector<std::vector<float>> xs(workers, std::vector<float>(p * L));
      std::vector<std::vector<double>> tree_phis(workers, std::vector<double>(p * L));
      detail::parallel_for(batches, static_cast<int>(workers), [&](std::size_t b, std::size_t worker) {
        float* x = xs[worker].data();
        double* tree_phi = tree_phis[worker].data();
        const std::size_t r0 = b * L, n = std::min(L, X.rows - r0);
        to_float_batch(X, r0, n, x);
        for (std::size_t t = 0; t < T; ++t) {
          std::fill(tree_phi, tree_phi + p * L, 0.0);
          explain_tree(t, x, tree_phi, n, scratch[worker]);
          add_batch(tree_phi, n, out + r0 * p);
        }
        for (std::size_t i = 0; i < n * p; ++i) out[r0 * p + i] *= scale;
      });
      return;
    }
    // Fewer batches than threads (an interactive request): trees in parallel, each into its own block
    // of values, then added in tree order (the same sums as above, bit for bit).
    std::vector<float> x(p * L);
    std::vector<double> per_tree(T * p * L);
    for (std::size_t b = 0; b < batches; ++b) {
      const std::size_t r0 = b * L, n = std::min(L, X.rows - r0);
      const std::size_t width = p * (n == 1 ? 1 : L);  // one row: features x 1
      to_float_batch(X, r0, n, x.data());
      std::fill(per_tree.begin(), per_tree.begin() + static_cast<std::ptrdiff_t>(T * width), 0.0);
      const std::size_t block =
          (T + static_cast<std::size_t>(threads) * 4 - 1) / (static_cast<std::size_t>(threads) * 4);
      detail::parallel_for_blocks(T, block, threads, [&](std::size_t begin, std::size_t end, std::size_t) {
        detail::shap_scratch scratch;
        for (std::size_t t = begin; t < end; ++t) explain_tree(t, x.data(), per_tree.data() + t * width, n, scratch);
      });
      for (std::size_t t = 0; t < T; ++t) add_batch(per_tree.data() + t * width, n, out + r0 * p);
      for (std::size_t i = 0; i < n * p; ++i) out[r0 * p + i] *= scale;
    }
  }

  /// The same, returned as a rows x n_features row-major vector.
  std::vector<double> shap_values(const matrix_view& X, int n_jobs = 1) const {
    std::vector<double> out(X.rows * n_features_);
    shap_values(X, out.data(), n_jobs);
    return out;
  }

 private:
  // One tree's values for a batch of n rows (x and phi: features x 4 lanes; for one row, the walk of
  // one row, a quarter of the cost, with x and phi: features x 1, the same bits).
  void explain_tree(std::size_t t, const float* x, double* phi, std::size_t n, detail::shap_scratch& scratch) const {
    const detail::shap_tree_plan& plan = plans_[t];
    if (n == 1)
      detail::tree_shap(plan, rules_[plan.points], x, phi, scratch);
    else
      detail::tree_shap_batch(plan, rules_[plan.points], x, phi, scratch);
  }

  // Rows r0 .. r0 + n - 1 of X (any strides: a column-major table's row is not adjacent) as float32,
  // features x 4 lanes (one row: features x 1); lanes past n repeat row r0 (computed and dropped).
  void to_float_batch(const matrix_view& X, std::size_t r0, std::size_t n, float* x) const {
    const std::size_t L = n == 1 ? 1 : detail::shap_lanes;
    for (std::size_t r = 0; r < n; ++r)
      for (std::size_t f = 0; f < n_features_; ++f) x[f * L + r] = detail::checked_float(X(r0 + r, f), r0 + r, f);
    for (std::size_t r = n; r < L && n > 1; ++r)
      for (std::size_t f = 0; f < n_features_; ++f) x[f * L + r] = x[f * L];
  }

  // Adds a batch's values (features x 4 lanes; one row: features x 1) to its n rows of out.
  void add_batch(const double* phi, std::size_t n, double* out) const {
    const std::size_t L = n == 1 ? 1 : detail::shap_lanes;
    for (std::size_t r = 0; r < n; ++r)
      for (std::size_t f = 0; f < n_features_; ++f) out[r * n_features_ + f] += phi[f * L + r];
  }

  std::size_t n_features_ = 0;
  std::size_t max_depth_ = 0;
  double expected_ = 0;
  std::vector<detail::shap_tree_plan> plans_;
  std::vector<detail::shap_rule> rules_;  // indexed by points; points == 0 where unused
};

/// SHAP values of every row of X (rows x n_features, row-major): tree_explainer(forest).shap_values.
/// Throws model_capability_error for a forest without training cover, data_error for bad X.
inline std::vector<double> shap_values(const random_forest& forest, const matrix_view& X, int n_jobs = 1) {
  return tree_explainer(forest).shap_values(X, n_jobs);
}

/// The expected value that a row's SHAP values start from (tree_explainer::expected_value).
inline double shap_expected_value(const random_forest& forest) { return tree_explainer(forest).expected_value(); }

}  // namespace churn
