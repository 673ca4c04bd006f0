// Saving and loading forests: byte-identical round trips, metadata, and one distinct error per kind of
// corruption.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <churn/detail/rng.hpp>
#include <churn/forest_fit.hpp>
#include <churn/model_io.hpp>

namespace {

churn::random_forest small_model(bool with_missing = true) {
  churn::detail::rng g(3);
  const std::size_t rows = 200, cols = 4;
  std::vector<double> x(rows * cols);
  std::vector<int> y(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) x[r * cols + c] = g.uniform();
    if (with_missing && r % 7 == 0) x[r * cols + 1] = std::numeric_limits<double>::quiet_NaN();
    y[r] = x[r * cols] + 0.2 * g.uniform() > 0.6 ? 1 : 0;
  }
  churn::forest_params p;
  p.n_estimators = 5;
  p.random_state = 17;
  p.oob_score = true;
  p.tree.max_depth = 6;
  p.class_weight = churn::class_weight_mode::given;
  p.class_weights = {1.0, 2.5};
  p.tree.max_features = churn::max_features_rule::fraction(0.5);
  auto m = churn::fit_forest(p, churn::matrix_view(x.data(), rows, cols), y, {}, {"a", "b", "c", "d"});
  m.metadata()["description"] = {{"a", "days since registration"}};
  m.metadata()["metrics"] = {{"roc_auc", 0.91}};
  return m;
}

std::string temp_path(const char* name) { return std::string("/tmp/churn_test_model_io_") + name + ".json"; }

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const churn::model_format_error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("save and load round-trip byte-identically") {
  const auto model = small_model();
  const std::string text = churn::dumps(model);
  const auto again = churn::loads(text);
  CHECK(churn::dumps(again) == text);
  CHECK(again.n_trees() == model.n_trees());
  CHECK(again.n_nodes() == model.n_nodes());
  CHECK(again.feature_names() == model.feature_names());
  CHECK(again.metadata() == model.metadata());
  CHECK(again.params().class_weights[1] == 2.5);
  CHECK(again.params().tree.max_features.how == churn::max_features_rule::kind::fraction);
  CHECK(again.oob_score() == model.oob_score());
  CHECK(again.feature_importances() == model.feature_importances());

  const std::string path = temp_path("roundtrip");
  churn::save_model(model, path);
  const auto loaded = churn::load_model(path);
  std::ifstream in(path, std::ios::binary);
  const std::string on_disk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(on_disk == text);
  churn::detail::rng g(8);
  std::vector<double> x(100 * 4);
  for (auto& v : x) v = g.uniform();
  x[5] = std::numeric_limits<double>::quiet_NaN();
  CHECK(loaded.predict_proba(churn::matrix_view(x.data(), 100, 4)) ==
        model.predict_proba(churn::matrix_view(x.data(), 100, 4)));
  std::remove(path.c_str());
}

TEST_CASE("file errors are io_errors") {
  CHECK_THROWS_WITH_AS(churn::load_model("/nonexistent/dir/model.json"),
                       doctest::Contains("cannot open model file '/nonexistent/dir/model.json'"), churn::io_error);
  CHECK_THROWS_WITH_AS(churn::save_model(small_model(), "/nonexistent/dir/model.json"),
                       doctest::Contains("cannot open '/nonexistent/dir/model.json' for writing"), churn::io_error);
  const std::string path = temp_path("empty");
  { std::ofstream(path).flush(); }
  CHECK_THROWS_WITH_AS(churn::load_model(path), doctest::Contains("is empty"), churn::model_format_error);
  std::remove(path.c_str());
}

TEST_CASE("each kind of corrupt model file is rejected with its own message") {
  const nlohmann::json good = churn::to_json(small_model());
  REQUIRE_NOTHROW(churn::from_json(good));
  const std::string text = good.dump();
  auto edit = [&](const std::function<void(nlohmann::json&)>& change) {
    nlohmann::json j = good;
    change(j);
    return error_of([&] { churn::from_json(j); });
  };
  // Find an internal node of tree 0 whose left child is internal too, for the structure cases.
  const auto& t0 = good["trees"][0];
  std::size_t internal = 0;
  while (t0["feature"][internal] == -1 || t0["feature"][internal + 1] == -1) ++internal;

  struct corruption {
    const char* kind;
    std::string message;
    const char* expected;
  };
  const std::vector<corruption> cases = {
      {"truncated", error_of([&] { churn::loads(text.substr(0, text.size() / 2)); }),
       "model format error at /: not valid JSON (truncated or corrupt file?)"},
      {"not a model", edit([](auto& j) { j.erase("format"); }), "model format error at /format: no format tag"},
      {"another format", edit([](auto& j) { j["format"] = "xgboost"; }), "format tag is 'xgboost'"},
      {"newer version", edit([](auto& j) { j["format_version"] = 3; }),
       "version 3 is newer than this library reads (up to 2)"},
      {"no cover in a version 2 file", edit([](auto& j) { j["trees"][3].erase("cover"); }),
       "/trees/3/cover: missing required field 'cover'"},
      {"cover not the sum of the children's", edit([](auto& j) { j["trees"][0]["cover"][0] = 1e6; }),
       "/trees/0/cover/0: node cover 1000000"},
      {"missing field", edit([](auto& j) { j.erase("n_features"); }), "at /n_features: missing required field"},
      {"wrong type", edit([](auto& j) { j["n_features"] = "four"; }),
       "at /n_features: expected a non-negative integer, got string"},
      {"tree count", edit([](auto& j) { j["trees"].erase(4); }), "at /trees: holds 4 trees but /n_trees says 5"},
      {"shape", edit([](auto& j) { j["trees"][1]["threshold"].erase(0); }), "/trees/1/threshold: has"},
      {"child out of range", edit([&](auto& j) { j["trees"][0]["right"][internal] = 100000; }), "/trees/0/right/"},
      {"pre-order broken", edit([&](auto& j) { j["trees"][0]["right"][internal] = internal + 2; }), "/trees/0/right/"},
      {"feature out of range", edit([&](auto& j) { j["trees"][0]["feature"][internal] = 4; }),
       "split feature 4 out of range (the model has 4 features"},
      {"not a probability", edit([](auto& j) { j["trees"][2]["value"][0] = 1.5; }),
       "/trees/2/value/0: node value 1.5 is not a probability"},
      {"feature names", edit([](auto& j) { j["feature_names"].erase(0); }), "/feature_names: has 3 names, expected 4"},
      {"bad parameter", edit([](auto& j) { j["params"]["min_samples_leaf"] = 0; }), "/params/min_samples_leaf"},
      {"unknown parameter", edit([](auto& j) { j["params"]["max_dept"] = 3; }),
       "/params/max_dept: invalid value for parameter 'max_dept': no such parameter"},
      {"parameter of the wrong type", edit([](auto& j) { j["params"]["bootstrap"] = "yes"; }),
       "/params/bootstrap: invalid value for parameter 'bootstrap': \"yes\""},
      {"missing parameter", edit([](auto& j) { j["params"].erase("criterion"); }),
       "/params/criterion: missing required field"},
      {"bad metadata", edit([](auto& j) { j["metadata"] = 3; }), "/metadata: expected an object"},
      {"bad threshold", edit([](auto& j) { j["threshold"] = 2; }), "/threshold: must be in [0, 1]"},
      {"no trees", edit([](auto& j) {
         j["trees"] = nlohmann::json::array();
         j["n_trees"] = 0;
       }),
       "a forest needs at least one tree"},
      {"bad missing flag", edit([](auto& j) { j["trees"][0]["missing_left"][0] = 7; }),
       "/trees/0/missing_left/0: expected 0 or 1"},
  };
  std::set<std::string> distinct;
  for (const auto& c : cases) {
    CAPTURE(c.kind);
    CAPTURE(c.message);
    CHECK(c.message.find(c.expected) != std::string::npos);
    distinct.insert(c.message);
  }
  CHECK(distinct.size() == cases.size());
}

TEST_CASE("the tree checker rejects cycles and gaps in hand-made trees") {
  using churn::tree_node;
  // Right child pointing back to the root would loop forever without the check.
  const tree_node loop[] = {tree_node::split(0, 0.5f, false, 0.5f, 2), tree_node::leaf(0.1f), tree_node::leaf(0.9f)};
  CHECK(churn::detail::check_tree(loop, 3, 1).ok());
  const tree_node cyc[] = {tree_node::split(0, 0.5f, false, 0.5f, 0), tree_node::leaf(0.1f), tree_node::leaf(0.9f)};
  CHECK_FALSE(churn::detail::check_tree(cyc, 3, 1).ok());
  const tree_node gap[] = {tree_node::split(0, 0.5f, false, 0.5f, 2), tree_node::leaf(0.1f), tree_node::leaf(0.9f),
                           tree_node::leaf(0.3f)};
  const auto problem = churn::detail::check_tree(gap, 4, 1);
  CHECK(problem.message == "1 node(s) unreachable from the root");
  churn::forest_contents parts;
  parts.n_features = 1;
  parts.nodes.assign(std::begin(cyc), std::end(cyc));
  parts.tree_offsets = {0, 3};
  CHECK_THROWS_WITH_AS(churn::random_forest{parts}, doctest::Contains("/trees/0/right/0"), churn::model_format_error);
}

TEST_CASE("a model file saved by churn 0.1 (format_version 1) keeps loading and predicting the same") {
  // tests/data/model_v1.json was written by this library's save; its metadata holds probe rows and the
  // probabilities the model gave them when it was saved. Never regenerate it: a change that breaks it
  // breaks every saved model.
  const churn::random_forest m = churn::load_model(std::string(CHURN_TEST_DATA_DIR) + "/model_v1.json");
  CHECK(m.n_features() == 3);
  CHECK(m.n_trees() == 3);
  CHECK(m.feature_names() == std::vector<std::string>{"songs", "thumbs_down_share", "days_active"});
  CHECK(m.classes() == nlohmann::json::array({"stayed", "churned"}));
  CHECK(m.threshold() == 0.4);
  CHECK(m.params().class_weight == churn::class_weight_mode::balanced);
  CHECK(m.params().tree.max_depth == 3);
  const auto& golden = m.metadata().at("golden");
  const auto& rows = golden.at("rows");
  REQUIRE(rows.size() == 4);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::vector<double> row;
    for (const auto& v : rows[i])
      row.push_back(v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>());
    CHECK(m.predict_proba(row.data()) == golden.at("proba")[i].get<double>());
  }
}

TEST_CASE("model_format_error carries its path and reason apart") {
  const churn::model_format_error e("/trees/2/right/0", "right child index 9 out of range");
  CHECK(e.path() == "/trees/2/right/0");
  CHECK(e.reason() == "right child index 9 out of range");
  CHECK(std::string(e.what()) == "model format error at /trees/2/right/0: right child index 9 out of range");
}
