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

#include "dates.hpp"
#include "error.hpp"
#include "event.hpp"

namespace churn {

enum class label_mode : std::uint8_t { window, history };

inline std::string_view to_string(label_mode m) noexcept {
  return m == label_mode::window ? std::string_view("window") : std::string_view("history");
}

/// "window" or "history". Throws parameter_error for anything else.
inline label_mode parse_label_mode(std::string_view name) {
  if (name == "window") return label_mode::window;
  if (name == "history") return label_mode::history;
  throw parameter_error("label", "'" + std::string(name) + "'", "'window' or 'history'");
}

// The deprecated members warn where a caller names them, not in the struct's own special members.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

/// The labelling options in one plain struct. How events are aggregated (the session gap, the user
/// limit) is aggregation_options (aggregation.hpp).
struct label_options {
  label_mode mode = label_mode::window;
  /// Window mode: the cutoff T in epoch milliseconds, a UTC midnight; `missing_int` picks the default
  /// rule: the last UTC midnight at or before (last timestamp of the log - horizon), so that the whole
  /// label window lies inside the log. Ignored in history mode.
  std::int64_t cutoff_ms = missing_int;
  /// Window mode: length of the label window [T, T + horizon), in days (fractions allowed).
  double horizon_days = 30.0;

  /// Deprecated, 0.2.0 removes it: aggregation_options::session_gap_minutes. Still honoured where
  /// label_options alone is given (a value other than 30 is used when the aggregation_options passed
  /// beside it keep their default gap; two different gaps are a parameter_error).
  [[deprecated("moved to churn::aggregation_options::session_gap_minutes")]] double session_gap_minutes = 30.0;
  /// Deprecated, 0.2.0 removes it: aggregation_options::max_users (the same rule: 0 is not set).
  [[deprecated("moved to churn::aggregation_options::max_users")]] std::uint64_t max_users = 0;

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
  /// Deprecated, 0.2.0 removes it: aggregation_options::session_gap_ms().
  [[deprecated("moved to churn::aggregation_options::session_gap_ms")]] std::int64_t session_gap_ms() const noexcept {
    return session_gap_minutes == 0 ? std::numeric_limits<std::int64_t>::max()
                                    : std::llround(session_gap_minutes * 60'000.0);
  }
};

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/// The default window-mode cutoff for a log whose last event is at `last_ts`: the UTC midnight at or
/// before last_ts - horizon.
inline std::int64_t default_cutoff(std::int64_t last_ts, double horizon_days) {
  label_options o;
  o.horizon_days = horizon_days;
  return utc_day(last_ts - o.horizon_ms()) * ms_per_day;
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
  if (auto ms = try_parse_date(text)) return *ms;
  throw bad();
}

}  // namespace churn
