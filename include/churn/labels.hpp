#pragma once
// How a user is labelled as churned, and which of their events may feed the features.
//
// Churn means the user reached "Cancellation Confirmation". Two modes:
//  - window (default): a cutoff T (a UTC midnight). Features use only events before T; the label is 1
//    when the user's cancellation falls in [T, T + horizon); users who cancelled before T are left out.
//    This is what a model that predicts "who will leave next" must be trained on.
//  - history (the Sparkify notebooks' approach): features from all of a user's events (which, in a log
//    where cancellation ends the account, are the events before the cancellation). It leaks: a churned
//    user's log simply stops, so tenure, recency and totals betray the label. See docs/features.md.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <limits>
#include <string>
#include <string_view>

#include "error.hpp"
#include "event.hpp"

namespace churn {

enum class label_mode : std::uint8_t { window, history };

inline constexpr std::int64_t ms_per_day = 86'400'000;
inline constexpr std::int64_t ms_per_hour = 3'600'000;

inline std::string_view to_string(label_mode m) noexcept {
  return m == label_mode::window ? std::string_view("window") : std::string_view("history");
}

/// "window" or "history". Throws parameter_error for anything else.
inline label_mode parse_label_mode(std::string_view name) {
  if (name == "window") return label_mode::window;
  if (name == "history") return label_mode::history;
  throw parameter_error("label", "'" + std::string(name) + "'", "'window' or 'history'");
}

/// The labelling and sessionization options, and the aggregation's user limit, in one plain struct.
struct label_options {
  label_mode mode = label_mode::window;
  /// Window mode: the cutoff T in epoch milliseconds, a UTC midnight; `missing_int` picks the default
  /// rule: the last UTC midnight at or before (last timestamp of the log - horizon), so that the whole
  /// label window lies inside the log. Ignored in history mode.
  std::int64_t cutoff_ms = missing_int;
  /// Window mode: length of the label window [T, T + horizon), in days (fractions allowed).
  double horizon_days = 30.0;
  /// Two events of one (user, sessionId) more than this many minutes apart belong to different
  /// sessions (for logs whose session ids are unreliable). 0 trusts the ids alone.
  double session_gap_minutes = 30.0;
  /// Resource limit of the aggregation (feature_accumulator, accumulate_files, user_features): more
  /// distinct users than this is a data_error, raised at the first user beyond it, so that a hostile
  /// or mistaken input cannot grow memory without bound (~0.5 KB per user while reading, ~1.4 KB at
  /// the peak of finalize). 0: no limit. Not a labelling option: finalize() ignores it.
  std::uint64_t max_users = 0;

  /// Throws parameter_error naming the parameter, the value and what is allowed.
  void validate() const {
    if (!(std::isfinite(horizon_days) && horizon_days > 0 && horizon_days <= 36500))
      throw parameter_error("horizon_days", std::to_string(horizon_days), "a number of days in (0, 36500]");
    if (!(std::isfinite(session_gap_minutes) && session_gap_minutes >= 0 && session_gap_minutes <= 1e7))
      throw parameter_error("session_gap_minutes", std::to_string(session_gap_minutes),
                            "0 (session ids only) or a positive number of minutes");
    if (mode == label_mode::window && cutoff_ms != missing_int && cutoff_ms % ms_per_day != 0)
      throw parameter_error("cutoff", std::to_string(cutoff_ms),
                            "a UTC midnight (epoch milliseconds divisible by 86400000), e.g. 2018-11-01; "
                            "per-user state is kept by UTC day so that any such cutoff is exact");
  }

  /// The horizon in milliseconds (rounded to the millisecond).
  std::int64_t horizon_ms() const noexcept { return std::llround(horizon_days * double(ms_per_day)); }
  /// The session gap in milliseconds; the largest int64 when the gap rule is off.
  std::int64_t session_gap_ms() const noexcept {
    return session_gap_minutes == 0 ? std::numeric_limits<std::int64_t>::max()
                                    : std::llround(session_gap_minutes * 60'000.0);
  }
};

/// floor(a / b) for b > 0, also for negative a (timestamps before 1970).
inline std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/// The UTC day number (days since 1970-01-01) of an epoch-millisecond time.
inline std::int64_t utc_day(std::int64_t ts_ms) noexcept { return floor_div(ts_ms, ms_per_day); }

/// The default window-mode cutoff for a log whose last event is at `last_ts`: the UTC midnight at or
/// before last_ts - horizon.
inline std::int64_t default_cutoff(std::int64_t last_ts, double horizon_days) {
  label_options o;
  o.horizon_days = horizon_days;
  return utc_day(last_ts - o.horizon_ms()) * ms_per_day;
}

/// "YYYY-MM-DD" for the UTC day of `ts_ms`, with "THH:MM:SSZ" unless it is a midnight.
inline std::string format_utc(std::int64_t ts_ms) {
  std::int64_t days = utc_day(ts_ms);
  std::int64_t ms_of_day = ts_ms - days * ms_per_day;
  // Civil-from-days (H. Hinnant's algorithm): no dependence on the C library's time zone state.
  std::int64_t z = days + 719468;
  std::int64_t era = floor_div(z, 146097);
  std::int64_t doe = z - era * 146097;
  std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = yoe + era * 400;
  std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  std::int64_t mp = (5 * doy + 2) / 153;
  std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char buf[96];
  if (ms_of_day == 0) {
    std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld", static_cast<long long>(y), static_cast<long long>(m),
                  static_cast<long long>(d));
  } else {
    std::int64_t s = ms_of_day / 1000;
    std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", static_cast<long long>(y),
                  static_cast<long long>(m), static_cast<long long>(d), static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  }
  return buf;
}

/// Parses a cutoff given as "YYYY-MM-DD" (UTC midnight) or as epoch milliseconds.
/// Throws parameter_error naming the text when it is neither.
inline std::int64_t parse_cutoff(std::string_view text) {
  auto bad = [&]() {
    return parameter_error("cutoff", "'" + std::string(text) + "'",
                           "a date YYYY-MM-DD (UTC midnight) or epoch milliseconds");
  };
  if (text.empty()) throw bad();
  bool digits = true;
  for (std::size_t i = (text[0] == '-' ? 1 : 0); i < text.size(); ++i)
    if (text[i] < '0' || text[i] > '9') digits = false;
  if (digits && text.size() > 8) {
    try {
      return std::stoll(std::string(text));
    } catch (const std::exception&) {
      throw bad();
    }
  }
  int y = 0, m = 0, d = 0;
  char tail = 0;
  if (text.size() != 10 || std::sscanf(std::string(text).c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 ||
      m < 1 || m > 12 || d < 1 || d > 31)
    throw bad();
  // Days-from-civil (H. Hinnant).
  std::int64_t yy = m <= 2 ? y - 1 : y;
  std::int64_t era = floor_div(yy, 400);
  std::int64_t yoe = yy - era * 400;
  std::int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  std::int64_t days = era * 146097 + doe - 719468;
  if (format_utc(days * ms_per_day) != text) throw bad();  // e.g. 2018-02-30
  return days * ms_per_day;
}

}  // namespace churn
