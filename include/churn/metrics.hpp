#pragma once
// Binary classification metrics with scikit-learn's definitions (checked against scikit-learn 1.9 to
// 1e-12 by tests/python/test_metrics.py), plus the ROC and precision-recall curve points the web app
// plots and the F1-maximising threshold used by cross-validation.
//
// Conventions:
// - labels are std::vector<int> holding 0 or 1; 1 is the positive class (churn);
// - scores and probabilities are std::vector<double> of the positive class;
// - a hard prediction from a probability is `p > threshold`, everywhere in churn: the metrics, the
//   model's predict(), the threshold tuning, the web app. At 0.5 this is scikit-learn's `predict`
//   (argmax of predict_proba, a tie going to the first class). Forest probabilities are multiples of
//   1/n_trees, so ties with a threshold are common; a tuned threshold (best_f1_threshold) therefore lies
//   strictly between two adjacent scores. Only the curves (roc_curve, precision_recall_curve,
//   confusion_matrix_at_thresholds) keep scikit-learn's `score >= threshold` for their points.
// - where scikit-learn warns and returns a placeholder for an undefined ranking metric (ROC AUC with one
//   class in y_true, average precision without positives), these functions throw churn::data_error;
//   evaluate_binary() reports NaN instead so that a report never aborts.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <churn/detail/metrics_check.hpp>
#include <churn/error.hpp>

namespace churn {

/// Counts of a binary confusion matrix; as scikit-learn's confusion_matrix(labels=[0, 1]) it is
/// [[tn, fp], [fn, tp]] (rows: true class, columns: predicted class).
struct confusion_matrix_counts {
  std::int64_t tn = 0;
  std::int64_t fp = 0;
  std::int64_t fn = 0;
  std::int64_t tp = 0;

  std::int64_t total() const noexcept { return tn + fp + fn + tp; }
  confusion_matrix_counts& operator+=(const confusion_matrix_counts& o) noexcept {
    tn += o.tn;
    fp += o.fp;
    fn += o.fn;
    tp += o.tp;
    return *this;
  }
};

/// What precision, recall and F1 return when their denominator is zero. `zero` is scikit-learn's
/// default ("warn": 0.0 plus a warning; churn does not warn).
enum class zero_division { zero, one, nan };

namespace detail {

inline double metrics_zero_division_value(zero_division z) {
  switch (z) {
    case zero_division::one: return 1.0;
    case zero_division::nan: return std::numeric_limits<double>::quiet_NaN();
    case zero_division::zero:
    default: return 0.0;
  }
}

inline void metrics_check_pair(const char* fn, const std::vector<int>& y_true, const std::vector<int>& y_pred) {
  metrics_check_same_length(fn, "y_true", y_true.size(), "y_pred", y_pred.size());
  metrics_check_labels(fn, "y_true", y_true);
  metrics_check_labels(fn, "y_pred", y_pred);
}

inline void metrics_check_scored(const char* fn, const std::vector<int>& y_true, const std::vector<double>& y_score,
                                 const char* score_name = "y_score") {
  metrics_check_same_length(fn, "y_true", y_true.size(), score_name, y_score.size());
  metrics_check_labels(fn, "y_true", y_true);
  metrics_check_scores(fn, score_name, y_score);
}

}  // namespace detail

/// The confusion matrix of hard 0/1 predictions.
/// Throws data_error on different lengths, empty input or labels other than 0 and 1.
inline confusion_matrix_counts confusion_matrix(const std::vector<int>& y_true, const std::vector<int>& y_pred) {
  detail::metrics_check_pair("confusion_matrix", y_true, y_pred);
  confusion_matrix_counts c;
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    if (y_true[i] == 1) {
      (y_pred[i] == 1 ? c.tp : c.fn) += 1;
    } else {
      (y_pred[i] == 1 ? c.fp : c.tn) += 1;
    }
  }
  return c;
}

/// Hard predictions `p > threshold`, the rule of random_forest::predict (see the header comment).
inline std::vector<int> predict_at_threshold(const std::vector<double>& proba, double threshold) {
  std::vector<int> out(proba.size());
  for (std::size_t i = 0; i < proba.size(); ++i) out[i] = proba[i] > threshold ? 1 : 0;
  return out;
}

// The count-based forms below are what the vector forms compute; cross-validation uses them directly.

inline double accuracy_score(const confusion_matrix_counts& c) {
  return static_cast<double>(c.tp + c.tn) / static_cast<double>(c.total());
}

/// Mean recall over the classes present in y_true (scikit-learn, adjusted=False): with a single class in
/// y_true it is that class's recall.
inline double balanced_accuracy_score(const confusion_matrix_counts& c) {
  const bool has_pos = c.tp + c.fn > 0;
  const bool has_neg = c.tn + c.fp > 0;
  const double tpr = has_pos ? static_cast<double>(c.tp) / static_cast<double>(c.tp + c.fn) : 0.0;
  const double tnr = has_neg ? static_cast<double>(c.tn) / static_cast<double>(c.tn + c.fp) : 0.0;
  if (has_pos && has_neg) return (tnr + tpr) / 2.0;
  return has_pos ? tpr : tnr;
}

inline double precision_score(const confusion_matrix_counts& c, zero_division z = zero_division::zero) {
  if (c.tp + c.fp == 0) return detail::metrics_zero_division_value(z);
  return static_cast<double>(c.tp) / static_cast<double>(c.tp + c.fp);
}

inline double recall_score(const confusion_matrix_counts& c, zero_division z = zero_division::zero) {
  if (c.tp + c.fn == 0) return detail::metrics_zero_division_value(z);
  return static_cast<double>(c.tp) / static_cast<double>(c.tp + c.fn);
}

/// F1 = 2TP / (2TP + FP + FN) (scikit-learn >= 1.4); zero_division applies only when that denominator is 0.
inline double f1_score(const confusion_matrix_counts& c, zero_division z = zero_division::zero) {
  const std::int64_t den = 2 * c.tp + c.fp + c.fn;
  if (den == 0) return detail::metrics_zero_division_value(z);
  return static_cast<double>(2 * c.tp) / static_cast<double>(den);
}

/// Fraction of correct predictions. Throws data_error on bad input (as confusion_matrix).
inline double accuracy_score(const std::vector<int>& y_true, const std::vector<int>& y_pred) {
  return accuracy_score(confusion_matrix(y_true, y_pred));
}
/// Mean per-class recall over the classes present in y_true. Throws data_error on bad input.
inline double balanced_accuracy_score(const std::vector<int>& y_true, const std::vector<int>& y_pred) {
  return balanced_accuracy_score(confusion_matrix(y_true, y_pred));
}
/// TP / (TP + FP). Throws data_error on bad input.
inline double precision_score(const std::vector<int>& y_true, const std::vector<int>& y_pred,
                              zero_division z = zero_division::zero) {
  return precision_score(confusion_matrix(y_true, y_pred), z);
}
/// TP / (TP + FN). Throws data_error on bad input.
inline double recall_score(const std::vector<int>& y_true, const std::vector<int>& y_pred,
                           zero_division z = zero_division::zero) {
  return recall_score(confusion_matrix(y_true, y_pred), z);
}
/// 2TP / (2TP + FP + FN). Throws data_error on bad input.
inline double f1_score(const std::vector<int>& y_true, const std::vector<int>& y_pred,
                       zero_division z = zero_division::zero) {
  return f1_score(confusion_matrix(y_true, y_pred), z);
}

/// True- and false-positive counts at each distinct score, highest score first: at index k a sample is
/// predicted positive when its score >= thresholds[k]. scikit-learn's confusion_matrix_at_thresholds
/// (fps, tps, thresholds); tied scores form one threshold.
struct threshold_counts {
  std::vector<double> thresholds;  ///< distinct scores, strictly decreasing
  std::vector<double> tps;         ///< positives with score >= threshold (non-decreasing; last = all positives)
  std::vector<double> fps;         ///< negatives with score >= threshold (last = all negatives)
};

/// Counts at every distinct score. Complexity O(n log n). Throws data_error on bad input.
inline threshold_counts confusion_matrix_at_thresholds(const std::vector<int>& y_true,
                                                       const std::vector<double>& y_score) {
  detail::metrics_check_scored("confusion_matrix_at_thresholds", y_true, y_score);
  const std::size_t n = y_true.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  // Order within a run of ties is irrelevant: a run contributes one threshold, at its end.
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return y_score[a] > y_score[b]; });
  threshold_counts out;
  double tp = 0.0;
  double fp = 0.0;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = order[k];
    if (y_true[i] == 1) {
      tp += 1.0;
    } else {
      fp += 1.0;
    }
    if (k + 1 == n || y_score[order[k + 1]] != y_score[i]) {
      out.thresholds.push_back(y_score[i]);
      out.tps.push_back(tp);
      out.fps.push_back(fp);
    }
  }
  return out;
}

/// Points of the ROC curve, as scikit-learn's roc_curve: the first point is (0, 0) with threshold +inf,
/// then one point per (kept) distinct score in decreasing order, ending at (1, 1).
struct roc_curve_points {
  std::vector<double> fpr;
  std::vector<double> tpr;
  std::vector<double> thresholds;
};

/// The ROC curve. With drop_intermediate (scikit-learn's default, true) a point is dropped when neither
/// its fps nor its tps differs in second difference from its neighbours, i.e. when it lies on a straight
/// horizontal or vertical run between kept points; the first and last points are always kept. Dropping
/// changes neither the plotted curve nor the area under it.
/// Throws data_error on bad input or when y_true lacks either class (the rates are undefined;
/// scikit-learn warns and returns NaN).
inline roc_curve_points roc_curve(const std::vector<int>& y_true, const std::vector<double>& y_score,
                                  bool drop_intermediate = true) {
  threshold_counts c = confusion_matrix_at_thresholds(y_true, y_score);
  const double pos = c.tps.back();
  const double neg = c.fps.back();
  if (pos == 0.0 || neg == 0.0) {
    throw data_error(std::string("roc_curve: y_true contains only class ") + (pos == 0.0 ? "0" : "1") + " (" +
                     std::to_string(y_true.size()) + " samples); the ROC curve needs both classes");
  }
  const std::size_t m = c.thresholds.size();
  std::vector<std::size_t> keep;
  keep.reserve(m);
  for (std::size_t k = 0; k < m; ++k) {
    if (!drop_intermediate || m <= 2 || k == 0 || k + 1 == m || c.fps[k + 1] - 2.0 * c.fps[k] + c.fps[k - 1] != 0.0 ||
        c.tps[k + 1] - 2.0 * c.tps[k] + c.tps[k - 1] != 0.0) {
      keep.push_back(k);
    }
  }
  roc_curve_points r;
  r.fpr.reserve(keep.size() + 1);
  r.tpr.reserve(keep.size() + 1);
  r.thresholds.reserve(keep.size() + 1);
  r.fpr.push_back(0.0);
  r.tpr.push_back(0.0);
  r.thresholds.push_back(std::numeric_limits<double>::infinity());
  for (std::size_t k : keep) {
    r.fpr.push_back(c.fps[k] / neg);
    r.tpr.push_back(c.tps[k] / pos);
    r.thresholds.push_back(c.thresholds[k]);
  }
  return r;
}

/// Area under the ROC curve by the trapezoid over the distinct thresholds (ties count one half, as the
/// Mann-Whitney statistic). Complexity O(n log n). Throws data_error on bad input or a single class.
inline double roc_auc_score(const std::vector<int>& y_true, const std::vector<double>& y_score) {
  detail::metrics_check_scored("roc_auc_score", y_true, y_score);
  const auto pos = std::count(y_true.begin(), y_true.end(), 1);
  if (pos == 0 || pos == static_cast<std::ptrdiff_t>(y_true.size())) {
    throw data_error(std::string("roc_auc_score: only one class is present in y_true (class ") +
                     (pos == 0 ? "0" : "1") + ", " + std::to_string(y_true.size()) +
                     " samples); ROC AUC is not defined in that case");
  }
  roc_curve_points r = roc_curve(y_true, y_score, true);
  double area = 0.0;
  for (std::size_t k = 1; k < r.fpr.size(); ++k) {
    area += (r.fpr[k] - r.fpr[k - 1]) * (r.tpr[k] + r.tpr[k - 1]) / 2.0;
  }
  return area;
}

/// Points of the precision-recall curve, as scikit-learn's precision_recall_curve: in order of
/// increasing threshold, one point per (kept) distinct score, then the point (recall 0, precision 1)
/// without a threshold (thresholds has one element fewer than precision and recall).
struct pr_curve_points {
  std::vector<double> precision;
  std::vector<double> recall;
  std::vector<double> thresholds;
};

/// The precision-recall curve. With drop_intermediate (scikit-learn's default here is false) a
/// threshold is dropped when tps equals that of both neighbours: only the first and last point of each
/// vertical run of equal recall remain, which leaves the plotted step curve unchanged.
/// Throws data_error on bad input or when y_true has no positives (recall undefined; scikit-learn
/// warns and sets recall to 1).
inline pr_curve_points precision_recall_curve(const std::vector<int>& y_true, const std::vector<double>& y_score,
                                              bool drop_intermediate = false) {
  threshold_counts c = confusion_matrix_at_thresholds(y_true, y_score);
  const double pos = c.tps.back();
  if (pos == 0.0) {
    throw data_error("precision_recall_curve: y_true has no positive samples (" + std::to_string(y_true.size()) +
                     " samples, all 0); recall is undefined");
  }
  const std::size_t m = c.thresholds.size();
  std::vector<std::size_t> keep;
  keep.reserve(m);
  for (std::size_t k = 0; k < m; ++k) {
    if (!drop_intermediate || m <= 2 || k == 0 || k + 1 == m || c.tps[k] != c.tps[k - 1] || c.tps[k + 1] != c.tps[k]) {
      keep.push_back(k);
    }
  }
  pr_curve_points r;
  r.precision.reserve(keep.size() + 1);
  r.recall.reserve(keep.size() + 1);
  r.thresholds.reserve(keep.size());
  for (auto it = keep.rbegin(); it != keep.rend(); ++it) {
    const std::size_t k = *it;
    r.precision.push_back(c.tps[k] / (c.tps[k] + c.fps[k]));
    r.recall.push_back(c.tps[k] / pos);
    r.thresholds.push_back(c.thresholds[k]);
  }
  r.precision.push_back(1.0);
  r.recall.push_back(0.0);
  return r;
}

/// Average precision without interpolation: sum over distinct thresholds of (R_k - R_{k-1}) * P_k,
/// ties grouped. Complexity O(n log n). Throws data_error on bad input or when y_true has no positives.
inline double average_precision_score(const std::vector<int>& y_true, const std::vector<double>& y_score) {
  detail::metrics_check_scored("average_precision_score", y_true, y_score);
  if (std::find(y_true.begin(), y_true.end(), 1) == y_true.end()) {
    throw data_error("average_precision_score: y_true has no positive samples (" + std::to_string(y_true.size()) +
                     " samples, all 0); average precision is not defined in that case");
  }
  pr_curve_points r = precision_recall_curve(y_true, y_score, false);
  double sum = 0.0;
  for (std::size_t k = 0; k + 1 < r.recall.size(); ++k) sum += (r.recall[k + 1] - r.recall[k]) * r.precision[k];
  return std::max(0.0, -sum);
}

/// Mean negative log-likelihood of the positive-class probabilities, each clipped to [eps, 1 - eps] with
/// eps the double machine epsilon (scikit-learn's log_loss with labels=[0, 1]).
/// Throws data_error on bad input or a probability outside [0, 1].
inline double log_loss(const std::vector<int>& y_true, const std::vector<double>& y_proba) {
  detail::metrics_check_scored("log_loss", y_true, y_proba, "y_proba");
  detail::metrics_check_probabilities("log_loss", "y_proba", y_proba);
  const double eps = std::numeric_limits<double>::epsilon();
  double sum = 0.0;
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    // scikit-learn clips the two columns [1 - p, p] separately: the complement is taken before clipping.
    const double q = y_true[i] == 1 ? y_proba[i] : 1.0 - y_proba[i];
    sum += -std::log(std::clamp(q, eps, 1.0 - eps));
  }
  return sum / static_cast<double>(y_true.size());
}

/// Mean squared difference between the label and the positive-class probability.
/// Throws data_error on bad input or a probability outside [0, 1].
inline double brier_score_loss(const std::vector<int>& y_true, const std::vector<double>& y_proba) {
  detail::metrics_check_scored("brier_score_loss", y_true, y_proba, "y_proba");
  detail::metrics_check_probabilities("brier_score_loss", "y_proba", y_proba);
  double sum = 0.0;
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    const double d = static_cast<double>(y_true[i]) - y_proba[i];
    sum += d * d;
  }
  return sum / static_cast<double>(y_true.size());
}

/// Every metric cross-validation reports, for one set of predictions.
struct binary_metrics {
  double accuracy = 0.0;
  double balanced_accuracy = 0.0;
  double precision = 0.0;
  double recall = 0.0;
  double f1 = 0.0;
  double roc_auc = 0.0;            ///< NaN when y_true has a single class
  double average_precision = 0.0;  ///< NaN when y_true has no positives
  double log_loss = 0.0;
  double brier = 0.0;
};

/// Names of the binary_metrics fields, in declaration order (also the keys of the Python dicts).
inline std::vector<std::string> binary_metric_names() {
  return {"accuracy", "balanced_accuracy", "precision", "recall", "f1",
          "roc_auc",  "average_precision", "log_loss",  "brier"};
}

/// The fields of m in the order of binary_metric_names().
inline std::vector<double> to_vector(const binary_metrics& m) {
  return {m.accuracy, m.balanced_accuracy, m.precision, m.recall, m.f1,
          m.roc_auc,  m.average_precision, m.log_loss,  m.brier};
}

/// Inverse of to_vector. Throws parameter_error when v does not have 9 elements.
inline binary_metrics binary_metrics_from_vector(const std::vector<double>& v) {
  if (v.size() != 9)
    throw parameter_error("v", std::to_string(v.size()) + " values", "9 values, in the order of binary_metric_names()");
  binary_metrics m;
  m.accuracy = v[0];
  m.balanced_accuracy = v[1];
  m.precision = v[2];
  m.recall = v[3];
  m.f1 = v[4];
  m.roc_auc = v[5];
  m.average_precision = v[6];
  m.log_loss = v[7];
  m.brier = v[8];
  return m;
}

/// JSON object with one key per binary_metric_names() entry (NaN becomes null).
inline void to_json(nlohmann::json& j, const binary_metrics& m) {
  j = nlohmann::json::object();
  const auto names = binary_metric_names();
  const auto values = to_vector(m);
  for (std::size_t i = 0; i < names.size(); ++i) j[names[i]] = values[i];
}

/// JSON [[tn, fp], [fn, tp]], as scikit-learn's confusion_matrix(labels=[0, 1]).tolist().
inline void to_json(nlohmann::json& j, const confusion_matrix_counts& c) {
  j = nlohmann::json::array({nlohmann::json::array({c.tn, c.fp}), nlohmann::json::array({c.fn, c.tp})});
}

/// All metrics of positive-class probabilities `proba` against y_true, hard predictions being
/// `proba > threshold` (as random_forest::predict); zero divisions give 0 (scikit-learn's default), undefined ranking metrics NaN.
/// Throws data_error on bad input.
inline binary_metrics evaluate_binary(const std::vector<int>& y_true, const std::vector<double>& proba,
                                      double threshold, confusion_matrix_counts* confusion_out = nullptr) {
  detail::metrics_check_scored("evaluate_binary", y_true, proba, "proba");
  detail::metrics_check_probabilities("evaluate_binary", "proba", proba);
  const confusion_matrix_counts c = confusion_matrix(y_true, predict_at_threshold(proba, threshold));
  if (confusion_out) *confusion_out = c;
  binary_metrics m;
  m.accuracy = accuracy_score(c);
  m.balanced_accuracy = balanced_accuracy_score(c);
  m.precision = precision_score(c);
  m.recall = recall_score(c);
  m.f1 = f1_score(c);
  const bool has_pos = c.tp + c.fn > 0;
  const bool has_neg = c.tn + c.fp > 0;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  m.roc_auc = has_pos && has_neg ? roc_auc_score(y_true, proba) : nan;
  m.average_precision = has_pos ? average_precision_score(y_true, proba) : nan;
  m.log_loss = log_loss(y_true, proba);
  m.brier = brier_score_loss(y_true, proba);
  return m;
}

/// The decision threshold with the highest F1 and the F1, precision and recall it gives.
struct threshold_choice {
  double threshold = 0.5;
  double f1 = 0.0;
  double precision = 0.0;
  double recall = 0.0;
};

/// The decision threshold t maximising F1 of `score > t` (the rule of random_forest::predict and of
/// evaluate_binary), with the F1, precision and recall that rule gives on (y_true, y_score).
///
/// The candidates are the cuts between adjacent distinct scores: the cut below the k-th highest score
/// flags exactly the samples scoring at least that score (the thresholds of precision_recall_curve, and
/// the counts of confusion_matrix_at_thresholds). The threshold returned lies strictly between the two
/// adjacent scores (their midpoint; the lower one where no double lies between them), so that a score
/// equal to an observed one is never on the edge. The cut below the lowest score (everything positive)
/// is at half that score, and offered only when the lowest score is above 0: no threshold in [0, 1]
/// flags a probability of 0. Among equal F1 the lowest threshold wins (numpy's argmax along
/// precision_recall_curve's increasing order). F1 is computed from counts as 2TP / (2TP + FP + FN), so
/// ties are exact. When no cut is possible (every score 0 or below and equal) the result is the lowest
/// score with F1 0. Throws data_error on bad input or without positives.
inline threshold_choice best_f1_threshold(const std::vector<int>& y_true, const std::vector<double>& y_score) {
  threshold_counts c = confusion_matrix_at_thresholds(y_true, y_score);
  const double pos = c.tps.back();
  if (pos == 0.0) {
    throw data_error("best_f1_threshold: y_true has no positive samples (" + std::to_string(y_true.size()) +
                     " samples); no threshold has a positive F1");
  }
  const std::size_t n_cuts = c.thresholds.size();
  threshold_choice best;
  best.threshold = c.thresholds.back();
  best.f1 = -1.0;
  // Highest score first: `>=` lets a later (lower) threshold with equal F1 win.
  for (std::size_t k = 0; k < n_cuts; ++k) {
    const double above = c.thresholds[k];
    double cut;
    if (k + 1 < n_cuts) {
      const double below = c.thresholds[k + 1];
      cut = below + (above - below) / 2;
      if (!(cut > below && cut < above)) cut = below;  // adjacent doubles: `score > below` is the same cut
    } else {
      if (!(above > 0.0)) continue;
      cut = above / 2;
    }
    const double f1 = 2.0 * c.tps[k] / (2.0 * c.tps[k] + c.fps[k] + (pos - c.tps[k]));
    if (f1 >= best.f1) {
      best.f1 = f1;
      best.threshold = cut;
      best.precision = c.tps[k] / (c.tps[k] + c.fps[k]);
      best.recall = c.tps[k] / pos;
    }
  }
  if (best.f1 < 0) best.f1 = 0.0;
  return best;
}

}  // namespace churn
