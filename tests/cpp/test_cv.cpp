// Folds, splits, the baselines and cross_validate. Fold-for-fold equality with scikit-learn on hundreds
// of random cases is tests/python/test_cv.py; here: the properties every stratified fold must have, one
// small case checked against scikit-learn, and the honesty of the tuned threshold.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <vector>

#include <churn/baseline.hpp>
#include <churn/cv.hpp>
#include <churn/forest.hpp>
#include <churn/forest_fit.hpp>
#include <churn/logistic.hpp>
#include <churn/matrix_view.hpp>
#include <churn/model_io.hpp>

namespace {

std::vector<int> random_labels(std::mt19937& gen, std::size_t n, double p_pos) {
  std::bernoulli_distribution coin(p_pos);
  std::vector<int> y(n);
  for (auto& v : y) v = coin(gen) ? 1 : 0;
  return y;
}

// A noisy linear problem: y = 1 when x . w + noise > cut.
void make_problem(std::mt19937& gen, std::size_t n, std::size_t p, churn::row_matrix& X, std::vector<int>& y) {
  std::normal_distribution<double> normal(0.0, 1.0);
  X.resize(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(p));
  y.assign(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    double z = 0.0;
    for (std::size_t j = 0; j < p; ++j) {
      const double v = normal(gen) * (1.0 + static_cast<double>(j));
      X(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = v;
      z += v / (1.0 + static_cast<double>(j)) * (j % 2 == 0 ? 1.0 : -0.5);
    }
    y[i] = z + normal(gen) > 0.8 ? 1 : 0;
  }
}

std::vector<std::size_t> to_size(const std::vector<int>& v) { return std::vector<std::size_t>(v.begin(), v.end()); }

}  // namespace

TEST_CASE("stratified_kfold matches scikit-learn on a small case, with and without shuffle") {
  // StratifiedKFold(3, shuffle=True, random_state=42) and StratifiedKFold(3) from scikit-learn 1.9.1.
  const std::vector<int> y{1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1};
  const auto shuffled = churn::stratified_kfold(y, 3, true, 42);
  CHECK(shuffled[0].test == to_size({0, 2, 7, 8, 10}));
  CHECK(shuffled[1].test == to_size({1, 4, 6, 11, 13}));
  CHECK(shuffled[2].test == to_size({3, 5, 9, 12}));
  const auto plain = churn::stratified_kfold(y, 3, false);
  CHECK(plain[0].test == to_size({0, 1, 2, 3, 4}));
  CHECK(plain[1].test == to_size({5, 6, 7, 8, 10}));
  CHECK(plain[2].test == to_size({9, 11, 12, 13}));
  CHECK(plain[1].train == to_size({0, 1, 2, 3, 4, 9, 11, 12, 13}));
}

TEST_CASE("every stratified fold keeps the class ratio and every sample is tested once") {
  std::mt19937 gen(5);
  for (int rep = 0; rep < 200; ++rep) {
    const std::size_t n = 20 + static_cast<std::size_t>(rep) * 7;
    auto y = random_labels(gen, n, 0.1 + 0.004 * rep);
    const int n_pos = static_cast<int>(std::count(y.begin(), y.end(), 1));
    const int k = 2 + rep % 9;
    if (std::min<int>(n_pos, static_cast<int>(n) - n_pos) < k) continue;
    const auto folds = churn::stratified_kfold(y, k, rep % 3 != 0, static_cast<std::uint64_t>(rep));
    REQUIRE(folds.size() == static_cast<std::size_t>(k));
    std::vector<int> times_tested(n, 0);
    int min_pos = 1 << 30, max_pos = -1, min_neg = 1 << 30, max_neg = -1;
    for (const auto& f : folds) {
      CHECK(std::is_sorted(f.test.begin(), f.test.end()));
      CHECK(std::is_sorted(f.train.begin(), f.train.end()));
      CHECK(f.train.size() + f.test.size() == n);
      std::set<std::size_t> all(f.train.begin(), f.train.end());
      all.insert(f.test.begin(), f.test.end());
      CHECK(all.size() == n);
      int pos = 0;
      for (std::size_t i : f.test) {
        ++times_tested[i];
        pos += y[i];
      }
      const int neg = static_cast<int>(f.test.size()) - pos;
      min_pos = std::min(min_pos, pos);
      max_pos = std::max(max_pos, pos);
      min_neg = std::min(min_neg, neg);
      max_neg = std::max(max_neg, neg);
    }
    CHECK(std::all_of(times_tested.begin(), times_tested.end(), [](int t) { return t == 1; }));
    CHECK(max_pos - min_pos <= 1);
    CHECK(max_neg - min_neg <= 1);
  }
}

TEST_CASE("stratified_kfold rejects impossible requests with clear errors") {
  const std::vector<int> y{0, 0, 0, 0, 1, 1, 0, 1};
  CHECK_THROWS_WITH_AS(churn::stratified_kfold(y, 4),
                       "invalid value for parameter 'n_splits': 4 (allowed: 2 to 3: the smallest class, label 1, "
                       "has 3 members and every test fold needs one)",
                       churn::parameter_error);
  CHECK_THROWS_WITH_AS(churn::stratified_kfold(y, 1),
                       "invalid value for parameter 'n_splits': 1 (allowed: an integer >= 2)", churn::parameter_error);
  CHECK_THROWS_WITH_AS(
      churn::stratified_kfold({0, 0, 1}, 2),
      "stratified_kfold: class 1 has only 1 member; stratified k-fold needs at least 2 members of every "
      "class",
      churn::data_error);
  CHECK_THROWS_AS(churn::stratified_kfold({}, 2), churn::data_error);
  CHECK_THROWS_AS(churn::stratified_kfold(y, 2, true, 1ULL << 32), churn::parameter_error);
}

TEST_CASE("stratified_train_test_split matches scikit-learn on a small case and keeps proportions") {
  const std::vector<int> y{1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1};
  churn::split_params sp;
  sp.test_size = 0.3;
  sp.seed = 5;
  const auto s = churn::stratified_train_test_split(y, sp);
  // train_test_split(arange(14), test_size=0.3, stratify=y, random_state=5) in scikit-learn 1.9.1.
  CHECK(s.train == to_size({12, 3, 6, 11, 4, 1, 7, 2, 13}));
  CHECK(s.test == to_size({10, 8, 5, 9, 0}));

  std::mt19937 gen(17);
  for (int rep = 0; rep < 100; ++rep) {
    const std::size_t n = 10 + static_cast<std::size_t>(rep) * 13;
    auto y2 = random_labels(gen, n, 0.25);
    if (std::count(y2.begin(), y2.end(), 1) < 2 || std::count(y2.begin(), y2.end(), 0) < 2) continue;
    churn::split_params p;
    p.test_size = 0.2;
    p.seed = static_cast<std::uint64_t>(rep);
    const auto split = churn::stratified_train_test_split(y2, p);
    CHECK(split.test.size() == static_cast<std::size_t>(std::ceil(0.2 * static_cast<double>(n))));
    CHECK(split.train.size() + split.test.size() == n);
    std::set<std::size_t> all(split.train.begin(), split.train.end());
    all.insert(split.test.begin(), split.test.end());
    CHECK(all.size() == n);
    const double share = static_cast<double>(std::count(y2.begin(), y2.end(), 1)) / static_cast<double>(n);
    int test_pos = 0;
    for (std::size_t i : split.test) test_pos += y2[i];
    CHECK(std::abs(test_pos - share * static_cast<double>(split.test.size())) <= 1.0);
  }
  CHECK_THROWS_AS(churn::stratified_train_test_split({0, 0, 0, 1}, sp), churn::data_error);
  sp.test_size = 1.5;
  CHECK_THROWS_WITH_AS(churn::stratified_train_test_split(y, sp),
                       "invalid value for parameter 'test_size': 1.5 (allowed: a fraction in (0, 1))",
                       churn::parameter_error);
}

TEST_CASE("logistic regression reaches the optimum of its objective") {
  std::mt19937 gen(3);
  churn::row_matrix X;
  std::vector<int> y;
  make_problem(gen, 300, 4, X, y);
  churn::logistic_params lp;
  lp.C = 0.7;
  const auto m = churn::fit_logistic(X, y, lp);
  CHECK(m.converged);
  CHECK(m.n_iter < 20);
  // Stationarity: w + C * Xs'(p - y) = 0 and sum(p - y) = 0.
  const auto p = m.predict_proba(X);
  Eigen::VectorXd g = m.coef;
  double gb = 0.0;
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    const double r = p[static_cast<std::size_t>(i)] - y[static_cast<std::size_t>(i)];
    gb += r;
    for (Eigen::Index j = 0; j < X.cols(); ++j)
      g[j] += lp.C * r * (X(i, j) - m.mean[static_cast<std::size_t>(j)]) / m.scale[static_cast<std::size_t>(j)];
  }
  CHECK(g.cwiseAbs().maxCoeff() < 1e-8);
  CHECK(std::abs(gb) < 1e-8);

  // Standardisation makes the fit invariant to the units of a feature.
  churn::row_matrix X2 = X;
  X2.col(1) = X2.col(1) * 1000.0 + Eigen::VectorXd::Constant(X.rows(), 5.0);
  const auto p2 = churn::fit_logistic(X2, y, lp).predict_proba(X2);
  for (std::size_t i = 0; i < p.size(); ++i) CHECK(p2[i] == doctest::Approx(p[i]).epsilon(1e-9));
  // The raw coefficients give the same linear predictor.
  const Eigen::VectorXd z = X * m.raw_coef() + Eigen::VectorXd::Constant(X.rows(), m.raw_intercept());
  CHECK(churn::detail::logistic_sigmoid(z[7]) == doctest::Approx(p[7]).epsilon(1e-12));
}

TEST_CASE("logistic regression on separable and constant data stays finite; bad input is named") {
  churn::row_matrix X(6, 2);
  X << 0, 1, 1, 1, 2, 1, 3, 1, 4, 1, 5, 1;  // column 1 is constant
  const std::vector<int> y{0, 0, 0, 1, 1, 1};
  const auto m = churn::fit_logistic(X, y);
  CHECK(m.converged);
  CHECK(std::isfinite(m.coef[0]));
  CHECK(m.coef[1] == 0.0);
  const auto p = m.predict_proba(X);
  CHECK(p[0] < 0.5);
  CHECK(p[5] > 0.5);
  CHECK_THROWS_WITH_AS(churn::fit_logistic(X, {0, 0, 0, 0, 0, 0}),
                       "fit_logistic: y contains only class 0; logistic regression needs samples of both classes",
                       churn::data_error);
  churn::row_matrix bad = X;
  bad(2, 1) = std::nan("");
  CHECK_THROWS_WITH_AS(churn::fit_logistic(bad, y),
                       "fit_logistic: X[2, 1] = nan is not finite; logistic regression needs complete numeric features",
                       churn::data_error);
  CHECK_THROWS_WITH_AS(m.predict_proba(churn::row_matrix(2, 3)),
                       "logistic_model::predict_proba: X has 3 columns but the model was fitted on 2",
                       churn::data_error);
  churn::logistic_params lp;
  lp.C = -1;
  CHECK_THROWS_AS(churn::fit_logistic(X, y, lp), churn::parameter_error);
}

TEST_CASE("cross_validate: the tuned threshold never depends on the test fold") {
  std::mt19937 gen(11);
  churn::row_matrix X;
  std::vector<int> y;
  make_problem(gen, 160, 3, X, y);
  const auto folds = churn::stratified_kfold(y, 4, true, 2);
  const auto fit = [](const churn::row_matrix& Xt, const std::vector<int>& yt) { return churn::fit_logistic(Xt, yt); };
  churn::cv_params cp;
  cp.seed = 9;
  const auto base = churn::cross_validate(fit, X, y, folds, cp);

  for (std::size_t f = 0; f < folds.size(); ++f) {
    // The threshold is what tune_threshold finds on the training rows alone.
    const auto& train = folds[f].train;
    churn::row_matrix Xt(static_cast<Eigen::Index>(train.size()), X.cols());
    std::vector<int> yt;
    for (std::size_t i = 0; i < train.size(); ++i) {
      Xt.row(static_cast<Eigen::Index>(i)) = X.row(static_cast<Eigen::Index>(train[i]));
      yt.push_back(y[train[i]]);
    }
    const auto choice = churn::tune_threshold(fit, Xt, yt, cp.inner_splits, base.folds[f].inner_seed);
    CHECK(base.folds[f].inner_seed == (churn::detail::derive_seed(cp.seed, f) & 0xffffffffULL));
    CHECK(base.folds[f].threshold == choice.threshold);
    CHECK(base.folds[f].inner_f1 == choice.f1);

    // Flip every label of fold f's test part and scramble its rows: fold f's threshold stays put, while
    // its test metrics (which do look at those labels) change.
    std::vector<int> y2 = y;
    churn::row_matrix X2 = X;
    std::normal_distribution<double> normal(0.0, 5.0);
    for (std::size_t i : folds[f].test) {
      y2[i] = 1 - y2[i];
      for (Eigen::Index j = 0; j < X.cols(); ++j) X2(static_cast<Eigen::Index>(i), j) = normal(gen);
    }
    const auto changed = churn::cross_validate(fit, X2, y2, folds, cp);
    CHECK(changed.folds[f].threshold == base.folds[f].threshold);
    CHECK(changed.folds[f].inner_f1 == base.folds[f].inner_f1);
    CHECK(changed.folds[f].tuned.f1 != base.folds[f].tuned.f1);
    // Those samples are training data for the other folds, whose thresholds therefore can move.
    bool other_moved = false;
    for (std::size_t g = 0; g < folds.size(); ++g) {
      if (g != f && changed.folds[g].threshold != base.folds[g].threshold) other_moved = true;
    }
    CHECK(other_moved);
  }
}

TEST_CASE("cross_validate results do not depend on the number of threads") {
  std::mt19937 gen(23);
  churn::row_matrix X;
  std::vector<int> y;
  make_problem(gen, 200, 5, X, y);
  const auto folds = churn::stratified_kfold(y, 5, true, 0);
  const auto fit = [](const churn::row_matrix& Xt, const std::vector<int>& yt) { return churn::fit_logistic(Xt, yt); };
  churn::cv_params cp;
  const auto one = churn::cross_validate(fit, X, y, folds, cp);
  for (int threads : {2, 3, 0}) {
    cp.threads = threads;
    const auto many = churn::cross_validate(fit, X, y, folds, cp);
    CHECK(many.oof_proba == one.oof_proba);
    CHECK(many.oof_pred == one.oof_pred);
    for (std::size_t f = 0; f < folds.size(); ++f) CHECK(many.folds[f].threshold == one.folds[f].threshold);
    CHECK(churn::to_vector(many.tuned.mean) == churn::to_vector(one.tuned.mean));
  }
}

TEST_CASE("a cross-validation plan run by hand and assembled gives cross_validate's result") {
  std::mt19937 gen(29);
  churn::row_matrix X;
  std::vector<int> y;
  make_problem(gen, 120, 4, X, y);
  const auto folds = churn::stratified_kfold(y, 4, true, 3);
  churn::cv_params cp;
  cp.seed = 11;
  const auto plan = churn::plan_cross_validate(y, folds, cp);
  REQUIRE(plan.tasks.size() == folds.size() * 4);
  // Task f * 4 + 3 is fold f itself; the inner tasks train and test inside its training part.
  for (std::size_t f = 0; f < folds.size(); ++f) {
    CHECK(plan.tasks[f * 4 + 3].train == folds[f].train);
    CHECK(plan.tasks[f * 4 + 3].inner == -1);
    const std::set<std::size_t> outer(folds[f].train.begin(), folds[f].train.end());
    for (std::size_t j = 0; j < 3; ++j) {
      const auto& t = plan.tasks[f * 4 + j];
      CHECK(t.fold == f);
      CHECK(t.inner == static_cast<int>(j));
      for (auto i : t.train) CHECK(outer.count(i) == 1);
      for (auto i : t.test) CHECK(outer.count(i) == 1);
    }
  }
  std::vector<std::vector<double>> proba;
  for (const auto& t : plan.tasks) {
    churn::row_matrix Xt(static_cast<Eigen::Index>(t.train.size()), X.cols());
    std::vector<int> yt;
    for (std::size_t i = 0; i < t.train.size(); ++i) {
      Xt.row(static_cast<Eigen::Index>(i)) = X.row(static_cast<Eigen::Index>(t.train[i]));
      yt.push_back(y[t.train[i]]);
    }
    const auto model = churn::fit_logistic(Xt, yt);
    churn::row_matrix Xs(static_cast<Eigen::Index>(t.test.size()), X.cols());
    for (std::size_t i = 0; i < t.test.size(); ++i)
      Xs.row(static_cast<Eigen::Index>(i)) = X.row(static_cast<Eigen::Index>(t.test[i]));
    proba.push_back(model.predict_proba(Xs));
  }
  const auto fit = [](const churn::row_matrix& Xt, const std::vector<int>& yt) { return churn::fit_logistic(Xt, yt); };
  const auto direct = churn::cross_validate(fit, X, y, folds, cp);
  const auto assembled = churn::assemble_cross_validate(plan, proba);
  CHECK(churn::cv_result_json(assembled, true).dump() == churn::cv_result_json(direct, true).dump());
  proba.pop_back();
  CHECK_THROWS_AS(churn::assemble_cross_validate(plan, proba), churn::data_error);
}

TEST_CASE("cross_validate summarises folds, fills out-of-fold predictions and compares baselines") {
  std::mt19937 gen(31);
  churn::row_matrix X;
  std::vector<int> y;
  make_problem(gen, 250, 4, X, y);
  const auto folds = churn::stratified_kfold(y, 5, true, 1);
  const auto logit = churn::cross_validate(
      [](const churn::row_matrix& Xt, const std::vector<int>& yt) { return churn::fit_logistic(Xt, yt); }, X, y, folds);
  const auto major = churn::cross_validate(
      [](const churn::row_matrix& Xt, const std::vector<int>& yt) { return churn::fit_majority(Xt, yt); }, X, y, folds);

  REQUIRE(logit.folds.size() == 5);
  double f1_sum = 0.0;
  for (const auto& r : logit.folds) f1_sum += r.tuned.f1;
  CHECK(logit.tuned.mean.f1 == doctest::Approx(f1_sum / 5));
  for (std::size_t i = 0; i < y.size(); ++i) {
    CHECK(logit.oof_fold[i] >= 0);
    CHECK(std::isfinite(logit.oof_proba[i]));
  }
  // The same out-of-fold probabilities, fold by fold, give the per-fold ROC AUC.
  for (std::size_t f = 0; f < folds.size(); ++f) {
    std::vector<int> yt;
    std::vector<double> pt;
    for (std::size_t i : folds[f].test) {
      yt.push_back(y[i]);
      pt.push_back(logit.oof_proba[i]);
    }
    CHECK(logit.folds[f].tuned.roc_auc == churn::roc_auc_score(yt, pt));
    CHECK(logit.folds[f].tuned_confusion.total() == static_cast<std::int64_t>(folds[f].test.size()));
  }
  // The majority baseline ranks nothing (AUC 0.5), never predicts churn at 0.5 on this minority-positive
  // data, and at its tuned threshold predicts churn for everyone (recall 1).
  CHECK(major.tuned.mean.roc_auc == doctest::Approx(0.5));
  CHECK(major.at_default.mean.f1 == 0.0);
  CHECK(major.tuned.mean.recall == 1.0);
  CHECK(logit.tuned.mean.f1 > major.tuned.mean.f1 + 0.1);
  CHECK(logit.tuned.mean.roc_auc > 0.8);

  // The JSON form carries the same numbers (NaN-free here) with the Python dict's keys.
  const nlohmann::json j = churn::cv_result_json(logit);
  CHECK(j["folds"].size() == 5);
  CHECK(j["folds"][2]["threshold"].get<double>() == logit.folds[2].threshold);
  CHECK(j["tuned"]["mean"]["f1"].get<double>() == logit.tuned.mean.f1);
  CHECK(j["folds"][0]["tuned_confusion"][1][1].get<std::int64_t>() == logit.folds[0].tuned_confusion.tp);
  CHECK_FALSE(j.contains("oof_proba"));
  CHECK(churn::cv_result_json(logit, true)["oof_proba"].size() == y.size());

  // No tuning: the threshold is the default.
  churn::cv_params fixed;
  fixed.inner_splits = 0;
  fixed.default_threshold = 0.4;
  const auto untuned = churn::cross_validate(
      [](const churn::row_matrix& Xt, const std::vector<int>& yt) { return churn::fit_logistic(Xt, yt); }, X, y, folds,
      fixed);
  for (const auto& r : untuned.folds) CHECK(r.threshold == 0.4);
  CHECK(untuned.oof_proba == logit.oof_proba);
}

TEST_CASE("cross_validate rejects bad folds and parameters, and passes fit errors on") {
  std::mt19937 gen(1);
  churn::row_matrix X;
  std::vector<int> y;
  make_problem(gen, 40, 2, X, y);
  const auto fit = [](const churn::row_matrix& Xt, const std::vector<int>& yt) { return churn::fit_majority(Xt, yt); };
  auto folds = churn::stratified_kfold(y, 2, true, 0);
  auto overlapping = folds;
  overlapping[1].test.push_back(overlapping[0].test.front());
  CHECK_THROWS_AS(churn::cross_validate(fit, X, y, overlapping), churn::data_error);
  auto out_of_range = folds;
  out_of_range[0].test.push_back(40);
  CHECK_THROWS_WITH_AS(churn::cross_validate(fit, X, y, out_of_range),
                       "cross_validate: fold 0: index 40 is out of range for 40 samples", churn::data_error);
  churn::cv_params cp;
  cp.inner_splits = 1;
  CHECK_THROWS_WITH_AS(churn::cross_validate(fit, X, y, folds, cp),
                       "invalid value for parameter 'inner_splits': 1 (allowed: 0 (no tuning) or an integer >= 2)",
                       churn::parameter_error);
  CHECK_THROWS_AS(churn::cross_validate(fit, X, std::vector<int>(39, 0), folds), churn::data_error);
  const auto failing = [](const churn::row_matrix& Xt, const std::vector<int>& yt) {
    if (Xt.rows() > 15) throw churn::data_error("model refused");
    return churn::fit_majority(Xt, yt);
  };
  cp.inner_splits = 2;
  cp.threads = 2;
  // Inner fits (about 10 rows) pass, outer fits (20 rows) throw; which one is first depends on timing
  // with two threads, so the message is checked on one thread.
  CHECK_THROWS_AS(churn::cross_validate(failing, X, y, folds, cp), churn::data_error);
  cp.threads = 1;
  CHECK_THROWS_WITH_AS(churn::cross_validate(failing, X, y, folds, cp),
                       "cross_validate: fold 0 (rows numbered within that fit's rows): model refused",
                       churn::data_error);
  const auto failing_inner = [](const churn::row_matrix& Xt, const std::vector<int>& yt) {
    if (Xt.rows() < 15) throw churn::data_error("too small");
    return churn::fit_majority(Xt, yt);
  };
  CHECK_THROWS_WITH_AS(churn::cross_validate(failing_inner, X, y, folds, cp),
                       "cross_validate: fold 0, inner fold 0 (rows numbered within that fit's rows): too small",
                       churn::data_error);
}

TEST_CASE("cross_validate takes the random forest as it is (predict_proba on a matrix_view)") {
  std::mt19937 gen(41);
  churn::row_matrix X;
  std::vector<int> y;
  make_problem(gen, 150, 4, X, y);
  churn::forest_params fp;
  fp.n_estimators = 20;
  fp.random_state = 3;
  const auto fit = [&fp](const churn::row_matrix& Xt, const std::vector<int>& yt) {
    return churn::fit_forest(fp, churn::as_view(Xt), yt);
  };
  const auto folds = churn::stratified_kfold(y, 3, true, 0);
  churn::cv_params cp;
  const auto one = churn::cross_validate(fit, X, y, folds, cp);
  cp.threads = 2;
  const auto two = churn::cross_validate(fit, X, y, folds, cp);
  CHECK(one.oof_proba == two.oof_proba);
  CHECK(one.tuned.mean.roc_auc > 0.7);
  // The out-of-fold probabilities are those of a forest fitted on the fold's training rows.
  const auto& f0 = folds[0];
  churn::row_matrix Xt(static_cast<Eigen::Index>(f0.train.size()), X.cols());
  std::vector<int> yt;
  for (std::size_t i = 0; i < f0.train.size(); ++i) {
    Xt.row(static_cast<Eigen::Index>(i)) = X.row(static_cast<Eigen::Index>(f0.train[i]));
    yt.push_back(y[f0.train[i]]);
  }
  const auto model = fit(Xt, yt);
  const auto row = f0.test[0];
  CHECK(one.oof_proba[row] == model.predict_proba(X.row(static_cast<Eigen::Index>(row)).data()));
}

TEST_CASE("repeated stratified k-fold continues one generator and cross_validate reports every repetition") {
  std::mt19937 gen(8);
  churn::row_matrix X;
  std::vector<int> y;
  make_problem(gen, 90, 2, X, y);
  const auto rep = churn::repeated_stratified_kfold(y, 3, 4, 12);
  REQUIRE(rep.size() == 12);
  const auto first = churn::stratified_kfold(y, 3, true, 12);
  for (std::size_t f = 0; f < 3; ++f) CHECK(rep[f].test == first[f].test);
  CHECK(rep[3].test != rep[0].test);  // the next repetition draws on, it does not restart
  for (std::size_t r = 0; r < 4; ++r) {
    std::vector<int> tested(y.size(), 0);
    for (std::size_t f = 3 * r; f < 3 * r + 3; ++f) {
      for (std::size_t i : rep[f].test) ++tested[i];
    }
    CHECK(std::all_of(tested.begin(), tested.end(), [](int t) { return t == 1; }));
  }
  const auto fit = [](const churn::row_matrix& Xt, const std::vector<int>& yt) { return churn::fit_logistic(Xt, yt); };
  churn::cv_params cp;
  CHECK_THROWS_AS(churn::cross_validate(fit, X, y, rep, cp), churn::data_error);  // overlapping tests, n_repeats 1
  cp.n_repeats = 4;
  const auto r = churn::cross_validate(fit, X, y, rep, cp);
  CHECK(r.folds.size() == 12);
  CHECK(r.oof_proba.size() == 4 * y.size());
  CHECK(std::all_of(r.oof_fold.begin(), r.oof_fold.end(), [](int f) { return f >= 0; }));
  CHECK(r.oof_fold[y.size() + rep[4].test[0]] == 4);
  // The first repetition's out-of-fold predictions are those of cross-validating its folds alone.
  const auto alone = churn::cross_validate(fit, X, y, first);
  CHECK(std::vector<double>(r.oof_proba.begin(), r.oof_proba.begin() + static_cast<long>(y.size())) == alone.oof_proba);
  cp.n_repeats = 5;
  CHECK_THROWS_AS(churn::cross_validate(fit, X, y, rep, cp), churn::data_error);
}

TEST_CASE("stratified_group_kfold: a partition, no group in two folds, classes spread, errors named") {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 30; ++trial) {
    std::vector<int> y;
    std::vector<std::int64_t> groups;
    for (std::int64_t g = 0; g < 40; ++g) {
      const int rows = 1 + static_cast<int>(rng() % 5);
      const bool churner = rng() % 4 == 0;
      for (int r = 0; r < rows; ++r) {
        groups.push_back(g * 7 % 40);
        y.push_back(churner && r == rows - 1 ? 1 : 0);
      }
    }
    const auto folds = churn::stratified_group_kfold(y, groups, 4, trial % 2 == 0, static_cast<std::uint64_t>(trial));
    REQUIRE(folds.size() == 4);
    std::vector<int> tested(y.size(), 0);
    for (const auto& f : folds) {
      CHECK(f.train.size() + f.test.size() == y.size());
      CHECK(std::is_sorted(f.test.begin(), f.test.end()));
      std::set<std::int64_t> test_groups;
      for (auto i : f.test) test_groups.insert(groups[i]), ++tested[i];
      for (auto i : f.train) CHECK(test_groups.count(groups[i]) == 0);
      int pos = 0;
      for (auto i : f.test) pos += y[i];
      CHECK(pos > 0);
    }
    CHECK(std::all_of(tested.begin(), tested.end(), [](int t) { return t == 1; }));
  }
  std::vector<int> y{0, 0, 1, 1, 0, 0};
  std::vector<std::int64_t> g{1, 1, 2, 2, 3, 3};
  CHECK_THROWS_WITH_AS(churn::stratified_group_kfold(y, g, 2), doctest::Contains("occurs in only 1 group"),
                       churn::data_error);
  CHECK_THROWS_AS(churn::stratified_group_kfold(y, g, 4), churn::parameter_error);
  CHECK_THROWS_AS(churn::stratified_group_kfold(y, {1, 2}, 2), churn::parameter_error);
  CHECK_THROWS_AS(churn::stratified_group_kfold({}, {}, 2), churn::data_error);
}

TEST_CASE("out_of_time_split: training labels end by T, tests from T on, the rows between in neither") {
  const std::int64_t d = 86'400'000;
  std::vector<std::int64_t> cutoffs{0, 7 * d, 14 * d, 21 * d, 28 * d, 28 * d, 21 * d};
  const auto f = churn::out_of_time_split(cutoffs, 14, 28 * d);
  CHECK(f.train == std::vector<std::size_t>{0, 1, 2});
  CHECK(f.test == std::vector<std::size_t>{4, 5});
  CHECK_THROWS_WITH_AS(churn::out_of_time_split(cutoffs, 40, 28 * d), doctest::Contains("no rows to train on"),
                       churn::data_error);
  CHECK_THROWS_AS(churn::out_of_time_split(cutoffs, 14, 29 * d), churn::data_error);
}

TEST_CASE("one strided view: every layout of the same matrix gives the same forest, predictions and folds") {
  std::mt19937 gen(43);
  churn::row_matrix X;
  std::vector<int> y;
  make_problem(gen, 160, 5, X, y);
  X(3, 1) = std::numeric_limits<double>::quiet_NaN();  // missing values travel through every layout
  const Eigen::MatrixXd col_major = X;                 // the feature table's layout
  Eigen::MatrixXd wide = Eigen::MatrixXd::Zero(X.rows() + 3, X.cols() + 2);
  wide.block(2, 1, X.rows(), X.cols()) = X;  // a block: outer stride != rows
  const auto block = wide.block(2, 1, X.rows(), X.cols());

  const churn::matrix_view rv = churn::as_view(X);
  const churn::matrix_view cv = churn::as_view(col_major);
  const churn::matrix_view bv = churn::as_view(block);
  CHECK(rv.row_stride == X.cols());
  CHECK(rv.col_stride == 1);
  CHECK(cv.row_stride == 1);
  CHECK(cv.col_stride == X.rows());
  CHECK(bv.col_stride == wide.rows());
  CHECK(bv.data == &wide(2, 1));
  for (Eigen::Index r = 0; r < X.rows(); ++r)
    for (Eigen::Index c = 0; c < X.cols(); ++c) {
      const auto rr = static_cast<std::size_t>(r), cc = static_cast<std::size_t>(c);
      if (std::isnan(X(r, c))) {
        CHECK(std::isnan(cv(rr, cc)));
        CHECK(std::isnan(bv(rr, cc)));
      } else {
        CHECK(cv(rr, cc) == X(r, c));
        CHECK(bv(rr, cc) == X(r, c));
      }
    }
  // A view never copies: it points into the matrix.
  CHECK(cv.data == col_major.data());

  churn::forest_params fp;
  fp.n_estimators = 15;
  fp.random_state = 5;
  fp.oob_score = true;
  const auto from_rows = churn::fit_forest(fp, rv, y);
  const auto from_cols = churn::fit_forest(fp, cv, y);
  const auto from_block = churn::fit_forest(fp, bv, y);
  CHECK(churn::dumps(from_cols) == churn::dumps(from_rows));
  CHECK(churn::dumps(from_block) == churn::dumps(from_rows));
  CHECK(from_cols.oob_probability().size() == from_rows.oob_probability().size());
  const auto p = from_rows.predict_proba(rv);
  CHECK(from_rows.predict_proba(cv) == p);  // the batch paths (lanes and partition) on strided rows
  CHECK(from_rows.predict_proba(bv, 2) == p);
  const churn::matrix_view few(cv.data, 3, cv.cols, cv.row_stride, cv.col_stride);  // the few-rows path
  const auto p3 = from_rows.predict_proba(few);
  CHECK(std::vector<double>(p.begin(), p.begin() + 3) == p3);

  const auto fit = [&fp](const churn::row_matrix& Xt, const std::vector<int>& yt) {
    churn::forest_params q = fp;
    q.oob_score = false;
    return churn::fit_forest(q, churn::as_view(Xt), yt);
  };
  const auto folds = churn::stratified_kfold(y, 3, true, 0);
  const auto a = churn::cross_validate(fit, X, y, folds);
  const auto b = churn::cross_validate(fit, col_major, y, folds);
  const auto c = churn::cross_validate(fit, bv, y, folds);
  CHECK(a.oof_proba == b.oof_proba);
  CHECK(a.oof_proba == c.oof_proba);
  CHECK(a.threshold_mean == b.threshold_mean);
  const auto t1 = churn::tune_threshold(fit, X, y, 3, 9);
  const auto t2 = churn::tune_threshold(fit, col_major, y, 3, 9);
  CHECK(t1.threshold == t2.threshold);
  CHECK_THROWS_AS(churn::tune_threshold(fit, churn::matrix_view(cv.data, 10, cv.cols, cv.row_stride, cv.col_stride), y),
                  churn::data_error);
}
