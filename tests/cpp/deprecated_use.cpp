// Not a test of its own: the ctest deprecated_aliases_warn compiles this with -Werror=deprecated-declarations
// and expects the compiler to refuse it, once for each deprecated alias (see test_deprecated.cpp).
#include <churn/forest_params.hpp>
#include <churn/tree.hpp>

#ifndef CHURN_ALIAS
#error "compile with -DCHURN_ALIAS=1..3"
#endif

int main() {
#if CHURN_ALIAS == 1
  return static_cast<int>(churn::criterion_from_string("gini"));
#elif CHURN_ALIAS == 2
  return static_cast<int>(churn::splitter_from_string("best"));
#else
  return static_cast<int>(churn::class_weight_mode_from_string("none"));
#endif
}
