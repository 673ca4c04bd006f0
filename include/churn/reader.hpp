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
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "detail/event_parser.hpp"
#include "detail/line_input.hpp"
#include "detail/parallel.hpp"
#include "error.hpp"
#include "event.hpp"

namespace churn {

/// The simdjson kernel of the reader's inline on-demand code in this translation unit: "haswell"
/// (AVX2), "westmere" (SSE4.2), "fallback" (portable), ... chosen at compile time from the compiler's
/// target flags (CMake option CHURN_SIMD for the project's own targets). simdjson's stage 1 runs in
/// libsimdjson with the kernel it picks at run time: simdjson::get_active_implementation()->name().
inline const char* simd_kernel() noexcept { return SIMDJSON_STRINGIFY(SIMDJSON_BUILTIN_IMPLEMENTATION); }

struct read_options {
  bool strict = true;    ///< throw at the first bad line (else skip, count and report)
  unsigned threads = 1;  ///< threads for read_file_parallel; 0 means all cores
  std::uint64_t max_line_bytes = std::uint64_t(64) << 20;  ///< longer lines are bad lines
  std::size_t max_examples = 5;                            ///< example line numbers kept per reason in lenient mode
  /// Leave firstName, lastName and song empty in the events (their types are still checked, so the
  /// same lines are bad): for consumers that never read them, such as the feature accumulator.
  bool skip_names_and_songs = false;
  /// Called from the reading threads after each block with the input bytes (compressed bytes for
  /// .gz, so that they add up to the size on disk) and events since the last call (so it must be
  /// thread-safe: atomics are enough). For progress displays.
  std::function<void(std::uint64_t bytes, std::uint64_t events)> on_progress;

  /// Throws parameter_error for more threads than detail::max_threads (the other fields take any
  /// value: a line buffer grows by doubling up to max_line_bytes + 1, whatever max_line_bytes is).
  void validate() const { detail::check_thread_count("threads", threads); }
};

/// What a read saw. Every line is either an event, blank, or bad (counted under a reason).
struct read_report {
  std::string source;        ///< file name, or "<buffer>"
  std::uint64_t bytes = 0;   ///< bytes read (decompressed for .gz)
  std::uint64_t lines = 0;   ///< lines seen, blank and bad ones included
  std::uint64_t events = 0;  ///< lines turned into events
  std::uint64_t blank_lines = 0;
  std::uint64_t bad_lines = 0;
  std::map<std::string, std::uint64_t> bad_by_reason;           ///< "field: reason" -> count
  std::vector<std::pair<std::uint64_t, std::string>> examples;  ///< (line, "field: reason"), by line
  std::vector<read_report> files;                               ///< one report per file when several files were read

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
    if (!files.empty()) {
      std::ostringstream all;
      all << source << ": " << lines << " lines, " << events << " events, " << blank_lines << " blank, " << bad_lines
          << " bad";
      for (const auto& f : files)
        if (f.bad_lines) all << "\n" << f.summary();
      return all.str();
    }
    std::ostringstream out;
    out << (source.empty() ? std::string("<buffer>") : source) << ": " << lines << " lines, " << events << " events, "
        << blank_lines << " blank, " << bad_lines << " bad";
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

inline std::string problem_key(const line_problem& p) { return p.field.empty() ? p.reason : p.field + ": " + p.reason; }

/// Passes reads through and reports progress (input bytes, and events counted since the last report).
class progress_source : public byte_source {
 public:
  progress_source(byte_source& inner, const read_options& options, const std::uint64_t& events)
      : inner_(inner), options_(options), events_(events) {}
  std::size_t preferred_block() const override { return inner_.preferred_block(); }
  std::size_t read(char* out, std::size_t n) override {
    report();
    return inner_.read(out, n);
  }
  std::uint64_t input_bytes() const override { return inner_.input_bytes(); }
  void report() {
    if (!options_.on_progress) return;
    // The inner source's count, not the bytes handed out: a gzip stream hands out ~8x what it reads.
    const std::uint64_t now = inner_.input_bytes();
    const std::uint64_t bytes = now > reported_bytes_ ? now - reported_bytes_ : 0;
    if (bytes == 0 && events_ == reported_events_) return;
    options_.on_progress(bytes, events_ - reported_events_);
    reported_bytes_ += bytes;
    reported_events_ = events_;
  }

 private:
  byte_source& inner_;
  const read_options& options_;
  const std::uint64_t& events_;
  std::uint64_t reported_bytes_ = 0;
  std::uint64_t reported_events_ = 0;
};

/// Reads one source into `sink`. Line numbers in the report and in errors are offset by
/// `first_line - 1` (a chunk of a larger file knows only its own lines until the merge).
template <class Sink>
read_report read_source(byte_source& source, const std::string& name, bool skip_bom, Sink& sink,
                        const read_options& options, const std::atomic<bool>* stop = nullptr) {
  read_report report;
  report.source = name;
  event_parser parser(options.skip_names_and_songs);
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
    try {
      sink(static_cast<const event&>(current));
    } catch (const located_data_error&) {
      throw;
    } catch (const limit_error& e) {
      if (e.line() != 0) throw;
      throw e.at(name, line.number);
    } catch (const data_error& e) {
      // The sink refused the event (e.g. the user beyond feature_accumulator's max_users): say where.
      throw located_data_error(name, line.number, e.what());
    }
    return true;
  };
  auto on_too_long = [&](std::uint64_t number) -> bool {
    record_bad(number, "", "line longer than " + std::to_string(options.max_line_bytes) + " bytes");
    return true;
  };
  progress_source watched(source, options, report.events);
  auto scanned =
      for_each_line(watched, options.max_line_bytes, skip_bom, on_line, on_too_long, source.preferred_block());
  watched.report();
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
  std::uint64_t input_bytes() const override { return offset_; }

 private:
  std::string_view data_;
  std::size_t offset_ = 0;
};

inline unsigned resolve_threads(unsigned threads) {
  check_thread_count("threads", threads);
  if (threads != 0) return threads;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : hw;
}

}  // namespace detail

/// Reads a JSON-lines event log (plain or gzip, detected from its first bytes) and calls
/// `sink(const churn::event&)` for each event, in file order. The event object is reused between
/// calls: copy what you keep.
/// @throws parse_error (strict mode) at the first bad line; io_error when the file cannot be read;
/// located_data_error (file, line and reason) when the sink throws a data_error.
/// A FIFO, a device or "-" (standard input) is read once, from start to end, exactly as a file with
/// the same bytes would be.
template <class Sink>
read_report read_file(const std::string& path, Sink&& sink, const read_options& options = {}) {
  options.validate();
  const auto source = detail::open_input(path, detail::classify_input(path));
  return detail::read_source(*source, detail::stream_source::display_name(path), true, sink, options);
}

/// Reads JSON lines held in memory; `name` appears in errors and reports.
template <class Sink>
read_report read_buffer(std::string_view jsonl, Sink&& sink, const read_options& options = {},
                        const std::string& name = "<buffer>") {
  detail::memory_source source(jsonl);
  return detail::read_source(source, name, true, sink, options);
}

/// Rethrows `failure` (an exception from reading a part of a source) with the line numbers of the
/// whole source: the part's lines follow `lines_before` lines of it. parse_error,
/// located_data_error and limit_error with a line are shifted; `file`, when not empty, replaces the
/// file they name. Anything else is rethrown as it is.
[[noreturn]] inline void rethrow_shifted(std::exception_ptr failure, std::uint64_t lines_before,
                                         const std::string& file = {}) {
  try {
    std::rethrow_exception(failure);
  } catch (const parse_error& e) {
    throw parse_error(file.empty() ? e.file() : file, e.line() + lines_before, e.field(), e.reason());
  } catch (const located_data_error& e) {
    throw located_data_error(file.empty() ? e.file() : file, e.line() + lines_before, e.reason());
  } catch (const limit_error& e) {
    if (e.line() == 0) throw;
    throw e.at(file.empty() ? e.file() : file, e.line() + lines_before);
  }
}

/// Reads JSON lines held in memory that follow `lines_before` lines of the source `name` (a chunk of
/// a larger log, read alone): errors name the line within the whole source; the report's example
/// line numbers are those within the chunk, as join_piece_reports() expects them.
template <class Sink>
read_report read_buffer_at(std::string_view jsonl, std::uint64_t lines_before, Sink&& sink, const read_options& options,
                           const std::string& name) {
  try {
    return read_buffer(jsonl, sink, options, name);
  } catch (...) {
    rethrow_shifted(std::current_exception(), lines_before);
  }
}

/// Reads a plain file with one thread per sink: the file is split at line boundaries into
/// `sinks.size()` contiguous chunks and `sinks[i]` receives the events of chunk i, in file order,
/// from its own thread. A gzip file cannot be split and goes to sinks[0] alone. Line numbers in errors
/// and reports are those of the whole file. In strict mode the error reported is the first bad line
/// of the file.
template <class Sink>
read_report read_file_parallel(const std::string& path, std::vector<Sink>& sinks, const read_options& options = {}) {
  if (sinks.empty()) throw parameter_error("sinks", "an empty vector", "at least one sink");
  if (sinks.size() == 1 || detail::classify_input(path) != detail::input_kind::plain)
    return read_file(path, sinks[0], options);

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
    if (failures[i]) rethrow_shifted(failures[i], offset);
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

/// The files a list of paths stands for: files as given (whatever their names), directories expanded
/// recursively, in sorted order, to the files named *.json, *.jsonl or *.ndjson, optionally + .gz
/// (hidden files and names starting with '_' or '.', like Spark's _SUCCESS, are skipped).
/// "-" (standard input) is kept as it is.
/// @throws io_error for a path that does not exist or cannot be reached (the system's reason, e.g. a
/// symbolic link loop), an event file in a directory that cannot be, or a directory without event files.
inline std::vector<std::string> expand_paths(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  auto is_event_file = [](const fs::path& p) {
    std::string name = p.filename().string();
    if (name.empty() || name[0] == '.' || name[0] == '_') return false;
    if (name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0) name.resize(name.size() - 3);
    for (const char* ext : {".json", ".jsonl", ".ndjson"}) {
      std::size_t n = std::strlen(ext);
      if (name.size() > n && name.compare(name.size() - n, n, ext) == 0) return true;
    }
    return false;
  };
  std::vector<std::string> files;
  for (const auto& path : paths) {
    if (path == "-") {  // standard input
      files.push_back(path);
      continue;
    }
    std::error_code ec;
    auto status = fs::status(path, ec);
    // The system's reason: "no such file" only when that is what it is (a symbolic link loop said so).
    if (ec && status.type() != fs::file_type::not_found) throw io_error("cannot open '" + path + "': " + ec.message());
    if (!fs::exists(status)) throw io_error("cannot open '" + path + "': no such file or directory");
    if (!fs::is_directory(status)) {
      files.push_back(path);
      continue;
    }
    std::vector<std::string> found;
    for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const auto name = it->path().filename().string();
      // The error_code overloads: an entry that cannot be followed (a link loop) must not throw
      // filesystem_error. One named as an event file is an io_error, not silently skipped.
      std::error_code entry_ec;
      const auto entry_status = it->status(entry_ec);
      if (entry_ec && is_event_file(it->path()))
        throw io_error("cannot open '" + it->path().string() + "': " + entry_ec.message());
      if (fs::is_directory(entry_status) && !name.empty() && (name[0] == '.' || name[0] == '_')) {
        it.disable_recursion_pending();
        continue;
      }
      if (fs::is_regular_file(entry_status) && is_event_file(it->path())) found.push_back(it->path().string());
    }
    if (ec) throw io_error("cannot list '" + path + "': " + ec.message());
    if (found.empty())
      throw io_error("directory '" + path + "' holds no event files (*.json, *.jsonl, *.ndjson, optionally .gz)");
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

/// A part of an event log that one reader (a thread, a task on a cluster) reads alone: bytes
/// [begin, end) of a plain file, cut at line starts, or the whole of a gzip file or a stream (whole).
struct file_piece {
  std::string path;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;  ///< for a whole piece: 0 (read to the end)
  bool whole = false;     ///< a gzip file or a stream, which cannot be cut

  /// The path, with the byte range when the piece is a part of its file.
  std::string describe() const {
    return whole ? path : path + " [bytes " + std::to_string(begin) + "-" + std::to_string(end) + ")";
  }
};

/// The pieces of `files` (paths of files, see expand_paths()): each plain file cut at line
/// boundaries into pieces of about `piece_bytes` (a file alone: a multiple of `min_parts` pieces of
/// about equal size, to keep that many threads equally busy: 5 pieces on 2 threads left one thread
/// idle for a fifth of the read), each gzip file and stream one whole piece. Reads only
/// a few bytes around each cut. Pieces of a file are in file order and never empty, except the one
/// piece of an empty file.
/// Throws parameter_error for piece_bytes 0, io_error for a file that cannot be read.
inline std::vector<file_piece> plan_pieces(const std::vector<std::string>& files, std::uint64_t piece_bytes,
                                           std::size_t min_parts = 1) {
  if (piece_bytes == 0) throw parameter_error("piece_bytes", "0", "a positive number of bytes");
  std::vector<file_piece> pieces;
  for (const auto& path : files) {
    const detail::input_kind kind = detail::classify_input(path);
    if (kind != detail::input_kind::plain) {  // a gzip file or a stream is read whole by one reader
      pieces.push_back({path, 0, 0, true});
      continue;
    }
    const std::uint64_t size = detail::file_size(path);
    // Without size + piece_bytes - 1, which wraps for a caller's piece_bytes near 2^64.
    std::size_t parts =
        static_cast<std::size_t>(std::max<std::uint64_t>(1, size / piece_bytes + (size % piece_bytes != 0)));
    if (files.size() == 1 && min_parts > 1) parts = (parts + min_parts - 1) / min_parts * min_parts;
    const auto bounds = detail::split_at_lines(path, parts);
    const std::size_t before = pieces.size();
    for (std::size_t i = 0; i + 1 < bounds.size(); ++i)
      if (bounds[i] < bounds[i + 1]) pieces.push_back({path, bounds[i], bounds[i + 1], false});
    if (pieces.size() == before) pieces.push_back({path, 0, size, false});
  }
  return pieces;
}

namespace detail {

/// Reads a piece with line numbers within the piece (a plain piece after the first knows only its own
/// lines); `stop` as read_source.
template <class Sink>
read_report read_piece_lines(const file_piece& p, Sink& sink, const read_options& options,
                             const std::atomic<bool>* stop) {
  if (p.whole) {
    const auto source = open_input(p.path, classify_input(p.path));
    return read_source(*source, stream_source::display_name(p.path), true, sink, options, stop);
  }
  plain_file_source source(p.path, p.begin, p.end);
  return read_source(source, p.path, p.begin == 0, sink, options, stop);
}

/// Newlines in bytes [0, offset) of a plain file: the lines before a piece that starts there.
inline std::uint64_t count_lines_before(const std::string& path, std::uint64_t offset) {
  if (offset == 0) return 0;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw io_error("cannot open '" + path + "': " + std::strerror(errno));
  std::vector<char> block(1 << 20);
  std::uint64_t count = 0;
  while (offset > 0) {
    const std::size_t got =
        std::fread(block.data(), 1, static_cast<std::size_t>(std::min<std::uint64_t>(offset, block.size())), f);
    if (got == 0) break;
    count += static_cast<std::uint64_t>(std::count(block.data(), block.data() + got, '\n'));
    offset -= got;
  }
  std::fclose(f);
  return count;
}

}  // namespace detail

/// Reads one piece of a file (see plan_pieces()) into `sink`, alone: errors name the line within the
/// whole file (counting the lines before the piece, which happens only when there is an error);
/// the report's example line numbers are those within the piece, as join_piece_reports() expects.
template <class Sink>
read_report read_piece(const file_piece& piece, Sink&& sink, const read_options& options = {}) {
  options.validate();
  try {
    return detail::read_piece_lines(piece, sink, options, nullptr);
  } catch (...) {
    if (piece.whole || piece.begin == 0) throw;
    rethrow_shifted(std::current_exception(), detail::count_lines_before(piece.path, piece.begin));
  }
}

/// One report for the reports of the pieces of one or more sources, as one read of them gives:
/// `reports` in order, the pieces of a source adjacent and in source order, each report's `source`
/// naming its source and its example line numbers counted within its piece. A new source starts where
/// `source` changes, or where `starts_source[i]` is true when given (a file listed twice is two
/// sources). A piece's examples are
/// shifted by the lines of the pieces before it; each source keeps its first `max_examples` per
/// reason. One source gives its own report; several give a total named "<n> <noun>" (e.g. "3 files")
/// with one report per source in `files`.
inline read_report join_piece_reports(std::vector<read_report> reports, std::size_t max_examples = 5,
                                      const std::string& noun = "files", const std::vector<bool>& starts_source = {}) {
  if (!starts_source.empty() && starts_source.size() != reports.size())
    throw parameter_error("starts_source", std::to_string(starts_source.size()) + " values",
                          "one per report (" + std::to_string(reports.size()) + ") or none");
  std::vector<read_report> per_source;
  std::uint64_t offset = 0;
  std::map<std::string, std::size_t> kept;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    read_report& r = reports[i];
    if (i == 0 || (starts_source.empty() ? r.source != reports[i - 1].source : bool(starts_source[i]))) {
      offset = 0;
      kept.clear();
      per_source.emplace_back();
      per_source.back().source = r.source;
    }
    read_report& file_report = per_source.back();
    for (auto& example : r.examples) {
      example.first += offset;
      if (kept[example.second]++ < max_examples) file_report.examples.push_back(example);
    }
    r.examples.clear();
    file_report.merge(r);
    offset += r.lines;
  }
  if (per_source.size() == 1) return std::move(per_source[0]);
  read_report total;
  total.source = std::to_string(per_source.size()) + " " + noun;
  for (auto& f : per_source) {
    total.merge(f);
    total.files.push_back(std::move(f));
  }
  total.examples.clear();  // per-file examples live in total.files
  return total;
}

namespace detail {
template <class Sink, class = void>
struct has_reading_done : std::false_type {};
template <class Sink>
struct has_reading_done<Sink, std::void_t<decltype(std::declval<Sink&>().reading_done())>> : std::true_type {};
}  // namespace detail

/// Reads several files (plain or gzip) with one thread per sink. Plain files are cut at line
/// boundaries into pieces of about `piece_bytes` (plan_pieces()); each gzip file is one piece. Threads
/// take pieces in order and feed their own sink, so a sink sees whole pieces but in no particular
/// order: use it for order-independent work (aggregates that merge). Line numbers in errors and reports
/// are those of each file; in strict mode the error raised is the first bad line in (file, line) order.
/// A sink with a member `reading_done()` has it called by its own thread once that thread finds no
/// piece left (sinks that hand work to each other use it to finish theirs); what it throws is
/// rethrown after the threads are joined.
template <class Sink>
read_report read_files_parallel(const std::vector<std::string>& paths, std::vector<Sink>& sinks,
                                const read_options& options = {}, std::uint64_t piece_bytes = std::uint64_t(64) << 20) {
  if (sinks.empty()) throw parameter_error("sinks", "an empty vector", "at least one sink");
  options.validate();
  // One file alone is spread over all threads even when it is small.
  const std::vector<file_piece> pieces = plan_pieces(paths, std::max<std::uint64_t>(piece_bytes, 1), sinks.size());

  std::vector<read_report> reports(pieces.size());
  std::vector<std::exception_ptr> failures(pieces.size());
  std::atomic<std::size_t> next{0};
  // Pieces after a failed one are skipped; pieces before it run to the end so that the failing line's
  // number within its file is known.
  std::atomic<std::size_t> first_failure{pieces.size()};
  std::vector<std::exception_ptr> done_failures(sinks.size());

  auto worker = [&](std::size_t t) {
    for (std::size_t i = next.fetch_add(1); i < pieces.size(); i = next.fetch_add(1)) {
      if (i > first_failure.load()) continue;
      try {
        std::atomic<bool> stop{false};
        reports[i] = detail::read_piece_lines(pieces[i], sinks[t], options, &stop);
        reports[i].source = pieces[i].path;
      } catch (...) {
        failures[i] = std::current_exception();
        std::size_t seen = first_failure.load();
        while (i < seen && !first_failure.compare_exchange_weak(seen, i)) {
        }
      }
    }
    if constexpr (detail::has_reading_done<Sink>::value) {
      try {
        sinks[t].reading_done();
      } catch (...) {
        done_failures[t] = std::current_exception();
      }
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t t = 1; t < sinks.size(); ++t) threads.emplace_back(worker, t);
  worker(0);
  for (auto& th : threads) th.join();

  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    if (pieces[i].whole || pieces[i].begin == 0) offset = 0;
    if (failures[i]) rethrow_shifted(failures[i], offset);
    offset += reports[i].lines;
  }
  for (auto& f : done_failures)
    if (f) std::rethrow_exception(f);
  std::vector<bool> starts(pieces.size());
  for (std::size_t i = 0; i < pieces.size(); ++i) starts[i] = pieces[i].whole || pieces[i].begin == 0;
  read_report total = join_piece_reports(std::move(reports), options.max_examples, "files", starts);
  if (paths.size() == 1) total.source = paths[0];
  return total;
}

}  // namespace churn
