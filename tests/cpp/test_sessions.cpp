#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <vector>

#include <churn/sessions.hpp>

namespace {

churn::event ev(const std::string& user, std::int64_t sid, std::int64_t ts, churn::page p = churn::page::home,
                const std::string& artist = "", double length = 0) {
  churn::event e;
  e.user_id = user;
  e.session_id = sid;
  e.ts = ts;
  e.page = p;
  e.artist = artist;
  e.length = length;
  return e;
}

constexpr std::int64_t minute = 60'000;

// Brute force: sort the times, cut where consecutive times are more than gap apart.
std::vector<std::pair<std::int64_t, std::int64_t>> brute(std::vector<std::int64_t> ts, std::int64_t gap) {
  std::sort(ts.begin(), ts.end());
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (auto t : ts) {
    if (!out.empty() && t - out.back().second <= gap)
      out.back().second = t;
    else
      out.emplace_back(t, t);
  }
  return out;
}

std::vector<std::pair<std::int64_t, std::int64_t>> ranges(const std::vector<churn::session_interval>& set) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (const auto& s : set) out.emplace_back(s.first_ts, s.last_ts);
  return out;
}

}  // namespace

TEST_CASE("sessionize: per-session length, events, songs, distinct artists, listening time") {
  std::vector<churn::event> events = {
      ev("1", 5, 0, churn::page::home),
      ev("1", 5, 1 * minute, churn::page::next_song, "A", 120.5),
      ev("1", 5, 4 * minute, churn::page::next_song, "A", 200),
      ev("1", 5, 8 * minute, churn::page::next_song, "B", 100),
      ev("1", 5, 50 * minute, churn::page::next_song, "C", 60),  // 42 minutes later: a new session
      ev("2", 5, 3 * minute, churn::page::home),                 // same id, other user
      ev("", 5, 3 * minute, churn::page::home),                  // no user: not a session
  };
  auto s = churn::sessionize(events, 30);
  REQUIRE(s.size() == 3);
  CHECK(s[0].user_id == "1");
  CHECK(s[0].events == 4);
  CHECK(s[0].songs == 3);
  CHECK(s[0].distinct_artists == 2);
  CHECK(s[0].minutes() == 8);
  CHECK(s[0].listen_seconds == doctest::Approx(420.5));
  CHECK(s[1].first_ts == 50 * minute);
  CHECK(s[1].events == 1);
  CHECK(s[1].distinct_artists == 1);
  CHECK(s[2].user_id == "2");
  // Gap 0 trusts the session ids: one session for user 1.
  auto ids_only = churn::sessionize(events, 0);
  CHECK(ids_only.size() == 2);
  CHECK(ids_only[0].events == 5);
  CHECK_THROWS_AS(churn::sessionize(events, -1), churn::parameter_error);
}

TEST_CASE("streaming intervals: any insertion order gives the components of the whole") {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    INFO("trial " << trial);
    const std::int64_t gap = std::int64_t(1 + rng() % 40) * minute;
    std::vector<std::int64_t> ts(1 + rng() % 60);
    for (auto& t : ts) t = std::int64_t(rng() % (600 * 60)) * 1000;  // ten hours, second resolution
    auto expected = brute(ts, gap);

    std::shuffle(ts.begin(), ts.end(), rng);
    std::vector<churn::session_interval> one;
    for (auto t : ts) churn::detail::insert_interval(one, {t, t, 1, 0, 0}, gap);
    CHECK(ranges(one) == expected);
    std::uint32_t events = 0;
    for (const auto& s : one) events += s.events;
    CHECK(events == ts.size());

    // Two halves built separately, then merged interval by interval (as the accumulator merges).
    std::size_t cut = rng() % (ts.size() + 1);
    std::vector<churn::session_interval> a, b;
    for (std::size_t i = 0; i < ts.size(); ++i)
      churn::detail::insert_interval(i < cut ? a : b, {ts[i], ts[i], 1, 0, 0}, gap);
    for (const auto& iv : b) churn::detail::insert_interval(a, iv, gap);
    CHECK(ranges(a) == expected);

    // And the finalisation path: link_intervals over arbitrary pieces.
    std::vector<churn::session_interval> pieces(a.begin(), a.end());
    CHECK(ranges(churn::detail::link_intervals(pieces, gap)) == expected);
  }
}

TEST_CASE("the gap rule is inclusive: exactly gap apart is the same session") {
  std::vector<churn::session_interval> set;
  churn::detail::insert_interval(set, {0, 0, 1, 0, 0}, 30 * minute);
  churn::detail::insert_interval(set, {30 * minute, 30 * minute, 1, 0, 0}, 30 * minute);
  CHECK(set.size() == 1);
  churn::detail::insert_interval(set, {60 * minute + 1, 60 * minute + 1, 1, 0, 0}, 30 * minute);
  CHECK(set.size() == 2);
  // A late event between two sessions joins them.
  churn::detail::insert_interval(set, {45 * minute, 45 * minute, 1, 0, 0}, 30 * minute);
  REQUIRE(set.size() == 1);
  CHECK(set[0].events == 4);
  // With the rule off (the largest gap) nothing ever splits, and nothing overflows.
  std::vector<churn::session_interval> ids_only;
  const auto huge = std::numeric_limits<std::int64_t>::max();
  churn::detail::insert_interval(ids_only, {5, 5, 1, 0, 0}, huge);
  churn::detail::insert_interval(ids_only, {huge / 2, huge / 2, 1, 0, 0}, huge);
  churn::detail::insert_interval(ids_only, {-huge / 2, -huge / 2, 1, 0, 0}, huge);
  CHECK(ids_only.size() == 1);
}

TEST_CASE("song length in whole microseconds, robust to missing values") {
  CHECK(churn::length_us(246.30812) == 246308120);
  CHECK(churn::length_us(std::numeric_limits<double>::quiet_NaN()) == 0);
  CHECK(churn::length_us(-3) == 0);
}
