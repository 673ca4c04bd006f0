#pragma once
// The hyper-parameters of a random forest (forest_params), named and meant as in scikit-learn's
// RandomForestClassifier. The trainer is fit_forest (forest_fit.hpp); the trained model random_forest
// (forest.hpp).
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <churn/detail/parallel.hpp>
#include <churn/error.hpp>
#include <churn/tree.hpp>

namespace churn {

/// How classes are weighted (scikit-learn's `class_weight`).
enum class class_weight_mode {
  none,                ///< every sample counts by its sample weight
  balanced,            ///< weight n / (n_classes * count(class)) from the training labels
  balanced_subsample,  ///< the same, computed on each tree's bootstrap sample
  given                ///< the weights in forest_params::class_weights
};

inline std::string to_string(class_weight_mode m) {
  switch (m) {
    case class_weight_mode::none: return "none";
    case class_weight_mode::balanced: return "balanced";
    case class_weight_mode::balanced_subsample: return "balanced_subsample";
    case class_weight_mode::given: return "given";
  }
  return "?";
}

/// Throws parameter_error for an unknown name.
inline class_weight_mode parse_class_weight_mode(const std::string& s) {
  if (s == "none") return class_weight_mode::none;
  if (s == "balanced") return class_weight_mode::balanced;
  if (s == "balanced_subsample") return class_weight_mode::balanced_subsample;
  if (s == "given") return class_weight_mode::given;
  throw parameter_error("class_weight", "'" + s + "'", "'none', 'balanced', 'balanced_subsample', 'given'");
}

/// Deprecated name of parse_class_weight_mode: removed in the next release.
[[deprecated("renamed churn::parse_class_weight_mode")]] inline class_weight_mode class_weight_mode_from_string(
    const std::string& s) {
  return parse_class_weight_mode(s);
}

/// Hyper-parameters of a forest. Names and meanings follow scikit-learn's RandomForestClassifier.
struct forest_params {
  std::size_t n_estimators = 100;
  tree_params tree;
  bool bootstrap = true;
  std::size_t max_samples = 0;        ///< rows drawn per tree (bootstrap only); 0: see max_samples_fraction
  double max_samples_fraction = 0;    ///< fraction of rows drawn per tree in (0, 1]; 0 (with max_samples 0): all
  class_weight_mode class_weight = class_weight_mode::none;
  std::array<double, 2> class_weights{{1.0, 1.0}};  ///< used with class_weight_mode::given
  bool oob_score = false;             ///< compute the out-of-bag score and probabilities (bootstrap only)
  int n_jobs = 1;                     ///< threads; -1: all cores
  std::uint64_t random_state = 0;

  /// Throws parameter_error naming the first invalid parameter.
  void validate() const {
    if (n_estimators < 1) throw parameter_error("n_estimators", std::to_string(n_estimators), "an integer >= 1");
    tree.validate();
    if (!bootstrap && (max_samples != 0 || max_samples_fraction != 0))
      throw parameter_error("max_samples", max_samples ? std::to_string(max_samples) : std::to_string(max_samples_fraction),
                            "None when bootstrap is False");
    if (max_samples != 0 && max_samples_fraction != 0)
      throw parameter_error("max_samples", "both a count and a fraction", "one of them");
    if (!(max_samples_fraction >= 0 && max_samples_fraction <= 1))
      throw parameter_error("max_samples", std::to_string(max_samples_fraction), "a fraction in (0, 1]");
    if (oob_score && !bootstrap)
      throw parameter_error("oob_score", "True", "False when bootstrap is False (out-of-bag needs bootstrap)");
    for (double w : class_weights)
      if (!(w >= 0) || std::isinf(w))
        throw parameter_error("class_weight", std::to_string(w), "finite weights >= 0");
    if (n_jobs == 0) throw parameter_error("n_jobs", "0", "a positive number of threads, or -1 for all cores");
    detail::check_thread_count("n_jobs", n_jobs);
  }
};

namespace detail {

// The parameters that shape the trees, as (name, value) text in scikit-learn's names; n_jobs is left
// out (it never changes the model).
inline std::vector<std::pair<std::string, std::string>> model_params(const forest_params& p) {
  auto num = [](double v) {
    char text[40];
    std::snprintf(text, sizeof text, "%.17g", v);
    return std::string(text);
  };
  auto count_or_none = [](std::size_t v) { return v ? std::to_string(v) : std::string("None"); };
  std::string max_features;
  switch (p.tree.max_features.how) {
    case max_features_rule::kind::sqrt: max_features = "'sqrt'"; break;
    case max_features_rule::kind::log2: max_features = "'log2'"; break;
    case max_features_rule::kind::all: max_features = "None"; break;
    case max_features_rule::kind::count: max_features = std::to_string(static_cast<std::size_t>(p.tree.max_features.value)); break;
    case max_features_rule::kind::fraction: max_features = num(p.tree.max_features.value); break;
  }
  std::string class_weight = "'" + to_string(p.class_weight) + "'";
  if (p.class_weight == class_weight_mode::none) class_weight = "None";
  if (p.class_weight == class_weight_mode::given) class_weight = "[" + num(p.class_weights[0]) + ", " + num(p.class_weights[1]) + "]";
  return {{"n_estimators", std::to_string(p.n_estimators)},
          {"criterion", "'" + to_string(p.tree.split_criterion) + "'"},
          {"splitter", "'" + to_string(p.tree.split_strategy) + "'"},
          {"max_depth", count_or_none(p.tree.max_depth)},
          {"min_samples_split", std::to_string(p.tree.min_samples_split)},
          {"min_samples_leaf", std::to_string(p.tree.min_samples_leaf)},
          {"min_weight_fraction_leaf", num(p.tree.min_weight_fraction_leaf)},
          {"max_features", max_features},
          {"max_leaf_nodes", count_or_none(p.tree.max_leaf_nodes)},
          {"min_impurity_decrease", num(p.tree.min_impurity_decrease)},
          {"bootstrap", p.bootstrap ? "True" : "False"},
          {"max_samples", p.max_samples ? std::to_string(p.max_samples) : p.max_samples_fraction > 0 ? num(p.max_samples_fraction) : "None"},
          {"class_weight", class_weight},
          {"oob_score", p.oob_score ? "True" : "False"},
          {"random_state", std::to_string(p.random_state)}};
}

}  // namespace detail

}  // namespace churn
