#pragma once
// UTC dates and epoch milliseconds: the one date parser and formatter of the library (labels' cutoffs,
// snapshot cutoffs, the simulator's start day, the bindings), and the named time constants.
// Civil-from-days and days-from-civil are H. Hinnant's algorithms: no dependence on the C library's
// time zone state.
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "error.hpp"

namespace churn {

inline constexpr std::int64_t ms_per_day = 86'400'000;
inline constexpr std::int64_t ms_per_hour = 3'600'000;
inline constexpr std::int64_t seconds_per_day = 86'400;

/// floor(a / b) for b > 0, also for negative a (timestamps before 1970).
inline std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/// The UTC day number (days since 1970-01-01) of an epoch-millisecond time.
inline std::int64_t utc_day(std::int64_t ts_ms) noexcept { return floor_div(ts_ms, ms_per_day); }

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1-12; the day is not checked).
inline std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const std::int64_t era = floor_div(y, 400);
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/// "YYYY-MM-DD" for the UTC day of `ts_ms`, with "THH:MM:SSZ" unless it is a midnight.
inline std::string format_utc(std::int64_t ts_ms) {
  std::int64_t days = utc_day(ts_ms);
  std::int64_t ms_of_day = ts_ms - days * ms_per_day;
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

/// Epoch milliseconds of 00:00 UTC on a date written exactly "YYYY-MM-DD" (years 0000-9999, real
/// calendar days: 2019-02-29 is not one); nullopt for anything else.
inline std::optional<std::int64_t> try_parse_date(std::string_view text) noexcept {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  auto number = [&](std::size_t pos, std::size_t len, int& out) {
    out = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  int y = 0, m = 0, d = 0;
  if (!number(0, 4, y) || !number(5, 2, m) || !number(8, 2, d)) return std::nullopt;
  static constexpr int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (m < 1 || m > 12 || d < 1 || d > month_days[m - 1] + (m == 2 && leap)) return std::nullopt;
  return days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d)) * ms_per_day;
}

/// Epoch milliseconds of 00:00 UTC on a "YYYY-MM-DD" date. Throws parameter_error naming `parameter`
/// and the text otherwise.
inline std::int64_t parse_date(std::string_view text, const std::string& parameter = "date") {
  if (auto ms = try_parse_date(text)) return *ms;
  throw parameter_error(parameter, "'" + std::string(text) + "'", "a date YYYY-MM-DD");
}

}  // namespace churn
