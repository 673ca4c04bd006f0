#pragma once
// Splitters that cannot leak across users or across time, for snapshot tables (one row per user and
// cutoff): stratified group k-fold (scikit-learn's StratifiedGroupKFold, fold for fold) and the
// out-of-time split.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "../error.hpp"
#include "cv_random.hpp"

namespace churn {

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
  const auto horizon_ms = static_cast<std::int64_t>(std::llround(horizon_days * 86'400'000.0));
  fold f;
  for (std::size_t i = 0; i < cutoffs_ms.size(); ++i) {
    if (cutoffs_ms[i] >= split_ms) f.test.push_back(i);
    else if (cutoffs_ms[i] + horizon_ms <= split_ms) f.train.push_back(i);
  }
  if (f.train.empty() || f.test.empty())
    throw data_error(std::string("out_of_time_split: no rows to ") + (f.test.empty() ? "test on" : "train on") +
                     " (" + std::to_string(f.train.size()) + " rows with cutoff + horizon <= T, " +
                     std::to_string(f.test.size()) + " with cutoff >= T, T = " + std::to_string(split_ms) +
                     " ms); out-of-time validation needs cutoffs at least one horizon before T: use more "
                     "snapshots, a shorter horizon or a longer log");
  return f;
}

}  // namespace churn
