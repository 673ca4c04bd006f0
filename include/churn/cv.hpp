#pragma once
// Cross-validation with an honestly tuned threshold. The folds come from the splitters in split.hpp
// (included here), which reproduce scikit-learn's index for index.
//
// cross_validate is generic over the model: it takes a fit function
//     fit(const row_matrix& X_train, const std::vector<int>& y_train) -> Model
// where Model has `predict_proba(const row_matrix&) const` or `predict_proba(const matrix_view&) const`
// (the forest's interface: churn::random_forest works as it is) returning the positive-class probability
// of each row as std::vector<double> (or any container with size() and operator[]; an Eigen vector works).
// For the forest:
//     auto fit = [&](const row_matrix& X, const std::vector<int>& y) { return fit_forest(fp, as_view(X), y); };
// The fit function is called concurrently from several threads when threads != 1, so it must not mutate
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
#include <churn/detail/parallel.hpp>
#include <churn/detail/rng.hpp>
#include <churn/error.hpp>
#include <churn/matrix_view.hpp>
#include <churn/metrics.hpp>
#include <churn/split.hpp>

namespace churn {

// The deprecated n_jobs member warns where a caller names it, not in the struct's own special members.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

/// Parameters of cross_validate.
struct cv_params {
  /// Stratified folds inside each training part whose out-of-fold predictions choose the F1-maximising
  /// threshold (the model is fitted inner_splits extra times per fold). 0 disables tuning: the threshold
  /// is then default_threshold.
  int inner_splits = 3;
  double default_threshold = 0.5;  ///< the fixed threshold also reported beside the tuned one
  std::uint64_t seed = 0;          ///< seeds the inner folds (fold f uses a seed derived from (seed, f))
  int threads = 1;                 ///< threads for the fits; 0: all cores
  /// Deprecated, 0.2.0 removes it: the old name of `threads`, scikit-learn style (-1: all cores, -2 all
  /// but one). 0 (the default) means not set; any other value wins over `threads`.
  [[deprecated("renamed churn::cv_params::threads (0: all cores)")]] int n_jobs = 0;
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
    if (threads < 0) throw parameter_error("threads", std::to_string(threads), "0 (all cores) or a number of threads");
    detail::check_thread_count("threads", threads);
    if (n_jobs != 0) detail::check_thread_count("n_jobs", n_jobs);
    if (n_repeats < 1) throw parameter_error("n_repeats", std::to_string(n_repeats), "an integer >= 1");
  }

  /// The number of threads the fits run on: `threads` (0: all cores), or the deprecated `n_jobs` when
  /// it is set. Throws parameter_error for more than detail::max_threads.
  int thread_count() const {
    if (n_jobs != 0) return detail::resolve_n_jobs(n_jobs);
    detail::check_thread_count("threads", threads);
    return threads > 0 ? threads : detail::hardware_threads();
  }
};

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/// What one outer fold produced, evaluated on its test part only.
struct fold_report {
  std::size_t n_train = 0;
  std::size_t n_test = 0;
  double threshold = 0.5;  ///< chosen from the training part only (inner out-of-fold predictions)
  /// seed of the inner folds: stratified_kfold(y[train], inner_splits, true, inner_seed), or
  /// stratified_group_kfold(y[train], groups[train], inner_splits, true, inner_seed) with groups
  std::uint64_t inner_seed = 0;
  double inner_f1 = std::numeric_limits<double>::quiet_NaN();  ///< F1 of that choice on the inner predictions
  binary_metrics tuned;                                        ///< test-fold metrics with predictions proba > threshold
  binary_metrics at_default;  ///< test-fold metrics with predictions proba > default_threshold
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
  std::vector<int> oof_pred;      ///< oof_proba > that fold's tuned threshold; -1 if none
};

/// JSON of one fold, with the keys of the Python dict (n_train, n_test, threshold, inner_seed, inner_f1,
/// tuned, at_default, tuned_confusion, default_confusion).
inline void to_json(nlohmann::json& j, const fold_report& f) {
  j = {{"n_train", f.n_train},
       {"n_test", f.n_test},
       {"threshold", f.threshold},
       {"inner_seed", f.inner_seed},
       {"inner_f1", f.inner_f1},
       {"tuned", f.tuned},
       {"at_default", f.at_default},
       {"tuned_confusion", f.tuned_confusion},
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
struct cv_predicts_row_matrix<
    Model, std::void_t<decltype(std::declval<const Model&>().predict_proba(std::declval<const row_matrix&>()))>>
    : std::true_type {};

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
    throw data_error("cross_validate: " + std::to_string(folds.size()) +
                     " folds cannot form n_repeats = " + std::to_string(n_repeats) + " repetitions of equal size");
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
          throw data_error(where + ": sample " + std::to_string(i) +
                           " appears twice (train and test must be disjoint)");
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

// The rows `rows` of X as a row-major matrix: the training or test part a fit function receives.
inline row_matrix cv_rows(const matrix_view& X, const std::vector<std::size_t>& rows) {
  row_matrix out(static_cast<Eigen::Index>(rows.size()), static_cast<Eigen::Index>(X.cols));
  for (std::size_t r = 0; r < rows.size(); ++r) X.copy_row(rows[r], out.data() + r * X.cols);
  return out;
}

inline std::vector<int> cv_take(const std::vector<int>& y, const std::vector<std::size_t>& idx) {
  std::vector<int> out(idx.size());
  for (std::size_t i = 0; i < idx.size(); ++i) out[i] = y[idx[i]];
  return out;
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

/// The second half of tune_threshold, for callers that fit the inner folds themselves (cross_validate
/// fits them in parallel with every other fit): the threshold maximising F1 on the pooled inner
/// out-of-fold probabilities, inner_proba[j][i] being the probability that the model fitted on
/// inner[j].train gave sample inner[j].test[i] of the training part.
/// Throws data_error when the sizes do not match.
inline threshold_choice tune_threshold(const std::vector<int>& y_train, const std::vector<fold>& inner,
                                       const std::vector<std::vector<double>>& inner_proba) {
  if (inner_proba.size() != inner.size())
    throw data_error("tune_threshold: " + std::to_string(inner_proba.size()) + " inner predictions for " +
                     std::to_string(inner.size()) + " inner folds");
  std::vector<double> oof(y_train.size(), 0.0);
  for (std::size_t j = 0; j < inner.size(); ++j) {
    const auto& test = inner[j].test;
    const auto& p = inner_proba[j];
    if (p.size() != test.size())
      throw data_error("tune_threshold: inner fold " + std::to_string(j) + " has " + std::to_string(test.size()) +
                       " test samples but " + std::to_string(p.size()) + " predictions");
    for (std::size_t i = 0; i < test.size(); ++i) oof[test[i]] = p[i];
  }
  return best_f1_threshold(y_train, oof);
}

/// The threshold maximising F1 on out-of-fold predictions within a training part: `inner_splits`
/// stratified folds of (X_train, y_train) seeded by `seed` (its low 32 bits), a model fitted on each inner training part,
/// the pooled inner out-of-fold probabilities scored by best_f1_threshold. Only X_train and y_train are
/// seen, which is what makes the tuned threshold honest.
/// Throws parameter_error when inner_splits exceeds the smallest class of y_train, and whatever fit throws.
/// With `groups_train` (one group per training row; empty: none) the inner folds are
/// stratified_group_kfold(y_train, groups_train, inner_splits, true, seed): no group on both sides.
template <class Fit>
threshold_choice tune_threshold(const Fit& fit, const matrix_view& X_train, const std::vector<int>& y_train,
                                int inner_splits = 3, std::uint64_t seed = 0,
                                const std::vector<std::int64_t>& groups_train = {}) {
  if (X_train.rows != y_train.size())
    throw data_error("tune_threshold: X_train has " + std::to_string(X_train.rows) + " rows but y_train has " +
                     std::to_string(y_train.size()) + " labels");
  const std::vector<fold> inner =
      groups_train.empty() ? stratified_kfold(y_train, inner_splits, true, seed & 0xffffffffULL)
                           : stratified_group_kfold(y_train, groups_train, inner_splits, true, seed & 0xffffffffULL);
  std::vector<std::vector<double>> inner_proba;
  inner_proba.reserve(inner.size());
  for (const fold& f : inner) {
    auto model = fit(detail::cv_rows(X_train, f.train), detail::cv_take(y_train, f.train));
    inner_proba.push_back(detail::cv_predict_proba(model, detail::cv_rows(X_train, f.test)));
  }
  return tune_threshold(y_train, inner, inner_proba);
}

/// tune_threshold on any Eigen matrix with its values in memory (viewed, not copied).
template <class Fit, class Derived>
threshold_choice tune_threshold(const Fit& fit, const Eigen::DenseBase<Derived>& X_train,
                                const std::vector<int>& y_train, int inner_splits = 3, std::uint64_t seed = 0) {
  return tune_threshold(fit, as_view(X_train), y_train, inner_splits, seed);
}

/// One fit of a cross-validation: a model trained on samples `train` predicts samples `test` (indices
/// into X and y). Outer fold `fold` itself when inner < 0, else inner fold `inner` of its training part
/// (whose out-of-fold predictions tune the fold's threshold).
struct cv_task {
  std::size_t fold = 0;
  int inner = -1;
  std::vector<std::size_t> train;
  std::vector<std::size_t> test;
};

/// The fits of a cross-validation as data (plan_cross_validate), so that any engine can run them -
/// threads here, tasks on a Dask or Spark cluster - and assemble_cross_validate turns their predictions
/// into the result. The tasks depend only on y, the folds, the groups and the seed.
struct cv_plan {
  cv_params params;
  std::size_t n = 0;                     ///< samples
  std::vector<int> y;                    ///< the labels of all samples
  std::vector<fold> folds;               ///< the outer folds
  std::vector<std::vector<fold>> inner;  ///< per outer fold, the inner folds (indices into its training part)
  /// Task t = f * (inner_splits + 1) + j: inner fold j of fold f for j < inner_splits, fold f itself for
  /// j == inner_splits.
  std::vector<cv_task> tasks;
};

/// The fits cross_validate makes for labels y over `folds`, with their inner folds.
/// Throws data_error / parameter_error naming the problem (labels, folds, a training part with one
/// class or too few samples of one for inner_splits, groups of the wrong size).
inline cv_plan plan_cross_validate(const std::vector<int>& y, const std::vector<fold>& folds,
                                   const cv_params& params = {}) {
  params.validate();
  detail::metrics_check_labels("cross_validate", "y", y);
  cv_plan plan;
  plan.params = params;
  plan.n = y.size();
  plan.y = y;
  plan.folds = folds;
  const std::size_t n = y.size();
  const auto n_repeats = static_cast<std::size_t>(params.n_repeats);
  detail::cv_check_folds(folds, n, n_repeats);
  const std::size_t n_folds = folds.size();
  const auto inner_splits = static_cast<std::size_t>(params.inner_splits);
  const bool grouped = !params.groups.empty();
  if (grouped && params.groups.size() != n)
    throw parameter_error("groups", std::to_string(params.groups.size()) + " values",
                          "one group per sample (" + std::to_string(n) + ") or none");

  // Inner folds first (cheap, and their errors are about the data, so report them before any fit).
  plan.inner.resize(n_folds);
  for (std::size_t f = 0; f < n_folds; ++f) {
    const std::vector<int> y_train = detail::cv_take(y, folds[f].train);
    const auto pos = static_cast<std::size_t>(std::count(y_train.begin(), y_train.end(), 1));
    const std::size_t smallest = std::min(pos, y_train.size() - pos);
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
        plan.inner[f] =
            stratified_group_kfold(y_train, g, params.inner_splits, true, detail::cv_inner_seed(params.seed, f));
      } else {
        plan.inner[f] = stratified_kfold(y_train, params.inner_splits, true, detail::cv_inner_seed(params.seed, f));
      }
    }
    for (std::size_t j = 0; j < inner_splits; ++j) {
      const fold& in = plan.inner[f][j];
      cv_task task;
      task.fold = f;
      task.inner = static_cast<int>(j);
      task.train.resize(in.train.size());
      task.test.resize(in.test.size());
      for (std::size_t i = 0; i < in.train.size(); ++i) task.train[i] = folds[f].train[in.train[i]];
      for (std::size_t i = 0; i < in.test.size(); ++i) task.test[i] = folds[f].train[in.test[i]];
      plan.tasks.push_back(std::move(task));
    }
    plan.tasks.push_back(cv_task{f, -1, folds[f].train, folds[f].test});
  }
  return plan;
}

/// The result of a cross-validation from the predictions of its plan's fits: task_proba[t] holds the
/// positive-class probabilities the model of plan.tasks[t] gave its test samples, in their order. Each
/// fold's threshold is tuned on its inner predictions (tune_threshold), its metrics computed on its
/// test part at that threshold and at default_threshold.
/// Throws data_error when the number or the sizes of the predictions do not match the plan.
inline cv_result assemble_cross_validate(const cv_plan& plan, std::vector<std::vector<double>> task_proba) {
  if (task_proba.size() != plan.tasks.size())
    throw data_error("cross_validate: " + std::to_string(task_proba.size()) + " predictions for " +
                     std::to_string(plan.tasks.size()) + " fits");
  for (std::size_t t = 0; t < plan.tasks.size(); ++t) {
    if (task_proba[t].size() != plan.tasks[t].test.size())
      throw data_error("cross_validate: fit " + std::to_string(t) + " predicted " +
                       std::to_string(task_proba[t].size()) + " values for " +
                       std::to_string(plan.tasks[t].test.size()) + " rows");
  }
  const cv_params& params = plan.params;
  const std::size_t n = plan.n;
  const auto n_repeats = static_cast<std::size_t>(params.n_repeats);
  const std::vector<fold>& folds = plan.folds;
  const std::size_t n_folds = folds.size();
  const std::size_t per_repeat = n_folds / n_repeats;
  const auto inner_splits = static_cast<std::size_t>(params.inner_splits);
  const std::size_t per_fold = inner_splits + 1;

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
      const auto first = task_proba.begin() + static_cast<std::ptrdiff_t>(f * per_fold);
      const std::vector<std::vector<double>> inner_proba(
          std::make_move_iterator(first), std::make_move_iterator(first + static_cast<std::ptrdiff_t>(inner_splits)));
      const threshold_choice choice =
          tune_threshold(detail::cv_take(plan.y, folds[f].train), plan.inner[f], inner_proba);
      rep.threshold = choice.threshold;
      rep.inner_f1 = choice.f1;
    }
    const std::vector<double>& proba = task_proba[f * per_fold + inner_splits];
    const std::vector<int> y_test = detail::cv_take(plan.y, folds[f].test);
    rep.tuned = evaluate_binary(y_test, proba, rep.threshold, &rep.tuned_confusion);
    rep.at_default = evaluate_binary(y_test, proba, params.default_threshold, &rep.default_confusion);
    for (std::size_t i = 0; i < folds[f].test.size(); ++i) {
      const std::size_t s = (f / per_repeat) * n + folds[f].test[i];
      result.oof_proba[s] = proba[i];
      result.oof_fold[s] = static_cast<int>(f);
      result.oof_pred[s] = proba[i] > rep.threshold ? 1 : 0;
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
  for (const auto& r : result.folds)
    sq += (r.threshold - result.threshold_mean) * (r.threshold - result.threshold_mean);
  result.threshold_std = std::sqrt(sq / static_cast<double>(n_folds));
  return result;
}

/// Cross-validates the model made by `fit` over `folds` (normally stratified_kfold(y, ...)).
///
/// For each fold: a model is fitted on the training rows and predicts the test rows; separately, the
/// F1-maximising threshold is chosen from inner out-of-fold predictions on the training rows only (see
/// tune_threshold(fit, X[train], y[train], inner_splits, fold_report::inner_seed)). All
/// metrics are computed on the test rows at the tuned threshold and at default_threshold; their mean
/// and std over folds, and the out-of-fold probabilities, are returned.
///
/// The fits are those of plan_cross_validate(y, folds, params), run as independent tasks on
/// params.thread_count() threads; each writes its own result, so the output does not depend on the thread count. The result is
/// assemble_cross_validate of their predictions.
/// Requires: X.rows == y.size(); y binary; each training part with both classes and at least
/// inner_splits members of each; the test parts disjoint within each of params.n_repeats repetitions.
/// Throws data_error / parameter_error naming the problem, and rethrows the first exception a fit or
/// predict threw.
template <class Fit>
cv_result cross_validate(const Fit& fit, const matrix_view& X, const std::vector<int>& y,
                         const std::vector<fold>& folds, const cv_params& params = {}) {
  params.validate();
  detail::metrics_check_labels("cross_validate", "y", y);
  if (y.size() != X.rows) {
    throw data_error("cross_validate: X has " + std::to_string(X.rows) + " rows but y has " + std::to_string(y.size()) +
                     " labels");
  }
  const cv_plan plan = plan_cross_validate(y, folds, params);
  std::vector<std::vector<double>> task_proba(plan.tasks.size());
  detail::parallel_for(plan.tasks.size(), params.thread_count(), [&](std::size_t t, std::size_t) {
    const cv_task& task = plan.tasks[t];
    try {
      auto model = fit(detail::cv_rows(X, task.train), detail::cv_take(y, task.train));
      task_proba[t] = detail::cv_predict_proba(model, detail::cv_rows(X, task.test));
    } catch (const data_error& e) {
      // Say which fit failed: the model can only number rows within the subset it was given.
      throw data_error("cross_validate: fold " + std::to_string(task.fold) +
                       (task.inner < 0 ? std::string() : ", inner fold " + std::to_string(task.inner)) +
                       " (rows numbered within that fit's rows): " + e.what());
    }
  });
  return assemble_cross_validate(plan, std::move(task_proba));
}

/// cross_validate on any Eigen matrix with its values in memory (viewed, not copied): the column-major
/// feature table as it is, a row_matrix, a block.
template <class Fit, class Derived>
cv_result cross_validate(const Fit& fit, const Eigen::DenseBase<Derived>& X, const std::vector<int>& y,
                         const std::vector<fold>& folds, const cv_params& params = {}) {
  return cross_validate(fit, as_view(X), y, folds, params);
}

}  // namespace churn
