// Regression tests for what fuzzing and hostile-input testing found (docs/reliability.md), and for
// the corpus files in tests/fuzz/corpus/: each input is replayed through the same checks as its fuzz
// target, so a fix that regresses fails here in the ordinary (and the sanitizer) build.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include <churn/features.hpp>
#include <churn/model_io.hpp>

namespace {

std::string corpus_file(const std::string& target, const std::string& name) {
  const std::string path = std::string(CHURN_TEST_DATA_DIR) + "/../fuzz/corpus/" + target + "/" + name;
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "missing corpus file " << path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string load_error(const std::string& text) {
  try {
    churn::loads(text);
  } catch (const churn::model_format_error& e) {
    return e.what();
  }
  return "(loaded)";
}

}  // namespace

TEST_CASE("a number beyond double's range in a model file is a model_format_error") {
  // fuzz_model: nlohmann throws out_of_range (not parse_error) for 1e3080; it escaped loads().
  CHECK(load_error(corpus_file("model", "regression-number-overflow.json"))
            .find("model format error at /: not a valid model file") != std::string::npos);
  CHECK(load_error("[1e400]").find("number overflow") != std::string::npos);
}

TEST_CASE("every model in the fuzz corpus loads or is rejected, and loaded ones predict probabilities") {
  const auto dir = std::filesystem::path(CHURN_TEST_DATA_DIR) / ".." / "fuzz" / "corpus" / "model";
  std::size_t loaded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CAPTURE(entry.path().string());
    try {
      const auto m = churn::loads(text);
      std::vector<double> row(m.n_features(), std::numeric_limits<double>::quiet_NaN());
      const double p = m.predict_proba(row.data());
      CHECK((p >= 0 && p <= 1));
      ++loaded;
    } catch (const churn::model_format_error&) {
    }
  }
  CHECK(loaded >= 3);  // the real saved models
}

TEST_CASE("a tiny model file that announces huge sizes allocates nothing for them") {
  nlohmann::json j = nlohmann::json::parse(corpus_file("model", "tiny.json"));
  j["n_trees"] = std::uint64_t(1) << 40;
  CHECK(load_error(j.dump()).find("/n_trees says 1099511627776") != std::string::npos);
  j = nlohmann::json::parse(corpus_file("model", "tiny.json"));
  j["n_features"] = std::uint64_t(1) << 40;
  CHECK(load_error(j.dump()).find("/n_features: out of range") != std::string::npos);
  j = nlohmann::json::parse(corpus_file("model", "tiny.json"));
  j["trees"][0]["right"] = {std::uint64_t(1) << 62};
  j["trees"][0]["feature"] = {0};
  CHECK(load_error(j.dump()).find("child index") != std::string::npos);
}

TEST_CASE("accumulator bytes announcing more records than they hold are rejected before allocating") {
  const std::string good = corpus_file("features", "acc_small.bin").substr(1);
  REQUIRE_NOTHROW(churn::feature_accumulator::from_bytes(good));
  // The user count follows magic (8), version (4) and eight 8-byte fields.
  std::string bad = good;
  const std::size_t at = 8 + 4 + 8 * 8;
  for (std::size_t i = 0; i < 8; ++i) bad[at + i] = '\xff';
  CHECK_THROWS_WITH_AS(churn::feature_accumulator::from_bytes(bad), doctest::Contains("users announced at offset"),
                       churn::data_error);
  for (std::size_t cut = 0; cut < good.size(); cut += 7)
    CHECK_THROWS_AS(churn::feature_accumulator::from_bytes(good.substr(0, cut)), churn::data_error);
}

TEST_CASE("accumulator bytes with times outside the years 1 to 9999 are rejected") {
  // fuzz_features: a corrupt cancellation time overflowed a difference of times in finalize().
  const std::string bytes = corpus_file("features", "regression-corrupt-time.bin").substr(1);
  CHECK_THROWS_WITH_AS(churn::feature_accumulator::from_bytes(bytes), doctest::Contains("outside the years 1 to 9999"),
                       churn::data_error);
}

TEST_CASE("registration times at the ends of int64 give finite tenures") {
  // A registration is any integer in a log: tenure_days subtracted it from the reference time in int64.
  const std::string log = corpus_file("features", "regression-registration-extremes.jsonl").substr(1);
  churn::feature_accumulator a;
  churn::read_buffer(log, a);
  churn::label_options history;
  history.mode = churn::label_mode::history;
  const auto t = a.finalize(history);
  REQUIRE(t.X.rows() == 2);
  const auto tenure = t.X.col(static_cast<Eigen::Index>(t.column("tenure_days")));
  CHECK(tenure(0) > 1e8);  // registered about 2.9e8 years before the reference time
  CHECK(tenure(1) == 0);   // registered after it: clamped at zero
}

TEST_CASE("a split threshold beyond float32's range is a model_format_error") {
  // fuzz_model: -1.2e307 loaded as an infinite float threshold, and the saved model held null.
  CHECK(load_error(corpus_file("model", "regression-threshold-beyond-float.json"))
            .find("/trees/0/threshold/3: split threshold -1.205586791031e+307 is beyond the float32 range") !=
        std::string::npos);
}
