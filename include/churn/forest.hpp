#pragma once
// The trained random forest (random_forest): immutable apart from its metadata and decision threshold,
// built by fit_forest (forest_fit.hpp) or loaded (model_io.hpp). scikit-learn's RandomForestClassifier
// is the reference for the meaning of every parameter (forest_params.hpp); docs/model-format.md
// describes the saved form. The prediction kernels are in detail/forest_predict.hpp.
//
// Determinism: every sum over trees runs in tree order, so all outputs are bit-identical whatever the
// number of threads.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <churn/detail/forest_check.hpp>
#include <churn/detail/forest_data.hpp>
#include <churn/detail/forest_predict.hpp>
#include <churn/detail/parallel.hpp>
#include <churn/error.hpp>
#include <churn/forest_params.hpp>
#include <churn/matrix_view.hpp>
#include <churn/tree.hpp>

namespace churn {

/// Decision-path contributions of one prediction (Saabas): bias + sum(values) == P(class 1).
struct contribution {
  double bias = 0;             ///< mean over trees of the root's P(class 1)
  std::vector<double> values;  ///< per feature
};

/// Everything a trained forest consists of; the unit that is saved and loaded (model_io.hpp).
struct forest_contents {
  std::size_t n_features = 0;
  std::vector<std::string> feature_names;                  ///< empty, or one per feature
  nlohmann::json classes = nlohmann::json::array({0, 1});  ///< the labels behind codes 0 and 1
  forest_params params;
  double threshold = 0.5;                   ///< predict() says class 1 when P(class 1) > threshold
  std::vector<tree_node> nodes;             ///< all trees, concatenated, each in pre-order
  std::vector<std::uint32_t> tree_offsets;  ///< tree t is nodes[tree_offsets[t], tree_offsets[t+1])
  /// Per node, beside `nodes`: the weighted count of the node's training samples (bootstrap counts x
  /// sample weights x class weights; shap's node_sample_weight). Empty for a model read from a format
  /// version 1 file, which did not keep it: such a model predicts but cannot give SHAP values.
  std::vector<double> cover;
  std::vector<double> feature_importances;                      ///< impurity-based (MDI), sums to 1 (or all 0)
  double oob_score = std::numeric_limits<double>::quiet_NaN();  ///< NaN when not computed
  std::vector<double> oob_probability;                 ///< per training row; NaN for rows never out of bag (not saved)
  nlohmann::json metadata = nlohmann::json::object();  ///< free-form, filled by applications
};

/// A trained random forest. Immutable apart from its metadata and decision threshold; every const
/// member function is safe to call from several threads at once.
class random_forest {
 public:
  random_forest() = default;

  /// Assembles a model from its contents, checking every tree.
  /// Throws model_format_error (with the JSON path of the bad element) for inconsistent contents.
  explicit random_forest(forest_contents contents) : p_(std::move(contents)) { check(); }

  std::size_t n_features() const noexcept { return p_.n_features; }
  std::size_t n_trees() const noexcept { return p_.tree_offsets.empty() ? 0 : p_.tree_offsets.size() - 1; }
  std::size_t n_nodes() const noexcept { return p_.nodes.size(); }
  std::size_t n_leaves() const noexcept {
    return static_cast<std::size_t>(
        std::count_if(p_.nodes.begin(), p_.nodes.end(), [](const tree_node& n) { return n.is_leaf(); }));
  }
  /// Bytes taken by the nodes (16 per node), their training cover (8 per node) and the tree offsets.
  std::size_t memory_bytes() const noexcept {
    return p_.nodes.size() * sizeof(tree_node) + p_.cover.size() * sizeof(double) + p_.tree_offsets.size() * 4;
  }
  const std::vector<std::string>& feature_names() const noexcept { return p_.feature_names; }
  const nlohmann::json& classes() const noexcept { return p_.classes; }
  const forest_params& params() const noexcept { return p_.params; }
  const std::vector<double>& feature_importances() const noexcept { return p_.feature_importances; }
  bool has_oob_score() const noexcept { return !std::isnan(p_.oob_score); }
  double oob_score() const noexcept { return p_.oob_score; }
  const std::vector<double>& oob_probability() const noexcept { return p_.oob_probability; }
  const forest_contents& contents() const noexcept { return p_; }
  [[deprecated("renamed contents()")]] const forest_contents& parts() const noexcept { return p_; }
  /// Gives up the contents, leaving an empty model (joining tree ranges reuses a range's node array).
  forest_contents release() && noexcept { return std::move(p_); }
  const tree_node* tree(std::size_t t) const noexcept { return p_.nodes.data() + p_.tree_offsets[t]; }
  std::size_t tree_size(std::size_t t) const noexcept { return p_.tree_offsets[t + 1] - p_.tree_offsets[t]; }
  /// Whether the nodes' training cover is known (false only for models read from version 1 files).
  bool has_cover() const noexcept { return !p_.cover.empty(); }
  /// The training cover of tree t's nodes, parallel to tree(t); null when !has_cover().
  const double* tree_cover(std::size_t t) const noexcept {
    return p_.cover.empty() ? nullptr : p_.cover.data() + p_.tree_offsets[t];
  }

  double threshold() const noexcept { return p_.threshold; }
  /// Throws parameter_error unless 0 <= t <= 1.
  void set_threshold(double t) {
    if (!(t >= 0 && t <= 1)) throw parameter_error("threshold", std::to_string(t), "[0, 1]");
    p_.threshold = t;
  }
  /// Free-form JSON saved with the model (feature descriptions, metrics, thresholds, ...).
  const nlohmann::json& metadata() const noexcept { return p_.metadata; }
  nlohmann::json& metadata() noexcept { return p_.metadata; }
  void set_feature_names(std::vector<std::string> names) {
    if (!names.empty() && names.size() != p_.n_features)
      throw data_error("feature_names has " + std::to_string(names.size()) + " names for " +
                       std::to_string(p_.n_features) + " features");
    p_.feature_names = std::move(names);
  }
  void set_classes(nlohmann::json classes) {
    if (!classes.is_array() || classes.size() != 2)
      throw data_error("classes must be an array of the two class labels");
    p_.classes = std::move(classes);
  }

  /// P(class 1) for one row of n_features() doubles. Trees are walked in lockstep so that their
  /// memory loads overlap. Throws data_error for infinite values.
  double predict_proba(const double* row) const {
    std::vector<float> x(p_.n_features);
    to_float_row(row, 0, x.data());
    return predict_proba_float(x.data());
  }

  /// P(class 1) for a row already converted to float (no checks).
  double predict_proba_float(const float* x) const noexcept { return detail::predict_row_lockstep(trees(), x); }

  /// P(class 1) for every row of X into out[0, X.rows). Rows are scored in blocks, tree by tree, so
  /// that a tree's upper nodes stay in cache. Throws data_error for infinite values or a wrong width.
  void predict_proba(const matrix_view& X, double* out, int n_jobs = 1) const {
    check_width(X);
    const std::size_t p = p_.n_features;
    const std::size_t T = n_trees();
    if (X.rows <= 4) {
      // A few rows (an interactive request): walking trees in lockstep hides memory latency better.
      // Both paths add the trees' values in tree order, so they agree bit for bit.
      std::vector<float> x(p);
      for (std::size_t r = 0; r < X.rows; ++r) {
        to_float_row(X, r, x.data());
        out[r] = predict_proba_float(x.data());
      }
      return;
    }
    // Blocks of rows, one tree at a time over a whole block, so that the tree stays in cache. At least
    // one block per thread, so that a batch of a few hundred rows already uses every thread it was
    // given; at most about 1 MB of the block's values, so that they stay in the core's cache too.
    const int threads = detail::resolve_n_jobs(n_jobs);
    const std::size_t per_thread = (X.rows + static_cast<std::size_t>(threads) - 1) / static_cast<std::size_t>(threads);
    const std::size_t cap = std::min<std::size_t>(16384, std::max<std::size_t>(1024, (std::size_t{1} << 18) / p));
    const std::size_t block = std::min(cap, std::max(detail::partition_min_rows, per_thread));
    detail::parallel_for_blocks(X.rows, block, threads, [&](std::size_t begin, std::size_t end, std::size_t) {
      const std::size_t m = end - begin;
      std::vector<double> acc(m, 0.0);
      if (m < detail::partition_min_rows) {
        std::vector<float> xs(m * p);
        for (std::size_t r = begin; r < end; ++r) to_float_row(X, r, xs.data() + (r - begin) * p);
        detail::walk_lanes(trees(), xs.data(), m, acc.data());
      } else {
        // Column-major, so that a node's split reads one feature's values close together. Columns
        // start one cache line apart modulo a power of two: with a block of 8,192 or 16,384 rows they
        // would otherwise all map to the same cache sets and evict each other.
        const std::size_t stride = (m + 15) / 16 * 16 + 16;
        std::vector<float> columns(stride * p), row(p);
        for (std::size_t r = begin; r < end; ++r) {
          to_float_row(X, r, row.data());
          for (std::size_t f = 0; f < p; ++f) columns[f * stride + (r - begin)] = row[f];
        }
        detail::partition_scratch scratch(m);
        const detail::split_rows_fn split = detail::best_split_rows();
        for (std::size_t t = 0; t < T; ++t)
          detail::walk_partition(tree(t), columns.data(), stride, m, acc.data(), scratch, split);
      }
      for (std::size_t i = 0; i < m; ++i) out[begin + i] = acc[i] / static_cast<double>(T);
    });
  }

  std::vector<double> predict_proba(const matrix_view& X, int n_jobs = 1) const {
    std::vector<double> out(X.rows);
    predict_proba(X, out.data(), n_jobs);
    return out;
  }

  /// Class codes (0 or 1): 1 when P(class 1) > threshold().
  std::vector<int> predict(const matrix_view& X, int n_jobs = 1) const {
    std::vector<double> pr = predict_proba(X, n_jobs);
    std::vector<int> out(pr.size());
    for (std::size_t i = 0; i < pr.size(); ++i) out[i] = pr[i] > p_.threshold ? 1 : 0;
    return out;
  }

  /// Decision-path contributions of one row: along each tree's path, the change of P(class 1) at
  /// each split is credited to the split's feature; averaged over trees.
  contribution contributions(const double* row) const {
    std::vector<float> x(p_.n_features);
    to_float_row(row, 0, x.data());
    contribution c;
    c.values.assign(p_.n_features, 0.0);
    c.bias = detail::path_contributions(trees(), x.data(), c.values.data());
    return c;
  }

  /// For every row: out[r * (p + 1) + f] is feature f's contribution, out[r * (p + 1) + p] the bias.
  void contributions(const matrix_view& X, double* out, int n_jobs = 1) const {
    check_width(X);
    const std::size_t p = p_.n_features;
    detail::parallel_for_blocks(X.rows, 64, detail::resolve_n_jobs(n_jobs),
                                [&](std::size_t begin, std::size_t end, std::size_t) {
                                  std::vector<float> x(p);
                                  for (std::size_t r = begin; r < end; ++r) {
                                    to_float_row(X, r, x.data());
                                    double* o = out + r * (p + 1);
                                    std::fill(o, o + p, 0.0);
                                    o[p] = detail::path_contributions(trees(), x.data(), o);
                                  }
                                });
  }

 private:
  detail::tree_set trees() const noexcept {
    return {p_.nodes.data(), p_.tree_offsets.data(), n_trees(), p_.n_features};
  }

  void check_width(const matrix_view& X) const {
    if (X.cols != p_.n_features)
      throw data_error("X has " + std::to_string(X.cols) + " features, but the model was trained with " +
                       std::to_string(p_.n_features));
  }

  void to_float_row(const double* row, std::size_t r, float* x) const {
    for (std::size_t f = 0; f < p_.n_features; ++f) x[f] = detail::checked_float(row[f], r, f);
  }

  void to_float_row(const matrix_view& X, std::size_t r, float* x) const {
    const double* row = X.row(r);
    if (X.rows_contiguous()) {
      for (std::size_t f = 0; f < p_.n_features; ++f) x[f] = detail::checked_float(row[f], r, f);
    } else {
      for (std::size_t f = 0; f < p_.n_features; ++f)
        x[f] = detail::checked_float(row[static_cast<std::ptrdiff_t>(f) * X.col_stride], r, f);
    }
  }

  void check() const {
    if (p_.n_features == 0) throw model_format_error("/n_features", "must be at least 1");
    if (p_.n_features > tree_node::max_features)
      throw model_format_error("/n_features", "too many features (" + std::to_string(p_.n_features) + ")");
    if (!p_.feature_names.empty() && p_.feature_names.size() != p_.n_features)
      throw model_format_error("/feature_names", std::to_string(p_.feature_names.size()) + " names for " +
                                                     std::to_string(p_.n_features) + " features");
    if (!p_.feature_importances.empty() && p_.feature_importances.size() != p_.n_features)
      throw model_format_error("/feature_importances", std::to_string(p_.feature_importances.size()) + " values for " +
                                                           std::to_string(p_.n_features) + " features");
    if (!p_.classes.is_array() || p_.classes.size() != 2)
      throw model_format_error("/classes", "must be an array of the two class labels");
    if (!(p_.threshold >= 0 && p_.threshold <= 1))
      throw model_format_error("/threshold", "must be in [0, 1], got " + std::to_string(p_.threshold));
    const auto& off = p_.tree_offsets;
    if (off.size() < 2) throw model_format_error("/trees", "a forest needs at least one tree");
    if (off.front() != 0 || off.back() != p_.nodes.size())
      throw model_format_error("/trees", "tree offsets do not cover the node array");
    for (std::size_t t = 0; t + 1 < off.size(); ++t) {
      if (off[t + 1] <= off[t]) throw model_format_error("/trees/" + std::to_string(t), "tree has no nodes");
      const auto problem = detail::check_tree(p_.nodes.data() + off[t], off[t + 1] - off[t], p_.n_features);
      if (!problem.ok())
        throw model_format_error(
            "/trees/" + std::to_string(t) + "/" + problem.field + "/" + std::to_string(problem.node), problem.message);
    }
    if (!p_.cover.empty()) {
      if (p_.cover.size() != p_.nodes.size())
        throw model_format_error("/trees", "the cover array has " + std::to_string(p_.cover.size()) + " values for " +
                                               std::to_string(p_.nodes.size()) + " nodes");
      for (std::size_t t = 0; t + 1 < off.size(); ++t) {
        const auto problem =
            detail::check_cover(p_.nodes.data() + off[t], p_.cover.data() + off[t], off[t + 1] - off[t]);
        if (!problem.ok())
          throw model_format_error(
              "/trees/" + std::to_string(t) + "/" + problem.field + "/" + std::to_string(problem.node),
              problem.message);
      }
    }
  }

  forest_contents p_;
};

/// Deprecated: renamed forest_contents (this alias goes in the next release).
using forest_parts [[deprecated("renamed churn::forest_contents")]] = forest_contents;

}  // namespace churn
