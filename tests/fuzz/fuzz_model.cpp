// Fuzzes the model loader. A model file is data from anywhere: any bytes either load a model or throw
// churn::error (model_format_error). A model that loads must predict on a few rows without crashing,
// give probabilities in [0, 1], explain them with SHAP values that add up (when it has cover), and
// survive a save/load round trip with the same predictions.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include <churn/error.hpp>
#include <churn/model_io.hpp>
#include <churn/shap.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  churn::random_forest model;
  try {
    model = churn::loads(text);
  } catch (const churn::error&) {
    return 0;
  }
  // Counts are bounded by the file (issue 15): features that neither feature_names nor
  // feature_importances lists are at most max_unlisted_features, listed ones as many as the list.
  const std::size_t p = model.n_features();
  const auto& parts = model.contents();
  if (parts.feature_names.empty() && parts.feature_importances.empty() ? p > churn::max_unlisted_features
                                                                       : p > text.size())
    std::abort();
  // A listed count can still be large for a large file; a caller's row has to be that wide, so rows
  // are only built for models of plausible width (the loader itself allocated nothing per feature).
  if (p > 4096) return 0;
  const double specials[] = {0.0, -1.0, 1e30, -1e30, std::numeric_limits<double>::quiet_NaN(), 0.5, 1e-300};
  constexpr std::size_t rows = 6;
  std::vector<double> X(rows * p);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < p; ++j) X[r * p + j] = specials[(r + j * 3) % 7];
  std::vector<double> out(rows);
  model.predict_proba(churn::matrix_view(X.data(), rows, p), out.data(), 1);
  for (double v : out)
    if (!(v >= 0 && v <= 1)) std::abort();
  // Six rows take the blocked path, one row the lockstep walk: both add the trees in the same order.
  for (std::size_t r = 0; r < rows; ++r)
    if (model.predict_proba(X.data() + r * p) != out[r]) std::abort();
  // A model with cover explains the rows: finite values that add up to the probability.
  if (model.has_cover()) {
    const churn::tree_explainer ex(model);
    const auto phi = ex.shap_values(churn::matrix_view(X.data(), rows, p), 2);
    for (std::size_t r = 0; r < rows; ++r) {
      double s = ex.expected_value();
      for (std::size_t j = 0; j < p; ++j) s += phi[r * p + j];
      if (!(std::fabs(s - out[r]) <= 1e-6)) std::abort();
    }
  }
  const auto again = churn::loads(churn::dumps(model));
  for (std::size_t r = 0; r < rows; ++r)
    if (again.predict_proba(X.data() + r * p) != model.predict_proba(X.data() + r * p)) std::abort();
  return 0;
}
