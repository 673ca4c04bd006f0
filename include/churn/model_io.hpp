#pragma once
// Saving and loading random forests as versioned JSON (nlohmann/json); the format is specified in
// docs/model-format.md. Loading validates everything (format tag, version, types, shapes, every child
// index) and reports each kind of corruption with its own message and the JSON path of the element.
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <churn/detail/file_io.hpp>
#include <churn/error.hpp>
#include <churn/forest.hpp>
#include <churn/tree.hpp>

namespace churn {

/// The format tag of a saved forest.
inline constexpr const char* model_format_tag = "churn-random-forest";
/// The newest format version this library reads and the one it writes. Version 2 added each node's
/// training cover; a model without it (read from a version 1 file) is written as version 1 again.
inline constexpr int model_format_version = 2;
/// The most features a model file may declare in /n_features without listing them in /feature_names
/// or /feature_importances (a listed count is bounded by the file's own length).
inline constexpr std::uint64_t max_unlisted_features = 4096;

namespace detail {

inline std::string json_type(const nlohmann::json& j) { return j.type_name(); }

inline const nlohmann::json& require(const nlohmann::json& obj, const std::string& path, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end()) throw model_format_error(path + "/" + key, "missing required field '" + std::string(key) + "'");
  return *it;
}

inline std::uint64_t get_uint(const nlohmann::json& j, const std::string& path) {
  if (!j.is_number_unsigned() && !(j.is_number_integer() && j.get<std::int64_t>() >= 0))
    throw model_format_error(path, "expected a non-negative integer, got " + json_type(j));
  return j.get<std::uint64_t>();
}

inline double get_number(const nlohmann::json& j, const std::string& path) {
  if (!j.is_number()) throw model_format_error(path, "expected a number, got " + json_type(j));
  return j.get<double>();
}

inline bool get_bool(const nlohmann::json& j, const std::string& path) {
  if (!j.is_boolean()) throw model_format_error(path, "expected true or false, got " + json_type(j));
  return j.get<bool>();
}

inline std::string get_string(const nlohmann::json& j, const std::string& path) {
  if (!j.is_string()) throw model_format_error(path, "expected a string, got " + json_type(j));
  return j.get<std::string>();
}

inline const nlohmann::json& get_array(const nlohmann::json& j, const std::string& path) {
  if (!j.is_array()) throw model_format_error(path, "expected an array, got " + json_type(j));
  return j;
}

// The params object of a model file: the codec's (forest_params.hpp) without n_jobs.
inline nlohmann::json params_to_json(const forest_params& p) {
  nlohmann::json j = p;
  j.erase("n_jobs");
  return j;
}

// Every key of the file's params object but n_jobs is required; the codec reads them, and validate()
// checks them. A parameter error becomes a model_format_error at /params/<name>.
inline forest_params params_from_json(const nlohmann::json& j, const std::string& path) {
  if (!j.is_object()) throw model_format_error(path, "expected an object, got " + json_type(j));
  for (const auto& name : forest_param_names())
    if (name != "n_jobs") require(j, path, name.c_str());
  forest_params p;
  try {
    p = j.get<forest_params>();
    p.validate();
  } catch (const parameter_error& e) {
    throw model_format_error(path + "/" + e.name(), e.what());
  }
  return p;
}

}  // namespace detail

/// The model as a JSON document (see docs/model-format.md).
inline nlohmann::json to_json(const random_forest& model) {
  const forest_contents& p = model.contents();
  nlohmann::json j;
  j["format"] = model_format_tag;
  j["format_version"] = model.has_cover() ? model_format_version : 1;
  j["n_features"] = p.n_features;
  j["feature_names"] = p.feature_names;
  j["classes"] = p.classes;
  j["threshold"] = p.threshold;
  j["params"] = detail::params_to_json(p.params);
  j["feature_importances"] = p.feature_importances;
  j["oob_score"] = std::isnan(p.oob_score) ? nlohmann::json(nullptr) : nlohmann::json(p.oob_score);
  j["n_trees"] = model.n_trees();
  nlohmann::json trees = nlohmann::json::array();
  for (std::size_t t = 0; t < model.n_trees(); ++t) {
    const tree_node* nodes = model.tree(t);
    const std::size_t n = model.tree_size(t);
    std::vector<std::int64_t> feature(n);
    std::vector<double> threshold(n), value(n);
    std::vector<std::uint32_t> right(n);
    std::vector<int> missing_left(n);
    for (std::size_t i = 0; i < n; ++i) {
      const tree_node& nd = nodes[i];
      feature[i] = nd.is_leaf() ? -1 : static_cast<std::int64_t>(nd.feature());
      threshold[i] = nd.is_leaf() ? 0.0 : static_cast<double>(nd.threshold);
      value[i] = static_cast<double>(nd.value);
      right[i] = nd.is_leaf() ? 0 : nd.right;
      missing_left[i] = nd.is_leaf() ? 0 : (nd.missing_left() ? 1 : 0);
    }
    nlohmann::json tj;
    tj["feature"] = std::move(feature);
    tj["threshold"] = std::move(threshold);
    tj["value"] = std::move(value);
    tj["right"] = std::move(right);
    tj["missing_left"] = std::move(missing_left);
    if (model.has_cover()) {
      const double* cover = model.tree_cover(t);
      tj["cover"] = std::vector<double>(cover, cover + n);
    }
    trees.push_back(std::move(tj));
  }
  j["trees"] = std::move(trees);
  j["metadata"] = p.metadata;
  return j;
}

/// Rebuilds a model from its JSON document, validating everything.
/// Throws model_format_error with the JSON path of the first problem.
inline random_forest from_json(const nlohmann::json& j) {
  using detail::get_uint;
  using detail::require;
  if (!j.is_object())
    throw model_format_error("", "expected a JSON object at the top level, got " + detail::json_type(j));
  auto fmt = j.find("format");
  if (fmt == j.end() || !fmt->is_string())
    throw model_format_error("/format", "no format tag: this is not a churn model file");
  if (fmt->get<std::string>() != model_format_tag)
    throw model_format_error("/format", "format tag is '" + fmt->get<std::string>() + "', expected '" +
                                            model_format_tag + "': this is not a churn random forest");
  const auto& ver = require(j, "", "format_version");
  if (!ver.is_number_integer())
    throw model_format_error("/format_version", "expected an integer, got " + detail::json_type(ver));
  const auto version = ver.get<std::int64_t>();
  if (version > model_format_version)
    throw model_format_error("/format_version", "version " + std::to_string(version) +
                                                    " is newer than this library reads (up to " +
                                                    std::to_string(model_format_version) + "); upgrade churn");
  if (version < 1) throw model_format_error("/format_version", "invalid version " + std::to_string(version));

  forest_contents p;
  p.n_features = get_uint(require(j, "", "n_features"), "/n_features");
  if (p.n_features == 0 || p.n_features > tree_node::max_features)
    throw model_format_error("/n_features", "out of range: " + std::to_string(p.n_features));
  const auto& names = detail::get_array(require(j, "", "feature_names"), "/feature_names");
  for (std::size_t i = 0; i < names.size(); ++i)
    p.feature_names.push_back(detail::get_string(names[i], "/feature_names/" + std::to_string(i)));
  if (!p.feature_names.empty() && p.feature_names.size() != p.n_features)
    throw model_format_error("/feature_names", "has " + std::to_string(p.feature_names.size()) + " names, expected " +
                                                   std::to_string(p.n_features) + " (n_features) or none");
  const auto& classes = detail::get_array(require(j, "", "classes"), "/classes");
  if (classes.size() != 2)
    throw model_format_error("/classes", "expected 2 class labels, got " + std::to_string(classes.size()));
  p.classes = classes;
  p.threshold = detail::get_number(require(j, "", "threshold"), "/threshold");
  if (!(p.threshold >= 0 && p.threshold <= 1))
    throw model_format_error("/threshold", "must be in [0, 1], got " + std::to_string(p.threshold));
  p.params = detail::params_from_json(require(j, "", "params"), "/params");
  const auto& imp = detail::get_array(require(j, "", "feature_importances"), "/feature_importances");
  // A count must be bounded by what the file holds: a 681-byte file declaring 2^30 - 1 features
  // loaded, and the feature names x0, x1, ... made for it took 6 GB (issue 15). A model lists its
  // features in feature_names or feature_importances; one that lists neither may have up to
  // max_unlisted_features (docs/model-format.md).
  if (p.feature_names.empty() && imp.empty() && p.n_features > max_unlisted_features)
    throw model_format_error("/n_features",
                             std::to_string(p.n_features) +
                                 " features, but neither /feature_names nor "
                                 "/feature_importances lists them; a model that lists neither may have at most " +
                                 std::to_string(max_unlisted_features));
  if (!imp.empty() && imp.size() != p.n_features)
    throw model_format_error("/feature_importances",
                             "has " + std::to_string(imp.size()) + " values, expected " + std::to_string(p.n_features));
  for (std::size_t i = 0; i < imp.size(); ++i)
    p.feature_importances.push_back(detail::get_number(imp[i], "/feature_importances/" + std::to_string(i)));
  const auto& oob = require(j, "", "oob_score");
  if (!oob.is_null()) p.oob_score = detail::get_number(oob, "/oob_score");
  const auto& meta = require(j, "", "metadata");
  if (!meta.is_object()) throw model_format_error("/metadata", "expected an object, got " + detail::json_type(meta));
  p.metadata = meta;

  const std::uint64_t n_trees = get_uint(require(j, "", "n_trees"), "/n_trees");
  const auto& trees = detail::get_array(require(j, "", "trees"), "/trees");
  if (trees.size() != n_trees)
    throw model_format_error("/trees", "holds " + std::to_string(trees.size()) + " trees but /n_trees says " +
                                           std::to_string(n_trees) + " (truncated or edited file?)");
  if (trees.empty()) throw model_format_error("/trees", "a forest needs at least one tree");
  p.tree_offsets.push_back(0);
  for (std::size_t t = 0; t < trees.size(); ++t) {
    const std::string tp = "/trees/" + std::to_string(t);
    const auto& tj = trees[t];
    if (!tj.is_object()) throw model_format_error(tp, "expected an object, got " + detail::json_type(tj));
    const char* fields[] = {"feature", "threshold", "value", "right", "missing_left"};
    const nlohmann::json* arr[5];
    for (int k = 0; k < 5; ++k) arr[k] = &detail::get_array(require(tj, tp, fields[k]), tp + "/" + fields[k]);
    const std::size_t n = arr[0]->size();
    if (n == 0) throw model_format_error(tp + "/feature", "a tree must have at least one node");
    for (int k = 1; k < 5; ++k)
      if (arr[k]->size() != n)
        throw model_format_error(tp + "/" + fields[k], "has " + std::to_string(arr[k]->size()) + " entries, expected " +
                                                           std::to_string(n) + " (the length of " + tp + "/feature)");
    const std::size_t base = p.nodes.size();
    p.nodes.resize(base + n);
    for (std::size_t i = 0; i < n; ++i) {
      const auto& f = (*arr[0])[i];
      const auto& th = (*arr[1])[i];
      const auto& v = (*arr[2])[i];
      const auto& r = (*arr[3])[i];
      const auto& ml = (*arr[4])[i];
      auto where = [&](int k) { return tp + "/" + fields[k] + "/" + std::to_string(i); };
      if (!f.is_number_integer())
        throw model_format_error(where(0), "expected an integer feature index, got " + detail::json_type(f));
      if (!th.is_number()) throw model_format_error(where(1), "expected a number, got " + detail::json_type(th));
      if (!v.is_number()) throw model_format_error(where(2), "expected a number, got " + detail::json_type(v));
      if (!r.is_number_integer())
        throw model_format_error(where(3), "expected an integer child index, got " + detail::json_type(r));
      if (!ml.is_number_integer() || (ml.get<std::int64_t>() != 0 && ml.get<std::int64_t>() != 1))
        throw model_format_error(where(4), "expected 0 or 1");
      const std::int64_t fi = f.get<std::int64_t>();
      const std::int64_t ri = r.get<std::int64_t>();
      const double value = v.get<double>();
      if (!(value >= 0 && value <= 1))
        throw model_format_error(where(2), "node value " + v.dump() + " is not a probability in [0, 1]");
      if (fi == -1) {
        p.nodes[base + i] = tree_node::leaf(static_cast<float>(value));
        continue;
      }
      if (fi < 0 || static_cast<std::uint64_t>(fi) >= p.n_features)
        throw model_format_error(where(0), "split feature " + std::to_string(fi) + " out of range (the model has " +
                                               std::to_string(p.n_features) + " features; -1 marks a leaf)");
      if (ri <= 0 || static_cast<std::uint64_t>(ri) >= n)
        throw model_format_error(where(3), "child index " + std::to_string(ri) + " out of range (the tree has " +
                                               std::to_string(n) + " nodes)");
      // Trees compare float32: a threshold beyond its range would turn infinite here, and saving the
      // model would then write null (found by fuzz_model).
      if (!(std::fabs(th.get<double>()) <= std::numeric_limits<float>::max()))
        throw model_format_error(where(1), "split threshold " + th.dump() + " is beyond the float32 range");
      p.nodes[base + i] =
          tree_node::split(static_cast<std::uint32_t>(fi), static_cast<float>(th.get<double>()),
                           ml.get<std::int64_t>() == 1, static_cast<float>(value), static_cast<std::uint32_t>(ri));
    }
    const auto problem = detail::check_tree(p.nodes.data() + base, n, p.n_features);
    if (!problem.ok())
      throw model_format_error(tp + "/" + problem.field + "/" + std::to_string(problem.node), problem.message);
    if (version >= 2) {
      // Each node's training cover (version 2 on); random_forest's check validates the values.
      const auto& cover = detail::get_array(require(tj, tp, "cover"), tp + "/cover");
      if (cover.size() != n)
        throw model_format_error(tp + "/cover", "has " + std::to_string(cover.size()) + " entries, expected " +
                                                    std::to_string(n) + " (the length of " + tp + "/feature)");
      for (std::size_t i = 0; i < n; ++i)
        p.cover.push_back(detail::get_number(cover[i], tp + "/cover/" + std::to_string(i)));
      const auto cover_problem = detail::check_cover(p.nodes.data() + base, p.cover.data() + base, n);
      if (!cover_problem.ok())
        throw model_format_error(tp + "/cover/" + std::to_string(cover_problem.node), cover_problem.message);
    }
    p.tree_offsets.push_back(static_cast<std::uint32_t>(p.nodes.size()));
  }
  return random_forest(std::move(p));
}

/// The model as a compact JSON string (what save_model writes).
inline std::string dumps(const random_forest& model) { return to_json(model).dump(); }

namespace detail {

// Parses JSON text; throws model_format_error for invalid or truncated text.
inline nlohmann::json parse_model_text(const std::string& text) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw model_format_error("", std::string("not valid JSON (truncated or corrupt file?) at byte ") +
                                     std::to_string(e.byte) + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    // Well-formed text nlohmann cannot hold, e.g. a number beyond double's range (found by fuzz_model).
    throw model_format_error("", std::string("not a valid model file: ") + e.what());
  }
}

}  // namespace detail

/// Parses a model from a JSON string. Throws model_format_error for invalid or truncated text.
inline random_forest loads(const std::string& text) { return from_json(detail::parse_model_text(text)); }

/// Writes the model to `path` as JSON. Throws io_error naming the path when the file cannot be
/// written (a directory, no permission, disk full).
inline void save_model(const random_forest& model, const std::string& path) {
  detail::write_whole_file(path, dumps(model), "model");
}

/// Reads a model saved by save_model. Throws io_error naming the path when the file cannot be read
/// (missing, a directory, no permission: never std::ios_base::failure) and model_format_error when it
/// is not a valid model.
inline random_forest load_model(const std::string& path) {
  const std::string text = detail::read_whole_file(path, "model file");
  if (text.empty()) throw model_format_error("", "model file '" + path + "' is empty");
  return loads(text);
}

}  // namespace churn
