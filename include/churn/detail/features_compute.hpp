#pragma once
// From one user's accumulated state to a summary of the events that may feed the features, and the
// list of features computed from that summary. The definitions here are the normative ones; docs/
// features.md explains each and why it can predict churn.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "../event.hpp"
#include "../labels.hpp"
#include "../sessions.hpp"
#include "features_categories.hpp"
#include "features_state.hpp"

namespace churn {

enum class feature_kind : std::uint8_t { numeric, categorical };

/// What a column of the feature table means. For a categorical feature the value is a code indexing
/// `categories` (code 0 "unknown": no value, code 1 "other": a value outside the fixed list).
struct feature_info {
  std::string name;
  std::string description;
  std::string unit;
  feature_kind kind = feature_kind::numeric;
  std::vector<std::string> categories;
};

namespace detail {

/// The user's activity in the feature period: days [.., end_day), reference time `ref_ms` (the
/// cutoff in window mode; the cancellation, or the log's last event, in history mode).
struct user_summary {
  std::array<std::uint64_t, page_slots> pages{};
  std::uint64_t events = 0, paid_events = 0, active_days = 0, distinct_artists = 0;
  std::int64_t listen_us = 0;
  std::int64_t first_ts = no_ts_min, last_ts = no_ts_max;
  std::int64_t first_day = 0, end_day = 0, ref_ms = 0;
  std::uint8_t level = static_cast<std::uint8_t>(churn::level::unknown);
  std::uint64_t events_last7 = 0, events_last14 = 0, songs_last7 = 0, songs_last14 = 0;
  std::uint64_t sessions = 0;
  double mean_session_minutes = 0, max_session_minutes = 0, mean_session_gap_hours = 0;
  std::int64_t registration = missing_int;
  int gender = 0, platform = 0, browser = 0, state = 0;

  std::uint64_t page_count(page p) const noexcept { return pages[static_cast<std::size_t>(p)]; }
  std::uint64_t songs() const noexcept { return page_count(page::next_song); }
};

/// Summarises the days before `end_day` (exclusive) of `u`, with times measured against `ref_ms`, and
/// only attribute values seen before `attr_before_ms`. Returns false when the user has no event there.
inline bool summarise(const user_state& u, std::int64_t end_day, std::int64_t ref_ms, std::int64_t attr_before_ms,
                      std::int64_t gap_ms, user_summary& s) {
  s = user_summary{};
  s.end_day = end_day;
  s.ref_ms = ref_ms;
  std::int64_t level_ts = no_ts_max, level_item = missing_int;
  bool any = false;
  for (const auto& b : u.days) {
    if (b.day >= end_day) break;
    std::uint64_t n = b.events();
    if (n == 0) continue;
    if (!any) s.first_day = b.day;
    any = true;
    ++s.active_days;
    for (std::size_t i = 0; i < page_slots; ++i) s.pages[i] += b.pages[i];
    s.events += n;
    s.paid_events += b.paid_events;
    s.listen_us += b.listen_us;
    s.first_ts = std::min(s.first_ts, b.first_ts);
    s.last_ts = std::max(s.last_ts, b.last_ts);
    if (b.level_ts != no_ts_max &&
        std::tie(b.level_ts, b.level_item, b.level) > std::tie(level_ts, level_item, s.level)) {
      level_ts = b.level_ts;
      level_item = b.level_item;
      s.level = b.level;
    }
    std::uint64_t songs = b.pages[static_cast<std::size_t>(page::next_song)];
    if (b.day >= end_day - 7) s.events_last7 += n, s.songs_last7 += songs;
    if (b.day >= end_day - 14) s.events_last14 += n, s.songs_last14 += songs;
  }
  if (!any) return false;

  s.distinct_artists = u.artists.count_before(end_day);

  // Sessions: parts of one session id before end_day, re-linked across days under the gap rule.
  std::vector<session_interval> sessions, pool;
  for (std::size_t i = 0; i < u.parts.size();) {
    std::size_t j = i;
    pool.clear();
    for (; j < u.parts.size() && u.parts[j].session_id == u.parts[i].session_id; ++j)
      if (u.parts[j].day < end_day) pool.insert(pool.end(), u.parts[j].intervals.begin(), u.parts[j].intervals.end());
    for (const auto& iv : link_intervals(pool, gap_ms)) sessions.push_back(iv);
    i = j;
  }
  std::sort(sessions.begin(), sessions.end(), [](const session_interval& a, const session_interval& b) {
    return std::tie(a.first_ts, a.last_ts, a.events) < std::tie(b.first_ts, b.last_ts, b.events);
  });
  s.sessions = sessions.size();
  double total_minutes = 0, total_gap = 0;
  for (std::size_t i = 0; i < sessions.size(); ++i) {
    double minutes = double(sessions[i].last_ts - sessions[i].first_ts) / 60'000.0;
    total_minutes += minutes;
    s.max_session_minutes = std::max(s.max_session_minutes, minutes);
    if (i > 0) total_gap += double(std::max<std::int64_t>(0, sessions[i].first_ts - sessions[i - 1].last_ts));
  }
  if (!sessions.empty()) s.mean_session_minutes = total_minutes / double(sessions.size());
  if (sessions.size() >= 2)
    s.mean_session_gap_hours = total_gap / double(sessions.size() - 1) / double(ms_per_hour);
  else if (!sessions.empty())  // no gap observed yet: the open gap to the reference time, a lower bound
    s.mean_session_gap_hours = double(std::max<std::int64_t>(0, ref_ms - sessions[0].last_ts)) / double(ms_per_hour);

  if (u.registration.ts < attr_before_ms) s.registration = u.registration.value;
  if (u.gender.ts < attr_before_ms) s.gender = gender_code(u.gender.value);
  if (u.user_agent.ts < attr_before_ms) {
    s.platform = platform_code(u.user_agent.value);
    s.browser = browser_code(u.user_agent.value);
  }
  if (u.location.ts < attr_before_ms) s.state = state_code(u.location.value);
  return true;
}

inline double ratio(double a, double b) noexcept { return b > 0 ? a / b : 0.0; }

/// Activity per day in the last `n` days against the user's earlier daily average (1 when there is no
/// earlier period to compare with).
inline double trend(const user_summary& s, std::uint64_t last_n_events, std::int64_t n) noexcept {
  std::int64_t days_before = (s.end_day - n) - s.first_day;
  if (days_before <= 0) return 1.0;
  double before = double(s.events - last_n_events) / double(days_before);
  return ratio(double(last_n_events) / double(n), before);
}

struct feature_spec {
  feature_info info;
  double (*value)(const user_summary&);
};

template <std::size_t N>
std::vector<std::string> to_strings(const std::array<std::string_view, N>& a) {
  return std::vector<std::string>(a.begin(), a.end());
}

/// Every feature, in column order.
inline std::vector<feature_spec> feature_specs() {
  using S = const user_summary&;
  auto num = [](const char* name, const char* unit, const char* description) {
    return feature_info{name, description, unit, feature_kind::numeric, {}};
  };
  auto cat = [](const char* name, const char* description, std::vector<std::string> categories) {
    return feature_info{name, description, "code", feature_kind::categorical, std::move(categories)};
  };
  return {
      // Volume and intensity
      {num("events", "events", "events (page views of any kind, cancellation events excluded)"),
       [](S s) { return double(s.events); }},
      {num("songs", "songs", "songs played (NextSong events)"), [](S s) { return double(s.songs()); }},
      {num("sessions", "sessions", "sessions (per session id, split at inactivity gaps)"),
       [](S s) { return double(s.sessions); }},
      {num("active_days", "days", "distinct UTC days with at least one event"),
       [](S s) { return double(s.active_days); }},
      {num("events_per_session", "events/session", "events / sessions"),
       [](S s) { return ratio(double(s.events), double(s.sessions)); }},
      {num("songs_per_session", "songs/session", "songs / sessions"),
       [](S s) { return ratio(double(s.songs()), double(s.sessions)); }},
      {num("songs_per_active_day", "songs/day", "songs / active days"),
       [](S s) { return ratio(double(s.songs()), double(s.active_days)); }},
      {num("listening_hours", "hours", "total length of the songs played"),
       [](S s) { return double(s.listen_us) / 3.6e9; }},
      {num("distinct_artists", "artists", "distinct artists among the songs played"),
       [](S s) { return double(s.distinct_artists); }},
      {num("distinct_artists_per_song", "artists/song", "distinct artists / songs (variety)"),
       [](S s) { return ratio(double(s.distinct_artists), double(s.songs())); }},
      // Engagement
      {num("thumbs_up", "events", "Thumbs Up events"), [](S s) { return double(s.page_count(page::thumbs_up)); }},
      {num("thumbs_down", "events", "Thumbs Down events"), [](S s) { return double(s.page_count(page::thumbs_down)); }},
      {num("add_to_playlist", "events", "Add to Playlist events"),
       [](S s) { return double(s.page_count(page::add_to_playlist)); }},
      {num("add_friend", "events", "Add Friend events"), [](S s) { return double(s.page_count(page::add_friend)); }},
      {num("thumbs_up_per_song", "events/song", "Thumbs Up / songs"),
       [](S s) { return ratio(double(s.page_count(page::thumbs_up)), double(s.songs())); }},
      {num("thumbs_down_per_song", "events/song", "Thumbs Down / songs"),
       [](S s) { return ratio(double(s.page_count(page::thumbs_down)), double(s.songs())); }},
      {num("add_to_playlist_per_song", "events/song", "Add to Playlist / songs"),
       [](S s) { return ratio(double(s.page_count(page::add_to_playlist)), double(s.songs())); }},
      {num("add_friend_per_song", "events/song", "Add Friend / songs"),
       [](S s) { return ratio(double(s.page_count(page::add_friend)), double(s.songs())); }},
      {num("thumbs_up_per_session", "events/session", "Thumbs Up / sessions"),
       [](S s) { return ratio(double(s.page_count(page::thumbs_up)), double(s.sessions)); }},
      {num("thumbs_down_per_session", "events/session", "Thumbs Down / sessions"),
       [](S s) { return ratio(double(s.page_count(page::thumbs_down)), double(s.sessions)); }},
      {num("add_to_playlist_per_session", "events/session", "Add to Playlist / sessions"),
       [](S s) { return ratio(double(s.page_count(page::add_to_playlist)), double(s.sessions)); }},
      {num("add_friend_per_session", "events/session", "Add Friend / sessions"),
       [](S s) { return ratio(double(s.page_count(page::add_friend)), double(s.sessions)); }},
      // Friction
      {num("errors", "events", "Error page views"), [](S s) { return double(s.page_count(page::error)); }},
      {num("help", "events", "Help page views"), [](S s) { return double(s.page_count(page::help)); }},
      {num("settings", "events", "Settings page views"), [](S s) { return double(s.page_count(page::settings)); }},
      {num("save_settings", "events", "Save Settings events"),
       [](S s) { return double(s.page_count(page::save_settings)); }},
      {num("roll_adverts", "events", "Roll Advert events (adverts shown)"),
       [](S s) { return double(s.page_count(page::roll_advert)); }},
      {num("downgrade_visits", "events", "Downgrade page views"),
       [](S s) { return double(s.page_count(page::downgrade)); }},
      {num("upgrade_visits", "events", "Upgrade page views"), [](S s) { return double(s.page_count(page::upgrade)); }},
      {num("roll_adverts_per_song", "events/song", "Roll Advert / songs"),
       [](S s) { return ratio(double(s.page_count(page::roll_advert)), double(s.songs())); }},
      {num("errors_per_session", "events/session", "Error / sessions"),
       [](S s) { return ratio(double(s.page_count(page::error)), double(s.sessions)); }},
      {num("help_per_session", "events/session", "Help / sessions"),
       [](S s) { return ratio(double(s.page_count(page::help)), double(s.sessions)); }},
      {num("settings_per_session", "events/session", "Settings / sessions"),
       [](S s) { return ratio(double(s.page_count(page::settings)), double(s.sessions)); }},
      {num("downgrade_visits_per_session", "events/session", "Downgrade page views / sessions"),
       [](S s) { return ratio(double(s.page_count(page::downgrade)), double(s.sessions)); }},
      {num("upgrade_visits_per_session", "events/session", "Upgrade page views / sessions"),
       [](S s) { return ratio(double(s.page_count(page::upgrade)), double(s.sessions)); }},
      // Subscription level
      {num("level_paid", "0/1", "1 when the latest event with a level is at level paid, else 0"),
       [](S s) { return s.level == static_cast<std::uint8_t>(churn::level::paid) ? 1.0 : 0.0; }},
      {num("upgrades", "events", "Submit Upgrade events (free to paid)"),
       [](S s) { return double(s.page_count(page::submit_upgrade)); }},
      {num("downgrades", "events", "Submit Downgrade events (paid to free)"),
       [](S s) { return double(s.page_count(page::submit_downgrade)); }},
      {num("paid_share", "fraction", "share of the events at level paid"),
       [](S s) { return ratio(double(s.paid_events), double(s.events)); }},
      // Tenure and recency
      {num("tenure_days", "days", "days from registration (or, without one, the first event) to the reference time"),
       [](S s) {
         // registration comes from the log as any integer: subtract in double, which cannot overflow
         // and is exact for real times (below 2^53 ms).
         const std::int64_t start = s.registration != missing_int ? s.registration : s.first_ts;
         return std::max(0.0, double(s.ref_ms) - double(start)) / double(ms_per_day);
       }},
      {num("observed_days", "days", "days from the first event to the reference time"),
       [](S s) { return double(std::max<std::int64_t>(0, s.ref_ms - s.first_ts)) / double(ms_per_day); }},
      {num("days_since_last_event", "days", "days from the last event to the reference time"),
       [](S s) { return double(std::max<std::int64_t>(0, s.ref_ms - s.last_ts)) / double(ms_per_day); }},
      {num("events_last_7d", "events", "events in the last 7 days of the period"),
       [](S s) { return double(s.events_last7); }},
      {num("events_last_14d", "events", "events in the last 14 days of the period"),
       [](S s) { return double(s.events_last14); }},
      {num("songs_last_7d", "songs", "songs in the last 7 days of the period"),
       [](S s) { return double(s.songs_last7); }},
      {num("songs_last_14d", "songs", "songs in the last 14 days of the period"),
       [](S s) { return double(s.songs_last14); }},
      {num("trend_7d", "ratio",
           "events per day in the last 7 days / events per day from the first active day until then "
           "(1 without an earlier period)"),
       [](S s) { return trend(s, s.events_last7, 7); }},
      {num("trend_14d", "ratio", "as trend_7d over the last 14 days"),
       [](S s) { return trend(s, s.events_last14, 14); }},
      // Session shape
      {num("mean_session_minutes", "minutes", "mean session length, first to last event"),
       [](S s) { return s.mean_session_minutes; }},
      {num("max_session_minutes", "minutes", "longest session"), [](S s) { return s.max_session_minutes; }},
      {num("mean_session_gap_hours", "hours",
           "mean time between the end of a session and the start of the next (one session: the time "
           "from its end to the reference time)"),
       [](S s) { return s.mean_session_gap_hours; }},
      // Demographics and context
      {cat("gender", "gender from the log", to_strings(gender_categories)), [](S s) { return double(s.gender); }},
      {cat("platform", "operating system parsed from the user agent", to_strings(platform_categories)),
       [](S s) { return double(s.platform); }},
      {cat("browser", "browser parsed from the user agent", to_strings(browser_categories)),
       [](S s) { return double(s.browser); }},
      {cat("state", "US state (first postal code of the location's metro area)", to_strings(state_categories)),
       [](S s) { return double(s.state); }},
  };
}

}  // namespace detail
}  // namespace churn
