// Metrics: worked examples from scikit-learn's documentation and the peers note, brute-force oracles on
// random data (pairwise Mann-Whitney for ROC AUC, direct threshold sweeps for AP and the curves), and
// the error messages. Equality with scikit-learn itself is tests/python/test_metrics.py.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <vector>

#include <churn/metrics.hpp>

namespace {

struct random_case {
  std::vector<int> y;
  std::vector<double> s;
};

// Scores on a coarse grid so that ties are frequent.
random_case make_case(std::mt19937& gen, int n, int levels) {
  random_case c;
  std::uniform_int_distribution<int> level(0, levels - 1);
  std::bernoulli_distribution coin(0.3);
  for (int i = 0; i < n; ++i) {
    c.y.push_back(coin(gen) ? 1 : 0);
    c.s.push_back(static_cast<double>(level(gen)) / static_cast<double>(levels - 1));
  }
  return c;
}

double mann_whitney_auc(const std::vector<int>& y, const std::vector<double>& s) {
  double wins = 0.0;
  double pairs = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    for (std::size_t j = 0; j < y.size(); ++j) {
      if (y[i] == 1 && y[j] == 0) {
        pairs += 1.0;
        wins += s[i] > s[j] ? 1.0 : (s[i] == s[j] ? 0.5 : 0.0);
      }
    }
  }
  return wins / pairs;
}

// AP by definition: over distinct thresholds t in decreasing order, (R(t) - R(previous)) * P(t).
double brute_average_precision(const std::vector<int>& y, const std::vector<double>& s) {
  std::set<double, std::greater<double>> ts(s.begin(), s.end());
  double pos = 0.0;
  for (int v : y) pos += v;
  double ap = 0.0;
  double prev_recall = 0.0;
  for (double t : ts) {
    double tp = 0.0;
    double fp = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) {
      if (s[i] >= t) (y[i] == 1 ? tp : fp) += 1.0;
    }
    const double recall = tp / pos;
    ap += (recall - prev_recall) * tp / (tp + fp);
    prev_recall = recall;
  }
  return ap;
}

}  // namespace

TEST_CASE("binary_metrics_from_vector: a vector of the wrong length is a parameter_error (a churn::error)") {
  const churn::binary_metrics m = churn::binary_metrics_from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(m.brier == 9);
  CHECK(churn::to_vector(m).size() == 9);
  CHECK_THROWS_WITH_AS(churn::binary_metrics_from_vector({1, 2}),
                       "invalid value for parameter 'v': 2 values (allowed: 9 values, in the order of "
                       "binary_metric_names())",
                       churn::parameter_error);
}

TEST_CASE("worked examples: ROC AUC and average precision with ties") {
  // From the peers note (section 9) and scikit-learn's docstrings.
  CHECK(churn::roc_auc_score({1, 0, 1, 0, 1}, {.9, .9, .3, .3, .1}) == doctest::Approx(1.0 / 3.0).epsilon(1e-15));
  CHECK(churn::average_precision_score({1, 0, 1, 0}, {.5, .5, .2, .1}) == doctest::Approx(7.0 / 12.0).epsilon(1e-15));
  CHECK(churn::average_precision_score({0, 0, 1, 1}, {0.1, 0.4, 0.35, 0.8}) == doctest::Approx(0.8333333333333333));
  CHECK(churn::roc_auc_score({0, 0, 1, 1}, {0.1, 0.4, 0.35, 0.8}) == doctest::Approx(0.75));
}

TEST_CASE("roc_curve and precision_recall_curve match scikit-learn's docstring examples") {
  const std::vector<int> y{0, 0, 1, 1};
  const std::vector<double> s{0.1, 0.4, 0.35, 0.8};
  const auto roc = churn::roc_curve(y, s, false);
  CHECK(roc.fpr == std::vector<double>{0, 0, 0.5, 0.5, 1});
  CHECK(roc.tpr == std::vector<double>{0, 0.5, 0.5, 1, 1});
  CHECK(std::isinf(roc.thresholds[0]));
  CHECK(std::vector<double>(roc.thresholds.begin() + 1, roc.thresholds.end()) ==
        std::vector<double>{0.8, 0.4, 0.35, 0.1});
  const auto pr = churn::precision_recall_curve(y, s);
  CHECK(pr.recall == std::vector<double>{1, 1, 0.5, 0.5, 0});
  CHECK(pr.precision[1] == doctest::Approx(2.0 / 3.0));
  CHECK(pr.precision.back() == 1.0);
  CHECK(pr.thresholds == std::vector<double>{0.1, 0.35, 0.4, 0.8});
}

TEST_CASE("drop_intermediate removes only collinear ROC points and keeps the area") {
  std::mt19937 gen(7);
  for (int rep = 0; rep < 50; ++rep) {
    auto c = make_case(gen, 60, 25);
    if (std::count(c.y.begin(), c.y.end(), 1) == 0 || std::count(c.y.begin(), c.y.end(), 0) == 0) continue;
    const auto full = churn::roc_curve(c.y, c.s, false);
    const auto kept = churn::roc_curve(c.y, c.s, true);
    CHECK(kept.fpr.size() <= full.fpr.size());
    CHECK(kept.fpr.front() == 0.0);
    CHECK(kept.fpr.back() == 1.0);
    CHECK(kept.tpr.back() == 1.0);
    double a_full = 0.0;
    double a_kept = 0.0;
    for (std::size_t k = 1; k < full.fpr.size(); ++k)
      a_full += (full.fpr[k] - full.fpr[k - 1]) * (full.tpr[k] + full.tpr[k - 1]) / 2;
    for (std::size_t k = 1; k < kept.fpr.size(); ++k)
      a_kept += (kept.fpr[k] - kept.fpr[k - 1]) * (kept.tpr[k] + kept.tpr[k - 1]) / 2;
    CHECK(a_kept == doctest::Approx(a_full).epsilon(1e-12));
    // Every dropped point lies on the segment between its kept neighbours: vertical or horizontal runs.
    const auto pr_full = churn::precision_recall_curve(c.y, c.s, false);
    const auto pr_kept = churn::precision_recall_curve(c.y, c.s, true);
    CHECK(std::set<double>(pr_full.recall.begin(), pr_full.recall.end()) ==
          std::set<double>(pr_kept.recall.begin(), pr_kept.recall.end()));
  }
}

TEST_CASE("ROC AUC equals the Mann-Whitney statistic and AP its definition on random tied data") {
  std::mt19937 gen(2024);
  int checked = 0;
  for (int rep = 0; rep < 300; ++rep) {
    auto c = make_case(gen, 5 + rep % 80, 2 + rep % 30);
    const auto pos = std::count(c.y.begin(), c.y.end(), 1);
    if (pos == 0 || pos == static_cast<long>(c.y.size())) continue;
    CHECK(churn::roc_auc_score(c.y, c.s) == doctest::Approx(mann_whitney_auc(c.y, c.s)).epsilon(1e-12));
    CHECK(churn::average_precision_score(c.y, c.s) ==
          doctest::Approx(brute_average_precision(c.y, c.s)).epsilon(1e-12));
    ++checked;
  }
  CHECK(checked > 250);
}

TEST_CASE("confusion-matrix metrics and zero division") {
  const std::vector<int> y{1, 1, 0, 0, 0, 1};
  const std::vector<int> p{1, 0, 0, 1, 0, 1};
  const auto c = churn::confusion_matrix(y, p);
  CHECK(c.tp == 2);
  CHECK(c.fn == 1);
  CHECK(c.fp == 1);
  CHECK(c.tn == 2);
  CHECK(churn::accuracy_score(y, p) == doctest::Approx(4.0 / 6.0));
  CHECK(churn::precision_score(y, p) == doctest::Approx(2.0 / 3.0));
  CHECK(churn::recall_score(y, p) == doctest::Approx(2.0 / 3.0));
  CHECK(churn::f1_score(y, p) == doctest::Approx(4.0 / 6.0));
  CHECK(churn::balanced_accuracy_score(y, p) == doctest::Approx(2.0 / 3.0));

  // No predicted positives: precision is a zero division, F1's denominator is not (FN > 0).
  CHECK(churn::precision_score({1, 0}, {0, 0}) == 0.0);
  CHECK(churn::precision_score({1, 0}, {0, 0}, churn::zero_division::one) == 1.0);
  CHECK(churn::f1_score({1, 0}, {0, 0}, churn::zero_division::one) == 0.0);
  // All negative truth and predictions: every one of the three is a zero division.
  CHECK(churn::f1_score({0, 0}, {0, 0}) == 0.0);
  CHECK(churn::f1_score({0, 0}, {0, 0}, churn::zero_division::one) == 1.0);
  CHECK(std::isnan(churn::recall_score({0, 0}, {1, 0}, churn::zero_division::nan)));
  // One class in y_true: balanced accuracy is that class's recall.
  CHECK(churn::balanced_accuracy_score({0, 0, 0}, {0, 1, 1}) == doctest::Approx(1.0 / 3.0));
}

TEST_CASE("log loss clips to machine epsilon; Brier is the mean squared error") {
  const double eps = std::numeric_limits<double>::epsilon();
  CHECK(churn::log_loss({0, 0}, {0.0, 1.0}) == doctest::Approx(-std::log(eps) / 2).epsilon(1e-14));
  CHECK(churn::log_loss({1, 0}, {0.8, 0.3}) == doctest::Approx(-(std::log(0.8) + std::log(0.7)) / 2));
  CHECK(churn::brier_score_loss({1, 1}, {0.1, 0.3}) == doctest::Approx(0.65));
  CHECK(churn::brier_score_loss({0, 0}, {0.1, 0.3}) == doctest::Approx(0.05));
}

TEST_CASE("best_f1_threshold cuts between adjacent scores and reports the F1 of p > threshold") {
  std::mt19937 gen(99);
  for (int rep = 0; rep < 100; ++rep) {
    auto c = make_case(gen, 10 + rep, 3 + rep % 20);
    if (std::count(c.y.begin(), c.y.end(), 1) == 0) continue;
    const auto best = churn::best_f1_threshold(c.y, c.s);
    const std::set<double> distinct(c.s.begin(), c.s.end());
    const std::vector<double> ts(distinct.begin(), distinct.end());
    double best_f1 = -1.0;
    double best_t = 0.0;
    for (std::size_t i = 0; i < ts.size(); ++i) {  // ascending: strict > keeps the lowest threshold among equal F1
      const double below = i > 0 ? ts[i - 1] : 0.0;
      if (i == 0 && !(ts[0] > 0.0)) continue;  // no threshold in [0, 1] flags a score of 0
      const double cut = below + (ts[i] - below) / 2;
      CHECK(cut > below);
      CHECK(cut < ts[i]);
      const auto flagged = churn::predict_at_threshold(c.s, cut);
      for (std::size_t k = 0; k < c.s.size(); ++k) CHECK(flagged[k] == (c.s[k] >= ts[i] ? 1 : 0));
      const double f1 = churn::f1_score(c.y, flagged);
      if (f1 > best_f1) {
        best_f1 = f1;
        best_t = cut;
      }
    }
    CHECK(best.f1 == best_f1);
    CHECK(best.threshold == best_t);
    const auto at_best = churn::predict_at_threshold(c.s, best.threshold);
    CHECK(best.f1 == churn::f1_score(c.y, at_best));
    CHECK(best.precision == churn::precision_score(c.y, at_best));
    CHECK(best.recall == churn::recall_score(c.y, at_best));
  }
  // F1 is 2/3 flagging 0.9 (TP 1, FN 1) and again flagging everything (TP 2, FP 2); the lower cut wins,
  // half the lowest score.
  const auto b = churn::best_f1_threshold({1, 0, 0, 1}, {0.9, 0.8, 0.7, 0.6});
  CHECK(b.threshold == 0.3);
  CHECK(b.f1 == doctest::Approx(2.0 / 3.0));
  CHECK(b.recall == 1.0);
  // Forest-like scores with ties: the cut lies strictly between 0.5 and 0.75, so p == 0.5 stays class 0
  // and the reported F1 is the one predict() gives.
  const auto t = churn::best_f1_threshold({1, 1, 0, 0, 0, 1}, {0.75, 0.75, 0.5, 0.5, 0.25, 0.5});
  CHECK(t.threshold == 0.625);
  CHECK(t.f1 == doctest::Approx(0.8));
  // Everything scores 0: no threshold flags anything; F1 0 at threshold 0.
  const auto z = churn::best_f1_threshold({1, 0}, {0.0, 0.0});
  CHECK(z.threshold == 0.0);
  CHECK(z.f1 == 0.0);
}

TEST_CASE("a probability exactly at the threshold is class 0 in every metric") {
  const std::vector<int> y{1, 0, 1, 0};
  const std::vector<double> p{0.5, 0.5, 0.75, 0.25};
  CHECK(churn::predict_at_threshold(p, 0.5) == std::vector<int>{0, 0, 1, 0});
  churn::confusion_matrix_counts c;
  const auto m = churn::evaluate_binary(y, p, 0.5, &c);
  CHECK(c.tp == 1);
  CHECK(c.fn == 1);
  CHECK(c.fp == 0);
  CHECK(c.tn == 2);
  CHECK(m.recall == 0.5);
}

TEST_CASE("evaluate_binary agrees with the individual functions and reports NaN when undefined") {
  const std::vector<int> y{1, 0, 1, 0, 0, 1, 0};
  const std::vector<double> p{0.9, 0.2, 0.4, 0.6, 0.1, 0.55, 0.3};
  churn::confusion_matrix_counts c;
  const auto m = churn::evaluate_binary(y, p, 0.5, &c);
  const auto hard = churn::predict_at_threshold(p, 0.5);
  CHECK(m.f1 == churn::f1_score(y, hard));
  CHECK(m.precision == churn::precision_score(y, hard));
  CHECK(m.roc_auc == churn::roc_auc_score(y, p));
  CHECK(m.average_precision == churn::average_precision_score(y, p));
  CHECK(m.log_loss == churn::log_loss(y, p));
  CHECK(m.brier == churn::brier_score_loss(y, p));
  CHECK(c.tp == 2);
  const auto single = churn::evaluate_binary({0, 0, 0}, {0.1, 0.7, 0.2}, 0.5);
  CHECK(std::isnan(single.roc_auc));
  CHECK(std::isnan(single.average_precision));
  CHECK(single.accuracy == doctest::Approx(2.0 / 3.0));
}

TEST_CASE("bad input gives data_error naming the function and the element") {
  CHECK_THROWS_WITH_AS(churn::roc_auc_score({1, 1, 1}, {0.1, 0.2, 0.3}),
                       "roc_auc_score: only one class is present in y_true (class 1, 3 samples); ROC AUC is not "
                       "defined in that case",
                       churn::data_error);
  CHECK_THROWS_WITH_AS(churn::average_precision_score({0, 0}, {0.1, 0.2}),
                       "average_precision_score: y_true has no positive samples (2 samples, all 0); average "
                       "precision is not defined in that case",
                       churn::data_error);
  CHECK_THROWS_WITH_AS(churn::f1_score({0, 2}, {0, 1}),
                       "confusion_matrix: y_true[1] = 2 is not a binary label (allowed: 0 or 1)", churn::data_error);
  CHECK_THROWS_WITH_AS(churn::accuracy_score({0, 1}, {0}),
                       "confusion_matrix: y_true and y_pred have different lengths (2 vs 1)", churn::data_error);
  CHECK_THROWS_WITH_AS(churn::roc_auc_score({0, 1}, {0.1, std::nan("")}),
                       "roc_auc_score: y_score[1] = nan is not finite", churn::data_error);
  CHECK_THROWS_WITH_AS(churn::log_loss({0, 1}, {0.1, 1.5}),
                       "log_loss: y_proba[1] = 1.5 is not a probability (allowed: 0 <= p <= 1)", churn::data_error);
  CHECK_THROWS_WITH_AS(churn::brier_score_loss({0, 1}, {0.1, 1.1}),
                       "brier_score_loss: y_proba[1] = 1.1 is not a probability (allowed: 0 <= p <= 1)",
                       churn::data_error);
  CHECK_THROWS_AS(churn::roc_curve({0, 0}, {0.1, 0.2}), churn::data_error);
  CHECK_THROWS_AS(churn::accuracy_score({}, {}), churn::data_error);
}
