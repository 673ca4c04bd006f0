// A forest grown in tree ranges (fit_forest_trees, e.g. one range per cluster worker) and joined by
// combine_forests is the forest fit_forest grows: the same saved model byte for byte, the same
// importances and out-of-bag estimates bit for bit. Parts that do not make one forest are refused,
// each with its own message.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <churn/detail/rng.hpp>
#include <churn/forest.hpp>
#include <churn/forest_fit.hpp>
#include <churn/forest_ranges.hpp>
#include <churn/model_io.hpp>

namespace {

struct dataset {
  std::vector<double> x;
  std::vector<int> y;
  std::vector<double> w;
  std::size_t rows = 0, cols = 0;
  churn::matrix_view view() const { return churn::matrix_view(x.data(), rows, cols); }
};

// y depends on features 0 and 1 plus label noise; some values are missing, feature 2 has ties, and
// a tenth of the weights are zero.
dataset make_data(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  churn::detail::rng g(seed);
  dataset d;
  d.rows = rows;
  d.cols = cols;
  d.x.resize(rows * cols);
  d.y.resize(rows);
  d.w.resize(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) d.x[r * cols + c] = g.uniform() < 0.05 ? NAN : g.uniform() * 2 - 1;
    d.x[r * cols + 2] = static_cast<double>(g.below(4));
    const double s = d.x[r * cols] + 0.5 * d.x[r * cols + 1];
    d.y[r] = (s > 0.2 ? 1 : 0) ^ (g.uniform() < 0.15 ? 1 : 0);
    d.w[r] = g.uniform() < 0.1 ? 0.0 : 0.5 + g.uniform();
  }
  return d;
}

std::vector<std::string> names(std::size_t p) {
  std::vector<std::string> out;
  for (std::size_t f = 0; f < p; ++f) out.push_back("f" + std::to_string(f));
  return out;
}

// Grows the forest as parts of the given sizes (summing to n_estimators).
std::vector<churn::tree_range> grow_parts(const churn::forest_params& p, const dataset& d, const std::vector<double>& w,
                                          const std::vector<std::size_t>& sizes) {
  std::vector<churn::tree_range> parts;
  std::size_t first = 0;
  for (std::size_t count : sizes) {
    parts.push_back(churn::fit_forest_trees(p, d.view(), d.y, w, names(d.cols), first, count));
    first += count;
  }
  return parts;
}

// Bitwise equality of two double vectors (NaN == NaN when the bits agree).
bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

void check_same_forest(const churn::random_forest& combined, const churn::random_forest& local) {
  CHECK(churn::dumps(combined) == churn::dumps(local));
  CHECK(same_bits(combined.feature_importances(), local.feature_importances()));
  CHECK(same_bits(combined.oob_probability(), local.oob_probability()));
  CHECK(combined.has_oob_score() == local.has_oob_score());
  if (local.has_oob_score()) CHECK(combined.oob_score() == local.oob_score());
  CHECK(combined.n_trees() == local.n_trees());
}

}  // namespace

TEST_CASE("tree ranges combine into the forest fit_forest grows, byte for byte") {
  const dataset d = make_data(300, 6, 3);
  struct variant {
    const char* name;
    churn::forest_params params;
    bool weighted;
  };
  std::vector<variant> variants;
  churn::forest_params base;
  base.n_estimators = 31;
  base.random_state = 17;
  base.oob_score = true;
  variants.push_back({"bootstrap with OOB", base, false});
  churn::forest_params balanced = base;
  balanced.class_weight = churn::class_weight_mode::balanced_subsample;
  balanced.max_samples_fraction = 0.6;
  variants.push_back({"balanced_subsample, max_samples fraction, weights", balanced, true});
  churn::forest_params extra = base;
  extra.oob_score = false;
  extra.bootstrap = false;
  extra.tree.split_strategy = churn::splitter::random;
  extra.tree.max_leaf_nodes = 12;
  variants.push_back({"extra trees without bootstrap", extra, true});
  churn::forest_params shallow = base;
  shallow.tree.max_depth = 3;
  shallow.max_samples = 280;  // few trees of large samples: some rows are never out of bag (NaN OOB probability)
  shallow.n_estimators = 4;
  variants.push_back({"few trees, rows never out of bag", shallow, false});

  for (const auto& v : variants) {
    CAPTURE(v.name);
    const std::vector<double> w = v.weighted ? d.w : std::vector<double>{};
    const churn::random_forest local = churn::fit_forest(v.params, d.view(), d.y, w, names(d.cols));
    if (v.params.n_estimators == 4)  // the case of rows without an OOB estimate is covered
      CHECK(std::any_of(local.oob_probability().begin(), local.oob_probability().end(),
                        [](double x) { return std::isnan(x); }));
    const std::size_t T = v.params.n_estimators;
    std::vector<std::vector<std::size_t>> splits = {{T}, std::vector<std::size_t>(T, 1)};
    if (T == 31) splits.push_back({7, 13, 11});
    for (const auto& sizes : splits) {
      CAPTURE(sizes.size());
      check_same_forest(churn::combine_forests(grow_parts(v.params, d, w, sizes), d.view(), d.y, w), local);
    }
  }
}

TEST_CASE("parts combine in any order, from any number of threads, after a trip through JSON") {
  const dataset d = make_data(250, 5, 8);
  churn::forest_params p;
  p.n_estimators = 20;
  p.random_state = 4;
  p.oob_score = true;
  const churn::random_forest local = churn::fit_forest(p, d.view(), d.y, {}, names(d.cols));

  std::vector<churn::tree_range> parts;
  churn::forest_params threaded = p;
  threaded.n_jobs = 3;  // n_jobs never changes the trees
  parts.push_back(churn::fit_forest_trees(threaded, d.view(), d.y, {}, names(d.cols), 12, 8));
  parts.push_back(churn::fit_forest_trees(p, d.view(), d.y, {}, names(d.cols), 0, 5));
  parts.push_back(churn::fit_forest_trees(threaded, d.view(), d.y, {}, names(d.cols), 5, 7));
  std::vector<churn::tree_range> shipped;
  for (const auto& part : parts) {
    const std::string text = churn::dumps(part);
    churn::tree_range back = churn::loads_tree_range(text);
    CHECK(churn::dumps(back) == text);
    CHECK(back.first_tree == part.first_tree);
    CHECK(back.data_digest == part.data_digest);
    CHECK(same_bits(back.tree_importances, part.tree_importances));
    shipped.push_back(std::move(back));
  }
  check_same_forest(churn::combine_forests(std::move(shipped), d.view(), d.y), local);
  check_same_forest(churn::combine_forests(std::move(parts), d.view(), d.y), local);
}

TEST_CASE("a part is the range's trees of the local forest") {
  const dataset d = make_data(200, 4, 21);
  churn::forest_params p;
  p.n_estimators = 10;
  p.random_state = 9;
  const churn::random_forest local = churn::fit_forest(p, d.view(), d.y);
  const churn::tree_range part = churn::fit_forest_trees(p, d.view(), d.y, {}, {}, 6, 3);
  REQUIRE(part.n_trees() == 3);
  CHECK(part.end_tree() == 9);
  CHECK(part.n_rows == 200);
  CHECK(part.trees.params().n_estimators == 10);
  for (std::size_t t = 0; t < 3; ++t) {
    REQUIRE(part.trees.tree_size(t) == local.tree_size(6 + t));
    CHECK(std::memcmp(part.trees.tree(t), local.tree(6 + t), local.tree_size(6 + t) * sizeof(churn::tree_node)) == 0);
  }
  // Each tree's importance sums to 1 (or is all 0 for a tree that never splits).
  for (std::size_t t = 0; t < 3; ++t) {
    double s = 0;
    for (std::size_t f = 0; f < d.cols; ++f) s += part.tree_importances[t * d.cols + f];
    CHECK((s == doctest::Approx(1.0) || s == 0.0));
  }
}

TEST_CASE("parts that do not make one forest are refused, each with its reason") {
  const dataset d = make_data(120, 4, 5);
  churn::forest_params p;
  p.n_estimators = 10;
  p.random_state = 1;
  auto part = [&](std::size_t first, std::size_t count, const churn::forest_params& q, const dataset& data) {
    return churn::fit_forest_trees(q, data.view(), data.y, {}, names(data.cols), first, count);
  };
  auto combine = [&](std::vector<churn::tree_range> parts) {
    return churn::combine_forests(std::move(parts), d.view(), d.y);
  };
  auto two = [](churn::tree_range a, churn::tree_range b) {
    std::vector<churn::tree_range> v;
    v.push_back(std::move(a));
    v.push_back(std::move(b));
    return v;
  };

  SUBCASE("no parts") {
    CHECK_THROWS_WITH_AS(
        combine({}),
        "no forest parts to combine; pass every part grown by fit_forest_trees (trees 0 to n_estimators - 1)",
        churn::data_error);
  }
  SUBCASE("trees missing in the middle and at the end") {
    CHECK_THROWS_WITH_AS(combine(two(part(0, 3, p, d), part(5, 5, p, d))),
                         "trees 3..4 are missing: no part holds them (the forest has n_estimators = 10 trees)",
                         churn::data_error);
    CHECK_THROWS_WITH_AS(combine(two(part(0, 3, p, d), part(3, 4, p, d))),
                         "trees 7..9 are missing: no part holds them (the forest has n_estimators = 10 trees)",
                         churn::data_error);
    std::vector<churn::tree_range> late;
    late.push_back(part(2, 8, p, d));
    CHECK_THROWS_WITH_AS(combine(std::move(late)),
                         "trees 0..1 are missing: no part holds them (the forest has n_estimators = 10 trees)",
                         churn::data_error);
  }
  SUBCASE("overlapping ranges") {
    CHECK_THROWS_WITH_AS(
        combine(two(part(0, 6, p, d), part(4, 6, p, d))),
        "the part with trees 4..9 overlaps the part with trees 0..5; each tree must come from exactly one part",
        churn::data_error);
  }
  SUBCASE("other parameters") {
    churn::forest_params seed = p;
    seed.random_state = 2;
    CHECK_THROWS_WITH_AS(
        combine(two(part(0, 5, p, d), part(5, 5, seed, d))),
        "invalid value for parameter 'random_state': 2 in the part with trees 5..9 (allowed: 1 as in the part "
        "with trees 0..4; all parts must be grown with the same parameters)",
        churn::parameter_error);
    churn::forest_params more = p;
    more.n_estimators = 20;
    CHECK_THROWS_WITH_AS(
        combine(two(part(0, 5, p, d), part(5, 5, more, d))),
        "invalid value for parameter 'n_estimators': 20 in the part with trees 5..9 (allowed: 10 as in the part "
        "with trees 0..4; all parts must be grown with the same parameters)",
        churn::parameter_error);
    churn::forest_params depth = p;
    depth.tree.max_depth = 4;
    CHECK_THROWS_WITH_AS(
        combine(two(part(0, 5, depth, d), part(5, 5, p, d))),
        "invalid value for parameter 'max_depth': null in the part with trees 5..9 (allowed: 4 as in the part "
        "with trees 0..4; all parts must be grown with the same parameters)",
        churn::parameter_error);
  }
  SUBCASE("other data") {
    dataset other = d;
    other.y[7] = 1 - other.y[7];
    CHECK_THROWS_WITH_AS(
        combine(two(part(0, 5, p, d), part(5, 5, p, other))),
        "the part with trees 5..9 was grown on other data than the part with trees 0..4 (another X, y or "
        "sample weights); all parts must be grown on the same data",
        churn::data_error);
    const dataset fewer = make_data(100, 4, 5);
    CHECK_THROWS_WITH_AS(
        combine(two(part(0, 5, p, d), part(5, 5, p, fewer))),
        "the part with trees 5..9 was grown on 100 rows, but the part with trees 0..4 on 120; all parts must "
        "be grown on the same X, y and sample weights",
        churn::data_error);
    // The data given to combine_forests must be the parts' own (its OOB estimates are computed from it).
    CHECK_THROWS_WITH_AS(churn::combine_forests(two(part(0, 5, p, d), part(5, 5, p, d)), other.view(), other.y),
                         "X, y or sample_weight differ from the data the parts were grown on; pass the arrays given to "
                         "fit_forest_trees",
                         churn::data_error);
    CHECK_THROWS_WITH_AS(churn::combine_forests(two(part(0, 5, p, d), part(5, 5, p, d)), d.view(), d.y, d.w),
                         "X, y or sample_weight differ from the data the parts were grown on; pass the arrays given to "
                         "fit_forest_trees",
                         churn::data_error);
    CHECK_THROWS_WITH_AS(churn::combine_forests(two(part(0, 5, p, d), part(5, 5, p, d)), fewer.view(), fewer.y),
                         "X has 100 rows, but the parts were grown on 120", churn::data_error);
  }
  SUBCASE("other columns") {
    const dataset wide = make_data(120, 5, 5);
    CHECK_THROWS_WITH_AS(
        combine(two(part(0, 5, p, d), part(5, 5, p, wide))),
        "the part with trees 5..9 has 5 features, but the part with trees 0..4 has 4; all parts must be grown "
        "on the same columns",
        churn::data_error);
    std::vector<churn::tree_range> renamed;
    renamed.push_back(part(0, 5, p, d));
    renamed.push_back(churn::fit_forest_trees(p, d.view(), d.y, {}, {"a", "b", "c", "d"}, 5, 5));
    CHECK_THROWS_WITH_AS(
        combine(std::move(renamed)),
        "the part with trees 5..9 has other feature names than the part with trees 0..4; all parts must be "
        "grown on the same columns",
        churn::data_error);
  }
  SUBCASE("a range outside the forest") {
    CHECK_THROWS_WITH_AS(churn::fit_forest_trees(p, d.view(), d.y, {}, {}, 8, 5),
                         "invalid value for parameter 'first_tree': trees 8..12 (allowed: a range of trees within 0..9 "
                         "(n_estimators = 10))",
                         churn::parameter_error);
    CHECK_THROWS_WITH_AS(churn::fit_forest_trees(p, d.view(), d.y, {}, {}, 0, 0),
                         "invalid value for parameter 'n_trees': 0 (allowed: an integer >= 1)", churn::parameter_error);
  }
  SUBCASE("corrupt part documents") {
    const std::string text = churn::dumps(part(0, 5, p, d));
    auto edited = [&](const char* key, nlohmann::json value) {
      auto j = nlohmann::json::parse(text);
      j[key] = std::move(value);
      return j.dump();
    };
    CHECK_THROWS_WITH_AS(
        churn::loads_tree_range(churn::dumps(churn::fit_forest(p, d.view(), d.y))),
        "model format error at /format: expected the format tag 'churn-forest-part': this is not a churn "
        "forest part",
        churn::model_format_error);
    CHECK_THROWS_WITH_AS(churn::loads_tree_range(edited("first_tree", 7)),
                         "model format error at /first_tree: trees 7..11 reach beyond n_estimators = 10",
                         churn::model_format_error);
    CHECK_THROWS_WITH_AS(churn::loads_tree_range(edited("tree_importances", nlohmann::json::array({1.0}))),
                         "model format error at /tree_importances: has 1 values, expected 20 (trees x features)",
                         churn::model_format_error);
    auto j = nlohmann::json::parse(text);
    j["forest"]["trees"][2]["right"][0] = 1;
    CHECK_THROWS_WITH_AS(churn::loads_tree_range(j.dump()),
                         doctest::Contains("model format error at /forest/trees/2/right/0: "),
                         churn::model_format_error);
  }
}
