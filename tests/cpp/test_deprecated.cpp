// Renamed public names keep a deprecated alias for one release (README, "Conventions"): each alias still
// works and gives what the new name gives. That each one warns is checked by the ctest
// deprecated_aliases_warn, which compiles tests/cpp/deprecated_use.cpp with deprecation warnings as errors
// and must fail.
#include <doctest/doctest.h>

#include <churn/forest_params.hpp>
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

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
