// The whole churn pipeline from C++: simulate (or read) an event log, aggregate per-user features
// and labels, cross-validate the random forest in stratified folds, fit it, save, load, predict.
//
//   pipeline [EVENTS]      (without EVENTS, a small log is simulated into a temporary file)
#include <churn/churn.hpp>
#include <churn/simulate.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace {

// cross_validate hands the model row-major matrices; the forest reads a matrix_view of them.
struct forest_model {
  churn::random_forest forest;
  std::vector<double> predict_proba(const churn::row_matrix& X) const {
    return forest.predict_proba(churn::matrix_view(X.data(), X.rows(), X.cols()));
  }
};

}  // namespace

int main(int argc, char** argv) try {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "churn_cpp_example";
  fs::create_directories(dir);
  std::string events = argc > 1 ? argv[1] : (dir / "events.json").string();
  if (argc <= 1) {
    churn::simulate_options sim;
    sim.users = 400;
    sim.days = 60;
    sim.seed = 1;
    auto summary = churn::write_jsonl_file(sim, events);
    std::cout << "simulated " << summary.events << " events into " << events << "\n";
  }

  churn::label_options labels;  // window labelling, default cutoff and horizon
  churn::feature_table table = churn::user_features(events, labels);
  std::cout << table.X.rows() << " users, " << table.X.cols() << " features, "
            << table.labels.sum() << " churned\n";

  const churn::row_matrix X = table.X;  // column-major table -> row-major rows for the model
  const std::vector<int> y(table.labels.data(), table.labels.data() + table.labels.size());

  churn::forest_params params;
  params.n_estimators = 200;
  params.n_jobs = -1;
  params.random_state = 7;
  auto fit = [&](const churn::row_matrix& X_train, const std::vector<int>& y_train) {
    return forest_model{churn::fit_forest(params, churn::matrix_view(X_train.data(), X_train.rows(), X_train.cols()),
                                          y_train)};
  };
  const auto folds = churn::stratified_kfold(y, 5, true, 7);
  const churn::cv_result cv = churn::cross_validate(fit, X, y, folds);
  std::cout << "5-fold CV: F1 " << cv.tuned.mean.f1 << " +- " << cv.tuned.std.f1 << ", ROC AUC "
            << cv.tuned.mean.roc_auc << "\n";

  churn::random_forest model = fit(X, y).forest;
  model.set_feature_names(table.feature_names());
  model.set_threshold(cv.threshold_mean);
  const std::string path = (dir / "model.json").string();
  churn::save_model(model, path);
  const churn::random_forest loaded = churn::load_model(path);

  const double p = loaded.predict_proba(X.row(0).data());
  std::cout << "user " << table.user_ids[0] << ": P(churn) = " << p << " (threshold " << loaded.threshold() << ")\n";
  if (p != model.predict_proba(X.row(0).data())) {
    std::cerr << "loaded model predicts differently\n";
    return 1;
  }
  return 0;
} catch (const churn::error& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 2;
}
