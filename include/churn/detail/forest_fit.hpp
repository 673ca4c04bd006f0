#pragma once
// How a forest is grown (fit_forest in forest_fit.hpp, fit_forest_trees and combine_forests in
// forest_ranges.hpp): checking and weighting the training data, drawing bootstrap samples, growing a
// range of trees, joining ranges into one forest, and the out-of-bag estimates.
//
// Determinism: tree t is grown from its own generator seeded with derive_seed(random_state, t), and
// every sum over trees runs in tree order, so the model and all its outputs are bit-identical whatever
// the number of threads.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include <churn/detail/forest_data.hpp>
#include <churn/detail/forest_tree.hpp>
#include <churn/detail/parallel.hpp>
#include <churn/detail/rng.hpp>
#include <churn/error.hpp>
#include <churn/forest.hpp>
#include <churn/forest_params.hpp>
#include <churn/tree.hpp>

namespace churn::detail {

// Per-thread buffers for growing trees.
struct forest_worker {
  tree_scratch scratch;
  std::vector<std::uint32_t> counts;
  std::vector<tree_sample> samples;
};

// Per-class weights from (possibly bootstrap-repeated) class counts, as scikit-learn's "balanced".
inline std::array<double, 2> balanced_weights(double n0, double n1) {
  const double k = (n0 > 0 ? 1.0 : 0.0) + (n1 > 0 ? 1.0 : 0.0);
  const double n = n0 + n1;
  return {{n0 > 0 ? n / (k * n0) : 0.0, n1 > 0 ? n / (k * n1) : 0.0}};
}

// Rows each tree draws (bootstrap only). Throws parameter_error when max_samples exceeds the rows.
inline std::size_t bootstrap_draws(const forest_params& params, std::size_t n) {
  if (params.max_samples) {
    if (params.max_samples > n)
      throw parameter_error("max_samples", std::to_string(params.max_samples),
                            "at most the number of rows, " + std::to_string(n));
    return params.max_samples;
  }
  if (params.max_samples_fraction > 0)
    return std::max<std::size_t>(
        1, static_cast<std::size_t>(std::round(params.max_samples_fraction * static_cast<double>(n))));
  return n;
}

// How often a tree's sample holds each of the n rows (all 1 without bootstrap). These are the first
// draws of the tree's generator: growing a tree and recomputing its out-of-bag rows (fill_oob) both
// call this, so the in-bag rows are a function of (random_state, tree index) alone.
inline void draw_bootstrap(bool bootstrap, std::size_t n, std::size_t draws, rng& g,
                           std::vector<std::uint32_t>& counts) {
  counts.assign(n, bootstrap ? 0u : 1u);
  if (bootstrap)
    for (std::size_t k = 0; k < draws; ++k) ++counts[static_cast<std::size_t>(g.below(n))];
}

// y as 0/1 bytes; throws data_error naming the first row whose label is neither.
inline std::vector<std::uint8_t> checked_labels(const int* y, std::size_t n) {
  std::vector<std::uint8_t> labels(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (y[i] != 0 && y[i] != 1)
      throw data_error("y[" + std::to_string(i) + "] = " + std::to_string(y[i]) + "; labels must be 0 or 1");
    labels[i] = static_cast<std::uint8_t>(y[i]);
  }
  return labels;
}

// The checked, weighted and binned training data that every tree of one forest is grown from.
struct forest_training {
  std::vector<std::uint8_t> labels;
  std::vector<double> base_weight;  // sample weight x class weight
  bool per_tree_balance = false;    // balanced_subsample with bootstrap: class weights per tree sample
  int threads = 1;
  binned_features data;
  std::size_t mtry = 0;
  std::size_t draws = 0;
};

// The checks and the preparation of fit_forest (see there for what throws what).
inline forest_training prepare_training(const forest_params& params, const matrix_view& X, const int* y,
                                        const double* sample_weight, std::size_t n_feature_names) {
  params.validate();
  const std::size_t n = X.rows;
  const std::size_t p = X.cols;
  if (n == 0) throw data_error("X has no rows; a forest needs at least one sample");
  if (p == 0) throw data_error("X has no columns; a forest needs at least one feature");
  if (n >= std::numeric_limits<std::uint32_t>::max() / 2)
    throw data_error("X has too many rows (" + std::to_string(n) + ")");
  if (p > tree_node::max_features) throw data_error("X has too many columns (" + std::to_string(p) + ")");
  if (n_feature_names != 0 && n_feature_names != p)
    throw data_error("feature_names has " + std::to_string(n_feature_names) + " names for " + std::to_string(p) +
                     " columns");
  forest_training tr;
  tr.labels = checked_labels(y, n);
  double count[2] = {0, 0};
  for (std::size_t i = 0; i < n; ++i) count[tr.labels[i]] += 1;
  tr.base_weight.assign(n, 1.0);
  if (sample_weight) {
    double total = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double w = sample_weight[i];
      if (!(w >= 0) || std::isinf(w))
        throw data_error("sample_weight[" + std::to_string(i) + "] = " + std::to_string(w) +
                         "; weights must be finite and >= 0");
      tr.base_weight[i] = w;
      total += w;
    }
    if (!(total > 0)) throw data_error("sample weights are all zero; at least one sample needs a positive weight");
  }
  std::array<double, 2> cw{{1.0, 1.0}};
  if (params.class_weight == class_weight_mode::given) cw = params.class_weights;
  if (params.class_weight == class_weight_mode::balanced ||
      (params.class_weight == class_weight_mode::balanced_subsample && !params.bootstrap))
    cw = balanced_weights(count[0], count[1]);
  tr.per_tree_balance = params.class_weight == class_weight_mode::balanced_subsample && params.bootstrap;
  for (std::size_t i = 0; i < n; ++i) tr.base_weight[i] *= cw[tr.labels[i]];

  tr.threads = resolve_n_jobs(params.n_jobs);
  tr.data = bin_features(X, tr.threads);
  tr.mtry = params.tree.max_features.resolve(p);
  tr.draws = bootstrap_draws(params, n);
  return tr;
}

// Trees [first, first + count) of a forest as grown, before they join the rest: the model's contents
// and each tree's MDI normalised to sum 1 (count x n_features, row-major; all 0 for a tree that adds
// nothing), which join_grown_trees adds up in tree order.
struct grown_trees {
  forest_contents contents;
  std::vector<double> tree_importances;
};

// Grows trees [first, first + count) of the forest, tree t from its own generator seeded with
// derive_seed(random_state, t), and keeps each tree's normalised importance for the forest average.
inline grown_trees grow_tree_range(const forest_params& params, const forest_training& tr,
                                   std::vector<std::string> feature_names, std::size_t first, std::size_t count) {
  const std::size_t n = tr.labels.size();
  const std::size_t p = tr.data.n_features;
  const auto& labels = tr.labels;
  const auto& base_weight = tr.base_weight;
  std::vector<grown_tree> trees(count);
  std::vector<forest_worker> workers(static_cast<std::size_t>(tr.threads));
  parallel_for(count, tr.threads, [&](std::size_t k, std::size_t wi) {
    auto& wk = workers[wi];
    rng g(derive_seed(params.random_state, first + k));
    draw_bootstrap(params.bootstrap, n, tr.draws, g, wk.counts);
    std::array<double, 2> tw{{1.0, 1.0}};
    if (tr.per_tree_balance) {
      double c0 = 0, c1 = 0;
      for (std::size_t i = 0; i < n; ++i) (labels[i] ? c1 : c0) += wk.counts[i];
      tw = balanced_weights(c0, c1);
    }
    // Branch-free: about a third of the rows are not drawn, at random, so a branch would mispredict.
    wk.samples.resize(n);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double w = wk.counts[i] * base_weight[i] * tw[labels[i]];
      tree_sample& s = wk.samples[kept];
      s.w = w;
      s.row = static_cast<std::uint32_t>(i);
      s.y = labels[i];
      kept += w > 0;
    }
    wk.samples.resize(kept);
    if (wk.samples.empty()) {
      // Every drawn sample has zero weight: the tree can only say what the whole data says.
      double w = 0, wp = 0;
      for (std::size_t i = 0; i < n; ++i) {
        w += base_weight[i];
        wp += base_weight[i] * labels[i];
      }
      trees[k].nodes = {tree_node::leaf(w > 0 ? static_cast<float>(wp / w) : 0.0f)};
      trees[k].importance.assign(p, 0.0);
      return;
    }
    tree_grower grower(params.tree, tr.data, tr.mtry, wk.scratch);
    trees[k] = grower.grow(wk.samples, g);
  });

  grown_trees out;
  forest_contents& parts = out.contents;
  parts.n_features = p;
  parts.feature_names = std::move(feature_names);
  parts.params = params;
  parts.tree_offsets.reserve(count + 1);
  parts.tree_offsets.push_back(0);
  std::size_t total_nodes = 0;
  for (const auto& t : trees) total_nodes += t.nodes.size();
  if (total_nodes >= std::numeric_limits<std::uint32_t>::max())
    throw data_error("the forest has too many nodes (" + std::to_string(total_nodes) + "); use fewer or smaller trees");
  parts.nodes.reserve(total_nodes);
  parts.cover.reserve(total_nodes);
  // Mean decrease in impurity, normalised per tree (here) and then over the forest (join_tree_ranges),
  // as scikit-learn does. A tree that adds nothing keeps zeros: adding +0.0 leaves every sum as it is.
  out.tree_importances.assign(count * p, 0.0);
  for (std::size_t k = 0; k < count; ++k) {
    auto& t = trees[k];
    parts.nodes.insert(parts.nodes.end(), t.nodes.begin(), t.nodes.end());
    parts.cover.insert(parts.cover.end(), t.cover.begin(), t.cover.end());
    parts.tree_offsets.push_back(static_cast<std::uint32_t>(parts.nodes.size()));
    if (t.nodes.size() > 1 && t.root_weight > 0) {
      double s = 0;
      for (auto& v : t.importance) s += (v /= t.root_weight);
      if (s > 0)
        for (std::size_t f = 0; f < p; ++f) out.tree_importances[k * p + f] = t.importance[f] / s;
    }
    std::vector<tree_node>().swap(t.nodes);
    std::vector<double>().swap(t.cover);
  }
  return out;
}

// The out-of-bag probabilities and score of a forest grown on (X, labels): each row's mean over the
// trees whose bootstrap sample left it out, the trees' samples redrawn from their seeds.
inline void fill_oob(forest_contents& parts, const matrix_view& X, const std::vector<std::uint8_t>& labels,
                     int threads) {
  const forest_params& params = parts.params;
  const std::size_t n = X.rows;
  const std::size_t p = X.cols;
  const std::size_t T = parts.tree_offsets.size() - 1;
  const std::size_t draws = bootstrap_draws(params, n);
  const std::size_t words = (n + 63) / 64;
  std::vector<std::uint64_t> inbag(T * words, 0);
  std::vector<std::vector<std::uint32_t>> counts(static_cast<std::size_t>(threads));
  parallel_for(T, threads, [&](std::size_t t, std::size_t wi) {
    rng g(derive_seed(params.random_state, t));
    draw_bootstrap(params.bootstrap, n, draws, g, counts[wi]);
    for (std::size_t i = 0; i < n; ++i)
      if (counts[wi][i]) inbag[t * words + i / 64] |= std::uint64_t{1} << (i % 64);
  });
  std::vector<std::vector<std::uint32_t>>().swap(counts);
  parts.oob_probability.assign(n, std::numeric_limits<double>::quiet_NaN());
  std::vector<std::uint8_t> correct(n, 0);
  const auto& nodes = parts.nodes;
  const auto& off = parts.tree_offsets;
  parallel_for_blocks(n, 256, threads, [&](std::size_t begin, std::size_t end, std::size_t) {
    std::vector<float> x(p);
    for (std::size_t i = begin; i < end; ++i) {
      for (std::size_t f = 0; f < p; ++f) x[f] = checked_float(X(i, f), i, f);
      double sum = 0;
      std::size_t k = 0;
      for (std::size_t t = 0; t < T; ++t) {
        if (inbag[t * words + i / 64] >> (i % 64) & 1) continue;
        sum += find_leaf(nodes.data() + off[t], x.data())->value;
        ++k;
      }
      if (k) parts.oob_probability[i] = sum / static_cast<double>(k);
      // Rows never out of bag count as predicted class 0, as in scikit-learn.
      const int pred = k && parts.oob_probability[i] > 0.5 ? 1 : 0;
      correct[i] = pred == labels[i];
    }
  });
  parts.oob_score =
      static_cast<double>(std::accumulate(correct.begin(), correct.end(), std::size_t{0})) / static_cast<double>(n);
}

// Joins consecutive ranges of one forest's trees, in tree order and together covering the forest
// (check_tree_ranges checks that for ranges grown apart), into the forest's contents: the nodes in tree
// order, and the forest's importances summed over the trees in tree order, as one fit_forest run sums
// them. Empties the ranges.
inline forest_contents join_grown_trees(std::vector<grown_trees>& parts) {
  const std::size_t p = parts.front().contents.n_features;
  const std::size_t T = parts.front().contents.params.n_estimators;
  std::size_t total_nodes = 0;
  for (const auto& part : parts) total_nodes += part.contents.nodes.size();
  if (total_nodes >= std::numeric_limits<std::uint32_t>::max())
    throw data_error("the forest has too many nodes (" + std::to_string(total_nodes) + "); use fewer or smaller trees");
  std::vector<double> importance(p, 0.0);
  forest_contents out;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    grown_trees& part = parts[k];
    const std::size_t count = part.contents.tree_offsets.size() - 1;
    for (std::size_t t = 0; t < count; ++t)
      for (std::size_t f = 0; f < p; ++f) importance[f] += part.tree_importances[t * p + f];
    std::vector<double>().swap(part.tree_importances);
    if (k == 0) {
      out = std::move(part.contents);  // reuses the first part's nodes (all of them for fit_forest)
      out.nodes.reserve(total_nodes);
      if (!out.cover.empty()) out.cover.reserve(total_nodes);
      out.tree_offsets.reserve(T + 1);
      continue;
    }
    const forest_contents q = std::move(part.contents);
    const auto base = static_cast<std::uint32_t>(out.nodes.size());
    out.nodes.insert(out.nodes.end(), q.nodes.begin(), q.nodes.end());
    // Cover is kept only when every range has it (ranges read from version 1 files have none).
    if (q.cover.empty())
      std::vector<double>().swap(out.cover);
    else if (!out.cover.empty())
      out.cover.insert(out.cover.end(), q.cover.begin(), q.cover.end());
    for (std::size_t t = 1; t < q.tree_offsets.size(); ++t) out.tree_offsets.push_back(base + q.tree_offsets[t]);
  }
  const double isum = std::accumulate(importance.begin(), importance.end(), 0.0);
  if (isum > 0)
    for (auto& v : importance) v /= isum;
  out.feature_importances = std::move(importance);
  out.oob_score = std::numeric_limits<double>::quiet_NaN();
  out.oob_probability.clear();
  return out;
}

}  // namespace churn::detail
