#pragma once
// Parses one JSON line into a churn::event with simdjson's on-demand API. Accepts what real Sparkify
// files contain: any key order, nulls, missing optional keys, integral floats where integers are
// expected, numeric userIds. Reports the first problem as (field, reason) instead of throwing, so the
// reader decides between strict and lenient handling.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "../event.hpp"

namespace churn::detail {

enum class event_field : std::uint8_t {
  ts,
  user_id,
  session_id,
  page,
  auth,
  method,
  status,
  level,
  item_in_session,
  location,
  user_agent,
  last_name,
  first_name,
  registration,
  gender,
  artist,
  song,
  length,
  other
};

inline event_field field_of(std::string_view key) noexcept {
  // Length, then one distinguishing character, then a single comparison: this runs 18 times a line.
  switch (key.size()) {
    case 2: return equals(key, "ts") ? event_field::ts : event_field::other;
    case 4:
      switch (key[0]) {
        case 'p': return equals(key, "page") ? event_field::page : event_field::other;
        case 'a': return equals(key, "auth") ? event_field::auth : event_field::other;
        case 's': return equals(key, "song") ? event_field::song : event_field::other;
        default: return event_field::other;
      }
    case 5: return equals(key, "level") ? event_field::level : event_field::other;
    case 6:
      switch (key[0]) {
        case 'u': return equals(key, "userId") ? event_field::user_id : event_field::other;
        case 'm': return equals(key, "method") ? event_field::method : event_field::other;
        case 's': return equals(key, "status") ? event_field::status : event_field::other;
        case 'g': return equals(key, "gender") ? event_field::gender : event_field::other;
        case 'a': return equals(key, "artist") ? event_field::artist : event_field::other;
        case 'l': return equals(key, "length") ? event_field::length : event_field::other;
        default: return event_field::other;
      }
    case 8:
      if (key[1] == 'o') return equals(key, "location") ? event_field::location : event_field::other;
      return equals(key, "lastName") ? event_field::last_name : event_field::other;
    case 9:
      switch (key[0]) {
        case 's': return equals(key, "sessionId") ? event_field::session_id : event_field::other;
        case 'u': return equals(key, "userAgent") ? event_field::user_agent : event_field::other;
        case 'f': return equals(key, "firstName") ? event_field::first_name : event_field::other;
        default: return event_field::other;
      }
    case 12: return equals(key, "registration") ? event_field::registration : event_field::other;
    case 13: return equals(key, "itemInSession") ? event_field::item_in_session : event_field::other;
    default: return event_field::other;
  }
}

/// Why a line was rejected: the field ("" for the line as a whole) and a short reason whose text is
/// also the category under which lenient reading counts it.
struct line_problem {
  std::string field;
  std::string reason;
};

namespace ondemand = simdjson::ondemand;

inline const char* json_type_name(ondemand::json_type t) noexcept {
  switch (t) {
    case ondemand::json_type::array: return "an array";
    case ondemand::json_type::object: return "an object";
    case ondemand::json_type::number: return "a number";
    case ondemand::json_type::string: return "a string";
    case ondemand::json_type::boolean: return "a boolean";
    case ondemand::json_type::null: return "null";
  }
  return "an unknown value";
}

/// Reusable per-thread parser state.
class event_parser {
 public:
  /// `skip_names_and_songs`: firstName, lastName and song are type-checked but left empty.
  explicit event_parser(bool skip_names_and_songs = false) noexcept : skip_names_and_songs_(skip_names_and_songs) {}

  /// Parses `line` into `out` (all fields reset first). Returns false and fills `problem` on failure.
  bool parse(const char* data, std::size_t size, std::size_t capacity, event& out, line_problem& problem) {
    reset(out);
    ondemand::document doc;
    if (auto err = parser_.iterate(data, size, capacity).get(doc)) return invalid_json(err, problem);
    ondemand::object object;
    ondemand::json_type type;
    if (auto err = doc.type().get(type)) return invalid_json(err, problem);
    if (type != ondemand::json_type::object) {
      // Only a line that really is another JSON value is named by its type; other text is "not JSON".
      problem = {"", is_whole_scalar(data, size, type)
                         ? std::string("expected a JSON object, got ") + json_type_name(type)
                         : std::string("not JSON (expected a JSON object)")};
      return false;
    }
    if (auto err = doc.get_object().get(object)) return invalid_json(err, problem);
    bool seen_ts = false, seen_page = false;
    for (auto field_result : object) {
      if (auto err = field_result.error()) return invalid_json(err, problem);
      // Used in place: copying the field out of its result makes GCC reload a just-written struct.
      ondemand::field& field = field_result.value_unsafe();
      // A key without a backslash is its own bytes: read it in place rather than unescape a copy.
      std::string_view key;
      const char* raw_key = field.key().raw();
      const char* line_end = data + size;
      const char* quote = raw_key >= data && raw_key < line_end ? plain_string_end(raw_key, line_end) : nullptr;
      if (quote != nullptr) {
        key = std::string_view(raw_key, static_cast<std::size_t>(quote - raw_key));
      } else if (auto err = field.unescaped_key().get(key)) {
        return invalid_json(err, problem);
      }
      ondemand::value& value = field.value();  // a reference: a copy costs GCC a store-forwarding stall
      bool ok = true;
      const event_field which = field_of(key);
      if (which != event_field::other) {
        // Present unless null (a later duplicate key decides, as its value is the one kept).
        const std::uint32_t bit = std::uint32_t(1) << static_cast<unsigned>(which);
        ondemand::json_type value_type;
        if (auto err = value.type().get(value_type)) return invalid_json(err, problem);
        out.present = value_type == ondemand::json_type::null ? out.present & ~bit : out.present | bit;
      }
      switch (which) {
        case event_field::ts:
          ok = read_int(value, "ts", true, out.ts, problem);
          seen_ts = true;
          break;
        case event_field::user_id: ok = read_user_id(value, out.user_id, problem); break;
        case event_field::session_id: ok = read_int(value, "sessionId", false, out.session_id, problem); break;
        case event_field::page:
          ok = read_string(value, "page", true, out.page_name, problem);
          out.page = parse_page(out.page_name);
          seen_page = true;
          break;
        case event_field::auth: {
          ok = read_string(value, "auth", false, out.auth_name, problem);
          out.auth = out.auth_name.empty() ? auth::unknown : parse_auth(out.auth_name);
          break;
        }
        case event_field::method:
          ok = read_string(value, "method", false, out.method_name, problem);
          out.method = parse_method(out.method_name);
          break;
        case event_field::status: ok = read_int(value, "status", false, out.status, problem); break;
        case event_field::level:
          ok = read_string(value, "level", false, out.level_name, problem);
          out.level = parse_level(out.level_name);
          break;
        case event_field::item_in_session:
          ok = read_int(value, "itemInSession", false, out.item_in_session, problem);
          break;
        case event_field::location: ok = read_string(value, "location", false, out.location, problem); break;
        case event_field::user_agent: ok = read_string(value, "userAgent", false, out.user_agent, problem); break;
        case event_field::last_name:
          ok = skip_names_and_songs_ ? check_string(value, "lastName", problem)
                                     : read_string(value, "lastName", false, out.last_name, problem);
          break;
        case event_field::first_name:
          ok = skip_names_and_songs_ ? check_string(value, "firstName", problem)
                                     : read_string(value, "firstName", false, out.first_name, problem);
          break;
        case event_field::registration: ok = read_int(value, "registration", false, out.registration, problem); break;
        case event_field::gender: ok = read_string(value, "gender", false, out.gender, problem); break;
        case event_field::artist: ok = read_string(value, "artist", false, out.artist, problem); break;
        case event_field::song:
          ok = skip_names_and_songs_ ? check_string(value, "song", problem)
                                     : read_string(value, "song", false, out.song, problem);
          break;
        case event_field::length: ok = read_length(value, out.length, problem); break;
        case event_field::other: break;  // unknown keys are ignored; on-demand skips their values
      }
      if (!ok) return false;
    }
    // The object is done; anything but the end of input after it is trailing garbage.
    if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
      problem = {"", "unexpected content after the JSON object"};
      return false;
    }
    if (!seen_ts) {
      problem = {"ts", "missing required field"};
      return false;
    }
    if (!seen_page) {
      problem = {"page", "missing required field"};
      return false;
    }
    return true;
  }

 private:
  static void reset(event& e) {
    e.ts = missing_int;
    e.user_id.clear();
    e.session_id = missing_int;
    e.page = page::unknown;
    e.page_name.clear();
    e.auth = auth::unknown;
    e.method = http_method::unknown;
    e.status = missing_int;
    e.level = level::unknown;
    e.item_in_session = missing_int;
    e.location.clear();
    e.user_agent.clear();
    e.last_name.clear();
    e.first_name.clear();
    e.registration = missing_int;
    e.gender.clear();
    e.artist.clear();
    e.song.clear();
    e.length = std::numeric_limits<double>::quiet_NaN();
    e.auth_name.clear();
    e.method_name.clear();
    e.level_name.clear();
    e.present = 0;
  }

  /// The closing quote of a JSON string whose contents start at `p`, or null when a backslash comes
  /// first (the string needs unescaping) or no quote comes before `end`. Strings here are short: a
  /// plain loop beats memchr's call overhead.
  static const char* plain_string_end(const char* p, const char* end) noexcept {
    for (; p < end; ++p) {
      if (*p == '"') return p;
      if (*p == '\\') return nullptr;
    }
    return nullptr;
  }

  static std::string short_number(double d) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", d);
    return text;
  }

  /// Whether a line whose first byte announced `type` (not an object) is a whole JSON value of it:
  /// simdjson's type() looks at the first byte only, and "not json" starts like null.
  static bool is_whole_scalar(const char* data, std::size_t size, ondemand::json_type type) noexcept {
    std::string_view text(data, size);
    const auto first = text.find_first_not_of(" \t\r\n");
    const auto last = text.find_last_not_of(" \t\r\n");
    if (first == std::string_view::npos) return false;
    text = text.substr(first, last - first + 1);
    switch (type) {
      case ondemand::json_type::array: return true;  // the reader only needs to say it is not an object
      case ondemand::json_type::null: return text == "null";
      case ondemand::json_type::boolean: return text == "true" || text == "false";
      case ondemand::json_type::number: return text.find_first_not_of("0123456789+-.eE") == std::string_view::npos;
      case ondemand::json_type::string: {
        std::size_t i = 1;
        while (i < text.size() && text[i] != '"') i += text[i] == '\\' ? 2 : 1;
        return i == text.size() - 1;
      }
      default: return false;
    }
  }

  static bool invalid_json(simdjson::error_code err, line_problem& problem) {
    problem = {"", std::string("invalid JSON (") + simdjson::error_message(err) + ")"};
    return false;
  }

  static bool wrong_type(const char* field, const char* expected, ondemand::json_type got, line_problem& problem) {
    problem = {field, std::string("expected ") + expected + ", got " + json_type_name(got)};
    return false;
  }

  static bool read_string(ondemand::value& value, const char* field, bool required, std::string& out,
                          line_problem& problem) {
    ondemand::json_type type;
    if (auto err = value.type().get(type)) return invalid_json(err, problem);
    if (type == ondemand::json_type::null) {
      if (required) {
        problem = {field, "required field is null"};
        return false;
      }
      out.clear();
      return true;
    }
    if (type != ondemand::json_type::string) return wrong_type(field, "a string", type, problem);
    // Without a backslash the string's bytes are its value (simdjson's stage 1 has validated the UTF-8
    // and rejected unescaped control characters): copy them straight from the line, skipping the
    // unescaping pass. The raw token is `"...", possibly followed by whitespace.
    const std::string_view raw = value.raw_json_token();
    if (raw.size() >= 2) {
      if (const char* close = plain_string_end(raw.data() + 1, raw.data() + raw.size())) {
        out.assign(raw.data() + 1, static_cast<std::size_t>(close - raw.data() - 1));
        return true;
      }
    }
    std::string_view s;
    if (auto err = value.get_string().get(s)) {
      problem = {field, std::string("invalid string (") + simdjson::error_message(err) + ")"};
      return false;
    }
    out.assign(s.data(), s.size());
    return true;
  }

  /// The checks of read_string for an optional field, without unescaping or copying the value.
  static bool check_string(ondemand::value& value, const char* field, line_problem& problem) {
    ondemand::json_type type;
    if (auto err = value.type().get(type)) return invalid_json(err, problem);
    if (type == ondemand::json_type::null) return true;
    if (type != ondemand::json_type::string) return wrong_type(field, "a string", type, problem);
    // Only escapes can make a string invalid once simdjson has validated the UTF-8 and the structure.
    const std::string_view raw = value.raw_json_token();
    if (std::memchr(raw.data(), '\\', raw.size()) == nullptr) return true;
    std::string_view s;
    if (auto err = value.get_string().get(s)) {
      problem = {field, std::string("invalid string (") + simdjson::error_message(err) + ")"};
      return false;
    }
    return true;
  }

  /// userId is a string in the logs; some exports write it as a number, which is kept as its text.
  static bool read_user_id(ondemand::value& value, std::string& out, line_problem& problem) {
    ondemand::json_type type;
    if (auto err = value.type().get(type)) return invalid_json(err, problem);
    if (type == ondemand::json_type::number) {
      std::string_view raw = value.raw_json_token();
      while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\r' || raw.back() == '\n'))
        raw.remove_suffix(1);
      ondemand::number number;
      if (auto err = value.get_number().get(number)) {
        problem = {"userId", std::string("invalid number (") + simdjson::error_message(err) + ")"};
        return false;
      }
      if (number.is_double()) {
        double d = number.get_double();
        if (!(std::fabs(d) < 9.0e15) || d != std::floor(d)) {
          problem = {"userId", "expected a string or an integer, got the number " + std::string(raw)};
          return false;
        }
        out = std::to_string(static_cast<std::int64_t>(d));
      } else {
        out.assign(raw.data(), raw.size());
      }
      return true;
    }
    return read_string(value, "userId", false, out, problem);
  }

  /// Integers may come as integral floats (registration is written "1540919166796.0" in real files).
  static bool read_int(ondemand::value& value, const char* field, bool required, std::int64_t& out,
                       line_problem& problem) {
    ondemand::json_type type;
    if (auto err = value.type().get(type)) return invalid_json(err, problem);
    if (type == ondemand::json_type::null) {
      if (required) {
        problem = {field, "required field is null"};
        return false;
      }
      out = missing_int;
      return true;
    }
    if (type != ondemand::json_type::number) return wrong_type(field, "an integer", type, problem);
    ondemand::number number;
    if (auto err = value.get_number().get(number)) {
      problem = {field, std::string("invalid number (") + simdjson::error_message(err) + ")"};
      return false;
    }
    if (number.is_int64()) {
      out = number.get_int64();
    } else if (number.is_double()) {
      double d = number.get_double();
      // 2^63 bounds int64; a fractional part would silently lose data, so it is rejected.
      if (!(std::fabs(d) < 9.2e18) || d != std::floor(d)) {
        problem = {field, "expected an integer, got the number " + short_number(d)};
        return false;
      }
      out = static_cast<std::int64_t>(d);
    } else {
      problem = {field, "integer out of range"};
      return false;
    }
    if (out == missing_int) {
      problem = {field, "integer out of range"};
      return false;
    }
    return true;
  }

  static bool read_length(ondemand::value& value, double& out, line_problem& problem) {
    ondemand::json_type type;
    if (auto err = value.type().get(type)) return invalid_json(err, problem);
    if (type == ondemand::json_type::null) {
      out = std::numeric_limits<double>::quiet_NaN();
      return true;
    }
    if (type != ondemand::json_type::number) return wrong_type("length", "a number", type, problem);
    if (auto err = value.get_double().get(out)) {
      problem = {"length", std::string("invalid number (") + simdjson::error_message(err) + ")"};
      return false;
    }
    if (!std::isfinite(out) || out < 0) {
      problem = {"length", "expected a finite, non-negative number of seconds"};
      return false;
    }
    return true;
  }

  ondemand::parser parser_;
  bool skip_names_and_songs_ = false;
};

}  // namespace churn::detail
