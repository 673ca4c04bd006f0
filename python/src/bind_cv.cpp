// Folds, splits, the logistic baseline and cross-validation for Python. python/churn/evaluation.py
// builds the user-facing API (LogisticRegression, cross_validate) on these. Conversion only.
#include <string>
#include <utility>
#include <vector>

#include <churn/baseline.hpp>
#include <churn/cv.hpp>
#include <churn/logistic.hpp>

#include "common.hpp"
#include "eval_common.hpp"

namespace py = pybind11;
using churn_py::labels_from_python;
using churn_py::matrix_from_python;
using churn_py::move_to_numpy;

namespace {

std::uint64_t seed_from_python(const py::int_& seed) {
  const auto v = seed.cast<long long>();
  if (v < 0 || v > 0xffffffffLL) throw churn::parameter_error("seed", std::to_string(v), "0 to 4294967295");
  return static_cast<std::uint64_t>(v);
}

py::array_t<std::int64_t> indices_to_numpy(const std::vector<std::size_t>& idx) {
  py::array_t<std::int64_t> out(static_cast<py::ssize_t>(idx.size()));
  auto* d = out.mutable_data();
  for (std::size_t i = 0; i < idx.size(); ++i) d[i] = static_cast<std::int64_t>(idx[i]);
  return out;
}

std::vector<std::size_t> indices_from_python(const py::handle& obj, const std::string& name) {
  py::array arr = churn_py::as_numpy(obj, name, 1);
  auto a = py::array_t<std::int64_t, py::array::forcecast>::ensure(arr);
  auto r = a.unchecked<1>();
  std::vector<std::size_t> out(static_cast<std::size_t>(r.shape(0)));
  for (py::ssize_t i = 0; i < r.shape(0); ++i) {
    if (r(i) < 0) {
      throw churn::data_error(name + "[" + std::to_string(i) + "] = " + std::to_string(r(i)) +
                              " is negative; sample indices start at 0");
    }
    out[static_cast<std::size_t>(i)] = static_cast<std::size_t>(r(i));
  }
  return out;
}

std::vector<churn::fold> folds_from_python(const py::handle& folds) {
  std::vector<churn::fold> out;
  std::size_t f = 0;
  for (const py::handle& item : folds) {
    if (!py::isinstance<py::sequence>(item) || py::len(item) != 2) {
      throw churn::data_error("folds[" + std::to_string(f) + "] is not a (train_indices, test_indices) pair");
    }
    auto pair = py::reinterpret_borrow<py::sequence>(item);
    const std::string where = "folds[" + std::to_string(f) + "]";
    out.push_back({indices_from_python(pair[0], where + "[0]"), indices_from_python(pair[1], where + "[1]")});
    ++f;
  }
  return out;
}

/// A 1-D numpy view of a vector held by the bound object `owner` (no copy; keeps `owner` alive).
template <class T>
py::array_t<T> vector_view(const py::object& owner, const std::vector<T>& v) {
  return py::array_t<T>({static_cast<py::ssize_t>(v.size())}, {static_cast<py::ssize_t>(sizeof(T))}, v.data(), owner);
}

/// CVResult.to_dict(): cv_result_json (the one field list) with the out-of-fold arrays as numpy views.
py::dict cv_result_dict(const py::object& self) {
  const auto& r = self.cast<const churn::cv_result&>();
  py::dict out = churn_py::json_to_python(churn::cv_result_json(r));
  out["oof_proba"] = vector_view(self, r.oof_proba);
  out["oof_fold"] = vector_view(self, r.oof_fold);
  out["oof_pred"] = vector_view(self, r.oof_pred);
  return out;
}

/// The dict churn.cross_validate returns: the bound CVResult's to_dict().
py::dict result_to_dict(churn::cv_result&& r) { return cv_result_dict(py::cast(std::move(r))); }

/// None: no groups; otherwise one integer group code per sample (churn.evaluation codes any labels).
std::vector<std::int64_t> groups_from_python(const py::object& groups) {
  if (groups.is_none()) return {};
  auto a = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(groups);
  if (!a || a.ndim() != 1)
    throw churn::parameter_error("groups", "an object of another shape or type", "None or a 1-D array of group codes");
  return std::vector<std::int64_t>(a.data(), a.data() + a.size());
}

churn::cv_params cv_params_from(int inner_splits, double default_threshold, const py::int_& seed, int threads,
                                int n_repeats, const py::object& groups = py::none()) {
  churn::cv_params p;
  p.groups = groups_from_python(groups);
  p.n_repeats = n_repeats;
  p.inner_splits = inner_splits;
  p.default_threshold = default_threshold;
  p.seed = seed_from_python(seed);
  p.threads = threads;
  p.validate();
  return p;
}

// A model fitted by Python code: predict_proba is called back with the GIL (cross_validate runs such
// models on the calling thread only). A 2-column result is taken as scikit-learn's [P(0), P(1)].
/// What a Python predict_proba returned, as positive-class probabilities: a 2-column result is taken
/// as scikit-learn's [P(0), P(1)].
std::vector<double> proba_from_python(const py::object& p, const std::string& what = "predict_proba(X)") {
  py::array arr = py::array::ensure(p);
  if (!arr) {
    PyErr_Clear();
    throw churn::data_error(what + " is not an array");
  }
  if (arr.ndim() == 2) {
    if (arr.shape(1) != 2) {
      throw churn::data_error(what + " has " + std::to_string(arr.shape(1)) +
                              " columns; expected P(class 1) or the two columns [P(0), P(1)]");
    }
    arr = py::array::ensure(arr[py::make_tuple(py::slice(py::none(), py::none(), py::none()), 1)]);
  }
  return churn_py::scores_from_python(arr, what);
}

struct python_model {
  py::object model;

  std::vector<double> predict_proba(const churn::row_matrix& X) const {
    return proba_from_python(model.attr("predict_proba")(churn_py::matrix_to_numpy(X)));
  }
};

// Calls a Python fit(X_train, y_train) -> fitted model (with the GIL: single-threaded use only).
struct python_fit {
  py::function fit;

  python_model operator()(const churn::row_matrix& Xt, const std::vector<int>& yt) const {
    py::array_t<std::int64_t> yy(static_cast<py::ssize_t>(yt.size()));
    std::copy(yt.begin(), yt.end(), yy.mutable_data());
    return python_model{fit(churn_py::matrix_to_numpy(Xt), yy)};
  }
};

churn::logistic_params logistic_params_from(const py::dict& model_params) {
  churn::logistic_params lp;
  for (auto item : model_params) {
    const auto key = item.first.cast<std::string>();
    if (key == "C") {
      lp.C = item.second.cast<double>();
    } else if (key == "max_iter") {
      lp.max_iter = item.second.cast<int>();
    } else if (key == "tol") {
      lp.tol = item.second.cast<double>();
    } else if (key == "standardize") {
      lp.standardize = item.second.cast<bool>();
    } else {
      throw churn::parameter_error("model_params", "'" + key + "'", "C, max_iter, tol, standardize");
    }
  }
  lp.validate();
  return lp;
}

// Runs `run(fit)` with the GIL released, fit being the C++ fit function of a built-in model.
template <class Run>
auto with_builtin_fit(const std::string& model, const py::dict& model_params, Run&& run) {
  if (model == "logistic") {
    const churn::logistic_params lp = logistic_params_from(model_params);
    py::gil_scoped_release release;
    return run(
        [&lp](const churn::row_matrix& Xt, const std::vector<int>& yt) { return churn::fit_logistic(Xt, yt, lp); });
  }
  if (model == "majority") {
    if (py::len(model_params) != 0)
      throw churn::parameter_error("model_params", "a non-empty dict", "{} for 'majority'");
    py::gil_scoped_release release;
    return run([](const churn::row_matrix& Xt, const std::vector<int>& yt) { return churn::fit_majority(Xt, yt); });
  }
  throw churn::parameter_error("model", "'" + model + "'", "'logistic', 'majority'");
}

py::dict choice_to_dict(const churn::threshold_choice& c) {
  py::dict d;
  d["threshold"] = c.threshold;
  d["f1"] = c.f1;
  d["precision"] = c.precision;
  d["recall"] = c.recall;
  return d;
}

}  // namespace

void bind_cv(py::module_& m) {
  py::class_<churn::cv_result>(
      m, "CVResult",
      "A cross-validation result (churn::cv_result), read-only: threshold_mean, threshold_std, "
      "default_threshold, n_repeats; folds, tuned and at_default as in the dict; oof_proba, oof_fold and "
      "oof_pred as numpy views of its memory. to_dict() is the dict churn.cross_validate returns (its one "
      "builder), and result[key] reads it.")
      .def_readonly("threshold_mean", &churn::cv_result::threshold_mean)
      .def_readonly("threshold_std", &churn::cv_result::threshold_std)
      .def_readonly("default_threshold", &churn::cv_result::default_threshold)
      .def_readonly("n_repeats", &churn::cv_result::n_repeats)
      .def_property_readonly(
          "folds", [](const py::object& self) -> py::object { return cv_result_dict(self)["folds"]; },
          "per fold: n_train, n_test, threshold, inner_seed, inner_f1, metric dicts, confusions")
      .def_property_readonly(
          "tuned", [](const py::object& self) -> py::object { return cv_result_dict(self)["tuned"]; },
          "mean and std over folds at each fold's tuned threshold")
      .def_property_readonly(
          "at_default", [](const py::object& self) -> py::object { return cv_result_dict(self)["at_default"]; },
          "mean and std over folds at default_threshold")
      .def_property_readonly(
          "oof_proba",
          [](const py::object& self) { return vector_view(self, self.cast<const churn::cv_result&>().oof_proba); })
      .def_property_readonly(
          "oof_fold",
          [](const py::object& self) { return vector_view(self, self.cast<const churn::cv_result&>().oof_fold); })
      .def_property_readonly(
          "oof_pred",
          [](const py::object& self) { return vector_view(self, self.cast<const churn::cv_result&>().oof_pred); })
      .def("to_dict", &cv_result_dict, "The dict churn.cross_validate returns.")
      .def("__getitem__",
           [](const py::object& self, const std::string& key) -> py::object {
             const py::dict d = cv_result_dict(self);
             if (!d.contains(key)) throw py::key_error(key);
             return d[py::str(key)];
           })
      .def(
          "get",
          [](const py::object& self, const std::string& key, const py::object& default_) -> py::object {
            return cv_result_dict(self).attr("get")(key, default_);
          },
          py::arg("key"), py::arg("default") = py::none())
      .def("keys", [](const py::object& self) { return cv_result_dict(self).attr("keys")(); })
      .def("__contains__",
           [](const py::object& self, const py::object& key) { return cv_result_dict(self).contains(key); })
      .def("__repr__", [](const churn::cv_result& r) {
        return "CVResult(folds=" + std::to_string(r.folds.size()) + ", n_repeats=" + std::to_string(r.n_repeats) +
               ", tuned_f1=" + std::to_string(r.tuned.mean.f1) + ")";
      });

  py::class_<churn::cv_task>(m, "CVTask",
                             "One fit of a cross-validation plan: a model trained on samples `train` predicts "
                             "samples `test` (outer fold `fold` itself when inner is -1, else its inner fold `inner`).")
      .def_readonly("fold", &churn::cv_task::fold)
      .def_readonly("inner", &churn::cv_task::inner)
      .def_property_readonly("train", [](const churn::cv_task& t) { return indices_to_numpy(t.train); })
      .def_property_readonly("test", [](const churn::cv_task& t) { return indices_to_numpy(t.test); })
      .def("__repr__", [](const churn::cv_task& t) {
        return "CVTask(fold=" + std::to_string(t.fold) + ", inner=" + std::to_string(t.inner) +
               ", n_train=" + std::to_string(t.train.size()) + ", n_test=" + std::to_string(t.test.size()) + ")";
      });

  py::class_<churn::cv_plan>(
      m, "CVPlan",
      "The fits of a cross-validation as data (churn::plan_cross_validate): run each task's fit and "
      "predict anywhere, then assemble() the predictions into the result. Use churn.plan_cross_validate.")
      .def_property_readonly("tasks", [](const churn::cv_plan& p) { return p.tasks; })
      .def_property_readonly("n_samples", [](const churn::cv_plan& p) { return p.n; })
      .def_property_readonly("n_folds", [](const churn::cv_plan& p) { return p.folds.size(); })
      .def_property_readonly("inner_splits", [](const churn::cv_plan& p) { return p.params.inner_splits; })
      .def("__len__", [](const churn::cv_plan& p) { return p.tasks.size(); })
      .def(
          "assemble",
          [](const churn::cv_plan& p, const py::sequence& predictions) {
            std::vector<std::vector<double>> proba;
            proba.reserve(py::len(predictions));
            std::size_t t = 0;
            for (const py::handle& item : predictions)
              proba.push_back(proba_from_python(py::reinterpret_borrow<py::object>(item),
                                                "predictions[" + std::to_string(t++) + "]"));
            return result_to_dict(churn::assemble_cross_validate(p, std::move(proba)));
          },
          py::arg("predictions"),
          "The cross-validation result (the dict churn.cross_validate returns: CVResult.to_dict()) from "
          "predictions[t], the "
          "predict_proba of task t's model on its test samples (P(class 1), or the two columns).");

  m.def(
      "_plan_cross_validate",
      [](const py::handle& y, const py::handle& folds, int inner_splits, double default_threshold, const py::int_& seed,
         int n_repeats, const py::object& groups) {
        const auto cp = cv_params_from(inner_splits, default_threshold, seed, 1, n_repeats, groups);
        const auto labels = labels_from_python(y, "y");
        const auto fs = folds_from_python(folds);
        py::gil_scoped_release release;
        return churn::plan_cross_validate(labels, fs, cp);
      },
      py::arg("y"), py::arg("folds"), py::arg("inner_splits"), py::arg("default_threshold"), py::arg("seed"),
      py::arg("n_repeats") = 1, py::arg("groups") = py::none());

  m.def(
      "stratified_kfold",
      [](const py::handle& y, int n_splits, bool shuffle, const py::int_& seed) {
        const auto labels = labels_from_python(y, "y");
        const auto folds = churn::stratified_kfold(labels, n_splits, shuffle, seed_from_python(seed));
        py::list out;
        for (const auto& f : folds) out.append(py::make_tuple(indices_to_numpy(f.train), indices_to_numpy(f.test)));
        return out;
      },
      py::arg("y"), py::arg("n_splits") = 5, py::arg("shuffle") = true, py::arg("seed") = 0,
      "List of (train_indices, test_indices) identical to scikit-learn's StratifiedKFold(n_splits, "
      "shuffle=shuffle, random_state=seed).split(X, y). y holds integer labels; raises ParameterError when "
      "n_splits exceeds the smallest class.");
  m.def(
      "_stratified_group_kfold",
      [](const py::handle& y, const py::object& groups, int n_splits, bool shuffle, const py::int_& seed) {
        const auto labels = labels_from_python(y, "y");
        const auto g = groups_from_python(groups);
        const auto folds = churn::stratified_group_kfold(labels, g, n_splits, shuffle, seed_from_python(seed));
        py::list out;
        for (const auto& f : folds) out.append(py::make_tuple(indices_to_numpy(f.train), indices_to_numpy(f.test)));
        return out;
      },
      py::arg("y"), py::arg("groups"), py::arg("n_splits") = 5, py::arg("shuffle") = true, py::arg("seed") = 0,
      "List of (train_indices, test_indices) identical to scikit-learn's StratifiedGroupKFold(n_splits, "
      "shuffle=shuffle, random_state=seed).split(X, y, groups), for integer group codes. Use "
      "churn.stratified_group_kfold.");
  m.def(
      "out_of_time_split",
      [](const py::handle& cutoffs_ms, double horizon_days, std::int64_t split_ms) {
        auto a = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(cutoffs_ms);
        if (!a || a.ndim() != 1)
          throw churn::parameter_error("cutoffs_ms", "an object of another shape or type", "a 1-D array of epoch ms");
        const std::vector<std::int64_t> c(a.data(), a.data() + a.size());
        const auto f = churn::out_of_time_split(c, horizon_days, split_ms);
        return py::make_tuple(indices_to_numpy(f.train), indices_to_numpy(f.test));
      },
      py::arg("cutoffs_ms"), py::arg("horizon_days"), py::arg("split_ms"),
      "(train_indices, test_indices) of a snapshot table's out-of-time split at T = split_ms: test on the rows "
      "with cutoff >= T, train on the rows with cutoff + horizon <= T (no training label sees the test period). "
      "Raises DataError when either part is empty.");
  m.def(
      "repeated_stratified_kfold",
      [](const py::handle& y, int n_splits, int n_repeats, const py::int_& seed) {
        const auto labels = labels_from_python(y, "y");
        const auto folds = churn::repeated_stratified_kfold(labels, n_splits, n_repeats, seed_from_python(seed));
        py::list out;
        for (const auto& f : folds) out.append(py::make_tuple(indices_to_numpy(f.train), indices_to_numpy(f.test)));
        return out;
      },
      py::arg("y"), py::arg("n_splits") = 5, py::arg("n_repeats") = 5, py::arg("seed") = 0,
      "List of n_splits * n_repeats (train_indices, test_indices) identical to scikit-learn's "
      "RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed).split(X, y).");
  m.def(
      "stratified_train_test_split",
      [](const py::handle& y, const py::object& test_size, const py::int_& seed) {
        churn::split_params p;
        if (py::isinstance<py::bool_>(test_size)) {
          throw churn::parameter_error("test_size", py::repr(test_size).cast<std::string>(),
                                       "a fraction in (0, 1) or a number of samples");
        }
        if (py::isinstance<py::int_>(test_size)) {
          const auto v = test_size.cast<long long>();
          if (v < 1) throw churn::parameter_error("test_size", std::to_string(v), "a positive number of samples");
          p.test_count = static_cast<std::size_t>(v);
        } else {
          p.test_size = test_size.cast<double>();
        }
        p.seed = seed_from_python(seed);
        const auto s = churn::stratified_train_test_split(labels_from_python(y, "y"), p);
        return py::make_tuple(indices_to_numpy(s.train), indices_to_numpy(s.test));
      },
      py::arg("y"), py::arg("test_size") = 0.25, py::arg("seed") = 0,
      "(train_indices, test_indices) identical to scikit-learn's train_test_split(..., test_size=test_size, "
      "stratify=y, random_state=seed) (indices in scikit-learn's shuffled order). test_size: a fraction in "
      "(0, 1) or an int number of samples.");

  py::class_<churn::logistic_model>(m, "_LogisticModel", "A fitted logistic regression (see LogisticRegression).")
      .def_property_readonly("mean", [](const churn::logistic_model& s) { return churn_py::to_numpy(s.mean); })
      .def_property_readonly("scale", [](const churn::logistic_model& s) { return churn_py::to_numpy(s.scale); })
      .def_property_readonly(
          "coef",
          [](const churn::logistic_model& s) {
            return churn_py::to_numpy(std::vector<double>(s.coef.data(), s.coef.data() + s.coef.size()));
          })
      .def_readonly("intercept", &churn::logistic_model::intercept)
      .def_readonly("n_iter", &churn::logistic_model::n_iter)
      .def_readonly("converged", &churn::logistic_model::converged)
      .def_property_readonly("raw_coef",
                             [](const churn::logistic_model& s) {
                               const Eigen::VectorXd w = s.raw_coef();
                               return churn_py::to_numpy(std::vector<double>(w.data(), w.data() + w.size()));
                             })
      .def_property_readonly("raw_intercept", &churn::logistic_model::raw_intercept)
      .def(
          "predict_proba",
          [](const churn::logistic_model& s, const py::handle& X) {
            const auto M = matrix_from_python(X, "X");
            std::vector<double> p;
            {
              py::gil_scoped_release release;
              p = s.predict_proba(M);
            }
            return move_to_numpy(std::move(p));
          },
          py::arg("X"), "P(class 1) for each row of X.");

  m.def(
      "_fit_logistic",
      [](const py::handle& X, const py::handle& y, double C, int max_iter, double tol, bool standardize) {
        churn::logistic_params p;
        p.C = C;
        p.max_iter = max_iter;
        p.tol = tol;
        p.standardize = standardize;
        const auto M = matrix_from_python(X, "X");
        const auto labels = labels_from_python(y, "y");
        py::gil_scoped_release release;
        return churn::fit_logistic(M, labels, p);
      },
      py::arg("X"), py::arg("y"), py::arg("C") = 1.0, py::arg("max_iter") = 100, py::arg("tol") = 1e-10,
      py::arg("standardize") = true);

  m.def(
      "_cross_validate_builtin",
      [](const std::string& model, const py::handle& X, const py::handle& y, const py::handle& folds,
         const py::dict& model_params, int inner_splits, double default_threshold, const py::int_& seed, int threads,
         int n_repeats, const py::object& groups) {
        const auto cp = cv_params_from(inner_splits, default_threshold, seed, threads, n_repeats, groups);
        const auto X_arg = churn_py::matrix_view_from_python(X, "X");
        const churn::matrix_view& M = X_arg.view;
        const auto labels = labels_from_python(y, "y");
        const auto fs = folds_from_python(folds);
        // Checked here so that the message gives the row of X, not of a fold's subset.
        if (model == "logistic") churn::detail::logistic_check_finite("LogisticRegression", M);
        auto r = with_builtin_fit(model, model_params,
                                  [&](const auto& fit) { return churn::cross_validate(fit, M, labels, fs, cp); });
        return result_to_dict(std::move(r));
      },
      py::arg("model"), py::arg("X"), py::arg("y"), py::arg("folds"), py::arg("model_params"), py::arg("inner_splits"),
      py::arg("default_threshold"), py::arg("seed"), py::arg("threads"), py::arg("n_repeats") = 1,
      py::arg("groups") = py::none());

  m.def(
      "_tune_threshold_builtin",
      [](const std::string& model, const py::handle& X, const py::handle& y, const py::dict& model_params,
         int inner_splits, const py::int_& seed, const py::object& groups) {
        const auto X_arg = churn_py::matrix_view_from_python(X, "X");
        const churn::matrix_view& M = X_arg.view;
        const auto labels = labels_from_python(y, "y");
        const auto s = seed_from_python(seed);
        const auto g = groups_from_python(groups);
        const auto c = with_builtin_fit(model, model_params, [&](const auto& fit) {
          return churn::tune_threshold(fit, M, labels, inner_splits, s, g);
        });
        return choice_to_dict(c);
      },
      py::arg("model"), py::arg("X"), py::arg("y"), py::arg("model_params"), py::arg("inner_splits"), py::arg("seed"),
      py::arg("groups") = py::none());

  m.def(
      "_tune_threshold_callable",
      [](const py::function& fit, const py::handle& X, const py::handle& y, int inner_splits, const py::int_& seed,
         const py::object& groups) {
        const auto X_arg = churn_py::matrix_view_from_python(X, "X");
        const churn::matrix_view& M = X_arg.view;
        const auto labels = labels_from_python(y, "y");
        const auto c = churn::tune_threshold(python_fit{fit}, M, labels, inner_splits, seed_from_python(seed),
                                             groups_from_python(groups));
        return choice_to_dict(c);
      },
      py::arg("fit"), py::arg("X"), py::arg("y"), py::arg("inner_splits"), py::arg("seed"),
      py::arg("groups") = py::none());

  m.def(
      "_cross_validate_callable",
      [](const py::function& fit, const py::handle& X, const py::handle& y, const py::handle& folds, int inner_splits,
         double default_threshold, const py::int_& seed, int n_repeats, const py::object& groups) {
        // Python models run on this thread only, holding the GIL: one thread.
        const auto cp = cv_params_from(inner_splits, default_threshold, seed, 1, n_repeats, groups);
        const auto X_arg = churn_py::matrix_view_from_python(X, "X");
        const churn::matrix_view& M = X_arg.view;
        const auto labels = labels_from_python(y, "y");
        const auto fs = folds_from_python(folds);
        auto r = churn::cross_validate(python_fit{fit}, M, labels, fs, cp);
        return result_to_dict(std::move(r));
      },
      py::arg("fit"), py::arg("X"), py::arg("y"), py::arg("folds"), py::arg("inner_splits"),
      py::arg("default_threshold"), py::arg("seed"), py::arg("n_repeats") = 1, py::arg("groups") = py::none());
}
