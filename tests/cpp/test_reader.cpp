#include <doctest/doctest.h>

#include <zlib.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <churn/event_table.hpp>
#include <churn/reader.hpp>
#include <churn/scan.hpp>

namespace fs = std::filesystem;

namespace {

const std::string data_dir = CHURN_TEST_DATA_DIR;

std::vector<churn::event> read_all(const std::string& path, const churn::read_options& options = {},
                                   churn::read_report* report = nullptr) {
  std::vector<churn::event> events;
  auto r = churn::read_file(
      path, [&](const churn::event& e) { events.push_back(e); }, options);
  if (report) *report = r;
  return events;
}

std::vector<churn::event> read_text(const std::string& text, const churn::read_options& options = {},
                                    churn::read_report* report = nullptr) {
  std::vector<churn::event> events;
  auto r = churn::read_buffer(
      text, [&](const churn::event& e) { events.push_back(e); }, options, "test.jsonl");
  if (report) *report = r;
  return events;
}

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("churn_test_reader_" + std::to_string(::getpid()) + "_" + name)).string();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

void check_quirks(const std::vector<churn::event>& events) {
  REQUIRE(events.size() == 3);
  const auto& song = events[0];
  CHECK(song.ts == 1538352117000);
  CHECK(song.user_id == "30");
  CHECK(song.session_id == 29);
  CHECK(song.page == churn::page::next_song);
  CHECK(song.auth == churn::auth::logged_in);
  CHECK(song.method == churn::http_method::put);
  CHECK(song.status == 200);
  CHECK(song.level == churn::level::paid);
  CHECK(song.item_in_session == 50);
  CHECK(song.location == "Bakersfield, CA");
  CHECK(song.last_name == "Freeman");
  CHECK(song.first_name == "Colin");
  CHECK(song.registration == 1538173362000);
  CHECK(song.gender == "M");
  CHECK(song.artist == "Martha Tilston");
  CHECK(song.song == "Rockpools");
  CHECK(song.length == doctest::Approx(277.89016));

  const auto& anonymous = events[1];  // other key order, nulls, floats for integers, empty userId
  CHECK(anonymous.user_id.empty());
  CHECK_FALSE(anonymous.has_user());
  CHECK(anonymous.ts == 1538352118000);
  CHECK(anonymous.session_id == 30);
  CHECK(anonymous.auth == churn::auth::logged_out);
  CHECK(anonymous.registration == churn::missing_int);
  CHECK(std::isnan(anonymous.length));
  CHECK(anonymous.artist.empty());

  const auto& unknown = events[2];  // unknown page kept, numeric userId, missing keys, exponent float
  CHECK(unknown.page == churn::page::unknown);
  CHECK(unknown.page_name == "Mystery Page");
  CHECK(unknown.user_id == "9");
  CHECK(unknown.registration == 1538173362000);
  CHECK(unknown.session_id == churn::missing_int);
  CHECK(unknown.auth == churn::auth::unknown);
}

}  // namespace

TEST_CASE("the reader's simdjson kernel is the host's SIMD when CHURN_SIMD asks for it") {
  const std::string kernel = churn::simd_kernel();
  CHECK((kernel == "fallback" || kernel == "westmere" || kernel == "haswell" || kernel == "icelake" ||
         kernel == "arm64" || kernel == "ppc64"));
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  const bool host_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") &&
                         __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("pclmul");
  if (CHURN_TEST_SIMD_REQUESTED && host_avx2) {
    // CMakeLists.txt's host check once compared a movemask that is always 0 with -1: never AVX2.
    CHECK((kernel == "haswell" || kernel == "icelake"));
  }
  if (!CHURN_TEST_SIMD_REQUESTED) CHECK((kernel == "fallback" || kernel == "westmere"));
#endif
}

TEST_CASE("quirks of real files: BOM, CRLF, blank lines, key order, nulls, floats, missing keys") {
  churn::read_report report;
  check_quirks(read_all(data_dir + "/events/quirks.jsonl", {}, &report));
  CHECK(report.lines == 5);
  CHECK(report.events == 3);
  CHECK(report.blank_lines == 2);
  CHECK(report.bad_lines == 0);
}

TEST_CASE("gzip files give the same events as plain ones") {
  churn::read_report report;
  check_quirks(read_all(data_dir + "/events/quirks.jsonl.gz", {}, &report));
  CHECK(report.events == 3);
  std::ifstream plain(data_dir + "/events/quirks.jsonl", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(plain)), std::istreambuf_iterator<char>());
  CHECK(report.bytes == text.size());
}

TEST_CASE("strict mode names file, line, field and reason of the first bad line") {
  const std::string path = data_dir + "/events/errors.jsonl";
  try {
    read_all(path);
    FAIL("expected a parse_error");
  } catch (const churn::parse_error& e) {
    CHECK(e.file() == path);
    CHECK(e.line() == 2);
    CHECK(e.field().empty());
    CHECK(std::string(e.what()).find("at line 2") != std::string::npos);
    CHECK(e.reason().find("invalid JSON") == 0);
  }
}

TEST_CASE("each kind of bad line has its own message") {
  struct bad_case {
    std::string line;
    std::string field;
    std::string reason;
  };
  const bad_case cases[] = {
      {R"({"ts":"3","page":"Home"})", "ts", "expected an integer, got a string"},
      {R"({"ts":4})", "page", "missing required field"},
      {R"({"page":"Home"})", "ts", "missing required field"},
      {R"([1,2])", "", "expected a JSON object, got an array"},
      {R"(null)", "", "expected a JSON object, got null"},
      {R"(42)", "", "expected a JSON object, got a number"},
      {R"("x")", "", "expected a JSON object, got a string"},
      // Text that is not JSON at all, whatever its first letter suggests (n: null, t/f: a boolean).
      {R"(not json at all)", "", "not JSON (expected a JSON object)"},
      {R"(nothing here)", "", "not JSON (expected a JSON object)"},
      {R"(the end)", "", "not JSON (expected a JSON object)"},
      {R"(false alarm)", "", "not JSON (expected a JSON object)"},
      {R"(12 monkeys)", "", "not JSON (expected a JSON object)"},
      {R"("quoted" text)", "", "not JSON (expected a JSON object)"},
      {R"({"ts":5,"page":"Home"} {"ts":6})", "", "unexpected content after the JSON object"},
      {R"({"ts":5,"page":"Home"} x)", "",
       "invalid JSON (JSON document ended early in the middle of an object or array.)"},
      {R"({"ts":6,"page":"Home","length":"long"})", "length", "expected a number, got a string"},
      {R"({"ts":7,"page":"Home","status":200.5})", "status", "expected an integer, got the number 200.5"},
      {R"({"ts":null,"page":"Home"})", "ts", "required field is null"},
      {R"({"ts":8,"page":null})", "page", "required field is null"},
      {R"({"ts":9,"page":"Home","userId":true})", "userId", "expected a string, got a boolean"},
      {R"({"ts":10,"page":"Home","length":-1})", "length", "expected a finite, non-negative number of seconds"},
      {R"({"ts":11,"page":"Home","sessionId":99999999999999999999})", "sessionId",
       "invalid number (Problem while parsing a number)"},
      {R"({"ts":-9223372036854775808,"page":"Home"})", "ts", "integer out of range"},
      {R"({"ts":12,"page":"Home","registration":1.5e300})", "registration",
       "expected an integer, got the number 1.5000000000000001e+300"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.line);
    try {
      read_text("{\"ts\":1,\"page\":\"Home\"}\n" + c.line + "\n");
      FAIL("expected a parse_error");
    } catch (const churn::parse_error& e) {
      CHECK(e.file() == "test.jsonl");
      CHECK(e.line() == 2);
      CHECK(e.field() == c.field);
      CHECK(e.reason() == c.reason);
    }
  }
}

TEST_CASE("lenient mode skips bad lines, counts them by reason and keeps example line numbers") {
  churn::read_options lenient;
  lenient.strict = false;
  churn::read_report report;
  auto events = read_all(data_dir + "/events/errors.jsonl", lenient, &report);
  REQUIRE(events.size() == 2);
  CHECK(events[0].ts == 1);
  CHECK(events[1].ts == 8);
  CHECK(report.lines == 9);
  CHECK(report.events == 2);
  CHECK(report.bad_lines == 7);
  CHECK(report.bad_by_reason.at("page: missing required field") == 1);
  CHECK(report.bad_by_reason.at("ts: expected an integer, got a string") == 1);
  std::uint64_t counted = 0;
  for (const auto& entry : report.bad_by_reason) counted += entry.second;
  CHECK(counted == report.bad_lines);
  REQUIRE(report.examples.size() == 7);
  CHECK(report.examples.front().first == 2);
  CHECK(report.examples.back().first == 8);
  CHECK(report.summary().find("7 bad") != std::string::npos);
}

TEST_CASE("over-long lines are bad lines, not a memory blow-up") {
  churn::read_options options;
  options.max_line_bytes = 64;
  options.strict = false;
  std::string big = "{\"ts\":1,\"page\":\"Home\",\"song\":\"" + std::string(10000, 'x') + "\"}";
  churn::read_report report;
  auto events = read_text("{\"ts\":1,\"page\":\"Home\"}\n" + big + "\n{\"ts\":2,\"page\":\"Home\"}", options, &report);
  CHECK(events.size() == 2);
  CHECK(report.bad_lines == 1);
  CHECK(report.examples.at(0).first == 2);
  options.strict = true;
  CHECK_THROWS_AS(read_text(big, options), churn::parse_error);
}

TEST_CASE("lines longer than the input block are read whole") {
  std::string song(9 << 20, 'a');  // longer than the 4 MB block
  auto events = read_text("{\"ts\":1,\"page\":\"NextSong\",\"song\":\"" + song + "\"}\n{\"ts\":2,\"page\":\"Home\"}");
  REQUIRE(events.size() == 2);
  CHECK(events[0].song.size() == song.size());
  CHECK(events[1].ts == 2);
}

TEST_CASE("escaped strings are unescaped") {
  auto events = read_text(R"({"ts":1,"page":"Home","userAgent":"Mozilla\/5.0 \"quoted\"","lastName":"M\u00fcller"})");
  REQUIRE(events.size() == 1);
  CHECK(events[0].user_agent == "Mozilla/5.0 \"quoted\"");
  CHECK(events[0].last_name == "M\xC3\xBCller");
}

TEST_CASE("a missing file is an io_error naming it") {
  try {
    read_all("/nonexistent/events.json");
    FAIL("expected io_error");
  } catch (const churn::io_error& e) {
    CHECK(std::string(e.what()).find("/nonexistent/events.json") != std::string::npos);
  }
}

TEST_CASE("a truncated gzip file is an io_error") {
  std::ifstream in(data_dir + "/events/quirks.jsonl.gz", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto path = temp_path("truncated.jsonl.gz");
  write_file(path, bytes.substr(0, bytes.size() / 2));
  CHECK_THROWS_AS(read_all(path), churn::error);
  fs::remove(path);
}

TEST_CASE("parallel reading without a sink is a parameter_error (a churn::error)") {
  std::vector<std::function<void(const churn::event&)>> none;
  CHECK_THROWS_WITH_AS(churn::read_file_parallel("any.json", none),
                       "invalid value for parameter 'sinks': an empty vector (allowed: at least one sink)",
                       churn::parameter_error);
  CHECK_THROWS_AS(churn::read_files_parallel({"any.json"}, none), churn::parameter_error);
}

TEST_CASE("parallel reading gives the same events and counts for any number of threads") {
  std::mt19937 rng(7);
  std::string text;
  std::vector<std::int64_t> expected;
  for (int i = 0; i < 5000; ++i) {
    if (rng() % 97 == 0) text += "\n";
    if (rng() % 101 == 0) {
      text += "{not json}\n";
      continue;
    }
    text += "{\"ts\":" + std::to_string(i) + ",\"page\":\"Home\",\"userId\":\"" + std::to_string(rng() % 50) + "\"}\n";
    expected.push_back(i);
  }
  auto path = temp_path("parallel.jsonl");
  write_file(path, text);
  churn::read_options lenient;
  lenient.strict = false;
  churn::read_report serial = churn::read_file(
      path, [](const churn::event&) {}, lenient);
  for (std::size_t threads : {1u, 2u, 3u, 8u}) {
    CAPTURE(threads);
    std::vector<std::vector<std::int64_t>> seen(threads);
    std::vector<std::function<void(const churn::event&)>> sinks;
    for (std::size_t t = 0; t < threads; ++t)
      sinks.emplace_back([&seen, t](const churn::event& e) { seen[t].push_back(e.ts); });
    auto report = churn::read_file_parallel(path, sinks, lenient);
    std::vector<std::int64_t> all;
    for (auto& part : seen) all.insert(all.end(), part.begin(), part.end());
    CHECK(all == expected);
    CHECK(report.lines == serial.lines);
    CHECK(report.bad_lines == serial.bad_lines);
    CHECK(report.blank_lines == serial.blank_lines);
    CHECK(report.examples == serial.examples);
  }
  // Strict mode reports the first bad line of the whole file, whatever the split.
  std::size_t first_bad = 0;
  {
    try {
      churn::read_file(path, [](const churn::event&) {});
    } catch (const churn::parse_error& e) {
      first_bad = e.line();
    }
  }
  REQUIRE(first_bad > 0);
  for (std::size_t threads : {2u, 4u}) {
    std::vector<std::function<void(const churn::event&)>> sinks(threads, [](const churn::event&) {});
    try {
      churn::read_file_parallel(path, sinks);
      FAIL("expected a parse_error");
    } catch (const churn::parse_error& e) {
      CHECK(e.line() == first_bad);
    }
  }
  fs::remove(path);
}

TEST_CASE("event_table stores every field and rebuilds the events") {
  churn::event_table table;
  auto events = read_all(data_dir + "/events/quirks.jsonl");
  for (const auto& e : events) table.push_back(e);
  REQUIRE(table.size() == 3);
  CHECK(table.page.codes[0] == static_cast<int>(churn::page::next_song));
  CHECK(table.page.codes[2] == static_cast<int>(churn::known_page_count));  // first unknown name
  CHECK(table.page.category(table.page.category_count() - 1) == "Mystery Page");
  CHECK(table.auth.codes[0] == static_cast<int>(churn::auth::logged_in));
  // Null or absent strings are nulls, apart from empty ones: userId "" is a value, gender null is not.
  CHECK(table.user_id[1] == "");
  CHECK_FALSE(table.user_id.is_null(1));
  CHECK(table.gender.is_null(1));
  CHECK(table.auth.is_null(2));
  CHECK(table.location.is_null(1));
  for (std::size_t i = 0; i < events.size(); ++i) {
    auto back = table.at(i);
    CHECK(back.ts == events[i].ts);
    CHECK(back.user_id == events[i].user_id);
    CHECK(back.page_name == events[i].page_name);
    CHECK(back.auth == events[i].auth);
    CHECK(back.song == events[i].song);
    CHECK(back.registration == events[i].registration);
    CHECK(back.present == events[i].present);
  }
}

TEST_CASE("the parser tells null and absent fields from empty strings, and keeps unknown auth, method and level") {
  auto events = read_text(
      "{\"ts\":1,\"page\":\"Home\",\"userId\":\"\",\"artist\":null,\"auth\":\"Banned\",\"method\":\"POST\","
      "\"level\":\"gold\",\"gender\":\"F\",\"gender\":null}\n");
  REQUIRE(events.size() == 1);
  const auto& e = events[0];
  CHECK(e.has(1));         // userId "" is there
  CHECK_FALSE(e.has(15));  // artist null
  CHECK_FALSE(e.has(16));  // song absent
  CHECK_FALSE(e.has(14));  // gender: the later duplicate key, null, is the one kept
  CHECK((e.auth == churn::auth::unknown && e.auth_name == "Banned"));
  CHECK((e.method == churn::http_method::unknown && e.method_name == "POST"));
  CHECK((e.level == churn::level::unknown && e.level_name == "gold"));
  churn::event_table table;
  table.push_back(e);
  CHECK(table.auth[0] == "Banned");
  CHECK(table.auth.codes[0] == static_cast<int>(churn::auth_names.size()));
  CHECK(table.artist.is_null(0));
  CHECK(table.song.is_null(0));
  CHECK(table.user_id[0] == "");
  CHECK_FALSE(table.user_id.is_null(0));
}

TEST_CASE("a dictionary column interns values, grows its index and merges another in order") {
  churn::dictionary_column a, b;
  for (int i = 0; i < 5000; ++i) a.push_back("v" + std::to_string(i % 1000));
  a.push_null();
  CHECK(a.category_count() == 1000);
  CHECK(a.codes[1234] == 234);
  CHECK(a[1234] == "v234");
  CHECK(a.is_null(5000));
  CHECK(a.offsets().size() == 1001);
  CHECK(std::string(a.bytes().data() + a.offsets()[10], a.bytes().data() + a.offsets()[11]) == "v10");
  for (int i = 1500; i >= 500; --i) b.push_back("v" + std::to_string(i));
  b.push_null();
  a.append(std::move(b));
  CHECK(b.size() == 0);
  REQUIRE(a.size() == 5001 + 1002);
  CHECK(a.category_count() == 1501);
  CHECK(a[5001] == "v1500");
  CHECK(a.codes[5001] == 1000);  // new values after the old ones, in order of first appearance
  CHECK(a[5001 + 1000] == "v500");
  CHECK(a.codes[5001 + 1000] == 500);
  CHECK(a.is_null(a.size() - 1));
}

namespace {
/// The events of a log with one table per event, through a serial read.
churn::event_table serial_table(const std::string& path, bool strict = true, churn::read_report* report = nullptr) {
  churn::event_table table;
  churn::read_options options;
  options.strict = strict;
  auto r = churn::read_file(
      path, [&](const churn::event& e) { table.push_back(e); }, options);
  if (report) *report = r;
  return table;
}

void check_same_table(const churn::event_table& a, const churn::event_table& b) {
  REQUIRE(a.size() == b.size());
  const auto ca = a.columns(), cb = b.columns();
  for (std::size_t c = 0; c < ca.size(); ++c) {
    INFO("column " << ca[c].name);
    if (ca[c].ints) CHECK(*ca[c].ints == *cb[c].ints);
    if (ca[c].floats)
      for (std::size_t i = 0; i < a.size(); ++i)
        CHECK(((*ca[c].floats)[i] == (*cb[c].floats)[i] ||
               (std::isnan((*ca[c].floats)[i]) && std::isnan((*cb[c].floats)[i]))));
    if (ca[c].strings) {
      CHECK(ca[c].strings->codes == cb[c].strings->codes);  // the same codes, not only the same values
      CHECK(ca[c].strings->categories() == cb[c].strings->categories());
    }
  }
}

std::string varied_log(int n, int bad_every = 0) {
  std::string text;
  const char* pages[] = {"NextSong", "Home", "Thumbs Up", "Odd Page"};
  for (int i = 0; i < n; ++i) {
    if (bad_every && i % bad_every == bad_every - 1) {
      text += "{\"ts\":" + std::to_string(i) + ",\"page\":\"Home\",\"status\":\"x\"}\n";
      continue;
    }
    text += "{\"ts\":" + std::to_string(i) + ",\"userId\":\"" + (i % 7 ? std::to_string(i % 101) : "") +
            "\",\"page\":\"" + pages[i % 4] + "\"" + (i % 5 ? ",\"artist\":\"a" + std::to_string(i % 333) + "\"" : "") +
            (i % 3 ? ",\"length\":" + std::to_string(i % 400) + ".5" : ",\"length\":null") +
            (i % 11 ? ",\"sessionId\":" + std::to_string(i / 10) : "") + "}\n";
    if (i % 97 == 0) text += "\n";
  }
  return text;
}
}  // namespace

TEST_CASE("a file alone is cut into a multiple of the threads' pieces of about equal size") {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "{\"ts\":" + std::to_string(i) + ",\"page\":\"Home\",\"userId\":\"1\"}\n";
  auto path = temp_path("balanced.jsonl");
  write_file(path, text);
  const std::uint64_t size = text.size();
  // 5 pieces of size / 5 on 2 threads kept one thread alone for the last; now 6 (and 5 on 1 or 5 threads).
  for (std::size_t threads : {1u, 2u, 3u, 5u, 8u}) {
    CAPTURE(threads);
    const auto pieces = churn::plan_pieces({path}, size / 5 + 1, threads);
    const std::size_t want = (5 + threads - 1) / threads * threads;
    REQUIRE(pieces.size() == want);
    std::uint64_t covered = 0;
    for (const auto& p : pieces) {
      CHECK(p.begin == covered);
      covered = p.end;
      // Cut at line boundaries into about size / want bytes each (a line is ~40 bytes).
      CHECK(std::llabs(static_cast<long long>(p.end - p.begin) - static_cast<long long>(size / want)) < 100);
    }
    CHECK(covered == size);
  }
  // Several files: pieces of about piece_bytes each, whatever the threads.
  CHECK(churn::plan_pieces({path, path}, size / 5 + 1, 2).size() == 10);
  fs::remove(path);
}

TEST_CASE("read_event_table gives the serial table, codes included, for any number of threads and pieces") {
  const std::string path = temp_path("table.jsonl");
  write_file(path, varied_log(20000));
  churn::read_report serial_report;
  const churn::event_table serial = serial_table(path, true, &serial_report);
  for (unsigned threads : {1u, 2u, 3u}) {
    for (std::uint64_t piece : {std::uint64_t(0), std::uint64_t(4096), std::uint64_t(100000)}) {
      INFO("threads " << threads << ", piece_bytes " << piece);
      churn::event_table table;
      churn::read_options options;
      options.threads = threads;
      auto report = churn::read_event_table({path}, table, options, piece);
      check_same_table(table, serial);
      CHECK(report.events == serial_report.events);
      CHECK(report.lines == serial_report.lines);
      CHECK(report.blank_lines == serial_report.blank_lines);
      CHECK(report.source == path);
    }
  }
  fs::remove(path);
}

TEST_CASE("read_event_table: a bad line in any piece is reported with its line in the whole file") {
  const std::string path = temp_path("table_bad.jsonl");
  const std::string text = varied_log(20000, 6007);  // bad lines in later pieces: 6007th, 12014th, ... event
  write_file(path, text);
  churn::read_report serial_report;
  serial_table(path, false, &serial_report);
  REQUIRE(serial_report.bad_lines == 3);
  const std::uint64_t first_bad = serial_report.examples.at(0).first;
  for (std::uint64_t piece : {std::uint64_t(4096), std::uint64_t(50000)}) {
    churn::read_options options;
    options.threads = 2;
    churn::event_table table;
    try {
      churn::read_event_table({path}, table, options, piece);
      FAIL("no error");
    } catch (const churn::parse_error& e) {
      CHECK(e.line() == first_bad);
      CHECK(e.field() == "status");
      CHECK(e.file() == path);
    }
    options.strict = false;
    churn::event_table lenient;
    auto report = churn::read_event_table({path}, lenient, options, piece);
    CHECK(report.bad_lines == 3);
    CHECK(report.examples == serial_report.examples);
    CHECK(lenient.size() == serial_report.events);
  }
  fs::remove(path);
}

TEST_CASE("read_event_table reads several files, gzip whole, with one report per file") {
  const std::string a = temp_path("ta.jsonl"), b = temp_path("tb.jsonl.gz");
  write_file(a, varied_log(3000));
  const std::string text_b = varied_log(2000);
  {
    gzFile gz = gzopen(b.c_str(), "wb");
    gzwrite(gz, text_b.data(), static_cast<unsigned>(text_b.size()));
    gzclose(gz);
  }
  churn::event_table both;
  churn::read_options options;
  options.threads = 2;
  auto report = churn::read_event_table({a, b}, both, options, 4096);
  churn::event_table serial = serial_table(a);
  serial.append(serial_table(b));
  check_same_table(both, serial);
  REQUIRE(report.files.size() == 2);
  CHECK(report.files[1].source == b);
  CHECK(report.events == both.size());
  fs::remove(a);
  fs::remove(b);
}

TEST_CASE("the real Sparkify sample parses with zero bad lines") {
  const fs::path dir = fs::path(CHURN_SHARED_DATA_DIR) / "sparkify/udacity-dend-log_data/2018/11";
  if (!fs::exists(dir)) {
    MESSAGE("shared data not found at " << dir.string() << "; skipping");
    return;
  }
  churn::scan_summary total;
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    churn::read_options options;
    options.threads = 2;
    auto summary = churn::scan_file(entry.path().string(), options);  // strict: throws on a bad line
    CHECK(summary.report.bad_lines == 0);
    total.merge(summary);
    total.report.merge(summary.report);
    ++files;
  }
  total.finish();
  CHECK(files == 30);
  CHECK(total.events == 8056);
  CHECK(total.anonymous_events == 286);
  CHECK(total.users.size() == 97);
  CHECK(total.sessions == 911);
  CHECK(total.churned_users.empty());
  CHECK(total.report.bad_lines == 0);
  CHECK(total.pages.size() == 13);
}

TEST_CASE("several files and folders, plain and gzip, read in parallel with per-file line numbers") {
  const fs::path dir = fs::temp_directory_path() / ("churn_test_reader_dir_" + std::to_string(::getpid()));
  fs::create_directories(dir / "part" / "_temporary");
  std::string a, b;
  for (int i = 0; i < 3000; ++i) a += "{\"ts\":" + std::to_string(i) + ",\"page\":\"Home\"}\n";
  for (int i = 3000; i < 4000; ++i) b += "{\"ts\":" + std::to_string(i) + ",\"page\":\"NextSong\"}\n";
  write_file((dir / "a.json").string(), a);
  {
    gzFile gz = gzopen((dir / "part" / "b.jsonl.gz").string().c_str(), "wb");
    gzwrite(gz, b.data(), static_cast<unsigned>(b.size()));
    gzclose(gz);
  }
  write_file((dir / "part" / "_SUCCESS").string(), "");
  write_file((dir / "part" / "_temporary" / "x.json").string(), "not json\n");
  write_file((dir / "notes.txt").string(), "not events\n");

  auto files = churn::expand_paths({dir.string()});
  REQUIRE(files.size() == 2);
  CHECK(fs::path(files[0]).filename() == "a.json");
  CHECK(fs::path(files[1]).filename() == "b.jsonl.gz");
  CHECK_THROWS_AS(churn::expand_paths({(dir / "missing").string()}), churn::io_error);

  for (std::size_t threads : {1u, 2u, 3u}) {
    CAPTURE(threads);
    std::vector<std::int64_t> sums(threads, 0), counts(threads, 0);
    std::vector<std::function<void(const churn::event&)>> sinks;
    for (std::size_t t = 0; t < threads; ++t)
      sinks.emplace_back([&, t](const churn::event& e) {
        sums[t] += e.ts;
        ++counts[t];
      });
    std::atomic<std::uint64_t> progress_bytes{0}, progress_events{0};
    churn::read_options options;
    options.on_progress = [&](std::uint64_t bytes, std::uint64_t events) {
      progress_bytes += bytes;
      progress_events += events;
    };
    auto report = churn::read_files_parallel(files, sinks, options, 4096);  // small pieces: many per file
    std::int64_t sum = 0, count = 0;
    for (std::size_t t = 0; t < threads; ++t) {
      sum += sums[t];
      count += counts[t];
    }
    CHECK(count == 4000);
    CHECK(sum == 3999 * 4000 / 2);
    CHECK(report.events == 4000);
    CHECK(report.files.size() == 2);
    CHECK(report.files[0].lines == 3000);
    CHECK(report.files[1].lines == 1000);
    CHECK(progress_events.load() == 4000);
    // Progress counts bytes on disk: the gzip file's compressed size, so a bar reaches 100% at the end.
    CHECK(progress_bytes.load() == a.size() + fs::file_size(dir / "part" / "b.jsonl.gz"));
    CHECK(fs::file_size(dir / "part" / "b.jsonl.gz") < b.size() / 4);
  }

  // scan_files takes the folder like the feature reader does: a total and one summary per file.
  std::vector<churn::scan_summary> per_file;
  auto scanned = churn::scan_files({dir.string()}, {}, &per_file);
  CHECK(scanned.events == 4000);
  REQUIRE(per_file.size() == 2);
  CHECK(per_file[0].events == 3000);
  CHECK(per_file[1].events == 1000);
  CHECK(scanned.report.files.size() == 2);
  CHECK(scanned.report.source == "2 files");

  // A bad line deep in the second piece of the plain file: its number is that of the whole file.
  std::string bad = a;
  bad.replace(bad.find("{\"ts\":2500,"), 10, "{\"ts\":\"x\",");
  write_file((dir / "a.json").string(), bad);
  std::vector<std::function<void(const churn::event&)>> sinks(2, [](const churn::event&) {});
  try {
    churn::read_files_parallel(files, sinks, {}, 4096);
    FAIL("expected a parse_error");
  } catch (const churn::parse_error& e) {
    CHECK(e.line() == 2501);
    CHECK(e.file() == files[0]);
    CHECK(e.field() == "ts");
  }
  churn::read_options lenient;
  lenient.strict = false;
  auto report = churn::read_files_parallel(files, sinks, lenient, 4096);
  CHECK(report.bad_lines == 1);
  REQUIRE(report.files[0].examples.size() == 1);
  CHECK(report.files[0].examples[0].first == 2501);
  CHECK(report.summary().find("a.json") != std::string::npos);

  // The same pieces read one by one (as cluster tasks do) and joined give the same report and error.
  const auto pieces = churn::plan_pieces(files, 4096);
  REQUIRE(pieces.size() > 3);
  CHECK(pieces.back().whole);
  CHECK(pieces[0].begin == 0);
  std::vector<churn::read_report> parts;
  std::vector<bool> starts;
  for (const auto& p : pieces) {
    if (!p.whole && p.begin > 0) CHECK(bad[p.begin - 1] == '\n');
    parts.push_back(churn::read_piece(
        p, [](const churn::event&) {}, lenient));
    parts.back().source = p.path;
    starts.push_back(p.whole || p.begin == 0);
  }
  const auto joined = churn::join_piece_reports(parts, 5, "files", starts);
  CHECK(joined.summary() == report.summary());
  CHECK(joined.files[0].examples == report.files[0].examples);
  bool raised = false;
  for (const auto& p : pieces) {
    try {
      churn::read_piece(p, [](const churn::event&) {});
    } catch (const churn::parse_error& e) {
      raised = true;
      CHECK(e.line() == 2501);
      CHECK(e.file() == files[0]);
    }
  }
  CHECK(raised);
  CHECK_THROWS_AS(churn::plan_pieces(files, 0), churn::parameter_error);
  fs::remove_all(dir);
}

TEST_CASE("skip_names_and_songs leaves names and song empty but rejects the same lines") {
  churn::read_options skip;
  skip.skip_names_and_songs = true;
  const std::string good =
      R"({"ts":1,"page":"NextSong","song":"A \"song\"","firstName":"Ann","lastName":"M\u00fcller","artist":"X","userAgent":"UA"})";
  auto full = read_text(good);
  auto lean = read_text(good, skip);
  REQUIRE(full.size() == 1);
  REQUIRE(lean.size() == 1);
  CHECK(full[0].song == "A \"song\"");
  CHECK(lean[0].song.empty());
  CHECK(lean[0].first_name.empty());
  CHECK(lean[0].last_name.empty());
  CHECK(lean[0].artist == "X");
  CHECK(lean[0].user_agent == "UA");
  CHECK(lean[0].page == churn::page::next_song);
  const std::string bad_lines[] = {
      R"({"ts":2,"page":"Home","song":5})",
      R"({"ts":3,"page":"Home","firstName":["a"]})",
      R"({"ts":4,"page":"Home","lastName":"bad \x escape"})",
      R"({"ts":5,"page":"Home","song":"bad \u12 escape"})",
  };
  for (const auto& line : bad_lines) {
    CAPTURE(line);
    std::string field_full, field_lean, reason_full, reason_lean;
    try {
      read_text(line);
      FAIL("expected a parse_error");
    } catch (const churn::parse_error& e) {
      field_full = e.field();
      reason_full = e.reason();
    }
    try {
      read_text(line, skip);
      FAIL("expected a parse_error");
    } catch (const churn::parse_error& e) {
      field_lean = e.field();
      reason_lean = e.reason();
    }
    CHECK(field_lean == field_full);
    CHECK(reason_lean == reason_full);
  }
}

TEST_CASE("keys and strings read in place: escapes, spaces around values and keys that need unescaping") {
  auto events = read_text(
      "{ \"t\\u0073\" : 5 , \"page\" :\t\"NextSong\"  , \"userId\" : \"7\" ,\"artist\":\"A\\\\B\",\"song\":\"\","
      "\"location\" : \"Dallas, TX\" }");
  REQUIRE(events.size() == 1);
  CHECK(events[0].ts == 5);
  CHECK(events[0].page == churn::page::next_song);
  CHECK(events[0].user_id == "7");
  CHECK(events[0].artist == "A\\B");
  CHECK(events[0].song.empty());
  CHECK(events[0].location == "Dallas, TX");
}

TEST_CASE("strings read in place still reject raw control characters and invalid UTF-8") {
  const std::string lines[] = {
      std::string("{\"ts\":1,\"page\":\"Home\",\"location\":\"a\tb\"}"),
      std::string("{\"ts\":1,\"page\":\"Home\",\"location\":\"a\x01") + "b\"}",
      std::string("{\"ts\":1,\"page\":\"Home\",\"location\":\"\xff\xfe\"}"),
      std::string("{\"ts\":1,\"pa\tge\":\"Home\"}"),
  };
  for (const auto& line : lines) {
    CAPTURE(line);
    CHECK_THROWS_AS(read_text(line), churn::parse_error);
  }
}
