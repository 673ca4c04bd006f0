// Metrics for Python under scikit-learn's names (re-exported by churn.metrics). Conversion only: labels
// and scores become std::vector, results numpy arrays or Python scalars.
#include <cmath>
#include <string>
#include <vector>

#include <churn/metrics.hpp>

#include "common.hpp"
#include "eval_common.hpp"

namespace py = pybind11;
using churn_py::labels_from_python;
using churn_py::move_to_numpy;
using churn_py::scores_from_python;

namespace {

churn::zero_division parse_zero_division(const py::object& z) {
  if (py::isinstance<py::str>(z)) {
    if (z.cast<std::string>() == "warn") return churn::zero_division::zero;
  } else if (py::isinstance<py::float_>(z) || py::isinstance<py::int_>(z)) {
    const double v = z.cast<double>();
    if (std::isnan(v)) return churn::zero_division::nan;
    if (v == 0.0) return churn::zero_division::zero;
    if (v == 1.0) return churn::zero_division::one;
  }
  throw churn::parameter_error("zero_division", py::repr(z).cast<std::string>(), "'warn', 0, 1 or nan");
}

using label_metric = double (*)(const std::vector<int>&, const std::vector<int>&, churn::zero_division);
using score_metric = double (*)(const std::vector<int>&, const std::vector<double>&);

void def_prf(py::module_& m, const char* name, label_metric fn, const char* doc) {
  m.def(
      name,
      [fn](const py::handle& y_true, const py::handle& y_pred, const py::object& zero_division) {
        return fn(labels_from_python(y_true, "y_true"), labels_from_python(y_pred, "y_pred"),
                  parse_zero_division(zero_division));
      },
      py::arg("y_true"), py::arg("y_pred"), py::kw_only(), py::arg("zero_division") = "warn", doc);
}

void def_scored(py::module_& m, const char* name, score_metric fn, const char* score_name, const char* doc) {
  m.def(
      name,
      [fn, score_name](const py::handle& y_true, const py::handle& y_score) {
        auto y = labels_from_python(y_true, "y_true");
        auto s = scores_from_python(y_score, score_name);
        py::gil_scoped_release release;
        return fn(y, s);
      },
      py::arg("y_true"), py::arg(score_name), doc);
}

}  // namespace

void bind_metrics(py::module_& m) {
  m.def(
      "confusion_matrix",
      [](const py::handle& y_true, const py::handle& y_pred) {
        const auto c =
            churn::confusion_matrix(labels_from_python(y_true, "y_true"), labels_from_python(y_pred, "y_pred"));
        py::array_t<std::int64_t> out({2, 2});
        auto r = out.mutable_unchecked<2>();
        r(0, 0) = c.tn;
        r(0, 1) = c.fp;
        r(1, 0) = c.fn;
        r(1, 1) = c.tp;
        return out;
      },
      py::arg("y_true"), py::arg("y_pred"),
      "Binary confusion matrix [[tn, fp], [fn, tp]] of 0/1 labels (scikit-learn's confusion_matrix with "
      "labels=[0, 1]).");
  m.def(
      "accuracy_score",
      [](const py::handle& y_true, const py::handle& y_pred) {
        return churn::accuracy_score(labels_from_python(y_true, "y_true"), labels_from_python(y_pred, "y_pred"));
      },
      py::arg("y_true"), py::arg("y_pred"), "Fraction of correct 0/1 predictions.");
  m.def(
      "balanced_accuracy_score",
      [](const py::handle& y_true, const py::handle& y_pred) {
        return churn::balanced_accuracy_score(labels_from_python(y_true, "y_true"),
                                              labels_from_python(y_pred, "y_pred"));
      },
      py::arg("y_true"), py::arg("y_pred"), "Mean recall over the classes present in y_true.");
  def_prf(m, "precision_score", &churn::precision_score,
          "TP / (TP + FP); zero_division ('warn' = 0, 0, 1 or nan) when nothing is predicted positive.");
  def_prf(m, "recall_score", &churn::recall_score,
          "TP / (TP + FN); zero_division ('warn' = 0, 0, 1 or nan) when y_true has no positives.");
  def_prf(m, "f1_score", &churn::f1_score,
          "2TP / (2TP + FP + FN); zero_division ('warn' = 0, 0, 1 or nan) when that denominator is 0.");
  def_scored(m, "roc_auc_score", &churn::roc_auc_score, "y_score",
             "Area under the ROC curve (trapezoid over distinct thresholds, ties count one half). Raises "
             "DataError when y_true has a single class (scikit-learn warns and returns nan).");
  def_scored(m, "average_precision_score", &churn::average_precision_score, "y_score",
             "Average precision without interpolation, ties grouped. Raises DataError when y_true has no "
             "positives (scikit-learn warns and returns 0).");
  def_scored(m, "log_loss", &churn::log_loss, "y_proba",
             "Mean negative log-likelihood of positive-class probabilities clipped to [eps, 1 - eps] "
             "(scikit-learn's log_loss with labels=[0, 1]).");
  def_scored(m, "brier_score_loss", &churn::brier_score_loss, "y_proba",
             "Mean squared difference between the 0/1 label and the positive-class probability.");
  m.def(
      "roc_curve",
      [](const py::handle& y_true, const py::handle& y_score, bool drop_intermediate) {
        auto y = labels_from_python(y_true, "y_true");
        auto s = scores_from_python(y_score, "y_score");
        churn::roc_curve_points r;
        {
          py::gil_scoped_release release;
          r = churn::roc_curve(y, s, drop_intermediate);
        }
        return py::make_tuple(move_to_numpy(std::move(r.fpr)), move_to_numpy(std::move(r.tpr)),
                              move_to_numpy(std::move(r.thresholds)));
      },
      py::arg("y_true"), py::arg("y_score"), py::kw_only(), py::arg("drop_intermediate") = true,
      "(fpr, tpr, thresholds) as scikit-learn's roc_curve: starts at (0, 0) with threshold inf. "
      "drop_intermediate drops points collinear with their neighbours (plot and area unchanged).");
  m.def(
      "precision_recall_curve",
      [](const py::handle& y_true, const py::handle& y_score, bool drop_intermediate) {
        auto y = labels_from_python(y_true, "y_true");
        auto s = scores_from_python(y_score, "y_score");
        churn::pr_curve_points r;
        {
          py::gil_scoped_release release;
          r = churn::precision_recall_curve(y, s, drop_intermediate);
        }
        return py::make_tuple(move_to_numpy(std::move(r.precision)), move_to_numpy(std::move(r.recall)),
                              move_to_numpy(std::move(r.thresholds)));
      },
      py::arg("y_true"), py::arg("y_score"), py::kw_only(), py::arg("drop_intermediate") = false,
      "(precision, recall, thresholds) as scikit-learn's precision_recall_curve, thresholds increasing, "
      "ending at (recall 0, precision 1). drop_intermediate keeps only the ends of each run of equal recall.");
  m.def(
      "confusion_matrix_at_thresholds",
      [](const py::handle& y_true, const py::handle& y_score) {
        auto y = labels_from_python(y_true, "y_true");
        auto s = scores_from_python(y_score, "y_score");
        churn::threshold_counts c = churn::confusion_matrix_at_thresholds(y, s);
        std::vector<double> tns(c.fps.size());
        std::vector<double> fns(c.tps.size());
        for (std::size_t k = 0; k < tns.size(); ++k) {
          tns[k] = c.fps.back() - c.fps[k];
          fns[k] = c.tps.back() - c.tps[k];
        }
        return py::make_tuple(move_to_numpy(std::move(tns)), move_to_numpy(std::move(c.fps)),
                              move_to_numpy(std::move(fns)), move_to_numpy(std::move(c.tps)),
                              move_to_numpy(std::move(c.thresholds)));
      },
      py::arg("y_true"), py::arg("y_score"),
      "(tns, fps, fns, tps, thresholds) at every distinct score, highest first (a sample is positive when "
      "score >= threshold), as scikit-learn's confusion_matrix_at_thresholds.");
  m.def(
      "best_f1_threshold",
      [](const py::handle& y_true, const py::handle& y_score) {
        const auto b =
            churn::best_f1_threshold(labels_from_python(y_true, "y_true"), scores_from_python(y_score, "y_score"));
        py::dict d;
        d["threshold"] = b.threshold;
        d["f1"] = b.f1;
        d["precision"] = b.precision;
        d["recall"] = b.recall;
        return d;
      },
      py::arg("y_true"), py::arg("y_score"),
      "The threshold t maximising F1 of `score > t` (the rule of predict), strictly between two adjacent scores "
      "(the lowest such t on ties), as a dict with threshold, f1, precision and recall (of that rule).");
  m.def(
      "evaluate_binary",
      [](const py::handle& y_true, const py::handle& proba, double threshold) {
        churn::confusion_matrix_counts c;
        const auto metrics = churn::evaluate_binary(labels_from_python(y_true, "y_true"),
                                                    scores_from_python(proba, "proba"), threshold, &c);
        py::dict d = churn_py::metrics_to_dict(metrics);
        d["confusion_matrix"] = churn_py::confusion_to_list(c);
        d["threshold"] = threshold;
        return d;
      },
      py::arg("y_true"), py::arg("proba"), py::arg("threshold") = 0.5,
      "Every metric of positive-class probabilities at `proba > threshold` (the rule of predict), as a dict (nan where "
      "a ranking "
      "metric is undefined), with the confusion matrix.");
  m.attr("binary_metric_names") = py::cast(churn::binary_metric_names());
}
