// Speed of the event simulator: generation alone (event callback), JSON-lines text (to a null stream),
// and files (plain, gzip level 1 and 6) in /tmp, each with 1 and 2 threads.
//
//   cmake -S . -B build/bench -G Ninja -DCHURN_BUILD_BENCH=ON && cmake --build build/bench --target bench_simulate
//   build/bench/bench/bench_simulate [--benchmark_filter=...]     (CHURN_BENCH_SIM_USERS: default 2250)
//
// The full-size run (22,278 users, 60 days, about 27 M events, 12 GB) is timed with the CLI instead:
//   time churn simulate --users 22278 --days 60 --out /tmp/full.json   (see docs/benchmarks.md)
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <ostream>
#include <streambuf>
#include <string>

#include <churn/simulate.hpp>

namespace {

churn::simulate_options options(const benchmark::State& state) {
  churn::simulate_options o;
  const char* users = std::getenv("CHURN_BENCH_SIM_USERS");
  o.users = users ? std::stoull(users) : 2250;  // ten times the mini set: about 2.9 M events
  o.days = 60;
  o.seed = 1;
  o.threads = static_cast<unsigned>(state.range(0));
  return o;
}

void report(benchmark::State& state, const churn::simulate_summary& s) {
  const auto it = static_cast<double>(state.iterations());
  state.counters["events/s"] = benchmark::Counter(static_cast<double>(s.events) * it, benchmark::Counter::kIsRate);
  state.counters["events"] = static_cast<double>(s.events);
  if (s.text_bytes != 0) {
    state.SetBytesProcessed(static_cast<std::int64_t>(s.text_bytes) * state.iterations());
    state.counters["written MB"] = static_cast<double>(s.bytes) / 1e6;
  }
}

class null_buffer : public std::streambuf {
 protected:
  int overflow(int c) override { return c; }
  std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};

void BM_generate(benchmark::State& state) {
  const auto o = options(state);
  churn::simulate_summary s;
  std::uint64_t songs = 0;
  for (auto _ : state)
    s = churn::simulate(o, [&](const churn::event& e) { songs += e.page == churn::page::next_song; });
  benchmark::DoNotOptimize(songs);
  report(state, s);
}

// The same generation under eventsim's behaviour (the default above is engagement): the two should
// run at the same speed (issue 17), and events per second are comparable since both match the real
// events per user.
void BM_generate_eventsim(benchmark::State& state) {
  auto o = options(state);
  o.behaviour = churn::behaviour::eventsim;
  churn::simulate_summary s;
  std::uint64_t songs = 0;
  for (auto _ : state)
    s = churn::simulate(o, [&](const churn::event& e) { songs += e.page == churn::page::next_song; });
  benchmark::DoNotOptimize(songs);
  report(state, s);
}

void BM_text(benchmark::State& state) {
  const auto o = options(state);
  null_buffer buffer;
  std::ostream out(&buffer);
  churn::simulate_summary s;
  for (auto _ : state) s = churn::write_jsonl(o, out);
  report(state, s);
}

void file_bench(benchmark::State& state, const char* name, int level) {
  auto o = options(state);
  o.gzip_level = level;
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  churn::simulate_summary s;
  for (auto _ : state) s = churn::write_jsonl_file(o, path);
  std::remove(path.c_str());
  report(state, s);
}
void BM_file_plain(benchmark::State& state) { file_bench(state, "churn_bench_sim.json", 6); }
void BM_file_gzip1(benchmark::State& state) { file_bench(state, "churn_bench_sim.json.gz", 1); }
void BM_file_gzip6(benchmark::State& state) { file_bench(state, "churn_bench_sim.json.gz", 6); }

}  // namespace

BENCHMARK(BM_generate)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_generate_eventsim)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_text)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_file_plain)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_file_gzip1)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_file_gzip6)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK_MAIN();
