// Exact SHAP values for Python: churn._churn.TreeExplainer (plans a ForestModel's trees once; the
// estimator caches one). Conversion only; the algorithm is include/churn/shap.hpp. Releases the GIL.
// X crosses without a copy in any order and strides (view_of, common.hpp).
#include <string>

#include <churn/shap.hpp>

#include "common.hpp"

namespace py = pybind11;
using churn_py::dense;
using churn_py::view_of;

void bind_shap(py::module_& m) {
  py::class_<churn::tree_explainer>(m, "TreeExplainer",
                                    "Exact path-dependent TreeSHAP values of a ForestModel's P(class 1). Immutable "
                                    "and thread-safe; shap_values releases the GIL.")
      .def(py::init([](const churn::random_forest& forest) {
             py::gil_scoped_release release;
             return churn::tree_explainer(forest);
           }),
           py::arg("model"),
           "Plans every tree of `model` (O(nodes)). Raises ModelCapabilityError for a model without training "
           "cover (loaded from a format version 1 file).")
      .def_property_readonly("expected_value", &churn::tree_explainer::expected_value,
                             "E[P(class 1)] under the trees' training cover; plus a row's SHAP values, P(class 1).")
      .def_property_readonly("n_features", &churn::tree_explainer::n_features)
      .def_property_readonly("n_trees", &churn::tree_explainer::n_trees)
      .def_property_readonly("max_depth", &churn::tree_explainer::max_depth, "Edges on the longest root-to-leaf path.")
      .def_property_readonly("max_distinct_features", &churn::tree_explainer::max_distinct_features,
                             "Most distinct features on one root-to-leaf path.")
      .def(
          "shap_values",
          [](const churn::tree_explainer& e, const dense& X, int n_jobs) {
            const auto v = view_of(X);  // any strides: a column-major table is not copied
            if (v.cols != e.n_features())
              throw churn::data_error("X has " + std::to_string(v.cols) + " features, but the model was trained with " +
                                      std::to_string(e.n_features()));
            py::array_t<double> out({static_cast<py::ssize_t>(v.rows), static_cast<py::ssize_t>(e.n_features())});
            double* o = out.mutable_data();
            {
              py::gil_scoped_release release;
              e.shap_values(v, o, n_jobs);
            }
            return out;
          },
          py::arg("X"), py::arg("n_jobs") = 1,
          "SHAP values, rows x features: each row plus expected_value sums to P(class 1). The same whatever n_jobs.")
      .def("__repr__", [](const churn::tree_explainer& e) {
        return "<churn.TreeExplainer " + std::to_string(e.n_trees()) + " trees, " + std::to_string(e.n_features()) +
               " features>";
      });
}
