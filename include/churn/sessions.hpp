#pragma once
// Sessions: the events of one (userId, sessionId), split further wherever two consecutive events are
// more than a gap apart (default 30 minutes), for logs whose session ids are unreliable.
//
// The streaming form is a set of disjoint time intervals per (user, sessionId, day), each with its
// counts. Inserting an event or merging two such sets gives the same intervals whatever the order:
// the intervals are the connected components of the events under "at most `gap` apart", and two
// components join exactly when their [first, last] ranges overlap or lie at most `gap` apart (inside
// a component consecutive events are at most `gap` apart, so any point within its range is close to
// one of them). This is what lets chunks of a log be aggregated separately and merged exactly.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "aggregation.hpp"
#include "event.hpp"

namespace churn {

/// One run of activity: its time range and counts. All fields are integers so that sums do not depend
/// on the order in which parts are added (listening time is kept in microseconds).
struct session_interval {
  std::int64_t first_ts = 0;  ///< epoch ms of the first event
  std::int64_t last_ts = 0;   ///< epoch ms of the last event
  std::uint32_t events = 0;
  std::uint32_t songs = 0;     ///< NextSong events
  std::int64_t listen_us = 0;  ///< sum of song lengths, microseconds

  /// Adds `other`'s events (the caller has decided they belong together).
  void absorb(const session_interval& o) noexcept {
    first_ts = std::min(first_ts, o.first_ts);
    last_ts = std::max(last_ts, o.last_ts);
    events += o.events;
    songs += o.songs;
    listen_us += o.listen_us;
  }
};

/// Song length in whole microseconds (0 for a missing or negative length).
inline std::int64_t length_us(double seconds) noexcept {
  return std::isfinite(seconds) && seconds > 0 && seconds < 1e9 ? std::llround(seconds * 1e6) : 0;
}

namespace detail {

/// Inserts `x` into `set` (disjoint intervals sorted by first_ts, pairwise more than `gap_ms` apart),
/// joining every interval it overlaps or comes within `gap_ms` of. Keeps the invariant.
/// Complexity: O(log n + k + shifted elements); the common case (x extends the last interval) is O(1).
inline void insert_interval(std::vector<session_interval>& set, session_interval x, std::int64_t gap_ms) {
  auto near = [gap_ms](const session_interval& a, const session_interval& b) {
    // a starts no later than b; they join when b starts at most gap after a ends (saturating add).
    std::int64_t reach = a.last_ts > std::numeric_limits<std::int64_t>::max() - gap_ms
                             ? std::numeric_limits<std::int64_t>::max()
                             : a.last_ts + gap_ms;
    return b.first_ts <= reach;
  };
  if (!set.empty()) {
    session_interval& last = set.back();
    if (last.first_ts <= x.first_ts && near(last, x)) {  // fast path: time-ordered input
      last.absorb(x);
      return;
    }
  }
  // First interval that could join x: the one before the first whose first_ts > x.first_ts.
  auto it = std::upper_bound(set.begin(), set.end(), x.first_ts,
                             [](std::int64_t t, const session_interval& s) { return t < s.first_ts; });
  auto end = it;
  if (it != set.begin() && near(*(it - 1), x)) {
    --it;
    x.absorb(*it);
  }
  // Intervals starting after x join while they start within gap of x's (growing) end.
  while (end != set.end() && near(x, *end)) {
    x.absorb(*end);
    ++end;
  }
  if (it == end) {
    set.insert(it, x);
  } else {
    *it = x;
    set.erase(it + 1, end);
  }
}

/// Joins intervals (any order) into components under the gap rule; returns them sorted by first_ts.
inline std::vector<session_interval> link_intervals(std::vector<session_interval> parts, std::int64_t gap_ms) {
  std::sort(parts.begin(), parts.end(), [](const session_interval& a, const session_interval& b) {
    return std::tie(a.first_ts, a.last_ts) < std::tie(b.first_ts, b.last_ts);
  });
  std::vector<session_interval> out;
  for (const auto& p : parts) {
    if (!out.empty()) {
      std::int64_t reach = out.back().last_ts > std::numeric_limits<std::int64_t>::max() - gap_ms
                               ? std::numeric_limits<std::int64_t>::max()
                               : out.back().last_ts + gap_ms;
      if (p.first_ts <= reach) {
        out.back().absorb(p);
        continue;
      }
    }
    out.push_back(p);
  }
  return out;
}

}  // namespace detail

/// A finished session with its statistics.
struct session {
  std::string user_id;
  std::int64_t session_id = missing_int;  ///< the log's sessionId (missing_int when absent)
  std::int64_t first_ts = 0;
  std::int64_t last_ts = 0;
  std::uint32_t events = 0;
  std::uint32_t songs = 0;
  std::uint32_t distinct_artists = 0;
  double listen_seconds = 0;

  double minutes() const noexcept { return double(last_ts - first_ts) / 60'000.0; }
};

/// Sessions of a list of events (any users, any order), sorted by (user id, first_ts, session id).
/// Events with an empty user id are not sessions of anyone and are skipped. Unlike the streaming
/// feature accumulator this keeps every event's artist, so use it for inspection and tests, not for
/// whole logs. `gap_minutes` = 0 trusts the session ids alone.
/// Throws parameter_error for a negative or non-finite gap.
inline std::vector<session> sessionize(const std::vector<event>& events, double gap_minutes = 30.0) {
  aggregation_options o;
  o.session_gap_minutes = gap_minutes;
  o.validate();
  const std::int64_t gap = o.session_gap_ms();
  struct item {
    std::int64_t ts;
    bool song;
    std::int64_t listen;
    const std::string* artist;
  };
  std::unordered_map<std::string, std::unordered_map<std::int64_t, std::vector<item>>> by_key;
  for (const auto& e : events) {
    if (!e.has_user()) continue;
    bool song = e.page == page::next_song;
    by_key[e.user_id][e.session_id].push_back({e.ts, song, song ? length_us(e.length) : 0, &e.artist});
  }
  std::vector<session> out;
  for (auto& [user, per_session] : by_key) {
    for (auto& [sid, items] : per_session) {
      std::stable_sort(items.begin(), items.end(), [](const item& a, const item& b) { return a.ts < b.ts; });
      std::size_t i = 0;
      while (i < items.size()) {
        session s;
        s.user_id = user;
        s.session_id = sid;
        s.first_ts = items[i].ts;
        std::unordered_set<std::string> artists;
        std::int64_t listen = 0;
        std::size_t j = i;
        for (; j < items.size() && (j == i || items[j].ts - items[j - 1].ts <= gap); ++j) {
          ++s.events;
          if (items[j].song) {
            ++s.songs;
            listen += items[j].listen;
            if (!items[j].artist->empty()) artists.insert(*items[j].artist);
          }
        }
        s.last_ts = items[j - 1].ts;
        s.distinct_artists = static_cast<std::uint32_t>(artists.size());
        s.listen_seconds = double(listen) / 1e6;
        out.push_back(std::move(s));
        i = j;
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const session& a, const session& b) {
    return std::tie(a.user_id, a.first_ts, a.session_id) < std::tie(b.user_id, b.first_ts, b.session_id);
  });
  return out;
}

}  // namespace churn
