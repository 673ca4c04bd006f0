// Not a test of its own: the ctest deprecated_aliases_warn compiles this with -Werror=deprecated-declarations
// and expects the compiler to refuse it, once for each deprecated alias (see test_deprecated.cpp).
// Each alias includes only its header (the Eigen-based ones are slow to compile).
#ifndef CHURN_ALIAS
#error "compile with -DCHURN_ALIAS=1..9"
#elif CHURN_ALIAS <= 3
#include <churn/forest_params.hpp>
#include <churn/tree.hpp>
#elif CHURN_ALIAS == 4
#include <churn/cv.hpp>
#elif CHURN_ALIAS <= 6
#include <churn/labels.hpp>
#else
#include <string>
#include <vector>

#include <churn/features.hpp>
#endif

int main() {
#if CHURN_ALIAS == 1
  return static_cast<int>(churn::criterion_from_string("gini"));
#elif CHURN_ALIAS == 2
  return static_cast<int>(churn::splitter_from_string("best"));
#elif CHURN_ALIAS == 3
  return static_cast<int>(churn::class_weight_mode_from_string("none"));
#elif CHURN_ALIAS == 4
  churn::cv_params p;
  p.n_jobs = 2;
  return p.thread_count();
#elif CHURN_ALIAS == 5
  churn::label_options o;
  o.session_gap_minutes = 10;
  return static_cast<int>(o.horizon_days);
#elif CHURN_ALIAS == 6
  churn::label_options o;
  o.max_users = 10;
  return static_cast<int>(o.horizon_days);
#elif CHURN_ALIAS == 7
  const churn::label_options o;
  return static_cast<int>(churn::feature_accumulator(o).users());
#elif CHURN_ALIAS == 8
  const churn::read_options r;
  return static_cast<int>(churn::user_features("events.json", churn::label_options{}, r).user_ids.size());
#else
  const churn::read_options r;
  return static_cast<int>(churn::user_features(std::vector<std::string>{"events.json"}, churn::label_options{},
                                               churn::snapshot_options{}, r)
                              .user_ids.size());
#endif
}
