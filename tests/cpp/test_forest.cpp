// Random forest: split search against brute force, fitting, probabilities, weights, determinism,
// missing values, errors, importances, the thread pool.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include <churn/detail/forest_predict.hpp>
#include <churn/detail/parallel.hpp>
#include <churn/detail/rng.hpp>
#include <churn/forest.hpp>
#include <churn/forest_fit.hpp>
#include <churn/forest_inspect.hpp>
#include <churn/metrics.hpp>
#include <churn/model_io.hpp>

namespace {

struct dataset {
  std::vector<double> x;
  std::vector<int> y;
  std::size_t rows = 0, cols = 0;
  churn::matrix_view view() const { return churn::matrix_view(x.data(), rows, cols); }
};

// y depends on features 0 and 1 (plus label noise); the other features are noise. Feature 2 is a
// low-cardinality count, to exercise ties.
dataset make_data(std::size_t rows, std::size_t cols, std::uint64_t seed, double noise = 0.1) {
  churn::detail::rng g(seed);
  dataset d;
  d.rows = rows;
  d.cols = cols;
  d.x.resize(rows * cols);
  d.y.resize(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) d.x[r * cols + c] = g.uniform() * 2 - 1;
    if (cols > 2) d.x[r * cols + 2] = static_cast<double>(g.below(5));
    const double s = d.x[r * cols] + 0.5 * d.x[r * cols + 1];
    int label = s > 0.3 ? 1 : 0;
    if (g.uniform() < noise) label = 1 - label;
    d.y[r] = label;
  }
  return d;
}

double gini(double w, double wp) {
  if (w <= 0) return 0;
  const double p = wp / w;
  return 1 - p * p - (1 - p) * (1 - p);
}

// Rows reaching each leaf of a single tree.
std::map<const churn::tree_node*, int> leaf_counts(const churn::random_forest& m, const dataset& d) {
  std::map<const churn::tree_node*, int> counts;
  std::vector<float> x(d.cols);
  for (std::size_t r = 0; r < d.rows; ++r) {
    for (std::size_t c = 0; c < d.cols; ++c) x[c] = static_cast<float>(d.x[r * d.cols + c]);
    ++counts[churn::find_leaf(m.tree(0), x.data())];
  }
  return counts;
}

churn::forest_params single_tree() {
  churn::forest_params p;
  p.n_estimators = 1;
  p.bootstrap = false;
  p.tree.max_features = churn::max_features_rule::all();
  return p;
}

}  // namespace

TEST_CASE("a depth-1 tree finds the same split as an exhaustive search") {
  for (std::uint64_t seed : {1u, 2u, 3u, 4u, 5u}) {
    CAPTURE(seed);
    const dataset d = make_data(300, 6, seed, 0.25);
    auto params = single_tree();
    params.tree.max_depth = 1;
    const auto model = churn::fit_forest(params, d.view(), d.y);
    REQUIRE(model.n_nodes() == 3);
    const churn::tree_node& root = *model.tree(0);

    // Brute force over every feature and every threshold between consecutive distinct float values.
    double best_decrease = -1;
    double total_pos = 0;
    for (int v : d.y) total_pos += v;
    const double n = static_cast<double>(d.rows);
    for (std::size_t f = 0; f < d.cols; ++f) {
      std::set<float> values;
      for (std::size_t r = 0; r < d.rows; ++r) values.insert(static_cast<float>(d.x[r * d.cols + f]));
      for (auto it = values.begin(); std::next(it) != values.end(); ++it) {
        double nl = 0, pl = 0;
        for (std::size_t r = 0; r < d.rows; ++r)
          if (static_cast<float>(d.x[r * d.cols + f]) <= *it) {
            nl += 1;
            pl += d.y[r];
          }
        const double decrease =
            gini(n, total_pos) - nl / n * gini(nl, pl) - (n - nl) / n * gini(n - nl, total_pos - pl);
        best_decrease = std::max(best_decrease, decrease);
      }
    }
    // The tree's split, evaluated the same way.
    double nl = 0, pl = 0;
    for (std::size_t r = 0; r < d.rows; ++r)
      if (static_cast<float>(d.x[r * d.cols + root.feature()]) <= root.threshold) {
        nl += 1;
        pl += d.y[r];
      }
    const double tree_decrease =
        gini(n, total_pos) - nl / n * gini(nl, pl) - (n - nl) / n * gini(n - nl, total_pos - pl);
    CHECK(tree_decrease == doctest::Approx(best_decrease).epsilon(1e-12));
    // Child values are the class-1 fractions on each side.
    CHECK(model.tree(0)[1].value == doctest::Approx(pl / nl).epsilon(1e-6));
    CHECK(model.tree(0)[0].value == doctest::Approx(total_pos / n).epsilon(1e-6));
  }
}

TEST_CASE("the threshold is scikit-learn's midpoint between neighbouring values") {
  dataset d;
  d.rows = 4;
  d.cols = 1;
  d.x = {1.0, 2.0, 4.0, 8.0};
  d.y = {0, 0, 1, 1};
  const auto model = churn::fit_forest(single_tree(), d.view(), d.y);
  REQUIRE(model.n_nodes() == 3);
  CHECK(model.tree(0)->threshold == 3.0f);
  const double below[] = {2.9999};
  const double above[] = {3.0001};
  CHECK(model.predict_proba(below) == 0.0);
  CHECK(model.predict_proba(above) == 1.0);
}

TEST_CASE("a forest fits a separable problem perfectly") {
  dataset d = make_data(500, 5, 11, 0.0);
  churn::forest_params p;
  p.n_estimators = 30;
  p.random_state = 3;
  const auto model = churn::fit_forest(p, d.view(), d.y);
  const auto pred = model.predict(d.view());
  CHECK(pred == d.y);
  // And generalises to fresh data from the same rule.
  const dataset test = make_data(500, 5, 12, 0.0);
  const auto test_pred = model.predict(test.view());
  std::size_t ok = 0;
  for (std::size_t i = 0; i < test.rows; ++i) ok += test_pred[i] == test.y[i];
  CHECK(static_cast<double>(ok) / static_cast<double>(test.rows) > 0.93);
}

TEST_CASE("probabilities match a hand-computed tiny forest") {
  churn::forest_contents parts;
  parts.n_features = 2;
  // Tree 0: x0 <= 0.5 ? (x1 <= 1 ? 0.2 : 0.6) : 0.9 ; NaN in x0 goes left.
  // Tree 1: x1 <= 2 ? 0.0 : 1.0 ; NaN in x1 goes right.
  parts.nodes = {
      churn::tree_node::split(0, 0.5f, true, 0.5f, 4),
      churn::tree_node::split(1, 1.0f, false, 0.4f, 3),
      churn::tree_node::leaf(0.2f),
      churn::tree_node::leaf(0.6f),
      churn::tree_node::leaf(0.9f),
      churn::tree_node::split(1, 2.0f, false, 0.3f, 2),
      churn::tree_node::leaf(0.0f),
      churn::tree_node::leaf(1.0f),
  };
  parts.tree_offsets = {0, 5, 8};
  const churn::random_forest model(parts);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  struct row_case {
    double x0, x1, expected;
  };
  const row_case cases[] = {
      {0.0, 0.0, (0.2 + 0.0) / 2}, {0.0, 1.5, (0.6 + 0.0) / 2}, {0.0, 3.0, (0.6 + 1.0) / 2},
      {0.7, 0.0, (0.9 + 0.0) / 2}, {nan, 0.0, (0.2 + 0.0) / 2}, {0.7, nan, (0.9 + 1.0) / 2},
      {0.5, 1.0, (0.2 + 0.0) / 2},
  };
  for (const auto& c : cases) {
    CAPTURE(c.x0);
    CAPTURE(c.x1);
    const double row[] = {c.x0, c.x1};
    CHECK(model.predict_proba(row) == doctest::Approx(c.expected).epsilon(1e-7));
    // Contributions: bias + sum == probability.
    const auto contrib = model.contributions(row);
    CHECK(contrib.bias == doctest::Approx((0.5 + 0.3) / 2).epsilon(1e-7));
    CHECK(contrib.bias + contrib.values[0] + contrib.values[1] == doctest::Approx(c.expected).epsilon(1e-7));
  }
  // x0 = 0, x1 = 3: tree 0 credits x0 with 0.4-0.5 and x1 with 0.6-0.4; tree 1 credits x1 with 1.0-0.3.
  const double row[] = {0.0, 3.0};
  const auto contrib = model.contributions(row);
  CHECK(contrib.values[0] == doctest::Approx((0.4 - 0.5) / 2).epsilon(1e-6));
  CHECK(contrib.values[1] == doctest::Approx((0.6 - 0.4 + 1.0 - 0.3) / 2).epsilon(1e-6));
  // Batch contributions agree with the single-row ones.
  const double rows[] = {0.0, 3.0, 0.7, nan};
  std::vector<double> out(2 * 3);
  model.contributions(churn::matrix_view(rows, 2, 2), out.data());
  CHECK(out[0] == contrib.values[0]);
  CHECK(out[1] == contrib.values[1]);
  CHECK(out[2] == contrib.bias);
  CHECK(out[3] + out[4] + out[5] == doctest::Approx((0.9 + 1.0) / 2).epsilon(1e-7));
}

TEST_CASE("batch prediction equals single-row prediction exactly") {
  const dataset d = make_data(400, 8, 21, 0.2);
  churn::forest_params p;
  p.n_estimators = 37;  // not a multiple of the lockstep block
  p.random_state = 9;
  const auto model = churn::fit_forest(p, d.view(), d.y);
  const auto batch = model.predict_proba(d.view(), 2);
  for (std::size_t r = 0; r < d.rows; ++r) REQUIRE(batch[r] == model.predict_proba(d.x.data() + r * d.cols));
  // Fewer rows than lockstep lanes, exactly as many, one more, and lanes refilled to the end.
  for (std::size_t rows : {5u, 15u, 16u, 17u, 399u}) {
    CAPTURE(rows);
    const auto part = model.predict_proba(churn::matrix_view(d.x.data(), rows, d.cols), 1);
    for (std::size_t r = 0; r < rows; ++r) REQUIRE(part[r] == batch[r]);
  }
  std::vector<double> contrib(d.rows * (d.cols + 1));
  model.contributions(d.view(), contrib.data(), 2);
  for (std::size_t r = 0; r < d.rows; r += 17) {
    double s = 0;
    for (std::size_t c = 0; c <= d.cols; ++c) s += contrib[r * (d.cols + 1) + c];
    CHECK(s == doctest::Approx(batch[r]).epsilon(1e-9));
  }
}

TEST_CASE("every batch path gives the single-row answer, with missing values going either way") {
  // Blocks below 128 rows are walked row by row, larger ones partitioned node by node; both must add
  // each tree's value in tree order, send NaN where the node says, and cover every row once.
  dataset d = make_data(3000, 6, 33, 0.2);
  churn::detail::rng g(4);
  for (std::size_t r = 0; r < d.rows; ++r)
    for (std::size_t c = 0; c < 2; ++c)
      if (g.uniform() < 0.15) d.x[r * d.cols + c] = std::nan("");
  churn::forest_params p;
  p.n_estimators = 23;
  p.random_state = 2;
  const auto model = churn::fit_forest(p, d.view(), d.y);
  std::size_t missing_left = 0, missing_right = 0;
  for (std::size_t i = 0; i < model.n_nodes(); ++i) {
    const auto& n = model.contents().nodes[i];
    if (!n.is_leaf()) (n.missing_left() ? missing_left : missing_right) += 1;
  }
  REQUIRE(missing_left > 0);
  REQUIRE(missing_right > 0);
  std::vector<double> single(d.rows);
  for (std::size_t r = 0; r < d.rows; ++r) single[r] = model.predict_proba(d.x.data() + r * d.cols);
  for (int jobs : {1, 2, 3}) {
    for (std::size_t rows : {5u, 127u, 128u, 129u, 255u, 256u, 1000u, 3000u}) {
      CAPTURE(jobs);
      CAPTURE(rows);
      // Rows from the middle of the data, so that a block boundary is not also the data's start.
      const std::size_t offset = d.rows - rows;
      const auto batch = model.predict_proba(churn::matrix_view(d.x.data() + offset * d.cols, rows, d.cols), jobs);
      for (std::size_t r = 0; r < rows; ++r) REQUIRE(batch[r] == single[offset + r]);
    }
  }
}

TEST_CASE("the row-splitting kernels of batch prediction keep each side in order, NaN going either way") {
  // The reference is std::stable_partition. The AVX-512 kernel, where this processor has it, must give
  // the same order element for element, also around its 16-row steps and with a tail.
  churn::detail::rng g(9);
  std::vector<float> column(3000);
  // Values in tenths, so that many equal the thresholds (equal goes left).
  for (float& v : column)
    v = g.uniform() < 0.1 ? std::numeric_limits<float>::quiet_NaN()
                          : static_cast<float>(std::floor(g.uniform() * 10) / 10);
  std::vector<churn::detail::split_rows_fn> kernels{churn::detail::split_rows_scalar};
#ifdef CHURN_HAS_AVX512_SPLIT
  if (churn::detail::has_avx512_split()) kernels.push_back(churn::detail::split_rows_avx512);
#endif
  MESSAGE((kernels.size() == 2 ? "checking the portable and the AVX-512 kernel"
                               : "checking the portable kernel only (no AVX-512 here)"));
  for (std::uint32_t count : {0u, 1u, 15u, 16u, 17u, 31u, 32u, 33u, 100u, 1000u, 3000u}) {
    // Every other row of a stretch, as a node deep in a tree receives them.
    std::vector<std::uint32_t> rows;
    for (std::uint32_t r = 0; rows.size() < count; r += (count <= 1500 ? 2 : 1)) rows.push_back(r);
    for (bool missing_left : {false, true}) {
      for (float threshold : {-1.0f, static_cast<float>(0.3), static_cast<float>(0.5), 2.0f}) {
        CAPTURE(count);
        CAPTURE(missing_left);
        CAPTURE(threshold);
        std::vector<std::uint32_t> expected = rows;
        const auto goes_left = [&](std::uint32_t r) {
          return std::isnan(column[r]) ? missing_left : column[r] <= threshold;
        };
        const auto split = std::stable_partition(expected.begin(), expected.end(), goes_left);
        for (auto kernel : kernels) {
          std::vector<std::uint32_t> got = rows, scratch(count);
          REQUIRE(kernel(column.data(), got.data(), scratch.data(), count, threshold, missing_left) ==
                  static_cast<std::uint32_t>(split - expected.begin()));
          REQUIRE(got == expected);
        }
      }
    }
  }
}

TEST_CASE("class weights shift predictions the expected way") {
  const dataset d = make_data(600, 6, 31, 0.3);
  churn::forest_params p;
  p.n_estimators = 40;
  p.random_state = 5;
  p.tree.min_samples_leaf = 5;
  auto mean_proba = [&](const churn::forest_params& params) {
    const auto pr = churn::fit_forest(params, d.view(), d.y).predict_proba(d.view());
    double s = 0;
    for (double v : pr) s += v;
    return s / static_cast<double>(pr.size());
  };
  const double plain = mean_proba(p);
  auto heavy = p;
  heavy.class_weight = churn::class_weight_mode::given;
  heavy.class_weights = {1.0, 5.0};
  auto light = p;
  light.class_weight = churn::class_weight_mode::given;
  light.class_weights = {5.0, 1.0};
  CHECK(mean_proba(heavy) > plain + 0.05);
  CHECK(mean_proba(light) < plain - 0.05);
  // "balanced" lifts the minority class (class 1 is the minority here).
  auto balanced = p;
  balanced.class_weight = churn::class_weight_mode::balanced;
  CHECK(mean_proba(balanced) > plain);
  auto subsample = p;
  subsample.class_weight = churn::class_weight_mode::balanced_subsample;
  CHECK(mean_proba(subsample) > plain);
  // Sample weights act like class weights when they follow the class.
  std::vector<double> sw(d.rows);
  for (std::size_t i = 0; i < d.rows; ++i) sw[i] = d.y[i] ? 5.0 : 1.0;
  const auto weighted = churn::fit_forest(p, d.view(), d.y, sw).predict_proba(d.view());
  double s = 0;
  for (double v : weighted) s += v;
  CHECK(s / static_cast<double>(d.rows) > plain + 0.05);
}

TEST_CASE("the model is identical whatever the number of threads") {
  const dataset d = make_data(800, 10, 41, 0.2);
  churn::forest_params p;
  p.n_estimators = 24;
  p.random_state = 123;
  p.oob_score = true;
  p.n_jobs = 1;
  const auto one = churn::fit_forest(p, d.view(), d.y);
  p.n_jobs = 2;
  const auto two = churn::fit_forest(p, d.view(), d.y);
  p.n_jobs = 5;
  const auto five = churn::fit_forest(p, d.view(), d.y);
  CHECK(churn::dumps(one) == churn::dumps(two));
  CHECK(churn::dumps(one) == churn::dumps(five));
  CHECK(one.oob_score() == five.oob_score());
  // A different seed gives a different forest.
  p.random_state = 124;
  CHECK(churn::dumps(churn::fit_forest(p, d.view(), d.y)) != churn::dumps(one));
}

TEST_CASE("out-of-bag score and probabilities") {
  const dataset d = make_data(600, 6, 51, 0.1);
  churn::forest_params p;
  p.n_estimators = 50;
  p.oob_score = true;
  p.random_state = 2;
  const auto model = churn::fit_forest(p, d.view(), d.y);
  REQUIRE(model.has_oob_score());
  CHECK(model.oob_score() > 0.75);
  CHECK(model.oob_score() <= 1.0);
  REQUIRE(model.oob_probability().size() == d.rows);
  std::size_t ok = 0, seen = 0;
  for (std::size_t i = 0; i < d.rows; ++i) {
    const double pr = model.oob_probability()[i];
    if (std::isnan(pr)) continue;
    ++seen;
    ok += (pr > 0.5 ? 1 : 0) == d.y[i];
  }
  CHECK(seen == d.rows);  // with 50 trees every row is out of bag somewhere
  CHECK(static_cast<double>(ok) / static_cast<double>(d.rows) == doctest::Approx(model.oob_score()));
  // OOB is pessimistic compared with the training accuracy.
  const auto pred = model.predict(d.view());
  std::size_t train_ok = 0;
  for (std::size_t i = 0; i < d.rows; ++i) train_ok += pred[i] == d.y[i];
  CHECK(static_cast<double>(train_ok) / static_cast<double>(d.rows) > model.oob_score());
  auto bad = p;
  bad.bootstrap = false;
  CHECK_THROWS_AS(churn::fit_forest(bad, d.view(), d.y), churn::parameter_error);
}

TEST_CASE("stopping rules: max_depth, min_samples_leaf, max_leaf_nodes") {
  const dataset d = make_data(500, 5, 61, 0.3);
  SUBCASE("max_depth") {
    auto p = single_tree();
    p.tree.max_depth = 3;
    const auto m = churn::fit_forest(p, d.view(), d.y);
    CHECK(m.n_leaves() <= 8);
    CHECK(m.n_leaves() >= 5);
  }
  SUBCASE("min_samples_leaf") {
    auto p = single_tree();
    p.tree.min_samples_leaf = 7;
    const auto m = churn::fit_forest(p, d.view(), d.y);
    for (const auto& kv : leaf_counts(m, d)) CHECK(kv.second >= 7);
  }
  SUBCASE("max_leaf_nodes") {
    auto p = single_tree();
    p.tree.max_leaf_nodes = 10;
    const auto m = churn::fit_forest(p, d.view(), d.y);
    CHECK(m.n_leaves() == 10);
  }
  SUBCASE("min_samples_split") {
    auto p = single_tree();
    p.tree.min_samples_split = 100;
    const auto m = churn::fit_forest(p, d.view(), d.y);
    // Nodes below 100 rows are not split, so few leaves remain (fully grown trees have about 100 here).
    CHECK(m.n_leaves() < 20);
  }
  SUBCASE("fully grown trees are pure on the training data") {
    const auto m = churn::fit_forest(single_tree(), d.view(), d.y);
    const auto pred = m.predict_proba(d.view());
    for (std::size_t i = 0; i < d.rows; ++i) CHECK((pred[i] == 0.0 || pred[i] == 1.0));
  }
}

TEST_CASE("entropy and extremely randomized trees learn too") {
  const dataset d = make_data(800, 6, 71, 0.05);
  const dataset test = make_data(800, 6, 72, 0.05);
  for (auto crit : {churn::criterion::gini, churn::criterion::entropy})
    for (auto split : {churn::splitter::best, churn::splitter::random}) {
      churn::forest_params p;
      p.n_estimators = 40;
      p.tree.split_criterion = crit;
      p.tree.split_strategy = split;
      const auto pred = churn::fit_forest(p, d.view(), d.y).predict(test.view());
      std::size_t ok = 0;
      for (std::size_t i = 0; i < test.rows; ++i) ok += pred[i] == test.y[i];
      CAPTURE(churn::to_string(crit));
      CAPTURE(churn::to_string(split));
      CHECK(static_cast<double>(ok) / static_cast<double>(test.rows) > 0.85);
    }
}

TEST_CASE("missing values: a learned direction at training, no crash at prediction") {
  // Class 1 rows have x0 missing half the time; class 0 rows never do. The trees should learn that a
  // missing x0 means class 1.
  churn::detail::rng g(5);
  dataset d;
  d.rows = 600;
  d.cols = 3;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (std::size_t r = 0; r < d.rows; ++r) {
    const int label = g.uniform() < 0.4 ? 1 : 0;
    double x0 = g.uniform() + (label ? 0.3 : 0.0);
    if (label && g.uniform() < 0.5) x0 = nan;
    d.x.insert(d.x.end(), {x0, g.uniform(), g.uniform()});
    d.y.push_back(label);
  }
  churn::forest_params p;
  p.n_estimators = 50;
  p.tree.max_features = churn::max_features_rule::all();
  const auto model = churn::fit_forest(p, d.view(), d.y);
  const double missing_row[] = {nan, 0.5, 0.5};
  CHECK(model.predict_proba(missing_row) > 0.8);
  // A feature never missing in training: NaN follows the majority, and the result is a probability.
  const double other_missing[] = {0.1, nan, nan};
  const double pr = model.predict_proba(other_missing);
  CHECK(pr >= 0.0);
  CHECK(pr <= 1.0);
  // All-missing column: ignored, no crash.
  dataset e = d;
  for (std::size_t r = 0; r < e.rows; ++r) e.x[r * 3 + 2] = nan;
  CHECK_NOTHROW(churn::fit_forest(p, e.view(), e.y));
}

TEST_CASE("bad input raises clear errors") {
  dataset d = make_data(50, 3, 81);
  churn::forest_params p;
  p.n_estimators = 3;
  SUBCASE("infinity names row and column") {
    d.x[7 * 3 + 2] = std::numeric_limits<double>::infinity();
    try {
      churn::fit_forest(p, d.view(), d.y);
      FAIL("no exception");
    } catch (const churn::data_error& e) {
      CHECK(std::string(e.what()) ==
            "X[7, 2] = inf is infinite (row 7, column 2); replace infinite values (missing values may be NaN)");
    }
    d.x[7 * 3 + 2] = 0;
    const auto model = churn::fit_forest(p, d.view(), d.y);
    const double row[] = {0, -std::numeric_limits<double>::infinity(), 0};
    CHECK_THROWS_WITH_AS(model.predict_proba(row), doctest::Contains("X[0, 1] = -inf"), churn::data_error);
    const double huge[] = {1e300, 0, 0};
    CHECK_THROWS_WITH_AS(model.predict_proba(huge),
                         "X[0, 0] = 1e+300 is too large for float32 (row 0, column 0); rescale the feature",
                         churn::data_error);
  }
  SUBCASE("labels must be 0 or 1") {
    d.y[4] = 2;
    CHECK_THROWS_WITH_AS(churn::fit_forest(p, d.view(), d.y), "y[4] = 2; labels must be 0 or 1", churn::data_error);
  }
  SUBCASE("sample weights") {
    std::vector<double> sw(d.rows, 1.0);
    sw[3] = -1;
    CHECK_THROWS_WITH_AS(churn::fit_forest(p, d.view(), d.y, sw), doctest::Contains("sample_weight[3]"),
                         churn::data_error);
    std::vector<double> short_sw(3, 1.0);
    CHECK_THROWS_AS(churn::fit_forest(p, d.view(), d.y, short_sw), churn::data_error);
  }
  SUBCASE("wrong width at prediction") {
    const auto model = churn::fit_forest(p, d.view(), d.y);
    CHECK_THROWS_WITH_AS(model.predict_proba(churn::matrix_view(d.x.data(), 25, 2)),
                         "X has 2 features, but the model was trained with 3", churn::data_error);
  }
  SUBCASE("parameters name themselves") {
    auto bad = p;
    bad.n_estimators = 0;
    CHECK_THROWS_WITH_AS(churn::fit_forest(bad, d.view(), d.y),
                         "invalid value for parameter 'n_estimators': 0 (allowed: an integer >= 1)",
                         churn::parameter_error);
    bad = p;
    bad.tree.min_samples_leaf = 0;
    CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("'min_samples_leaf'"), churn::parameter_error);
    bad = p;
    bad.tree.max_features = churn::max_features_rule::fraction(1.5);
    CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("'max_features'"), churn::parameter_error);
    bad = p;
    bad.tree.max_features = churn::max_features_rule::count(4);
    CHECK_THROWS_WITH_AS(churn::fit_forest(bad, d.view(), d.y), doctest::Contains("at most the number of features, 3"),
                         churn::parameter_error);
    bad = p;
    bad.n_jobs = 0;
    CHECK_THROWS_AS(bad.validate(), churn::parameter_error);
    CHECK_THROWS_AS(churn::parse_criterion("mse"), churn::parameter_error);
  }
}

TEST_CASE("feature importances: impurity-based and permutation") {
  const dataset d = make_data(800, 6, 91, 0.05);
  churn::forest_params p;
  p.n_estimators = 40;
  p.random_state = 1;
  const auto model = churn::fit_forest(p, d.view(), d.y);
  const auto& imp = model.feature_importances();
  REQUIRE(imp.size() == 6);
  double s = 0;
  for (double v : imp) s += v;
  CHECK(s == doctest::Approx(1.0));
  CHECK(imp[0] > imp[3]);
  CHECK(imp[0] > imp[4]);
  CHECK(imp[1] > imp[5]);

  const dataset test = make_data(400, 6, 92, 0.05);
  const auto perm1 =
      churn::permutation_importance(model, test.view(), test.y, churn::importance_scoring::roc_auc, 4, 7, 1);
  const auto perm2 =
      churn::permutation_importance(model, test.view(), test.y, churn::importance_scoring::roc_auc, 4, 7, 2);
  CHECK(perm1.drops == perm2.drops);
  CHECK(perm1.baseline > 0.9);
  CHECK(perm1.mean[0] > 0.1);
  CHECK(perm1.mean[0] > perm1.mean[1]);
  CHECK(std::abs(perm1.mean[4]) < 0.02);
  const auto acc =
      churn::permutation_importance(model, test.view(), test.y, churn::importance_scoring::accuracy, 2, 7, 2);
  CHECK(acc.mean[0] > acc.mean[5]);
}

TEST_CASE("thresholds, bootstrap sizes and sample weights of zero") {
  const dataset d = make_data(300, 4, 101, 0.2);
  churn::forest_params p;
  p.n_estimators = 20;
  auto model = churn::fit_forest(p, d.view(), d.y);
  const auto pr = model.predict_proba(d.view());
  model.set_threshold(0.9);
  const auto strict = model.predict(d.view());
  for (std::size_t i = 0; i < d.rows; ++i) CHECK(strict[i] == (pr[i] > 0.9 ? 1 : 0));
  CHECK_THROWS_AS(model.set_threshold(1.5), churn::parameter_error);
  p.max_samples = 50;
  CHECK_NOTHROW(churn::fit_forest(p, d.view(), d.y));
  p.max_samples = 301;
  CHECK_THROWS_AS(churn::fit_forest(p, d.view(), d.y), churn::parameter_error);
  p.max_samples = 0;
  p.max_samples_fraction = 0.3;
  CHECK_NOTHROW(churn::fit_forest(p, d.view(), d.y));
  // Rows with zero weight do not influence the trees: duplicating the data with zero weights changes nothing.
  dataset twice = d;
  twice.rows *= 2;
  for (std::size_t i = 0; i < d.rows * d.cols; ++i) twice.x.push_back(-d.x[i]);
  for (std::size_t i = 0; i < d.rows; ++i) twice.y.push_back(1 - d.y[i]);
  std::vector<double> sw(twice.rows, 0.0);
  std::fill(sw.begin(), sw.begin() + static_cast<std::ptrdiff_t>(d.rows), 1.0);
  auto q = single_tree();
  const auto a = churn::fit_forest(q, d.view(), d.y);
  const auto b = churn::fit_forest(q, twice.view(), twice.y, sw);
  CHECK(a.predict_proba(d.view()) == b.predict_proba(d.view()));
}

TEST_CASE("one decision rule: predict(), the metrics and a tuned threshold agree on probabilities at the threshold") {
  const dataset d = make_data(400, 4, 7, 0.3);
  churn::forest_params p;
  p.n_estimators = 4;  // fully grown trees have pure leaves: probabilities are multiples of 1/4, many 0.5
  auto model = churn::fit_forest(p, d.view(), d.y);
  const auto pr = model.predict_proba(d.view());
  const auto at_half = static_cast<std::size_t>(std::count(pr.begin(), pr.end(), 0.5));
  REQUIRE(at_half > 0);
  for (double t : {0.5, 0.25, 0.75}) {
    CAPTURE(t);
    model.set_threshold(t);
    const auto pred = model.predict(d.view());
    CHECK(pred == churn::predict_at_threshold(pr, t));
    for (std::size_t i = 0; i < d.rows; ++i)
      if (pr[i] == t) CHECK(pred[i] == 0);  // scikit-learn's argmax: a tie goes to the first class
    churn::confusion_matrix_counts c;
    churn::evaluate_binary(d.y, pr, t, &c);
    const auto direct = churn::confusion_matrix(d.y, pred);
    CHECK(c.tp == direct.tp);
    CHECK(c.fp == direct.fp);
    CHECK(c.tn == direct.tn);
    CHECK(c.fn == direct.fn);
  }
  // A tuned threshold lies strictly between two observed probabilities, and the F1 it reports is the F1
  // of the model's own predictions with it.
  const auto choice = churn::best_f1_threshold(d.y, pr);
  CHECK(std::find(pr.begin(), pr.end(), choice.threshold) == pr.end());
  model.set_threshold(choice.threshold);
  CHECK(choice.f1 == churn::f1_score(d.y, model.predict(d.view())));
}

TEST_CASE("columns with more distinct values than codes are binned, not rejected") {
  const std::size_t n = 70000;
  dataset d;
  d.rows = n;
  d.cols = 1;
  for (std::size_t i = 0; i < n; ++i) {
    d.x.push_back(static_cast<double>(i) * 0.5);
    d.y.push_back(i >= n / 3 ? 1 : 0);
  }
  const auto b = churn::detail::bin_features(d.view(), 2);
  CHECK(b.n_bins[0] == churn::detail::max_bins_per_feature);
  for (std::size_t k = 1; k < b.n_bins[0]; ++k) REQUIRE(b.upper[0][k - 1] < b.lower[0][k]);
  auto p = single_tree();
  p.tree.max_depth = 1;
  const auto m = churn::fit_forest(p, d.view(), d.y);
  const double at[] = {static_cast<double>(n / 3) * 0.5 - 2};
  const double after[] = {static_cast<double>(n / 3) * 0.5 + 2};
  CHECK(m.predict_proba(at) < 0.01);
  CHECK(m.predict_proba(after) > 0.99);
}

TEST_CASE("binning codes every column as the rank of its float value, whatever the values") {
  // Negative and positive values, both zeros, huge and tiny magnitudes, runs of ties and NaN: the
  // radix sort must give the same ranks as a comparison of the floats.
  churn::detail::rng g(11);
  const double specials[] = {-0.0, 0.0, -1e30, 1e30, -1e-30, 1e-30, -3.5, 3.5, 1.0, -1.0};
  for (std::size_t rows : {1u, 2u, 37u, 300u, 5000u}) {
    dataset d;
    d.rows = rows;
    d.cols = 3;
    for (std::size_t r = 0; r < rows; ++r) {
      d.x.push_back(specials[g.below(10)]);
      d.x.push_back(g.uniform() < 0.1 ? std::nan("")
                                      : (g.uniform() - 0.5) * std::pow(10.0, static_cast<double>(g.below(20)) - 10));
      d.x.push_back(static_cast<double>(g.below(7)) - 3);
    }
    const auto b = churn::detail::bin_features(d.view(), 2);
    for (std::size_t c = 0; c < d.cols; ++c) {
      std::vector<float> distinct;
      for (std::size_t r = 0; r < rows; ++r)
        if (!std::isnan(d.x[r * 3 + c])) distinct.push_back(static_cast<float>(d.x[r * 3 + c]));
      std::sort(distinct.begin(), distinct.end());
      distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());  // -0 == +0
      REQUIRE(b.n_bins[c] == distinct.size());
      for (std::size_t r = 0; r < rows; ++r) {
        const double x = d.x[r * 3 + c];
        const std::size_t want =
            std::isnan(x)
                ? distinct.size()
                : static_cast<std::size_t>(std::lower_bound(distinct.begin(), distinct.end(), static_cast<float>(x)) -
                                           distinct.begin());
        REQUIRE(b.column(c)[r] == want);
      }
      for (std::size_t k = 0; k < distinct.size(); ++k) CHECK(b.lower[c][k] == distinct[k]);
    }
  }
  CHECK(churn::detail::float_order_key(-0.0f) == churn::detail::float_order_key(0.0f));
  for (float f : {-1e30f, -2.5f, -1e-30f, 0.0f, 1e-30f, 2.5f, 1e30f})
    CHECK(churn::detail::float_from_order_key(churn::detail::float_order_key(f)) == f);
}

TEST_CASE("a forest grown on data with few and many distinct values matches its one-thread twin") {
  // Nodes sort their codes with radix digits sized to the column (one pass up to 8 bits, two beyond);
  // columns of 2, 200, 300 and thousands of distinct values exercise each digit layout, and the forest
  // must not depend on how work was split between threads.
  churn::detail::rng g(5);
  dataset d;
  d.rows = 3000;
  d.cols = 4;
  for (std::size_t r = 0; r < d.rows; ++r) {
    d.x.push_back(static_cast<double>(g.below(2)));
    d.x.push_back(static_cast<double>(g.below(200)));
    d.x.push_back(static_cast<double>(g.below(300)));
    d.x.push_back(g.uniform());
    const double s = d.x[r * 4] * 0.3 + d.x[r * 4 + 1] / 200.0 - d.x[r * 4 + 2] / 300.0 + d.x[r * 4 + 3];
    d.y.push_back(s + 0.3 * g.uniform() > 0.8 ? 1 : 0);
  }
  churn::forest_params p;
  p.n_estimators = 12;
  p.random_state = 3;
  p.n_jobs = 1;
  const auto one = churn::fit_forest(p, d.view(), d.y);
  p.n_jobs = 3;
  const auto three = churn::fit_forest(p, d.view(), d.y);
  CHECK(churn::dumps(one) == churn::dumps(three));
  // Fully grown trees on noise-free-enough data fit the training rows.
  const auto pr = one.predict_proba(d.view());
  std::size_t right = 0;
  for (std::size_t r = 0; r < d.rows; ++r) right += (pr[r] > 0.5) == (d.y[r] == 1);
  CHECK(right > d.rows * 95 / 100);
}

TEST_CASE("parallel_for runs every task once and rethrows the first error on the caller") {
  std::vector<std::atomic<int>> hits(1000);
  churn::detail::parallel_for(hits.size(), 3, [&](std::size_t t, std::size_t worker) {
    CHECK(worker < 3);
    hits[t].fetch_add(1);
  });
  for (auto& h : hits) CHECK(h.load() == 1);
  CHECK_THROWS_WITH_AS(churn::detail::parallel_for(100, 2,
                                                   [](std::size_t t, std::size_t) {
                                                     if (t == 42) throw churn::data_error("task 42 failed");
                                                   }),
                       "task 42 failed", churn::data_error);
  CHECK(churn::detail::resolve_n_jobs(-1) == churn::detail::hardware_threads());
  CHECK(churn::detail::resolve_n_jobs(3) == 3);
  CHECK_THROWS_AS(churn::detail::resolve_n_jobs(0), churn::parameter_error);
}

TEST_CASE("derived seeds differ per task and the rng is uniform") {
  std::set<std::uint64_t> seeds;
  for (std::uint64_t t = 0; t < 1000; ++t) seeds.insert(churn::detail::derive_seed(42, t));
  CHECK(seeds.size() == 1000);
  churn::detail::rng g(1);
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70000; ++i) ++counts[g.below(7)];
  for (int c : counts) CHECK(std::abs(c - 10000) < 500);
}
