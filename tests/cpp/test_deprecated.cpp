// Renamed public names keep a deprecated alias for one release (README, "Conventions"): each alias still
// works and gives what the new name gives. That each one warns is checked by the ctest
// deprecated_aliases_warn, which compiles tests/cpp/deprecated_use.cpp with deprecation warnings as errors
// and must fail.
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <churn/cv.hpp>
#include <churn/features.hpp>
#include <churn/forest_params.hpp>
#include <churn/logistic.hpp>
#include <churn/tree.hpp>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

TEST_CASE("deprecated aliases: *_from_string are parse_*") {
  CHECK(churn::criterion_from_string("log_loss") == churn::parse_criterion("log_loss"));
  CHECK(churn::criterion_from_string("gini") == churn::criterion::gini);
  CHECK(churn::splitter_from_string("random") == churn::parse_splitter("random"));
  CHECK(churn::class_weight_mode_from_string("balanced_subsample") ==
        churn::parse_class_weight_mode("balanced_subsample"));
  CHECK_THROWS_AS(churn::criterion_from_string("mse"), churn::parameter_error);
  CHECK_THROWS_AS(churn::splitter_from_string("worst"), churn::parameter_error);
  CHECK_THROWS_AS(churn::class_weight_mode_from_string("heavy"), churn::parameter_error);
}

TEST_CASE("deprecated alias: cv_params::n_jobs is threads, scikit-learn style, and wins when set") {
  churn::cv_params p;
  CHECK(p.thread_count() == 1);
  p.threads = 3;
  CHECK(p.thread_count() == 3);
  p.n_jobs = 2;  // set: wins over threads
  CHECK(p.thread_count() == 2);
  p.n_jobs = -1;  // all cores
  CHECK(p.thread_count() == churn::detail::hardware_threads());
  p.n_jobs = 5000;
  CHECK_THROWS_WITH_AS(p.validate(), doctest::Contains("'n_jobs': 5000"), churn::parameter_error);
  // The same cross-validation as with threads.
  churn::row_matrix X(40, 2);
  std::vector<int> y(40);
  for (int i = 0; i < 40; ++i) {
    X(i, 0) = i % 7;
    X(i, 1) = (i * 13) % 11;
    y[static_cast<std::size_t>(i)] = (i % 7) > 3;
  }
  const auto folds = churn::stratified_kfold(y, 4, true, 0);
  const auto fit = [](const churn::row_matrix& Xt, const std::vector<int>& yt) { return churn::fit_logistic(Xt, yt); };
  churn::cv_params old_name, new_name;
  old_name.n_jobs = 2;
  new_name.threads = 2;
  CHECK(churn::cross_validate(fit, X, y, folds, old_name).oof_proba ==
        churn::cross_validate(fit, X, y, folds, new_name).oof_proba);
}

namespace {
// Two users; user "1" has events 20 minutes apart in one session id, so a 10-minute gap splits it.
std::string gap_log() {
  const std::int64_t t0 = 1541030400000;  // 2018-11-01
  std::string log;
  for (const char* id : {"1", "2", "3"})
    for (int i = 0; i < 4; ++i)
      log += "{\"ts\":" + std::to_string(t0 + i * 20 * 60000) + ",\"page\":\"Home\",\"userId\":\"" + id +
             "\",\"sessionId\":1}\n";
  const std::string path = (std::filesystem::temp_directory_path() / "churn_test_deprecated_gap.json").string();
  std::ofstream(path, std::ios::binary) << log;
  return path;
}
}  // namespace

TEST_CASE("deprecated aggregation fields of label_options are still honoured") {
  const std::string path = gap_log();
  churn::label_options history;
  history.mode = churn::label_mode::history;
  churn::aggregation_options gap10;
  gap10.session_gap_minutes = 10;
  const auto expected = churn::user_features(path, history, gap10);
  REQUIRE(expected.X(0, static_cast<Eigen::Index>(expected.column("sessions"))) == 4);
  CHECK(expected.aggregation.session_gap_minutes == 10);

  churn::label_options old = history;
  old.session_gap_minutes = 10;
  const auto t = churn::user_features(path, old);
  CHECK(t.X == expected.X);
  CHECK(t.aggregation.session_gap_minutes == 10);
  CHECK(t.options.session_gap_minutes == 10);         // old readers still see the gap
  CHECK(expected.options.session_gap_minutes == 10);  // filled in from the aggregation too
  CHECK(churn::feature_accumulator(old).session_gap_minutes() == 10);
  CHECK(churn::user_features(path, old, gap10).X == expected.X);  // the same value twice is fine
  churn::aggregation_options gap20;
  gap20.session_gap_minutes = 20;
  CHECK_THROWS_WITH_AS(churn::user_features(path, old, gap20), doctest::Contains("deprecated"), churn::parameter_error);
  // finalize() still refuses a deprecated gap that is not the accumulator's.
  CHECK_THROWS_WITH_AS((void)churn::accumulate_files({path}).finalize(old), doctest::Contains("session_gap_minutes"),
                       churn::parameter_error);

  churn::label_options limited = history;
  limited.max_users = 2;
  CHECK_THROWS_AS(churn::user_features(path, limited), churn::limit_error);
  CHECK(churn::feature_accumulator(limited).max_users() == 2);
  CHECK_THROWS_AS(churn::accumulate_files({path}, limited), churn::limit_error);

  // The read options right after the label options (the old order).
  churn::read_options r;
  r.threads = 2;
  CHECK(churn::user_features(path, old, r).X == expected.X);
  CHECK(churn::user_features(std::vector<std::string>{path}, old, r).X == expected.X);
  std::filesystem::remove(path);
}

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
