// Exact SHAP values (path-dependent TreeSHAP): the linear-time kernel against two oracles on plain
// trees (brute force over feature subsets; per-leaf subset-size sums, which hold only non-negative
// terms), on small random trees and on trees of depth 50 to 400 with many distinct features per path.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <churn/detail/shap_kernel.hpp>

namespace {

using churn::tree_node;

struct plain_tree {
  std::vector<tree_node> nodes;
  std::vector<double> cover;
};

// Appends a random subtree in pre-order. `spine` > 0 forces a chain of that many more levels
// through one side (chosen at random), with small random subtrees hanging off the other side.
void grow(plain_tree& t, std::mt19937_64& rng, std::size_t n_features, double cover, int depth_left, int spine,
          double leaf_prob) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const std::size_t me = t.nodes.size();
  const float value = static_cast<float>(u(rng));
  const bool leaf = spine == 0 && (depth_left <= 0 || u(rng) < leaf_prob);
  t.nodes.push_back(tree_node::leaf(value));
  t.cover.push_back(cover);
  if (leaf) return;
  const auto feature = static_cast<std::uint32_t>(rng() % n_features);
  const float threshold = static_cast<float>(u(rng));
  const bool missing_left = (rng() & 1) != 0;
  // Uneven shares, sometimes extreme, as in fully grown trees.
  double share = u(rng);
  if (u(rng) < 0.3) share = share < 0.5 ? 1e-3 : 1 - 1e-3;
  const bool spine_left = (rng() & 1) != 0;
  // Along a spine the off-spine side takes 0.1% to 5%, so that covers stay far from underflow
  // (as they do in trained trees, where a leaf holds at least one sample) even 1,000 levels down.
  if (spine > 0) share = 1e-3 + 0.049 * u(rng), share = spine_left ? 1 - share : share;
  const double left_cover = cover * share;
  const double right_cover = cover - left_cover;
  // Off the spine: small random subtrees of at most two levels.
  const int child_depth = spine > 0 ? 2 : depth_left - 1;
  grow(t, rng, n_features, left_cover, child_depth, spine > 0 && spine_left ? spine - 1 : 0,
       spine > 0 ? 0.6 : leaf_prob);
  const auto right = static_cast<std::uint32_t>(t.nodes.size());
  grow(t, rng, n_features, right_cover, child_depth, spine > 0 && !spine_left ? spine - 1 : 0,
       spine > 0 ? 0.6 : leaf_prob);
  t.nodes[me] = tree_node::split(feature, threshold, missing_left, value, right);
}

plain_tree random_tree(std::mt19937_64& rng, std::size_t n_features, int max_depth, int spine = 0) {
  plain_tree t;
  std::uniform_real_distribution<double> u(1.0, 100.0);
  grow(t, rng, n_features, u(rng), spine > 0 ? 3 : max_depth, spine, 0.25);
  return t;
}

std::vector<float> random_row(std::mt19937_64& rng, std::size_t n_features, double nan_share) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<float> x(n_features);
  for (auto& v : x) v = u(rng) < nan_share ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(u(rng));
  return x;
}

// v(S) of the path-dependent value function, by its definition.
double value_of(const plain_tree& t, std::uint32_t node, const float* x, std::uint32_t set) {
  const tree_node& n = t.nodes[node];
  if (n.is_leaf()) return n.value;
  const std::uint32_t l = node + 1, r = n.right;
  if ((set >> n.feature()) & 1u) return value_of(t, n.goes_left(x[n.feature()]) ? l : r, x, set);
  return (t.cover[l] * value_of(t, l, x, set) + t.cover[r] * value_of(t, r, x, set)) / t.cover[node];
}

// Shapley values over all 2^M subsets of M features.
std::vector<double> brute_force(const plain_tree& t, const float* x, std::size_t M) {
  std::vector<double> v(std::size_t{1} << M);
  for (std::uint32_t s = 0; s < v.size(); ++s) v[s] = value_of(t, 0, x, s);
  std::vector<double> fact(M + 1, 1.0);
  for (std::size_t k = 1; k <= M; ++k) fact[k] = fact[k - 1] * static_cast<double>(k);
  std::vector<double> phi(M, 0.0);
  for (std::size_t i = 0; i < M; ++i)
    for (std::uint32_t s = 0; s < v.size(); ++s) {
      if ((s >> i) & 1u) continue;
      const auto size = static_cast<std::size_t>(__builtin_popcount(s));
      phi[i] += fact[size] * fact[M - size - 1] / fact[M] * (v[s | (1u << i)] - v[s]);
    }
  return phi;
}

// Per leaf: phi_i = value * (p_i - q_i) * sum_s s! (d-1-s)! / d! * e_s, where e_s sums the products
// prod_{j in S} p_j prod_{j not in S} q_j over the subsets S of the other d - 1 path features of size
// s, built up one feature at a time (non-negative terms only, so exact to rounding at any depth).
// O(leaves * d^3): an independent oracle for deep trees, where brute force cannot go.
std::vector<double> per_leaf_oracle(const plain_tree& t, const float* x, std::size_t M, double* expected) {
  std::vector<double> phi(M, 0.0);
  *expected = 0;
  struct path_feature {
    std::uint32_t feature;
    double p, q;
  };
  std::vector<path_feature> path;
  std::vector<std::uint32_t> chain;  // nodes from the root
  // Depth-first over leaves, keeping the chain of nodes.
  std::vector<std::pair<std::uint32_t, int>> stack{{0, 0}};
  while (!stack.empty()) {
    auto [node, state] = stack.back();
    const tree_node& n = t.nodes[node];
    if (n.is_leaf()) {
      chain.resize(0);
      for (const auto& s : stack) chain.push_back(s.first);
      // Combine the chain's edges per feature.
      path.clear();
      for (std::size_t k = 0; k + 1 < chain.size(); ++k) {
        const tree_node& a = t.nodes[chain[k]];
        const std::uint32_t child = chain[k + 1];
        const bool left = child == chain[k] + 1;
        const double p = (a.goes_left(x[a.feature()]) == left) ? 1.0 : 0.0;
        const double q = t.cover[child] / t.cover[chain[k]];
        auto it =
            std::find_if(path.begin(), path.end(), [&](const path_feature& f) { return f.feature == a.feature(); });
        if (it == path.end())
          path.push_back({a.feature(), p, q});
        else {
          it->p *= p;
          it->q *= q;
        }
      }
      const std::size_t d = path.size();
      double q_all = 1;
      for (const auto& f : path) q_all *= f.q;
      *expected += n.value * q_all;
      for (std::size_t i = 0; i < d; ++i) {
        std::vector<double> e(d, 0.0);
        e[0] = 1;
        std::size_t m = 0;
        for (std::size_t j = 0; j < d; ++j) {
          if (j == i) continue;
          ++m;
          for (std::size_t s = m + 1; s-- > 0;) e[s] = e[s] * path[j].q + (s > 0 ? e[s - 1] * path[j].p : 0.0);
        }
        // s! (d-1-s)! / d! = 1 / (d * C(d-1, s))
        double sum = 0, binom = 1;
        for (std::size_t s = 0; s < d; ++s) {
          sum += e[s] / (static_cast<double>(d) * binom);
          binom = binom * static_cast<double>(d - 1 - s) / static_cast<double>(s + 1);
        }
        phi[path[i].feature] += n.value * (path[i].p - path[i].q) * sum;
      }
      stack.pop_back();
      continue;
    }
    if (state == 2) {
      stack.pop_back();
      continue;
    }
    stack.back().second = state + 1;
    stack.push_back({state == 0 ? node + 1 : n.right, 0});
  }
  return phi;
}

double prediction(const plain_tree& t, const float* x) { return churn::find_leaf(t.nodes.data(), x)->value; }

std::vector<double> kernel(const plain_tree& t, const float* x, std::size_t M, churn::detail::shap_tree_plan& plan,
                           churn::detail::shap_scratch& scratch) {
  plan = churn::detail::make_shap_plan(t.nodes.data(), t.cover.data(), t.nodes.size());
  const churn::detail::shap_rule rule(plan.points);
  std::vector<double> phi(M, 0.0);
  churn::detail::tree_shap(plan, rule, x, phi.data(), scratch);
  return phi;
}

}  // namespace

TEST_CASE("Gauss-Legendre rule on [0, 1] integrates monomials up to degree 2n - 1 exactly") {
  for (std::size_t n : {1, 2, 3, 7, 20, 64, 150}) {
    std::vector<double> t, w;
    churn::detail::gauss_legendre_01(n, t, w);
    for (std::size_t deg = 0; deg <= 2 * n - 1; deg += std::max<std::size_t>(1, n / 5)) {
      double s = 0;
      for (std::size_t k = 0; k < n; ++k) s += w[k] * std::pow(t[k], static_cast<double>(deg));
      CHECK(s == doctest::Approx(1.0 / static_cast<double>(deg + 1)).epsilon(1e-13));
    }
    for (std::size_t k = 0; k < n; ++k) {
      CHECK(t[k] > 0.0);
      CHECK(t[k] < 1.0);
      if (k > 0) CHECK(t[k] > t[k - 1]);
    }
  }
}

TEST_CASE("tree SHAP equals brute-force Shapley values of the path-dependent game on small random trees") {
  std::mt19937_64 rng(42);
  churn::detail::shap_tree_plan plan;
  churn::detail::shap_scratch scratch;
  int checked = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const std::size_t M = 1 + rng() % 8;
    const plain_tree t = random_tree(rng, M, 1 + static_cast<int>(rng() % 9));
    const auto x = random_row(rng, M, trial % 3 == 0 ? 0.3 : 0.0);
    const auto phi = kernel(t, x.data(), M, plan, scratch);
    const auto ref = brute_force(t, x.data(), M);
    double total = plan.expected;
    for (std::size_t i = 0; i < M; ++i) {
      CHECK(phi[i] == doctest::Approx(ref[i]).epsilon(0).scale(1).epsilon(1e-12));
      REQUIRE(std::fabs(phi[i] - ref[i]) <= 1e-12);
      total += phi[i];
    }
    CHECK(std::fabs(plan.expected - value_of(t, 0, x.data(), 0)) <= 1e-12);
    CHECK(std::fabs(total - prediction(t, x.data())) <= 1e-12);
    ++checked;
  }
  CHECK(checked == 300);
}

TEST_CASE("tree SHAP on trees with long repeated-feature paths (depth 60, 6 features) equals brute force") {
  std::mt19937_64 rng(7);
  churn::detail::shap_tree_plan plan;
  churn::detail::shap_scratch scratch;
  for (int trial = 0; trial < 20; ++trial) {
    const std::size_t M = 6;
    const plain_tree t = random_tree(rng, M, 0, 60);
    const auto x = random_row(rng, M, 0.2);
    const auto phi = kernel(t, x.data(), M, plan, scratch);
    CHECK(plan.max_depth >= 60);
    const auto ref = brute_force(t, x.data(), M);
    double total = plan.expected;
    for (std::size_t i = 0; i < M; ++i) {
      REQUIRE(std::fabs(phi[i] - ref[i]) <= 1e-12);
      total += phi[i];
    }
    CHECK(std::fabs(total - prediction(t, x.data())) <= 1e-12);
  }
}

TEST_CASE("tree SHAP stays exact on deep trees with many distinct features per path (depth 50 to 120)") {
  std::mt19937_64 rng(2024);
  churn::detail::shap_tree_plan plan;
  churn::detail::shap_scratch scratch;
  for (int spine : {50, 64, 120}) {
    for (int trial = 0; trial < 2; ++trial) {
      const std::size_t M = static_cast<std::size_t>(spine) + 20;
      const plain_tree t = random_tree(rng, M, 0, spine);
      // Rows that follow the spine a long way: the hardest case for cancellation, where p = 1 on
      // most of a deep path. Mix in random rows and missing values.
      for (int r = 0; r < 4; ++r) {
        auto x = random_row(rng, M, r == 3 ? 0.3 : 0.0);
        const auto phi = kernel(t, x.data(), M, plan, scratch);
        CHECK(plan.max_depth >= static_cast<std::size_t>(spine));
        double expected = 0;
        const auto ref = per_leaf_oracle(t, x.data(), M, &expected);
        double total = plan.expected, max_err = 0;
        for (std::size_t i = 0; i < M; ++i) {
          max_err = std::max(max_err, std::fabs(phi[i] - ref[i]));
          total += phi[i];
        }
        INFO("spine " << spine << ", distinct features on the deepest path " << plan.max_distinct);
        CHECK(max_err <= 1e-12);
        CHECK(std::fabs(plan.expected - expected) <= 1e-12);
        CHECK(std::fabs(total - prediction(t, x.data())) <= 1e-11);
      }
    }
  }
}

TEST_CASE("tree SHAP keeps additivity on a path of 1,000 levels with 1,000 distinct features") {
  std::mt19937_64 rng(99);
  churn::detail::shap_tree_plan plan;
  churn::detail::shap_scratch scratch;
  const std::size_t M = 1100;
  const plain_tree t = random_tree(rng, M, 0, 1000);
  for (int r = 0; r < 3; ++r) {
    const auto x = random_row(rng, M, r == 2 ? 0.3 : 0.0);
    const auto phi = kernel(t, x.data(), M, plan, scratch);
    CHECK(plan.max_depth >= 1000);
    double total = plan.expected;
    for (double v : phi) {
      REQUIRE(std::isfinite(v));
      total += v;
    }
    CHECK(std::fabs(total - prediction(t, x.data())) <= 1e-10);
  }
}

TEST_CASE("the per-leaf oracle itself agrees with brute force on small trees") {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 100; ++trial) {
    const std::size_t M = 1 + rng() % 7;
    const plain_tree t = random_tree(rng, M, 1 + static_cast<int>(rng() % 8));
    const auto x = random_row(rng, M, 0.2);
    double expected = 0;
    const auto a = per_leaf_oracle(t, x.data(), M, &expected);
    const auto b = brute_force(t, x.data(), M);
    for (std::size_t i = 0; i < M; ++i) REQUIRE(std::fabs(a[i] - b[i]) <= 1e-12);
  }
}

TEST_CASE("four rows walked together: each row's values equal its own walk, bit for bit, and the oracle") {
  // Rows that go different ways at every depth (random rows, rows with missing values, a row that
  // follows the spine), through trees of depth 50 and more: lanes must not leak into each other.
  std::mt19937_64 rng(31);
  churn::detail::shap_scratch scratch;
  constexpr std::size_t L = churn::detail::shap_lanes;
  REQUIRE(L == 4);
  for (int spine : {0, 50, 70}) {
    for (int trial = 0; trial < 3; ++trial) {
      const std::size_t M = spine > 0 ? static_cast<std::size_t>(spine) + 10 : 8;
      const plain_tree t = spine > 0 ? random_tree(rng, M, 0, spine) : random_tree(rng, M, 9);
      const auto plan = churn::detail::make_shap_plan(t.nodes.data(), t.cover.data(), t.nodes.size());
      if (spine > 0) CHECK(plan.max_depth >= static_cast<std::size_t>(spine));
      const churn::detail::shap_rule rule(plan.points);
      std::vector<std::vector<float>> rows;
      for (std::size_t r = 0; r < L; ++r) rows.push_back(random_row(rng, M, r == 1 ? 0.4 : (r == 2 ? 1.0 : 0.0)));
      // Lane 3: a row that goes left at every node (thresholds are in [0, 1)); lane 2 is all missing.
      for (auto& v : rows[3]) v = -1.0f;
      std::vector<float> x(M * L);
      for (std::size_t r = 0; r < L; ++r)
        for (std::size_t f = 0; f < M; ++f) x[f * L + r] = rows[r][f];
      std::vector<double> phi(M * L, 0.0);
      churn::detail::tree_shap_batch(plan, rule, x.data(), phi.data(), scratch);
      // The same rows in other lanes (reversed) give the same values.
      std::vector<float> x_rev(M * L);
      for (std::size_t r = 0; r < L; ++r)
        for (std::size_t f = 0; f < M; ++f) x_rev[f * L + (L - 1 - r)] = rows[r][f];
      std::vector<double> phi_rev(M * L, 0.0);
      churn::detail::tree_shap_batch(plan, rule, x_rev.data(), phi_rev.data(), scratch);
      for (std::size_t r = 0; r < L; ++r) {
        std::vector<double> alone(M, 0.0);
        churn::detail::tree_shap(plan, rule, rows[r].data(), alone.data(), scratch);
        double expected = 0, total = plan.expected, worst = 0;
        const auto ref = per_leaf_oracle(t, rows[r].data(), M, &expected);
        for (std::size_t f = 0; f < M; ++f) {
          REQUIRE(phi[f * L + r] == alone[f]);
          REQUIRE(phi_rev[f * L + (L - 1 - r)] == alone[f]);
          worst = std::max(worst, std::fabs(alone[f] - ref[f]));
          total += alone[f];
        }
        INFO("spine " << spine << ", lane " << r);
        CHECK(worst <= 1e-12);
        CHECK(std::fabs(total - prediction(t, rows[r].data())) <= 1e-11);
      }
    }
  }
}

TEST_CASE("a single-leaf tree has no contributions and its value as the expected value") {
  plain_tree t;
  t.nodes.push_back(tree_node::leaf(0.25f));
  t.cover.push_back(3.0);
  churn::detail::shap_tree_plan plan;
  churn::detail::shap_scratch scratch;
  const float x[2] = {0.5f, 0.5f};
  const auto phi = kernel(t, x, 2, plan, scratch);
  CHECK(phi[0] == 0.0);
  CHECK(phi[1] == 0.0);
  CHECK(plan.expected == 0.25);
}

// ---- the forest: cover from training, tree_explainer, model files ------------------------------------

#include <churn/forest_fit.hpp>
#include <churn/model_io.hpp>
#include <churn/shap.hpp>

namespace {

churn::random_forest small_forest(std::size_t rows, std::size_t cols, std::uint64_t seed, double nan_share,
                                  std::vector<double>& X, const std::vector<double>& weights = {}) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  X.assign(rows * cols, 0.0);
  std::vector<int> y(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) X[r * cols + c] = u(rng) < nan_share ? std::nan("") : nd(rng);
    const double a = std::isnan(X[r * cols]) ? 0 : X[r * cols], b = std::isnan(X[r * cols + 1]) ? 0 : X[r * cols + 1];
    y[r] = a + b + nd(rng) > 0 ? 1 : 0;
  }
  churn::forest_params p;
  p.n_estimators = 15;
  p.random_state = seed;
  return churn::fit_forest(p, churn::matrix_view(X.data(), rows, cols), y, weights);
}

}  // namespace

TEST_CASE("a trained forest keeps each node's cover: positive, children summing to their parent") {
  std::vector<double> X;
  std::vector<double> w(300);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.25 + static_cast<double>(i % 7) * 0.5;
  const auto forest = small_forest(300, 5, 3, 0.1, X, w);
  REQUIRE(forest.has_cover());
  for (std::size_t t = 0; t < forest.n_trees(); ++t) {
    const churn::tree_node* nodes = forest.tree(t);
    const double* cover = forest.tree_cover(t);
    for (std::size_t i = 0; i < forest.tree_size(t); ++i) {
      CHECK(cover[i] > 0);
      if (!nodes[i].is_leaf()) CHECK(cover[i + 1] + cover[nodes[i].right] == doctest::Approx(cover[i]).epsilon(1e-12));
    }
  }
}

TEST_CASE("tree_explainer: additivity against predict_proba, the same values for any number of threads") {
  std::vector<double> X;
  const auto forest = small_forest(400, 6, 5, 0.15, X);
  const churn::tree_explainer ex(forest);
  const churn::matrix_view view(X.data(), 400, 6);
  const auto phi = ex.shap_values(view, 1);
  const auto proba = forest.predict_proba(view);
  double worst = 0;
  for (std::size_t r = 0; r < 400; ++r) {
    double s = ex.expected_value();
    for (std::size_t f = 0; f < 6; ++f) s += phi[r * 6 + f];
    worst = std::max(worst, std::fabs(s - proba[r]));
  }
  CHECK(worst <= 1e-9);
  CHECK(ex.shap_values(view, 2) == phi);
  CHECK(ex.shap_values(view, 3) == phi);
  // One row on several threads takes the trees in parallel: the same bits.
  const churn::matrix_view one(X.data() + 7 * 6, 1, 6);
  const auto single = ex.shap_values(one, 2);
  CHECK(std::equal(single.begin(), single.end(), phi.begin() + 7 * 6));
  CHECK(churn::shap_values(forest, view, 2) == phi);
  CHECK(churn::shap_expected_value(forest) == ex.expected_value());
}

TEST_CASE("tree_explainer: any number of rows (batches of four, the last one padded) and threads, the same bits") {
  std::vector<double> X;
  const auto forest = small_forest(300, 6, 12, 0.2, X);
  const churn::tree_explainer ex(forest);
  const auto all = ex.shap_values(churn::matrix_view(X.data(), 300, 6), 1);
  // Every window of 1 to 9 rows starting anywhere (so rows land in other lanes and batches), on 1 to
  // 3 threads (fewer batches than threads takes the trees in parallel).
  for (std::size_t start : {0, 1, 2, 3, 5, 290}) {
    for (std::size_t n = 1; n <= 9; ++n) {
      for (int threads : {1, 2, 3}) {
        const auto part = ex.shap_values(churn::matrix_view(X.data() + start * 6, n, 6), threads);
        REQUIRE(part.size() == n * 6);
        INFO("rows " << start << " + " << n << ", threads " << threads);
        CHECK(std::equal(part.begin(), part.end(), all.begin() + static_cast<std::ptrdiff_t>(start * 6)));
      }
    }
  }
}

TEST_CASE("tree_explainer reads a view with any strides: a column-major copy gives the same values") {
  std::vector<double> X;
  const std::size_t rows = 120, cols = 5;
  const auto forest = small_forest(rows, cols, 8, 0.1, X);
  const churn::tree_explainer ex(forest);
  std::vector<double> column_major(rows * cols);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) column_major[c * rows + r] = X[r * cols + c];
  const churn::matrix_view by_rows(X.data(), rows, cols);
  const churn::matrix_view by_columns(column_major.data(), rows, cols, 1, static_cast<std::ptrdiff_t>(rows));
  CHECK(ex.shap_values(by_columns, 1) == ex.shap_values(by_rows, 1));
  CHECK(ex.shap_values(by_columns, 2) == ex.shap_values(by_rows, 1));
}

TEST_CASE("tree_explainer rejects bad input as prediction does") {
  std::vector<double> X;
  const auto forest = small_forest(200, 4, 9, 0.0, X);
  const churn::tree_explainer ex(forest);
  CHECK_THROWS_AS(ex.shap_values(churn::matrix_view(X.data(), 10, 3)), churn::data_error);
  X[2 * 4 + 1] = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(ex.shap_values(churn::matrix_view(X.data(), 10, 4)), doctest::Contains("X[2, 1] = inf"),
                       churn::data_error);
  CHECK_THROWS_AS(ex.shap_values(churn::matrix_view(X.data(), 1, 4), 0), churn::parameter_error);
}

TEST_CASE("model files: version 2 keeps cover; version 1 files load, predict, and cannot explain") {
  std::vector<double> X;
  const auto forest = small_forest(200, 4, 11, 0.1, X);
  const std::string text = churn::dumps(forest);
  auto j = nlohmann::json::parse(text);
  CHECK(j["format_version"] == 2);
  const auto again = churn::loads(text);
  CHECK(churn::dumps(again) == text);
  const churn::matrix_view view(X.data(), 50, 4);
  CHECK(churn::shap_values(again, view) == churn::shap_values(forest, view));

  j["format_version"] = 1;
  for (auto& t : j["trees"]) t.erase("cover");
  const auto old = churn::loads(j.dump());
  CHECK_FALSE(old.has_cover());
  CHECK(old.predict_proba(view) == forest.predict_proba(view));
  CHECK_THROWS_WITH_AS(churn::tree_explainer{old}, doctest::Contains("refit the model"), churn::model_capability_error);
  // Saved again, it stays a version 1 file (it has no cover to write).
  CHECK(nlohmann::json::parse(churn::dumps(old))["format_version"] == 1);
  CHECK(churn::dumps(churn::loads(churn::dumps(old))) == churn::dumps(old));
}

TEST_CASE("the loader validates cover: present, numbers, finite, positive, children summing to the parent") {
  std::vector<double> X;
  const auto forest = small_forest(100, 3, 13, 0.0, X);
  const auto base = nlohmann::json::parse(churn::dumps(forest));
  auto error_of = [](const nlohmann::json& j) {
    try {
      churn::loads(j.dump());
    } catch (const churn::model_format_error& e) {
      return std::string(e.what());
    }
    return std::string("loaded");
  };
  auto j = base;
  j["trees"][0].erase("cover");
  CHECK(error_of(j) == "model format error at /trees/0/cover: missing required field 'cover'");
  j = base;
  j["trees"][1]["cover"].erase(0);
  CHECK(error_of(j).find("model format error at /trees/1/cover: has ") == 0);
  j = base;
  j["trees"][0]["cover"][2] = "x";
  CHECK(error_of(j) == "model format error at /trees/0/cover/2: expected a number, got string");
  j = base;
  j["trees"][0]["cover"][1] = -1.0;
  CHECK(error_of(j).find("model format error at /trees/0/cover/1: node cover -1") == 0);
  j = base;
  j["trees"][0]["cover"][1] = 0.0;
  CHECK(error_of(j).find("is not a finite positive weight") != std::string::npos);
  j = base;
  j["trees"][0]["cover"][0] = j["trees"][0]["cover"][0].get<double>() * 1.5;
  CHECK(error_of(j).find("model format error at /trees/0/cover/0: node cover") == 0);
  CHECK(error_of(j).find("is not the sum of its children's") != std::string::npos);
}

TEST_CASE("fuzz corpus: the version 2 model explains; each cover regression file is rejected at its cover") {
  auto read = [](const std::string& name) {
    const std::string path = std::string(CHURN_TEST_DATA_DIR) + "/../fuzz/corpus/model/" + name;
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in, "missing corpus file " << path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const auto model = churn::loads(read("small-v2-cover.json"));
  REQUIRE(model.has_cover());
  std::vector<double> row(model.n_features(), std::numeric_limits<double>::quiet_NaN());
  const churn::tree_explainer ex(model);
  const auto phi = ex.shap_values(churn::matrix_view(row.data(), 1, row.size()));
  double s = ex.expected_value();
  for (double v : phi) s += v;
  CHECK(std::fabs(s - model.predict_proba(row.data())) <= 1e-12);
  // Version 1 corpus files still load, without cover.
  CHECK_FALSE(churn::loads(read("small.json")).has_cover());
  const std::pair<const char*, const char*> bad[] = {
      {"regression-cover-missing.json", "model format error at /trees/2/cover: missing required field 'cover'"},
      {"regression-cover-negative.json", "model format error at /trees/1/cover/1: node cover -"},
      {"regression-cover-not-sum.json", "model format error at /trees/0/cover/0: node cover "},
      {"regression-cover-underflow.json", "is below 1e-200 times the root's"},
  };
  for (const auto& [name, expected] : bad) {
    CAPTURE(name);
    std::string message = "loaded";
    try {
      churn::loads(read(name));
    } catch (const churn::model_format_error& e) {
      message = e.what();
    }
    CHECK(message.find(expected) != std::string::npos);
  }
}
