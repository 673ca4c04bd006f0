// The forest parameters' JSON codec (forest_params.hpp): scikit-learn's names, null for None, a round
// trip for every kind of value, and a parameter_error naming the parameter for an unknown key, a wrong
// type or a value out of range.
#include <doctest/doctest.h>

#include <string>

#include <churn/forest_params.hpp>

namespace {

using nlohmann::json;

churn::forest_params round_trip(const churn::forest_params& p) { return json(p).get<churn::forest_params>(); }

// The parameter an error names, and its message; "(no error)" when none is thrown.
std::pair<std::string, std::string> error_of(const json& j) {
  try {
    churn::validate(j.get<churn::forest_params>());
  } catch (const churn::parameter_error& e) {
    return {e.name(), e.what()};
  }
  return {"(no error)", ""};
}

}  // namespace

TEST_CASE("the defaults are scikit-learn's, written with its names and null for None") {
  const json j = churn::forest_params{};
  CHECK(j == json::parse(R"({"n_estimators": 100, "criterion": "gini", "splitter": "best", "max_depth": null,
                            "min_samples_split": 2, "min_samples_leaf": 1, "min_weight_fraction_leaf": 0.0,
                            "max_features": "sqrt", "max_leaf_nodes": null, "min_impurity_decrease": 0.0,
                            "bootstrap": true, "max_samples": null, "class_weight": null, "oob_score": false,
                            "n_jobs": 1, "random_state": 0})"));
  CHECK(j.size() == churn::forest_param_names().size());
  // An empty object is the defaults; a partial one changes only what it names.
  CHECK(json(json::object().get<churn::forest_params>()) == j);
  const auto p = json{{"max_depth", 7}}.get<churn::forest_params>();
  CHECK(p.tree.max_depth == 7);
  CHECK(p.n_estimators == 100);
}

TEST_CASE("every kind of value survives a round trip through JSON") {
  churn::forest_params p;
  p.n_estimators = 7;
  p.tree.split_criterion = churn::criterion::entropy;
  p.tree.split_strategy = churn::splitter::random;
  p.tree.max_depth = 5;
  p.tree.min_samples_split = 4;
  p.tree.min_samples_leaf = 3;
  p.tree.min_weight_fraction_leaf = 0.125;
  p.tree.max_leaf_nodes = 30;
  p.tree.min_impurity_decrease = 0.01;
  p.oob_score = true;
  p.n_jobs = -1;
  p.random_state = 18446744073709551615ull;  // the largest seed
  for (const auto& rule : {churn::max_features_rule::sqrt(), churn::max_features_rule::log2(),
                           churn::max_features_rule::all(), churn::max_features_rule::count(3),
                           churn::max_features_rule::fraction(0.25), churn::max_features_rule::fraction(1.0)}) {
    p.tree.max_features = rule;
    const auto q = round_trip(p);
    CHECK(q.tree.max_features.how == rule.how);
    CHECK(q.tree.max_features.value == rule.value);
  }
  for (auto [count, fraction] : {std::pair<std::size_t, double>{0, 0}, {50, 0}, {0, 0.5}, {0, 1.0}}) {
    p.max_samples = count;
    p.max_samples_fraction = fraction;
    const auto q = round_trip(p);
    CHECK(q.max_samples == count);
    CHECK(q.max_samples_fraction == fraction);
  }
  for (auto mode : {churn::class_weight_mode::none, churn::class_weight_mode::balanced,
                    churn::class_weight_mode::balanced_subsample, churn::class_weight_mode::given}) {
    p.class_weight = mode;
    p.class_weights =
        mode == churn::class_weight_mode::given ? std::array<double, 2>{0.5, 3.0} : std::array<double, 2>{1.0, 1.0};
    const auto q = round_trip(p);
    CHECK(q.class_weight == mode);
    CHECK(q.class_weights == p.class_weights);
  }
  const auto q = round_trip(p);
  CHECK(json(q) == json(p));
  CHECK(q.n_estimators == 7);
  CHECK(q.tree.split_criterion == churn::criterion::entropy);
  CHECK(q.tree.split_strategy == churn::splitter::random);
  CHECK(q.tree.max_depth == 5);
  CHECK(q.tree.min_samples_split == 4);
  CHECK(q.tree.min_samples_leaf == 3);
  CHECK(q.tree.min_weight_fraction_leaf == 0.125);
  CHECK(q.tree.max_leaf_nodes == 30);
  CHECK(q.tree.min_impurity_decrease == 0.01);
  CHECK(q.oob_score);
  CHECK(q.n_jobs == -1);
  CHECK(q.random_state == 18446744073709551615ull);
  // Text too: the doubles come back exactly.
  CHECK(json(json::parse(json(p).dump()).get<churn::forest_params>()) == json(p));
}

TEST_CASE("log_loss reads as entropy, and null n_jobs as one thread (scikit-learn's None)") {
  CHECK(json{{"criterion", "log_loss"}}.get<churn::forest_params>().tree.split_criterion == churn::criterion::entropy);
  CHECK(json{{"n_jobs", nullptr}}.get<churn::forest_params>().n_jobs == 1);
}

TEST_CASE("an unknown key is an error naming it and listing the known ones") {
  const auto [name, message] = error_of({{"max_dept", 3}});
  CHECK(name == "max_dept");
  CHECK(message.find("'max_dept': no such parameter") != std::string::npos);
  CHECK(message.find("max_depth") != std::string::npos);
  CHECK(error_of(json::array()).first == "params");
}

TEST_CASE("a wrong type or a bad value names the parameter and the value") {
  struct bad_case {
    json params;
    std::string name, value;
  };
  const bad_case cases[] = {
      {{{"n_estimators", "10"}}, "n_estimators", "\"10\""},
      {{{"n_estimators", 0}}, "n_estimators", ": 0 "},
      {{{"n_estimators", 2.5}}, "n_estimators", "2.5"},
      {{{"n_estimators", -3}}, "n_estimators", "-3"},
      {{{"criterion", "mse"}}, "criterion", "'mse'"},
      {{{"criterion", 1}}, "criterion", ": 1 "},
      {{{"splitter", "worst"}}, "splitter", "'worst'"},
      {{{"max_depth", 0}}, "max_depth", ": 0 "},
      {{{"max_depth", "deep"}}, "max_depth", "\"deep\""},
      {{{"min_samples_split", 1}}, "min_samples_split", ": 1 "},
      {{{"min_samples_leaf", 0}}, "min_samples_leaf", ": 0 "},
      {{{"min_samples_leaf", 0.5}}, "min_samples_leaf", "0.5"},
      {{{"min_weight_fraction_leaf", 0.75}}, "min_weight_fraction_leaf", "0.75"},
      {{{"min_weight_fraction_leaf", nullptr}}, "min_weight_fraction_leaf", "null"},
      {{{"max_features", 1.5}}, "max_features", "1.5"},
      {{{"max_features", 0}}, "max_features", ": 0 "},
      {{{"max_features", "all"}}, "max_features", "\"all\""},
      {{{"max_features", true}}, "max_features", "true"},
      {{{"max_leaf_nodes", 1}}, "max_leaf_nodes", ": 1 "},
      {{{"min_impurity_decrease", -1.0}}, "min_impurity_decrease", "-1"},
      {{{"bootstrap", 1}}, "bootstrap", ": 1 "},
      {{{"max_samples", 5.0}}, "max_samples", "5.0"},
      {{{"max_samples", "half"}}, "max_samples", "\"half\""},
      {{{"bootstrap", false}, {"max_samples", 10}}, "max_samples", "10"},
      {{{"bootstrap", false}, {"oob_score", true}}, "oob_score", "true"},
      {{{"class_weight", "heavy"}}, "class_weight", "\"heavy\""},
      {{{"class_weight", {1.0}}}, "class_weight", "[1.0]"},
      {{{"class_weight", {1.0, -2.0}}}, "class_weight", "-2"},
      {{{"oob_score", "yes"}}, "oob_score", "\"yes\""},
      {{{"n_jobs", 0}}, "n_jobs", ": 0 "},
      {{{"n_jobs", 100000}}, "n_jobs", "100000"},
      {{{"n_jobs", 1000000000000}}, "n_jobs", "1000000000000"},
      {{{"n_jobs", 1.5}}, "n_jobs", "1.5"},
      {{{"random_state", -1}}, "random_state", "-1"},
      {{{"random_state", "seed"}}, "random_state", "\"seed\""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.params.dump());
    const auto [name, message] = error_of(c.params);
    CAPTURE(message);
    CHECK(name == c.name);
    CHECK(message.find("invalid value for parameter '" + c.name + "'") != std::string::npos);
    CHECK(message.find(c.value) != std::string::npos);
    CHECK(message.find("None") == std::string::npos);  // JSON's spellings, not Python's
    CHECK(message.find("True") == std::string::npos);
  }
}

TEST_CASE("validate checks without data, and accepts the defaults") {
  CHECK_NOTHROW(churn::validate(churn::forest_params{}));
  churn::forest_params p;
  p.tree.min_samples_leaf = 0;
  CHECK_THROWS_WITH_AS(churn::validate(p),
                       "invalid value for parameter 'min_samples_leaf': 0 (allowed: an integer >= 1)",
                       churn::parameter_error);
}
