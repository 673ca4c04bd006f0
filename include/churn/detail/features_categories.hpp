#pragma once
// The fixed vocabularies of the categorical features and the parsers that map raw values onto them.
// The lists are compiled in (not learned from the data), so a code means the same thing in every
// table, at training and at prediction time. Code 0 is "unknown" (no value), code 1 is "other" (a
// value outside the list); a value never seen in training simply gets its code or "other".
#include <array>
#include <cstdint>
#include <string_view>

namespace churn {
namespace detail {

inline constexpr std::array<std::string_view, 4> gender_categories = {"unknown", "other", "F", "M"};

inline constexpr std::array<std::string_view, 8> platform_categories = {"unknown", "other",  "windows", "mac",
                                                                        "linux",   "iphone", "ipad",    "android"};

inline constexpr std::array<std::string_view, 8> browser_categories = {
    "unknown", "other", "chrome", "firefox", "safari", "internet_explorer", "edge", "opera"};

// The 50 states, DC and Puerto Rico, by postal code in alphabetical order.
inline constexpr std::array<std::string_view, 54> state_categories = {
    "unknown", "other", "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL", "IN",
    "KS",      "KY",    "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE", "NH", "NJ", "NM", "NV",
    "NY",      "OH",    "OK", "OR", "PA", "PR", "RI", "SC", "SD", "TN", "TX", "UT", "VA", "VT", "WA", "WI", "WV", "WY"};

inline bool contains(std::string_view s, std::string_view what) noexcept {
  return s.find(what) != std::string_view::npos;
}

template <std::size_t N>
int code_of(const std::array<std::string_view, N>& list, std::string_view value) noexcept {
  if (value.empty()) return 0;
  for (std::size_t i = 2; i < N; ++i)
    if (list[i] == value) return static_cast<int>(i);
  return 1;
}

inline int gender_code(std::string_view g) noexcept { return code_of(gender_categories, g); }

/// Operating system from a user agent. Mobile systems are tested first: iOS agents also say
/// "like Mac OS X" and Android agents also say "Linux".
inline int platform_code(std::string_view ua) noexcept {
  if (ua.empty()) return 0;
  if (contains(ua, "iPhone")) return 5;
  if (contains(ua, "iPad")) return 6;
  if (contains(ua, "Android")) return 7;
  if (contains(ua, "Windows")) return 2;
  if (contains(ua, "Macintosh") || contains(ua, "Mac OS X")) return 3;
  if (contains(ua, "Linux") || contains(ua, "X11")) return 4;
  return 1;
}

/// Browser from a user agent. Order matters: Edge and Opera agents also name Chrome, Chrome agents
/// also name Safari.
inline int browser_code(std::string_view ua) noexcept {
  if (ua.empty()) return 0;
  if (contains(ua, "Edge/") || contains(ua, "Edg/")) return 6;
  if (contains(ua, "OPR/") || contains(ua, "Opera")) return 7;
  if (contains(ua, "Chrome/") || contains(ua, "CriOS/")) return 2;
  if (contains(ua, "Firefox/")) return 3;
  if (contains(ua, "MSIE") || contains(ua, "Trident/")) return 5;
  if (contains(ua, "Safari/")) return 4;
  return 1;
}

/// US state from a location "City, ST" or "Metro Area, ST1-ST2-ST3" (the first state is taken).
inline int state_code(std::string_view location) noexcept {
  if (location.empty()) return 0;
  auto comma = location.rfind(',');
  if (comma == std::string_view::npos) return 1;
  std::string_view rest = location.substr(comma + 1);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  std::string_view st = rest.substr(0, rest.find('-'));
  while (!st.empty() && st.back() == ' ') st.remove_suffix(1);
  return code_of(state_categories, st);
}

}  // namespace detail
}  // namespace churn
