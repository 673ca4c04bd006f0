#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <churn/feature_csv.hpp>
#include <churn/features.hpp>
#include <churn/reader.hpp>
#include <churn/simulate.hpp>

namespace {

using churn::page;
constexpr std::int64_t day_ms = churn::ms_per_day;
const std::int64_t T = churn::parse_cutoff("2018-11-15");  // the fixture's cutoff

// Time `d` days (negative: before) from the cutoff, at hh:mm:ss UTC.
std::int64_t at(int d, int hh, int mm, int ss = 0) {
  return T + d * day_ms + (hh * 3600 + mm * 60 + ss) * std::int64_t(1000);
}

struct fixture_user {
  std::string id, gender, location, agent;
  std::int64_t registration = churn::missing_int;
};

churn::event make(const fixture_user& u, std::int64_t ts, std::int64_t sid, page p, churn::level lv,
                  const std::string& artist = "", double length = 0) {
  churn::event e;
  e.ts = ts;
  e.user_id = u.id;
  e.session_id = sid;
  e.page = p;
  e.page_name = std::string(churn::to_string(p));
  e.auth = churn::auth::logged_in;
  e.level = lv;
  e.gender = u.gender;
  e.location = u.location;
  e.user_agent = u.agent;
  e.registration = u.registration;
  if (p == page::next_song) {
    e.artist = artist;
    e.song = "song by " + artist;
    e.length = length;
  }
  return e;
}

const std::string mac_chrome =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_4) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/36.0.1985.143 Safari/537.36";
const std::string windows_firefox = "Mozilla/5.0 (Windows NT 6.1; WOW64; rv:31.0) Gecko/20100101 Firefox/31.0";

// A small log whose every feature value for users "7" and "10" is worked out by hand below.
std::vector<churn::event> fixture() {
  using churn::level;
  std::vector<churn::event> ev;
  fixture_user u7{"7", "F", "Boston-Cambridge-Newton, MA-NH", mac_chrome, T - 100 * day_ms};
  // Session 10, day -20: 7 events, 2 songs, 6.5 minutes.
  ev.push_back(make(u7, at(-20, 10, 0), 10, page::home, level::free));
  ev.push_back(make(u7, at(-20, 10, 0), 10, page::next_song, level::free, "A", 200));
  ev.push_back(make(u7, at(-20, 10, 3, 20), 10, page::next_song, level::free, "B", 100));
  ev.push_back(make(u7, at(-20, 10, 5), 10, page::thumbs_up, level::free));
  ev.push_back(make(u7, at(-20, 10, 5), 10, page::roll_advert, level::free));
  ev.push_back(make(u7, at(-20, 10, 6), 10, page::help, level::free));
  ev.push_back(make(u7, at(-20, 10, 6, 30), 10, page::about, level::free));
  // Session 20 crosses midnight (day -10 23:50 to day -9 00:20): 5 events, 2 songs, an upgrade.
  ev.push_back(make(u7, at(-10, 23, 50), 20, page::next_song, level::free, "A", 300));
  ev.push_back(make(u7, at(-10, 23, 55), 20, page::submit_upgrade, level::free));
  ev.push_back(make(u7, at(-10, 23, 55, 1), 20, page::home, level::paid));
  ev.push_back(make(u7, at(-9, 0, 10), 20, page::next_song, level::paid, "C", 240));
  ev.push_back(make(u7, at(-9, 0, 20), 20, page::thumbs_down, level::paid));
  // Session 30, day -3: a 40-minute silence splits it in two (gap rule, 30 minutes).
  ev.push_back(make(u7, at(-3, 12, 0), 30, page::next_song, level::paid, "D", 180));
  ev.push_back(make(u7, at(-3, 12, 40), 30, page::next_song, level::paid, "A", 180));
  ev.push_back(make(u7, at(-3, 12, 41), 30, page::add_to_playlist, level::paid));
  ev.push_back(make(u7, at(-3, 12, 42), 30, page::add_friend, level::paid));
  ev.push_back(make(u7, at(-3, 12, 43), 30, page::error, level::paid));
  ev.push_back(make(u7, at(-3, 12, 44), 30, page::settings, level::paid));
  ev.push_back(make(u7, at(-3, 12, 45), 30, page::save_settings, level::paid));
  ev.push_back(make(u7, at(-3, 12, 46), 30, page::downgrade, level::paid));
  ev.push_back(make(u7, at(-3, 12, 47), 30, page::upgrade, level::paid));
  // After the cutoff: more activity, then the cancellation (label 1 with a 30-day horizon).
  ev.push_back(make(u7, at(1, 9, 0), 40, page::thumbs_up, level::paid));
  ev.push_back(make(u7, at(2, 9, 0), 50, page::next_song, level::paid, "E", 100));
  ev.push_back(make(u7, at(2, 9, 1), 50, page::cancel, level::paid));
  auto confirm = make(u7, at(2, 9, 1, 1), 50, page::cancellation_confirmation, level::paid);
  confirm.auth = churn::auth::cancelled;
  ev.push_back(confirm);

  // "8" cancelled before the cutoff: left out.
  fixture_user u8{"8", "M", "Austin, TX", mac_chrome, T - 10 * day_ms};
  ev.push_back(make(u8, at(-6, 8, 0), 60, page::next_song, level::free, "A", 100));
  ev.push_back(make(u8, at(-5, 8, 0), 60, page::next_song, level::free, "A", 100));
  ev.push_back(make(u8, at(-5, 8, 1), 60, page::cancel, level::free));
  ev.push_back(make(u8, at(-5, 8, 1, 1), 60, page::cancellation_confirmation, level::free));
  // "9" arrives after the cutoff: not a user yet.
  fixture_user u9{"9", "F", "Austin, TX", mac_chrome, at(3, 0, 0)};
  ev.push_back(make(u9, at(3, 1, 0), 70, page::home, level::free));
  // "10": one session the day before the cutoff, no registration field, stays.
  fixture_user u10{"10", "M", "New York-Newark-Jersey City, NY-NJ-PA", windows_firefox};
  ev.push_back(make(u10, at(-1, 6, 0), 80, page::next_song, level::paid, "X", 250));
  ev.push_back(make(u10, at(-1, 6, 4), 80, page::next_song, level::paid, "X", 250));
  ev.push_back(make(u10, at(5, 6, 4), 90, page::next_song, level::paid, "Y", 250));
  // "11": clicked Cancel but never confirmed: not churned; the Cancel event is not a feature.
  fixture_user u11{"11", "", "", ""};
  ev.push_back(make(u11, at(-2, 6, 0), 95, page::next_song, level::free, "A", 100));
  ev.push_back(make(u11, at(-2, 6, 1), 95, page::cancel, level::free));
  // Guests and logged-out rows.
  fixture_user anon{"", "", "", ""};
  auto g = make(anon, at(-4, 1, 0), 99, page::home, level::free);
  g.auth = churn::auth::guest;
  ev.push_back(g);
  ev.push_back(g);
  g.auth = churn::auth::logged_out;
  ev.push_back(g);
  return ev;
}

churn::label_options window_options() {
  churn::label_options o;
  o.cutoff_ms = T;
  o.horizon_days = 30;
  return o;
}

std::size_t row_of(const churn::feature_table& t, const std::string& id) {
  auto it = std::find(t.user_ids.begin(), t.user_ids.end(), id);
  REQUIRE(it != t.user_ids.end());
  return static_cast<std::size_t>(it - t.user_ids.begin());
}

int code(const churn::feature_table& t, const std::string& feature, const std::string& category) {
  const auto& cats = t.features[t.column(feature)].categories;
  auto it = std::find(cats.begin(), cats.end(), category);
  REQUIRE(it != cats.end());
  return static_cast<int>(it - cats.begin());
}

void check_all(const churn::feature_table& t, const std::string& id, const std::map<std::string, double>& expected) {
  // Every column is checked: a new feature without a hand-computed value fails here.
  std::set<std::string> missing;
  for (const auto& f : t.features)
    if (!expected.count(f.name)) missing.insert(f.name);
  CHECK_MESSAGE(missing.empty(), "features without an expected value: " << missing.size());
  for (const auto& name : missing) MESSAGE("no expected value for " << name);
  std::size_t row = row_of(t, id);
  for (const auto& [name, value] : expected) {
    INFO("user " << id << ", feature " << name);
    CHECK(t.X(Eigen::Index(row), Eigen::Index(t.column(name))) == doctest::Approx(value).epsilon(1e-9));
  }
}

bool tables_equal(const churn::feature_table& a, const churn::feature_table& b) {
  return a.user_ids == b.user_ids && a.X.rows() == b.X.rows() && a.X.cols() == b.X.cols() && a.X == b.X &&
         a.labels == b.labels;
}

std::string sample_dir() { return std::string(CHURN_SHARED_DATA_DIR) + "/sparkify/udacity-dend-log_data/2018/11"; }

std::vector<std::string> sample_files() {
  std::vector<std::string> files;
  if (!std::filesystem::exists(sample_dir())) return files;
  for (const auto& f : std::filesystem::directory_iterator(sample_dir())) files.push_back(f.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<churn::event> read_all(const std::vector<std::string>& files) {
  std::vector<churn::event> out;
  for (const auto& f : files) churn::read_file(f, [&](const churn::event& e) { out.push_back(e); });
  return out;
}

}  // namespace

TEST_CASE("every feature of the fixture, computed by hand (window mode)") {
  auto t = churn::user_features(fixture(), window_options());
  CHECK(t.user_ids == std::vector<std::string>{"7", "10", "11"});
  CHECK(t.labels(Eigen::Index(row_of(t, "7"))) == 1);
  CHECK(t.labels(Eigen::Index(row_of(t, "10"))) == 0);
  CHECK(t.labels(Eigen::Index(row_of(t, "11"))) == 0);

  const double h = 1.0 / 24;
  std::map<std::string, double> u7 = {
      {"events", 21},
      {"songs", 6},
      {"sessions", 4},     // 10, 20 (across midnight), 30 split by the 40-minute silence
      {"active_days", 4},  // days -20, -10, -9, -3
      {"events_per_session", 21.0 / 4},
      {"songs_per_session", 6.0 / 4},
      {"songs_per_active_day", 6.0 / 4},
      {"listening_hours", (200 + 100 + 300 + 240 + 180 + 180) / 3600.0},
      {"distinct_artists", 4},  // A B C D (E is after the cutoff)
      {"distinct_artists_per_song", 4.0 / 6},
      {"thumbs_up", 1},  // the one after the cutoff does not count
      {"thumbs_down", 1},
      {"add_to_playlist", 1},
      {"add_friend", 1},
      {"thumbs_up_per_song", 1.0 / 6},
      {"thumbs_down_per_song", 1.0 / 6},
      {"add_to_playlist_per_song", 1.0 / 6},
      {"add_friend_per_song", 1.0 / 6},
      {"thumbs_up_per_session", 0.25},
      {"thumbs_down_per_session", 0.25},
      {"add_to_playlist_per_session", 0.25},
      {"add_friend_per_session", 0.25},
      {"errors", 1},
      {"help", 1},
      {"settings", 1},
      {"save_settings", 1},
      {"roll_adverts", 1},
      {"downgrade_visits", 1},
      {"upgrade_visits", 1},
      {"roll_adverts_per_song", 1.0 / 6},
      {"errors_per_session", 0.25},
      {"help_per_session", 0.25},
      {"settings_per_session", 0.25},
      {"downgrade_visits_per_session", 0.25},
      {"upgrade_visits_per_session", 0.25},
      {"level_paid", 1},
      {"upgrades", 1},
      {"downgrades", 0},
      {"paid_share", 12.0 / 21},  // 3 paid events in session 20, 9 in session 30
      {"tenure_days", 100},
      {"observed_days", 19 + 14 * h},                       // from day -20 10:00
      {"days_since_last_event", 2 + (11 + 13.0 / 60) * h},  // from day -3 12:47
      {"events_last_7d", 9},                                // day -3
      {"events_last_14d", 14},                              // days -10, -9, -3
      {"songs_last_7d", 2},
      {"songs_last_14d", 4},
      {"trend_7d", (9.0 / 7) / (12.0 / 13)},   // 12 events in the 13 days from day -20 to day -8
      {"trend_14d", (14.0 / 14) / (7.0 / 6)},  // 7 events in the 6 days from day -20 to day -15
      {"mean_session_minutes", (6.5 + 30 + 0 + 7) / 4},
      {"max_session_minutes", 30},
      {"mean_session_gap_hours", ((10 * 24 + 13 + 43.5 / 60) + (6 * 24 + 11 + 40.0 / 60) + 40.0 / 60) / 3},
      {"gender", code(t, "gender", "F")},
      {"platform", code(t, "platform", "mac")},
      {"browser", code(t, "browser", "chrome")},
      {"state", code(t, "state", "MA")},
  };
  check_all(t, "7", u7);

  std::map<std::string, double> u10 = {
      {"events", 2},
      {"songs", 2},
      {"sessions", 1},
      {"active_days", 1},
      {"events_per_session", 2},
      {"songs_per_session", 2},
      {"songs_per_active_day", 2},
      {"listening_hours", 500 / 3600.0},
      {"distinct_artists", 1},
      {"distinct_artists_per_song", 0.5},
      {"thumbs_up", 0},
      {"thumbs_down", 0},
      {"add_to_playlist", 0},
      {"add_friend", 0},
      {"thumbs_up_per_song", 0},
      {"thumbs_down_per_song", 0},
      {"add_to_playlist_per_song", 0},
      {"add_friend_per_song", 0},
      {"thumbs_up_per_session", 0},
      {"thumbs_down_per_session", 0},
      {"add_to_playlist_per_session", 0},
      {"add_friend_per_session", 0},
      {"errors", 0},
      {"help", 0},
      {"settings", 0},
      {"save_settings", 0},
      {"roll_adverts", 0},
      {"downgrade_visits", 0},
      {"upgrade_visits", 0},
      {"roll_adverts_per_song", 0},
      {"errors_per_session", 0},
      {"help_per_session", 0},
      {"settings_per_session", 0},
      {"downgrade_visits_per_session", 0},
      {"upgrade_visits_per_session", 0},
      {"level_paid", 1},
      {"upgrades", 0},
      {"downgrades", 0},
      {"paid_share", 1},
      {"tenure_days", 18 * h},  // no registration: from the first event, day -1 06:00
      {"observed_days", 18 * h},
      {"days_since_last_event", (17 + 56.0 / 60) * h},
      {"events_last_7d", 2},
      {"events_last_14d", 2},
      {"songs_last_7d", 2},
      {"songs_last_14d", 2},
      {"trend_7d", 1},
      {"trend_14d", 1},  // no earlier period
      {"mean_session_minutes", 4},
      {"max_session_minutes", 4},
      {"mean_session_gap_hours", 17 + 56.0 / 60},  // one session: open gap to the cutoff
      {"gender", code(t, "gender", "M")},
      {"platform", code(t, "platform", "windows")},
      {"browser", code(t, "browser", "firefox")},
      {"state", code(t, "state", "NY")},
  };
  check_all(t, "10", u10);

  // "11": the Cancel click is excluded, attributes are empty (code 0, "unknown").
  auto r11 = Eigen::Index(row_of(t, "11"));
  CHECK(t.X(r11, Eigen::Index(t.column("events"))) == 1);
  CHECK(t.X(r11, Eigen::Index(t.column("gender"))) == 0);
  CHECK(t.X(r11, Eigen::Index(t.column("state"))) == 0);
  CHECK(t.features[t.column("state")].categories[0] == "unknown");
}

TEST_CASE("the report counts what was left out and why") {
  auto t = churn::user_features(fixture(), window_options());
  const auto& r = t.report;
  CHECK(r.events == fixture().size());
  CHECK(r.anonymous_events == 3);
  CHECK(r.guest_events == 2);
  CHECK(r.logged_out_events == 1);
  CHECK(r.cancellation_events == 5);  // 7: Cancel + Confirmation; 8: both; 11: Cancel
  CHECK(r.users_seen == 5);
  CHECK(r.users_in_table == 3);
  CHECK(r.users_churned == 1);
  CHECK(r.users_cancelled_before_cutoff == 1);
  CHECK(r.users_without_events_before_cutoff == 1);
  CHECK(r.cutoff_ms == T);
  CHECK(r.label_end_ms == T + 30 * day_ms);
  CHECK(!r.label_window_complete);  // the fixture ends 5 days after the cutoff
  CHECK(r.summary().find("warning") != std::string::npos);
  CHECK(t.options.cutoff_ms == T);
}

TEST_CASE("history mode: features from everything before the cancellation, reference time at the cancellation") {
  churn::label_options o;
  o.mode = churn::label_mode::history;
  auto t = churn::user_features(fixture(), o);
  CHECK(t.user_ids == std::vector<std::string>{"7", "8", "9", "10", "11"});
  std::vector<int> labels(t.labels.data(), t.labels.data() + t.labels.size());
  CHECK(labels == std::vector<int>{1, 1, 0, 0, 0});
  auto r7 = Eigen::Index(row_of(t, "7"));
  CHECK(t.X(r7, Eigen::Index(t.column("events"))) == 23);  // 21 + Thumbs Up day 1 + NextSong day 2
  CHECK(t.X(r7, Eigen::Index(t.column("distinct_artists"))) == 5);
  // The leak: the churner was last seen a minute before the reference time.
  CHECK(t.X(r7, Eigen::Index(t.column("days_since_last_event"))) == doctest::Approx(61.0 / 86400));
  CHECK(t.X(r7, Eigen::Index(t.column("tenure_days"))) == doctest::Approx(102 + (9 + 1.0 / 60 + 1.0 / 3600) / 24));
  // Recency counts back from the cancellation day (day 2): days -4..2 hold 9 + 1 + 1 events.
  CHECK(t.X(r7, Eigen::Index(t.column("events_last_7d"))) == 11);
  CHECK(t.report.cutoff_ms == churn::missing_int);
}

TEST_CASE("leakage: removing every event at or after the cutoff changes no feature value") {
  auto check = [](const std::vector<churn::event>& all, std::int64_t cutoff) {
    churn::label_options o;
    o.cutoff_ms = cutoff;
    std::vector<churn::event> before;
    for (const auto& e : all)
      if (e.ts < cutoff) before.push_back(e);
    REQUIRE(before.size() < all.size());
    auto full = churn::user_features(all, o);
    auto cut = churn::user_features(before, o);
    CHECK(full.user_ids == cut.user_ids);
    CHECK(full.X == cut.X);
    CHECK(full.X.rows() > 0);
  };
  check(fixture(), T);
  auto sample = read_all(sample_files());
  if (!sample.empty()) {
    check(sample, churn::parse_cutoff("2018-11-10"));
    check(sample, churn::parse_cutoff("2018-11-25"));
  }
}

TEST_CASE("leakage in history mode: the cancellation events themselves feed no feature") {
  churn::label_options o;
  o.mode = churn::label_mode::history;
  auto all = fixture();
  std::vector<churn::event> without;
  for (const auto& e : all)
    if (e.page != page::cancel && e.page != page::cancellation_confirmation && e.auth != churn::auth::cancelled)
      without.push_back(e);
  auto a = churn::user_features(all, o);
  auto b = churn::user_features(without, o);
  CHECK(a.user_ids == b.user_ids);
  // Same features; only the reference time of churners (their cancellation) differs, so compare
  // the non-churners fully and the churners' count features.
  for (Eigen::Index i = 0; i < a.X.rows(); ++i) {
    if (a.labels(i) == 0) CHECK(a.X.row(i) == b.X.row(i));
    CHECK(a.X(i, Eigen::Index(a.column("events"))) == b.X(i, Eigen::Index(b.column("events"))));
  }
}

TEST_CASE("merge: any split of a log into chunks aggregates and merges into the whole") {
  auto events = fixture();
  auto sample = read_all(sample_files());
  events.insert(events.end(), sample.begin(), sample.end());
  churn::feature_accumulator whole;
  for (const auto& e : events) whole.add(e);
  const std::string whole_bytes = whole.to_bytes();
  const auto whole_table = whole.finalize(window_options());

  std::mt19937_64 rng(12345);
  for (int trial = 0; trial < 30; ++trial) {
    INFO("trial " << trial);
    auto shuffled = events;
    // Half the trials keep file order and cut at random places; the others shuffle the events.
    if (trial % 2) std::shuffle(shuffled.begin(), shuffled.end(), rng);
    const std::size_t k = 2 + rng() % 6;
    std::vector<std::size_t> cuts{0, shuffled.size()};
    for (std::size_t i = 0; i + 1 < k; ++i) cuts.push_back(rng() % (shuffled.size() + 1));
    std::sort(cuts.begin(), cuts.end());
    std::vector<churn::feature_accumulator> parts;
    for (std::size_t c = 0; c + 1 < cuts.size(); ++c) {
      parts.emplace_back();
      for (std::size_t i = cuts[c]; i < cuts[c + 1]; ++i) parts.back().add(shuffled[i]);
    }
    std::shuffle(parts.begin(), parts.end(), rng);
    // Merge through serialisation every other time, as a cluster would.
    churn::feature_accumulator merged =
        trial % 3 == 0 ? churn::feature_accumulator::from_bytes(parts[0].to_bytes()) : parts[0];
    for (std::size_t c = 1; c < parts.size(); ++c) {
      if (c % 2)
        merged.merge(churn::feature_accumulator::from_bytes(parts[c].to_bytes()));
      else
        merged.merge(parts[c]);
    }
    CHECK(merged.to_bytes() == whole_bytes);
    CHECK(tables_equal(merged.finalize(window_options()), whole_table));
  }
}

TEST_CASE("files: the same table for any number of threads, and for a list of files") {
  auto files = sample_files();
  if (files.empty()) return;
  churn::label_options o;
  o.cutoff_ms = churn::parse_cutoff("2018-11-20");
  o.horizon_days = 7;
  churn::read_options r1;
  auto one = churn::user_features(files, o, {}, r1);
  CHECK(one.X.rows() > 50);
  CHECK(one.report.read.events == 8056);
  CHECK(one.report.events == 8056);
  CHECK(one.report.users_churned == 0);  // the sample has no cancellations
  CHECK(one.report.anonymous_events > 0);
  for (unsigned threads : {2u, 3u, 5u}) {
    churn::read_options r;
    r.threads = threads;
    auto t = churn::user_features(files, o, {}, r);
    CHECK(tables_equal(t, one));
  }
  // In memory, from the same events: the same table.
  CHECK(tables_equal(churn::user_features(read_all(files), o), one));
  // A single concatenated file read by several threads (chunks split one user's events).
  std::string joined = (std::filesystem::temp_directory_path() / "churn_test_features_joined.json").string();
  {
    std::ofstream out(joined, std::ios::binary);
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      out << in.rdbuf() << '\n';  // the sample files do not all end with a newline
    }
  }
  churn::read_options r4;
  r4.threads = 4;
  churn::feature_progress progress;
  auto t4 = churn::user_features(joined, o, {}, r4, &progress);
  CHECK(tables_equal(t4, one));
  CHECK(progress.events.load() == 8056);
  CHECK(progress.bytes.load() == std::filesystem::file_size(joined));
  CHECK(progress.bytes_total.load() == std::filesystem::file_size(joined));
  // A directory stands for the event files in it.
  CHECK(tables_equal(churn::user_features(sample_dir(), o, {}, r4), one));
  std::filesystem::remove(joined);
}

TEST_CASE("default cutoff: the last UTC midnight at or before the log's end minus the horizon") {
  auto files = sample_files();
  if (files.empty()) return;
  churn::label_options o;  // no cutoff
  o.horizon_days = 7;
  auto t = churn::user_features(files, o);
  CHECK(t.report.cutoff_ms == churn::default_cutoff(t.report.last_ts, 7));
  CHECK(t.report.cutoff_ms % day_ms == 0);
  CHECK(t.report.cutoff_ms <= t.report.last_ts - 7 * day_ms);
  CHECK(t.report.cutoff_ms > t.report.last_ts - 8 * day_ms);
  CHECK(t.report.label_window_complete);
}

TEST_CASE("one pass, several cutoffs: finalize is repeatable and consistent with a fresh pass") {
  churn::feature_accumulator acc;
  for (const auto& e : fixture()) acc.add(e);
  auto o = window_options();
  auto a = acc.finalize(o);
  o.cutoff_ms = T - 5 * day_ms;
  auto b = acc.finalize(o);
  CHECK(tables_equal(acc.finalize(window_options()), a));
  CHECK(b.user_ids == std::vector<std::string>{"7", "8"});  // "8" cancels on day -5, after this cutoff
  CHECK(b.labels(1) == 1);
}

TEST_CASE("categorical parsing: platform, browser, state, gender") {
  using namespace churn::detail;
  auto platform = [](const char* ua) { return std::string(platform_categories[platform_code(ua)]); };
  auto browser = [](const char* ua) { return std::string(browser_categories[browser_code(ua)]); };
  auto state = [](const char* loc) { return std::string(state_categories[state_code(loc)]); };
  CHECK(platform("Mozilla/5.0 (iPhone; CPU iPhone OS 7_1_2 like Mac OS X) AppleWebKit/537.51.2") == "iphone");
  CHECK(platform("Mozilla/5.0 (iPad; CPU OS 7_1_2 like Mac OS X) AppleWebKit/537.51.2") == "ipad");
  CHECK(platform("Mozilla/5.0 (Linux; Android 4.4.2; Nexus 5) Chrome/36.0") == "android");
  CHECK(platform("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36") == "linux");
  CHECK(platform("Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; WOW64; Trident/6.0)") == "windows");
  CHECK(platform("curl/7.0") == "other");
  CHECK(platform("") == "unknown");
  CHECK(browser("Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; WOW64; Trident/6.0)") == "internet_explorer");
  CHECK(browser(mac_chrome.c_str()) == "chrome");
  CHECK(browser("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_4) AppleWebKit/537.77.4 (KHTML, like Gecko) "
                "Version/7.0.5 Safari/537.77.4") == "safari");
  CHECK(browser(windows_firefox.c_str()) == "firefox");
  CHECK(state("New York-Newark-Jersey City, NY-NJ-PA") == "NY");
  CHECK(state("Phoenix-Mesa-Scottsdale, AZ") == "AZ");
  CHECK(state("San Juan, PR") == "PR");
  CHECK(state("Toronto, ON") == "other");
  CHECK(state("Nowhere") == "other");
  CHECK(state("") == "unknown");
  CHECK(std::string(gender_categories[gender_code("X")]) == "other");
  // The vocabularies are fixed: codes never depend on the data.
  auto cat = churn::feature_catalog();
  CHECK(cat.size() == churn::user_features(fixture(), window_options()).features.size());
  for (const auto& f : cat) {
    CHECK(!f.description.empty());
    CHECK(!f.unit.empty());
    if (f.kind == churn::feature_kind::categorical) {
      REQUIRE(f.categories.size() >= 3);
      CHECK(f.categories[0] == "unknown");
      CHECK(f.categories[1] == "other");
    }
  }
}

TEST_CASE("bad input: clear errors, no crash") {
  churn::feature_accumulator acc;
  churn::event e;
  e.user_id = "1";
  CHECK_THROWS_WITH_AS(acc.add(e), doctest::Contains("without a timestamp"), churn::data_error);
  CHECK_THROWS_WITH_AS(acc.finalize(), doctest::Contains("no events"), churn::data_error);
  e.ts = std::int64_t(1) << 60;
  CHECK_THROWS_WITH_AS(acc.add(e), doctest::Contains("outside the years"), churn::data_error);
  CHECK_THROWS_AS(churn::feature_accumulator::from_bytes("garbage"), churn::data_error);
  churn::feature_accumulator full;
  for (const auto& ev : fixture()) full.add(ev);
  std::string bytes = full.to_bytes();
  for (std::size_t cut : {std::size_t(9), bytes.size() / 3, bytes.size() - 1})
    CHECK_THROWS_AS(churn::feature_accumulator::from_bytes(bytes.substr(0, cut)), churn::data_error);
  CHECK_THROWS_AS(churn::feature_accumulator::from_bytes(bytes + "x"), churn::data_error);
  // A string byte flipped to one that is not UTF-8 (found by the Python property test): refused with
  // the field and offset, not handed on to fail in a caller's text decoding.
  const std::string first_user = full.finalize(window_options()).user_ids.front();
  std::string length_prefixed(4, '\0');
  for (int i = 0; i < 4; ++i) length_prefixed[i] = static_cast<char>((first_user.size() >> (8 * i)) & 0xFF);
  length_prefixed += first_user;
  const std::size_t at = bytes.find(length_prefixed);
  REQUIRE(at != std::string::npos);
  std::string bad_text = bytes;
  bad_text[at + 4] = '\x80';
  CHECK_THROWS_WITH_AS(churn::feature_accumulator::from_bytes(bad_text), doctest::Contains("not valid UTF-8"),
                       churn::data_error);
  churn::aggregation_options other_gap;
  other_gap.session_gap_minutes = 10;
  churn::feature_accumulator b(other_gap);
  CHECK_THROWS_AS(full.merge(b), churn::parameter_error);
  // The labelling carries no gap: any label options finalise it, and the table says its gap.
  for (const auto& ev : fixture()) b.add(ev);
  const auto b_table = b.finalize(window_options());
  CHECK(b_table.aggregation.session_gap_minutes == 10);
  CHECK(b.aggregation().session_gap_minutes == 10);
  CHECK_THROWS_AS(full.merge(full), churn::parameter_error);
  churn::feature_table t = full.finalize(window_options());
  CHECK_THROWS_WITH_AS(t.column("nope"), doctest::Contains("'nope'"), churn::parameter_error);
  CHECK_THROWS_AS(churn::user_features("/nonexistent/events.json"), churn::io_error);
}

namespace {
std::vector<churn::event> simulated(std::uint64_t users, std::uint64_t seed) {
  churn::simulate_options o;
  o.users = users;
  o.days = 60;
  o.seed = seed;
  o.threads = 2;
  std::vector<churn::event> out;
  churn::simulate(o, [&](const churn::event& e) { out.push_back(e); });
  return out;
}
}  // namespace

TEST_CASE("simulated log with churn: leak-free at every cutoff, exact merges, labels present") {
  const auto events = simulated(200, 11);
  REQUIRE(events.size() > 10000);
  const std::int64_t start = churn::utc_day(events.front().ts) * day_ms;
  churn::feature_accumulator whole;
  for (const auto& e : events) whole.add(e);
  std::uint64_t positives = 0, dropped = 0;
  for (int d : {15, 30, 45}) {
    INFO("cutoff day " << d);
    churn::label_options o;
    o.cutoff_ms = start + d * day_ms;
    o.horizon_days = 14;
    std::vector<churn::event> before;
    for (const auto& e : events)
      if (e.ts < o.cutoff_ms) before.push_back(e);
    auto full = whole.finalize(o);
    auto cut = churn::user_features(before, o);
    CHECK(full.user_ids == cut.user_ids);
    CHECK(full.X == cut.X);
    positives += full.report.users_churned;
    dropped += full.report.users_cancelled_before_cutoff;
  }
  CHECK(positives > 0);
  CHECK(dropped > 0);

  // Chunks cut anywhere in the time-ordered log (one user's events on both sides), merged in reverse.
  std::mt19937_64 rng(99);
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<std::size_t> cuts{0, events.size()};
    for (int i = 0; i < 4; ++i) cuts.push_back(rng() % events.size());
    std::sort(cuts.begin(), cuts.end());
    churn::feature_accumulator merged;
    for (std::size_t c = cuts.size() - 1; c-- > 0;) {
      churn::feature_accumulator part;
      for (std::size_t i = cuts[c]; i < cuts[c + 1]; ++i) part.add(events[i]);
      merged.merge(churn::feature_accumulator::from_bytes(part.to_bytes()));
    }
    CHECK(merged.to_bytes() == whole.to_bytes());
  }

  // History mode: dropping the cancellation events leaves every non-churner's row unchanged.
  churn::label_options h;
  h.mode = churn::label_mode::history;
  std::vector<churn::event> without;
  for (const auto& e : events)
    if (e.page != page::cancel && e.page != page::cancellation_confirmation && e.auth != churn::auth::cancelled)
      without.push_back(e);
  auto a = whole.finalize(h);
  auto b = churn::user_features(without, h);
  REQUIRE(a.user_ids == b.user_ids);
  CHECK(a.report.users_churned > 0);
  for (Eigen::Index i = 0; i < a.X.rows(); ++i)
    if (a.labels(i) == 0) CHECK(a.X.row(i) == b.X.row(i));
}

TEST_CASE("corrupted accumulator bytes: a clear data_error or a usable accumulator, never a crash") {
  churn::feature_accumulator acc;
  for (const auto& e : fixture()) acc.add(e);
  const std::string bytes = acc.to_bytes();
  std::mt19937_64 rng(5);
  int rejected = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::string bad = bytes;
    for (int k = 0; k < 1 + trial % 4; ++k) bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
    try {
      auto back = churn::feature_accumulator::from_bytes(bad);
      back.merge(acc);  // must stay usable
      (void)back.finalize(window_options());
    } catch (const churn::error&) {
      ++rejected;
    }
  }
  CHECK(rejected > 0);
}

namespace {
std::string limit_message(std::uint64_t limit) {
  return "more than " + std::to_string(limit) +
         " distinct users in the input (the limit max_users); raise the limit or split the log by user";
}

// One minimal event line of user `id` (the shape a hostile upload would repeat millions of times).
std::string minimal_line(const std::string& id, std::int64_t ts = T - day_ms) {
  return "{\"ts\":" + std::to_string(ts) + ",\"page\":\"Home\",\"userId\":\"" + id + "\",\"sessionId\":1}\n";
}

std::string write_temp(const std::string& name, const std::string& text) {
  std::string path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream(path, std::ios::binary) << text;
  return path;
}
}  // namespace

TEST_CASE("max_users: the first user beyond the limit is a data_error, the accumulator stays as it was") {
  churn::aggregation_options o;
  o.max_users = 3;
  churn::feature_accumulator acc(o);
  CHECK(acc.max_users() == 3);
  fixture_user u{"a", "F", "Austin, TX", mac_chrome};
  for (const char* id : {"a", "b", "a", "c", "c", "b"}) {
    u.id = id;
    acc.add(make(u, at(-2, 10, 0), 1, page::next_song, churn::level::free, "A", 100));
  }
  REQUIRE(acc.users() == 3);
  const std::string before = acc.to_bytes();
  u.id = "d";
  CHECK_THROWS_WITH_AS(acc.add(make(u, at(-1, 10, 0), 1, page::home, churn::level::free)), limit_message(3).c_str(),
                       churn::data_error);
  CHECK(acc.to_bytes() == before);  // the refused event is not counted either
  // Known users and events without a user still come in.
  u.id = "b";
  acc.add(make(u, at(-1, 11, 0), 2, page::home, churn::level::free));
  fixture_user anon{"", "", "", ""};
  acc.add(make(anon, at(-1, 12, 0), 3, page::home, churn::level::free));
  CHECK(acc.users() == 3);
  CHECK(acc.events() == 8);
  CHECK(acc.finalize(window_options()).user_ids == std::vector<std::string>{"a", "b", "c"});
  // The limit is not part of the aggregate: from_bytes gives an unlimited accumulator.
  auto back = churn::feature_accumulator::from_bytes(acc.to_bytes());
  CHECK(back.max_users() == 0);
  u.id = "d";
  back.add(make(u, at(-1, 10, 0), 1, page::home, churn::level::free));
  CHECK(back.users() == 4);
}

TEST_CASE("max_users: a merge beyond the limit throws before anything changes") {
  churn::aggregation_options limited;
  limited.max_users = 3;
  auto with = [](churn::feature_accumulator acc, std::vector<std::string> ids) {
    fixture_user u{"", "M", "Austin, TX", mac_chrome};
    for (const auto& id : ids) {
      u.id = id;
      acc.add(make(u, at(-2, 10, 0), 1, page::home, churn::level::free));
    }
    return acc;
  };
  auto a = with(churn::feature_accumulator(limited), {"1", "2"});
  a.merge(with(churn::feature_accumulator(), {"2", "3"}));  // 4 users on both sides, 3 distinct
  CHECK(a.users() == 3);
  const std::string before = a.to_bytes();
  CHECK_THROWS_WITH_AS(a.merge(with(churn::feature_accumulator(), {"1", "4"})), limit_message(3).c_str(),
                       churn::data_error);
  CHECK(a.to_bytes() == before);
  // The receiving accumulator's limit applies, not the other's.
  auto unlimited = with(churn::feature_accumulator(), {"1", "2", "3", "4", "5"});
  unlimited.merge(a);
  CHECK(unlimited.users() == 5);
}

TEST_CASE("max_users on files: the error names the file and the line of the first user beyond the limit") {
  std::string log;
  for (int i = 0; i < 10; ++i) log += minimal_line(std::to_string(100 + i)) + minimal_line(std::to_string(100 + i));
  const std::string path = write_temp("churn_test_max_users.json", log);
  churn::label_options history;
  history.mode = churn::label_mode::history;  // every user in the table (the log is a single day)
  churn::aggregation_options o;
  o.max_users = 4;
  try {
    (void)churn::accumulate_files({path}, o);
    FAIL("no error");
  } catch (const churn::limit_error& e) {  // typed: a caller tells a limit from bad data without the message
    CHECK(e.limit() == "max_users");
    CHECK(e.value() == 4);
    CHECK(e.file() == path);
    CHECK(e.line() == 9);  // users 100..103 take lines 1-8
    CHECK(e.reason() == limit_message(4));
    CHECK(std::string(e.what()) == "data error in " + path + " at line 9: " + limit_message(4));
  }
  CHECK_THROWS_AS(churn::user_features(path, history, o), churn::data_error);
  // At or above the number of users: the same table as without a limit, for any number of threads.
  const auto unlimited = churn::user_features(path, history);
  REQUIRE(unlimited.user_ids.size() == 10);
  for (unsigned threads : {1u, 2u, 3u}) {
    churn::read_options r;
    r.threads = threads;
    o.max_users = 10;
    CHECK(tables_equal(churn::user_features(path, history, o, r), unlimited));
    // Below it, every thread count fails: in a thread's accumulator or in the merge of them.
    o.max_users = 9;
    CHECK_THROWS_WITH_AS(churn::user_features(path, history, o, r), doctest::Contains(limit_message(9).c_str()),
                         churn::data_error);
  }
  // Several threads: the line is the file's, not the piece's. Users 1..12 all come in the last lines,
  // after a long run of user "0" that every piece before and the start of the last piece hold, so the
  // thread reading the last piece crosses the limit of 5 at the fifth new user, whatever it read before.
  std::string crowded;
  for (int i = 0; i < 300; ++i) crowded += minimal_line("0");
  for (int i = 1; i <= 12; ++i) crowded += minimal_line(std::to_string(i));
  const std::string crowded_path = write_temp("churn_test_max_users_crowded.json", crowded);
  o.max_users = 5;
  for (unsigned threads : {1u, 3u}) {
    churn::read_options r;
    r.threads = threads;
    try {
      (void)churn::accumulate_files({crowded_path}, o, r);
      FAIL("no error");
    } catch (const churn::limit_error& e) {
      CHECK(e.line() == 305);
      CHECK(e.reason() == limit_message(5));
    }
  }
  std::filesystem::remove(path);
  std::filesystem::remove(crowded_path);
}

TEST_CASE("a sink's data_error while reading names the file and line, in serial and parallel reads") {
  std::string log;
  for (int i = 1; i <= 90; ++i) log += minimal_line(i == 77 ? "bad" : "u" + std::to_string(i));
  auto sink = [](const churn::event& e) {
    if (e.user_id == "bad") throw churn::data_error("user 'bad' refused");
  };
  CHECK_THROWS_WITH_AS(churn::read_buffer(log, sink, {}, "mem.json"),
                       "data error in mem.json at line 77: user 'bad' refused", churn::located_data_error);
  const std::string path = write_temp("churn_test_sink_error.json", log);
  std::vector<std::function<void(const churn::event&)>> sinks(3, sink);
  CHECK_THROWS_WITH_AS(churn::read_file_parallel(path, sinks),
                       ("data error in " + path + " at line 77: user 'bad' refused").c_str(),
                       churn::located_data_error);
  CHECK_THROWS_WITH_AS(churn::read_files_parallel({path}, sinks),
                       ("data error in " + path + " at line 77: user 'bad' refused").c_str(),
                       churn::located_data_error);
  // An out-of-range time from a file is located the same way.
  const std::string far =
      write_temp("churn_test_far_ts.json", minimal_line("1") + minimal_line("2", std::int64_t(1) << 60));
  CHECK_THROWS_WITH_AS(churn::user_features(far), doctest::Contains(" at line 2: event timestamp"),
                       churn::located_data_error);
  std::filesystem::remove(path);
  std::filesystem::remove(far);
}

TEST_CASE("snapshots: one row per (user, cutoff), row for row the tables of single cutoffs") {
  const auto events = simulated(200, 11);
  churn::feature_accumulator acc;
  for (const auto& e : events) acc.add(e);
  churn::label_options o;
  o.horizon_days = 14;
  churn::snapshot_options s;
  s.every_days = 7;
  const auto t = acc.finalize(o, s);
  // The schedule: weekly back from the default cutoff, while 14 days of history lie before the cutoff.
  const auto& cuts = t.report.snapshot_cutoffs;
  REQUIRE(cuts.size() >= 4);
  CHECK(cuts.back() == churn::default_cutoff(acc.last_ts(), 14));
  CHECK(cuts.front() - acc.first_ts() >= 14 * day_ms);
  CHECK(cuts.front() - 7 * day_ms - acc.first_ts() < 14 * day_ms);
  for (std::size_t i = 1; i < cuts.size(); ++i) CHECK(cuts[i] - cuts[i - 1] == 7 * day_ms);
  CHECK(cuts == churn::snapshot_schedule(acc.first_ts(), acc.last_ts(), 7, 14, 14));

  Eigen::Index at = 0;
  std::uint64_t churned = 0;
  for (std::size_t k = 0; k < cuts.size(); ++k) {
    INFO("cutoff " << churn::format_utc(cuts[k]));
    churn::label_options one = o;
    one.cutoff_ms = cuts[k];
    const auto single = acc.finalize(one);
    const Eigen::Index n = single.X.rows();
    REQUIRE(at + n <= t.X.rows());
    CHECK(t.X.middleRows(at, n) == single.X);
    CHECK(t.labels.segment(at, n) == single.labels);
    CHECK(std::vector<std::string>(t.user_ids.begin() + at, t.user_ids.begin() + at + n) == single.user_ids);
    for (Eigen::Index i = 0; i < n; ++i) CHECK(t.cutoffs[static_cast<std::size_t>(at + i)] == cuts[k]);
    CHECK(t.report.snapshot_rows[k] == static_cast<std::uint64_t>(n));
    CHECK(t.report.snapshot_churned[k] == single.report.users_churned);
    churned += single.report.users_churned;
    at += n;
  }
  CHECK(at == t.X.rows());
  CHECK(t.report.users_in_table == static_cast<std::uint64_t>(t.X.rows()));
  CHECK(t.report.users_churned == churned);
  CHECK(churned > 0);
  CHECK(t.report.summary().find(std::to_string(cuts.size()) + " snapshots") != std::string::npos);

  // Explicit cutoffs, in any order: the same rows, sorted by cutoff.
  churn::snapshot_options given;
  given.cutoffs_ms = {cuts[2], cuts[0]};
  const auto g = acc.finalize(o, given);
  CHECK(g.report.snapshot_cutoffs == std::vector<std::int64_t>{cuts[0], cuts[2]});
  CHECK(g.X.rows() == static_cast<Eigen::Index>(t.report.snapshot_rows[0] + t.report.snapshot_rows[2]));
  CHECK(g.X.topRows(static_cast<Eigen::Index>(t.report.snapshot_rows[0])) ==
        t.X.topRows(static_cast<Eigen::Index>(t.report.snapshot_rows[0])));
}

TEST_CASE("snapshots: bad options and too short a log are clear errors") {
  churn::feature_accumulator acc;
  for (const auto& e : fixture()) acc.add(e);
  churn::label_options o;
  churn::snapshot_options s;
  CHECK_THROWS_AS(acc.finalize(o, s), churn::parameter_error);  // neither cutoffs nor a schedule
  s.cutoffs_ms = {T, T};
  CHECK_THROWS_WITH_AS(acc.finalize(o, s), doctest::Contains("twice"), churn::parameter_error);
  s.cutoffs_ms = {T + 1};
  CHECK_THROWS_WITH_AS(acc.finalize(o, s), doctest::Contains("UTC midnights"), churn::parameter_error);
  s.cutoffs_ms = {T};
  s.every_days = 7;
  CHECK_THROWS_WITH_AS(acc.finalize(o, s), doctest::Contains("every_days"), churn::parameter_error);
  s.every_days = 0;
  churn::label_options h;
  h.mode = churn::label_mode::history;
  CHECK_THROWS_WITH_AS(acc.finalize(h, s), doctest::Contains("snapshots"), churn::parameter_error);
  churn::snapshot_options weekly;
  weekly.every_days = 7;
  weekly.min_history_days = 365;
  CHECK_THROWS_WITH_AS(acc.finalize(o, weekly), doctest::Contains("too short for snapshots"), churn::data_error);
  churn::feature_accumulator empty;
  CHECK_THROWS_AS(empty.finalize(o, weekly), churn::data_error);
}

TEST_CASE("files: the grouped, prefetching add gives the accumulator of adding one event at a time") {
  // accumulate_files() adds events in groups (detail::feature_batch); add() takes one at a time. On a
  // simulated log (thousands of interleaved users' events, cancellations, sessions across midnight) the
  // two must hold the same aggregate, byte for byte, for any number of threads, with and without a
  // user limit (which makes the groups one event long), and give the same snapshot table.
  churn::simulate_options so;
  so.users = 300;
  so.days = 60;
  so.seed = 5;
  const std::string path = (std::filesystem::temp_directory_path() / "churn_test_features_batch.json").string();
  churn::write_jsonl_file(so, path);
  churn::feature_accumulator one_by_one;
  churn::read_file(path, [&](const churn::event& e) { one_by_one.add(e); });
  REQUIRE(one_by_one.events() > 50000);
  REQUIRE(one_by_one.users() > 250);
  const std::string expected = one_by_one.to_bytes();
  churn::label_options o;
  o.horizon_days = 14;
  churn::snapshot_options s;
  s.every_days = 7;
  const auto reference = one_by_one.finalize(o, s);
  REQUIRE(reference.report.snapshot_cutoffs.size() >= 4);
  for (unsigned threads : {1u, 2u, 3u}) {
    for (std::uint64_t limit : {std::uint64_t(0), std::uint64_t(1000)}) {
      INFO(threads << " threads, max_users " << limit);
      churn::read_options r;
      r.threads = threads;
      churn::aggregation_options a;
      a.max_users = limit;
      CHECK(churn::accumulate_files({path}, a, r).to_bytes() == expected);
      const auto t = churn::user_features({path}, o, s, a, r);
      CHECK(tables_equal(t, reference));
      CHECK(t.cutoffs == reference.cutoffs);
    }
  }
  std::filesystem::remove(path);
}

TEST_CASE("write_csv: the CSV churn features writes (printf's %.10g, spreadsheet-safe text, csv.writer quoting)") {
  auto t = churn::user_features(fixture(), window_options());
  REQUIRE(t.user_ids.size() == 3);
  const std::string path = (std::filesystem::temp_directory_path() / "churn_test_write_csv.csv").string();
  const auto read_back = [&path] {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  // Numbers as "%.10g", NaN of either sign "nan"; user ids neutralised (a leading ' before a formula
  // trigger, not before a number) and quoted where they hold a comma, a quote or a line end.
  t.user_ids = {"=a,\"b\"", "-12.5e3", "+x\ny"};
  t.X(0, 0) = std::nan("");
  t.X(0, 1) = -std::nan("");
  t.X(0, 2) = -0.0;
  t.X(1, 0) = 1e-5;
  t.X(1, 1) = 123456789012.5;
  t.X(1, 2) = 1.0 / 3;
  churn::write_csv(t, path);
  const std::string csv = read_back();
  std::string header = "user_id";
  for (const auto& f : t.features) header += "," + f.name;
  header += ",churned\r\n";
  CHECK(csv.rfind(header, 0) == 0);
  CHECK(csv.find("\r\n\"'=a,\"\"b\"\"\",nan,nan,-0,") == header.size() - 2);
  CHECK(csv.find("\r\n-12.5e3,1e-05,1.23456789e+11,0.3333333333,") != std::string::npos);
  CHECK(csv.find("\r\n\"'+x\ny\",") != std::string::npos);
  std::size_t lines = 0;
  for (std::size_t at = csv.find("\r\n"); at != std::string::npos; at = csv.find("\r\n", at + 2)) ++lines;
  CHECK(lines == 4);
  CHECK(csv.substr(csv.size() - 4) == "," + std::to_string(t.labels(2)) + "\r\n");
  // decode: a categorical column holds the names of its codes.
  churn::csv_options names;
  names.decode = true;
  churn::write_csv(t, path, names);
  const std::size_t state = t.column("state");
  const auto& cats = t.features[state].categories;
  const std::string decoded = read_back();
  CHECK(decoded.find("," + cats[static_cast<std::size_t>(t.X(2, Eigen::Index(state)))] + ",") != std::string::npos);
  // A folder or a missing folder: io_error naming the path.
  const std::string dir = std::filesystem::temp_directory_path().string();
  try {
    churn::write_csv(t, dir);
    FAIL("expected an io_error");
  } catch (const churn::io_error& e) {
    CHECK(std::string(e.what()).rfind("cannot write '" + dir + "': ", 0) == 0);
  }
  CHECK_THROWS_AS(churn::write_csv(t, dir + "/no-such-folder/x.csv"), churn::io_error);
  std::filesystem::remove(path);
}

TEST_CASE("files: users partitioned across threads, events handed between them, give one thread's accumulator") {
  // With several threads and no user limit, each thread owns the users whose id hashes to it and
  // hands the events of other threads' users to them in parcels (detail::feature_batch). Small pieces
  // spread every user's events over many pieces and threads; tiny parcels and mailboxes make the
  // threads wait on each other constantly (the back-pressure path). The accumulators must be
  // disjoint, together hold every user, and join into the bytes of a one-thread read.
  churn::simulate_options so;
  so.users = 60;
  so.days = 30;
  so.seed = 7;
  const std::string path = (std::filesystem::temp_directory_path() / "churn_test_features_partition.json").string();
  churn::write_jsonl_file(so, path);
  churn::read_options r1;
  const churn::feature_accumulator one = churn::accumulate_files({path}, {}, r1);
  REQUIRE(one.users() > 50);
  REQUIRE(one.events() > 2000);
  const std::string expected = one.to_bytes();
  struct setting {
    std::size_t parcel_events, max_pending;
  };
  for (unsigned threads : {2u, 3u, 4u}) {
    for (setting st : {setting{256, 64}, setting{4, 1}}) {
      INFO(threads << " threads, parcels of " << st.parcel_events << ", " << st.max_pending << " pending at most");
      std::vector<churn::feature_accumulator> accs(threads);
      churn::detail::feature_exchange exchange(threads);
      std::vector<churn::detail::feature_batch> sinks;
      for (unsigned t = 0; t < threads; ++t)
        sinks.emplace_back(accs[t], &exchange, t, st.parcel_events, st.max_pending);
      churn::read_options r;
      r.threads = threads;
      const auto report = churn::read_files_parallel(std::vector<std::string>{path}, sinks, r, 64 << 10);
      CHECK(report.events == one.events());
      std::size_t users = 0;
      for (const auto& a : accs) {
        CHECK(a.users() < one.users());  // each thread holds only its own users
        users += a.users();
      }
      CHECK(users == one.users());  // ... and no user is held twice
      for (unsigned t = 1; t < threads; ++t) churn::detail::feature_batch::join(accs[0], std::move(accs[t]));
      CHECK(accs[0].to_bytes() == expected);
    }
  }
  // Through accumulate_files: a list of files that splits users' events between files, and the same
  // file twice (every event twice: counts double, sets and first values unchanged, as merge() gives).
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t half = text.find('\n', text.size() / 2) + 1;
  const std::string a = write_temp("churn_test_features_partition_a.json", text.substr(0, half));
  const std::string b = write_temp("churn_test_features_partition_b.json", text.substr(half));
  churn::feature_accumulator twice = one;
  twice.merge(one);
  for (unsigned threads : {2u, 3u}) {
    churn::read_options r;
    r.threads = threads;
    CHECK(churn::accumulate_files({b, a}, {}, r).to_bytes() == expected);
    CHECK(churn::accumulate_files({path, path}, {}, r).to_bytes() == twice.to_bytes());
  }
  std::filesystem::remove(a);
  std::filesystem::remove(b);
  std::filesystem::remove(path);
}
