// What one level of one row costs when a batch goes down a tree: the floor under batch prediction.
//
// Scoring a row in a tree costs one step per level of its path (13 levels on average in a fully grown
// tree of 5,000 training rows, as bench/bench_predict.py prints), and every step must at least read the
// row's value of the node's feature, which depends on the previous step, and compare it. These loops
// time that step alone, on one feature column of a block of rows as `random_forest::predict_proba`
// holds it (6,553 rows x 40 features, about 1 MB, as the library cuts a batch), for the rows a node
// receives (a sorted subset of the block, as the library's stable partition keeps them):
//
//   level_bare          read the row index, read the value, compare, count: no routing at all
//   level_partition     the library's portable step: the same, and each row index written to its side
//   level_avx2_gather   level_bare with 8-lane AVX2 gathers
//   level_avx512_split  the library's AVX-512 step, used where the processor has it: 16 rows at a time
//                       gathered, compared, and their indices compressed to their sides
//
// docs/benchmarks.md compares these floors with the budget per level that 10x scikit-learn's batch
// throughput leaves.
//
//   cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DCHURN_BUILD_BENCH=ON
//   cmake --build build-bench --target bench_predict_floor
//   build-bench/bench/bench_predict_floor --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include <churn/detail/forest_predict.hpp>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define CHURN_BENCH_X86 1
#endif

namespace {

constexpr std::size_t block_rows = 6553;  // (1 << 18) / 40 features: the library's block for 40 features

struct node_input {
  std::vector<float> column;
  std::vector<std::uint32_t> rows;  // the rows that reached the node, in increasing order
  std::vector<std::uint32_t> right;
  float threshold = 0.5f;
};

// A node that receives one row in `every` of the block, and sends about half of them left.
node_input make_node(std::size_t every) {
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> value(0.0f, 1.0f);
  node_input in;
  in.column.resize(block_rows);
  for (float& v : in.column) v = value(gen);
  std::uniform_int_distribution<std::size_t> pick(0, every - 1);
  for (std::uint32_t r = 0; r < block_rows; ++r)
    if (pick(gen) == 0) in.rows.push_back(r);
  in.right.resize(in.rows.size());
  return in;
}

// Scalar on purpose: this is the floor of a scalar step, so the compiler must not turn it into gathers.
__attribute__((noinline, optimize("no-tree-vectorize"))) std::uint32_t count_left(const float* column,
                                                                                  const std::uint32_t* rows,
                                                                                  std::uint32_t count,
                                                                                  float threshold) {
  std::uint32_t nl = 0;
  for (std::uint32_t i = 0; i < count; ++i) nl += column[rows[i]] <= threshold;
  return nl;
}

void run(benchmark::State& state, std::uint32_t (*step)(node_input&)) {
  node_input in = make_node(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(step(in));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(in.rows.size()));
  state.counters["rows_at_node"] = static_cast<double>(in.rows.size());
  state.counters["time_per_row"] = benchmark::Counter(
      static_cast<double>(in.rows.size()), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void level_bare(benchmark::State& state) {
  run(state, [](node_input& in) {
    return count_left(in.column.data(), in.rows.data(), static_cast<std::uint32_t>(in.rows.size()), in.threshold);
  });
}

void level_partition(benchmark::State& state) {
  // Partitioning an already partitioned list by the same threshold does the same work again.
  run(state, [](node_input& in) {
    return churn::detail::split_rows_scalar(in.column.data(), in.rows.data(), in.right.data(),
                                            static_cast<std::uint32_t>(in.rows.size()), in.threshold, false);
  });
}

#ifdef CHURN_BENCH_X86
__attribute__((target("avx2"), noinline)) std::uint32_t count_left_avx2(const float* column, const std::uint32_t* rows,
                                                                        std::uint32_t count, float threshold) {
  const __m256 t = _mm256_set1_ps(threshold);
  std::uint32_t nl = 0, i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256i idx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows + i));
    const __m256 v = _mm256_i32gather_ps(column, idx, 4);
    nl += static_cast<std::uint32_t>(__builtin_popcount(_mm256_movemask_ps(_mm256_cmp_ps(v, t, _CMP_LE_OQ))));
  }
  for (; i < count; ++i) nl += column[rows[i]] <= threshold;
  return nl;
}

void level_avx2_gather(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx2")) {
    state.SkipWithError("no AVX2 on this processor");
    return;
  }
  run(state, [](node_input& in) {
    return count_left_avx2(in.column.data(), in.rows.data(), static_cast<std::uint32_t>(in.rows.size()), in.threshold);
  });
}
#endif

#ifdef CHURN_HAS_AVX512_SPLIT
void level_avx512_split(benchmark::State& state) {
  if (!churn::detail::has_avx512_split()) {
    state.SkipWithError("no AVX-512 on this processor");
    return;
  }
  run(state, [](node_input& in) {
    return churn::detail::split_rows_avx512(in.column.data(), in.rows.data(), in.right.data(),
                                            static_cast<std::uint32_t>(in.rows.size()), in.threshold, false);
  });
}
#endif

}  // namespace

// Argument: the node receives one row in N of the block (1: the root; 64: about level 6).
BENCHMARK(level_bare)->Arg(1)->Arg(4)->Arg(64);
BENCHMARK(level_partition)->Arg(1)->Arg(4)->Arg(64);
#ifdef CHURN_BENCH_X86
BENCHMARK(level_avx2_gather)->Arg(1)->Arg(4)->Arg(64);
#endif
#ifdef CHURN_HAS_AVX512_SPLIT
BENCHMARK(level_avx512_split)->Arg(1)->Arg(4)->Arg(64);
#endif

BENCHMARK_MAIN();
