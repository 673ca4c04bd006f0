#pragma once
// Snapshots: one row per (user, cutoff) from one pass over a log. Which cutoffs, and the schedule rule.
// The table itself is made by feature_accumulator::finalize(options, snapshots) in features.hpp.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../event.hpp"
#include "../labels.hpp"

namespace churn {

/// Which cutoffs a snapshot table is taken at: the given ones, or a regular schedule.
///
/// Practitioners build one training example per customer per observation date (composeml's label
/// times, featuretools' cutoff times): a user who stays for weeks contributes a row each week, and a
/// churner contributes rows before the week they leave. Every row is exactly the row that
/// user_features() with that single cutoff gives.
struct snapshot_options {
  /// Explicit cutoffs (UTC midnights, epoch ms, any order, no repeats). When empty, `every_days` sets
  /// a schedule.
  std::vector<std::int64_t> cutoffs_ms;
  /// Schedule: a cutoff every this many days, counted back from the last UTC midnight whose whole label
  /// window lies in the log (the default single cutoff, so that it is always one of the snapshots),
  /// down to the first that leaves `min_history_days` of history after the log's first event. 0: none.
  int every_days = 0;
  /// Schedule: history the first cutoff needs (default 14 days: the longest look-back of any feature,
  /// `events_last_14d`, is complete from then on).
  double min_history_days = 14.0;

  /// True when snapshots are asked for (cutoffs given or a schedule).
  bool enabled() const noexcept { return !cutoffs_ms.empty() || every_days > 0; }

  /// Throws parameter_error naming the parameter, the value and what is allowed.
  void validate() const {
    if (every_days < 0 || every_days > 36500)
      throw parameter_error("every_days", std::to_string(every_days),
                            "0 (no schedule) or a number of days in [1, 36500]");
    if (!cutoffs_ms.empty() && every_days > 0)
      throw parameter_error("every_days", std::to_string(every_days),
                            "0 when cutoffs are given (give either the cutoffs or a schedule)");
    if (!(std::isfinite(min_history_days) && min_history_days >= 0 && min_history_days <= 36500))
      throw parameter_error("min_history_days", std::to_string(min_history_days), "a number of days in [0, 36500]");
    std::vector<std::int64_t> sorted = cutoffs_ms;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      if (sorted[i] == missing_int || sorted[i] % ms_per_day != 0)
        throw parameter_error("cutoffs", std::to_string(sorted[i]),
                              "UTC midnights (epoch milliseconds divisible by 86400000), e.g. 2018-11-01");
      if (i > 0 && sorted[i] == sorted[i - 1])
        throw parameter_error("cutoffs", format_utc(sorted[i]) + " twice", "each cutoff at most once");
    }
  }
};

/// The schedule's cutoffs for a log whose events span [first_ts, last_ts], ascending: every
/// `every_days` days back from default_cutoff(last_ts, horizon_days), while at least
/// `min_history_days` lie between the log's first event and the cutoff. Empty when the log is too short
/// for any. Requires every_days >= 1.
inline std::vector<std::int64_t> snapshot_schedule(std::int64_t first_ts, std::int64_t last_ts, int every_days,
                                                   double horizon_days, double min_history_days) {
  std::vector<std::int64_t> out;
  if (every_days < 1 || first_ts == missing_int || last_ts == missing_int) return out;
  const std::int64_t earliest = first_ts + std::llround(min_history_days * double(ms_per_day));
  const std::int64_t step = std::int64_t(every_days) * ms_per_day;
  for (std::int64_t c = default_cutoff(last_ts, horizon_days); c >= earliest; c -= step) out.push_back(c);
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace churn
