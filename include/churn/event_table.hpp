#pragma once
// Columnar storage of events: one vector per field, strings dictionary-encoded (a code per row and a
// dictionary), which is what numpy, pandas and Arrow want and far smaller than rows of strings; and
// read_event_table(), which fills one from event logs on all cores.
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detail/parallel.hpp"
#include "error.hpp"
#include "event.hpp"
#include "reader.hpp"

namespace churn {

namespace detail {

/// A fast hash of a short string (names, ids, user agents): 8 bytes at a time, multiply and fold.
inline std::uint64_t hash_bytes(const char* p, std::size_t n) noexcept {
  constexpr std::uint64_t k1 = 0x9E3779B97F4A7C15ull, k2 = 0xBF58476D1CE4E5B9ull;
  std::uint64_t h = k2 ^ (n * k1);
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * k1;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * k1;
    h ^= h >> 29;
  }
  h *= k2;
  return h ^ (h >> 32);
}

}  // namespace detail

/// A string column, dictionary-encoded: codes[i] indexes the dictionary, in order of first appearance,
/// or is -1 where the log had null or no value. The dictionary is held in Arrow's utf8 layout
/// (offsets() and bytes()), so it crosses to Arrow, numpy and pandas without a copy of the rows.
class dictionary_column {
 public:
  std::vector<std::int32_t> codes;

  dictionary_column() : offsets_{0}, slots_(64, 0) {}

  /// The code of `value`, added to the dictionary when it is new.
  /// @throws limit_error when the dictionary's text would pass 2 GiB (Arrow's utf8 offsets are 32-bit).
  std::int32_t intern(std::string_view value) { return intern(value, hash(value)); }

  /// The hash intern() uses, for intern(value, hash) after prefetch(hash).
  static std::uint64_t hash(std::string_view value) noexcept { return detail::hash_bytes(value.data(), value.size()); }

  /// Starts loading the index entry of a value of hash `h`, so that the lookups of a row's several
  /// columns wait for memory together rather than one after the other.
  void prefetch(std::uint64_t h) const noexcept {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(slots_.data() + (static_cast<std::size_t>(h) & (slots_.size() - 1)));
#else
    (void)h;
#endif
  }

  /// intern(value) with its hash(value) already known.
  std::int32_t intern(std::string_view value, std::uint64_t h) {
    const auto tag = static_cast<std::uint32_t>(h >> 32);
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = static_cast<std::size_t>(h) & mask;; i = (i + 1) & mask) {
      const std::uint64_t slot = slots_[i];
      if (slot == 0) break;
      if (static_cast<std::uint32_t>(slot >> 32) == tag) {
        const auto code = static_cast<std::int32_t>(static_cast<std::uint32_t>(slot) - 1);
        if (category(static_cast<std::size_t>(code)) == value) return code;
      }
    }
    constexpr std::size_t max_bytes = static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max());
    if (value.size() > max_bytes - bytes_.size())
      throw limit_error("dictionary bytes", bytes_.size() + value.size(),
                        "the distinct values of a string column pass 2 GiB of text (Arrow utf8 offsets are 32-bit)");
    const auto code = static_cast<std::int32_t>(category_count());
    bytes_.insert(bytes_.end(), value.begin(), value.end());
    offsets_.push_back(static_cast<std::int32_t>(bytes_.size()));
    if (2 * category_count() > slots_.size()) {
      rehash(slots_.size() * 2);
      mask = slots_.size() - 1;
    }
    std::size_t i = static_cast<std::size_t>(h) & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = (std::uint64_t(tag) << 32) | (static_cast<std::uint32_t>(code) + 1);
    return code;
  }

  void push_back(std::string_view value) { codes.push_back(intern(value)); }
  void push_null() { codes.push_back(-1); }

  std::size_t size() const noexcept { return codes.size(); }
  bool is_null(std::size_t row) const { return codes[row] < 0; }
  /// The value at `row` ("" where null: see is_null()).
  std::string_view operator[](std::size_t row) const {
    const std::int32_t code = codes[row];
    return code < 0 ? std::string_view() : category(static_cast<std::size_t>(code));
  }

  std::size_t category_count() const noexcept { return offsets_.size() - 1; }
  std::string_view category(std::size_t code) const {
    return std::string_view(bytes_.data() + offsets_[code],
                            static_cast<std::size_t>(offsets_[code + 1] - offsets_[code]));
  }
  /// The dictionary as strings, by code.
  std::vector<std::string> categories() const {
    std::vector<std::string> out;
    out.reserve(category_count());
    for (std::size_t c = 0; c < category_count(); ++c) out.emplace_back(category(c));
    return out;
  }
  /// Arrow utf8 offsets: category c is bytes()[offsets()[c], offsets()[c + 1]).
  const std::vector<std::int32_t>& offsets() const noexcept { return offsets_; }
  const std::vector<char>& bytes() const noexcept { return bytes_; }

  /// Appends the rows of `other` (a column of later events), merging its dictionary into this one:
  /// values new to this column get codes in `other`'s order of first appearance, so appending the
  /// pieces of a log in order gives the codes of one serial read. `other` is emptied.
  void append(dictionary_column&& other) {
    std::vector<std::int32_t> to_this(other.category_count());
    for (std::size_t c = 0; c < to_this.size(); ++c) to_this[c] = intern(other.category(c));
    const std::size_t before = codes.size();
    codes.resize(before + other.codes.size());
    const std::int32_t* from = other.codes.data();
    std::int32_t* to = codes.data() + before;
    for (std::size_t i = 0, n = other.codes.size(); i < n; ++i)
      to[i] = from[i] < 0 ? -1 : to_this[static_cast<std::size_t>(from[i])];
    other = dictionary_column();
  }

  /// Bytes held: codes, dictionary and its hash index.
  std::size_t memory_bytes() const noexcept {
    return codes.capacity() * sizeof(std::int32_t) + offsets_.capacity() * sizeof(std::int32_t) + bytes_.capacity() +
           slots_.capacity() * sizeof(std::uint64_t);
  }

 private:
  void rehash(std::size_t capacity) {
    std::vector<std::uint64_t> slots(capacity, 0);
    const std::size_t mask = capacity - 1;
    for (std::size_t c = 0; c < category_count(); ++c) {
      const std::string_view value = category(c);
      const std::uint64_t h = detail::hash_bytes(value.data(), value.size());
      std::size_t i = static_cast<std::size_t>(h) & mask;
      while (slots[i] != 0) i = (i + 1) & mask;
      slots[i] = ((h >> 32) << 32) | (static_cast<std::uint32_t>(c) + 1);
    }
    slots_ = std::move(slots);
  }

  std::vector<std::int32_t> offsets_;
  std::vector<char> bytes_;
  std::vector<std::uint64_t> slots_;  ///< open addressing: (hash >> 32) << 32 | (code + 1); 0 is empty
};

/// What a column of an event table holds.
enum class column_kind : std::uint8_t {
  timestamp_ms,  ///< int64 epoch milliseconds (UTC), missing_int where null
  int64,         ///< int64, missing_int where null
  float64,       ///< double, NaN where null
  dictionary     ///< a dictionary_column
};

/// One column of an event table, by name (field_names), with a pointer to its storage.
struct column_ref {
  std::string_view name;
  column_kind kind;
  const std::vector<std::int64_t>* ints = nullptr;  ///< timestamp_ms and int64
  const std::vector<double>* floats = nullptr;      ///< float64
  const dictionary_column* strings = nullptr;       ///< dictionary
  bool nullable = true;                             ///< false for ts, which every event has
};

/// All 18 fields of a set of events, by column, every string field dictionary-encoded with nulls kept
/// apart from empty strings. `page` codes 0..21 are the known pages in enum order, `auth`, `level` and
/// `method` codes are their enum values for the known names (each dictionary starts with the known
/// names); later codes are other texts, as in the log.
struct event_table {
  std::vector<std::int64_t> ts;
  dictionary_column user_id;
  std::vector<std::int64_t> session_id;
  dictionary_column page;
  dictionary_column auth;
  dictionary_column method;
  std::vector<std::int64_t> status;
  dictionary_column level;
  std::vector<std::int64_t> item_in_session;
  dictionary_column location;
  dictionary_column user_agent;
  dictionary_column last_name;
  dictionary_column first_name;
  std::vector<std::int64_t> registration;
  dictionary_column gender;
  dictionary_column artist;
  dictionary_column song;
  std::vector<double> length;

  event_table() {
    for (auto name : page_names) page.intern(name);
    for (auto name : auth_names) auth.intern(name);
    for (auto name : method_names) method.intern(name);
    for (auto name : level_names) level.intern(name);
  }

  std::size_t size() const noexcept { return ts.size(); }

  /// Room for `events` rows in every column (the dictionaries grow as they need).
  void reserve(std::size_t events) {
    for (auto* v : {&ts, &session_id, &status, &item_in_session, &registration}) v->reserve(events);
    length.reserve(events);
    for (auto* c : {&user_id, &page, &auth, &method, &level, &location, &user_agent, &last_name, &first_name, &gender,
                    &artist, &song})
      c->codes.reserve(events);
  }

  void push_back(const event& e) {
    // The string columns' lookups in two passes: hashes and prefetches first, so that the cache misses
    // of the large dictionaries (songs, artists, users) overlap.
    struct lookup {
      dictionary_column* column;
      std::string_view value;
      std::uint64_t hash;
    };
    std::array<lookup, 12> lookups;
    std::size_t n = 0;
    auto text = [&](dictionary_column& column, std::size_t field, std::string_view value) {
      if (!e.has(field)) return column.push_null();
      const std::uint64_t h = dictionary_column::hash(value);
      column.prefetch(h);
      lookups[n++] = {&column, value, h};
    };
    // An event built in code may hold the enum without its text.
    auto named = [](const std::string& name, bool known, std::string_view enum_name) {
      return name.empty() && known ? enum_name : std::string_view(name);
    };
    ts.push_back(e.ts);
    text(user_id, 1, e.user_id);
    session_id.push_back(e.session_id);
    text(page, 3, e.page_name);
    text(auth, 4, named(e.auth_name, e.auth != churn::auth::unknown, to_string(e.auth)));
    text(method, 5, named(e.method_name, e.method != http_method::unknown, to_string(e.method)));
    status.push_back(e.status);
    text(level, 7, named(e.level_name, e.level != churn::level::unknown, to_string(e.level)));
    item_in_session.push_back(e.item_in_session);
    text(location, 9, e.location);
    text(user_agent, 10, e.user_agent);
    text(last_name, 11, e.last_name);
    text(first_name, 12, e.first_name);
    registration.push_back(e.registration);
    text(gender, 14, e.gender);
    text(artist, 15, e.artist);
    text(song, 16, e.song);
    length.push_back(e.length);
    for (std::size_t i = 0; i < n; ++i)
      lookups[i].column->codes.push_back(lookups[i].column->intern(lookups[i].value, lookups[i].hash));
  }

  /// The event at `row`, rebuilt from the columns (null strings are empty, as the reader gives them).
  event at(std::size_t row) const {
    event e;
    e.present = 0;
    auto text = [&](const dictionary_column& column, std::size_t field, std::string& out) {
      out = std::string(column[row]);
      if (!column.is_null(row)) e.present |= std::uint32_t(1) << field;
    };
    auto number = [&](std::int64_t value, std::size_t field) {
      if (value != missing_int) e.present |= std::uint32_t(1) << field;
      return value;
    };
    e.ts = number(ts[row], 0);
    text(user_id, 1, e.user_id);
    e.session_id = number(session_id[row], 2);
    text(page, 3, e.page_name);
    e.page = parse_page(e.page_name);
    text(auth, 4, e.auth_name);
    e.auth = e.auth_name.empty() ? churn::auth::unknown : parse_auth(e.auth_name);
    text(method, 5, e.method_name);
    e.method = parse_method(e.method_name);
    e.status = number(status[row], 6);
    text(level, 7, e.level_name);
    e.level = parse_level(e.level_name);
    e.item_in_session = number(item_in_session[row], 8);
    text(location, 9, e.location);
    text(user_agent, 10, e.user_agent);
    text(last_name, 11, e.last_name);
    text(first_name, 12, e.first_name);
    e.registration = number(registration[row], 13);
    text(gender, 14, e.gender);
    text(artist, 15, e.artist);
    text(song, 16, e.song);
    e.length = length[row];
    if (!std::isnan(e.length)) e.present |= std::uint32_t(1) << 17;
    return e;
  }

  /// The 18 columns in the order of field_names.
  std::array<column_ref, 18> columns() const {
    using k = column_kind;
    auto ints = [](std::string_view name, k kind, const std::vector<std::int64_t>& v, bool nullable = true) {
      column_ref c{name, kind};
      c.ints = &v;
      c.nullable = nullable;
      return c;
    };
    auto text = [](std::string_view name, const dictionary_column& v) {
      column_ref c{name, k::dictionary};
      c.strings = &v;
      return c;
    };
    column_ref len{"length", k::float64};
    len.floats = &length;
    return {ints("ts", k::timestamp_ms, ts, false),
            text("userId", user_id),
            ints("sessionId", k::int64, session_id),
            text("page", page),
            text("auth", auth),
            text("method", method),
            ints("status", k::int64, status),
            text("level", level),
            ints("itemInSession", k::int64, item_in_session),
            text("location", location),
            text("userAgent", user_agent),
            text("lastName", last_name),
            text("firstName", first_name),
            ints("registration", k::timestamp_ms, registration),
            text("gender", gender),
            text("artist", artist),
            text("song", song),
            len};
  }

  /// Appends the rows of `other` (later events), emptying it; `threads` threads share the columns.
  void append(event_table&& other, unsigned threads = 1) {
    std::vector<event_table> parts;
    parts.push_back(std::move(other));
    append_all(parts, threads);
  }

  /// Appends the rows of `parts` in order (each emptied as it is copied, which bounds the memory to
  /// the table plus one column); `threads` threads share the columns. The codes are those one table
  /// filled with all the rows in order would have.
  void append_all(std::vector<event_table>& parts, unsigned threads = 1) {
    auto numbers = [&](auto member) {
      auto& mine = this->*member;
      std::size_t total = mine.size();
      for (const auto& p : parts) total += (p.*member).size();
      mine.reserve(total);
      for (auto& p : parts) {
        mine.insert(mine.end(), (p.*member).begin(), (p.*member).end());
        (p.*member) = {};
      }
    };
    auto strings = [&](dictionary_column event_table::*member) {
      auto& mine = this->*member;
      std::size_t total = mine.size();
      for (const auto& p : parts) total += (p.*member).size();
      mine.codes.reserve(total);
      for (auto& p : parts) mine.append(std::move(p.*member));
    };
    using et = event_table;
    // The longest dictionaries first, so that two threads finish together.
    static constexpr dictionary_column et::*text_columns[] = {
        &et::song,       &et::artist, &et::user_id, &et::location, &et::last_name, &et::first_name,
        &et::user_agent, &et::page,   &et::auth,    &et::method,   &et::level,     &et::gender};
    static constexpr std::vector<std::int64_t> et::*int_columns[] = {&et::ts, &et::session_id, &et::status,
                                                                     &et::item_in_session, &et::registration};
    constexpr std::size_t n_text = std::size(text_columns), n_int = std::size(int_columns);
    detail::parallel_for(n_text + n_int + 1, static_cast<int>(std::max(1u, threads)), [&](std::size_t t, std::size_t) {
      if (t < n_text)
        strings(text_columns[t]);
      else if (t < n_text + n_int)
        numbers(int_columns[t - n_text]);
      else
        numbers(&et::length);
    });
  }

  /// Bytes held by the columns (capacity, dictionaries and their hash indexes included).
  std::size_t memory_bytes() const noexcept {
    std::size_t bytes = (ts.capacity() + session_id.capacity() + status.capacity() + item_in_session.capacity() +
                         registration.capacity()) *
                            sizeof(std::int64_t) +
                        length.capacity() * sizeof(double);
    for (const auto& c : columns())
      if (c.strings) bytes += c.strings->memory_bytes();
    return bytes;
  }
};

/// Reads event logs (files, plain or gzip, streams, or "-" for standard input; expand_paths() turns
/// folders into files) into `table`, appending, on `options.threads` threads (0: all cores): plain files are cut at
/// line boundaries into pieces (plan_pieces(); about 4 per thread, of `piece_bytes` when not 0), each
/// piece is read into columns of its own and the pieces are joined in order, so the table is the one
/// a serial read gives, codes included. A gzip file or a stream is one piece, read by one thread.
/// The report and errors are those of a serial read: line numbers within each file; in strict mode the
/// error raised is the first bad line in (file, line) order.
/// @throws parse_error (strict mode), io_error, limit_error (a dictionary beyond 2 GiB of text).
inline read_report read_event_table(const std::vector<std::string>& files, event_table& table,
                                    const read_options& options = {}, std::uint64_t piece_bytes = 0) {
  options.validate();
  if (files.empty()) throw parameter_error("files", "an empty list", "at least one file");
  const unsigned threads = detail::resolve_threads(options.threads);
  if (piece_bytes == 0) {
    std::uint64_t plain_bytes = 0;
    for (const auto& f : files)
      if (detail::classify_input(f) == detail::input_kind::plain) plain_bytes += detail::file_size(f);
    // Small pieces balance the threads; large ones keep the per-piece dictionaries few.
    piece_bytes = std::clamp<std::uint64_t>(plain_bytes / (std::uint64_t(threads) * 4), std::uint64_t(4) << 20,
                                            std::uint64_t(64) << 20);
  }
  const std::vector<file_piece> pieces = plan_pieces(files, piece_bytes, threads);

  std::vector<event_table> parts(pieces.size());
  std::vector<read_report> reports(pieces.size());
  std::vector<std::exception_ptr> failures(pieces.size());
  std::unique_ptr<std::atomic<bool>[]> stops(new std::atomic<bool>[pieces.size()]);
  for (std::size_t i = 0; i < pieces.size(); ++i) stops[i].store(false);
  // Pieces after a failed one stop; pieces before it run to the end so that the failing line's number
  // within its file is known.
  std::atomic<std::size_t> first_failure{pieces.size()};
  detail::parallel_for(pieces.size(), static_cast<int>(threads), [&](std::size_t i, std::size_t) {
    if (i > first_failure.load()) return;
    try {
      event_table& part = parts[i];
      // Sparkify lines are 250-450 bytes: room for lines of 128 bytes on average spares the copies and
      // page faults of growing 30 vectors by doubling; pages never written are never resident.
      if (!pieces[i].whole) part.reserve(static_cast<std::size_t>((pieces[i].end - pieces[i].begin) / 128));
      auto sink = [&part](const event& e) { part.push_back(e); };
      reports[i] = detail::read_piece_lines(pieces[i], sink, options, &stops[i]);
    } catch (...) {
      failures[i] = std::current_exception();
      std::size_t seen = first_failure.load();
      while (i < seen && !first_failure.compare_exchange_weak(seen, i)) {
      }
      for (std::size_t j = i + 1; j < pieces.size(); ++j) stops[j].store(true);
    }
  });
  std::uint64_t offset = 0;
  std::vector<bool> starts(pieces.size());
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    starts[i] = pieces[i].whole || pieces[i].begin == 0;
    if (starts[i]) offset = 0;
    if (failures[i]) rethrow_shifted(failures[i], offset);
    offset += reports[i].lines;
  }
  read_report report = join_piece_reports(std::move(reports), options.max_examples, "files", starts);
  table.append_all(parts, threads);
  return report;
}

}  // namespace churn
