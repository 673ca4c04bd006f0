#pragma once
// The per-user state of the feature accumulator. Every piece is order-independent (sums, minima,
// maxima, sets, keyed records), so that any split of a log aggregates and merges into exactly the
// state of the whole log. State is kept per UTC day so that any midnight cutoff can be applied when
// the table is finalised, after one pass over the data.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "../error.hpp"
#include "../event.hpp"
#include "../sessions.hpp"

namespace churn {
namespace detail {

inline constexpr std::size_t page_slots = known_page_count + 1;  // the 22 pages and `unknown`
inline constexpr std::int64_t no_ts_min = std::numeric_limits<std::int64_t>::max();
inline constexpr std::int64_t no_ts_max = std::numeric_limits<std::int64_t>::min();
/// Event times the accumulator holds: the years 1 to 9999 (day numbers fit 32 bits, differences of
/// times cannot overflow). from_bytes() holds bytes from elsewhere to the same range.
inline constexpr std::int64_t min_event_ts = -62'135'596'800'000;
inline constexpr std::int64_t max_event_ts = 253'402'300'799'999;

/// The activity of one user on one UTC day (cancellation events excluded).
struct day_bucket {
  std::int32_t day = 0;
  std::int64_t first_ts = no_ts_min;
  std::int64_t last_ts = no_ts_max;
  std::array<std::uint32_t, page_slots> pages{};  ///< events per page
  std::uint32_t paid_events = 0;                  ///< events at level "paid"
  std::int64_t listen_us = 0;                     ///< song lengths, microseconds
  // The latest event of the day with a known level: (ts, itemInSession, level) is the maximum of the
  // triples, so ties at one millisecond resolve the same way in any order.
  std::int64_t level_ts = no_ts_max;
  std::int64_t level_item = missing_int;
  std::uint8_t level = static_cast<std::uint8_t>(level::unknown);

  std::uint64_t events() const noexcept {
    std::uint64_t n = 0;
    for (auto c : pages) n += c;
    return n;
  }
  void observe_level(std::int64_t ts, std::int64_t item, std::uint8_t lv) noexcept {
    if (std::tie(ts, item, lv) > std::tie(level_ts, level_item, level)) {
      level_ts = ts;
      level_item = item;
      level = lv;
    }
  }
  void merge(const day_bucket& o) noexcept {
    first_ts = std::min(first_ts, o.first_ts);
    last_ts = std::max(last_ts, o.last_ts);
    for (std::size_t i = 0; i < page_slots; ++i) pages[i] += o.pages[i];
    paid_events += o.paid_events;
    listen_us += o.listen_us;
    if (o.level_ts != no_ts_max) observe_level(o.level_ts, o.level_item, o.level);
  }
};

/// The events of one (sessionId, UTC day) of a user, as gap-separated intervals. Splitting sessions at
/// midnight lets the cutoff cut them; parts of one session are joined again at finalisation.
struct session_part {
  std::int64_t session_id = missing_int;
  std::int32_t day = 0;
  std::vector<session_interval> intervals;  ///< sorted, pairwise more than the gap apart
};

/// A user attribute (gender, location, ...): the non-empty value of the earliest event carrying one,
/// ties at one millisecond broken by the smaller value.
template <class T>
struct first_value {
  std::int64_t ts = no_ts_min;
  T value{};
  template <class V>  // T, or for strings a string_view
  void observe(std::int64_t t, const V& v) {
    if (t < ts || (t == ts && v < value)) {
      ts = t;
      value = v;
    }
  }
};

/// 64-bit FNV-1a: a hash that is the same on every platform and run, so that serialised
/// accumulators from different machines merge correctly.
inline std::uint64_t stable_hash(std::string_view s) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

/// Distinct artists of a user with the first day each was heard: an open-addressing hash map from
/// the artist's 64-bit hash to the minimum day, linear probing, at most 3/4 full. A slot holds the hash
/// and the day together (12 bytes, 16 to 32 per distinct artist), so that a lookup touches one cache
/// line: the sets of 22,000 users do not fit in cache, and two parallel arrays cost two misses per song.
/// Hash 0 marks an empty slot; an artist whose hash is 0 is stored as 1.
struct artist_set {
  struct slot {
    std::uint32_t lo = 0, hi = 0;  // the 64-bit hash in two halves: 4-byte alignment keeps slots at 12 bytes
    std::int32_t day = 0;
    std::uint64_t key() const noexcept { return std::uint64_t(hi) << 32 | lo; }
  };
  std::vector<slot> slots;
  std::size_t count = 0;

  void add(std::uint64_t hash, std::int32_t day) {
    if (hash == 0) hash = 1;
    if (4 * (count + 1) > 3 * slots.size()) grow();
    const std::size_t mask = slots.size() - 1;
    const auto lo = static_cast<std::uint32_t>(hash), hi = static_cast<std::uint32_t>(hash >> 32);
    for (std::size_t i = mix(hash) & mask;; i = (i + 1) & mask) {
      slot& s = slots[i];
      if (s.lo == lo && s.hi == hi) {
        s.day = std::min(s.day, day);
        return;
      }
      if (s.lo == 0 && s.hi == 0) {
        s.lo = lo, s.hi = hi, s.day = day;
        ++count;
        return;
      }
    }
  }
  /// The address add(hash, ...) will look at first, for prefetching (nullptr when empty).
  const slot* home(std::uint64_t hash) const noexcept {
    if (slots.empty()) return nullptr;
    return &slots[mix(hash == 0 ? 1 : hash) & (slots.size() - 1)];
  }
  void merge(const artist_set& o) {
    for (const slot& s : o.slots)
      if (s.lo != 0 || s.hi != 0) add(s.key(), s.day);
  }
  /// Number of artists first heard before `end_day`.
  std::uint64_t count_before(std::int64_t end_day) const noexcept {
    std::uint64_t n = 0;
    for (const slot& s : slots) n += (s.lo != 0 || s.hi != 0) && s.day < end_day;
    return n;
  }
  /// (hash, day) pairs sorted by hash: the canonical form for serialisation.
  std::vector<std::pair<std::uint64_t, std::int32_t>> sorted() const {
    std::vector<std::pair<std::uint64_t, std::int32_t>> out;
    out.reserve(count);
    for (const slot& s : slots)
      if (s.lo != 0 || s.hi != 0) out.emplace_back(s.key(), s.day);
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  // FNV-1a's low bits are weak for a power-of-two table: mix them (murmur3's finaliser).
  static std::uint64_t mix(std::uint64_t h) noexcept {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
  }
  void grow() {
    std::vector<slot> old(std::max<std::size_t>(16, 2 * slots.size()));
    old.swap(slots);
    count = 0;
    for (const slot& s : old)
      if (s.lo != 0 || s.hi != 0) add(s.key(), s.day);
  }
};

struct user_state {
  std::string id;
  std::vector<day_bucket> days;     ///< sorted by day
  std::vector<session_part> parts;  ///< sorted by (session_id, day)
  artist_set artists;
  first_value<std::string> gender, location, user_agent;
  first_value<std::int64_t> registration;
  std::int64_t cancel_ts = no_ts_min;  ///< first Cancellation Confirmation
  std::uint64_t cancel_events = 0;     ///< Cancel / Cancellation Confirmation / auth Cancelled events
  // Caches for time-ordered input (not state): the positions of the last two day buckets and
  // session parts used, most recent first. Two, because with users partitioned across threads a
  // user's events come from two places in the log at once (the owner's piece and another thread's).
  // A position made stale by an insertion is only a miss: it is checked before use.
  std::uint32_t last_day = 0, last_day2 = 0;
  std::uint32_t last_part = 0, last_part2 = 0;

  day_bucket& bucket(std::int32_t day) {
    if (last_day < days.size() && days[last_day].day == day) return days[last_day];
    if (last_day2 < days.size() && days[last_day2].day == day) {
      std::swap(last_day, last_day2);
      return days[last_day];
    }
    auto it =
        std::lower_bound(days.begin(), days.end(), day, [](const day_bucket& b, std::int32_t d) { return b.day < d; });
    if (it == days.end() || it->day != day) {
      it = days.insert(it, day_bucket{});
      it->day = day;
    }
    last_day2 = last_day;
    last_day = static_cast<std::uint32_t>(it - days.begin());
    return *it;
  }
  session_part& part(std::int64_t session_id, std::int32_t day) {
    if (last_part < parts.size() && parts[last_part].session_id == session_id && parts[last_part].day == day)
      return parts[last_part];
    if (last_part2 < parts.size() && parts[last_part2].session_id == session_id && parts[last_part2].day == day) {
      std::swap(last_part, last_part2);
      return parts[last_part];
    }
    auto key = std::make_pair(session_id, day);
    auto it = std::lower_bound(parts.begin(), parts.end(), key, [](const session_part& p, const auto& k) {
      return std::make_pair(p.session_id, p.day) < k;
    });
    if (it == parts.end() || it->session_id != session_id || it->day != day) {
      it = parts.insert(it, session_part{});
      it->session_id = session_id;
      it->day = day;
    }
    last_part2 = last_part;
    last_part = static_cast<std::uint32_t>(it - parts.begin());
    return *it;
  }

  void merge(const user_state& o, std::int64_t gap_ms) {
    for (const auto& b : o.days) bucket(b.day).merge(b);
    for (const auto& p : o.parts) {
      auto& mine = part(p.session_id, p.day);
      for (const auto& iv : p.intervals) insert_interval(mine.intervals, iv, gap_ms);
    }
    artists.merge(o.artists);
    if (o.gender.ts != no_ts_min) gender.observe(o.gender.ts, o.gender.value);
    if (o.location.ts != no_ts_min) location.observe(o.location.ts, o.location.value);
    if (o.user_agent.ts != no_ts_min) user_agent.observe(o.user_agent.ts, o.user_agent.value);
    if (o.registration.ts != no_ts_min) registration.observe(o.registration.ts, o.registration.value);
    cancel_ts = std::min(cancel_ts, o.cancel_ts);
    cancel_events += o.cancel_events;
  }
};

// ---- compact bytes -------------------------------------------------------------------------------
// Little-endian fixed-width integers, strings as u32 length + bytes; written byte by byte so the
// format does not depend on the host.

class byte_writer {
 public:
  std::string out;
  void u8(std::uint8_t v) { out.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  void str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out.append(s.data(), s.size());
  }
};

class byte_reader {
 public:
  explicit byte_reader(std::string_view in) : in_(in) {}
  std::uint8_t u8() { return static_cast<std::uint8_t>(take(1)[0]); }
  std::uint32_t u32() {
    auto p = take(4);
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t(static_cast<unsigned char>(p[i])) << (8 * i);
    return v;
  }
  std::uint64_t u64() {
    auto p = take(8);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t(static_cast<unsigned char>(p[i])) << (8 * i);
    return v;
  }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  /// A length-prefixed string. Strings in accumulator bytes come from parsed JSON, so they are valid
  /// UTF-8; a corrupt one is refused here rather than failing later in a caller's text decoding.
  std::string str(const char* what) {
    std::uint32_t n = u32();
    const std::size_t at = pos_;
    auto p = take(n);
    if (!simdjson::validate_utf8(p, n))
      throw data_error("feature accumulator bytes are corrupt: the " + std::string(what) + " at offset " +
                       std::to_string(at) + " is not valid UTF-8");
    return std::string(p, n);
  }
  /// A count of records of at least `min_record_bytes` each, checked against the bytes left so that a
  /// corrupt count cannot make us allocate gigabytes.
  std::size_t count(std::size_t min_record_bytes, const char* what) {
    std::uint64_t n = u64();
    if (min_record_bytes && n > (in_.size() - pos_) / min_record_bytes)
      throw data_error("feature accumulator bytes are corrupt: " + std::to_string(n) + " " + what +
                       " announced at offset " + std::to_string(pos_ - 8) + " but only " +
                       std::to_string(in_.size() - pos_) + " bytes follow");
    return static_cast<std::size_t>(n);
  }
  std::size_t offset() const noexcept { return pos_; }
  bool done() const noexcept { return pos_ == in_.size(); }

 private:
  const char* take(std::size_t n) {
    if (n > in_.size() - pos_)
      throw data_error("feature accumulator bytes are truncated: needed " + std::to_string(n) + " bytes at offset " +
                       std::to_string(pos_) + " of " + std::to_string(in_.size()) +
                       " (were they produced by churn's to_bytes and passed whole?)");
    const char* p = in_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace detail
}  // namespace churn
