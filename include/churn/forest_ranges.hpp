#pragma once
// A forest grown in ranges of trees, e.g. one range per machine of a cluster: fit_forest_trees grows
// trees [first, first + n) of the forest fit_forest would grow, and combine_forests joins the ranges
// into that same forest, bit for bit. A tree_range travels as JSON (to_json / loads_tree_range, below).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <churn/detail/forest_data.hpp>
#include <churn/detail/forest_fit.hpp>
#include <churn/error.hpp>
#include <churn/forest.hpp>
#include <churn/forest_params.hpp>
#include <churn/model_io.hpp>

namespace churn {

/// Trees [first_tree, first_tree + n_trees()) of a forest of `trees.params().n_estimators` trees: what
/// fit_forest_trees grows on one machine, and what combine_forests joins with the other ranges into
/// the forest fit_forest gives. Travels as JSON (to_json / tree_range_from_json, below).
struct tree_range {
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

/// Deprecated: renamed tree_range (this alias goes in the next release).
using forest_part [[deprecated("renamed churn::tree_range")]] = tree_range;

namespace detail {

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
    for (std::size_t c = 0; c < X.cols; ++c) {
      const double v = X(r, c);
      std::uint64_t bits;
      std::memcpy(&bits, &v, sizeof bits);
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

inline std::string describe_part(const tree_range& part) {
  if (part.n_trees() == 0) return "the part starting at tree " + std::to_string(part.first_tree) + " (no trees)";
  return "the part with trees " + std::to_string(part.first_tree) + ".." + std::to_string(part.end_tree() - 1);
}

// Sorts the parts by their first tree and checks that they are ranges of one forest: the same
// features, parameters, data and classes, and ranges that cover every tree exactly once.
inline void check_tree_ranges(std::vector<tree_range>& parts) {
  if (parts.empty())
    throw data_error(
        "no forest parts to combine; pass every part grown by fit_forest_trees (trees 0 to n_estimators - 1)");
  std::stable_sort(parts.begin(), parts.end(),
                   [](const tree_range& a, const tree_range& b) { return a.first_tree < b.first_tree; });
  const tree_range& head = parts.front();
  const forest_contents& h = head.trees.contents();
  // The parameters that shape the trees, compared as the codec writes them (n_jobs never changes a tree).
  auto shaping = [](const forest_params& p) {
    nlohmann::json j = p;
    j.erase("n_jobs");
    return j;
  };
  const nlohmann::json head_params = shaping(h.params);
  for (const tree_range& part : parts) {
    if (part.n_trees() == 0)
      throw data_error(describe_part(part) + " holds no trees; it is not a part grown by fit_forest_trees");
    const forest_contents& q = part.trees.contents();
    if (part.tree_importances.size() != part.n_trees() * q.n_features)
      throw data_error(describe_part(part) + " has " + std::to_string(part.tree_importances.size()) +
                       " tree importances, expected " + std::to_string(part.n_trees() * q.n_features) +
                       " (trees x features)");
    if (&part == &head) continue;
    if (q.n_features != h.n_features)
      throw data_error(describe_part(part) + " has " + std::to_string(q.n_features) + " features, but " +
                       describe_part(head) + " has " + std::to_string(h.n_features) +
                       "; all parts must be grown on the same columns");
    if (q.feature_names != h.feature_names)
      throw data_error(describe_part(part) + " has other feature names than " + describe_part(head) +
                       "; all parts must be grown on the same columns");
    const nlohmann::json params = shaping(q.params);
    for (const auto& item : head_params.items())
      if (params.at(item.key()) != item.value())
        throw parameter_error(item.key(), params.at(item.key()).dump() + " in " + describe_part(part),
                              item.value().dump() + " as in " + describe_part(head) +
                                  "; all parts must be grown with the same parameters");
    if (part.n_rows != head.n_rows)
      throw data_error(describe_part(part) + " was grown on " + std::to_string(part.n_rows) + " rows, but " +
                       describe_part(head) + " on " + std::to_string(head.n_rows) +
                       "; all parts must be grown on the same X, y and sample weights");
    if (part.data_digest != head.data_digest)
      throw data_error(describe_part(part) + " was grown on other data than " + describe_part(head) +
                       " (another X, y or sample weights); all parts must be grown on the same data");
    if (q.classes != h.classes)
      throw data_error(describe_part(part) + " has the classes " + q.classes.dump() + ", but " + describe_part(head) +
                       " has " + h.classes.dump());
  }
  const std::size_t T = h.params.n_estimators;
  std::size_t next = 0;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    const tree_range& part = parts[k];
    if (part.first_tree > next)
      throw data_error("trees " + std::to_string(next) + ".." + std::to_string(std::min(part.first_tree, T) - 1) +
                       " are missing: no part holds them (the forest has n_estimators = " + std::to_string(T) +
                       " trees)");
    if (part.first_tree < next)
      throw data_error(describe_part(part) + " overlaps " + describe_part(parts[k - 1]) +
                       "; each tree must come from exactly one part");
    if (part.end_tree() > T)
      throw data_error(describe_part(part) + " reaches beyond the forest's n_estimators = " + std::to_string(T) +
                       " trees");
    next = part.end_tree();
  }
  if (next < T)
    throw data_error("trees " + std::to_string(next) + ".." + std::to_string(T - 1) +
                     " are missing: no part holds them (the forest has n_estimators = " + std::to_string(T) +
                     " trees)");
}

}  // namespace detail

/// Grows only trees [first_tree, first_tree + n_trees) of the forest fit_forest(params, X, y,
/// sample_weight, feature_names) grows, e.g. on one machine of a cluster; combine_forests joins the
/// ranges into that forest. Tree t's randomness derives from (params.random_state, t) alone, so a
/// range comes out the same wherever and with however many threads it is grown.
/// Throws what fit_forest throws, and parameter_error for a range outside [0, params.n_estimators).
/// Complexity: that of fit_forest for n_trees trees, plus one pass over X for its fingerprint.
inline tree_range fit_forest_trees(const forest_params& params, const matrix_view& X, const int* y,
                                   const double* sample_weight, std::vector<std::string> feature_names,
                                   std::size_t first_tree, std::size_t n_trees) {
  params.validate();
  if (n_trees < 1) throw parameter_error("n_trees", std::to_string(n_trees), "an integer >= 1");
  if (first_tree >= params.n_estimators || n_trees > params.n_estimators - first_tree)
    throw parameter_error("first_tree",
                          "trees " + std::to_string(first_tree) + ".." + std::to_string(first_tree + n_trees - 1),
                          "a range of trees within 0.." + std::to_string(params.n_estimators - 1) +
                              " (n_estimators = " + std::to_string(params.n_estimators) + ")");
  detail::forest_training tr = detail::prepare_training(params, X, y, sample_weight, feature_names.size());
  detail::grown_trees grown = detail::grow_tree_range(params, tr, std::move(feature_names), first_tree, n_trees);
  tree_range part;
  part.first_tree = first_tree;
  part.n_rows = X.rows;
  part.trees = random_forest(std::move(grown.contents));
  part.tree_importances = std::move(grown.tree_importances);
  part.data_digest = detail::data_digest(X, y, sample_weight);
  return part;
}

/// Convenience overload taking vectors.
inline tree_range fit_forest_trees(const forest_params& params, const matrix_view& X, const std::vector<int>& y,
                                   const std::vector<double>& sample_weight, std::vector<std::string> feature_names,
                                   std::size_t first_tree, std::size_t n_trees) {
  if (y.size() != X.rows)
    throw data_error("y has " + std::to_string(y.size()) + " labels for " + std::to_string(X.rows) + " rows");
  if (!sample_weight.empty() && sample_weight.size() != X.rows)
    throw data_error("sample_weight has " + std::to_string(sample_weight.size()) + " values for " +
                     std::to_string(X.rows) + " rows");
  return fit_forest_trees(params, X, y.data(), sample_weight.empty() ? nullptr : sample_weight.data(),
                          std::move(feature_names), first_tree, n_trees);
}

/// Joins the tree ranges grown by fit_forest_trees (in any order) into the forest that fit_forest
/// grows from the same params and data: the same trees and feature importances, bit for bit, and
/// (with oob_score) the same out-of-bag estimates, recomputed here from X and y.
/// X, y, sample_weight: the data the parts were grown on (checked against their fingerprint).
/// Throws data_error for parts that do not make one forest (other columns, other data, missing or
/// overlapping trees) or for other data than the parts', parameter_error naming a parameter in which
/// the parts differ. Uses the parts' n_jobs threads for the OOB estimates.
/// Complexity: O(nodes + n_rows * n_features), plus O(n_estimators * n_rows * depth) with oob_score.
inline random_forest combine_forests(std::vector<tree_range> parts, const matrix_view& X, const int* y,
                                     const double* sample_weight = nullptr) {
  detail::check_tree_ranges(parts);
  const tree_range& head = parts.front();
  if (X.rows != head.n_rows)
    throw data_error("X has " + std::to_string(X.rows) + " rows, but the parts were grown on " +
                     std::to_string(head.n_rows));
  if (X.cols != head.trees.n_features())
    throw data_error("X has " + std::to_string(X.cols) + " features, but the parts were grown with " +
                     std::to_string(head.trees.n_features()));
  const std::vector<std::uint8_t> labels = detail::checked_labels(y, X.rows);
  if (detail::data_digest(X, y, sample_weight) != head.data_digest)
    throw data_error(
        "X, y or sample_weight differ from the data the parts were grown on; pass the arrays given to "
        "fit_forest_trees");
  const forest_params params = head.trees.params();
  std::vector<detail::grown_trees> grown(parts.size());
  for (std::size_t k = 0; k < parts.size(); ++k) {
    grown[k].contents = std::move(parts[k].trees).release();
    grown[k].tree_importances = std::move(parts[k].tree_importances);
  }
  forest_contents joined = detail::join_grown_trees(grown);
  if (params.oob_score) detail::fill_oob(joined, X, labels, detail::resolve_n_jobs(params.n_jobs));
  return random_forest(std::move(joined));
}

/// Convenience overload taking vectors.
inline random_forest combine_forests(std::vector<tree_range> parts, const matrix_view& X, const std::vector<int>& y,
                                     const std::vector<double>& sample_weight = {}) {
  if (y.size() != X.rows)
    throw data_error("y has " + std::to_string(y.size()) + " labels for " + std::to_string(X.rows) + " rows");
  if (!sample_weight.empty() && sample_weight.size() != X.rows)
    throw data_error("sample_weight has " + std::to_string(sample_weight.size()) + " values for " +
                     std::to_string(X.rows) + " rows");
  return combine_forests(std::move(parts), X, y.data(), sample_weight.empty() ? nullptr : sample_weight.data());
}

/// The format tag of a tree range (on its way from the machine that grew it to combine_forests; a
/// transport format, not one to keep models in: see docs/distributed.md).
inline constexpr const char* tree_range_format_tag = "churn-forest-part";

/// A tree range as a JSON document: its range and data fingerprint, the per-tree importances and,
/// under "forest", its trees in the model format (with the whole forest's params).
inline nlohmann::json to_json(const tree_range& part) {
  nlohmann::json j;
  j["format"] = tree_range_format_tag;
  j["format_version"] = model_format_version;
  j["first_tree"] = part.first_tree;
  j["n_rows"] = part.n_rows;
  j["data_digest"] = part.data_digest;
  j["tree_importances"] = part.tree_importances;
  j["forest"] = to_json(part.trees);
  return j;
}

/// Rebuilds a tree range from its JSON document, validating everything (the trees as from_json
/// does). Throws model_format_error with the JSON path of the first problem.
inline tree_range tree_range_from_json(const nlohmann::json& j) {
  using detail::get_uint;
  using detail::require;
  if (!j.is_object())
    throw model_format_error("", "expected a JSON object at the top level, got " + detail::json_type(j));
  auto fmt = j.find("format");
  if (fmt == j.end() || !fmt->is_string() || fmt->get<std::string>() != tree_range_format_tag)
    throw model_format_error("/format", std::string("expected the format tag '") + tree_range_format_tag +
                                            "': this is not a churn forest part");
  const auto& ver = require(j, "", "format_version");
  if (!ver.is_number_integer() || ver.get<std::int64_t>() < 1 || ver.get<std::int64_t>() > model_format_version)
    throw model_format_error("/format_version", "unsupported version " + ver.dump() + " (this library reads 1 to " +
                                                    std::to_string(model_format_version) +
                                                    "); use the same churn everywhere");
  tree_range part;
  part.first_tree = get_uint(require(j, "", "first_tree"), "/first_tree");
  part.n_rows = get_uint(require(j, "", "n_rows"), "/n_rows");
  part.data_digest = get_uint(require(j, "", "data_digest"), "/data_digest");
  try {
    part.trees = from_json(require(j, "", "forest"));
  } catch (const model_format_error& e) {
    throw model_format_error("/forest" + e.path(), e.reason());
  }
  const std::size_t n_trees = part.trees.n_trees();
  // Without first_tree + n_trees, which wraps for a first_tree near 2^64 (issue 15).
  if (part.first_tree > part.trees.params().n_estimators ||
      n_trees > part.trees.params().n_estimators - part.first_tree)
    throw model_format_error("/first_tree",
                             "trees " + std::to_string(part.first_tree) + ".." +
                                 std::to_string(part.first_tree + n_trees - 1) +
                                 " reach beyond n_estimators = " + std::to_string(part.trees.params().n_estimators));
  const auto& imp = detail::get_array(require(j, "", "tree_importances"), "/tree_importances");
  if (imp.size() != n_trees * part.trees.n_features())
    throw model_format_error("/tree_importances", "has " + std::to_string(imp.size()) + " values, expected " +
                                                      std::to_string(n_trees * part.trees.n_features()) +
                                                      " (trees x features)");
  part.tree_importances.reserve(imp.size());
  for (std::size_t i = 0; i < imp.size(); ++i)
    part.tree_importances.push_back(detail::get_number(imp[i], "/tree_importances/" + std::to_string(i)));
  return part;
}

/// The range as a compact JSON string.
inline std::string dumps(const tree_range& part) { return to_json(part).dump(); }

/// Parses a range from dumps(range). Throws model_format_error for invalid or truncated text.
inline tree_range loads_tree_range(const std::string& text) {
  return tree_range_from_json(detail::parse_model_text(text));
}

/// Deprecated: renamed tree_range_format_tag (goes in the next release).
[[deprecated("renamed churn::tree_range_format_tag")]] inline constexpr const char* forest_part_format_tag =
    tree_range_format_tag;
/// Deprecated: renamed tree_range_from_json (goes in the next release).
[[deprecated("renamed churn::tree_range_from_json")]] inline tree_range forest_part_from_json(const nlohmann::json& j) {
  return tree_range_from_json(j);
}
/// Deprecated: renamed loads_tree_range (goes in the next release).
[[deprecated("renamed churn::loads_tree_range")]] inline tree_range loads_forest_part(const std::string& text) {
  return loads_tree_range(text);
}

}  // namespace churn
