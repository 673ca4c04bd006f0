#pragma once
// The hyper-parameters of a random forest (forest_params), named and meant as in scikit-learn's
// RandomForestClassifier, their checks (validate) and their JSON codec (to_json/from_json, the one
// mapping of names and values, used by model files and the Python binding). The trainer is fit_forest (forest_fit.hpp); the trained model random_forest
// (forest.hpp).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

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
  std::size_t max_samples = 0;      ///< rows drawn per tree (bootstrap only); 0: see max_samples_fraction
  double max_samples_fraction = 0;  ///< fraction of rows drawn per tree in (0, 1]; 0 (with max_samples 0): all
  class_weight_mode class_weight = class_weight_mode::none;
  std::array<double, 2> class_weights{{1.0, 1.0}};  ///< used with class_weight_mode::given
  bool oob_score = false;                           ///< compute the out-of-bag score and probabilities (bootstrap only)
  int n_jobs = 1;                                   ///< threads; -1: all cores
  std::uint64_t random_state = 0;

  /// Throws parameter_error naming the first invalid parameter.
  void validate() const {
    if (n_estimators < 1) throw parameter_error("n_estimators", std::to_string(n_estimators), "an integer >= 1");
    tree.validate();
    if (!bootstrap && (max_samples != 0 || max_samples_fraction != 0))
      throw parameter_error("max_samples",
                            max_samples ? std::to_string(max_samples) : std::to_string(max_samples_fraction),
                            "null when bootstrap is false");
    if (max_samples != 0 && max_samples_fraction != 0)
      throw parameter_error("max_samples", "both a count and a fraction", "one of them");
    if (!(max_samples_fraction >= 0 && max_samples_fraction <= 1))
      throw parameter_error("max_samples", std::to_string(max_samples_fraction), "a fraction in (0, 1]");
    if (oob_score && !bootstrap)
      throw parameter_error("oob_score", "true", "false when bootstrap is false (out-of-bag needs bootstrap)");
    for (double w : class_weights)
      if (!(w >= 0) || std::isinf(w)) throw parameter_error("class_weight", std::to_string(w), "finite weights >= 0");
    if (n_jobs == 0) throw parameter_error("n_jobs", "0", "a positive number of threads, or -1 for all cores");
    detail::check_thread_count("n_jobs", n_jobs);
  }
};

/// Throws parameter_error naming the first invalid parameter (the same as p.validate()).
inline void validate(const forest_params& p) { p.validate(); }

// ---- the JSON codec: the one mapping between forest_params and names and values -------------------
//
// Keys and values are scikit-learn's RandomForestClassifier parameters in JSON (null for None):
//   n_estimators, criterion ("gini", "entropy", "log_loss" read as "entropy"), splitter ("best",
//   "random"), max_depth (null or >= 1), min_samples_split, min_samples_leaf (integers),
//   min_weight_fraction_leaf, max_features ("sqrt", "log2", null, an integer count or a fraction),
//   max_leaf_nodes (null or an integer), min_impurity_decrease, bootstrap, max_samples (null, an integer
//   count or a fraction), class_weight (null, "balanced", "balanced_subsample" or [w0, w1], the weights
//   of class codes 0 and 1), oob_score, n_jobs (an integer; null: 1), random_state (an integer >= 0).
// Model files (docs/model-format.md) hold this object without n_jobs, which never changes the model.
// Reading checks types and what the struct can hold (a missing key keeps its default; an unknown key
// is an error); the ranges are validate()'s.

/// The names the codec knows, in the order to_json writes them.
inline const std::vector<std::string>& forest_param_names() {
  static const std::vector<std::string> names{"n_estimators",
                                              "criterion",
                                              "splitter",
                                              "max_depth",
                                              "min_samples_split",
                                              "min_samples_leaf",
                                              "min_weight_fraction_leaf",
                                              "max_features",
                                              "max_leaf_nodes",
                                              "min_impurity_decrease",
                                              "bootstrap",
                                              "max_samples",
                                              "class_weight",
                                              "oob_score",
                                              "n_jobs",
                                              "random_state"};
  return names;
}

/// nlohmann/json's hook: `nlohmann::json j = params;`.
inline void to_json(nlohmann::json& j, const forest_params& p) {
  auto count_or_null = [](std::size_t v) { return v ? nlohmann::json(v) : nlohmann::json(nullptr); };
  j = nlohmann::json::object();
  j["n_estimators"] = p.n_estimators;
  j["criterion"] = to_string(p.tree.split_criterion);
  j["splitter"] = to_string(p.tree.split_strategy);
  j["max_depth"] = count_or_null(p.tree.max_depth);
  j["min_samples_split"] = p.tree.min_samples_split;
  j["min_samples_leaf"] = p.tree.min_samples_leaf;
  j["min_weight_fraction_leaf"] = p.tree.min_weight_fraction_leaf;
  const auto& mf = p.tree.max_features;
  switch (mf.how) {
    case max_features_rule::kind::sqrt: j["max_features"] = "sqrt"; break;
    case max_features_rule::kind::log2: j["max_features"] = "log2"; break;
    case max_features_rule::kind::all: j["max_features"] = nullptr; break;
    case max_features_rule::kind::count: j["max_features"] = static_cast<std::uint64_t>(mf.value); break;
    case max_features_rule::kind::fraction: j["max_features"] = mf.value; break;
  }
  j["max_leaf_nodes"] = count_or_null(p.tree.max_leaf_nodes);
  j["min_impurity_decrease"] = p.tree.min_impurity_decrease;
  j["bootstrap"] = p.bootstrap;
  if (p.max_samples)
    j["max_samples"] = p.max_samples;
  else if (p.max_samples_fraction > 0)
    j["max_samples"] = p.max_samples_fraction;
  else
    j["max_samples"] = nullptr;
  switch (p.class_weight) {
    case class_weight_mode::none: j["class_weight"] = nullptr; break;
    case class_weight_mode::balanced: j["class_weight"] = "balanced"; break;
    case class_weight_mode::balanced_subsample: j["class_weight"] = "balanced_subsample"; break;
    case class_weight_mode::given: j["class_weight"] = {p.class_weights[0], p.class_weights[1]}; break;
  }
  j["oob_score"] = p.oob_score;
  j["n_jobs"] = p.n_jobs;
  j["random_state"] = p.random_state;
}

namespace detail {

// The value as the error message shows it: JSON text, cut short.
inline std::string param_text(const nlohmann::json& v) {
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

inline std::uint64_t param_uint(const nlohmann::json& v, const char* name, std::uint64_t low, const char* allowed) {
  if (v.is_number_unsigned() && v.get<std::uint64_t>() >= low) return v.get<std::uint64_t>();
  if (v.is_number_integer() && !v.is_number_unsigned() && v.get<std::int64_t>() >= 0 &&
      static_cast<std::uint64_t>(v.get<std::int64_t>()) >= low)
    return static_cast<std::uint64_t>(v.get<std::int64_t>());
  throw parameter_error(name, param_text(v), allowed);
}

inline double param_number(const nlohmann::json& v, const char* name, const char* allowed) {
  if (!v.is_number()) throw parameter_error(name, param_text(v), allowed);
  return v.get<double>();
}

inline bool param_bool(const nlohmann::json& v, const char* name) {
  if (!v.is_boolean()) throw parameter_error(name, param_text(v), "true or false");
  return v.get<bool>();
}

}  // namespace detail

/// nlohmann/json's hook: `j.get<forest_params>()`. Keys missing from `j` keep their defaults.
/// Throws parameter_error naming the parameter for an unknown key, a wrong type or a value the struct
/// cannot hold; call validate() for the ranges.
inline void from_json(const nlohmann::json& j, forest_params& p) {
  using detail::param_text;
  if (!j.is_object()) throw parameter_error("params", param_text(j), "an object of parameters by name");
  const auto& known = forest_param_names();
  for (const auto& item : j.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw parameter_error(item.key(), "no such parameter", "the parameters " + list);
    }
  }
  auto has = [&](const char* key) { return j.contains(key); };
  if (has("n_estimators")) p.n_estimators = detail::param_uint(j["n_estimators"], "n_estimators", 1, "an integer >= 1");
  if (has("criterion")) {
    const auto& v = j["criterion"];
    if (!v.is_string()) throw parameter_error("criterion", param_text(v), "\"gini\", \"entropy\", \"log_loss\"");
    p.tree.split_criterion = parse_criterion(v.get<std::string>());
  }
  if (has("splitter")) {
    const auto& v = j["splitter"];
    if (!v.is_string()) throw parameter_error("splitter", param_text(v), "\"best\", \"random\"");
    p.tree.split_strategy = parse_splitter(v.get<std::string>());
  }
  if (has("max_depth"))
    p.tree.max_depth =
        j["max_depth"].is_null() ? 0 : detail::param_uint(j["max_depth"], "max_depth", 1, "null or an integer >= 1");
  if (has("min_samples_split"))
    p.tree.min_samples_split = detail::param_uint(j["min_samples_split"], "min_samples_split", 0, "an integer >= 2");
  if (has("min_samples_leaf"))
    p.tree.min_samples_leaf = detail::param_uint(j["min_samples_leaf"], "min_samples_leaf", 0, "an integer >= 1");
  if (has("min_weight_fraction_leaf"))
    p.tree.min_weight_fraction_leaf =
        detail::param_number(j["min_weight_fraction_leaf"], "min_weight_fraction_leaf", "a number in [0, 0.5]");
  if (has("max_features")) {
    const auto& v = j["max_features"];
    constexpr const char* allowed = "\"sqrt\", \"log2\", null (all), an integer >= 1 or a fraction in (0, 1]";
    if (v.is_null())
      p.tree.max_features = max_features_rule::all();
    else if (v.is_string() && v.get<std::string>() == "sqrt")
      p.tree.max_features = max_features_rule::sqrt();
    else if (v.is_string() && v.get<std::string>() == "log2")
      p.tree.max_features = max_features_rule::log2();
    else if (v.is_number_integer())
      p.tree.max_features = max_features_rule::count(detail::param_uint(v, "max_features", 1, allowed));
    else if (v.is_number_float())
      p.tree.max_features = max_features_rule::fraction(v.get<double>());
    else
      throw parameter_error("max_features", param_text(v), allowed);
  }
  if (has("max_leaf_nodes"))
    p.tree.max_leaf_nodes = j["max_leaf_nodes"].is_null() ? 0
                                                          : detail::param_uint(j["max_leaf_nodes"], "max_leaf_nodes", 1,
                                                                               "null or an integer >= 2");
  if (has("min_impurity_decrease"))
    p.tree.min_impurity_decrease =
        detail::param_number(j["min_impurity_decrease"], "min_impurity_decrease", "a number >= 0");
  if (has("bootstrap")) p.bootstrap = detail::param_bool(j["bootstrap"], "bootstrap");
  if (has("max_samples")) {
    const auto& v = j["max_samples"];
    p.max_samples = 0;
    p.max_samples_fraction = 0;
    if (v.is_number_integer())
      p.max_samples = detail::param_uint(v, "max_samples", 1, "null, an integer >= 1 or a fraction in (0, 1]");
    else if (v.is_number_float())
      p.max_samples_fraction = v.get<double>();
    else if (!v.is_null())
      throw parameter_error("max_samples", param_text(v), "null, an integer >= 1 or a fraction in (0, 1]");
    if (v.is_number_float() && !(p.max_samples_fraction > 0 && p.max_samples_fraction <= 1))
      throw parameter_error("max_samples", param_text(v), "null, an integer >= 1 or a fraction in (0, 1]");
  }
  if (has("class_weight")) {
    const auto& v = j["class_weight"];
    constexpr const char* allowed = "null, \"balanced\", \"balanced_subsample\" or two weights [w0, w1]";
    p.class_weights = {1.0, 1.0};
    if (v.is_null()) {
      p.class_weight = class_weight_mode::none;
    } else if (v.is_string() && v.get<std::string>() == "balanced") {
      p.class_weight = class_weight_mode::balanced;
    } else if (v.is_string() && v.get<std::string>() == "balanced_subsample") {
      p.class_weight = class_weight_mode::balanced_subsample;
    } else if (v.is_array() && v.size() == 2 && v[0].is_number() && v[1].is_number()) {
      p.class_weight = class_weight_mode::given;
      p.class_weights = {v[0].get<double>(), v[1].get<double>()};
    } else {
      throw parameter_error("class_weight", param_text(v), allowed);
    }
  }
  if (has("oob_score")) p.oob_score = detail::param_bool(j["oob_score"], "oob_score");
  if (has("n_jobs")) {
    const auto& v = j["n_jobs"];
    constexpr const char* allowed = "null (1), a positive number of threads, or -1 for all cores (-2 all but one, ...)";
    if (v.is_null())
      p.n_jobs = 1;
    else if (v.is_number_integer() && !v.is_number_unsigned() &&
             v.get<std::int64_t>() >= std::numeric_limits<int>::min() &&
             v.get<std::int64_t>() <= std::numeric_limits<int>::max())
      p.n_jobs = static_cast<int>(v.get<std::int64_t>());
    else if (v.is_number_unsigned() &&
             v.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<int>::max()))
      p.n_jobs = static_cast<int>(v.get<std::uint64_t>());
    else if (v.is_number_integer())
      throw parameter_error("n_jobs", param_text(v), "at most " + std::to_string(detail::max_threads) + " threads");
    else
      throw parameter_error("n_jobs", param_text(v), allowed);
  }
  if (has("random_state")) p.random_state = detail::param_uint(j["random_state"], "random_state", 0, "an integer >= 0");
}

}  // namespace churn
