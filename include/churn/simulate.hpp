#pragma once
// A Sparkify-faithful event simulator: eventsim's own Markov chains (26 configs), timing, users and
// output form, streamed in time order to a callback, a std::ostream or a (gzipped) file; users behave
// either as in eventsim or with a hidden engagement that drives visits and cancellations
// (churn/engagement.hpp).
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <churn/dates.hpp>
#include <churn/detail/eventsim_data.hpp>
#include <churn/detail/parallel.hpp>
#include <churn/detail/sim_engine.hpp>
#include <churn/engagement.hpp>
#include <churn/error.hpp>
#include <churn/event.hpp>

namespace churn {

/// Names of eventsim's 26 configs, in the order of simulate_options::config_mix (Accordion first).
inline std::vector<std::string_view> simulate_config_names() {
  std::vector<std::string_view> names;
  for (const auto& c : detail::eventsim::configs) names.push_back(c.name);
  return names;
}

/// The calibrated mix of configs (weights in the order of simulate_config_names()), fitted by
/// tools/calibrate_simulate.py: with it a 225-user, 60-day run matches the real mini data set's churn
/// and page rates (docs/data.md). Every config keeps a share, so habits and churn risk vary by user.
inline std::array<double, detail::eventsim::config_count> default_config_mix() {
  return {1.07, 1.20, 1.11, 1.06, 1.05, 1.04, 1.06, 1.37, 1.02, 1.02, 1.18, 1.11, 0.30,   // Accordion..Marimba
          0.53, 0.59, 1.17, 0.72, 0.57, 0.73, 1.04, 1.07, 1.06, 1.12, 2.15, 0.77, 0.90};  // Nagara..Zither
}

/// Progress of a long run: events so far and the share of simulated time done, in [0, 1].
struct simulate_progress {
  std::uint64_t events = 0;
  double fraction = 0.0;
};

/// Parameters of a simulation. Same options and seed, same events, whatever `threads`.
struct simulate_options {
  std::uint64_t users = 225;              ///< users present at the start
  std::uint32_t days = 60;                ///< length of the simulated window
  std::int64_t start_ms = 1538352000000;  ///< window start, epoch ms (default 2018-10-01T00:00Z)
  std::uint64_t seed = 0;
  unsigned threads = 0;  ///< 0: all hardware threads
  /// engagement (default): a hidden satisfaction drives visits and cancels; eventsim: the Sparkify
  /// generator's own behaviour (cancel risk per page step).
  churn::behaviour behaviour = churn::behaviour::engagement;
  engagement_params engagement;            ///< used by the engagement behaviour only
  std::vector<double> config_mix;          ///< 26 weights (simulate_config_names order); empty: default
  double cancel_multiplier = 1.0;          ///< scales every transition into Cancel (eventsim) or
                                           ///< the per-visit cancel probability (engagement)
  double new_users_per_day = -1.0;         ///< guest arrivals per day; negative: users * 0.0008
  std::uint32_t catalogue_songs = 100000;  ///< size of the generated song catalogue
  double alpha_sigma = 0.6;                ///< spread (lognormal sigma) of users' in-session gaps
  double beta_sigma = 1.15;                ///< spread of users' gaps between sessions
  double beta_scale = 1.0;                 ///< scales the configs' mean gaps between sessions
  double registration_mean_days = 75.0;    ///< initial users registered this long before start (mean)
  int gzip_level = 6;                      ///< for .gz output, 1 (fast) .. 9 (small)
  /// Called on the calling thread after every 6 simulated hours; may throw to stop the run.
  std::function<void(const simulate_progress&)> progress;

  /// Throws parameter_error naming the first invalid parameter.
  void validate() const {
    if (users > 50'000'000) throw parameter_error("users", std::to_string(users), "0 .. 50,000,000");
    if (threads > 1024) throw parameter_error("threads", std::to_string(threads), "0 (all cores) .. 1024");
    if (days == 0 || days > 3660) throw parameter_error("days", std::to_string(days), "1 .. 3660");
    if (!config_mix.empty()) {
      if (config_mix.size() != detail::eventsim::config_count)
        throw parameter_error("config_mix", std::to_string(config_mix.size()) + " weights",
                              "empty, or 26 non-negative weights with a positive sum");
      double total = 0;
      for (double w : config_mix) {
        if (!(w >= 0) || !std::isfinite(w))
          throw parameter_error("config_mix", std::to_string(w), "non-negative finite weights");
        total += w;
      }
      if (!(total > 0)) throw parameter_error("config_mix", "all zero", "weights with a positive sum");
    }
    if (!(cancel_multiplier >= 0) || !std::isfinite(cancel_multiplier) || cancel_multiplier > 100)
      throw parameter_error("cancel_multiplier", std::to_string(cancel_multiplier), "0 .. 100");
    if (std::isnan(new_users_per_day) || new_users_per_day > 1e7)
      throw parameter_error("new_users_per_day", std::to_string(new_users_per_day), "negative (automatic) or 0 .. 1e7");
    if (catalogue_songs == 0 || catalogue_songs > 10'000'000)
      throw parameter_error("catalogue_songs", std::to_string(catalogue_songs), "1 .. 10,000,000");
    if (!(alpha_sigma >= 0 && alpha_sigma <= 3))
      throw parameter_error("alpha_sigma", std::to_string(alpha_sigma), "0 .. 3");
    if (!(beta_sigma >= 0 && beta_sigma <= 3))
      throw parameter_error("beta_sigma", std::to_string(beta_sigma), "0 .. 3");
    if (!(beta_scale >= 0.01 && beta_scale <= 100))
      throw parameter_error("beta_scale", std::to_string(beta_scale), "0.01 .. 100");
    if (!(registration_mean_days > 0 && registration_mean_days <= 3650))
      throw parameter_error("registration_mean_days", std::to_string(registration_mean_days), "(0, 3650]");
    if (gzip_level < 1 || gzip_level > 9) throw parameter_error("gzip_level", std::to_string(gzip_level), "1 .. 9");
    engagement.validate();
    if (start_ms % 1000 != 0)
      throw parameter_error("start_ms", std::to_string(start_ms), "a whole second (multiple of 1000)");
  }
};

/// What a run produced.
struct simulate_summary {
  std::uint64_t events = 0;
  /// sessions of logged-in users, as scan_summary counts them (distinct userId + sessionId; guests'
  /// and logged-out sessions have no userId and are not counted)
  std::uint64_t sessions = 0;
  std::uint64_t users = 0;              ///< distinct non-empty userIds in the output
  std::uint64_t churned = 0;            ///< users with a Cancellation Confirmation
  std::uint64_t anonymous_events = 0;   ///< rows with an empty userId (Guest, Logged Out)
  std::uint64_t registrations = 0;      ///< Submit Registration events
  std::uint64_t text_bytes = 0;         ///< JSON-lines text produced (0 for the event callback)
  std::uint64_t bytes = 0;              ///< bytes written (compressed size for .gz)
  std::int64_t first_ts = missing_int;  ///< epoch ms
  std::int64_t last_ts = missing_int;
};

/// Epoch milliseconds of 00:00 UTC on a "YYYY-MM-DD" date from 1970 on (churn::parse_date). Throws
/// parameter_error naming 'start' otherwise.
inline std::int64_t parse_start_date(std::string_view date) {
  const auto ms = try_parse_date(date);
  if (!ms || *ms < 0) throw parameter_error("start", "'" + std::string(date) + "'", "a date YYYY-MM-DD");
  return *ms;
}

namespace detail {

inline sim_settings sim_make_settings(const simulate_options& o) {
  o.validate();
  sim_settings s;
  s.users = o.users;
  s.start_s = o.start_ms / 1000;
  s.end_s = s.start_s + static_cast<std::int64_t>(o.days) * seconds_per_day;
  s.seed = o.seed;
  s.threads = o.threads == 0 ? static_cast<unsigned>(hardware_threads()) : o.threads;
  if (o.config_mix.empty()) {
    s.config_mix = default_config_mix();
  } else {
    std::copy(o.config_mix.begin(), o.config_mix.end(), s.config_mix.begin());
  }
  s.cancel_multiplier = o.cancel_multiplier;
  s.new_users_per_day = o.new_users_per_day < 0 ? 0.0008 * static_cast<double>(o.users) : o.new_users_per_day;
  s.catalogue_songs = o.catalogue_songs;
  s.alpha_sigma = o.alpha_sigma;
  s.beta_sigma = o.beta_sigma;
  s.beta_scale = o.beta_scale;
  s.registration_mean_days = o.registration_mean_days;
  s.mode = o.behaviour;
  s.engagement = o.engagement;
  return s;
}

/// Tallies a summary from events in output order.
class sim_counter {
 public:
  explicit sim_counter(std::size_t users) : seen_(users, 0) {}
  void add(const sim_raw_event& e) {
    const auto& st = eventsim::states[e.state];
    ++s_.events;
    const std::int64_t ts = e.ts * 1000;
    if (s_.first_ts == missing_int) s_.first_ts = ts;
    s_.last_ts = ts;
    if (st.auth == auth::logged_in || st.auth == auth::cancelled) {
      if (!seen_[e.user]) {
        seen_[e.user] = 1;
        ++s_.users;
      }
      // Session ids are unique across users in the simulator: one flag per id counts (user, session).
      if (e.session_id >= session_seen_.size())
        session_seen_.resize(std::max<std::size_t>(e.session_id + 1, 2 * session_seen_.size()));
      if (!session_seen_[e.session_id]) {
        session_seen_[e.session_id] = true;
        ++s_.sessions;
      }
    } else {
      ++s_.anonymous_events;
    }
    if (st.page == page::cancellation_confirmation) ++s_.churned;
    if (st.page == page::submit_registration) ++s_.registrations;
  }
  simulate_summary& summary() noexcept { return s_; }

 private:
  simulate_summary s_;
  std::vector<std::uint8_t> seen_;
  std::vector<bool> session_seen_;
};

inline void sim_append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

inline void sim_append_quoted(std::string& out, std::string_view json_body) {
  out += '"';
  out += json_body;
  out += '"';
}

/// Appends one JSON line in the key order of the real churn files; user fields only where eventsim
/// shows them (Logged In, Cancelled), artist/song/length only on NextSong.
inline void sim_format_event(std::string& out, const sim_engine& engine, const sim_raw_event& e) {
  const auto& w = engine.world();
  const auto& st = eventsim::states[e.state];
  const auto& u = engine.users()[e.user];
  const bool show = st.auth == auth::logged_in || st.auth == auth::cancelled;
  out += "{\"ts\":";
  sim_append_int(out, e.ts * 1000);
  out += ",\"userId\":\"";
  if (show) sim_append_int(out, static_cast<std::int64_t>(e.user) + 1);
  out += "\",\"sessionId\":";
  sim_append_int(out, static_cast<std::int64_t>(e.session_id));
  out += ",\"page\":";
  sim_append_quoted(out, to_string(st.page));
  out += ",\"auth\":";
  sim_append_quoted(out, to_string(st.auth));
  out += ",\"method\":";
  sim_append_quoted(out, to_string(st.method));
  out += ",\"status\":";
  sim_append_int(out, st.status);
  out += ",\"level\":";
  sim_append_quoted(out, to_string(st.level));
  out += ",\"itemInSession\":";
  sim_append_int(out, e.item);
  if (show) {
    out += ",\"location\":";
    sim_append_quoted(out, w.metro_text[u.metro].json);
    out += ",\"userAgent\":";
    sim_append_quoted(out, w.agent_text[u.agent].json);
    out += ",\"lastName\":";
    sim_append_quoted(out, w.last_text[u.last_name].json);
    out += ",\"firstName\":";
    sim_append_quoted(out, (u.female ? w.female_text : w.male_text)[u.first_name].json);
    out += ",\"registration\":";
    sim_append_int(out, u.registration_ms);
    out += u.female ? ",\"gender\":\"F\"" : ",\"gender\":\"M\"";
  }
  if (st.page == page::next_song) {
    out += ",\"artist\":";
    sim_append_quoted(out, w.artist_names[w.song_artist[e.song]]);
    out += ",\"song\":";
    sim_append_quoted(out, w.song_titles[e.song]);
    out += ",\"length\":";
    // Shortest form of a 5-decimal length, as Java's Double.toString writes them: 277.89016, 240.0.
    const std::uint32_t units = w.song_length[e.song];
    sim_append_int(out, units / 100000);
    char frac[6];
    std::uint32_t f = units % 100000;
    for (int i = 4; i >= 0; --i, f /= 10) frac[i] = static_cast<char>('0' + f % 10);
    std::size_t n = 5;
    while (n > 1 && frac[n - 1] == '0') --n;
    out += '.';
    out.append(frac, n);
  }
  out += "}\n";
}

/// Fills `ev` (reused between calls so that its strings keep their capacity).
inline void sim_fill_event(event& ev, const sim_engine& engine, const sim_raw_event& e) {
  const auto& w = engine.world();
  const auto& st = eventsim::states[e.state];
  const auto& u = engine.users()[e.user];
  const bool show = st.auth == auth::logged_in || st.auth == auth::cancelled;
  ev.ts = e.ts * 1000;
  if (show) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<std::uint64_t>(e.user) + 1);
    ev.user_id.assign(buf, static_cast<std::size_t>(r.ptr - buf));
    ev.location = w.metro_text[u.metro].raw;
    ev.user_agent = w.agent_text[u.agent].raw;
    ev.last_name = w.last_text[u.last_name].raw;
    ev.first_name = (u.female ? w.female_text : w.male_text)[u.first_name].raw;
    ev.registration = u.registration_ms;
    ev.gender = u.female ? "F" : "M";
  } else {
    ev.user_id.clear();
    ev.location.clear();
    ev.user_agent.clear();
    ev.last_name.clear();
    ev.first_name.clear();
    ev.registration = missing_int;
    ev.gender.clear();
  }
  ev.session_id = static_cast<std::int64_t>(e.session_id);
  ev.page = st.page;
  ev.page_name = to_string(st.page);
  ev.auth = st.auth;
  ev.method = st.method;
  ev.status = st.status;
  ev.level = st.level;
  ev.item_in_session = e.item;
  if (st.page == page::next_song) {
    ev.artist = w.artist_names[w.song_artist[e.song]];
    ev.song = w.song_titles[e.song];
    ev.length = static_cast<double>(w.song_length[e.song]) / 1e5;
  } else {
    ev.artist.clear();
    ev.song.clear();
    ev.length = std::numeric_limits<double>::quiet_NaN();
  }
}

/// Runs the simulation slice by slice, handing each time-sorted slice to `consume(engine, events, last)`.
template <class Consume>
simulate_summary sim_run(const simulate_options& options, Consume&& consume) {
  sim_engine engine(sim_make_settings(options));
  sim_counter counter(engine.users().size());
  std::vector<sim_raw_event> slice;
  const std::size_t n = engine.slice_count();
  for (std::size_t k = 0; k < n; ++k) {
    engine.generate_slice(k, slice);
    for (const auto& e : slice) counter.add(e);
    consume(engine, slice, k + 1 == n);
    if (options.progress)
      options.progress({counter.summary().events, static_cast<double>(k + 1) / static_cast<double>(n)});
  }
  return counter.summary();
}

/// Compresses `text` as one complete gzip member (members concatenate into a valid .gz file).
inline std::string sim_gzip_member(const std::string& text, int level) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw io_error("gzip: cannot initialise zlib's deflate");
  std::string out(deflateBound(&zs, static_cast<uLong>(text.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(&out[0]);
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const auto produced = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw io_error("gzip: zlib's deflate failed (code " + std::to_string(rc) + ")");
  out.resize(produced);
  return out;
}

/// Formats (and gzips) the events in parallel chunks and writes them in order to `write(data, size)`.
/// Slices are batched (about 256 K events) so that every thread has several chunks to format.
template <class Write>
simulate_summary sim_write(const simulate_options& options, bool gzip, Write&& write) {
  constexpr std::size_t chunk_events = 16384;
  constexpr std::size_t batch_events = 16 * chunk_events;
  std::vector<std::string> chunks;
  std::vector<sim_raw_event> batch;
  std::uint64_t text_bytes = 0, bytes = 0;
  const unsigned threads = options.threads == 0 ? static_cast<unsigned>(hardware_threads()) : options.threads;
  const sim_engine* current = nullptr;
  auto flush = [&] {
    const std::size_t n = (batch.size() + chunk_events - 1) / chunk_events;
    if (chunks.size() < n) chunks.resize(n);
    std::vector<std::uint64_t> sizes(n, 0);
    parallel_for(n, static_cast<int>(threads), [&](std::size_t c, std::size_t /*worker*/) {
      std::string text;  // local, not chunks[c]: no false sharing of string headers between threads
      text.swap(chunks[c]);
      text.clear();
      const std::size_t end = std::min(batch.size(), (c + 1) * chunk_events);
      for (std::size_t i = c * chunk_events; i < end; ++i) sim_format_event(text, *current, batch[i]);
      sizes[c] = text.size();
      if (gzip) text = sim_gzip_member(text, options.gzip_level);
      chunks[c].swap(text);
    });
    for (std::size_t c = 0; c < n; ++c) {
      text_bytes += sizes[c];
      bytes += chunks[c].size();
      write(chunks[c].data(), chunks[c].size());
    }
    batch.clear();
  };
  auto consume = [&](const sim_engine& engine, const std::vector<sim_raw_event>& slice, bool last) {
    current = &engine;  // users' identities and the tables never change after the engine is built
    batch.insert(batch.end(), slice.begin(), slice.end());
    if (batch.size() >= batch_events || last) flush();
  };
  auto summary = sim_run(options, consume);
  summary.text_bytes = text_bytes;
  summary.bytes = bytes;
  return summary;
}

}  // namespace detail

/// Simulates and calls sink(const churn::event&) for every event, in time order (ties: by user), on the
/// calling thread; the event object is reused between calls. Generation runs on options.threads.
/// Throws parameter_error for invalid options; exceptions from the sink propagate.
template <class Sink>
simulate_summary simulate(const simulate_options& options, Sink&& sink) {
  event ev;
  return detail::sim_run(
      options, [&](const detail::sim_engine& engine, const std::vector<detail::sim_raw_event>& slice, bool /*last*/) {
        for (const auto& e : slice) {
          detail::sim_fill_event(ev, engine, e);
          sink(static_cast<const event&>(ev));
        }
      });
}

/// Writes the simulated log as JSON lines (one event per line, time order) to `out`; gzip-compressed
/// when `gzip` (as concatenated gzip members, which gzip, zlib and Python read as one stream).
/// Throws io_error when the stream fails.
inline simulate_summary write_jsonl(const simulate_options& options, std::ostream& out, bool gzip = false) {
  return detail::sim_write(options, gzip, [&](const char* data, std::size_t size) {
    out.write(data, static_cast<std::streamsize>(size));
    if (!out) throw io_error("simulate: writing the event log failed (stream error)");
  });
}

/// Writes the simulated log to `path`, gzip-compressed when the name ends in ".gz".
/// Throws io_error naming the file when it cannot be created or written (e.g. disk full).
inline simulate_summary write_jsonl_file(const simulate_options& options, const std::string& path) {
  options.validate();  // before creating the file
  const bool gzip = path.size() >= 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw io_error("simulate: cannot create '" + path + "': " + std::strerror(errno));
  auto summary = detail::sim_write(options, gzip, [&](const char* data, std::size_t size) {
    out.write(data, static_cast<std::streamsize>(size));
    if (!out) throw io_error("simulate: cannot write to '" + path + "' (disk full?)");
  });
  out.close();
  if (!out) throw io_error("simulate: cannot finish writing '" + path + "'");
  return summary;
}

/// Parameters of simulate_oracle.
struct oracle_options {
  std::int64_t cutoff_ms = missing_int;  ///< a UTC midnight; missing_int: the window labels' default rule
                                         ///< (the midnight at or before the window's end - 1 s - horizon)
  double horizon_days = 30.0;            ///< label window [cutoff, cutoff + horizon)
  std::uint32_t draws = 200;             ///< futures simulated per user
  std::uint64_t seed = 1;                ///< seed of the fresh randomness (not the log's seed)

  void validate() const {
    if (!(std::isfinite(horizon_days) && horizon_days > 0 && horizon_days <= 36500))
      throw parameter_error("horizon_days", std::to_string(horizon_days), "a number of days in (0, 36500]");
    if (draws == 0 || draws > 1'000'000) throw parameter_error("draws", std::to_string(draws), "1 .. 1,000,000");
    if (cutoff_ms != missing_int && cutoff_ms % ms_per_day != 0)
      throw parameter_error("cutoff", std::to_string(cutoff_ms), "a UTC midnight in epoch milliseconds");
  }
};

/// The oracle's answer: one row per user with a logged-in event before the cutoff who had not
/// cancelled by then (the rows of a window-label feature table), in userId order.
struct oracle_result {
  std::int64_t cutoff_ms = 0;
  double horizon_days = 0;
  std::uint32_t draws = 0;
  std::vector<std::uint64_t> user_id;  ///< the log's userId (as a number)
  std::vector<double> probability;     ///< P(Cancellation Confirmation in [cutoff, cutoff + horizon) | state)
  std::vector<double> satisfaction;    ///< hidden satisfaction after the last event before the cutoff
                                       ///< (0 under the eventsim behaviour)
};

/// The ceiling of churn prediction on a simulated log: for the log that `options` simulate, the
/// probability that each user cancels within the horizon given their exact hidden state at the cutoff
/// (chain state, config, timing, satisfaction, a decision to cancel), estimated from `oracle.draws`
/// futures simulated with fresh randomness (standard error at most 0.5 / sqrt(draws)). It knows more
/// than any log shows, so no model of the log beats its ROC AUC in expectation. Parallel over users on
/// options.threads; the result does not depend on the thread count.
/// Throws parameter_error for invalid options or a window that does not fit in the simulated days.
/// Cost: one simulation up to the cutoff plus `draws` simulations of the horizon.
inline oracle_result simulate_oracle(const simulate_options& options, const oracle_options& oracle) {
  oracle.validate();
  detail::sim_engine engine(detail::sim_make_settings(options));
  const auto& s = engine.world().settings;
  const std::int64_t horizon_s = std::llround(oracle.horizon_days * double(seconds_per_day));
  std::int64_t cutoff_s = 0;
  if (oracle.cutoff_ms == missing_int) {
    cutoff_s = floor_div(s.end_s - 1 - horizon_s, seconds_per_day) * seconds_per_day;
  } else {
    cutoff_s = oracle.cutoff_ms / 1000;
  }
  if (cutoff_s <= s.start_s || cutoff_s + horizon_s > s.end_s)
    throw parameter_error("cutoff", std::to_string(cutoff_s * 1000),
                          "a midnight after the start such that cutoff + horizon is within the simulated days");
  const auto& users = engine.users();
  std::vector<detail::sim_engine::oracle_answer> answers(users.size());
  constexpr std::size_t block = 16;
  const std::size_t blocks = (users.size() + block - 1) / block;
  detail::parallel_for(blocks, static_cast<int>(s.threads), [&](std::size_t b, std::size_t /*worker*/) {
    const std::size_t end = std::min(users.size(), (b + 1) * block);
    for (std::size_t u = b * block; u < end; ++u)
      answers[u] =
          engine.oracle(static_cast<std::uint32_t>(u), cutoff_s, cutoff_s + horizon_s, oracle.draws, oracle.seed);
  });
  oracle_result r;
  r.cutoff_ms = cutoff_s * 1000;
  r.horizon_days = oracle.horizon_days;
  r.draws = oracle.draws;
  for (std::size_t u = 0; u < answers.size(); ++u) {
    if (!answers[u].seen || answers[u].cancelled) continue;
    r.user_id.push_back(static_cast<std::uint64_t>(u) + 1);
    r.probability.push_back(answers[u].probability);
    r.satisfaction.push_back(answers[u].satisfaction);
  }
  return r;
}

}  // namespace churn
