#pragma once
// Splitters: which samples train and which test. stratified_kfold, repeated_stratified_kfold and
// stratified_train_test_split reproduce scikit-learn's StratifiedKFold, RepeatedStratifiedKFold and
// train_test_split(stratify=y) index for index for the same integer seed (scikit-learn 1.9; tested on
// hundreds of random cases by tests/python/test_cv.py), so results can be compared fold for fold;
// stratified_group_kfold reproduces StratifiedGroupKFold (tests/python/test_snapshots.py), and
// out_of_time_split splits a snapshot table by time. Cross-validation over such folds is in cv.hpp.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <churn/dates.hpp>
#include <churn/detail/cv_random.hpp>
#include <churn/detail/metrics_check.hpp>
#include <churn/error.hpp>

namespace churn {

/// One split: the sample indices to train on and to test on, each ascending for k-fold.
struct fold {
  std::vector<std::size_t> train;
  std::vector<std::size_t> test;
};

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
                          "2 to " + std::to_string(counts[smallest]) + ": the smallest class, label " +
                              std::to_string(first_label[smallest]) + ", has " + std::to_string(counts[smallest]) +
                              " member" + (counts[smallest] == 1 ? "" : "s") + " and every test fold needs one");
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
    for (std::size_t f = 0; f < k_splits; ++f)
      folds_for_class.insert(folds_for_class.end(), alloc[f * n_classes + k], static_cast<int>(f));
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

// Splitters for snapshot tables (one row per user and cutoff) that cannot leak across users or across
// time: stratified group k-fold and the out-of-time split.

/// scikit-learn's StratifiedGroupKFold(n_splits, shuffle, random_state=seed).split(X, y, groups): no
/// group in two test folds, and each class's share spread over the folds as evenly as the groups
/// allow. Groups (sorted by value; with shuffle, in the order of numpy's legacy
/// RandomState(seed).shuffle) are taken by decreasing spread of their class counts, stably, and each goes
/// to the fold that minimises the mean over classes of the standard deviation over folds of
/// (class count in fold / class count), ties (np.isclose) to the fold with fewer samples, then the
/// first. Classes are the sorted distinct labels.
///
/// Requires: y and groups of one length, non-empty; 2 <= n_splits <= number of groups; every class
/// present in at least n_splits groups (so that every test fold can hold each class; scikit-learn only
/// warns and makes folds whose ROC AUC is undefined); seed < 2^32 (ignored without shuffle).
/// Ensures: each sample in exactly one test fold; one group's samples all in the same one; train and
/// test ascending. Throws parameter_error, data_error. Complexity O(n log n + groups * n_splits^2 *
/// classes).
inline std::vector<fold> stratified_group_kfold(const std::vector<int>& y, const std::vector<std::int64_t>& groups,
                                                int n_splits = 5, bool shuffle = true, std::uint64_t seed = 0) {
  if (y.empty()) throw data_error("stratified_group_kfold: y is empty (no rows to split)");
  if (groups.size() != y.size())
    throw parameter_error("groups", std::to_string(groups.size()) + " values",
                          "one group per row of y (" + std::to_string(y.size()) + ")");
  if (n_splits < 2) throw parameter_error("n_splits", std::to_string(n_splits), "an integer >= 2");
  if (seed > 0xffffffffULL) throw parameter_error("seed", std::to_string(seed), "0 to 4294967295");
  const std::size_t n = y.size(), k = static_cast<std::size_t>(n_splits);
  // np.unique: sorted values, inverse indices.
  auto encode = [n](auto values, std::vector<std::size_t>& inv) {
    std::vector<decltype(values[0] + 0)> sorted(values.begin(), values.end());
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    inv.resize(n);
    for (std::size_t i = 0; i < n; ++i)
      inv[i] = static_cast<std::size_t>(std::lower_bound(sorted.begin(), sorted.end(), values[i]) - sorted.begin());
    return sorted;
  };
  std::vector<std::size_t> y_inv, g_inv;
  const auto classes = encode(y, y_inv);
  const auto group_values = encode(groups, g_inv);
  const std::size_t n_classes = classes.size(), n_groups = group_values.size();
  if (k > n_groups)
    throw parameter_error("n_splits", std::to_string(n_splits),
                          "2 to the number of groups (" + std::to_string(n_groups) + ")");
  std::vector<double> y_cnt(n_classes, 0.0), per_group(n_groups * n_classes, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    y_cnt[y_inv[i]] += 1;
    per_group[g_inv[i] * n_classes + y_inv[i]] += 1;
  }
  for (std::size_t c = 0; c < n_classes; ++c) {
    std::size_t holding = 0;
    for (std::size_t g = 0; g < n_groups; ++g) holding += per_group[g * n_classes + c] > 0;
    if (holding < k)
      throw data_error("stratified_group_kfold: label " + std::to_string(classes[c]) + " occurs in only " +
                       std::to_string(holding) + " group" + (holding == 1 ? "" : "s") + " (e.g. users), fewer than " +
                       std::to_string(k) + " folds; every test fold needs one. Use fewer folds or more data");
  }
  // With shuffle, row r of the group table is group perm[r] (scikit-learn 1.9 shuffles a permutation).
  std::vector<std::size_t> perm(n_groups);
  for (std::size_t g = 0; g < n_groups; ++g) perm[g] = g;
  if (shuffle) {
    std::mt19937 gen(static_cast<std::uint32_t>(seed));
    detail::cv_legacy_shuffle(gen, perm);
  }
  // numpy's std of a short row: mean, then mean of squared deviations, sequentially.
  auto std_of = [](const double* v, std::size_t m, std::size_t stride) {
    double sum = 0;
    for (std::size_t i = 0; i < m; ++i) sum += v[i * stride];
    const double mean = sum / double(m);
    double sq = 0;
    for (std::size_t i = 0; i < m; ++i) sq += (v[i * stride] - mean) * (v[i * stride] - mean);
    return std::sqrt(sq / double(m));
  };
  std::vector<double> spread(n_groups);
  for (std::size_t r = 0; r < n_groups; ++r) spread[r] = -std_of(&per_group[perm[r] * n_classes], n_classes, 1);
  std::vector<std::size_t> order(n_groups);
  for (std::size_t r = 0; r < n_groups; ++r) order[r] = r;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return spread[a] < spread[b]; });

  std::vector<double> per_fold(k * n_classes, 0.0), scaled(k * n_classes);
  std::vector<std::size_t> fold_of_group(n_groups, 0);
  for (std::size_t r : order) {
    const double* counts = &per_group[perm[r] * n_classes];
    std::size_t best = 0;
    double min_eval = std::numeric_limits<double>::infinity(), min_samples = min_eval;
    for (std::size_t f = 0; f < k; ++f) {
      for (std::size_t c = 0; c < n_classes; ++c) per_fold[f * n_classes + c] += counts[c];
      for (std::size_t i = 0; i < k * n_classes; ++i) scaled[i] = per_fold[i] / y_cnt[i % n_classes];
      for (std::size_t c = 0; c < n_classes; ++c) per_fold[f * n_classes + c] -= counts[c];
      double eval = 0;
      for (std::size_t c = 0; c < n_classes; ++c) eval += std_of(&scaled[c], k, n_classes);
      eval /= double(n_classes);
      double samples = 0;
      for (std::size_t c = 0; c < n_classes; ++c) samples += per_fold[f * n_classes + c];
      const bool close = std::isfinite(min_eval) && std::abs(eval - min_eval) <= 1e-8 + 1e-5 * std::abs(min_eval);
      if (eval < min_eval || (close && samples < min_samples)) {
        min_eval = eval;
        min_samples = samples;
        best = f;
      }
    }
    for (std::size_t c = 0; c < n_classes; ++c) per_fold[best * n_classes + c] += counts[c];
    fold_of_group[perm[r]] = best;
  }
  std::vector<fold> out(k);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t f = fold_of_group[g_inv[i]];
    for (std::size_t j = 0; j < k; ++j) (j == f ? out[j].test : out[j].train).push_back(i);
  }
  return out;
}

/// Out-of-time split of a snapshot table: test on the rows whose cutoff is at or after `split_ms`
/// (T), train on the rows whose whole label window ends by T (cutoff + horizon <= T), so that no
/// training label has seen the test period. Rows in between (cutoff < T < cutoff + horizon) are in
/// neither part. Throws parameter_error for a horizon that is not positive, data_error when either
/// part is empty (naming T and the range of cutoffs).
inline fold out_of_time_split(const std::vector<std::int64_t>& cutoffs_ms, double horizon_days, std::int64_t split_ms) {
  if (!(std::isfinite(horizon_days) && horizon_days > 0))
    throw parameter_error("horizon_days", std::to_string(horizon_days), "a positive number of days");
  const auto horizon_ms = static_cast<std::int64_t>(std::llround(horizon_days * double(ms_per_day)));
  fold f;
  for (std::size_t i = 0; i < cutoffs_ms.size(); ++i) {
    if (cutoffs_ms[i] >= split_ms)
      f.test.push_back(i);
    else if (cutoffs_ms[i] + horizon_ms <= split_ms)
      f.train.push_back(i);
  }
  if (f.train.empty() || f.test.empty())
    throw data_error(std::string("out_of_time_split: no rows to ") + (f.test.empty() ? "test on" : "train on") + " (" +
                     std::to_string(f.train.size()) + " rows with cutoff + horizon <= T, " +
                     std::to_string(f.test.size()) + " with cutoff >= T, T = " + std::to_string(split_ms) +
                     " ms); out-of-time validation needs cutoffs at least one horizon before T: use more "
                     "snapshots, a shorter horizon or a longer log");
  return f;
}

}  // namespace churn
