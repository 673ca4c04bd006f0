// Hardening, round two (issue 15, docs/reliability.md): sizes and counts from the caller or a file
// checked before they size anything, streams read exactly like files, and every I/O failure an
// io_error naming the path. Each case fails on the code before the fix.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <churn/cv.hpp>
#include <churn/features.hpp>
#include <churn/forest.hpp>
#include <churn/forest_params.hpp>
#include <churn/forest_ranges.hpp>
#include <churn/model_io.hpp>
#include <churn/reader.hpp>
#include <churn/scan.hpp>

namespace fs = std::filesystem;

namespace {

const std::string data_dir = CHURN_TEST_DATA_DIR;

/// A fresh directory for one test case, removed at the end.
struct temp_dir {
  fs::path path;
  explicit temp_dir(const std::string& name)
      : path(fs::temp_directory_path() / ("churn_test_hardening_io_" + std::to_string(::getpid()) + "_" + name)) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "cannot read " << path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string gzip_text(const std::string& text) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, text.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

/// Every event's (user, ts, page) in order, and the report.
struct read_result {
  std::vector<std::string> events;
  churn::read_report report;
};

read_result read_path(const std::string& path, churn::read_options options = {}) {
  read_result r;
  r.report = churn::read_file(
      path,
      [&](const churn::event& e) {
        r.events.push_back(e.user_id + "/" + std::to_string(e.ts) + "/" + std::to_string(static_cast<int>(e.page)));
      },
      options);
  return r;
}

/// Writes `bytes` into the FIFO at `path` from another thread (opening a FIFO blocks until both ends are open).
std::thread feed_fifo(const std::string& path, std::string bytes) {
  return std::thread([path, bytes = std::move(bytes)] {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  });
}

std::string io_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const churn::io_error& e) {
    return e.what();
  }
  return "(no io_error)";
}

const std::string small_log = data_dir + "/events/quirks.jsonl";

}  // namespace

// ---- 1. sizes from the caller ---------------------------------------------------------------------

TEST_CASE("a line buffer grows safely whatever max_line_bytes the caller gives") {
  using churn::detail::grown_block;
  using churn::detail::max_block_bytes;
  const std::uint64_t u64max = std::numeric_limits<std::uint64_t>::max();
  // max_line_bytes + 1 wrapped to 0 and the buffer shrank to nothing under the line (issue 15).
  CHECK(grown_block(4 << 20, u64max) == std::size_t(8) << 20);
  CHECK(grown_block(4 << 20, u64max - 1) == std::size_t(8) << 20);
  CHECK(grown_block(4 << 20, 5 << 20) == (std::size_t(5) << 20) + 1);
  CHECK(grown_block(max_block_bytes / 2 + 1, u64max) == max_block_bytes);
  CHECK(grown_block(max_block_bytes, u64max) == max_block_bytes);  // no growth: the line is skipped
  CHECK(grown_block(std::numeric_limits<std::size_t>::max(), u64max) <= max_block_bytes);
}

TEST_CASE("a 5 MiB line with max_line_bytes = 2^64 - 1 (and its neighbours) is read, not a heap overflow") {
  const std::string big(5 << 20, 'x');
  const std::string text = R"({"ts":1538352117000,"userId":"1","sessionId":1,"page":"Home","song":")" + big + "\"}\n" +
                           R"({"ts":1538352118000,"userId":"2","sessionId":2,"page":"Home"})" + "\n";
  for (std::uint64_t limit : {std::numeric_limits<std::uint64_t>::max(), std::numeric_limits<std::uint64_t>::max() - 1,
                              std::uint64_t(1) << 63, std::uint64_t(std::numeric_limits<std::size_t>::max() / 2),
                              std::uint64_t(text.size())}) {
    CAPTURE(limit);
    for (bool strict : {true, false}) {
      churn::read_options o;
      o.strict = strict;
      o.max_line_bytes = limit;
      std::size_t events = 0, song_bytes = 0;
      const auto report = churn::read_buffer(
          text,
          [&](const churn::event& e) {
            ++events;
            song_bytes += e.song.size();
          },
          o);
      CHECK(events == 2);
      CHECK(song_bytes == big.size());
      CHECK(report.bad_lines == 0);
    }
  }
  // One byte under the line's length: the long line is a bad line, the other is read.
  churn::read_options o;
  o.strict = false;
  o.max_line_bytes = big.size();
  std::size_t events = 0;
  const auto report = churn::read_buffer(
      text, [&](const churn::event&) { ++events; }, o);
  CHECK(events == 1);
  CHECK(report.bad_lines == 1);
}

TEST_CASE("thread counts beyond max_threads are parameter errors, not allocations") {
  churn::forest_params p;
  p.n_jobs = 1000000000;
  CHECK_THROWS_AS(p.validate(), churn::parameter_error);
  CHECK_THROWS_WITH_AS(churn::detail::resolve_n_jobs(1000000000),
                       doctest::Contains("invalid value for parameter 'n_jobs': 1000000000 (allowed: at most 1024"),
                       churn::parameter_error);
  CHECK(churn::detail::resolve_n_jobs(-1000000000) == 1);
  churn::read_options ro;
  ro.threads = 4000000000u;
  CHECK_THROWS_AS(ro.validate(), churn::parameter_error);
  CHECK_THROWS_AS(churn::scan_file(small_log, ro), churn::parameter_error);
  CHECK_THROWS_AS(churn::accumulate_files({small_log}, {}, ro), churn::parameter_error);
  CHECK_THROWS_AS(churn::read_file(
                      small_log, [](const churn::event&) {}, ro),
                  churn::parameter_error);
  churn::cv_params cv;
  cv.threads = 5000;
  CHECK_THROWS_WITH_AS(cv.validate(), doctest::Contains("'threads': 5000"), churn::parameter_error);
  cv.threads = -1;
  CHECK_THROWS_WITH_AS(cv.validate(), doctest::Contains("'threads': -1"), churn::parameter_error);
}

TEST_CASE("read_files_parallel cuts files into pieces without overflow for any piece_bytes") {
  const auto whole = read_path(small_log);
  for (std::uint64_t piece : {std::uint64_t(0), std::uint64_t(1), std::numeric_limits<std::uint64_t>::max()}) {
    std::vector<std::function<void(const churn::event&)>> sinks;
    std::size_t events = 0;
    sinks.emplace_back([&](const churn::event&) { ++events; });
    const auto report = churn::read_files_parallel(std::vector<std::string>{small_log}, sinks, {}, piece);
    CHECK(events == whole.events.size());
    CHECK(report.lines == whole.report.lines);
  }
}

// ---- 2. streams read exactly like files -----------------------------------------------------------

TEST_CASE("a FIFO reads exactly like the file with the same bytes, plain and gzip") {
  temp_dir dir("fifo");
  const std::string real = data_dir + "/events/quirks.jsonl";
  std::string text = slurp(real);
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // a BOM only at the start of a file
  // Long enough that a sniffing read of the first block would lose whole lines (as in issue 15).
  std::string log;
  while (log.size() < (std::size_t(1) << 20)) log += text + "\n";
  write_file(dir / "log.jsonl", log);
  const auto expected = read_path(dir / "log.jsonl");
  REQUIRE(expected.events.size() > 100);

  for (bool gz : {false, true}) {
    CAPTURE(gz);
    const std::string fifo = dir / (gz ? "fifo-gz" : "fifo");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    auto writer = feed_fifo(fifo, gz ? gzip_text(log) : log);
    const auto got = read_path(fifo);
    writer.join();
    CHECK(got.events == expected.events);
    CHECK(got.report.lines == expected.report.lines);
    CHECK(got.report.bad_lines == 0);
    CHECK(got.report.bytes == log.size());
  }
}

TEST_CASE("a FIFO in the parallel readers and the feature accumulator is read once, whole") {
  temp_dir dir("fifo-parallel");
  const std::string log = slurp(data_dir + "/events/quirks.jsonl");
  write_file(dir / "log.jsonl", log);
  const auto expected = read_path(dir / "log.jsonl");
  const std::string fifo = dir / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  {
    auto writer = feed_fifo(fifo, log);
    std::vector<std::function<void(const churn::event&)>> sinks;
    std::size_t events = 0;
    for (int i = 0; i < 3; ++i) sinks.emplace_back([&](const churn::event&) { ++events; });
    const auto report = churn::read_file_parallel(fifo, sinks);
    writer.join();
    CHECK(events == expected.events.size());
    CHECK(report.bad_lines == 0);
  }
  {
    auto writer = feed_fifo(fifo, log);
    std::vector<std::function<void(const churn::event&)>> sinks;
    std::size_t events = 0;
    for (int i = 0; i < 2; ++i) sinks.emplace_back([&](const churn::event&) { ++events; });
    churn::read_files_parallel(std::vector<std::string>{fifo, dir / "log.jsonl"}, sinks);
    writer.join();
    CHECK(events == 2 * expected.events.size());
  }
  {
    auto writer = feed_fifo(fifo, log);
    churn::feature_progress progress;  // sizes the files first: a FIFO has none (was a filesystem_error)
    churn::read_options ro;
    ro.threads = 2;
    const auto acc = churn::accumulate_files({fifo}, {}, ro, &progress);
    writer.join();
    CHECK(progress.events.load() == expected.events.size());
  }
}

TEST_CASE("a gzip file or stream cut short is an io_error, not a shorter log") {
  temp_dir dir("truncated");
  std::string log;
  const std::string text = slurp(data_dir + "/events/quirks.jsonl").substr(3);
  while (log.size() < (std::size_t(1) << 20)) log += text + "\n";
  const std::string gz = gzip_text(log);
  for (std::size_t cut : {std::size_t(2), std::size_t(10), gz.size() / 2, gz.size() - 9}) {
    CAPTURE(cut);
    write_file(dir / "cut.json.gz", gz.substr(0, cut));
    churn::read_options lenient;
    lenient.strict = false;
    // Half a file was read as half the events and one bad line, silently.
    CHECK(io_error_of([&] { read_path(dir / "cut.json.gz", lenient); }).find("error decompressing") !=
          std::string::npos);
    const std::string fifo = dir / ("fifo" + std::to_string(cut));
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    auto writer = feed_fifo(fifo, gz.substr(0, cut));
    CHECK(io_error_of([&] { read_path(fifo, lenient); }).find("truncated") != std::string::npos);
    writer.join();
  }
}

TEST_CASE("bytes after the last gzip member: another member is read, NUL padding is allowed, text is an io_error") {
  temp_dir dir("members");
  const std::string log = slurp(small_log);
  const std::string head = log.back() == '\n' ? log : log + "\n";
  const std::string tail = head.substr(3);  // without the byte-order mark, which only a log's start may have
  write_file(dir / "both.jsonl", head + tail);
  const auto both = read_path(dir / "both.jsonl");
  const auto first = read_path(small_log);
  REQUIRE(both.events.size() == 2 * first.events.size());
  churn::read_options lenient;
  lenient.strict = false;
  for (const bool fifo : {false, true}) {
    CAPTURE(fifo);
    // Small inputs: a FIFO's writer must finish within the pipe's buffer even when the reader stops early.
    const auto read_bytes = [&](const std::string& name, const std::string& bytes, churn::read_options options) {
      const std::string path = dir / name;
      if (!fifo) {
        write_file(path, bytes);
        return read_path(path, options);
      }
      REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
      auto writer = feed_fifo(path, bytes);
      try {
        auto got = read_path(path, options);
        writer.join();
        return got;
      } catch (...) {
        writer.join();
        throw;
      }
    };
    const std::string tag = fifo ? "fifo-" : "file-";
    CHECK(read_bytes(tag + "members.gz", gzip_text(head) + gzip_text(tail), {}).events == both.events);
    CHECK(read_bytes(tag + "padded.gz", gzip_text(head) + std::string(3000, '\0'), {}).events == first.events);
    // zlib's gzread ignored the text after the member: the log read as its first part alone, silently.
    for (const std::string& junk : {tail, std::string("x"), std::string(100, '\0') + "{}"}) {
      const std::string name = tag + "appended" + std::to_string(junk.size()) + ".gz";
      const std::string message = io_error_of([&] { read_bytes(name, gzip_text(head) + junk, lenient); });
      CHECK(message.find("are not gzip") != std::string::npos);
      CHECK(message.find(name) != std::string::npos);
    }
  }
}

TEST_CASE("\"-\" reads standard input") {
  temp_dir dir("stdin");
  const std::string log = slurp(data_dir + "/events/quirks.jsonl");
  write_file(dir / "log.jsonl.gz", gzip_text(log));
  const auto expected = read_path(data_dir + "/events/quirks.jsonl");
  const int saved = ::dup(STDIN_FILENO);
  REQUIRE(std::freopen((dir / "log.jsonl.gz").c_str(), "rb", stdin) != nullptr);
  const auto got = read_path("-");
  ::dup2(saved, STDIN_FILENO);
  ::close(saved);
  CHECK(got.events == expected.events);
  CHECK(got.report.source == "<stdin>");
  CHECK(churn::expand_paths({"-"}) == std::vector<std::string>{"-"});
}

// ---- 3. every I/O failure is an io_error naming the path ------------------------------------------

TEST_CASE("load_model and save_model on a directory are io_errors naming it") {
  temp_dir dir("model-dir");
  const std::string d = dir.path.string();
  // Was std::ios_base::failure ("basic_filebuf::underflow") for the load.
  CHECK(io_error_of([&] { churn::load_model(d); }).find("'" + d + "': it is a directory") != std::string::npos);
  CHECK(io_error_of([&] { churn::load_model(dir / "missing.json"); }).find("No such file or directory") !=
        std::string::npos);
  const auto m = churn::loads(slurp(data_dir + "/../fuzz/corpus/model/tiny.json"));
  CHECK(io_error_of([&] { churn::save_model(m, d); }).find("'" + d + "'") != std::string::npos);
  CHECK(io_error_of([&] { churn::save_model(m, dir / "no/such/dir/model.json"); }).find("No such file or directory") !=
        std::string::npos);
  if (fs::exists("/dev/full"))
    CHECK(io_error_of([&] { churn::save_model(m, "/dev/full"); }).find("'/dev/full'") != std::string::npos);
  churn::save_model(m, dir / "model.json");
  CHECK(churn::load_model(dir / "model.json").n_trees() == m.n_trees());
}

TEST_CASE("reading a directory as a log is an io_error, and a symbolic link loop says so") {
  temp_dir dir("loop");
  const std::string d = dir.path.string();
  CHECK(io_error_of([&] { read_path(d); }).find("it is a directory") != std::string::npos);
  fs::create_symlink(dir / "b.json", dir / "a.json");
  fs::create_symlink(dir / "a.json", dir / "b.json");
  // Was "no such file or directory".
  const std::string loop = io_error_of([&] { churn::expand_paths({dir / "a.json"}); });
  CHECK(loop.find("Too many levels of symbolic links") != std::string::npos);
  CHECK(io_error_of([&] { read_path(dir / "a.json"); }).find("Too many levels of symbolic links") != std::string::npos);
  // Inside a directory: an event file that cannot be reached is an error, not silently skipped
  // (and not a filesystem_error from the directory walk).
  write_file(dir / "good.json", slurp(small_log));
  CHECK(io_error_of([&] { churn::expand_paths({d}); }).find(".json': Too many levels of symbolic links") !=
        std::string::npos);
  CHECK(io_error_of([&] { churn::user_features(d); }).find("Too many levels of symbolic links") != std::string::npos);
}

// ---- 4. counts in a model file bounded by the file -----------------------------------------------

TEST_CASE("a model file's n_features is bounded by what the file lists") {
  nlohmann::json j = nlohmann::json::parse(slurp(data_dir + "/../fuzz/corpus/model/tiny.json"));
  j["feature_names"] = nlohmann::json::array();
  j["feature_importances"] = nlohmann::json::array();
  j["n_features"] = (1u << 30) - 1;  // 681 bytes that loaded, then named a billion features
  CHECK_THROWS_WITH_AS(churn::loads(j.dump()),
                       doctest::Contains("model format error at /n_features: 1073741823 features, but neither"),
                       churn::model_format_error);
  j["n_features"] = churn::max_unlisted_features;
  CHECK(churn::loads(j.dump()).n_features() == churn::max_unlisted_features);
  j["n_features"] = churn::max_unlisted_features + 1;
  CHECK_THROWS_AS(churn::loads(j.dump()), churn::model_format_error);
  // A listed count: the list decides, and must match.
  j["feature_importances"] = std::vector<double>(5000, 0.0);
  j["n_features"] = 5000;
  CHECK(churn::loads(j.dump()).n_features() == 5000);
  j["n_features"] = 5001;
  CHECK_THROWS_AS(churn::loads(j.dump()), churn::model_format_error);
}

TEST_CASE("a tree range whose first_tree is near 2^64 is refused (no wrapped sum)") {
  const auto m = churn::loads(slurp(data_dir + "/../fuzz/corpus/model/tiny.json"));
  churn::tree_range part;
  part.trees = m;
  part.first_tree = 0;
  part.tree_importances.assign(m.n_trees() * m.n_features(), 0.0);
  nlohmann::json j = churn::to_json(part);
  REQUIRE_NOTHROW(churn::tree_range_from_json(j));
  j["first_tree"] = std::numeric_limits<std::uint64_t>::max();
  CHECK_THROWS_WITH_AS(churn::tree_range_from_json(j), doctest::Contains("/first_tree"), churn::model_format_error);
}

namespace {

/// Hands out its bytes `step` at a time, like a pipe.
class trickle_source : public churn::detail::byte_source {
 public:
  trickle_source(std::string data, std::size_t step) : data_(std::move(data)), step_(step) {}
  std::size_t preferred_block() const override { return 64; }
  std::size_t read(char* out, std::size_t n) override {
    n = std::min({n, step_, data_.size() - offset_});
    std::memcpy(out, data_.data() + offset_, n);
    offset_ += n;
    return n;
  }
  std::uint64_t input_bytes() const override { return offset_; }

 private:
  std::string data_;
  std::size_t step_;
  std::size_t offset_ = 0;
};

std::vector<std::string> lines_through(churn::detail::byte_source& source) {
  std::vector<std::string> lines;
  churn::detail::for_each_line(
      source, 1 << 20, true,
      [&](const churn::detail::line_view& l) {
        lines.emplace_back(l.data, l.size);
        return true;
      },
      [](std::uint64_t) { return true; }, source.preferred_block());
  return lines;
}

}  // namespace

TEST_CASE("a stream delivering a byte or two a read gives the same lines as memory (BOM included)") {
  // fuzz_limits: "\r\n" then a BOM, read 2 bytes first, lost the BOM of line 2 (stripped as if at the start).
  for (const std::string text : {std::string("\r\n\xEF\xBB\xBFx"), std::string("\xEF\xBB\xBF{\"a\":1}\nb\n"),
                                 std::string("\xEF\xBB"), std::string("a\n\xEF\xBB\xBF\n")}) {
    churn::detail::memory_source whole(text);
    const auto expected = lines_through(whole);
    for (std::size_t step : {1, 2, 3, 5, 64}) {
      CAPTURE(step);
      trickle_source trickle(text, step);
      CHECK(lines_through(trickle) == expected);
    }
  }
}
