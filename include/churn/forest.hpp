#pragma once
// Random forest for binary classification: the trainer (forest_params + fit_forest) and the trained,
// immutable model (random_forest). scikit-learn's RandomForestClassifier is the reference for the
// meaning of every parameter; docs/model-format.md describes the saved form.
//
// Determinism: tree t is grown from its own generator seeded with derive_seed(random_state, t), and
// every sum over trees runs in tree order, so the model and all its outputs are bit-identical whatever
// the number of threads.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <churn/detail/forest_data.hpp>
#include <churn/detail/forest_predict.hpp>
#include <churn/detail/forest_tree.hpp>
#include <churn/detail/parallel.hpp>
#include <churn/detail/rng.hpp>
#include <churn/error.hpp>
#include <churn/metrics.hpp>
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
inline class_weight_mode class_weight_mode_from_string(const std::string& s) {
  if (s == "none") return class_weight_mode::none;
  if (s == "balanced") return class_weight_mode::balanced;
  if (s == "balanced_subsample") return class_weight_mode::balanced_subsample;
  if (s == "given") return class_weight_mode::given;
  throw parameter_error("class_weight", "'" + s + "'", "'none', 'balanced', 'balanced_subsample', 'given'");
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

/// Decision-path contributions of one prediction (Saabas): bias + sum(values) == P(class 1).
struct contribution {
  double bias = 0;             ///< mean over trees of the root's P(class 1)
  std::vector<double> values;  ///< per feature
};

/// Everything a trained forest consists of; the unit that is saved and loaded.
struct forest_parts {
  std::size_t n_features = 0;
  std::vector<std::string> feature_names;   ///< empty, or one per feature
  nlohmann::json classes = nlohmann::json::array({0, 1});  ///< the labels behind codes 0 and 1
  forest_params params;
  double threshold = 0.5;                   ///< predict() says class 1 when P(class 1) > threshold
  std::vector<tree_node> nodes;             ///< all trees, concatenated, each in pre-order
  std::vector<std::uint32_t> tree_offsets;  ///< tree t is nodes[tree_offsets[t], tree_offsets[t+1])
  std::vector<double> feature_importances;  ///< impurity-based (MDI), sums to 1 (or all 0)
  double oob_score = std::numeric_limits<double>::quiet_NaN();  ///< NaN when not computed
  std::vector<double> oob_probability;      ///< per training row; NaN for rows never out of bag (not saved)
  nlohmann::json metadata = nlohmann::json::object();  ///< free-form, filled by applications
};

namespace detail {

/// The first problem found in one tree (empty message: none). `field` names the JSON array of the
/// model format (see docs/model-format.md) so that the loader can report "/trees/t/<field>/<node>".
struct tree_problem {
  std::string field;
  std::size_t node = 0;
  std::string message;
  bool ok() const noexcept { return message.empty(); }
};

/// Checks one pre-order tree: features in range, thresholds not NaN, values in [0, 1], and child
/// links that visit every node exactly once in pre-order (so traversal always ends in a leaf).
inline tree_problem check_tree(const tree_node* nodes, std::size_t n, std::size_t n_features) {
  if (n == 0) return {"value", 0, "a tree must have at least one node"};
  for (std::size_t i = 0; i < n; ++i) {
    const tree_node& nd = nodes[i];
    if (!(nd.value >= 0.0f && nd.value <= 1.0f))
      return {"value", i, "node value " + std::to_string(nd.value) + " is not a probability in [0, 1]"};
    if (nd.is_leaf()) continue;
    if (nd.feature() >= n_features)
      return {"feature", i, "split feature " + std::to_string(nd.feature()) + " out of range (the model has " +
                                std::to_string(n_features) + " features)"};
    if (std::isnan(nd.threshold)) return {"threshold", i, "split threshold is NaN"};
  }
  // Walk in pre-order: node i must be the next expected index; an internal node's right child must be
  // where its left subtree ends.
  struct pending_right {
    std::size_t parent, child;
  };
  std::vector<pending_right> pending;
  std::size_t expected = 0;
  std::size_t current = 0;
  for (;;) {
    ++expected;
    const tree_node& nd = nodes[current];
    if (!nd.is_leaf()) {
      if (current + 1 >= n) return {"right", current, "left child " + std::to_string(current + 1) + " is past the end of the tree"};
      if (nd.right <= current + 1 || nd.right >= n)
        return {"right", current, "right child index " + std::to_string(nd.right) + " out of range (" +
                                      std::to_string(current + 2) + ".." + std::to_string(n - 1) + ")"};
      pending.push_back({current, nd.right});
      current = current + 1;
      continue;
    }
    if (pending.empty()) break;
    const pending_right next = pending.back();
    pending.pop_back();
    if (next.child != expected)
      return {"right", next.parent, "right child index " + std::to_string(next.child) + " should be " +
                                        std::to_string(expected) + " (subtrees overlap or leave gaps)"};
    current = next.child;
  }
  if (expected != n)
    return {"right", expected, std::to_string(n - expected) + " node(s) unreachable from the root"};
  return {};
}

}  // namespace detail

/// A trained random forest. Immutable apart from its metadata and decision threshold; every const
/// member function is safe to call from several threads at once.
class random_forest {
 public:
  random_forest() = default;

  /// Assembles a model from its parts, checking every tree.
  /// Throws model_format_error (with the JSON path of the bad element) for inconsistent parts.
  explicit random_forest(forest_parts parts) : p_(std::move(parts)) { check(); }

  std::size_t n_features() const noexcept { return p_.n_features; }
  std::size_t n_trees() const noexcept { return p_.tree_offsets.empty() ? 0 : p_.tree_offsets.size() - 1; }
  std::size_t n_nodes() const noexcept { return p_.nodes.size(); }
  std::size_t n_leaves() const noexcept {
    return static_cast<std::size_t>(std::count_if(p_.nodes.begin(), p_.nodes.end(), [](const tree_node& n) { return n.is_leaf(); }));
  }
  /// Bytes taken by the nodes (16 per node) and the tree offsets.
  std::size_t memory_bytes() const noexcept { return p_.nodes.size() * sizeof(tree_node) + p_.tree_offsets.size() * 4; }
  const std::vector<std::string>& feature_names() const noexcept { return p_.feature_names; }
  const nlohmann::json& classes() const noexcept { return p_.classes; }
  const forest_params& params() const noexcept { return p_.params; }
  const std::vector<double>& feature_importances() const noexcept { return p_.feature_importances; }
  bool has_oob_score() const noexcept { return !std::isnan(p_.oob_score); }
  double oob_score() const noexcept { return p_.oob_score; }
  const std::vector<double>& oob_probability() const noexcept { return p_.oob_probability; }
  const forest_parts& parts() const noexcept { return p_; }
  /// Gives up the parts, leaving an empty model (combine_forests reuses a part's node array).
  forest_parts release() && noexcept { return std::move(p_); }
  const tree_node* tree(std::size_t t) const noexcept { return p_.nodes.data() + p_.tree_offsets[t]; }
  std::size_t tree_size(std::size_t t) const noexcept { return p_.tree_offsets[t + 1] - p_.tree_offsets[t]; }

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
  double predict_proba_float(const float* x) const noexcept {
    constexpr std::size_t block = 16;
    const std::size_t T = n_trees();
    const tree_node* base = p_.nodes.data();
    double sum = 0;
    for (std::size_t t0 = 0; t0 < T; t0 += block) {
      const std::size_t nb = std::min(block, T - t0);
      const tree_node* root[block];
      std::uint32_t pos[block] = {};
      for (std::size_t k = 0; k < nb; ++k) root[k] = base + p_.tree_offsets[t0 + k];
      for (;;) {
        std::uint32_t all_leaves = 1, leaf = 0;
        for (std::size_t k = 0; k < nb; ++k) {
          pos[k] = step(root[k], pos[k], x, leaf);
          all_leaves &= leaf;
        }
        if (all_leaves) break;
      }
      for (std::size_t k = 0; k < nb; ++k) sum += root[k][pos[k]].value;
    }
    return sum / static_cast<double>(T);
  }

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
        to_float_row(X.row(r), r, x.data());
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
    const std::size_t block = std::min(cap, std::max(partition_min_rows, per_thread));
    detail::parallel_for_blocks(X.rows, block, threads, [&](std::size_t begin, std::size_t end, std::size_t) {
      const std::size_t m = end - begin;
      std::vector<double> acc(m, 0.0);
      if (m < partition_min_rows) {
        std::vector<float> xs(m * p);
        for (std::size_t r = begin; r < end; ++r) to_float_row(X.row(r), r, xs.data() + (r - begin) * p);
        walk_lanes(xs.data(), m, acc.data());
      } else {
        // Column-major, so that a node's split reads one feature's values close together. Columns
        // start one cache line apart modulo a power of two: with a block of 8,192 or 16,384 rows they
        // would otherwise all map to the same cache sets and evict each other.
        const std::size_t stride = (m + 15) / 16 * 16 + 16;
        std::vector<float> columns(stride * p), row(p);
        for (std::size_t r = begin; r < end; ++r) {
          to_float_row(X.row(r), r, row.data());
          for (std::size_t f = 0; f < p; ++f) columns[f * stride + (r - begin)] = row[f];
        }
        partition_scratch scratch(m);
        const detail::split_rows_fn split = detail::best_split_rows();
        for (std::size_t t = 0; t < T; ++t) walk_partition(tree(t), columns.data(), stride, m, acc.data(), scratch, split);
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
    c.bias = contributions_float(x.data(), c.values.data());
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
        to_float_row(X.row(r), r, x.data());
        double* o = out + r * (p + 1);
        std::fill(o, o + p, 0.0);
        o[p] = contributions_float(x.data(), o);
      }
    });
  }

 private:
  // Below this many rows a block is walked row by row (lanes); from it on, partitioned node by node.
  // The two cost about the same at 100 rows a block on the development machine (a walk of 500 trees
  // timed both ways); both give the same results.
  static constexpr std::size_t partition_min_rows = 128;

  // Adds every tree's leaf value to acc[r] for the m float rows xs (row-major), tree by tree. Within a
  // tree, 16 rows advance in lockstep so that their independent cache misses overlap; a lane whose row
  // reaches its leaf takes the next row at once rather than idling until the deepest of the 16 paths
  // ends (paths in a fully grown tree differ in length a lot).
  void walk_lanes(const float* x, std::size_t m, double* acc) const noexcept {
    const std::size_t p = p_.n_features;
    constexpr std::size_t lanes = 16;
    constexpr std::uint32_t no_row = std::numeric_limits<std::uint32_t>::max();
    for (std::size_t t = 0; t < n_trees(); ++t) {
      const tree_node* root = tree(t);
      std::uint32_t pos[lanes], row[lanes];
      const std::size_t nl = std::min(lanes, m);
      std::size_t next = 0;
      for (std::size_t k = 0; k < nl; ++k) pos[k] = 0, row[k] = static_cast<std::uint32_t>(next++);
      if (nl == lanes) {
        while (next < m) {
          for (std::size_t k = 0; k < lanes; ++k) {
            std::uint32_t leaf;
            const std::uint32_t at = step(root, pos[k], x + row[k] * p, leaf);
            if (leaf) {
              acc[row[k]] += root[at].value;
              row[k] = next < m ? static_cast<std::uint32_t>(next++) : no_row;
              pos[k] = 0;
            } else {
              pos[k] = at;
            }
          }
        }
      }
      for (std::size_t k = 0; k < nl; ++k) {
        if (row[k] == no_row) continue;
        const float* xr = x + row[k] * p;
        const tree_node* node = root + pos[k];
        while (!node->is_leaf()) node = node->goes_left(xr[node->feature()]) ? node + 1 : root + node->right;
        acc[row[k]] += node->value;
      }
    }
  }

  struct partition_scratch {
    explicit partition_scratch(std::size_t m) : rows(m), right(m) {}
    struct segment {
      std::uint32_t node, begin, end;
    };
    std::vector<std::uint32_t> rows, right;
    std::vector<segment> stack;
  };

  // Adds the leaf value of tree `root` to acc[r] for the m rows of the column-major block x (feature f
  // of row r at x[f * stride + r]). The block's rows go down the tree together: at each node the rows
  // that reached it are split, without branches, into those going left (kept in place) and right
  // (moved after them), and each child then takes its share. A row-by-row walk spends most of its
  // time choosing the next node; here each level of each row is a few instructions in a loop the
  // processor runs at full speed, which pays off from about a hundred rows. `split` is the kernel of
  // that step (detail/forest_predict.hpp). Each row still gets its trees' values added in tree order,
  // so results equal walk_lanes' bit for bit.
  static void walk_partition(const tree_node* root, const float* x, std::size_t stride, std::size_t m,
                             double* acc, partition_scratch& s, detail::split_rows_fn split) {
    std::uint32_t* rows = s.rows.data();
    std::uint32_t* right = s.right.data();
    for (std::size_t r = 0; r < m; ++r) rows[r] = static_cast<std::uint32_t>(r);
    auto& stack = s.stack;
    stack.clear();
    stack.push_back({0, 0, static_cast<std::uint32_t>(m)});
    while (!stack.empty()) {
      const auto seg = stack.back();
      stack.pop_back();
      const tree_node& n = root[seg.node];
      std::uint32_t* first = rows + seg.begin;
      const std::uint32_t count = seg.end - seg.begin;
      if (n.is_leaf()) {
        const double v = n.value;
        for (std::uint32_t i = 0; i < count; ++i) acc[first[i]] += v;
        continue;
      }
      const std::uint32_t nl = split(x + static_cast<std::size_t>(n.feature()) * stride, first, right, count,
                                     n.threshold, n.missing_left());
      if (nl < count) stack.push_back({n.right, seg.begin + nl, seg.end});
      if (nl) stack.push_back({seg.node + 1, seg.begin, seg.begin + nl});
    }
  }

  // Adds the mean per-tree contributions into values[0, p) and returns the bias.
  double contributions_float(const float* x, double* values) const {
    const std::size_t T = n_trees();
    const std::size_t p = p_.n_features;
    std::vector<double> sum(p, 0.0);
    double bias = 0;
    for (std::size_t t = 0; t < T; ++t) {
      const tree_node* root = tree(t);
      const tree_node* n = root;
      bias += n->value;
      while (!n->is_leaf()) {
        const tree_node* next = n->goes_left(x[n->feature()]) ? n + 1 : root + n->right;
        sum[n->feature()] += static_cast<double>(next->value) - static_cast<double>(n->value);
        n = next;
      }
    }
    for (std::size_t f = 0; f < p; ++f) values[f] += sum[f] / static_cast<double>(T);
    return bias / static_cast<double>(T);
  }

  void check_width(const matrix_view& X) const {
    if (X.cols != p_.n_features)
      throw data_error("X has " + std::to_string(X.cols) + " features, but the model was trained with " +
                       std::to_string(p_.n_features));
  }

  void to_float_row(const double* row, std::size_t r, float* x) const {
    for (std::size_t f = 0; f < p_.n_features; ++f) x[f] = detail::checked_float(row[f], r, f);
  }

  void check() const {
    if (p_.n_features == 0) throw model_format_error("/n_features", "must be at least 1");
    if (p_.n_features > tree_node::max_features)
      throw model_format_error("/n_features", "too many features (" + std::to_string(p_.n_features) + ")");
    if (!p_.feature_names.empty() && p_.feature_names.size() != p_.n_features)
      throw model_format_error("/feature_names", std::to_string(p_.feature_names.size()) + " names for " +
                                                     std::to_string(p_.n_features) + " features");
    if (!p_.feature_importances.empty() && p_.feature_importances.size() != p_.n_features)
      throw model_format_error("/feature_importances", std::to_string(p_.feature_importances.size()) +
                                                           " values for " + std::to_string(p_.n_features) + " features");
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
        throw model_format_error("/trees/" + std::to_string(t) + "/" + problem.field + "/" + std::to_string(problem.node),
                                 problem.message);
    }
  }

  forest_parts p_;
};

/// Trees [first_tree, first_tree + n_trees()) of a forest of `trees.params().n_estimators` trees: what
/// fit_forest_trees grows on one machine, and what combine_forests joins with the other ranges into
/// the forest fit_forest gives. Travels as JSON (to_json / forest_part_from_json in model_io.hpp).
struct forest_part {
  std::size_t first_tree = 0;     ///< index of the range's first tree in the whole forest
  std::size_t n_rows = 0;         ///< rows of the training data
  std::uint64_t data_digest = 0;  ///< fingerprint of the training data (X, y, sample weights)
  random_forest trees;            ///< the range's trees; its params are the whole forest's
  /// n_trees() x n_features, row-major: each tree's MDI normalised to sum 1 (all 0 for a tree that
  /// adds nothing), which combine_forests adds up in tree order as fit_forest does.
  std::vector<double> tree_importances;

  std::size_t n_trees() const noexcept { return trees.n_trees(); }
  std::size_t end_tree() const noexcept { return first_tree + trees.n_trees(); }
};

namespace detail {

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
      throw parameter_error("max_samples", std::to_string(params.max_samples), "at most the number of rows, " + std::to_string(n));
    return params.max_samples;
  }
  if (params.max_samples_fraction > 0)
    return std::max<std::size_t>(1, static_cast<std::size_t>(std::round(params.max_samples_fraction * static_cast<double>(n))));
  return n;
}

// How often a tree's sample holds each of the n rows (all 1 without bootstrap). These are the first
// draws of the tree's generator: growing a tree and recomputing its out-of-bag rows (fill_oob) both
// call this, so the in-bag rows are a function of (random_state, tree index) alone.
inline void draw_bootstrap(bool bootstrap, std::size_t n, std::size_t draws, rng& g, std::vector<std::uint32_t>& counts) {
  counts.assign(n, bootstrap ? 0u : 1u);
  if (bootstrap)
    for (std::size_t k = 0; k < draws; ++k) ++counts[static_cast<std::size_t>(g.below(n))];
}

// y as 0/1 bytes; throws data_error naming the first row whose label is neither.
inline std::vector<std::uint8_t> checked_labels(const int* y, std::size_t n) {
  std::vector<std::uint8_t> labels(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (y[i] != 0 && y[i] != 1) throw data_error("y[" + std::to_string(i) + "] = " + std::to_string(y[i]) + "; labels must be 0 or 1");
    labels[i] = static_cast<std::uint8_t>(y[i]);
  }
  return labels;
}

// A fingerprint of the training data: X's values (as bits), y and the sample weights. Parts grown on
// other data than the rest of the forest are refused by combine_forests. Not cryptographic.
inline std::uint64_t data_digest(const matrix_view& X, const int* y, const double* sample_weight) {
  std::uint64_t h = 0x6A09E667F3BCC908ULL;
  auto add = [&h](std::uint64_t v) {
    h = (h ^ v) * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
  };
  add(X.rows);
  add(X.cols);
  for (std::size_t r = 0; r < X.rows; ++r) {
    const double* row = X.row(r);
    for (std::size_t c = 0; c < X.cols; ++c) {
      std::uint64_t bits;
      std::memcpy(&bits, row + c, sizeof bits);
      add(bits);
    }
  }
  for (std::size_t r = 0; r < X.rows; ++r) add(static_cast<std::uint64_t>(static_cast<std::int64_t>(y[r])));
  add(sample_weight ? 1 : 0);
  if (sample_weight)
    for (std::size_t r = 0; r < X.rows; ++r) {
      std::uint64_t bits;
      std::memcpy(&bits, sample_weight + r, sizeof bits);
      add(bits);
    }
  return h;
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
  if (n >= std::numeric_limits<std::uint32_t>::max() / 2) throw data_error("X has too many rows (" + std::to_string(n) + ")");
  if (p > tree_node::max_features) throw data_error("X has too many columns (" + std::to_string(p) + ")");
  if (n_feature_names != 0 && n_feature_names != p)
    throw data_error("feature_names has " + std::to_string(n_feature_names) + " names for " + std::to_string(p) + " columns");
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
        throw data_error("sample_weight[" + std::to_string(i) + "] = " + std::to_string(w) + "; weights must be finite and >= 0");
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

// Grows trees [first, first + count) of the forest, tree t from its own generator seeded with
// derive_seed(random_state, t), and keeps each tree's normalised importance for the forest average.
inline forest_part grow_tree_range(const forest_params& params, const forest_training& tr,
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

  forest_parts parts;
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
  forest_part out;
  out.first_tree = first;
  out.n_rows = n;
  // Mean decrease in impurity, normalised per tree (here) and then over the forest (join_tree_ranges),
  // as scikit-learn does. A tree that adds nothing keeps zeros: adding +0.0 leaves every sum as it is.
  out.tree_importances.assign(count * p, 0.0);
  for (std::size_t k = 0; k < count; ++k) {
    auto& t = trees[k];
    parts.nodes.insert(parts.nodes.end(), t.nodes.begin(), t.nodes.end());
    parts.tree_offsets.push_back(static_cast<std::uint32_t>(parts.nodes.size()));
    if (t.nodes.size() > 1 && t.root_weight > 0) {
      double s = 0;
      for (auto& v : t.importance) s += (v /= t.root_weight);
      if (s > 0)
        for (std::size_t f = 0; f < p; ++f) out.tree_importances[k * p + f] = t.importance[f] / s;
    }
    std::vector<tree_node>().swap(t.nodes);
  }
  out.trees = random_forest(std::move(parts));
  return out;
}

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

inline std::string describe_part(const forest_part& part) {
  if (part.n_trees() == 0) return "the part starting at tree " + std::to_string(part.first_tree) + " (no trees)";
  return "the part with trees " + std::to_string(part.first_tree) + ".." + std::to_string(part.end_tree() - 1);
}

// Sorts the parts by their first tree and checks that they are ranges of one forest: the same
// features, parameters, data and classes, and ranges that cover every tree exactly once.
inline void check_tree_ranges(std::vector<forest_part>& parts) {
  if (parts.empty())
    throw data_error("no forest parts to combine; pass every part grown by fit_forest_trees (trees 0 to n_estimators - 1)");
  std::stable_sort(parts.begin(), parts.end(), [](const forest_part& a, const forest_part& b) { return a.first_tree < b.first_tree; });
  const forest_part& head = parts.front();
  const forest_parts& h = head.trees.parts();
  const auto head_params = model_params(h.params);
  for (const forest_part& part : parts) {
    if (part.n_trees() == 0) throw data_error(describe_part(part) + " holds no trees; it is not a part grown by fit_forest_trees");
    const forest_parts& q = part.trees.parts();
    if (part.tree_importances.size() != part.n_trees() * q.n_features)
      throw data_error(describe_part(part) + " has " + std::to_string(part.tree_importances.size()) + " tree importances, expected " +
                       std::to_string(part.n_trees() * q.n_features) + " (trees x features)");
    if (&part == &head) continue;
    if (q.n_features != h.n_features)
      throw data_error(describe_part(part) + " has " + std::to_string(q.n_features) + " features, but " + describe_part(head) +
                       " has " + std::to_string(h.n_features) + "; all parts must be grown on the same columns");
    if (q.feature_names != h.feature_names)
      throw data_error(describe_part(part) + " has other feature names than " + describe_part(head) +
                       "; all parts must be grown on the same columns");
    const auto params = model_params(q.params);
    for (std::size_t i = 0; i < params.size(); ++i)
      if (params[i].second != head_params[i].second)
        throw parameter_error(params[i].first, params[i].second + " in " + describe_part(part),
                              head_params[i].second + " as in " + describe_part(head) + "; all parts must be grown with the same parameters");
    if (part.n_rows != head.n_rows)
      throw data_error(describe_part(part) + " was grown on " + std::to_string(part.n_rows) + " rows, but " + describe_part(head) +
                       " on " + std::to_string(head.n_rows) + "; all parts must be grown on the same X, y and sample weights");
    if (part.data_digest != head.data_digest)
      throw data_error(describe_part(part) + " was grown on other data than " + describe_part(head) +
                       " (another X, y or sample weights); all parts must be grown on the same data");
    if (q.classes != h.classes)
      throw data_error(describe_part(part) + " has the classes " + q.classes.dump() + ", but " + describe_part(head) + " has " +
                       h.classes.dump());
  }
  const std::size_t T = h.params.n_estimators;
  std::size_t next = 0;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    const forest_part& part = parts[k];
    if (part.first_tree > next)
      throw data_error("trees " + std::to_string(next) + ".." + std::to_string(std::min(part.first_tree, T) - 1) +
                       " are missing: no part holds them (the forest has n_estimators = " + std::to_string(T) + " trees)");
    if (part.first_tree < next)
      throw data_error(describe_part(part) + " overlaps " + describe_part(parts[k - 1]) + "; each tree must come from exactly one part");
    if (part.end_tree() > T)
      throw data_error(describe_part(part) + " reaches beyond the forest's n_estimators = " + std::to_string(T) + " trees");
    next = part.end_tree();
  }
  if (next < T)
    throw data_error("trees " + std::to_string(next) + ".." + std::to_string(T - 1) +
                     " are missing: no part holds them (the forest has n_estimators = " + std::to_string(T) + " trees)");
}

// Joins checked parts (check_tree_ranges) into one forest: the nodes in tree order, and the forest's
// importances summed over the trees in tree order, as one fit_forest run sums them. Empties the parts.
inline forest_parts join_tree_ranges(std::vector<forest_part>& parts) {
  const std::size_t p = parts.front().trees.n_features();
  const std::size_t T = parts.front().trees.params().n_estimators;
  std::size_t total_nodes = 0;
  for (const auto& part : parts) total_nodes += part.trees.n_nodes();
  if (total_nodes >= std::numeric_limits<std::uint32_t>::max())
    throw data_error("the forest has too many nodes (" + std::to_string(total_nodes) + "); use fewer or smaller trees");
  std::vector<double> importance(p, 0.0);
  forest_parts out;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    forest_part& part = parts[k];
    const std::size_t count = part.n_trees();
    for (std::size_t t = 0; t < count; ++t)
      for (std::size_t f = 0; f < p; ++f) importance[f] += part.tree_importances[t * p + f];
    std::vector<double>().swap(part.tree_importances);
    if (k == 0) {
      out = std::move(part.trees).release();  // reuses the first part's nodes (all of them for fit_forest)
      out.nodes.reserve(total_nodes);
      out.tree_offsets.reserve(T + 1);
      continue;
    }
    const forest_parts q = std::move(part.trees).release();
    const auto base = static_cast<std::uint32_t>(out.nodes.size());
    out.nodes.insert(out.nodes.end(), q.nodes.begin(), q.nodes.end());
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

// The out-of-bag probabilities and score of a forest grown on (X, labels): each row's mean over the
// trees whose bootstrap sample left it out, the trees' samples redrawn from their seeds.
inline void fill_oob(forest_parts& parts, const matrix_view& X, const std::vector<std::uint8_t>& labels, int threads) {
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
  parts.oob_score = static_cast<double>(std::accumulate(correct.begin(), correct.end(), std::size_t{0})) / static_cast<double>(n);
}

}  // namespace detail

/// Trains a forest on X (rows x features, row-major doubles, NaN = missing) and labels y (0 or 1).
/// `sample_weight` may be null (all 1). `feature_names` may be empty or one per column.
/// Throws parameter_error for invalid params, data_error for bad input (naming row and column).
/// Complexity: about O(n_estimators * n log n * max_features * depth-ish) / threads.
inline random_forest fit_forest(const forest_params& params, const matrix_view& X, const int* y,
                                const double* sample_weight = nullptr, std::vector<std::string> feature_names = {}) {
  // One tree range holding the whole forest, joined and scored as combine_forests joins and scores
  // several: so the two give the same model by construction.
  detail::forest_training tr = detail::prepare_training(params, X, y, sample_weight, feature_names.size());
  std::vector<forest_part> parts;
  parts.push_back(detail::grow_tree_range(params, tr, std::move(feature_names), 0, params.n_estimators));
  tr.data = detail::binned_features();  // the binned copy of X is no longer needed
  forest_parts joined = detail::join_tree_ranges(parts);
  if (params.oob_score) detail::fill_oob(joined, X, tr.labels, tr.threads);
  return random_forest(std::move(joined));
}

/// Convenience overload taking vectors.
inline random_forest fit_forest(const forest_params& params, const matrix_view& X, const std::vector<int>& y,
                                const std::vector<double>& sample_weight = {}, std::vector<std::string> feature_names = {}) {
  if (y.size() != X.rows)
    throw data_error("y has " + std::to_string(y.size()) + " labels for " + std::to_string(X.rows) + " rows");
  if (!sample_weight.empty() && sample_weight.size() != X.rows)
    throw data_error("sample_weight has " + std::to_string(sample_weight.size()) + " values for " + std::to_string(X.rows) + " rows");
  return fit_forest(params, X, y.data(), sample_weight.empty() ? nullptr : sample_weight.data(), std::move(feature_names));
}

/// Grows only trees [first_tree, first_tree + n_trees) of the forest fit_forest(params, X, y,
/// sample_weight, feature_names) grows, e.g. on one machine of a cluster; combine_forests joins the
/// ranges into that forest. Tree t's randomness derives from (params.random_state, t) alone, so a
/// range comes out the same wherever and with however many threads it is grown.
/// Throws what fit_forest throws, and parameter_error for a range outside [0, params.n_estimators).
/// Complexity: that of fit_forest for n_trees trees, plus one pass over X for its fingerprint.
inline forest_part fit_forest_trees(const forest_params& params, const matrix_view& X, const int* y, const double* sample_weight,
                                    std::vector<std::string> feature_names, std::size_t first_tree, std::size_t n_trees) {
  params.validate();
  if (n_trees < 1) throw parameter_error("n_trees", std::to_string(n_trees), "an integer >= 1");
  if (first_tree >= params.n_estimators || n_trees > params.n_estimators - first_tree)
    throw parameter_error("first_tree", "trees " + std::to_string(first_tree) + ".." + std::to_string(first_tree + n_trees - 1),
                          "a range of trees within 0.." + std::to_string(params.n_estimators - 1) + " (n_estimators = " +
                              std::to_string(params.n_estimators) + ")");
  detail::forest_training tr = detail::prepare_training(params, X, y, sample_weight, feature_names.size());
  forest_part part = detail::grow_tree_range(params, tr, std::move(feature_names), first_tree, n_trees);
  part.data_digest = detail::data_digest(X, y, sample_weight);
  return part;
}

/// Convenience overload taking vectors.
inline forest_part fit_forest_trees(const forest_params& params, const matrix_view& X, const std::vector<int>& y,
                                    const std::vector<double>& sample_weight, std::vector<std::string> feature_names,
                                    std::size_t first_tree, std::size_t n_trees) {
  if (y.size() != X.rows)
    throw data_error("y has " + std::to_string(y.size()) + " labels for " + std::to_string(X.rows) + " rows");
  if (!sample_weight.empty() && sample_weight.size() != X.rows)
    throw data_error("sample_weight has " + std::to_string(sample_weight.size()) + " values for " + std::to_string(X.rows) + " rows");
  return fit_forest_trees(params, X, y.data(), sample_weight.empty() ? nullptr : sample_weight.data(), std::move(feature_names),
                          first_tree, n_trees);
}

/// Joins the tree ranges grown by fit_forest_trees (in any order) into the forest that fit_forest
/// grows from the same params and data: the same trees and feature importances, bit for bit, and
/// (with oob_score) the same out-of-bag estimates, recomputed here from X and y.
/// X, y, sample_weight: the data the parts were grown on (checked against their fingerprint).
/// Throws data_error for parts that do not make one forest (other columns, other data, missing or
/// overlapping trees) or for other data than the parts', parameter_error naming a parameter in which
/// the parts differ. Uses the parts' n_jobs threads for the OOB estimates.
/// Complexity: O(nodes + n_rows * n_features), plus O(n_estimators * n_rows * depth) with oob_score.
inline random_forest combine_forests(std::vector<forest_part> parts, const matrix_view& X, const int* y,
                                     const double* sample_weight = nullptr) {
  detail::check_tree_ranges(parts);
  const forest_part& head = parts.front();
  if (X.rows != head.n_rows)
    throw data_error("X has " + std::to_string(X.rows) + " rows, but the parts were grown on " + std::to_string(head.n_rows));
  if (X.cols != head.trees.n_features())
    throw data_error("X has " + std::to_string(X.cols) + " features, but the parts were grown with " +
                     std::to_string(head.trees.n_features()));
  const std::vector<std::uint8_t> labels = detail::checked_labels(y, X.rows);
  if (detail::data_digest(X, y, sample_weight) != head.data_digest)
    throw data_error("X, y or sample_weight differ from the data the parts were grown on; pass the arrays given to fit_forest_trees");
  const forest_params params = head.trees.params();
  forest_parts joined = detail::join_tree_ranges(parts);
  if (params.oob_score) detail::fill_oob(joined, X, labels, detail::resolve_n_jobs(params.n_jobs));
  return random_forest(std::move(joined));
}

/// Convenience overload taking vectors.
inline random_forest combine_forests(std::vector<forest_part> parts, const matrix_view& X, const std::vector<int>& y,
                                     const std::vector<double>& sample_weight = {}) {
  if (y.size() != X.rows)
    throw data_error("y has " + std::to_string(y.size()) + " labels for " + std::to_string(X.rows) + " rows");
  if (!sample_weight.empty() && sample_weight.size() != X.rows)
    throw data_error("sample_weight has " + std::to_string(sample_weight.size()) + " values for " + std::to_string(X.rows) + " rows");
  return combine_forests(std::move(parts), X, y.data(), sample_weight.empty() ? nullptr : sample_weight.data());
}

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
    throw data_error("X has " + std::to_string(X.cols) + " features, but the model was trained with " + std::to_string(model.n_features()));
  if (y.size() != X.rows) throw data_error("y has " + std::to_string(y.size()) + " labels for " + std::to_string(X.rows) + " rows");
  for (std::size_t i = 0; i < y.size(); ++i)
    if (y[i] != 0 && y[i] != 1) throw data_error("y[" + std::to_string(i) + "] = " + std::to_string(y[i]) + "; labels must be 0 or 1");
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
    for (std::size_t r = 0; r < n_repeats; ++r) v += (res.drops[f * n_repeats + r] - m) * (res.drops[f * n_repeats + r] - m);
    res.mean[f] = m;
    res.std[f] = std::sqrt(v / static_cast<double>(n_repeats));
  }
  return res;
}

}  // namespace churn
