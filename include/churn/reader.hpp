#pragma once
// Streaming reader for Sparkify event logs (JSON lines, plain or gzip), built on simdjson's on-demand
// API. Memory stays bounded by the longest line, whatever the file size.
//
// Strict mode throws churn::parse_error at the first bad line (file, line number, field, reason).
// Lenient mode skips bad lines and counts them by reason, keeping a few example line numbers: nothing
// is ever dropped without being counted.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "detail/event_parser.hpp"
#include "detail/line_input.hpp"
#include "error.hpp"
#include "event.hpp"

namespace churn {

struct read_options {
  bool strict = true;               ///< throw at the first bad line (else skip, count and report)
  unsigned threads = 1;             ///< threads for read_file_parallel; 0 means all cores
  std::uint64_t max_line_bytes = std::uint64_t(64) << 20;  ///< longer lines are bad lines
  std::size_t max_examples = 5;     ///< example line numbers kept per reason in lenient mode
};

/// What a read saw. Every line is either an event, blank, or bad (counted under a reason).
struct read_report {
  std::string source;                 ///< file name, or "<buffer>"
  std::uint64_t bytes = 0;            ///< bytes read (decompressed for .gz)
  std::uint64_t lines = 0;            ///< lines seen, blank and bad ones included
  std::uint64_t events = 0;           ///< lines turned into events
  std::uint64_t blank_lines = 0;
  std::uint64_t bad_lines = 0;
  std::map<std::string, std::uint64_t> bad_by_reason;  ///< "field: reason" -> count
  std::vector<std::pair<std::uint64_t, std::string>> examples;  ///< (line, "field: reason"), by line

  /// Adds the counts of another part of the same or another source.
  void merge(const read_report& other) {
    bytes += other.bytes;
    lines += other.lines;
    events += other.events;
    blank_lines += other.blank_lines;
    bad_lines += other.bad_lines;
    for (const auto& [reason, count] : other.bad_by_reason) bad_by_reason[reason] += count;
    examples.insert(examples.end(), other.examples.begin(), other.examples.end());
    std::sort(examples.begin(), examples.end());
  }

  /// One line per fact, for logs and the CLI.
  std::string summary() const {
    std::ostringstream out;
    out << (source.empty() ? std::string("<buffer>") : source) << ": " << lines << " lines, " << events
        << " events, " << blank_lines << " blank, " << bad_lines << " bad";
    for (const auto& [reason, count] : bad_by_reason) {
      out << "\n  " << count << " x " << reason << " (e.g. line";
      std::size_t shown = 0;
      for (const auto& [line, r] : examples)
        if (r == reason && shown < 5) out << (shown++ ? ", " : " ") << line;
      out << ")";
    }
    return out.str();
  }
};

namespace detail {

inline bool is_blank(const char* data, std::size_t size) noexcept {
  for (std::size_t i = 0; i < size; ++i)
    if (data[i] != ' ' && data[i] != '\t' && data[i] != '\r') return false;
  return true;
}

inline std::string problem_key(const line_problem& p) {
  return p.field.empty() ? p.reason : p.field + ": " + p.reason;
}

/// Reads one source into `sink`. Line numbers in the report and in errors are offset by
/// `first_line - 1` (a chunk of a larger file knows only its own lines until the merge).
template <class Sink>
read_report read_source(byte_source& source, const std::string& name, bool skip_bom, Sink& sink,
                        const read_options& options, const std::atomic<bool>* stop = nullptr) {
  read_report report;
  report.source = name;
  event_parser parser;
  event current;
  line_problem problem;
  std::map<std::string, std::size_t> examples_kept;

  auto record_bad = [&](std::uint64_t line, const std::string& field, const std::string& reason) {
    if (options.strict) throw parse_error(name, line, field, reason);
    ++report.bad_lines;
    std::string key = field.empty() ? reason : field + ": " + reason;
    ++report.bad_by_reason[key];
    if (examples_kept[key]++ < options.max_examples) report.examples.emplace_back(line, key);
  };

  auto on_line = [&](const line_view& line) -> bool {
    if (stop && stop->load(std::memory_order_relaxed)) return false;
    if (is_blank(line.data, line.size)) {
      ++report.blank_lines;
      return true;
    }
    if (!parser.parse(line.data, line.size, line.capacity, current, problem)) {
      record_bad(line.number, problem.field, problem.reason);
      return true;
    }
    ++report.events;
    sink(static_cast<const event&>(current));
    return true;
  };
  auto on_too_long = [&](std::uint64_t number) -> bool {
    record_bad(number, "", "line longer than " + std::to_string(options.max_line_bytes) + " bytes");
    return true;
  };
  auto scanned = for_each_line(source, options.max_line_bytes, skip_bom, on_line, on_too_long,
                               source.preferred_block());
  report.lines = scanned.lines;
  report.bytes = scanned.bytes;
  return report;
}

/// A byte_source over memory, for read_buffer.
class memory_source : public byte_source {
 public:
  explicit memory_source(std::string_view data) : data_(data) {}
  std::size_t preferred_block() const override {
    return std::min(input_block_bytes, std::max<std::size_t>(4096, data_.size() + 1));
  }
  std::size_t read(char* out, std::size_t n) override {
    n = std::min(n, data_.size() - offset_);
    std::memcpy(out, data_.data() + offset_, n);
    offset_ += n;
    return n;
  }

 private:
  std::string_view data_;
  std::size_t offset_ = 0;
};

inline unsigned resolve_threads(unsigned threads) {
  if (threads != 0) return threads;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : hw;
}

}  // namespace detail

/// Reads a JSON-lines event log (plain or gzip, detected from its first bytes) and calls
/// `sink(const churn::event&)` for each event, in file order. The event object is reused between
/// calls: copy what you keep.
/// @throws parse_error (strict mode) at the first bad line; io_error when the file cannot be read.
template <class Sink>
read_report read_file(const std::string& path, Sink&& sink, const read_options& options = {}) {
  if (detail::is_gzip_file(path)) {
    detail::gzip_file_source source(path);
    return detail::read_source(source, path, true, sink, options);
  }
  detail::plain_file_source source(path, 0, detail::file_size(path));
  return detail::read_source(source, path, true, sink, options);
}

/// Reads JSON lines held in memory; `name` appears in errors and reports.
template <class Sink>
read_report read_buffer(std::string_view jsonl, Sink&& sink, const read_options& options = {},
                        const std::string& name = "<buffer>") {
  detail::memory_source source(jsonl);
  return detail::read_source(source, name, true, sink, options);
}

/// Reads a plain file with one thread per sink: the file is split at line boundaries into
/// `sinks.size()` contiguous chunks and `sinks[i]` receives the events of chunk i, in file order,
/// from its own thread. A gzip file cannot be split and goes to sinks[0] alone. Line numbers in errors
/// and reports are those of the whole file. In strict mode the error reported is the first bad line
/// of the file.
template <class Sink>
read_report read_file_parallel(const std::string& path, std::vector<Sink>& sinks,
                               const read_options& options = {}) {
  if (sinks.empty()) throw error("read_file_parallel needs at least one sink");
  if (sinks.size() == 1 || detail::is_gzip_file(path)) return read_file(path, sinks[0], options);

  const std::size_t parts = sinks.size();
  std::vector<std::uint64_t> bounds = detail::split_at_lines(path, parts);
  std::vector<read_report> reports(parts);
  std::vector<std::exception_ptr> failures(parts);
  // A part that fails in strict mode stops the parts after it; the parts before it must finish so the
  // failing line's number in the whole file is known.
  std::vector<std::atomic<bool>> stops(parts);
  for (auto& s : stops) s.store(false);

  auto run_part = [&](std::size_t i) {
    try {
      detail::plain_file_source source(path, bounds[i], bounds[i + 1]);
      reports[i] = detail::read_source(source, path, i == 0, sinks[i], options, &stops[i]);
    } catch (...) {
      failures[i] = std::current_exception();
      for (std::size_t j = i + 1; j < parts; ++j) stops[j].store(true);
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(parts - 1);
  for (std::size_t i = 1; i < parts; ++i) threads.emplace_back(run_part, i);
  run_part(0);
  for (auto& t : threads) t.join();

  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < parts; ++i) {
    if (failures[i]) {
      try {
        std::rethrow_exception(failures[i]);
      } catch (const parse_error& e) {
        throw parse_error(e.file(), e.line() + offset, e.field(), e.reason());
      }
    }
    for (auto& example : reports[i].examples) example.first += offset;
    offset += reports[i].lines;
  }
  read_report total;
  total.source = path;
  for (const auto& r : reports) total.merge(r);
  // Each part kept its own first examples; keep the first ones of the whole file, as a serial read.
  std::map<std::string, std::size_t> kept;
  std::vector<std::pair<std::uint64_t, std::string>> first;
  for (auto& example : total.examples)
    if (kept[example.second]++ < options.max_examples) first.push_back(std::move(example));
  total.examples = std::move(first);
  return total;
}

}  // namespace churn
