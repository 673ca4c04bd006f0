#pragma once
// The always-majority baseline: scikit-learn's DummyClassifier(strategy="prior"). It ignores the
// features and gives every row the training share of positives as its probability, so at threshold 0.5
// it predicts the majority class, its ROC AUC is 0.5, and its log loss is the entropy of the labels.
#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include <churn/detail/cv_matrix.hpp>
#include <churn/detail/metrics_check.hpp>
#include <churn/error.hpp>

namespace churn {

/// A fitted majority baseline. Immutable; predict_proba is const and thread-safe.
struct majority_model {
  double positive_rate = 0.0;  ///< share of class 1 among the training labels
  int majority_class = 0;      ///< the more frequent class (0 on a tie, as scikit-learn's argmax)

  /// positive_rate for every row of X.
  std::vector<double> predict_proba(const row_matrix& X) const {
    return std::vector<double>(static_cast<std::size_t>(X.rows()), positive_rate);
  }
};

/// Fits the majority baseline to binary labels y. X only has to have one row per label.
/// Throws data_error for empty or non-binary y, or a row count different from y's length.
inline majority_model fit_majority(const row_matrix& X, const std::vector<int>& y) {
  detail::metrics_check_labels("fit_majority", "y", y);
  if (static_cast<std::size_t>(X.rows()) != y.size()) {
    throw data_error("fit_majority: X has " + std::to_string(X.rows()) + " rows but y has " + std::to_string(y.size()) +
                     " labels");
  }
  const auto pos = static_cast<std::size_t>(std::count(y.begin(), y.end(), 1));
  majority_model m;
  m.positive_rate = static_cast<double>(pos) / static_cast<double>(y.size());
  m.majority_class = 2 * pos > y.size() ? 1 : 0;
  return m;
}

}  // namespace churn
