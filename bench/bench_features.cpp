// Events to feature matrix: churn's throughput and peak memory, beside the reader alone on the same file.
// One measurement per process so that the peak resident memory (getrusage) belongs to that run alone;
// bench/bench_features.py runs it, runs pandas, polars, DuckDB and Spark on the same file, and writes
// the table in docs/benchmarks.md.
//
//   cmake -S . -B build/bench -G Ninja -DCHURN_BUILD_BENCH=ON && cmake --build build/bench --target bench_features
//   build/bench/bench/bench_features simulate OUT.json --users 1000 [--days 60] [--seed 1]
//   build/bench/bench/bench_features reader   EVENTS.json [--threads 2]
//   build/bench/bench/bench_features features EVENTS.json [--threads 2] [--label window|history] [--out X.csv]
//   build/bench/bench/bench_features features EVENTS.json --horizon-days 14 --every-days 7   # weekly snapshots
//
// Prints one JSON object per run: mode, threads, bytes, events, users (rows of the table), cutoffs,
// seconds (wall), cpu_s (user + system of the process: the steadier figure on a shared machine),
// mb_per_s, peak_rss_mb.
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <churn/features.hpp>
#include <churn/reader.hpp>
#include <churn/simulate.hpp>

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // Linux reports kilobytes
}

std::string arg(int argc, char** argv, const char* name, const std::string& fallback) {
  for (int i = 3; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

int usage() {
  std::cerr << "usage: bench_features simulate OUT --users N [--days D] [--seed S]\n"
               "       bench_features reader|features EVENTS [--threads N] [--label window|history] "
               "[--horizon-days H] [--cutoff DATE | --every-days D] [--out features.csv]\n";
  return 2;
}

void write_csv(const churn::feature_table& t, const std::string& path) {
  std::ofstream out(path);
  out << "user_id";
  for (const auto& f : t.features) out << ',' << f.name;
  out << ",churned\n";
  out.precision(10);
  for (Eigen::Index i = 0; i < t.X.rows(); ++i) {
    out << t.user_ids[std::size_t(i)];
    for (Eigen::Index j = 0; j < t.X.cols(); ++j) out << ',' << t.X(i, j);
    out << ',' << t.labels(i) << '\n';
  }
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 3) return usage();
  const std::string mode = argv[1], path = argv[2];
  if (mode == "simulate") {
    churn::simulate_options o;
    o.users = std::stoull(arg(argc, argv, "--users", "1000"));
    o.days = static_cast<std::uint32_t>(std::stoul(arg(argc, argv, "--days", "60")));
    o.seed = std::stoull(arg(argc, argv, "--seed", "1"));
    auto s = churn::write_jsonl_file(o, path);
    std::printf("{\"mode\": \"simulate\", \"users\": %llu, \"churned\": %llu, \"bytes\": %llu}\n",
                static_cast<unsigned long long>(s.users), static_cast<unsigned long long>(s.churned),
                static_cast<unsigned long long>(s.bytes));
    return 0;
  }
  churn::read_options ro;
  ro.threads = static_cast<unsigned>(std::stoul(arg(argc, argv, "--threads", "1")));
  const auto bytes = std::filesystem::file_size(path);
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_seconds();
  std::uint64_t events = 0, users = 0, cutoffs = 0;
  if (mode == "reader") {
    // The reader alone, feeding a sink as cheap as possible (one counter per thread).
    std::vector<std::atomic<std::uint64_t>> counts(ro.threads * 16);
    struct sink {
      std::atomic<std::uint64_t>* n;
      void operator()(const churn::event& e) { n->fetch_add(e.ts != 0, std::memory_order_relaxed); }
    };
    std::vector<sink> sinks;
    for (unsigned t = 0; t < ro.threads; ++t) sinks.push_back({&counts[t * 16]});
    events = churn::read_files_parallel(std::vector<std::string>{path}, sinks, ro).events;
  } else if (mode == "features") {
    churn::label_options lo;
    lo.mode = churn::parse_label_mode(arg(argc, argv, "--label", "window"));
    lo.horizon_days = std::stod(arg(argc, argv, "--horizon-days", "30"));
    const std::string cutoff = arg(argc, argv, "--cutoff", "");
    if (!cutoff.empty()) lo.cutoff_ms = churn::parse_cutoff(cutoff);
    churn::snapshot_options so;
    so.every_days = std::stoi(arg(argc, argv, "--every-days", "0"));
    auto t = so.enabled() ? churn::user_features(std::vector<std::string>{path}, lo, so, {}, ro)
                          : churn::user_features(path, lo, {}, ro);
    events = t.report.events;
    users = t.user_ids.size();
    cutoffs = so.enabled() ? t.report.snapshot_cutoffs.size() : 1;
    const std::string out = arg(argc, argv, "--out", "");
    if (!out.empty()) write_csv(t, out);
  } else {
    return usage();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "{\"mode\": \"%s\", \"threads\": %u, \"bytes\": %llu, \"events\": %llu, \"users\": %llu, "
      "\"cutoffs\": %llu, \"seconds\": %.3f, \"cpu_s\": %.3f, \"mb_per_s\": %.1f, \"peak_rss_mb\": %.1f}\n",
      mode.c_str(), ro.threads, static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(events),
      static_cast<unsigned long long>(users), static_cast<unsigned long long>(cutoffs), seconds,
      cpu_seconds() - cpu_start, double(bytes) / 1e6 / seconds, peak_rss_mb());
  return 0;
} catch (const std::exception& e) {
  std::cerr << "bench_features: " << e.what() << "\n";
  return 1;
}
