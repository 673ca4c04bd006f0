// The tree grower's fast paths against its general ones (issue 21): the packed integer sums used when
// every weight is a whole number must grow exactly the trees the double sums grow, node for node, and
// the row bits of the two-valued columns must hold their codes.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include <churn/detail/forest_data.hpp>
#include <churn/detail/forest_fit.hpp>
#include <churn/detail/forest_tree.hpp>
#include <churn/detail/rng.hpp>

namespace {

// A table shaped like the noisy churn tables: one-hot flags, small counts, continuous columns with
// many distinct values, optionally a column with missing values; labels with heavy noise, so that
// fully grown trees have many small nodes.
struct table {
  std::vector<double> x;
  std::vector<int> y;
  std::size_t rows = 0, cols = 0;
};

table noisy_table(std::size_t rows, bool with_missing, std::uint64_t seed) {
  churn::detail::rng g(seed);
  table t;
  t.rows = rows;
  t.cols = 20 + (with_missing ? 1 : 0);
  for (std::size_t r = 0; r < rows; ++r) {
    double score = 0;
    for (std::size_t group = 0; group < 4; ++group) {  // four one-hot groups of three levels: 12 flags
      const auto level = g.below(3);
      for (std::uint64_t l = 0; l < 3; ++l) t.x.push_back(l == level ? 1.0 : 0.0);
      score += level == 0 ? 0.4 : 0.0;
    }
    for (int k = 0; k < 3; ++k) t.x.push_back(g.uniform() < 0.3 ? 1.0 : 0.0);    // three more flags
    for (int k = 0; k < 3; ++k) t.x.push_back(static_cast<double>(g.below(8)));  // counts
    const double charge = std::round(g.uniform() * 2000) / 20;                   // ~2,000 values
    t.x.push_back(charge);
    t.x.push_back(std::round(charge * (1 + g.uniform() * 60)));
    if (with_missing) t.x.push_back(g.uniform() < 0.2 ? std::nan("") : static_cast<double>(g.below(5)));
    score += charge / 100;
    t.y.push_back(g.uniform() < 0.15 + 0.5 * score / 2.6 ? 1 : 0);
  }
  return t;
}

// Grows tree `t` of a forest on `b` as grow_tree_range does, with or without the packed sums.
churn::detail::grown_tree grow(const churn::forest_params& params, const churn::detail::binned_features& b,
                               const std::vector<int>& y, const std::vector<double>& base_weight, std::size_t t,
                               bool integer_sums) {
  churn::detail::rng g(churn::detail::derive_seed(params.random_state, t));
  std::vector<std::uint32_t> counts;
  churn::detail::draw_bootstrap(params.bootstrap, b.n_rows, b.n_rows, g, counts);
  std::vector<churn::detail::tree_sample> samples;
  for (std::size_t i = 0; i < b.n_rows; ++i) {
    const double w = counts[i] * base_weight[i];
    if (w > 0) samples.push_back({w, static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(y[i])});
  }
  churn::detail::tree_scratch scratch;
  scratch.integer_sums = integer_sums;
  churn::detail::tree_grower grower(params.tree, b, params.tree.max_features.resolve(b.n_features), scratch);
  return grower.grow(samples, g);
}

void check_same_trees(const churn::forest_params& params, const table& d, const std::vector<double>& base_weight) {
  const auto b = churn::detail::bin_features(churn::matrix_view(d.x.data(), d.rows, d.cols), 1);
  std::size_t nodes = 0;
  for (std::size_t t = 0; t < 8; ++t) {
    const auto packed = grow(params, b, d.y, base_weight, t, true);
    const auto plain = grow(params, b, d.y, base_weight, t, false);
    REQUIRE(packed.nodes.size() == plain.nodes.size());
    nodes += packed.nodes.size();
    for (std::size_t i = 0; i < packed.nodes.size(); ++i) {
      // Bit for bit: the node's split, threshold, value and child.
      REQUIRE(std::memcmp(&packed.nodes[i], &plain.nodes[i], sizeof(churn::tree_node)) == 0);
      REQUIRE(packed.cover[i] == plain.cover[i]);
    }
    REQUIRE(packed.importance == plain.importance);
  }
  CHECK(nodes > 8 * 100);  // fully grown on noise: many small nodes, the case the fast paths serve
}

}  // namespace

TEST_CASE("packed integer sums grow the same trees as double sums") {
  churn::forest_params params;
  params.random_state = 5;
  for (bool with_missing : {false, true}) {
    CAPTURE(with_missing);
    const auto d = noisy_table(1500, with_missing, 3);
    const std::vector<double> unit(d.rows, 1.0);
    check_same_trees(params, d, unit);
    // Integer sample weights (counts of duplicated rows) also take the packed sums.
    std::vector<double> twos(d.rows);
    for (std::size_t i = 0; i < d.rows; ++i) twos[i] = static_cast<double>(1 + i % 3);
    check_same_trees(params, d, twos);
    auto leafy = params;
    leafy.tree.min_samples_leaf = 3;
    leafy.tree.max_features = churn::max_features_rule::count(8);
    check_same_trees(leafy, d, unit);
    auto entropy = params;
    entropy.tree.split_criterion = churn::criterion::entropy;
    check_same_trees(entropy, d, unit);
  }
}

TEST_CASE("two-valued columns are kept as row bits, and only they") {
  const auto d = noisy_table(300, true, 9);
  const auto b = churn::detail::bin_features(churn::matrix_view(d.x.data(), d.rows, d.cols), 2);
  // Columns 0-14 are flags; the counts, charges and the column with missing values are not.
  REQUIRE(b.binary_features.size() == 15);
  CHECK(b.binary_words == 1);
  for (std::size_t j = 0; j < b.binary_features.size(); ++j) {
    CHECK(b.binary_features[j] == j);
    for (std::size_t r = 0; r < d.rows; ++r)
      REQUIRE(((b.binary_rows[r] >> j) & 1) == (d.x[r * d.cols + j] == 1.0 ? 1u : 0u));
  }
}

TEST_CASE("the two-ended radix scatter places every key where a forward stable pass does") {
  // Binning and the nodes' sorts scatter keys from both ends of the input at once (radix_scatter_stable);
  // the result must be the stable order by digit for every count (even, odd, 0 and 1) and bucket layout,
  // with keys that share a digit (their order is what stability is about).
  churn::detail::rng g(21);
  for (std::uint32_t buckets : {1u, 2u, 16u, 33u, 256u}) {
    for (std::size_t n = 0; n < 300; n += (n < 40 ? 1 : 37)) {
      std::vector<std::uint32_t> in(n);
      for (std::size_t i = 0; i < n; ++i)
        in[i] = static_cast<std::uint32_t>(g.below(buckets)) << 16 | static_cast<std::uint32_t>(i);
      auto digit = [](std::uint32_t k) { return k >> 16; };
      std::vector<std::uint32_t> start(buckets + 1, 0), end(buckets);
      for (auto k : in) ++start[digit(k) + 1];
      for (std::uint32_t b = 0; b < buckets; ++b) start[b + 1] += start[b];
      std::copy(start.begin() + 1, start.end(), end.begin());
      std::vector<std::uint32_t> out(n, 0xFFFFFFFFu);
      churn::detail::radix_scatter_stable(in.data(), out.data(), n, start.data(), end.data(), digit);
      auto want = in;
      std::stable_sort(want.begin(), want.end(), [&](auto a, auto b) { return digit(a) < digit(b); });
      REQUIRE(out == want);
      // Each bucket filled exactly: the two chains met.
      for (std::uint32_t b = 0; b < buckets; ++b) CHECK(start[b] == end[b]);
    }
  }
}
