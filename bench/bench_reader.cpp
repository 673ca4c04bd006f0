// Reading speed of churn's event reader, side by side in one run with the practical limit (a bare
// simdjson on-demand loop over the whole file touching all 18 fields) and with nlohmann/json per line.
//
//   cmake -S . -B build/bench -G Ninja -DCHURN_BUILD_BENCH=ON && cmake --build build/bench --target bench_reader
//   build/bench/bench/bench_reader [--benchmark_filter=...]      (CHURN_BENCH_EVENTS=path to use your own log)
//
// Without CHURN_BENCH_EVENTS, the real Sparkify sample (../shared/data) is repeated into a ~400 MB file
// in /tmp (made once, reused).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <simdjson.h>
#include <nlohmann/json.hpp>

#include <churn/reader.hpp>

namespace fs = std::filesystem;

namespace {

std::string bench_file() {
  if (const char* env = std::getenv("CHURN_BENCH_EVENTS")) return env;
  const std::string path = (fs::temp_directory_path() / "churn_bench_events.json").string();
  if (fs::exists(path)) return path;
  const fs::path dir = fs::path(CHURN_SHARED_DATA_DIR) / "sparkify/udacity-dend-log_data/2018/11";
  std::string sample;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    sample.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!sample.empty() && sample.back() != '\n') sample += '\n';
  }
  if (sample.empty()) throw std::runtime_error("no sample data in " + dir.string() + "; set CHURN_BENCH_EVENTS");
  std::ofstream out(path + ".tmp", std::ios::binary);
  for (std::size_t written = 0; written < (std::size_t(400) << 20); written += sample.size()) out << sample;
  out.close();
  fs::rename(path + ".tmp", path);
  return path;
}

const std::string& file() {
  static const std::string path = bench_file();
  return path;
}

void report(benchmark::State& state, std::uint64_t events) {
  auto bytes = static_cast<std::int64_t>(fs::file_size(file()));
  state.SetBytesProcessed(bytes * static_cast<std::int64_t>(state.iterations()));
  state.counters["events/s"] = benchmark::Counter(static_cast<double>(events) * static_cast<double>(state.iterations()),
                                                  benchmark::Counter::kIsRate);
}

// The practical limit: simdjson's document stream over the whole file in memory, every field read.
void bare_simdjson(benchmark::State& state) {
  std::uint64_t events = 0;
  for (auto _ : state) {
    simdjson::padded_string json = simdjson::padded_string::load(file());
    simdjson::ondemand::parser parser;
    simdjson::ondemand::document_stream stream = parser.iterate_many(json);
    std::uint64_t n = 0, checksum = 0;
    for (auto doc : stream) {
      simdjson::ondemand::object object = doc.get_object();
      for (auto field : object) {
        std::string_view key = field.unescaped_key();
        simdjson::ondemand::value value = field.value();
        switch (value.type()) {
          case simdjson::ondemand::json_type::string: checksum += std::string_view(value.get_string()).size(); break;
          case simdjson::ondemand::json_type::number:
            checksum += static_cast<std::uint64_t>(double(value.get_double()));
            break;
          default: checksum += key.size(); break;
        }
      }
      ++n;
    }
    benchmark::DoNotOptimize(checksum);
    events = n;
  }
  report(state, events);
}

// The same loop written for GCC: each field and its value used in place (simdjson_result::value_unsafe,
// a reference to the value) and the key compared raw. GCC 12 compiles the idiomatic loop above into
// copies of simdjson's small iterator structs that are reloaded right after being written, which stalls
// store forwarding on every field; clang does not. churn's reader is written this way.
void bare_simdjson_in_place(benchmark::State& state) {
  std::uint64_t events = 0;
  for (auto _ : state) {
    simdjson::padded_string json = simdjson::padded_string::load(file());
    simdjson::ondemand::parser parser;
    simdjson::ondemand::document_stream stream = parser.iterate_many(json);
    std::uint64_t n = 0, checksum = 0;
    for (auto doc : stream) {
      simdjson::ondemand::object object = doc.get_object();
      for (auto field_result : object) {
        simdjson::ondemand::field& field = field_result.value_unsafe();
        const char* key = field.key().raw();
        simdjson::ondemand::value& value = field.value();
        switch (value.type()) {
          case simdjson::ondemand::json_type::string: checksum += std::string_view(value.get_string()).size(); break;
          case simdjson::ondemand::json_type::number:
            checksum += static_cast<std::uint64_t>(double(value.get_double()));
            break;
          default: checksum += static_cast<unsigned char>(key[0]); break;
        }
      }
      ++n;
    }
    benchmark::DoNotOptimize(checksum);
    events = n;
  }
  report(state, events);
}

void churn_reader(benchmark::State& state) {
  std::uint64_t events = 0;
  const auto threads = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    std::vector<std::uint64_t> checksums(threads * 8, 0);  // spaced out: no false sharing
    std::vector<std::function<void(const churn::event&)>> sinks;
    for (std::size_t t = 0; t < threads; ++t)
      sinks.emplace_back([&checksums, t](const churn::event& e) {
        checksums[t * 8] += e.user_id.size() + e.song.size() + static_cast<std::uint64_t>(e.ts);
      });
    auto r = churn::read_file_parallel(file(), sinks);
    benchmark::DoNotOptimize(checksums.data());
    events = r.events;
  }
  report(state, events);
}

void nlohmann_per_line(benchmark::State& state) {
  std::uint64_t events = 0;
  for (auto _ : state) {
    std::ifstream in(file(), std::ios::binary);
    std::string line;
    std::uint64_t n = 0, checksum = 0;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line);
      for (auto& [key, value] : j.items()) {
        if (value.is_string())
          checksum += value.get_ref<const std::string&>().size();
        else if (value.is_number())
          checksum += static_cast<std::uint64_t>(value.get<double>());
        else
          checksum += key.size();
      }
      ++n;
    }
    benchmark::DoNotOptimize(checksum);
    events = n;
  }
  report(state, events);
}

}  // namespace

BENCHMARK(bare_simdjson)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);
BENCHMARK(bare_simdjson_in_place)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);
BENCHMARK(churn_reader)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);
BENCHMARK(nlohmann_per_line)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

BENCHMARK_MAIN();
