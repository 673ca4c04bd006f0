// The random forest for Python: churn._churn.ForestModel (the trained C++ model), fit_forest, and the tree
// ranges (ForestPart: fit_forest_trees, combine_forests) that cluster workers grow.
// Conversion only; the scikit-learn-style estimator lives in python/churn/forest.py. Heavy calls release
// the GIL. The parameters cross as one dict with scikit-learn's names, read by the C++ codec
// (forest_params.hpp); JSON values (metadata, class labels) cross as JSON text.
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <churn/forest.hpp>
#include <churn/forest_fit.hpp>
#include <churn/forest_inspect.hpp>
#include <churn/forest_ranges.hpp>
#include <churn/model_io.hpp>

#include "common.hpp"

namespace py = pybind11;
using churn_py::dense;
using churn_py::move_to_numpy;
using churn_py::to_numpy;
using churn_py::view_of;

namespace {

std::vector<int> labels_of(const py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>& y,
                           std::size_t rows) {
  if (y.ndim() != 1) throw churn::data_error("y must be 1-D");
  if (static_cast<std::size_t>(y.shape(0)) != rows)
    throw churn::data_error("y has " + std::to_string(y.shape(0)) + " labels for " + std::to_string(rows) + " rows");
  return std::vector<int>(y.data(), y.data() + y.shape(0));
}

using labels_array = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;

std::vector<double> weights_of(const py::object& sample_weight) {
  std::vector<double> sw;
  if (!sample_weight.is_none()) {
    auto w = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(sample_weight);
    if (!w || w.ndim() != 1) throw churn::data_error("sample_weight must be a 1-D array of numbers");
    sw.assign(w.data(), w.data() + w.shape(0));
  }
  return sw;
}

// A Python value as JSON for the parameter codec (forest_params.hpp): None, bool, int, float, str, lists
// and tuples of them, str-keyed dicts; a numpy scalar by its Python value. Anything else is a
// parameter_error naming the parameter (`name`: the key the value sits under).
nlohmann::json json_of(const py::handle& v, const std::string& name) {
  if (v.is_none()) return nullptr;
  if (py::isinstance<py::bool_>(v)) return v.cast<bool>();
  if (py::isinstance<py::int_>(v)) {
    const py::int_ i = py::reinterpret_borrow<py::int_>(v);
    if (i >= py::int_(0)) {
      if (i <= py::int_(std::numeric_limits<std::uint64_t>::max())) return v.cast<std::uint64_t>();
    } else if (i >= py::int_(std::numeric_limits<std::int64_t>::min())) {
      return v.cast<std::int64_t>();
    }
    throw churn::parameter_error(name, py::str(v).cast<std::string>(), "an integer that fits in 64 bits");
  }
  if (py::isinstance<py::float_>(v)) return v.cast<double>();
  if (py::isinstance<py::str>(v)) return v.cast<std::string>();
  if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& item : v) a.push_back(json_of(item, name));
    return a;
  }
  if (py::isinstance<py::dict>(v)) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& item : py::reinterpret_borrow<py::dict>(v)) {
      if (!py::isinstance<py::str>(item.first))
        throw churn::parameter_error(name, "the key " + py::repr(item.first).cast<std::string>(), "string keys");
      const auto key = item.first.cast<std::string>();
      o[key] = json_of(item.second, key);
    }
    return o;
  }
  if (py::hasattr(v, "dtype") && py::hasattr(v, "item") && py::hasattr(v, "ndim") && v.attr("ndim").cast<int>() == 0)
    return json_of(v.attr("item")(), name);  // a numpy scalar
  throw churn::parameter_error(
      name, py::repr(v).cast<std::string>() + " of type " + py::str(v.get_type().attr("__name__")).cast<std::string>(),
      "None, a bool, a number, a string or a list of them");
}

// The parameters of a dict with scikit-learn's names (missing keys keep their defaults), checked:
// a parameter_error names the first bad one.
churn::forest_params params_of(const py::dict& params) {
  auto p = json_of(params, "params").get<churn::forest_params>();
  churn::validate(p);
  return p;
}

py::object to_python(const nlohmann::json& j) { return py::module_::import("json").attr("loads")(j.dump()); }

}  // namespace

void bind_forest(py::module_& m) {
  py::enum_<churn::importance_scoring>(m, "ImportanceScoring", "The score whose drop permutation importance measures.")
      .value("roc_auc", churn::importance_scoring::roc_auc)
      .value("accuracy", churn::importance_scoring::accuracy);

  py::class_<churn::random_forest>(m, "ForestModel",
                                   "A trained random forest (binary). Immutable apart from threshold and metadata; "
                                   "predictions are thread-safe and release the GIL.")
      .def_property_readonly("n_features", &churn::random_forest::n_features)
      .def_property_readonly("n_trees", &churn::random_forest::n_trees)
      .def_property_readonly("n_nodes", &churn::random_forest::n_nodes)
      .def_property_readonly("n_leaves", &churn::random_forest::n_leaves)
      .def_property_readonly("memory_bytes", &churn::random_forest::memory_bytes,
                             "Bytes of the node arrays (16 per node) and their training cover (8 per node).")
      .def_property("feature_names", &churn::random_forest::feature_names, &churn::random_forest::set_feature_names)
      .def_property(
          "classes_json", [](const churn::random_forest& f) { return f.classes().dump(); },
          [](churn::random_forest& f, const std::string& text) { f.set_classes(nlohmann::json::parse(text)); },
          "The two class labels as JSON text.")
      .def_property(
          "metadata_json", [](const churn::random_forest& f) { return f.metadata().dump(); },
          [](churn::random_forest& f, const std::string& text) {
            auto j = nlohmann::json::parse(text);
            if (!j.is_object()) throw churn::data_error("metadata must be a JSON object");
            f.metadata() = std::move(j);
          },
          "Free-form metadata as JSON text.")
      .def_property("threshold", &churn::random_forest::threshold, &churn::random_forest::set_threshold)
      .def_property_readonly(
          "params", [](const churn::random_forest& f) { return to_python(churn::detail::params_to_json(f.params())); },
          "The parameters the model was grown with, as its file holds them (scikit-learn's names; no n_jobs).")
      .def_property_readonly("feature_importances",
                             [](const churn::random_forest& f) { return to_numpy(f.feature_importances()); })
      .def_property_readonly("oob_score",
                             [](const churn::random_forest& f) -> py::object {
                               if (!f.has_oob_score()) return py::none();
                               return py::float_(f.oob_score());
                             })
      .def_property_readonly(
          "oob_probability", [](const churn::random_forest& f) { return to_numpy(f.oob_probability()); },
          "P(class 1) from the trees that did not see each training row (NaN: never out of bag).")
      .def(
          "predict_proba",
          [](const churn::random_forest& f, const dense& X, int n_jobs, int columns) -> py::array_t<double> {
            if (columns != 1 && columns != 2)
              throw churn::parameter_error("columns", std::to_string(columns),
                                           "1 (P(class 1) per row) or 2 (P(class 0), P(class 1) per row)");
            const auto v = view_of(X);
            std::vector<double> p1(v.rows);
            if (columns == 1) {
              {
                py::gil_scoped_release release;
                f.predict_proba(v, p1.data(), n_jobs);
              }
              return move_to_numpy(std::move(p1));
            }
            py::array_t<double> out({static_cast<py::ssize_t>(v.rows), py::ssize_t{2}});
            double* o = out.mutable_data();
            {
              py::gil_scoped_release release;
              f.predict_proba(v, p1.data(), n_jobs);
              for (std::size_t r = 0; r < v.rows; ++r) {
                o[2 * r] = 1.0 - p1[r];
                o[2 * r + 1] = p1[r];
              }
            }
            return out;
          },
          py::arg("X"), py::arg("n_jobs") = 1, py::arg("columns") = 1,
          "P(class 1) per row (columns=1, a 1-D array), or both classes' probabilities (columns=2: rows x 2, "
          "P(class 0) = 1 - P(class 1) first, as scikit-learn's predict_proba).")
      .def(
          "contributions",
          [](const churn::random_forest& f, const dense& X, int n_jobs) {
            const auto v = view_of(X);
            py::array_t<double> out({static_cast<py::ssize_t>(v.rows), static_cast<py::ssize_t>(f.n_features() + 1)});
            double* o = out.mutable_data();
            {
              py::gil_scoped_release release;
              f.contributions(v, o, n_jobs);
            }
            return out;
          },
          py::arg("X"), py::arg("n_jobs") = 1,
          "Decision-path contributions: rows x (features + 1); the last column is the bias. Each row sums to P(class "
          "1).")
      .def(
          "permutation_importance",
          [](const churn::random_forest& f, const dense& X,
             const py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>& y,
             churn::importance_scoring scoring, std::size_t n_repeats, std::uint64_t seed, int n_jobs) {
            const auto v = view_of(X);
            auto labels = labels_of(y, v.rows);
            churn::permutation_importance_result r;
            {
              py::gil_scoped_release release;
              r = churn::permutation_importance(f, v, labels, scoring, n_repeats, seed, n_jobs);
            }
            py::dict d;
            d["baseline"] = r.baseline;
            d["importances_mean"] = to_numpy(r.mean);
            d["importances_std"] = to_numpy(r.std);
            py::array_t<double> drops(
                {static_cast<py::ssize_t>(f.n_features()), static_cast<py::ssize_t>(r.n_repeats)});
            std::copy(r.drops.begin(), r.drops.end(), drops.mutable_data());
            d["importances"] = drops;
            return d;
          },
          py::arg("X"), py::arg("y"), py::arg("scoring") = churn::importance_scoring::roc_auc, py::arg("n_repeats") = 5,
          py::arg("seed") = 0, py::arg("n_jobs") = 1)
      .def(
          "tree_arrays",
          [](const churn::random_forest& f, std::size_t t) {
            if (t >= f.n_trees())
              throw churn::parameter_error("tree", std::to_string(t),
                                           "a tree index in [0, " + std::to_string(f.n_trees()) + ")");
            const auto* nodes = f.tree(t);
            const std::size_t n = f.tree_size(t);
            std::vector<std::int64_t> feature(n), right(n);
            std::vector<double> threshold(n), value(n);
            std::vector<std::uint8_t> missing_left(n);
            for (std::size_t i = 0; i < n; ++i) {
              // Both arms as int64: with an unsigned arm, ?: would turn -1 into 4294967295.
              feature[i] = nodes[i].is_leaf() ? std::int64_t{-1} : static_cast<std::int64_t>(nodes[i].feature());
              threshold[i] = nodes[i].threshold;
              value[i] = nodes[i].value;
              right[i] = nodes[i].right;
              missing_left[i] = nodes[i].missing_left();
            }
            py::dict d;
            d["feature"] = move_to_numpy(std::move(feature));
            d["threshold"] = move_to_numpy(std::move(threshold));
            d["value"] = move_to_numpy(std::move(value));
            d["right"] = move_to_numpy(std::move(right));
            d["missing_left"] = move_to_numpy(std::move(missing_left));
            if (f.has_cover()) {
              const double* cover = f.tree_cover(t);
              d["cover"] = move_to_numpy(std::vector<double>(cover, cover + n));
            }
            return d;
          },
          py::arg("tree"),
          "The nodes of one tree (pre-order; left child of i is i + 1; feature -1 marks a leaf); 'cover' (the nodes' "
          "weighted training sample counts) unless the model was read from a format version 1 file.")
      .def_property_readonly(
          "has_cover", &churn::random_forest::has_cover,
          "Whether the trees keep their training cover (False for a model read from a format version 1 "
          "file: no SHAP values).")
      .def(
          "dumps", [](const churn::random_forest& f) { return churn::dumps(f); }, "The model as JSON text.")
      .def(
          "save", [](const churn::random_forest& f, const std::string& path) { churn::save_model(f, path); },
          py::arg("path"))
      .def_static(
          "loads",
          [](const std::string& text) {
            py::gil_scoped_release release;
            return churn::loads(text);
          },
          py::arg("text"))
      .def_static(
          "load",
          [](const std::string& path) {
            py::gil_scoped_release release;
            return churn::load_model(path);
          },
          py::arg("path"))
      .def("__repr__", [](const churn::random_forest& f) {
        return "<churn.ForestModel " + std::to_string(f.n_trees()) + " trees, " + std::to_string(f.n_nodes()) +
               " nodes, " + std::to_string(f.n_features()) + " features>";
      });

  m.def(
      "fit_forest",
      [](const dense& X, const labels_array& y, const py::object& sample_weight, const py::dict& params,
         std::vector<std::string> feature_names) {
        const auto v = view_of(X);
        auto labels = labels_of(y, v.rows);
        const auto sw = weights_of(sample_weight);
        const auto p = params_of(params);
        py::gil_scoped_release release;
        return churn::fit_forest(p, v, labels, sw, std::move(feature_names));
      },
      py::arg("X"), py::arg("y"), py::arg("sample_weight") = py::none(), py::kw_only(), py::arg("params") = py::dict(),
      py::arg("feature_names") = std::vector<std::string>{},
      "Trains a forest on X (float64 rows x features, NaN = missing) and y (0/1) with `params`, a dict with "
      "scikit-learn's names (see validate_forest_params). Releases the GIL. Low level: "
      "churn.RandomForestClassifier is the scikit-learn-style estimator.");

  m.def(
      "validate_forest_params", [](const py::dict& params) { return to_python(nlohmann::json(params_of(params))); },
      py::arg("params"),
      "Checks forest parameters without data: a dict with scikit-learn's names (n_estimators, criterion, "
      "splitter, max_depth, min_samples_split, min_samples_leaf, min_weight_fraction_leaf, max_features, "
      "max_leaf_nodes, min_impurity_decrease, bootstrap, max_samples, class_weight as None, 'balanced', "
      "'balanced_subsample' or [w0, w1], oob_score, n_jobs, random_state as an int; a missing key keeps its "
      "default). Returns every parameter, defaults filled in; raises ParameterError naming the first bad one "
      "(an unknown key, a wrong type, a value out of range).");

  py::class_<churn::tree_range>(m, "ForestPart",
                                "Trees first_tree .. first_tree + n_trees - 1 of a forest, grown by fit_forest_trees; "
                                "combine_forests joins the parts into the forest fit_forest grows. Pickles as JSON.")
      .def_property_readonly("first_tree", [](const churn::tree_range& p) { return p.first_tree; })
      .def_property_readonly("n_trees", &churn::tree_range::n_trees)
      .def_property_readonly(
          "n_estimators", [](const churn::tree_range& p) { return p.trees.params().n_estimators; },
          "Trees in the whole forest.")
      .def_property_readonly(
          "n_rows", [](const churn::tree_range& p) { return p.n_rows; }, "Rows of the training data.")
      .def(
          "dumps", [](const churn::tree_range& p) { return churn::dumps(p); }, "The part as JSON text.")
      .def_static(
          "loads",
          [](const std::string& text) {
            py::gil_scoped_release release;
            return churn::loads_tree_range(text);
          },
          py::arg("text"))
      .def(py::pickle([](const churn::tree_range& p) { return py::make_tuple(churn::dumps(p)); },
                      [](const py::tuple& state) {
                        if (state.size() != 1) throw churn::data_error("a pickled ForestPart holds one JSON text");
                        return churn::loads_tree_range(state[0].cast<std::string>());
                      }))
      .def("__repr__", [](const churn::tree_range& p) {
        return "<churn.ForestPart trees " + std::to_string(p.first_tree) + ".." + std::to_string(p.end_tree() - 1) +
               " of " + std::to_string(p.trees.params().n_estimators) + ", " + std::to_string(p.trees.n_nodes()) +
               " nodes>";
      });

  m.def(
      "fit_forest_trees",
      [](const dense& X, const labels_array& y, const py::object& sample_weight, std::size_t first_tree,
         std::size_t n_trees, const py::dict& params, std::vector<std::string> feature_names) {
        const auto v = view_of(X);
        auto labels = labels_of(y, v.rows);
        const auto sw = weights_of(sample_weight);
        const auto p = params_of(params);
        py::gil_scoped_release release;
        return churn::fit_forest_trees(p, v, labels, sw, std::move(feature_names), first_tree, n_trees);
      },
      py::arg("X"), py::arg("y"), py::arg("sample_weight") = py::none(), py::kw_only(), py::arg("first_tree"),
      py::arg("n_trees"), py::arg("params") = py::dict(), py::arg("feature_names") = std::vector<std::string>{},
      "Grows only trees first_tree .. first_tree + n_trees - 1 of the forest fit_forest grows with the same "
      "arguments (e.g. on one worker of a cluster). Releases the GIL.");

  m.def(
      "combine_forests",
      [](std::vector<churn::tree_range> parts, const dense& X, const labels_array& y, const py::object& sample_weight) {
        const auto v = view_of(X);
        auto labels = labels_of(y, v.rows);
        const auto sw = weights_of(sample_weight);
        py::gil_scoped_release release;
        return churn::combine_forests(std::move(parts), v, labels, sw);
      },
      py::arg("parts"), py::arg("X"), py::arg("y"), py::arg("sample_weight") = py::none(),
      "Joins the parts grown by fit_forest_trees (in any order) into the forest fit_forest grows from the same data "
      "and parameters, bit for bit; X, y, sample_weight: the parts' training data (checked; the OOB estimates are "
      "recomputed from it). Releases the GIL.");

  m.def(
      "load_forest_model",
      [](const std::string& path) {
        py::gil_scoped_release release;
        return churn::load_model(path);
      },
      py::arg("path"), "Loads a ForestModel saved with ForestModel.save (see docs/model-format.md).");
}
