#pragma once
// Inspecting a trained forest: permutation feature importance (Breiman). Impurity-based importances
// are part of the model (random_forest::feature_importances); decision-path contributions are
// random_forest::contributions.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include <churn/detail/forest_data.hpp>
#include <churn/detail/parallel.hpp>
#include <churn/detail/rng.hpp>
#include <churn/error.hpp>
#include <churn/forest.hpp>
#include <churn/metrics.hpp>

namespace churn {

/// What permutation importance measures.
enum class importance_scoring { accuracy, roc_auc };

/// Result of permutation_importance: per feature the mean and standard deviation over repeats of
/// (baseline score - score with the feature's column shuffled); `scores[f * n_repeats + r]` the drops.
struct permutation_importance_result {
  double baseline = 0;
  std::vector<double> mean, std;
  std::vector<double> drops;
  std::size_t n_repeats = 0;
};

/// Permutation feature importance (Breiman): for each feature and repeat, shuffle that column (with a
/// seed derived from (seed, feature, repeat)), score the model, and record the drop. Parallel over
/// (feature, repeat); results do not depend on n_jobs.
/// Throws data_error for bad X / y, parameter_error for n_repeats < 1.
inline permutation_importance_result permutation_importance(const random_forest& model, const matrix_view& X,
                                                            const std::vector<int>& y, importance_scoring scoring,
                                                            std::size_t n_repeats = 5, std::uint64_t seed = 0,
                                                            int n_jobs = 1) {
  if (n_repeats < 1) throw parameter_error("n_repeats", std::to_string(n_repeats), "an integer >= 1");
  if (X.cols != model.n_features())
    throw data_error("X has " + std::to_string(X.cols) + " features, but the model was trained with " +
                     std::to_string(model.n_features()));
  if (y.size() != X.rows)
    throw data_error("y has " + std::to_string(y.size()) + " labels for " + std::to_string(X.rows) + " rows");
  for (std::size_t i = 0; i < y.size(); ++i)
    if (y[i] != 0 && y[i] != 1)
      throw data_error("y[" + std::to_string(i) + "] = " + std::to_string(y[i]) + "; labels must be 0 or 1");
  const std::size_t n = X.rows, p = X.cols;
  std::vector<float> xf(n * p);
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t f = 0; f < p; ++f) xf[r * p + f] = detail::checked_float(X(r, f), r, f);
  const double threshold = model.threshold();
  auto score = [&](const std::vector<double>& prob) {
    if (scoring == importance_scoring::roc_auc) {
      // One class only: the area is undefined; NaN (not an error) lets the other repeats stand.
      const auto pos = std::count(y.begin(), y.end(), 1);
      if (pos == 0 || pos == static_cast<std::ptrdiff_t>(y.size())) return std::numeric_limits<double>::quiet_NaN();
      return roc_auc_score(y, prob);
    }
    std::size_t ok = 0;
    for (std::size_t i = 0; i < n; ++i) ok += (prob[i] > threshold ? 1 : 0) == y[i];
    return static_cast<double>(ok) / static_cast<double>(n);
  };
  const int threads = detail::resolve_n_jobs(n_jobs);
  std::vector<double> base(n);
  detail::parallel_for_blocks(n, 256, threads, [&](std::size_t b, std::size_t e, std::size_t) {
    for (std::size_t i = b; i < e; ++i) base[i] = model.predict_proba_float(xf.data() + i * p);
  });
  permutation_importance_result res;
  res.baseline = score(base);
  res.n_repeats = n_repeats;
  res.drops.assign(p * n_repeats, 0.0);
  detail::parallel_for(p * n_repeats, threads, [&](std::size_t task, std::size_t) {
    const std::size_t f = task / n_repeats;
    detail::rng g(detail::derive_seed(seed, task));
    std::vector<std::uint32_t> perm(n);
    std::iota(perm.begin(), perm.end(), 0u);
    for (std::size_t i = n; i > 1; --i) std::swap(perm[i - 1], perm[static_cast<std::size_t>(g.below(i))]);
    std::vector<float> row(p);
    std::vector<double> prob(n);
    for (std::size_t i = 0; i < n; ++i) {
      std::copy(xf.data() + i * p, xf.data() + (i + 1) * p, row.begin());
      row[f] = xf[perm[i] * p + f];
      prob[i] = model.predict_proba_float(row.data());
    }
    res.drops[task] = res.baseline - score(prob);
  });
  res.mean.assign(p, 0.0);
  res.std.assign(p, 0.0);
  for (std::size_t f = 0; f < p; ++f) {
    double m = 0;
    for (std::size_t r = 0; r < n_repeats; ++r) m += res.drops[f * n_repeats + r];
    m /= static_cast<double>(n_repeats);
    double v = 0;
    for (std::size_t r = 0; r < n_repeats; ++r)
      v += (res.drops[f * n_repeats + r] - m) * (res.drops[f * n_repeats + r] - m);
    res.mean[f] = m;
    res.std[f] = std::sqrt(v / static_cast<double>(n_repeats));
  }
  return res;
}

}  // namespace churn
