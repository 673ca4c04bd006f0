// The practical limit for reading an event log of any size: a bare simdjson on-demand loop that
// touches every field of every line, streaming the file in blocks (bounded memory, unlike
// bench_reader's bare_simdjson, which loads the whole file). With T threads, thread t reads the t-th
// of T byte ranges cut at line boundaries, as churn's reader does. No events are built, nothing is
// validated beyond what simdjson does: churn cannot be faster than this.
//
//   build/bench/bench/bench_simdjson_loop FILE [THREADS]
// prints one line: bytes, events, seconds, MB/s (used by bench/bench_fullscale.py).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <simdjson.h>

namespace {

constexpr std::size_t block_bytes = std::size_t(32) << 20;

std::uint64_t file_size(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot open " + path);
  return static_cast<std::uint64_t>(in.tellg());
}

/// The first line start at or after `offset`.
std::uint64_t line_start(const std::string& path, std::uint64_t offset, std::uint64_t size) {
  if (offset == 0) return 0;
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset - 1));
  char c;
  while (offset - 1 < size && in.get(c)) {
    if (c == '\n') return offset;
    ++offset;
  }
  return size;
}

struct result {
  std::uint64_t events = 0, checksum = 0;
};

result read_range(const std::string& path, std::uint64_t begin, std::uint64_t end) {
  result r;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + path);
  std::fseek(f, static_cast<long>(begin), SEEK_SET);
  std::vector<char> buffer(block_bytes + simdjson::SIMDJSON_PADDING);
  std::size_t carried = 0;
  std::uint64_t left = end - begin;
  simdjson::ondemand::parser parser;
  while (left > 0 || carried > 0) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, block_bytes - carried));
    std::size_t got = want ? std::fread(buffer.data() + carried, 1, want, f) : 0;
    if (want > 0 && got == 0) throw std::runtime_error("unexpected end of " + path);
    left -= got;
    std::size_t filled = carried + got;
    // Whole lines only; the tail waits for the next block.
    std::size_t usable = filled;
    if (left > 0) {
      while (usable > 0 && buffer[usable - 1] != '\n') --usable;
      if (usable == 0) throw std::runtime_error("a line longer than the block");
    }
    simdjson::ondemand::document_stream stream;
    if (auto err = parser.iterate_many(buffer.data(), usable, std::min<std::size_t>(usable, 1 << 20)).get(stream))
      throw std::runtime_error(simdjson::error_message(err));
    for (auto doc : stream) {
      simdjson::ondemand::object object = doc.get_object();
      for (auto field : object) {
        std::string_view key = field.unescaped_key();
        simdjson::ondemand::value value = field.value();
        switch (value.type()) {
          case simdjson::ondemand::json_type::string: r.checksum += std::string_view(value.get_string()).size(); break;
          case simdjson::ondemand::json_type::number:
            r.checksum += static_cast<std::uint64_t>(double(value.get_double()));
            break;
          default: r.checksum += key.size(); break;
        }
      }
      ++r.events;
    }
    carried = filled - usable;
    std::memmove(buffer.data(), buffer.data() + usable, carried);
  }
  std::fclose(f);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_simdjson_loop FILE [THREADS]\n";
    return 2;
  }
  const std::string path = argv[1];
  const unsigned threads = argc > 2 ? static_cast<unsigned>(std::stoul(argv[2])) : 1;
  try {
    const auto start = std::chrono::steady_clock::now();
    const std::uint64_t size = file_size(path);
    std::vector<std::uint64_t> bounds{0};
    for (unsigned t = 1; t < threads; ++t)
      bounds.push_back(std::max(bounds.back(), line_start(path, size * t / threads, size)));
    bounds.push_back(size);
    std::vector<result> results(threads);
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&, t] { results[t] = read_range(path, bounds[t], bounds[t + 1]); });
    for (auto& th : pool) th.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::uint64_t events = 0, checksum = 0;
    for (const auto& r : results) events += r.events, checksum += r.checksum;
    std::printf("bytes=%llu events=%llu seconds=%.3f mb_per_s=%.1f checksum=%llu\n",
                static_cast<unsigned long long>(size), static_cast<unsigned long long>(events), seconds,
                static_cast<double>(size) / 1e6 / seconds, static_cast<unsigned long long>(checksum));
  } catch (const std::exception& e) {
    std::cerr << "bench_simdjson_loop: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
