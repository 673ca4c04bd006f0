#include <doctest/doctest.h>

#include <string>

#include <churn/dates.hpp>
#include <churn/features.hpp>
#include <churn/labels.hpp>

namespace {
constexpr std::int64_t day = churn::ms_per_day;

churn::event ev(const std::string& user, std::int64_t ts, churn::page p) {
  churn::event e;
  e.user_id = user;
  e.ts = ts;
  e.session_id = ts / 1000;
  e.page = p;
  return e;
}
}  // namespace

TEST_CASE("cutoff parsing and formatting (UTC)") {
  CHECK(churn::parse_cutoff("1970-01-01") == 0);
  CHECK(churn::parse_cutoff("2018-11-15") == 1542240000000);
  CHECK(churn::parse_cutoff("2000-03-01") == 951868800000);
  CHECK(churn::parse_cutoff("1542240000000") == 1542240000000);
  CHECK(churn::format_utc(1542240000000) == "2018-11-15");
  CHECK(churn::format_utc(1541105830796) == "2018-11-01T20:57:10Z");
  CHECK(churn::format_utc(-1) == "1969-12-31T23:59:59Z");
  CHECK_THROWS_WITH_AS(churn::parse_cutoff("2018-02-30"), doctest::Contains("YYYY-MM-DD"), churn::parameter_error);
  CHECK_THROWS_AS(churn::parse_cutoff("yesterday"), churn::parameter_error);
  CHECK_THROWS_AS(churn::parse_cutoff(""), churn::parameter_error);
  CHECK(churn::utc_day(-1) == -1);
  CHECK(churn::utc_day(day) == 1);
}

TEST_CASE("one date parser: cutoffs, the simulator's start and parse_date agree on every day") {
  // Every day of 1970-2100 (leap years, century rules) round-trips through format_utc, and the three
  // entry points give the same milliseconds.
  for (std::int64_t day = 0; day < 47'847; ++day) {
    const std::string text = churn::format_utc(day * churn::ms_per_day);
    REQUIRE(churn::parse_date(text) == day * churn::ms_per_day);
    REQUIRE(churn::parse_cutoff(text) == day * churn::ms_per_day);
    REQUIRE(churn::days_from_civil(std::stoi(text.substr(0, 4)), std::stoi(text.substr(5, 2)),
                                   std::stoi(text.substr(8, 2))) == day);
  }
  CHECK(churn::parse_date("1600-02-29") == churn::days_from_civil(1600, 2, 29) * churn::ms_per_day);
  CHECK(churn::parse_date("1969-12-31") == -churn::ms_per_day);
  for (const char* bad : {"2019-02-29", "1900-02-29", "2018-04-31", "2018-00-10", "2018-13-01", "2018-1x-01",
                          "18-10-01", "2018/10/01", "2018-10-1 ", " 2018-10-01", "+018-10-01", "-001-01-01", ""}) {
    INFO(bad);
    CHECK_FALSE(churn::try_parse_date(bad).has_value());
    CHECK_THROWS_WITH_AS(
        churn::parse_date(bad, "day"),
        ("invalid value for parameter 'day': '" + std::string(bad) + "' (allowed: a date YYYY-MM-DD)").c_str(),
        churn::parameter_error);
  }
  CHECK(churn::ms_per_day == 24 * churn::ms_per_hour);
  CHECK(churn::ms_per_day == churn::seconds_per_day * 1000);
}

TEST_CASE("options are validated with the parameter, the value and what is allowed") {
  churn::label_options o;
  CHECK_NOTHROW(o.validate());
  o.horizon_days = 0;
  CHECK_THROWS_WITH_AS(o.validate(), doctest::Contains("horizon_days"), churn::parameter_error);
  churn::aggregation_options a;
  CHECK_NOTHROW(a.validate());
  a.session_gap_minutes = -5;
  CHECK_THROWS_WITH_AS(a.validate(), doctest::Contains("session_gap_minutes"), churn::parameter_error);
  o = {};
  o.cutoff_ms = churn::parse_cutoff("2018-11-15") + 3600'000;
  CHECK_THROWS_WITH_AS(o.validate(), doctest::Contains("UTC midnight"), churn::parameter_error);
  o.mode = churn::label_mode::history;  // the cutoff is not used in history mode
  CHECK_NOTHROW(o.validate());
  CHECK(churn::parse_label_mode("history") == churn::label_mode::history);
  CHECK_THROWS_WITH_AS(churn::parse_label_mode("future"), doctest::Contains("'window' or 'history'"),
                       churn::parameter_error);
}

TEST_CASE("default cutoff: midnight at or before the last event minus the horizon") {
  const std::int64_t last = churn::parse_cutoff("2018-12-03") + 70 * 60'000;  // 01:10 on Dec 3
  CHECK(churn::default_cutoff(last, 30) == churn::parse_cutoff("2018-11-03"));
  CHECK(churn::default_cutoff(churn::parse_cutoff("2018-12-03"), 30) == churn::parse_cutoff("2018-11-03"));
  CHECK(churn::default_cutoff(churn::parse_cutoff("2018-12-03") - 1, 30) == churn::parse_cutoff("2018-11-02"));
  CHECK(churn::default_cutoff(last, 0.5) == churn::parse_cutoff("2018-12-02"));
}

TEST_CASE("label window boundaries: [T, T + horizon), cancellations before T left out") {
  const std::int64_t T = churn::parse_cutoff("2018-11-15");
  std::vector<churn::event> events;
  // Each user is active before T and confirms a cancellation at a chosen time.
  auto user = [&](const std::string& id, std::int64_t cancel_at) {
    events.push_back(ev(id, T - 3 * day, churn::page::next_song));
    if (cancel_at != churn::missing_int) events.push_back(ev(id, cancel_at, churn::page::cancellation_confirmation));
  };
  user("1", T);                                           // at the cutoff: in the window
  user("2", T + 7 * day - 1);                             // last millisecond of the window
  user("3", T + 7 * day);                                 // just after the window
  user("4", T - 1);                                       // before the cutoff: left out
  user("5", churn::missing_int);                          // never
  events.push_back(ev("6", T + day, churn::page::home));  // first seen after the cutoff
  churn::label_options o;
  o.cutoff_ms = T;
  o.horizon_days = 7;
  auto t = churn::user_features(events, o);
  CHECK(t.user_ids == std::vector<std::string>{"1", "2", "3", "5"});
  std::vector<int> labels(t.labels.data(), t.labels.data() + t.labels.size());
  CHECK(labels == std::vector<int>{1, 1, 0, 0});
  CHECK(t.report.users_cancelled_before_cutoff == 1);
  CHECK(t.report.users_without_events_before_cutoff == 1);
  CHECK(t.report.users_churned == 2);

  o.mode = churn::label_mode::history;
  auto h = churn::user_features(events, o);
  std::vector<int> hl(h.labels.data(), h.labels.data() + h.labels.size());
  CHECK(h.user_ids == std::vector<std::string>{"1", "2", "3", "4", "5", "6"});
  CHECK(hl == std::vector<int>{1, 1, 1, 1, 0, 0});
}

TEST_CASE("history mode reports users with events after their cancellation") {
  std::vector<churn::event> events = {ev("1", 1000 * day, churn::page::home),
                                      ev("1", 1000 * day + 5, churn::page::cancellation_confirmation),
                                      ev("1", 1001 * day, churn::page::home)};
  churn::label_options o;
  o.mode = churn::label_mode::history;
  auto t = churn::user_features(events, o);
  CHECK(t.report.users_active_after_cancellation == 1);
  CHECK(t.report.summary().find("after their cancellation") != std::string::npos);
}
