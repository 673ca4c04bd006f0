#pragma once
// Fitting a random forest: fit_forest(params, X, y) -> random_forest. Growing a forest's trees in
// ranges on several machines is in forest_ranges.hpp.
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <churn/detail/forest_data.hpp>
#include <churn/detail/forest_fit.hpp>
#include <churn/error.hpp>
#include <churn/forest.hpp>
#include <churn/forest_params.hpp>

namespace churn {

/// Trains a forest on X (rows x features, row-major doubles, NaN = missing) and labels y (0 or 1).
/// `sample_weight` may be null (all 1). `feature_names` may be empty or one per column.
/// Throws parameter_error for invalid params, data_error for bad input (naming row and column).
/// Complexity: about O(n_estimators * n log n * max_features * depth-ish) / threads.
inline random_forest fit_forest(const forest_params& params, const matrix_view& X, const int* y,
                                const double* sample_weight = nullptr, std::vector<std::string> feature_names = {}) {
  // One tree range holding the whole forest, joined and scored as combine_forests joins and scores
  // several: so the two give the same model by construction.
  detail::forest_training tr = detail::prepare_training(params, X, y, sample_weight, feature_names.size());
  std::vector<detail::grown_trees> parts;
  parts.push_back(detail::grow_tree_range(params, tr, std::move(feature_names), 0, params.n_estimators));
  tr.data = detail::binned_features();  // the binned copy of X is no longer needed
  forest_contents joined = detail::join_grown_trees(parts);
  if (params.oob_score) detail::fill_oob(joined, X, tr.labels, tr.threads);
  return random_forest(std::move(joined));
}

/// Convenience overload taking vectors.
inline random_forest fit_forest(const forest_params& params, const matrix_view& X, const std::vector<int>& y,
                                const std::vector<double>& sample_weight = {},
                                std::vector<std::string> feature_names = {}) {
  if (y.size() != X.rows)
    throw data_error("y has " + std::to_string(y.size()) + " labels for " + std::to_string(X.rows) + " rows");
  if (!sample_weight.empty() && sample_weight.size() != X.rows)
    throw data_error("sample_weight has " + std::to_string(sample_weight.size()) + " values for " +
                     std::to_string(X.rows) + " rows");
  return fit_forest(params, X, y.data(), sample_weight.empty() ? nullptr : sample_weight.data(),
                    std::move(feature_names));
}

}  // namespace churn
