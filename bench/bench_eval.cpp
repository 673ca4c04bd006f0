// Evaluation core: metrics and curves on 25k scores, stratified folds and splits on 25k labels, the
// logistic baseline's fit, and a full cross_validate (5 folds x (3 inner + 1) fits). The comparison with
// scikit-learn on the same inputs is bench/bench_eval.py; results are written up in docs/benchmarks.md.
//
//   cmake -S . -B build-bench -G Ninja -DCHURN_BUILD_BENCH=ON && cmake --build build-bench --target bench_eval
//   build-bench/bench/bench_eval --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <churn/baseline.hpp>
#include <churn/cv.hpp>
#include <churn/logistic.hpp>
#include <churn/metrics.hpp>

namespace {

// About 20% positives (as churn), scores informative and rounded to 1/100 so that ties are common,
// as with forest probabilities.
void make_scores(std::size_t n, std::vector<int>& y, std::vector<double>& s) {
  std::mt19937 gen(1);
  std::bernoulli_distribution coin(0.2);
  std::normal_distribution<double> noise(0.0, 0.25);
  y.resize(n);
  s.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    y[i] = coin(gen) ? 1 : 0;
    const double v = 0.3 + 0.3 * y[i] + noise(gen);
    s[i] = std::round(std::min(1.0, std::max(0.0, v)) * 100.0) / 100.0;
  }
}

void make_matrix(std::size_t n, std::size_t p, churn::row_matrix& X, std::vector<int>& y) {
  std::mt19937 gen(2);
  std::normal_distribution<double> normal(0.0, 1.0);
  X.resize(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(p));
  y.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    double z = 0.0;
    for (std::size_t j = 0; j < p; ++j) {
      const double v = normal(gen);
      X(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = v;
      if (j < 5) z += v;
    }
    y[i] = z + normal(gen) > 2.0 ? 1 : 0;
  }
}

void BM_roc_auc_score(benchmark::State& state) {
  std::vector<int> y;
  std::vector<double> s;
  make_scores(static_cast<std::size_t>(state.range(0)), y, s);
  for (auto _ : state) benchmark::DoNotOptimize(churn::roc_auc_score(y, s));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_roc_auc_score)->Arg(25000)->Unit(benchmark::kMicrosecond);

void BM_average_precision_score(benchmark::State& state) {
  std::vector<int> y;
  std::vector<double> s;
  make_scores(static_cast<std::size_t>(state.range(0)), y, s);
  for (auto _ : state) benchmark::DoNotOptimize(churn::average_precision_score(y, s));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_average_precision_score)->Arg(25000)->Unit(benchmark::kMicrosecond);

void BM_evaluate_binary(benchmark::State& state) {
  std::vector<int> y;
  std::vector<double> s;
  make_scores(static_cast<std::size_t>(state.range(0)), y, s);
  for (auto _ : state) benchmark::DoNotOptimize(churn::evaluate_binary(y, s, 0.5));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_evaluate_binary)->Arg(25000)->Unit(benchmark::kMicrosecond);

void BM_stratified_kfold(benchmark::State& state) {
  std::vector<int> y;
  std::vector<double> s;
  make_scores(static_cast<std::size_t>(state.range(0)), y, s);
  for (auto _ : state) benchmark::DoNotOptimize(churn::stratified_kfold(y, 5, true, 0));
}
BENCHMARK(BM_stratified_kfold)->Arg(25000)->Unit(benchmark::kMicrosecond);

void BM_stratified_train_test_split(benchmark::State& state) {
  std::vector<int> y;
  std::vector<double> s;
  make_scores(static_cast<std::size_t>(state.range(0)), y, s);
  for (auto _ : state) benchmark::DoNotOptimize(churn::stratified_train_test_split(y));
}
BENCHMARK(BM_stratified_train_test_split)->Arg(25000)->Unit(benchmark::kMicrosecond);

void BM_fit_logistic(benchmark::State& state) {
  churn::row_matrix X;
  std::vector<int> y;
  make_matrix(static_cast<std::size_t>(state.range(0)), static_cast<std::size_t>(state.range(1)), X, y);
  for (auto _ : state) benchmark::DoNotOptimize(churn::fit_logistic(X, y));
}
BENCHMARK(BM_fit_logistic)->Args({5000, 20})->Args({25000, 50})->Unit(benchmark::kMillisecond);

void BM_cross_validate_logistic(benchmark::State& state) {
  churn::row_matrix X;
  std::vector<int> y;
  make_matrix(5000, 20, X, y);
  const auto folds = churn::stratified_kfold(y, 5, true, 0);
  churn::cv_params cp;
  cp.threads = static_cast<int>(state.range(0));
  const auto fit = [](const churn::row_matrix& Xt, const std::vector<int>& yt) { return churn::fit_logistic(Xt, yt); };
  for (auto _ : state) benchmark::DoNotOptimize(churn::cross_validate(fit, X, y, folds, cp));
}
BENCHMARK(BM_cross_validate_logistic)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
