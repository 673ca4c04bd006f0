#pragma once
// Stratified k-fold, stratified train/test split and cross-validation with an honestly tuned threshold.
//
// stratified_kfold and stratified_train_test_split reproduce scikit-learn's StratifiedKFold and
// train_test_split(stratify=y) index for index for the same integer seed (scikit-learn 1.9; tested on
// hundreds of random cases by tests/python/test_cv.py), so results can be compared fold for fold.
//
// cross_validate is generic over the model: it takes a fit function
//     fit(const row_matrix& X_train, const std::vector<int>& y_train) -> Model
// where Model has `predict_proba(const row_matrix&) const` or `predict_proba(const matrix_view&) const`
// (the forest's interface: churn::random_forest works as it is) returning the positive-class probability
// of each row as std::vector<double> (or any container with size() and operator[]; an Eigen vector works).
// For the forest:
//     auto fit = [&](const row_matrix& X, const std::vector<int>& y) { return fit_forest(fp, as_view(X), y); };
// The fit function is called concurrently from several threads when n_jobs > 1, so it must not mutate
// shared state; determinism is then guaranteed because every task writes its own slot.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include <churn/detail/cv_matrix.hpp>
#include <churn/detail/cv_random.hpp>
#include <churn/detail/forest_data.hpp>
#include <churn/detail/parallel.hpp>
#include <churn/detail/rng.hpp>
#include <churn/error.hpp>
#include <churn/metrics.hpp>

namespace churn {

/// A row-major matrix as the forest's read-only view (no copy; valid while X lives).
inline matrix_view as_view(const row_matrix& X) {
  return matrix_view(X.data(), static_cast<std::size_t>(X.rows()), static_cast<std::size_t>(X.cols()));
}

/// One split: the sample indices to train on and to test on, each ascending for k-fold.
struct fold {
  std::vector<std::size_t> train;
  std::vector<std::size_t> test;
};

}  // namespace churn

#include <churn/detail/cv_grouped.hpp>

namespace churn {

namespace detail {

inline std::uint32_t cv_check_seed(std::uint64_t seed) {
  // numpy's RandomState accepts integer seeds in [0, 2^32).
  if (seed > 0xffffffffULL) throw parameter_error("seed", std::to_string(seed), "0 to 4294967295");
  return static_cast<std::uint32_t>(seed);
}

}  // namespace detail

/// scikit-learn's StratifiedKFold(n_splits, shuffle, random_state=seed).split(X, y): classes are coded in
/// order of first appearance in y, each class's members are dealt to folds round-robin over the sorted
/// codes, and with shuffle each class's block of fold ids is shuffled by numpy's legacy
/// RandomState(seed) (one generator for all classes). y may hold any integer labels.
///
/// Requires: y non-empty; 2 <= n_splits <= the size of the smallest class; seed < 2^32 (ignored without
/// shuffle). Ensures: each sample is in exactly one test fold; per fold, the count of each class differs
/// by at most one from any other fold; train and test indices ascending.
/// Throws data_error for empty y, parameter_error for n_splits or seed out of range.
/// Complexity O(n * n_splits).
inline std::vector<fold> stratified_kfold(const std::vector<int>& y, int n_splits = 5, bool shuffle = true,
                                          std::uint64_t seed = 0);

namespace detail {

// The body of stratified_kfold with the generator passed in: RepeatedStratifiedKFold hands one
// RandomState to every repetition, so the repetitions continue the same stream.
inline std::vector<fold> cv_stratified_kfold(const std::vector<int>& y, int n_splits, bool shuffle, std::mt19937& gen) {
  if (y.empty()) throw data_error("stratified_kfold: y is empty");
  if (n_splits < 2) throw parameter_error("n_splits", std::to_string(n_splits), "an integer >= 2");
  const std::size_t n = y.size();
  std::map<int, int> code;
  std::vector<int> first_label;
  std::vector<int> encoded(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto it = code.find(y[i]);
    if (it == code.end()) {
      it = code.emplace(y[i], static_cast<int>(first_label.size())).first;
      first_label.push_back(y[i]);
    }
    encoded[i] = it->second;
  }
  const std::size_t n_classes = first_label.size();
  std::vector<std::size_t> counts(n_classes, 0);
  for (int e : encoded) ++counts[static_cast<std::size_t>(e)];
  std::size_t smallest = 0;
  for (std::size_t k = 1; k < n_classes; ++k) {
    if (counts[k] < counts[smallest]) smallest = k;
  }
  const auto k_splits = static_cast<std::size_t>(n_splits);
  if (counts[smallest] < 2) {
    throw data_error("stratified_kfold: class " + std::to_string(first_label[smallest]) +
                     " has only 1 member; stratified k-fold needs at least 2 members of every class");
  }
  if (k_splits > counts[smallest]) {
    // scikit-learn only warns here, but then some test fold lacks a class and its metrics are undefined.
    throw parameter_error("n_splits", std::to_string(n_splits),
                          "2 to " + std::to_string(counts[smallest]) +
                              ": the smallest class, label " + std::to_string(first_label[smallest]) + ", has " +
                              std::to_string(counts[smallest]) + " member" + (counts[smallest] == 1 ? "" : "s") +
                              " and every test fold needs one");
  }
  // alloc[f * n_classes + k]: members of class k in test fold f (round-robin over the sorted codes).
  std::vector<std::size_t> alloc(k_splits * n_classes, 0);
  std::size_t start = 0;
  for (std::size_t k = 0; k < n_classes; ++k) {
    for (std::size_t p = start; p < start + counts[k]; ++p) ++alloc[(p % k_splits) * n_classes + k];
    start += counts[k];
  }
  std::vector<int> test_fold(n, 0);
  std::vector<std::vector<std::size_t>> members(n_classes);
  for (std::size_t k = 0; k < n_classes; ++k) members[k].reserve(counts[k]);
  for (std::size_t i = 0; i < n; ++i) members[static_cast<std::size_t>(encoded[i])].push_back(i);
  for (std::size_t k = 0; k < n_classes; ++k) {
    std::vector<int> folds_for_class;
    folds_for_class.reserve(counts[k]);
    for (std::size_t f = 0; f < k_splits; ++f) folds_for_class.insert(folds_for_class.end(), alloc[f * n_classes + k], static_cast<int>(f));
    if (shuffle) detail::cv_legacy_shuffle(gen, folds_for_class);
    for (std::size_t j = 0; j < counts[k]; ++j) test_fold[members[k][j]] = folds_for_class[j];
  }
  std::vector<fold> out(k_splits);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t f = 0; f < k_splits; ++f) {
      (static_cast<std::size_t>(test_fold[i]) == f ? out[f].test : out[f].train).push_back(i);
    }
  }
  return out;
}

}  // namespace detail

inline std::vector<fold> stratified_kfold(const std::vector<int>& y, int n_splits, bool shuffle, std::uint64_t seed) {
  std::mt19937 gen(detail::cv_check_seed(seed));
  return detail::cv_stratified_kfold(y, n_splits, shuffle, gen);
}

/// scikit-learn's RepeatedStratifiedKFold(n_splits, n_repeats, random_state=seed).split(X, y):
/// n_repeats shuffled stratified k-fold partitions, concatenated (folds r * n_splits ... (r + 1) *
/// n_splits - 1 form repetition r), drawn from one RandomState(seed) in turn. The first repetition is
/// stratified_kfold(y, n_splits, true, seed). Requirements and errors as stratified_kfold, plus
/// parameter_error for n_repeats < 1.
inline std::vector<fold> repeated_stratified_kfold(const std::vector<int>& y, int n_splits = 5, int n_repeats = 5,
                                                   std::uint64_t seed = 0) {
  if (n_repeats < 1) throw parameter_error("n_repeats", std::to_string(n_repeats), "an integer >= 1");
  std::mt19937 gen(detail::cv_check_seed(seed));
  std::vector<fold> out;
  for (int r = 0; r < n_repeats; ++r) {
    auto part = detail::cv_stratified_kfold(y, n_splits, true, gen);
    for (auto& f : part) out.push_back(std::move(f));
  }
  return out;
}

/// Parameters of stratified_train_test_split.
struct split_params {
  double test_size = 0.25;     ///< fraction of the samples held out, in (0, 1); used when test_count is 0
  std::size_t test_count = 0;  ///< number of samples held out; overrides test_size when > 0
  std::uint64_t seed = 0;      ///< numpy RandomState seed, < 2^32

  /// Throws parameter_error naming the offending field.
  void validate() const {
    if (test_count == 0 && !(test_size > 0.0 && test_size < 1.0)) {
      throw parameter_error("test_size", detail::metrics_format_double(test_size), "a fraction in (0, 1)");
    }
    detail::cv_check_seed(seed);
  }
};

namespace detail {

// scikit-learn's _approximate_mode: the per-class counts of n_draws samples, floor of the proportional
// share plus one for the largest remainders, ties among equal remainders broken by RandomState.choice.
inline std::vector<std::size_t> cv_approximate_mode(const std::vector<std::size_t>& class_counts, std::size_t n_draws,
                                                    std::mt19937& gen) {
  const std::size_t m = class_counts.size();
  std::size_t total = 0;
  for (std::size_t c : class_counts) total += c;
  std::vector<double> continuous(m);
  std::vector<double> floored(m);
  double floored_sum = 0.0;
  for (std::size_t k = 0; k < m; ++k) {
    continuous[k] = static_cast<double>(class_counts[k]) / static_cast<double>(total) * static_cast<double>(n_draws);
    floored[k] = std::floor(continuous[k]);
    floored_sum += floored[k];
  }
  auto need = static_cast<long long>(static_cast<double>(n_draws) - floored_sum);
  if (need > 0) {
    std::vector<double> remainder(m);
    for (std::size_t k = 0; k < m; ++k) remainder[k] = continuous[k] - floored[k];
    std::vector<double> values = remainder;
    std::sort(values.begin(), values.end(), [](double a, double b) { return a > b; });
    values.erase(std::unique(values.begin(), values.end()), values.end());
    for (double value : values) {
      std::vector<std::size_t> inds;
      for (std::size_t k = 0; k < m; ++k) {
        if (remainder[k] == value) inds.push_back(k);
      }
      const auto add_now = std::min<long long>(static_cast<long long>(inds.size()), need);
      // RandomState.choice(inds, add_now, replace=False) = inds[permutation(len(inds))[:add_now]]; the
      // permutation is drawn even when every index is taken, and that consumes the generator.
      std::vector<std::size_t> perm = cv_legacy_permutation(gen, inds.size());
      for (long long j = 0; j < add_now; ++j) floored[inds[perm[static_cast<std::size_t>(j)]]] += 1.0;
      need -= add_now;
      if (need == 0) break;
    }
  }
  std::vector<std::size_t> out(m);
  for (std::size_t k = 0; k < m; ++k) out[k] = static_cast<std::size_t>(floored[k]);
  return out;
}

}  // namespace detail

/// A train/test split: indices in the order scikit-learn returns them (shuffled, not sorted), so that
/// X[train] equals scikit-learn's X_train row for row.
struct train_test_indices {
  std::vector<std::size_t> train;
  std::vector<std::size_t> test;
};

/// scikit-learn's train_test_split(..., test_size, stratify=y, random_state=seed) (StratifiedShuffleSplit
/// with n_test = ceil(test_size * n), n_train = n - n_test). y may hold any integer labels.
/// Throws parameter_error for bad params (see split_params::validate) or a test_count >= n, data_error
/// for empty y, a class with fewer than 2 members, or a train or test part smaller than the number of
/// classes. Complexity O(n log n).
inline train_test_indices stratified_train_test_split(const std::vector<int>& y, const split_params& params = {}) {
  params.validate();
  if (y.empty()) throw data_error("stratified_train_test_split: y is empty");
  const std::size_t n = y.size();
  std::size_t n_test = 0;
  if (params.test_count > 0) {
    if (params.test_count >= n) {
      throw parameter_error("test_count", std::to_string(params.test_count),
                            "1 to " + std::to_string(n - 1) + " (fewer than the " + std::to_string(n) + " samples)");
    }
    n_test = params.test_count;
  } else {
    n_test = static_cast<std::size_t>(std::ceil(params.test_size * static_cast<double>(n)));
  }
  const std::size_t n_train = n - n_test;
  if (n_train == 0) {
    throw parameter_error("test_size", detail::metrics_format_double(params.test_size),
                          "a fraction leaving at least one of the " + std::to_string(n) + " samples for training");
  }
  // Classes in sorted order (np.unique), members of each in ascending index order.
  std::map<int, std::vector<std::size_t>> by_class;
  for (std::size_t i = 0; i < n; ++i) by_class[y[i]].push_back(i);
  std::vector<std::vector<std::size_t>> class_indices;
  std::vector<std::size_t> class_counts;
  for (auto& entry : by_class) {
    if (entry.second.size() < 2) {
      throw data_error("stratified_train_test_split: class " + std::to_string(entry.first) +
                       " has only 1 member; every class needs at least 2 to appear in both parts");
    }
    class_counts.push_back(entry.second.size());
    class_indices.push_back(std::move(entry.second));
  }
  const std::size_t n_classes = class_counts.size();
  if (n_train < n_classes || n_test < n_classes) {
    throw data_error("stratified_train_test_split: the " + std::string(n_train < n_classes ? "train" : "test") +
                     " part would have " + std::to_string(n_train < n_classes ? n_train : n_test) +
                     " samples, fewer than the " + std::to_string(n_classes) + " classes");
  }
  std::mt19937 gen(static_cast<std::uint32_t>(params.seed));
  const std::vector<std::size_t> n_i = detail::cv_approximate_mode(class_counts, n_train, gen);
  std::vector<std::size_t> remaining(n_classes);
  for (std::size_t k = 0; k < n_classes; ++k) remaining[k] = class_counts[k] - n_i[k];
  const std::vector<std::size_t> t_i = detail::cv_approximate_mode(remaining, n_test, gen);
  train_test_indices out;
  out.train.reserve(n_train);
  out.test.reserve(n_test);
  for (std::size_t k = 0; k < n_classes; ++k) {
    const std::vector<std::size_t> perm = detail::cv_legacy_permutation(gen, class_counts[k]);
    for (std::size_t j = 0; j < n_i[k]; ++j) out.train.push_back(class_indices[k][perm[j]]);
    for (std::size_t j = n_i[k]; j < n_i[k] + t_i[k]; ++j) out.test.push_back(class_indices[k][perm[j]]);
  }
  detail::cv_legacy_shuffle(gen, out.train);
  detail::cv_legacy_shuffle(gen, out.test);
  return out;
}

/// Parameters of cross_validate.
struct cv_params {
  /// Stratified folds inside each training part whose out-of-fold predictions choose the F1-maximising
  /// threshold (the model is fitted inner_splits extra times per fold). 0 disables tuning: the threshold
  /// is then default_threshold.
  int inner_splits = 3;
  double default_threshold = 0.5;  ///< the fixed threshold also reported beside the tuned one
  std::uint64_t seed = 0;          ///< seeds the inner folds (fold f uses a seed derived from (seed, f))
  int n_jobs = 1;                  ///< threads for the fits; -1 all cores (see detail::resolve_n_jobs)
  /// The folds are this many consecutive partitions of the samples (as repeated_stratified_kfold makes):
  /// test parts must be disjoint within each repetition, and the out-of-fold arrays hold one value per
  /// sample and repetition.
  int n_repeats = 1;
  /// The group of each sample (e.g. the user of each row of a snapshot table), or empty. With groups
  /// the inner folds that tune the threshold are stratified_group_kfold(y[train], groups[train], ...):
  /// no group on both sides of an inner split either.
  std::vector<std::int64_t> groups;

  /// Throws parameter_error naming the offending field.
  void validate() const {
    if (inner_splits != 0 && inner_splits < 2) {
      throw parameter_error("inner_splits", std::to_string(inner_splits), "0 (no tuning) or an integer >= 2");
    }
    if (!(default_threshold >= 0.0 && default_threshold <= 1.0)) {
      throw parameter_error("default_threshold", detail::metrics_format_double(default_threshold), "0 to 1");
    }
    if (n_jobs == 0) throw parameter_error("n_jobs", "0", "a positive number of threads, or -1 for all cores");
    if (n_repeats < 1) throw parameter_error("n_repeats", std::to_string(n_repeats), "an integer >= 1");
  }
};

/// What one outer fold produced, evaluated on its test part only.
struct fold_report {
  std::size_t n_train = 0;
  std::size_t n_test = 0;
  double threshold = 0.5;  ///< chosen from the training part only (inner out-of-fold predictions)
  /// seed of the inner folds: stratified_kfold(y[train], inner_splits, true, inner_seed), or
  /// stratified_group_kfold(y[train], groups[train], inner_splits, true, inner_seed) with groups
  std::uint64_t inner_seed = 0;
  double inner_f1 = std::numeric_limits<double>::quiet_NaN();  ///< F1 of that choice on the inner predictions
  binary_metrics tuned;       ///< test-fold metrics with predictions proba >= threshold
  binary_metrics at_default;  ///< test-fold metrics with predictions proba >= default_threshold
  confusion_matrix_counts tuned_confusion;
  confusion_matrix_counts default_confusion;
};

/// Mean and population standard deviation (numpy's std, ddof=0) of each metric over the folds.
struct metric_summary {
  binary_metrics mean;
  binary_metrics std;
};

/// The result of cross_validate.
struct cv_result {
  std::vector<fold_report> folds;
  metric_summary tuned;       ///< over folds, at each fold's tuned threshold
  metric_summary at_default;  ///< over folds, at default_threshold
  double threshold_mean = 0.5;
  double threshold_std = 0.0;
  double default_threshold = 0.5;
  int n_repeats = 1;
  /// Out-of-fold arrays, n_repeats * n values: [r * n + i] is sample i in repetition r.
  std::vector<double> oof_proba;  ///< from the model of the fold that tested the sample; NaN if none
  std::vector<int> oof_fold;      ///< the (global) index of the fold that tested the sample, -1 if none
  std::vector<int> oof_pred;      ///< oof_proba >= that fold's tuned threshold; -1 if none
};

/// JSON of one fold, with the keys of the Python dict (n_train, n_test, threshold, inner_seed, inner_f1,
/// tuned, at_default, tuned_confusion, default_confusion).
inline void to_json(nlohmann::json& j, const fold_report& f) {
  j = {{"n_train", f.n_train},         {"n_test", f.n_test},
       {"threshold", f.threshold},     {"inner_seed", f.inner_seed},
       {"inner_f1", f.inner_f1},       {"tuned", f.tuned},
       {"at_default", f.at_default},   {"tuned_confusion", f.tuned_confusion},
       {"default_confusion", f.default_confusion}};
}

/// JSON of a cross-validation result as Python's churn.cross_validate returns it, without the
/// per-sample out-of-fold arrays (add them with include_oof) so that it fits in a model file.
inline nlohmann::json cv_result_json(const cv_result& r, bool include_oof = false) {
  nlohmann::json j = {{"folds", r.folds},
                      {"tuned", {{"mean", r.tuned.mean}, {"std", r.tuned.std}}},
                      {"at_default", {{"mean", r.at_default.mean}, {"std", r.at_default.std}}},
                      {"threshold_mean", r.threshold_mean},
                      {"threshold_std", r.threshold_std},
                      {"default_threshold", r.default_threshold},
                      {"n_repeats", r.n_repeats}};
  if (include_oof) {
    j["oof_proba"] = r.oof_proba;
    j["oof_fold"] = r.oof_fold;
    j["oof_pred"] = r.oof_pred;
  }
  return j;
}

namespace detail {

template <class T, class = void>
struct cv_has_size_and_index : std::false_type {};
template <class T>
struct cv_has_size_and_index<T, std::void_t<decltype(std::declval<const T&>().size()),
                                            decltype(static_cast<double>(std::declval<const T&>()[0]))>>
    : std::true_type {};

template <class Model, class = void>
struct cv_predicts_row_matrix : std::false_type {};
template <class Model>
struct cv_predicts_row_matrix<Model, std::void_t<decltype(std::declval<const Model&>().predict_proba(
                                         std::declval<const row_matrix&>()))>> : std::true_type {};

template <class Model>
auto cv_call_predict_proba(const Model& model, const row_matrix& X) {
  if constexpr (cv_predicts_row_matrix<Model>::value) {
    return model.predict_proba(X);
  } else {
    return model.predict_proba(as_view(X));
  }
}

/// The model's positive-class probabilities for X as a std::vector<double>, checking the length.
template <class Model>
std::vector<double> cv_predict_proba(const Model& model, const row_matrix& X) {
  auto p = cv_call_predict_proba(model, X);
  using P = decltype(p);
  std::vector<double> out;
  if constexpr (std::is_same_v<P, std::vector<double>>) {
    out = std::move(p);
  } else {
    static_assert(cv_has_size_and_index<P>::value,
                  "predict_proba must return std::vector<double> or a container with size() and operator[]");
    out.resize(static_cast<std::size_t>(p.size()));
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(p[static_cast<Eigen::Index>(i)]);
  }
  if (out.size() != static_cast<std::size_t>(X.rows())) {
    throw data_error("cross_validate: predict_proba returned " + std::to_string(out.size()) + " values for " +
                     std::to_string(X.rows()) + " rows");
  }
  return out;
}

inline void cv_check_folds(const std::vector<fold>& folds, std::size_t n, std::size_t n_repeats) {
  if (folds.empty()) throw data_error("cross_validate: no folds given");
  if (folds.size() % n_repeats != 0) {
    throw data_error("cross_validate: " + std::to_string(folds.size()) + " folds cannot form n_repeats = " +
                     std::to_string(n_repeats) + " repetitions of equal size");
  }
  const std::size_t per_repeat = folds.size() / n_repeats;
  std::vector<int> tested(n, -1);
  std::vector<int> seen(n, -1);
  for (std::size_t f = 0; f < folds.size(); ++f) {
    if (f % per_repeat == 0) std::fill(tested.begin(), tested.end(), -1);
    const auto where = "cross_validate: fold " + std::to_string(f);
    if (folds[f].train.empty() || folds[f].test.empty()) throw data_error(where + " has an empty train or test part");
    for (int part = 0; part < 2; ++part) {
      for (std::size_t i : part == 0 ? folds[f].train : folds[f].test) {
        if (i >= n) {
          throw data_error(where + ": index " + std::to_string(i) + " is out of range for " + std::to_string(n) +
                           " samples");
        }
        if (seen[i] == static_cast<int>(f)) {
          throw data_error(where + ": sample " + std::to_string(i) + " appears twice (train and test must be disjoint)");
        }
        seen[i] = static_cast<int>(f);
        if (part == 1) {
          if (tested[i] >= 0) {
            throw data_error(where + ": sample " + std::to_string(i) + " is also in the test part of fold " +
                             std::to_string(tested[i]) + " (test parts must be disjoint within a repetition)");
          }
          tested[i] = static_cast<int>(f);
        }
      }
    }
  }
}

/// The numpy seed of fold f's inner folds.
inline std::uint64_t cv_inner_seed(std::uint64_t seed, std::size_t f) { return derive_seed(seed, f) & 0xffffffffULL; }

inline row_matrix cv_rows(const row_matrix& X, const std::vector<std::size_t>& rows) {
  row_matrix out(static_cast<Eigen::Index>(rows.size()), X.cols());
  for (std::size_t r = 0; r < rows.size(); ++r) out.row(static_cast<Eigen::Index>(r)) = X.row(static_cast<Eigen::Index>(rows[r]));
  return out;
}

inline std::vector<int> cv_take(const std::vector<int>& y, const std::vector<std::size_t>& idx) {
  std::vector<int> out(idx.size());
  for (std::size_t i = 0; i < idx.size(); ++i) out[i] = y[idx[i]];
  return out;
}

// One fit of cross_validate: on the outer fold's training rows (inner == nullptr) predicting its test
// rows, or on inner fold `inner` of those training rows predicting the inner test rows.
template <class Fit>
void cv_run_task(const Fit& fit, const row_matrix& X, const fold& outer, const std::vector<int>& y_train,
                 const fold* inner, std::vector<double>& out) {
  if (inner == nullptr) {
    auto model = fit(cv_rows(X, outer.train), y_train);
    out = cv_predict_proba(model, cv_rows(X, outer.test));
    return;
  }
  std::vector<std::size_t> train_rows(inner->train.size());
  std::vector<std::size_t> test_rows(inner->test.size());
  for (std::size_t i = 0; i < inner->train.size(); ++i) train_rows[i] = outer.train[inner->train[i]];
  for (std::size_t i = 0; i < inner->test.size(); ++i) test_rows[i] = outer.train[inner->test[i]];
  auto model = fit(cv_rows(X, train_rows), cv_take(y_train, inner->train));
  out = cv_predict_proba(model, cv_rows(X, test_rows));
}

inline metric_summary cv_summarise(const std::vector<binary_metrics>& per_fold) {
  const std::size_t m = binary_metric_names().size();
  std::vector<double> mean(m, 0.0);
  std::vector<double> sd(m, 0.0);
  const auto k = static_cast<double>(per_fold.size());
  for (const auto& b : per_fold) {
    const auto v = to_vector(b);
    for (std::size_t j = 0; j < m; ++j) mean[j] += v[j];
  }
  for (double& x : mean) x /= k;
  for (const auto& b : per_fold) {
    const auto v = to_vector(b);
    for (std::size_t j = 0; j < m; ++j) sd[j] += (v[j] - mean[j]) * (v[j] - mean[j]);
  }
  for (double& x : sd) x = std::sqrt(x / k);
  return {binary_metrics_from_vector(mean), binary_metrics_from_vector(sd)};
}

}  // namespace detail

/// The threshold maximising F1 on out-of-fold predictions within a training part: `inner_splits`
/// stratified folds of (X_train, y_train) seeded by `seed` (its low 32 bits), a model fitted on each inner training part,
/// the pooled inner out-of-fold probabilities scored by best_f1_threshold. Only X_train and y_train are
/// seen, which is what makes the tuned threshold honest.
/// Throws parameter_error when inner_splits exceeds the smallest class of y_train, and whatever fit throws.
/// With `groups_train` (one group per training row; empty: none) the inner folds are
/// stratified_group_kfold(y_train, groups_train, inner_splits, true, seed): no group on both sides.
template <class Fit>
threshold_choice tune_threshold(const Fit& fit, const row_matrix& X_train, const std::vector<int>& y_train,
                                int inner_splits = 3, std::uint64_t seed = 0,
                                const std::vector<std::int64_t>& groups_train = {}) {
  const std::vector<fold> inner =
      groups_train.empty() ? stratified_kfold(y_train, inner_splits, true, seed & 0xffffffffULL)
                           : stratified_group_kfold(y_train, groups_train, inner_splits, true, seed & 0xffffffffULL);
  std::vector<double> oof(y_train.size(), 0.0);
  for (const fold& f : inner) {
    auto model = fit(detail::cv_rows(X_train, f.train), detail::cv_take(y_train, f.train));
    const std::vector<double> p = detail::cv_predict_proba(model, detail::cv_rows(X_train, f.test));
    for (std::size_t j = 0; j < f.test.size(); ++j) oof[f.test[j]] = p[j];
  }
  return best_f1_threshold(y_train, oof);
}

/// Cross-validates the model made by `fit` over `folds` (normally stratified_kfold(y, ...)).
///
/// For each fold: a model is fitted on the training rows and predicts the test rows; separately, the
/// F1-maximising threshold is chosen from inner out-of-fold predictions on the training rows only (see
/// tune_threshold(fit, X[train], y[train], inner_splits, fold_report::inner_seed)). All
/// metrics are computed on the test rows at the tuned threshold and at default_threshold; their mean
/// and std over folds, and the out-of-fold probabilities, are returned.
///
/// The n_folds * (inner_splits + 1) fits are independent tasks run on n_jobs threads; each writes its
/// own result, so the output does not depend on n_jobs.
/// Requires: X.rows() == y.size(); y binary; each training part with both classes and at least
/// inner_splits members of each; the test parts disjoint within each of params.n_repeats repetitions.
/// Throws data_error / parameter_error naming the problem, and rethrows the first exception a fit or
/// predict threw.
template <class Fit>
cv_result cross_validate(const Fit& fit, const row_matrix& X, const std::vector<int>& y,
                         const std::vector<fold>& folds, const cv_params& params = {}) {
  params.validate();
  detail::metrics_check_labels("cross_validate", "y", y);
  const auto n = static_cast<std::size_t>(X.rows());
  if (y.size() != n) {
    throw data_error("cross_validate: X has " + std::to_string(n) + " rows but y has " + std::to_string(y.size()) +
                     " labels");
  }
  const auto n_repeats = static_cast<std::size_t>(params.n_repeats);
  detail::cv_check_folds(folds, n, n_repeats);
  const std::size_t per_repeat = folds.size() / n_repeats;
  const std::size_t n_folds = folds.size();
  const auto inner_splits = static_cast<std::size_t>(params.inner_splits);
  const bool grouped = !params.groups.empty();
  if (grouped && params.groups.size() != n)
    throw parameter_error("groups", std::to_string(params.groups.size()) + " values",
                          "one group per sample (" + std::to_string(n) + ") or none");

  // Inner folds first (cheap, and their errors are about the data, so report them before any fit).
  std::vector<std::vector<int>> y_train(n_folds);
  std::vector<std::vector<fold>> inner(n_folds);
  for (std::size_t f = 0; f < n_folds; ++f) {
    y_train[f] = detail::cv_take(y, folds[f].train);
    const auto pos = static_cast<std::size_t>(std::count(y_train[f].begin(), y_train[f].end(), 1));
    const std::size_t smallest = std::min(pos, y_train[f].size() - pos);
    if (smallest == 0) {
      throw data_error("cross_validate: the training part of fold " + std::to_string(f) + " has only class " +
                       std::string(pos == 0 ? "0" : "1") + "; use stratified folds");
    }
    if (inner_splits > 0) {
      if (smallest < inner_splits) {
        throw parameter_error("inner_splits", std::to_string(inner_splits),
                              "0 or 2 to " + std::to_string(std::max<std::size_t>(smallest, 2)) +
                                  ": the training part of fold " + std::to_string(f) + " has only " +
                                  std::to_string(smallest) + " samples of its smaller class");
      }
      if (grouped) {
        std::vector<std::int64_t> g(folds[f].train.size());
        for (std::size_t i = 0; i < g.size(); ++i) g[i] = params.groups[folds[f].train[i]];
        inner[f] = stratified_group_kfold(y_train[f], g, params.inner_splits, true, detail::cv_inner_seed(params.seed, f));
      } else {
        inner[f] = stratified_kfold(y_train[f], params.inner_splits, true, detail::cv_inner_seed(params.seed, f));
      }
    }
  }

  // Task t = f * (inner_splits + 1) + j: j < inner_splits is inner fold j of fold f, j == inner_splits
  // is fold f itself. Each task stores the probabilities of the rows it predicts.
  const std::size_t per_fold = inner_splits + 1;
  std::vector<std::vector<double>> task_proba(n_folds * per_fold);
  detail::parallel_for(n_folds * per_fold, detail::resolve_n_jobs(params.n_jobs), [&](std::size_t t, std::size_t) {
    const std::size_t f = t / per_fold;
    const std::size_t j = t % per_fold;
    try {
      detail::cv_run_task(fit, X, folds[f], y_train[f], j == inner_splits ? nullptr : &inner[f][j], task_proba[t]);
    } catch (const data_error& e) {
      // Say which fit failed: the model can only number rows within the subset it was given.
      throw data_error("cross_validate: fold " + std::to_string(f) +
                       (j == inner_splits ? std::string() : ", inner fold " + std::to_string(j)) +
                       " (rows numbered within that fit's rows): " + e.what());
    }
  });

  cv_result result;
  result.default_threshold = params.default_threshold;
  result.n_repeats = params.n_repeats;
  result.oof_proba.assign(n * n_repeats, std::numeric_limits<double>::quiet_NaN());
  result.oof_fold.assign(n * n_repeats, -1);
  result.oof_pred.assign(n * n_repeats, -1);
  std::vector<binary_metrics> tuned(n_folds);
  std::vector<binary_metrics> at_default(n_folds);
  for (std::size_t f = 0; f < n_folds; ++f) {
    fold_report rep;
    rep.n_train = folds[f].train.size();
    rep.n_test = folds[f].test.size();
    rep.threshold = params.default_threshold;
    rep.inner_seed = detail::cv_inner_seed(params.seed, f);
    if (inner_splits > 0) {
      std::vector<double> inner_oof(y_train[f].size(), 0.0);
      for (std::size_t j = 0; j < inner_splits; ++j) {
        const auto& p = task_proba[f * per_fold + j];
        const auto& test = inner[f][j].test;
        for (std::size_t i = 0; i < test.size(); ++i) inner_oof[test[i]] = p[i];
      }
      const threshold_choice choice = best_f1_threshold(y_train[f], inner_oof);
      rep.threshold = choice.threshold;
      rep.inner_f1 = choice.f1;
    }
    const std::vector<double>& proba = task_proba[f * per_fold + inner_splits];
    const std::vector<int> y_test = detail::cv_take(y, folds[f].test);
    rep.tuned = evaluate_binary(y_test, proba, rep.threshold, &rep.tuned_confusion);
    rep.at_default = evaluate_binary(y_test, proba, params.default_threshold, &rep.default_confusion);
    for (std::size_t i = 0; i < folds[f].test.size(); ++i) {
      const std::size_t s = (f / per_repeat) * n + folds[f].test[i];
      result.oof_proba[s] = proba[i];
      result.oof_fold[s] = static_cast<int>(f);
      result.oof_pred[s] = proba[i] >= rep.threshold ? 1 : 0;
    }
    tuned[f] = rep.tuned;
    at_default[f] = rep.at_default;
    result.folds.push_back(rep);
  }
  result.tuned = detail::cv_summarise(tuned);
  result.at_default = detail::cv_summarise(at_default);
  double sum = 0.0;
  for (const auto& r : result.folds) sum += r.threshold;
  result.threshold_mean = sum / static_cast<double>(n_folds);
  double sq = 0.0;
  for (const auto& r : result.folds) sq += (r.threshold - result.threshold_mean) * (r.threshold - result.threshold_mean);
  result.threshold_std = std::sqrt(sq / static_cast<double>(n_folds));
  return result;
}

}  // namespace churn
