#pragma once
// Per-user features and churn labels from raw events, in one streaming pass.
//
//   churn::feature_table t = churn::user_features("events.json");          // window labels, defaults
//   churn::feature_table h = churn::user_features(paths, {churn::label_mode::history});
//   churn::feature_table g = churn::user_features(paths, {}, {/*session_gap_minutes*/ 10.0});
//
// The work is done by a feature_accumulator: a mergeable per-user state. Any two chunks of a log
// (split anywhere, one user's events in both, in any order) aggregate into accumulators that merge
// into exactly the accumulator of the whole log; files are read by several threads that way, and a
// cluster can do the same with to_bytes()/from_bytes(). Memory grows with users (and their active days
// and sessions), never with events. The labelling (window or history, cutoff, horizon) is applied by
// finalize(), so one pass can be finalised under several cutoffs. The aggregation (session gap, user
// limit) is aggregation_options, given to the accumulator; the labelling is label_options, given to
// finalize().
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "aggregation.hpp"
#include "detail/features_compute.hpp"
#include "detail/features_snapshots.hpp"
#include "detail/features_state.hpp"
#include "detail/string_index.hpp"
#include "error.hpp"
#include "event.hpp"
#include "labels.hpp"
#include "reader.hpp"
#include "sessions.hpp"

namespace churn {

/// What went into a feature table and what was left out, with the reasons.
struct feature_report {
  std::uint64_t events = 0;               ///< events seen (all rows)
  std::uint64_t anonymous_events = 0;     ///< rows with an empty userId: not users
  std::uint64_t guest_events = 0;         ///<   of which auth "Guest"
  std::uint64_t logged_out_events = 0;    ///<   of which auth "Logged Out"
  std::uint64_t cancellation_events = 0;  ///< Cancel, Cancellation Confirmation, auth Cancelled: never features
  std::uint64_t users_seen = 0;           ///< distinct non-empty user ids
  std::uint64_t users_in_table = 0;
  std::uint64_t users_churned = 0;                       ///< rows labelled 1
  std::uint64_t users_cancelled_ever = 0;                ///< users with a Cancellation Confirmation anywhere in the log
  std::uint64_t users_cancelled_before_cutoff = 0;       ///< window mode: left out
  std::uint64_t users_without_events_before_cutoff = 0;  ///< window mode: not yet users at the cutoff
  std::uint64_t users_active_after_cancellation = 0;     ///< history mode: events after their cancellation
  std::int64_t first_ts = missing_int;                   ///< first and last timestamp of the log
  std::int64_t last_ts = missing_int;
  std::int64_t cutoff_ms = missing_int;     ///< window mode: the cutoff used
  std::int64_t label_end_ms = missing_int;  ///< window mode: end of the label window
  bool label_window_complete = true;        ///< window mode: the log reaches the end of the label window
  read_report read;                         ///< what the reader saw (when built from files)
  /// Snapshot tables only (empty otherwise): the cutoffs, ascending, and the rows and churned rows at
  /// each. Then users_in_table and users_churned count rows, the left-out counts are summed over the
  /// cutoffs, cutoff_ms is the last cutoff and label_end_ms the end of its label window.
  std::vector<std::int64_t> snapshot_cutoffs;
  std::vector<std::uint64_t> snapshot_rows, snapshot_churned;

  std::string summary() const {
    if (!snapshot_cutoffs.empty()) return snapshot_summary();
    std::ostringstream o;
    o << events << " events, " << anonymous_events << " without a user id (" << guest_events << " guest, "
      << logged_out_events << " logged out), " << cancellation_events << " cancellation events excluded\n"
      << users_seen << " users seen, " << users_in_table << " in the table, " << users_churned << " churned";
    if (cutoff_ms != missing_int) {
      o << "\ncutoff " << format_utc(cutoff_ms) << ", label window until " << format_utc(label_end_ms) << "; "
        << users_cancelled_before_cutoff << " users left out (cancelled before the cutoff), "
        << users_without_events_before_cutoff << " without events before the cutoff";
      if (!label_window_complete)
        o << "\nwarning: the log ends at " << format_utc(last_ts)
          << ", before the label window does: later cancellations are unseen (labelled 0)";
    }
    if (users_active_after_cancellation)
      o << "\nwarning: " << users_active_after_cancellation
        << " users have events after their cancellation (included in history mode)";
    return o.str();
  }

 private:
  std::string snapshot_summary() const {
    std::ostringstream o;
    o << events << " events, " << anonymous_events << " without a user id, " << cancellation_events
      << " cancellation events excluded\n"
      << users_seen << " users seen; " << snapshot_cutoffs.size() << " snapshots, " << users_in_table << " rows, "
      << users_churned << " churned";
    for (std::size_t i = 0; i < snapshot_cutoffs.size(); ++i)
      o << "\n  cutoff " << format_utc(snapshot_cutoffs[i]) << ": " << snapshot_rows[i] << " users, "
        << snapshot_churned[i] << " churned";
    o << "\nleft out over all cutoffs: " << users_cancelled_before_cutoff << " user-cutoffs cancelled before, "
      << users_without_events_before_cutoff << " without events before";
    if (!label_window_complete)
      o << "\nwarning: the log ends at " << format_utc(last_ts) << ", before the label window of the last cutoff "
        << "does (" << format_utc(label_end_ms) << "): later cancellations are unseen (labelled 0)";
    return o.str();
  }
};

/// One row per user, one column per feature, with labels, ids and what each column means.
struct feature_table {
  /// users x features, column-major (Eigen's default): one feature's values are contiguous, which is
  /// what split search in tree learners scans.
  Eigen::MatrixXd X;
  Eigen::VectorXi labels;             ///< 1: cancelled (in the label window, or ever in history mode)
  std::vector<std::string> user_ids;  ///< row order: user ids, numbers by value, then text
  /// Window mode: the cutoff of each row (epoch ms; all the same unless this is a snapshot table, whose
  /// rows are ordered by cutoff, then user). Empty in history mode.
  std::vector<std::int64_t> cutoffs;
  std::vector<feature_info> features;  ///< column order
  label_options options;               ///< as used (the cutoff resolved in window mode)
  aggregation_options aggregation;     ///< the accumulator's: its session gap and user limit
  feature_report report;

  std::vector<std::string> feature_names() const {
    std::vector<std::string> names;
    for (const auto& f : features) names.push_back(f.name);
    return names;
  }
  /// Index of the column `name`. Throws parameter_error when there is none.
  std::size_t column(std::string_view name) const {
    for (std::size_t i = 0; i < features.size(); ++i)
      if (features[i].name == name) return i;
    throw parameter_error("feature", "'" + std::string(name) + "'", "one of the table's feature names");
  }
};

/// The feature names and meanings, in column order (the same for every table).
inline std::vector<feature_info> feature_catalog() {
  std::vector<feature_info> out;
  for (auto& s : detail::feature_specs()) out.push_back(std::move(s.info));
  return out;
}

namespace detail {
class feature_batch;

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
/// The aggregation options of a call given label_options and aggregation_options: `given`, except that
/// a deprecated aggregation field of `labels` that is set (a gap other than 30, a user limit other
/// than 0) is used where `given` keeps its default. Throws parameter_error when both are set and differ.
inline aggregation_options resolve_aggregation(const label_options& labels, aggregation_options given) {
  const aggregation_options defaults;
  if (labels.session_gap_minutes != defaults.session_gap_minutes) {
    if (given.session_gap_minutes == defaults.session_gap_minutes)
      given.session_gap_minutes = labels.session_gap_minutes;
    else if (given.session_gap_minutes != labels.session_gap_minutes)
      throw parameter_error("session_gap_minutes", std::to_string(labels.session_gap_minutes),
                            "the aggregation_options gap (" + std::to_string(given.session_gap_minutes) +
                                "); label_options::session_gap_minutes is deprecated: set "
                                "aggregation_options::session_gap_minutes only");
  }
  if (labels.max_users != defaults.max_users) {
    if (given.max_users == defaults.max_users)
      given.max_users = labels.max_users;
    else if (given.max_users != labels.max_users)
      throw parameter_error("max_users", std::to_string(labels.max_users),
                            "the aggregation_options limit (" + std::to_string(given.max_users) +
                                "); label_options::max_users is deprecated: set aggregation_options::max_users only");
  }
  return given;
}
/// Fills the deprecated aggregation fields of `labels` with `a`, for code that still reads them.
inline void set_deprecated_aggregation(label_options& labels, const aggregation_options& a) {
  labels.session_gap_minutes = a.session_gap_minutes;
  labels.max_users = a.max_users;
}
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

template <class T, class U>
using if_same = std::enable_if_t<std::is_same_v<T, U>, int>;

/// Orders ids made of digits by value and before other ids, others as text.
inline bool user_id_less(const std::string& a, const std::string& b) noexcept {
  auto numeric = [](const std::string& s) {
    return !s.empty() && s.size() < 19 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  bool na = numeric(a), nb = numeric(b);
  if (na != nb) return na;
  if (na && a.size() != b.size()) return a.size() < b.size();  // leading zeros compare as text
  return a < b;
}
}  // namespace detail

/// The mergeable per-user aggregate of an event log.
class feature_accumulator {
 public:
  /// An empty accumulator with the session gap and user limit of `options` (the labelling is given to
  /// finalize()). Throws parameter_error for invalid options.
  explicit feature_accumulator(const aggregation_options& options = {}) {
    options.validate();
    gap_minutes_ = options.session_gap_minutes;
    gap_ms_ = options.session_gap_ms();
    max_users_ = options.max_users;
  }
  /// Deprecated, 0.2.0 removes it: the aggregation fields of label_options (see resolve_aggregation).
  template <class L, detail::if_same<L, label_options> = 0>
  [[deprecated("pass churn::aggregation_options")]] explicit feature_accumulator(const L& options)
      : feature_accumulator(detail::resolve_aggregation(options, {})) {
    options.validate();
  }

  /// Adds one event. Throws data_error for an event without a timestamp or with one outside the
  /// years 1 to 9999, and for a new user when max_users users are already held. An event that throws
  /// is not counted: the accumulator stays as it was, usable.
  void add(const event& e) {
    check_time(e);
    // The user first: a user beyond max_users throws before anything is counted.
    detail::user_state* found =
        e.has_user() ? &users_[user_index(e.user_id, detail::string_index::hash(e.user_id))] : nullptr;
    count_event(e.ts, found == nullptr, e.auth);
    if (!found) return;
    const bool song = e.page == page::next_song;
    apply(*found, {e.ts, e.session_id, e.item_in_session, e.registration, e.length,
                   song && !e.artist.empty() ? detail::stable_hash(e.artist) : 0, e.page, e.auth, e.level,
                   song && !e.artist.empty(), e.gender, e.location, e.user_agent});
  }
  void operator()(const event& e) { add(e); }

  /// Adds everything `other` aggregated: afterwards *this is the aggregate of both inputs, whatever
  /// the order of the events or of the merges. Throws parameter_error when the session gaps differ,
  /// data_error when the two hold more than this accumulator's max_users distinct users (both checked
  /// before anything changes). Its limit is this accumulator's; `other`'s does not matter.
  void merge(const feature_accumulator& other) {
    if (&other == this) throw parameter_error("other", "the accumulator itself", "another accumulator");
    if (other.gap_ms_ != gap_ms_)
      throw parameter_error("session_gap_minutes", std::to_string(other.gap_minutes_),
                            "the same gap as this accumulator (" + std::to_string(gap_minutes_) + ")");
    if (max_users_ != 0 && users_.size() + other.users_.size() > max_users_) {
      std::uint64_t distinct = users_.size();
      for (const auto& u : other.users_)
        if (index_.find(u.id, id_of()) == detail::string_index::npos && ++distinct > max_users_) throw too_many_users();
    }
    add_totals(other);
    for (const auto& u : other.users_) user(u.id).merge(u, gap_ms_);
  }

  std::uint64_t events() const noexcept { return events_; }
  std::size_t users() const noexcept { return users_.size(); }
  double session_gap_minutes() const noexcept { return gap_minutes_; }
  /// The most distinct users this accumulator takes (0: no limit).
  std::uint64_t max_users() const noexcept { return max_users_; }
  /// Its aggregation options (session gap and user limit).
  aggregation_options aggregation() const noexcept { return {gap_minutes_, max_users_}; }
  /// First and last timestamp seen (missing_int before any event).
  std::int64_t first_ts() const noexcept { return events_ ? first_ts_ : missing_int; }
  std::int64_t last_ts() const noexcept { return events_ ? last_ts_ : missing_int; }

  /// The feature table under the labelling `options`; the table's `aggregation` is this accumulator's.
  /// Throws parameter_error for invalid options (and for a deprecated label_options::session_gap_minutes
  /// that is set and is not this accumulator's gap), data_error when no event was added.
  feature_table finalize(const label_options& options = {}) const;

  /// The snapshot table: one row per (user, cutoff) for the cutoffs of `snapshots` (window mode only;
  /// options.cutoff_ms is ignored), rows ordered by cutoff, then user. Row for row the concatenation of
  /// finalize() under each cutoff. Throws parameter_error for invalid options or history mode,
  /// data_error when no event was added or when the log is too short for any scheduled cutoff.
  /// Complexity: that of finalize() times the number of cutoffs; the events are not read again.
  feature_table finalize(const label_options& options, const snapshot_options& snapshots) const;

  /// Compact, platform-independent bytes; equal accumulators (same aggregate) give equal bytes.
  std::string to_bytes() const;
  /// The accumulator saved by to_bytes(), without a user limit (the limit is not part of the
  /// aggregate). Throws data_error for bytes that are not one.
  static feature_accumulator from_bytes(std::string_view bytes);

 private:
  struct id_of_user {  // index -> user id, for string_index
    const std::vector<detail::user_state>* users;
    const std::string& operator()(std::uint32_t i) const { return (*users)[i].id; }
  };
  id_of_user id_of() const { return {&users_}; }
  limit_error too_many_users() const {
    return limit_error(
        "max_users", max_users_,
        "more than " + std::to_string(max_users_) +
            " distinct users in the input (the limit max_users); raise the limit or split the log by user");
  }
  // The log-wide counts and time range of `other`, added to this one's (merge and absorb_disjoint).
  void add_totals(const feature_accumulator& other) noexcept {
    events_ += other.events_;
    anonymous_ += other.anonymous_;
    guest_ += other.guest_;
    logged_out_ += other.logged_out_;
    first_ts_ = std::min(first_ts_, other.first_ts_);
    last_ts_ = std::max(last_ts_, other.last_ts_);
  }
  friend class detail::feature_batch;
  /// merge() for an accumulator that holds none of this one's users (with the same gap and no user
  /// limit): its users' states are moved, not merged. For the partitioned threads of
  /// accumulate_files() (through feature_batch::join); a user in both is a bug, not bad data.
  void absorb_disjoint(feature_accumulator&& other) {
    add_totals(other);
    users_.reserve(users_.size() + other.users_.size());
    for (auto& u : other.users_) {
      const auto h = detail::string_index::hash(u.id);
      if (!index_.try_emplace_hashed(u.id, h, static_cast<std::uint32_t>(users_.size()), id_of()).second)
        throw data_error("feature_accumulator::absorb_disjoint: user '" + u.id +
                         "' is in both accumulators (they must hold disjoint users)");
      users_.push_back(std::move(u));
    }
    other.users_.clear();
  }
  /// What add() takes from an event (the feature_batch keeps only these).
  struct event_fields {
    std::int64_t ts, session_id, item_in_session, registration;
    double length;
    std::uint64_t artist_hash;  ///< stable_hash of the artist, for a song with one
    page page_id;
    churn::auth auth_id;
    churn::level level_id;
    bool has_artist;
    std::string_view gender, location, user_agent;
  };
  static void check_time(const event& e) {
    if (e.ts == missing_int)
      throw data_error("event without a timestamp (userId '" + e.user_id + "', page '" + e.page_name +
                       "'): every event needs ts");
    // Years 1..9999: keeps day numbers in 32 bits and the arithmetic on times far from overflow.
    if (e.ts < -62'135'596'800'000 || e.ts > 253'402'300'799'999)
      throw data_error("event timestamp " + std::to_string(e.ts) + " (userId '" + e.user_id +
                       "') is outside the years 1 to 9999: is it in milliseconds since 1970?");
  }
  void count_event(std::int64_t ts, bool anonymous, churn::auth a) noexcept {
    ++events_;
    first_ts_ = std::min(first_ts_, ts);
    last_ts_ = std::max(last_ts_, ts);
    if (anonymous) {
      ++anonymous_;
      guest_ += a == auth::guest;
      logged_out_ += a == auth::logged_out;
    }
  }
  void apply(detail::user_state& u, const event_fields& e) {
    if (e.page_id == page::cancellation_confirmation || e.page_id == page::cancel || e.auth_id == auth::cancelled) {
      ++u.cancel_events;
      if (e.page_id == page::cancellation_confirmation) u.cancel_ts = std::min(u.cancel_ts, e.ts);
      return;
    }
    const bool song = e.page_id == page::next_song;
    const auto day = static_cast<std::int32_t>(utc_day(e.ts));
    detail::day_bucket& b = u.bucket(day);
    b.first_ts = std::min(b.first_ts, e.ts);
    b.last_ts = std::max(b.last_ts, e.ts);
    ++b.pages[static_cast<std::size_t>(e.page_id)];
    if (e.level_id != level::unknown) {
      b.paid_events += e.level_id == level::paid;
      b.observe_level(e.ts, e.item_in_session, static_cast<std::uint8_t>(e.level_id));
    }
    const std::int64_t listen = song ? length_us(e.length) : 0;
    b.listen_us += listen;
    if (e.has_artist) u.artists.add(e.artist_hash, day);
    detail::insert_interval(u.part(e.session_id, day).intervals,
                            session_interval{e.ts, e.ts, 1, song ? 1u : 0u, listen}, gap_ms_);
    if (!e.gender.empty()) u.gender.observe(e.ts, e.gender);
    if (!e.location.empty()) u.location.observe(e.ts, e.location);
    if (!e.user_agent.empty()) u.user_agent.observe(e.ts, e.user_agent);
    if (e.registration != missing_int) u.registration.observe(e.ts, e.registration);
  }
  detail::user_state& user(const std::string& id) { return users_[user_index(id, detail::string_index::hash(id))]; }
  /// The position of user `id` (hash `h`) in users_, added when new.
  std::uint32_t user_index(std::string_view id, std::uint32_t h) {
    if (last_user_ < users_.size() && users_[last_user_].id == id) return static_cast<std::uint32_t>(last_user_);
    std::uint32_t index = 0;
    if (max_users_ != 0 && users_.size() >= max_users_) {
      // Full: a new id is refused before anything is inserted, so that the accumulator stays usable.
      index = index_.find_hashed(id, h, id_of());
      if (index == detail::string_index::npos) throw too_many_users();
    } else {
      const auto [at, inserted] = index_.try_emplace_hashed(id, h, static_cast<std::uint32_t>(users_.size()), id_of());
      index = at;
      if (inserted) {
        users_.emplace_back();
        users_.back().id = std::string(id);
      }
    }
    last_user_ = index;
    return index;
  }
  std::vector<std::size_t> sorted_users() const {
    std::vector<std::size_t> order(users_.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return detail::user_id_less(users_[a].id, users_[b].id); });
    return order;
  }

  double gap_minutes_ = 30;
  std::int64_t gap_ms_ = 0;
  std::uint64_t max_users_ = 0;  // 0: no limit
  std::uint64_t events_ = 0, anonymous_ = 0, guest_ = 0, logged_out_ = 0;
  std::int64_t first_ts_ = detail::no_ts_min, last_ts_ = detail::no_ts_max;
  std::vector<detail::user_state> users_;
  detail::string_index index_;  // user id -> position in users_
  std::size_t last_user_ = 0;
};

inline feature_table feature_accumulator::finalize(const label_options& options) const {
  options.validate();
  const aggregation_options as_given = detail::resolve_aggregation(options, {});
  if (as_given.session_gap_ms() != gap_ms_ && as_given.session_gap_minutes != aggregation_options{}.session_gap_minutes)
    throw parameter_error("session_gap_minutes", std::to_string(as_given.session_gap_minutes),
                          "the gap the events were accumulated with (" + std::to_string(gap_minutes_) +
                              "); sessions are formed while reading");
  if (events_ == 0) throw data_error("no events: cannot build a feature table from an empty log");
  feature_table t;
  t.options = options;
  t.aggregation = aggregation();
  detail::set_deprecated_aggregation(t.options, t.aggregation);
  feature_report& r = t.report;
  r.events = events_;
  r.anonymous_events = anonymous_;
  r.guest_events = guest_;
  r.logged_out_events = logged_out_;
  r.users_seen = users_.size();
  r.first_ts = first_ts_;
  r.last_ts = last_ts_;
  const bool window = options.mode == label_mode::window;
  std::int64_t cutoff = 0, label_end = 0;
  if (window) {
    cutoff = options.cutoff_ms != missing_int ? options.cutoff_ms : default_cutoff(last_ts_, options.horizon_days);
    label_end = cutoff + options.horizon_ms();
    t.options.cutoff_ms = cutoff;
    r.cutoff_ms = cutoff;
    r.label_end_ms = label_end;
    r.label_window_complete = last_ts_ >= label_end - 1;
  }

  auto specs = detail::feature_specs();
  for (const auto& s : specs) t.features.push_back(s.info);
  std::vector<double> values;  // row-major while rows are unknown
  std::vector<int> labels;
  detail::user_summary s;
  for (std::size_t i : sorted_users()) {
    const detail::user_state& u = users_[i];
    r.cancellation_events += u.cancel_events;
    const bool cancelled = u.cancel_ts != detail::no_ts_min;
    r.users_cancelled_ever += cancelled;
    int label = 0;
    if (window) {
      if (!detail::summarise(u, utc_day(cutoff), cutoff, cutoff, gap_ms_, s)) {
        ++r.users_without_events_before_cutoff;
        continue;
      }
      if (cancelled && u.cancel_ts < cutoff) {
        ++r.users_cancelled_before_cutoff;
        continue;
      }
      label = cancelled && u.cancel_ts < label_end;
    } else {
      const std::int64_t ref = cancelled ? u.cancel_ts : last_ts_;
      if (!detail::summarise(u, std::numeric_limits<std::int32_t>::max(), ref, detail::no_ts_min, gap_ms_, s))
        continue;  // only cancellation events: nothing to learn from
      // The reference day is the cancellation's (or the log end's): recency counts back from there.
      s.end_day = utc_day(ref) + 1;
      std::uint64_t e7 = 0, e14 = 0, s7 = 0, s14 = 0;
      for (const auto& b : u.days) {
        std::uint64_t n = b.events(), songs = b.pages[static_cast<std::size_t>(page::next_song)];
        if (b.day >= s.end_day - 7 && b.day < s.end_day) e7 += n, s7 += songs;
        if (b.day >= s.end_day - 14 && b.day < s.end_day) e14 += n, s14 += songs;
      }
      s.events_last7 = e7, s.events_last14 = e14, s.songs_last7 = s7, s.songs_last14 = s14;
      if (cancelled && s.last_ts > u.cancel_ts) ++r.users_active_after_cancellation;
      label = cancelled;
    }
    t.user_ids.push_back(u.id);
    if (window) t.cutoffs.push_back(cutoff);
    labels.push_back(label);
    r.users_churned += label;
    for (const auto& spec : specs) values.push_back(spec.value(s));
  }
  const auto rows = static_cast<Eigen::Index>(t.user_ids.size());
  const auto cols = static_cast<Eigen::Index>(specs.size());
  t.X.resize(rows, cols);
  for (Eigen::Index i = 0; i < rows; ++i)
    for (Eigen::Index j = 0; j < cols; ++j) t.X(i, j) = values[static_cast<std::size_t>(i * cols + j)];
  t.labels = Eigen::Map<Eigen::VectorXi>(labels.data(), rows);
  r.users_in_table = t.user_ids.size();
  return t;
}

inline feature_table feature_accumulator::finalize(const label_options& options,
                                                   const snapshot_options& snapshots) const {
  options.validate();
  snapshots.validate();
  if (options.mode != label_mode::window)
    throw parameter_error("label", "'history'", "'window' for snapshots (history mode has no cutoff)");
  if (!snapshots.enabled()) throw parameter_error("cutoffs", "none", "a list of cutoffs or every_days >= 1");
  if (events_ == 0) throw data_error("no events: cannot build a feature table from an empty log");
  std::vector<std::int64_t> cuts = snapshots.cutoffs_ms;
  std::sort(cuts.begin(), cuts.end());
  if (cuts.empty()) {
    cuts =
        snapshot_schedule(first_ts_, last_ts_, snapshots.every_days, options.horizon_days, snapshots.min_history_days);
    if (cuts.empty())
      throw data_error("the log is too short for snapshots: it runs from " + format_utc(first_ts_) + " to " +
                       format_utc(last_ts_) + ", and a cutoff needs " + std::to_string(snapshots.min_history_days) +
                       " days of history before it (min_history_days) and " + std::to_string(options.horizon_days) +
                       " days of log after it (horizon_days); use a longer log, a shorter horizon or less history");
  }
  std::vector<feature_table> parts;
  parts.reserve(cuts.size());
  Eigen::Index rows = 0;
  for (std::int64_t c : cuts) {
    label_options o = options;
    o.cutoff_ms = c;
    parts.push_back(finalize(o));
    rows += parts.back().X.rows();
  }
  feature_table t;
  t.features = parts.back().features;
  t.options = parts.back().options;  // the last cutoff: the one closest to "now"
  t.aggregation = parts.back().aggregation;
  feature_report& r = t.report;
  const feature_report& last = parts.back().report;
  r.events = last.events;
  r.anonymous_events = last.anonymous_events;
  r.guest_events = last.guest_events;
  r.logged_out_events = last.logged_out_events;
  r.cancellation_events = last.cancellation_events;
  r.users_cancelled_ever = last.users_cancelled_ever;
  r.users_seen = last.users_seen;
  r.first_ts = last.first_ts;
  r.last_ts = last.last_ts;
  r.cutoff_ms = last.cutoff_ms;
  r.label_end_ms = last.label_end_ms;
  t.X.resize(rows, static_cast<Eigen::Index>(t.features.size()));
  t.labels.resize(rows);
  Eigen::Index at = 0;
  for (auto& p : parts) {
    const Eigen::Index n = p.X.rows();
    t.X.middleRows(at, n) = p.X;
    t.labels.segment(at, n) = p.labels;
    at += n;
    t.user_ids.insert(t.user_ids.end(), std::make_move_iterator(p.user_ids.begin()),
                      std::make_move_iterator(p.user_ids.end()));
    t.cutoffs.insert(t.cutoffs.end(), p.cutoffs.begin(), p.cutoffs.end());
    r.users_in_table += p.report.users_in_table;
    r.users_churned += p.report.users_churned;
    r.users_cancelled_before_cutoff += p.report.users_cancelled_before_cutoff;
    r.users_without_events_before_cutoff += p.report.users_without_events_before_cutoff;
    r.label_window_complete = r.label_window_complete && p.report.label_window_complete;
    r.snapshot_cutoffs.push_back(p.report.cutoff_ms);
    r.snapshot_rows.push_back(p.report.users_in_table);
    r.snapshot_churned.push_back(p.report.users_churned);
  }
  return t;
}

namespace detail {
inline constexpr std::string_view accumulator_magic = "CHURNFA\x01";
inline constexpr std::uint32_t accumulator_version = 1;
}  // namespace detail

inline std::string feature_accumulator::to_bytes() const {
  detail::byte_writer w;
  w.out.append(detail::accumulator_magic.data(), detail::accumulator_magic.size());
  w.u32(detail::accumulator_version);
  w.i64(gap_ms_);
  // For messages only. Rounded, not truncated: from_bytes' value comes back exactly (truncating
  // 3e-6 * 1e6 = 2.9999... gave 2, so bytes changed at each round trip; found by fuzz_features).
  w.u64(static_cast<std::uint64_t>(std::llround(gap_minutes_ * 1e6)));
  w.u64(events_);
  w.u64(anonymous_);
  w.u64(guest_);
  w.u64(logged_out_);
  w.i64(first_ts_);
  w.i64(last_ts_);
  w.u64(users_.size());
  for (std::size_t i : sorted_users()) {
    const auto& u = users_[i];
    w.str(u.id);
    w.i64(u.cancel_ts);
    w.u64(u.cancel_events);
    w.i64(u.gender.ts), w.str(u.gender.value);
    w.i64(u.location.ts), w.str(u.location.value);
    w.i64(u.user_agent.ts), w.str(u.user_agent.value);
    w.i64(u.registration.ts), w.i64(u.registration.value);
    w.u64(u.days.size());
    for (const auto& b : u.days) {
      w.u32(static_cast<std::uint32_t>(b.day));
      w.i64(b.first_ts), w.i64(b.last_ts);
      for (auto c : b.pages) w.u32(c);
      w.u32(b.paid_events);
      w.i64(b.listen_us);
      w.i64(b.level_ts), w.i64(b.level_item), w.u8(b.level);
    }
    w.u64(u.parts.size());
    for (const auto& p : u.parts) {
      w.i64(p.session_id);
      w.u32(static_cast<std::uint32_t>(p.day));
      w.u64(p.intervals.size());
      for (const auto& iv : p.intervals) {
        w.i64(iv.first_ts), w.i64(iv.last_ts), w.u32(iv.events), w.u32(iv.songs), w.i64(iv.listen_us);
      }
    }
    const auto artists = u.artists.sorted();
    w.u64(artists.size());
    for (const auto& [hash, day] : artists) w.u64(hash), w.u32(static_cast<std::uint32_t>(day));
  }
  return std::move(w.out);
}

inline feature_accumulator feature_accumulator::from_bytes(std::string_view bytes) {
  if (bytes.substr(0, detail::accumulator_magic.size()) != detail::accumulator_magic)
    throw data_error("not churn feature accumulator bytes (bad magic; expected the output of to_bytes())");
  detail::byte_reader in(bytes.substr(detail::accumulator_magic.size()));
  std::uint32_t version = in.u32();
  if (version != detail::accumulator_version)
    throw data_error("feature accumulator bytes of format version " + std::to_string(version) +
                     ", this library reads version " + std::to_string(detail::accumulator_version) +
                     ": build them with the same churn version");
  // Times and day numbers feed differences in finalize(): corrupt ones would overflow them (found by
  // fuzz_features), so they must be what add() can produce, or the "none yet" sentinels.
  auto ts = [&in](const char* what) {
    const std::int64_t t = in.i64();
    if (t != detail::no_ts_min && t != detail::no_ts_max && (t < detail::min_event_ts || t > detail::max_event_ts))
      throw data_error("feature accumulator bytes are corrupt: " + std::string(what) + " " + std::to_string(t) +
                       " at offset " + std::to_string(in.offset() - 8) + " is outside the years 1 to 9999");
    return t;
  };
  auto day = [&in](const char* what) {
    const auto d = static_cast<std::int32_t>(in.u32());
    if (d < utc_day(detail::min_event_ts) || d > utc_day(detail::max_event_ts))
      throw data_error("feature accumulator bytes are corrupt: " + std::string(what) + " day " + std::to_string(d) +
                       " at offset " + std::to_string(in.offset() - 4) + " is outside the years 1 to 9999");
    return d;
  };
  feature_accumulator a;
  a.gap_ms_ = in.i64();
  if (a.gap_ms_ <= 0)
    throw data_error("feature accumulator bytes are corrupt: session gap " + std::to_string(a.gap_ms_) + " ms");
  const std::uint64_t gap_micro_minutes = in.u64();
  if (gap_micro_minutes > 10'000'000'000'000ULL)  // aggregation_options allows at most 1e7 minutes
    throw data_error("feature accumulator bytes are corrupt: session gap of " + std::to_string(gap_micro_minutes) +
                     " millionths of a minute (at most 1e7 minutes)");
  a.gap_minutes_ = double(gap_micro_minutes) / 1e6;
  a.events_ = in.u64();
  a.anonymous_ = in.u64();
  a.guest_ = in.u64();
  a.logged_out_ = in.u64();
  a.first_ts_ = ts("first timestamp");
  a.last_ts_ = ts("last timestamp");
  std::size_t n_users = in.count(8, "users");
  a.users_.resize(n_users);
  for (std::size_t k = 0; k < n_users; ++k) {
    auto& u = a.users_[k];
    u.id = in.str("user id");
    auto id_of = [&a](std::uint32_t i) -> const std::string& { return a.users_[i].id; };
    if (u.id.empty() || !a.index_.try_emplace(u.id, static_cast<std::uint32_t>(k), id_of).second)
      throw data_error("feature accumulator bytes are corrupt: empty or repeated user id '" + u.id + "' at offset " +
                       std::to_string(in.offset()));
    u.cancel_ts = ts("cancellation time");
    u.cancel_events = in.u64();
    u.gender.ts = ts("gender time"), u.gender.value = in.str("gender");
    u.location.ts = ts("location time"), u.location.value = in.str("location");
    u.user_agent.ts = ts("user agent time"), u.user_agent.value = in.str("user agent");
    u.registration.ts = ts("registration time"), u.registration.value = in.i64();
    u.days.resize(in.count(32, "days"));
    for (auto& b : u.days) {
      b.day = day("activity");
      b.first_ts = ts("first event time"), b.last_ts = ts("last event time");
      for (auto& c : b.pages) c = in.u32();
      b.paid_events = in.u32();
      b.listen_us = in.i64();
      b.level_ts = ts("level time"), b.level_item = in.i64(), b.level = in.u8();
    }
    u.parts.resize(in.count(20, "session parts"));
    for (auto& p : u.parts) {
      p.session_id = in.i64();
      p.day = day("session");
      p.intervals.resize(in.count(32, "session intervals"));
      for (auto& iv : p.intervals) {
        iv.first_ts = ts("session start"), iv.last_ts = ts("session end"), iv.events = in.u32(), iv.songs = in.u32();
        iv.listen_us = in.i64();
      }
    }
    const std::size_t n_artists = in.count(12, "artists");
    for (std::size_t i = 0; i < n_artists; ++i) {
      const std::uint64_t hash = in.u64();
      u.artists.add(hash, static_cast<std::int32_t>(in.u32()));
    }
    // Lookups rely on sorted days and parts: check rather than trust the bytes.
    for (std::size_t i = 1; i < u.days.size(); ++i)
      if (!(u.days[i - 1].day < u.days[i].day))
        throw data_error("feature accumulator bytes are corrupt: days of user '" + u.id + "' are not sorted");
    for (std::size_t i = 1; i < u.parts.size(); ++i)
      if (!(std::make_pair(u.parts[i - 1].session_id, u.parts[i - 1].day) <
            std::make_pair(u.parts[i].session_id, u.parts[i].day)))
        throw data_error("feature accumulator bytes are corrupt: sessions of user '" + u.id + "' are not sorted");
  }
  if (!in.done())
    throw data_error("feature accumulator bytes are corrupt: " + std::to_string(bytes.size() - in.offset()) +
                     " bytes left over after the last user");
  return a;
}

namespace detail {
/// The events of one user that one thread read and another thread owns travel in parcels (see
/// feature_batch): the fields the features use, and their strings back to back.
struct feature_parcel {
  struct text {  // a string kept in `texts`
    std::uint32_t at = 0, size = 0;
  };
  struct held {
    std::int64_t ts, session_id, item, registration;
    double length;
    std::uint64_t artist_hash;
    std::uint32_t user_hash = 0, user = 0;
    text id, gender, location, agent;
    page page_id;
    churn::auth auth_id;
    churn::level level_id;
    bool has_user, has_artist;
  };
  std::vector<held> events;
  std::string texts;

  text keep(const std::string& s) {
    text t{static_cast<std::uint32_t>(texts.size()), static_cast<std::uint32_t>(s.size())};
    texts.append(s);
    return t;
  }
  std::string_view view(text t) const noexcept { return std::string_view(texts).substr(t.at, t.size); }
  /// Copies what the features use of `e` (whose time is checked); `user_hash` is
  /// string_index::hash(e.user_id) when it has a user.
  held& push(const event& e, std::uint32_t user_hash) {
    held& h = events.emplace_back();
    h.ts = e.ts, h.session_id = e.session_id, h.item = e.item_in_session, h.registration = e.registration;
    h.length = e.length;
    h.page_id = e.page, h.auth_id = e.auth, h.level_id = e.level;
    h.has_artist = e.page == page::next_song && !e.artist.empty();
    h.artist_hash = h.has_artist ? stable_hash(e.artist) : 0;
    h.has_user = e.has_user();
    h.user_hash = user_hash;
    h.id = keep(e.user_id), h.gender = keep(e.gender), h.location = keep(e.location), h.agent = keep(e.user_agent);
    return h;
  }
  void clear() noexcept {
    events.clear();
    texts.clear();
  }
};

/// The mailboxes of the threads of one partitioned read (see feature_batch): thread t owns the users
/// whose id hashes to t and receives their events read by the other threads.
class feature_exchange {
 public:
  explicit feature_exchange(std::size_t threads) : boxes_(threads) {}
  std::size_t threads() const noexcept { return boxes_.size(); }
  /// The thread that owns the user of hash `h` (string_index::hash of the id). Uses the high bits:
  /// the index of each thread's users uses the low ones.
  std::size_t owner(std::uint32_t h) const noexcept {
    return static_cast<std::size_t>((std::uint64_t(h) * boxes_.size()) >> 32);
  }
  void send(std::size_t to, feature_parcel&& p) {
    box& b = boxes_[to];
    std::lock_guard<std::mutex> lock(b.m);
    b.parcels.push_back(std::move(p));
    b.pending.store(b.parcels.size(), std::memory_order_release);
  }
  std::size_t pending(std::size_t t) const noexcept { return boxes_[t].pending.load(std::memory_order_acquire); }
  /// Takes every parcel waiting for thread t (appended to `out`).
  void take(std::size_t t, std::vector<feature_parcel>& out) {
    box& b = boxes_[t];
    if (b.pending.load(std::memory_order_acquire) == 0) return;
    std::lock_guard<std::mutex> lock(b.m);
    for (auto& p : b.parcels) out.push_back(std::move(p));
    b.parcels.clear();
    b.pending.store(0, std::memory_order_release);
  }
  /// A parcel emptied by its receiver, for a sender to fill again (its buffers stay allocated and
  /// warm: allocating a fresh parcel for every send and freeing it on another thread costs more).
  void recycle(feature_parcel&& p) {
    p.clear();
    std::lock_guard<std::mutex> lock(spare_m_);
    if (spare_.size() < 4 * boxes_.size()) spare_.push_back(std::move(p));
  }
  feature_parcel fresh() {
    {
      std::lock_guard<std::mutex> lock(spare_m_);
      if (!spare_.empty()) {
        feature_parcel p = std::move(spare_.back());
        spare_.pop_back();
        return p;
      }
    }
    return {};
  }
  /// Thread t has read its last piece and sent its last parcel.
  void done_reading() noexcept { done_.fetch_add(1, std::memory_order_acq_rel); }
  bool all_done_reading() const noexcept { return done_.load(std::memory_order_acquire) == boxes_.size(); }

 private:
  struct box {
    std::mutex m;
    std::vector<feature_parcel> parcels;
    std::atomic<std::size_t> pending{0};
  };
  std::vector<box> boxes_;
  std::atomic<std::size_t> done_{0};
  std::mutex spare_m_;
  std::vector<feature_parcel> spare_;
};

/// The sink that accumulate_files() gives the reader: it adds events to an accumulator in groups of
/// up to 32, each group in stages that first ask the CPU for the cache lines every event of the
/// group will touch (the user's slot in the index, the user's state, the day bucket, the session part
/// and its last interval, the artist's slot) and only then add the events, in order. At full scale
/// the events of thousands of users interleave and each of those loads misses the cache; one event
/// at a time they are waited for one after another, in a group they are waited for together. The
/// result is that of add() on each event in order. Times are checked as each event arrives, so an
/// event that throws is located by the reader; with a user limit (max_users) the group is one event,
/// so that the event which crosses it is the one the reader is at. flush() adds what is held.
///
/// With an exchange (several threads, no user limit) the users are partitioned: each thread's
/// accumulator holds only the users it owns (feature_exchange::owner), so no user's state is held
/// twice, each user's lines stay in one core's cache, and the accumulators merge by moving users. An
/// event of a user another thread owns is checked here (so the reader still locates a bad one),
/// packed into a parcel for the owner, and added by the owner when it next polls its mailbox (at each
/// group). A thread that sends to a mailbox holding max_pending parcels empties its own while it
/// waits: memory for events in flight stays bounded. reading_done() (called by
/// read_files_parallel on the thread's own thread) sends what is left and adds what arrives until
/// every thread has done so.
class feature_batch {
 public:
  /// `parcel_events` and `max_pending` (both at least 1) are for tests that stress the exchange.
  explicit feature_batch(feature_accumulator& acc, feature_exchange* exchange = nullptr, std::size_t self = 0,
                         std::size_t parcel_events = 256, std::size_t max_pending = 64)
      : acc_(&acc),
        capacity_(acc.max_users_ != 0 ? 1 : max_group),
        exchange_(exchange),
        self_(self),
        parcel_events_(std::max<std::size_t>(parcel_events, 1)),
        max_pending_(std::max<std::size_t>(max_pending, 1)) {
    if (exchange_) outboxes_.resize(exchange_->threads());
  }
  void operator()(const event& e) {
    feature_accumulator::check_time(e);
    const bool has_user = e.has_user();
    const std::uint32_t user_hash = has_user ? string_index::hash(e.user_id) : 0;
    if (exchange_ && has_user) {
      const std::size_t to = exchange_->owner(user_hash);
      if (to != self_) {
        feature_parcel& out = outboxes_[to];
        out.push(e, user_hash);
        if (out.events.size() >= parcel_events_) send(to);
        return;
      }
    }
    if (size_ == 0) group_.clear();
    group_.push(e, user_hash);
    if (has_user) acc_->index_.prefetch(user_hash);
    if (++size_ == capacity_) flush();
  }
  /// Adds the events held (and, partitioned, those that have arrived from other threads).
  void flush() {
    const std::size_t n = size_;
    size_ = 0;  // an exception below (bad_alloc) drops the group rather than adding it twice
    if (n) add_group(group_, 0, n);
    if (exchange_) receive();
  }
  /// Moves the users of `from`, which holds none of `into`'s, into `into`.
  static void join(feature_accumulator& into, feature_accumulator&& from) { into.absorb_disjoint(std::move(from)); }
  /// Partitioned: sends what is left for other threads and adds what they send until every thread
  /// has finished reading. Called once per thread, on that thread, after its last piece.
  void reading_done() {
    if (!exchange_) return;
    flush();
    for (std::size_t to = 0; to < outboxes_.size(); ++to)
      if (!outboxes_[to].events.empty()) exchange_->send(to, std::move(outboxes_[to]));
    exchange_->done_reading();
    while (!exchange_->all_done_reading()) {
      if (!receive()) idle();
    }
    receive();  // what was sent before the last thread finished
  }

 private:
  static constexpr std::size_t max_group = 32;
  using held = feature_parcel::held;

  void send(std::size_t to) {
    while (exchange_->pending(to) >= max_pending_) {
      if (!receive()) idle();
    }
    exchange_->send(to, std::move(outboxes_[to]));
    outboxes_[to] = exchange_->fresh();
    outboxes_[to].events.reserve(parcel_events_);
  }
  /// Waiting for another thread: a short sleep rather than a spin, which would take CPU from the
  /// threads still reading when the cores are shared.
  static void idle() { std::this_thread::sleep_for(std::chrono::microseconds(50)); }
  /// Adds the parcels waiting in this thread's mailbox; false when there were none.
  bool receive() {
    inbox_.clear();
    exchange_->take(self_, inbox_);
    for (feature_parcel& p : inbox_) {
      for (std::size_t at = 0; at < p.events.size(); at += max_group) {
        const std::size_t n = std::min(max_group, p.events.size() - at);
        for (std::size_t k = at; k < at + n; ++k) acc_->index_.prefetch(p.events[k].user_hash);
        add_group(p, at, n);
      }
      exchange_->recycle(std::move(p));
    }
    return !inbox_.empty();
  }
  /// Adds events [from, from + n) of `g`, in order, in the stages described above.
  void add_group(feature_parcel& g, std::size_t from, std::size_t n) {
    feature_accumulator& a = *acc_;
    held* hs = g.events.data() + from;
    // 1. The user's state, from the index slot's first candidate (the comparison of ids needs it).
    for (std::size_t k = 0; k < n; ++k) {
      if (!hs[k].has_user) continue;
      const std::uint32_t c = a.index_.candidate(hs[k].user_hash);
      if (c < a.users_.size()) prefetch(&a.users_[c], sizeof(user_state));
    }
    // 2. Resolve the users (new ones are added here, in event order); then the day bucket, the
    // session part and the artist slot each will use, as guessed from the user's last event.
    for (std::size_t k = 0; k < n; ++k) {
      held& h = hs[k];
      if (!h.has_user) continue;
      h.user = a.user_index(g.view(h.id), h.user_hash);
      const user_state& u = a.users_[h.user];
      if (!u.days.empty()) prefetch(&u.days[std::min<std::size_t>(u.last_day, u.days.size() - 1)], sizeof(day_bucket));
      if (!u.parts.empty()) prefetch(&u.parts[std::min<std::size_t>(u.last_part, u.parts.size() - 1)]);
      if (h.has_artist) {
        if (const auto* slot = u.artists.home(h.artist_hash)) prefetch(slot);
      }
    }
    // 3. The last interval of that session part.
    for (std::size_t k = 0; k < n; ++k) {
      const held& h = hs[k];
      if (!h.has_user) continue;
      const user_state& u = a.users_[h.user];
      if (u.parts.empty()) continue;
      const auto& iv = u.parts[std::min<std::size_t>(u.last_part, u.parts.size() - 1)].intervals;
      if (!iv.empty()) prefetch(&iv.back());
    }
    // 4. Add them, in order.
    for (std::size_t k = 0; k < n; ++k) {
      const held& h = hs[k];
      a.count_event(h.ts, !h.has_user, h.auth_id);
      if (!h.has_user) continue;
      a.apply(a.users_[h.user],
              {h.ts, h.session_id, h.item, h.registration, h.length, h.artist_hash, h.page_id, h.auth_id, h.level_id,
               h.has_artist, g.view(h.gender), g.view(h.location), g.view(h.agent)});
    }
  }

  feature_accumulator* acc_;
  std::size_t capacity_;
  std::size_t size_ = 0;
  feature_parcel group_;  // the events of the group being gathered
  feature_exchange* exchange_;
  std::size_t self_;
  std::size_t parcel_events_;             // events per parcel
  std::size_t max_pending_;               // parcels in a mailbox before a sender waits
  std::vector<feature_parcel> outboxes_;  // per owner thread (this thread's stays empty)
  std::vector<feature_parcel> inbox_;
};
}  // namespace detail

/// Counters a caller can poll from another thread while files are aggregated (for progress bars).
struct feature_progress {
  std::atomic<std::uint64_t> bytes_total{0};  ///< size of the files on disk (set before reading starts)
  std::atomic<std::uint64_t> bytes{0};        ///< bytes of the files read so far (compressed bytes for .gz)
  std::atomic<std::uint64_t> events{0};       ///< events read so far
  /// Set from any thread to stop the reading at its next block (~1-4 MB): accumulate_files then
  /// throws limit_error "stop". For time limits (the web demo's BATCH_SECONDS).
  std::atomic<bool> stop{false};
};

/// Aggregates event logs (files, or directories of *.json[l][.gz] files; plain or gzip) with
/// `read.threads` threads (0: all cores). Files are cut into pieces that the threads take in turn.
/// Without a user limit the users are partitioned across the threads by a hash of the user id: each
/// thread's accumulator holds only its own users, events of the others' users are handed to their
/// owner, and the disjoint accumulators are joined at the end (detail::feature_batch); with a limit
/// each thread fills its own accumulator and they are merged. Either way the result is the same for
/// any number of threads. `report`, when given, receives what the reader saw.
/// With `aggregation.max_users`, each thread's accumulator holds at most that many users (memory stays
/// below threads x max_users users) and so does the merge: beyond it, a located_data_error names the
/// file and line where a thread crossed the limit, or a data_error naming the files when only the
/// merge of the threads' users does.
/// Throws parse_error (strict reading), io_error, parameter_error, data_error.
inline feature_accumulator accumulate_files(const std::vector<std::string>& paths,
                                            const aggregation_options& options = {}, const read_options& read = {},
                                            feature_progress* progress = nullptr, read_report* report = nullptr) {
  options.validate();
  const std::vector<std::string> files = expand_paths(paths);
  read_options ro = read;
  ro.skip_names_and_songs = true;  // no feature reads them
  if (progress) {
    std::uint64_t total = 0;
    for (const auto& f : files) total += detail::file_size(f);  // 0 for a stream (FIFO, "-")
    progress->bytes_total.store(total);
    ro.on_progress = [progress, chained = read.on_progress](std::uint64_t bytes, std::uint64_t events) {
      if (progress->stop.load(std::memory_order_relaxed))
        throw limit_error(
            "stop", 0,
            "stopped on request (feature_progress::stop) after " + std::to_string(progress->bytes.load()) + " bytes");
      progress->bytes.fetch_add(bytes, std::memory_order_relaxed);
      progress->events.fetch_add(events, std::memory_order_relaxed);
      if (chained) chained(bytes, events);
    };
  }
  const unsigned threads = detail::resolve_threads(read.threads);
  std::vector<feature_accumulator> accs(threads, feature_accumulator(options));
  if (threads > 1 && options.max_users == 0) {
    // Users partitioned across the threads (detail::feature_batch): disjoint accumulators, joined
    // by moving each thread's users into the first.
    detail::feature_exchange exchange(threads);
    std::vector<detail::feature_batch> sinks;
    sinks.reserve(threads);
    for (unsigned t = 0; t < threads; ++t) sinks.emplace_back(accs[t], &exchange, t);
    read_report total = read_files_parallel(files, sinks, ro);
    for (std::size_t i = 1; i < accs.size(); ++i) {
      detail::feature_batch::join(accs[0], std::move(accs[i]));
      accs[i] = feature_accumulator(options);
    }
    if (report) *report = std::move(total);
    return std::move(accs[0]);
  }
  std::vector<detail::feature_batch> sinks(accs.begin(), accs.end());
  read_report total = read_files_parallel(files, sinks, ro);
  for (auto& s : sinks) s.flush();
  try {
    for (std::size_t i = 1; i < accs.size(); ++i) {
      accs[0].merge(accs[i]);
      accs[i] = feature_accumulator(options);  // free as we go
    }
  } catch (const limit_error& e) {  // the user limit, crossed only by the threads together
    throw limit_error(
        e.limit(), e.value(),
        "data error in " + (files.size() == 1 ? files[0] : std::to_string(files.size()) + " files") + ": " + e.what());
  } catch (const data_error& e) {
    throw data_error("data error in " + (files.size() == 1 ? files[0] : std::to_string(files.size()) + " files") +
                     ": " + e.what());
  }
  if (report) *report = std::move(total);
  return std::move(accs[0]);
}

/// Deprecated, 0.2.0 removes it: the aggregation fields of label_options (see
/// detail::resolve_aggregation).
template <class L, detail::if_same<L, label_options> = 0>
[[deprecated("pass churn::aggregation_options")]] feature_accumulator accumulate_files(
    const std::vector<std::string>& paths, const L& options, const read_options& read = {},
    feature_progress* progress = nullptr, read_report* report = nullptr) {
  options.validate();
  return accumulate_files(paths, detail::resolve_aggregation(options, {}), read, progress, report);
}

/// The feature table of event log files: aggregated under `aggregation`, labelled under `labels`. See
/// accumulate_files() and feature_accumulator::finalize(). (A deprecated aggregation field set in
/// `labels` is used where `aggregation` keeps its default; see detail::resolve_aggregation.)
inline feature_table user_features(const std::vector<std::string>& paths, const label_options& labels = {},
                                   const aggregation_options& aggregation = {}, const read_options& read = {},
                                   feature_progress* progress = nullptr) {
  labels.validate();
  read_report report;
  feature_accumulator acc =
      accumulate_files(paths, detail::resolve_aggregation(labels, aggregation), read, progress, &report);
  feature_table t = acc.finalize(labels);
  t.report.read = std::move(report);
  return t;
}

/// The snapshot table of event log files: one read, one row per (user, cutoff). See
/// feature_accumulator::finalize(options, snapshots).
inline feature_table user_features(const std::vector<std::string>& paths, const label_options& labels,
                                   const snapshot_options& snapshots, const aggregation_options& aggregation = {},
                                   const read_options& read = {}, feature_progress* progress = nullptr) {
  labels.validate();
  snapshots.validate();
  if (labels.mode != label_mode::window)
    throw parameter_error("label", "'history'", "'window' for snapshots (history mode has no cutoff)");
  read_report report;
  feature_accumulator acc =
      accumulate_files(paths, detail::resolve_aggregation(labels, aggregation), read, progress, &report);
  feature_table t = acc.finalize(labels, snapshots);
  t.report.read = std::move(report);
  return t;
}

inline feature_table user_features(const std::string& path, const label_options& labels = {},
                                   const aggregation_options& aggregation = {}, const read_options& read = {},
                                   feature_progress* progress = nullptr) {
  return user_features(std::vector<std::string>{path}, labels, aggregation, read, progress);
}

/// Deprecated, 0.2.0 removes them: read options right after the label options (the aggregation
/// options now come between them).
template <class R, detail::if_same<R, read_options> = 0>
[[deprecated("pass churn::aggregation_options between the label and the read options")]] feature_table user_features(
    const std::vector<std::string>& paths, const label_options& labels, const R& read,
    feature_progress* progress = nullptr) {
  return user_features(paths, labels, aggregation_options{}, read, progress);
}
template <class R, detail::if_same<R, read_options> = 0>
[[deprecated("pass churn::aggregation_options between the label and the read options")]] feature_table user_features(
    const std::string& path, const label_options& labels, const R& read, feature_progress* progress = nullptr) {
  return user_features(std::vector<std::string>{path}, labels, aggregation_options{}, read, progress);
}
template <class R, detail::if_same<R, read_options> = 0>
[[deprecated("pass churn::aggregation_options between the snapshot and the read options")]] feature_table user_features(
    const std::vector<std::string>& paths, const label_options& labels, const snapshot_options& snapshots,
    const R& read, feature_progress* progress = nullptr) {
  return user_features(paths, labels, snapshots, aggregation_options{}, read, progress);
}

/// The feature table of events held in memory (any order).
inline feature_table user_features(const std::vector<event>& events, const label_options& labels = {},
                                   const aggregation_options& aggregation = {}) {
  labels.validate();
  feature_accumulator acc(detail::resolve_aggregation(labels, aggregation));
  for (const auto& e : events) acc.add(e);
  return acc.finalize(labels);
}

}  // namespace churn
