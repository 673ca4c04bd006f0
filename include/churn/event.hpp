#pragma once
// One row of a Sparkify event log, with typed fields, and the closed vocabularies it uses.
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

namespace churn {

namespace detail {
/// `s == literal`, with the literal's length known at compile time so that the comparison compiles to
/// a few loads instead of a call to memcmp (this runs for every field of every event).
template <std::size_t N>
inline bool equals(std::string_view s, const char (&literal)[N]) noexcept {
  return s.size() == N - 1 && std::memcmp(s.data(), literal, N - 1) == 0;
}
}  // namespace detail

/// The 22 pages of the Sparkify churn data, in alphabetical order of their names, then `unknown` for
/// any other page name (kept, not dropped: event::page_name holds the original text).
enum class page : std::uint8_t {
  about,
  add_friend,
  add_to_playlist,
  cancel,
  cancellation_confirmation,
  downgrade,
  error,
  help,
  home,
  login,
  logout,
  next_song,
  register_,  // "Register" (trailing underscore: `register` is a keyword)
  roll_advert,
  save_settings,
  settings,
  submit_downgrade,
  submit_registration,
  submit_upgrade,
  thumbs_down,
  thumbs_up,
  upgrade,
  unknown
};
inline constexpr std::size_t known_page_count = 22;

enum class auth : std::uint8_t { logged_in, logged_out, guest, cancelled, unknown };
enum class level : std::uint8_t { free, paid, unknown };
enum class http_method : std::uint8_t { get, put, unknown };

/// Page names exactly as they appear in the logs, indexed by `page`.
inline constexpr std::array<std::string_view, known_page_count> page_names = {"About",
                                                                              "Add Friend",
                                                                              "Add to Playlist",
                                                                              "Cancel",
                                                                              "Cancellation Confirmation",
                                                                              "Downgrade",
                                                                              "Error",
                                                                              "Help",
                                                                              "Home",
                                                                              "Login",
                                                                              "Logout",
                                                                              "NextSong",
                                                                              "Register",
                                                                              "Roll Advert",
                                                                              "Save Settings",
                                                                              "Settings",
                                                                              "Submit Downgrade",
                                                                              "Submit Registration",
                                                                              "Submit Upgrade",
                                                                              "Thumbs Down",
                                                                              "Thumbs Up",
                                                                              "Upgrade"};

inline constexpr std::array<std::string_view, 4> auth_names = {"Logged In", "Logged Out", "Guest", "Cancelled"};
inline constexpr std::array<std::string_view, 2> level_names = {"free", "paid"};
inline constexpr std::array<std::string_view, 2> method_names = {"GET", "PUT"};

/// The name of a page as in the logs ("Unknown" for page::unknown).
inline std::string_view to_string(page p) noexcept {
  auto i = static_cast<std::size_t>(p);
  return i < page_names.size() ? page_names[i] : std::string_view("Unknown");
}
inline std::string_view to_string(auth a) noexcept {
  auto i = static_cast<std::size_t>(a);
  return i < auth_names.size() ? auth_names[i] : std::string_view("Unknown");
}
inline std::string_view to_string(level l) noexcept {
  auto i = static_cast<std::size_t>(l);
  return i < level_names.size() ? level_names[i] : std::string_view("unknown");
}
inline std::string_view to_string(http_method m) noexcept {
  auto i = static_cast<std::size_t>(m);
  return i < method_names.size() ? method_names[i] : std::string_view("unknown");
}

/// Page from its log name; page::unknown when it is not one of the 22.
inline page parse_page(std::string_view name) noexcept {
  // Most events are songs; the others are few and short, compared by length first.
  if (detail::equals(name, "NextSong")) return page::next_song;
  for (std::size_t i = 0; i < page_names.size(); ++i)
    if (page_names[i].size() == name.size() && page_names[i] == name) return static_cast<page>(i);
  return page::unknown;
}
inline auth parse_auth(std::string_view name) noexcept {
  if (detail::equals(name, "Logged In")) return auth::logged_in;
  for (std::size_t i = 0; i < auth_names.size(); ++i)
    if (auth_names[i] == name) return static_cast<auth>(i);
  return auth::unknown;
}
inline level parse_level(std::string_view name) noexcept {
  if (detail::equals(name, "free")) return level::free;
  if (detail::equals(name, "paid")) return level::paid;
  return level::unknown;
}
inline http_method parse_method(std::string_view name) noexcept {
  if (detail::equals(name, "GET")) return http_method::get;
  if (detail::equals(name, "PUT")) return http_method::put;
  return http_method::unknown;
}

/// Marks an integer field that was null or absent in the log.
inline constexpr std::int64_t missing_int = std::numeric_limits<std::int64_t>::min();

/// One event. Strings are empty and numbers are `missing_int` (or NaN for `length`) when the log had
/// null or no value. Guests and logged-out rows have an empty user_id.
struct event {
  std::int64_t ts = missing_int;  ///< epoch milliseconds (required)
  std::string user_id;            ///< "" for guests and logged-out rows
  std::int64_t session_id = missing_int;
  churn::page page = page::unknown;  ///< page::unknown for names outside the 22 known
  std::string page_name;             ///< the page text as in the log (always kept)
  churn::auth auth = auth::unknown;
  http_method method = http_method::unknown;
  std::int64_t status = missing_int;  ///< HTTP status: 200, 307, 404
  churn::level level = level::unknown;
  std::int64_t item_in_session = missing_int;
  std::string location;  ///< "City, ST" (US metro area)
  std::string user_agent;
  std::string last_name;
  std::string first_name;
  std::int64_t registration = missing_int;                   ///< epoch milliseconds (floats in real files are accepted)
  std::string gender;                                        ///< "M", "F" or ""
  std::string artist;                                        ///< NextSong only
  std::string song;                                          ///< NextSong only
  double length = std::numeric_limits<double>::quiet_NaN();  ///< seconds, NextSong only
  std::string auth_name;    ///< the auth text as in the log (`auth` is unknown for any other text)
  std::string method_name;  ///< the method text as in the log
  std::string level_name;   ///< the level text as in the log
  /// Bit i set when field_names[i] had a value that was not null: tells a null or absent string from
  /// an empty one (numbers say so themselves: missing_int, NaN). The parser sets it; an event built
  /// in code has every field present.
  std::uint32_t present = ~std::uint32_t(0);

  bool has_user() const noexcept { return !user_id.empty(); }
  /// Whether field_names[field] had a value that was not null.
  bool has(std::size_t field) const noexcept { return field < 32 && ((present >> field) & 1u) != 0; }
};

/// The 18 field names of the JSON lines, in the order of the real churn files.
inline constexpr std::array<std::string_view, 18> field_names = {
    "ts",       "userId",    "sessionId", "page",      "auth",         "method", "status", "level", "itemInSession",
    "location", "userAgent", "lastName",  "firstName", "registration", "gender", "artist", "song",  "length"};

}  // namespace churn
