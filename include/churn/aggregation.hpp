#pragma once
// How events are aggregated per user, apart from how users are labelled (labels.hpp): the silence that
// splits a session, and the most distinct users an aggregation holds. Used by feature_accumulator,
// accumulate_files and user_features (features.hpp) and by sessionize (sessions.hpp).
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "error.hpp"

namespace churn {

/// The aggregation options in one plain struct (the labelling is label_options).
struct aggregation_options {
  /// Two events of one (user, sessionId) more than this many minutes apart belong to different
  /// sessions (for logs whose session ids are unreliable). 0 trusts the ids alone.
  double session_gap_minutes = 30.0;
  /// Resource limit: more distinct users than this is a limit_error (a data_error), raised at the
  /// first user beyond it, so that a hostile or mistaken input cannot grow memory without bound
  /// (~0.5 KB per user while reading, ~1.4 KB at the peak of finalize). 0: no limit.
  std::uint64_t max_users = 0;

  /// Throws parameter_error naming the parameter, the value and what is allowed.
  void validate() const {
    if (!(std::isfinite(session_gap_minutes) && session_gap_minutes >= 0 && session_gap_minutes <= 1e7))
      throw parameter_error("session_gap_minutes", std::to_string(session_gap_minutes),
                            "0 (session ids only) or a positive number of minutes");
  }

  /// The session gap in milliseconds; the largest int64 when the gap rule is off.
  std::int64_t session_gap_ms() const noexcept {
    return session_gap_minutes == 0 ? std::numeric_limits<std::int64_t>::max()
                                    : std::llround(session_gap_minutes * 60'000.0);
  }
};

}  // namespace churn
