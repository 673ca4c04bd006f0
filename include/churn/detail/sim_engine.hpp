#pragma once
// The simulator's machinery: the read-only tables of a run (chain, people, song catalogue), the users'
// resumable state, and the time-sliced generation that makes the output independent of the thread count.
// Public interface: churn/simulate.hpp.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <churn/dates.hpp>
#include <churn/detail/eventsim_data.hpp>
#include <churn/detail/parallel.hpp>
#include <churn/detail/sim_rng.hpp>
#include <churn/engagement.hpp>
#include <churn/event.hpp>

namespace churn {
namespace detail {

/// JSON string body of `text` (no surrounding quotes). '/' is written as "\/" as in the real logs.
inline std::string sim_json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (char ch : text) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '/': out += "\\/"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          static constexpr char hex[] = "0123456789abcdef";
          out += "\\u00";
          out += hex[(static_cast<unsigned char>(ch) >> 4) & 0xF];
          out += hex[static_cast<unsigned char>(ch) & 0xF];
        } else {
          out += ch;
        }
    }
  }
  return out;
}

/// Settings of a run after validation and defaulting (see simulate_options).
struct sim_settings {
  std::uint64_t users = 0;
  std::int64_t start_s = 0;
  std::int64_t end_s = 0;
  std::uint64_t seed = 0;
  unsigned threads = 1;
  std::array<double, eventsim::config_count> config_mix{};
  double cancel_multiplier = 1.0;
  double new_users_per_day = 0.0;
  std::uint32_t catalogue_songs = 0;
  double alpha_sigma = 0.0;
  double beta_sigma = 0.0;
  double beta_scale = 1.0;
  double registration_mean_days = 0.0;
  behaviour mode = behaviour::engagement;
  engagement_params engagement;
};

/// A text with its JSON-escaped form.
struct sim_text {
  std::string raw;
  std::string json;
};

/// The read-only tables of one run, built once and shared by all threads.
struct sim_world {
  sim_settings settings;
  // Chain: cumulative transition thresholds, per config, laid out like eventsim::edge_p.
  std::vector<double> cumulative;  // config_count * edge_count
  // New-session first states per (auth, level): cumulative weights over eventsim::new_session.
  std::array<std::vector<std::pair<std::uint8_t, double>>, 6> session_start;
  alias_table mix, metros, agents, male_names, female_names, last_names, songs;
  std::vector<sim_text> metro_text, agent_text, male_text, female_text, last_text;
  // Catalogue.
  std::vector<std::string> artist_names;  // ASCII letters and spaces only: no escaping needed
  std::vector<std::string> song_titles;
  std::vector<std::uint32_t> song_artist;
  std::vector<std::uint32_t> song_length;  // units of 1e-5 s
  std::uint8_t cancellation_state_free = 0, cancellation_state_paid = 0;
  // Engagement: the chain without its Cancel edges (the rest renormalised: the exact conditional of a
  // step that does not cancel), the Cancel edge out of each state (-1: none), and each page's
  // experience weight (NextSong's is minus the average experience of a song).
  std::vector<double> cumulative_no_cancel;  // config_count * edge_count
  std::array<std::int16_t, eventsim::state_count> cancel_edge{};
  std::array<double, known_page_count + 1> experience{};
  double visit_norm = 1.0;  // makes exp(visit_elasticity * s) mean 1 over the stationary spread of s
  double trend_keep = 0.0, trend_step_sd = 0.0, sat_keep = 0.0;  // the daily wander's coefficients
  // Spread of the users' fixed gaps between sessions: eventsim's beta_sigma, less (engagement) the
  // spread the satisfaction adds, so that the visit rates spread across users as they do in eventsim.
  // The mean session rate, E[1 / beta] = exp(sigma^2) / config beta, stays eventsim's: fixed_beta_factor.
  double fixed_beta_sigma = 0.0, fixed_beta_factor = 1.0;

  static std::size_t auth_level_slot(auth a, level l) noexcept {
    const std::size_t ai = a == auth::guest ? 0 : a == auth::logged_in ? 1 : 2;
    return ai * 2 + (l == level::paid ? 1 : 0);
  }
};

template <std::size_t N>
std::vector<double> sim_weights(const std::array<eventsim::weighted_text, N>& table) {
  std::vector<double> w;
  w.reserve(N);
  for (const auto& row : table) w.push_back(static_cast<double>(row.weight));
  return w;
}
template <std::size_t N>
std::vector<sim_text> sim_texts(const std::array<eventsim::weighted_text, N>& table) {
  std::vector<sim_text> out;
  out.reserve(N);
  for (const auto& row : table) out.push_back({std::string(row.text), sim_json_escape(row.text)});
  return out;
}

/// A fixed song catalogue (the same for every seed: one service, one catalogue). Popularity follows a
/// shifted Zipf law, 1 / (rank + 12)^0.9, which with 100,000 songs gives the real mini set's skew: about
/// 58,000 distinct songs in 228,000 plays and a top song near 0.5 % of plays.
inline void sim_build_catalogue(sim_world& w) {
  namespace es = eventsim;
  const std::uint32_t n_songs = w.settings.catalogue_songs;
  const std::uint32_t n_artists = std::max<std::uint32_t>(1, n_songs / 5);
  sim_rng rng(0x5EED5A11C0FFEEULL, 0);
  auto pick = [&rng](const auto& words) { return std::string(words[rng.below(words.size())]); };
  w.artist_names.resize(n_artists);
  for (auto& name : w.artist_names) {
    switch (rng.below(5)) {
      case 0: name = "The " + pick(es::words_adjective) + " " + pick(es::words_noun) + "s"; break;
      case 1:
        name = std::string(es::first_names_male[rng.below(es::first_names_male.size())].text) + " " +
               std::string(es::last_names[rng.below(es::last_names.size())].text);
        break;
      case 2:
        name = std::string(es::first_names_female[rng.below(es::first_names_female.size())].text) + " " +
               std::string(es::last_names[rng.below(es::last_names.size())].text);
        break;
      case 3: name = pick(es::words_adjective) + " " + pick(es::words_noun); break;
      default: name = pick(es::words_noun) + " " + pick(es::words_noun); break;
    }
  }
  // Artists are as skewed as songs: a few have many songs.
  std::vector<double> artist_weight(n_artists);
  for (std::uint32_t a = 0; a < n_artists; ++a) artist_weight[a] = 1.0 / std::pow(a + 5.0, 0.8);
  const alias_table artist_pick(artist_weight);
  w.song_titles.resize(n_songs);
  w.song_artist.resize(n_songs);
  w.song_length.resize(n_songs);
  std::vector<double> popularity(n_songs);
  for (std::uint32_t s = 0; s < n_songs; ++s) {
    auto& title = w.song_titles[s];
    switch (rng.below(6)) {
      case 0: title = pick(es::words_adjective) + " " + pick(es::words_noun); break;
      case 1: title = pick(es::words_verb) + " " + pick(es::words_noun); break;
      case 2: title = pick(es::words_noun) + " Of The " + pick(es::words_noun); break;
      case 3: title = pick(es::words_verb); break;
      case 4: title = "The " + pick(es::words_adjective) + " " + pick(es::words_noun); break;
      default: title = pick(es::words_noun); break;
    }
    w.song_artist[s] = artist_pick(rng);
    // Lognormal lengths, median about 3:45, within 30 s .. 30 min.
    const double seconds = std::clamp(225.0 * std::exp(0.38 * rng.normal()), 30.0, 1800.0);
    w.song_length[s] = static_cast<std::uint32_t>(std::llround(seconds * 1e5));
    popularity[s] = 1.0 / std::pow(s + 12.0, 0.9);
  }
  w.songs = alias_table(popularity);
}

inline void sim_build_chain(sim_world& w) {
  namespace es = eventsim;
  for (std::size_t s = 0; s < es::state_count; ++s) {
    if (es::states[s].page == page::cancellation_confirmation)
      (es::states[s].level == level::paid ? w.cancellation_state_paid : w.cancellation_state_free) =
          static_cast<std::uint8_t>(s);
  }
  w.cumulative.assign(es::config_count * es::edge_count, 0.0);
  w.cumulative_no_cancel.assign(es::config_count * es::edge_count, 0.0);
  for (std::size_t s = 0; s < es::state_count; ++s) {
    w.cancel_edge[s] = -1;
    for (std::size_t k = es::edge_begin[s]; k < es::edge_begin[s + 1]; ++k)
      if (es::states[es::edge_target[k]].page == page::cancel) w.cancel_edge[s] = static_cast<std::int16_t>(k);
  }
  for (std::size_t c = 0; c < es::config_count; ++c) {
    for (std::size_t s = 0; s < es::state_count; ++s) {
      const std::size_t b = es::edge_begin[s], e = es::edge_begin[s + 1];
      std::vector<double> p(e - b);
      for (std::size_t k = b; k < e; ++k) {
        p[k - b] = static_cast<double>(es::edge_p[c][k]);
        const auto& target = es::states[es::edge_target[k]];
        if (target.page == page::cancel) p[k - b] *= w.settings.cancel_multiplier;
        // eventsim sends 0.1 % of Cancels to Error instead of the confirmation; the real data has none
        // (151 Cancels, 151 confirmations in mini and medium), so Cancel always confirms here.
        if (es::states[s].page == page::cancel) p[k - b] = target.page == page::cancellation_confirmation ? 1.0 : 0.0;
      }
      double total = 0;
      for (double v : p) total += v;
      const double scale = total > 1.0 ? 1.0 / total : 1.0;  // a large cancel multiplier eats the exit mass first
      double run = 0;
      for (std::size_t k = b; k < e; ++k) {
        run += p[k - b] * scale;
        w.cumulative[c * es::edge_count + k] = run;
      }
      double cancel_mass = 0;
      for (std::size_t k = b; k < e; ++k)
        if (es::states[es::edge_target[k]].page == page::cancel) cancel_mass += static_cast<double>(es::edge_p[c][k]);
      const double keep = cancel_mass < 1.0 ? 1.0 / (1.0 - cancel_mass) : 1.0;
      run = 0;
      for (std::size_t k = b; k < e; ++k) {
        if (es::states[s].page == page::cancel) {
          run = w.cumulative[c * es::edge_count + k];  // Cancel itself always confirms
        } else if (es::states[es::edge_target[k]].page != page::cancel) {
          run += static_cast<double>(es::edge_p[c][k]) * keep;
        }
        w.cumulative_no_cancel[c * es::edge_count + k] = std::min(run, 1.0);
      }
    }
  }
  for (auto& slot : w.session_start) slot.clear();
  for (const auto& ns : es::new_session) {
    const auto& st = es::states[ns.state];
    auto& slot = w.session_start[sim_world::auth_level_slot(st.auth, st.level)];
    const double before = slot.empty() ? 0.0 : slot.back().second;
    slot.emplace_back(ns.state, before + ns.weight);
  }
}

/// Experience weights per page. A song's own weight is minus the average experience per song of the
/// real mini set (../shared/data/sparkify/real-statistics.json, per 1,000 NextSong: Thumbs Up 55.02,
/// Add to Playlist 28.61, Add Friend 18.75, Thumbs Down 11.16, Roll Advert 17.24, Help 7.57, Error
/// 1.13), so a user with the usual mix of experiences keeps their satisfaction, and the population's
/// does not drift; free users, who see most adverts, drift down and paid users up.
inline void sim_build_experience(sim_world& w) {
  const auto& e = w.settings.engagement;
  auto& x = w.experience;
  x.fill(0.0);
  x[static_cast<std::size_t>(page::thumbs_up)] = e.thumbs_up;
  x[static_cast<std::size_t>(page::add_to_playlist)] = e.add_to_playlist;
  x[static_cast<std::size_t>(page::add_friend)] = e.add_friend;
  x[static_cast<std::size_t>(page::thumbs_down)] = e.thumbs_down;
  x[static_cast<std::size_t>(page::roll_advert)] = e.roll_advert;
  x[static_cast<std::size_t>(page::error)] = e.error;
  x[static_cast<std::size_t>(page::help)] = e.help;
  x[static_cast<std::size_t>(page::next_song)] =
      -(e.thumbs_up * 55.02 + e.add_to_playlist * 28.61 + e.add_friend * 18.75 + e.thumbs_down * 11.16 +
        e.roll_advert * 17.24 + e.help * 7.57 + e.error * 1.13) /
      1000.0;
  const double k = e.visit_elasticity;
  const double var = e.baseline_sd * e.baseline_sd + e.wander_sd * e.wander_sd;
  w.visit_norm = e.visit_scale * std::exp(-0.5 * k * k * var);
  // Daily AR(2): trend' = a trend + noise; s' - b = m (s - b) + trend'. Stationary variance of s - b:
  // Var(trend) (1 + a m) / ((1 - m^2)(1 - a m)); the noise is set so that it equals wander_sd^2.
  const double a = std::exp(-1.0 / e.trend_days), m = std::exp(-1.0 / e.memory_days);
  w.trend_keep = a;
  w.sat_keep = m;
  const double trend_var = e.wander_sd * e.wander_sd * (1 - m * m) * (1 - a * m) / (1 + a * m);
  w.trend_step_sd = std::sqrt(trend_var * (1 - a * a));
  const double sigma = w.settings.beta_sigma;
  w.fixed_beta_sigma =
      w.settings.mode == behaviour::engagement ? std::sqrt(std::max(0.0, sigma * sigma - k * k * var)) : sigma;
  w.fixed_beta_factor = std::exp(w.fixed_beta_sigma * w.fixed_beta_sigma - sigma * sigma);
}

inline void sim_build_world(sim_world& w) {
  namespace es = eventsim;
  sim_build_chain(w);
  sim_build_experience(w);
  w.mix = alias_table(w.settings.config_mix);
  w.metros = alias_table(sim_weights(es::metros));
  w.agents = alias_table(sim_weights(es::user_agents));
  w.male_names = alias_table(sim_weights(es::first_names_male));
  w.female_names = alias_table(sim_weights(es::first_names_female));
  w.last_names = alias_table(sim_weights(es::last_names));
  w.metro_text = sim_texts(es::metros);
  w.agent_text = sim_texts(es::user_agents);
  w.male_text = sim_texts(es::first_names_male);
  w.female_text = sim_texts(es::first_names_female);
  w.last_text = sim_texts(es::last_names);
  sim_build_catalogue(w);
}

/// One simulated user: fixed identity, per-user timing, and the pending (next) event.
struct sim_user {
  sim_rng rng;
  double alpha = 90.0;     ///< mean in-session gap, seconds
  double beta = 604800.0;  ///< mean session gap, seconds
  std::int64_t registration_ms = 0;
  std::int64_t next_ts = 0;   ///< seconds: time of the pending event
  std::int64_t song_end = 0;  ///< seconds: when the current song ends
  std::uint32_t item = 0;     ///< itemInSession of the pending event
  std::uint32_t seq = 0;      ///< events emitted so far
  std::uint32_t song = 0;     ///< catalogue index when the pending event is a NextSong
  std::uint16_t metro = 0, first_name = 0, last_name = 0;
  std::uint8_t agent = 0, config = 0, state = 0;
  bool female = false;
  bool done = false;  ///< cancelled, or nothing more before the end of the run
  // Engagement (unused by the eventsim behaviour).
  bool intent = false;       ///< decided to cancel: takes the next Cancel edge
  double sat = 0.0;          ///< satisfaction
  double sat_base = 0.0;     ///< the user's long-run satisfaction
  double trend = 0.0;        ///< the satisfaction's daily drift
  std::int64_t sat_day = 0;  ///< the day (from the window's start) `sat` stands at
};

/// A generated event before formatting; session ids are given in time order afterwards.
struct sim_raw_event {
  std::int64_t ts;  ///< seconds
  std::uint64_t session_id;
  std::uint32_t user;
  std::uint32_t seq;
  std::uint32_t item;
  std::uint32_t song;
  std::uint8_t state;
};

/// eventsim's activity shape: a daily cycle (fewest sessions around 04:00 UTC, most around 16:00) of
/// amplitude `damping`, and a weekend dip of depth `weekend_damping` from Saturday to Monday, reached
/// and left over `weekend_damping_scale` minutes, `weekend_damping_offset` minutes past midnight.
/// Returns the acceptance probability of a session start at t (seconds since the epoch, UTC).
inline double sim_activity(std::int64_t t, const eventsim::config_info& c) noexcept {
  const std::int64_t day = floor_div(t, seconds_per_day);
  const double sec = static_cast<double>(t - day * seconds_per_day);
  const double hour = sec / 3600.0;
  double f = 1.0 - c.damping * (1.0 + std::cos(6.283185307179586 * (hour - 4.0) / 24.0));
  const int dow = static_cast<int>(((day + 4) % 7 + 7) % 7);  // 0 Sunday .. 6 Saturday
  double minutes = -1e9;                                      // since Saturday 00:00
  if (dow == 6) minutes = sec / 60.0;
  if (dow == 0) minutes = 1440.0 + sec / 60.0;
  if (dow == 1) minutes = 2880.0 + sec / 60.0;
  const double in = std::clamp((minutes - c.weekend_damping_offset) / c.weekend_damping_scale, 0.0, 1.0);
  const double out = std::clamp((2880.0 + c.weekend_damping_offset - minutes) / c.weekend_damping_scale, 0.0, 1.0);
  return f * (1.0 - c.weekend_damping * std::min(in, out));
}

class sim_engine {
 public:
  explicit sim_engine(const sim_settings& settings) {
    world_.settings = settings;
    sim_build_world(world_);
    make_users();
  }

  const sim_world& world() const noexcept { return world_; }
  const std::vector<sim_user>& users() const noexcept { return users_; }
  std::uint64_t initial_users() const noexcept { return world_.settings.users; }

  /// Number of time slices; slice k covers [start + k s, start + (k + 1) s), s = slice_seconds; the
  /// last one also takes the confirmations of Cancels made just before the end.
  std::size_t slice_count() const noexcept {
    const auto& s = world_.settings;
    return static_cast<std::size_t>((s.end_s - s.start_s + slice_seconds - 1) / slice_seconds);
  }

  /// Generates slice k (slices must be taken in order) into `out`, sorted by (ts, user, seq), with
  /// session ids assigned. Parallel over fixed blocks of users; the result does not depend on threads.
  void generate_slice(std::size_t k, std::vector<sim_raw_event>& out) {
    const auto& s = world_.settings;
    const bool last = k + 1 >= slice_count();
    const std::int64_t until =
        last ? std::numeric_limits<std::int64_t>::max() : s.start_s + static_cast<std::int64_t>(k + 1) * slice_seconds;
    const std::size_t blocks = (users_.size() + block_users - 1) / block_users;
    block_out_.resize(blocks);
    parallel_for(blocks, static_cast<int>(s.threads), [&](std::size_t b, std::size_t /*worker*/) {
      // Fill a local vector: neighbouring vector headers in block_out_ share cache lines, and updating
      // them on every push_back from two threads (false sharing) made two threads slower than one.
      std::vector<sim_raw_event> buf;
      buf.swap(block_out_[b]);
      buf.clear();
      const std::size_t end = std::min(users_.size(), (b + 1) * block_users);
      for (std::size_t u = b * block_users; u < end; ++u) advance(static_cast<std::uint32_t>(u), until, buf);
      block_out_[b].swap(buf);
    });
    out.clear();
    for (const auto& buf : block_out_) out.insert(out.end(), buf.begin(), buf.end());
    std::sort(out.begin(), out.end(), [](const sim_raw_event& a, const sim_raw_event& b) {
      if (a.ts != b.ts) return a.ts < b.ts;
      if (a.user != b.user) return a.user < b.user;
      return a.seq < b.seq;
    });
    // eventsim's sessionId is one counter over the run, taken when a session starts.
    for (auto& e : out) {
      if (e.item == 0) session_of_[e.user] = ++sessions_;
      e.session_id = session_of_[e.user];
    }
  }

  std::uint64_t sessions() const noexcept { return sessions_; }

  /// What the oracle knows of one user at a cutoff.
  struct oracle_answer {
    bool seen = false;          ///< a logged-in event before the cutoff (the user is in a feature table)
    bool cancelled = false;     ///< cancelled before the cutoff (left out of window labels)
    double probability = 0.0;   ///< share of draws with a Cancellation Confirmation in [cutoff, end)
    double satisfaction = 0.0;  ///< hidden satisfaction at the user's last event before the cutoff
  };

  /// The ceiling for user `index` (its initial state, before any slice was generated): replays the
  /// user's own stream up to `cutoff` (seconds), keeps the exact state after the last event before it,
  /// and re-simulates the future `draws` times with fresh streams derived from (oracle_seed, draw, user).
  /// A draw whose next event falls before the cutoff contradicts what the log shows (nothing happened
  /// between that event and the cutoff) and is redrawn, which conditions every draw on the log.
  oracle_answer oracle(std::uint32_t index, std::int64_t cutoff, std::int64_t until, std::uint32_t draws,
                       std::uint64_t oracle_seed) const {
    namespace es = eventsim;
    oracle_answer a;
    sim_user u = users_[index];
    sim_user snap;
    bool any = false;
    while (!u.done && u.next_ts < cutoff) {
      const auto& st = es::states[u.state];
      if (st.auth == auth::logged_in || st.auth == auth::cancelled) a.seen = true;
      if (st.page == page::cancellation_confirmation) a.cancelled = true;
      snap = u;
      any = true;
      step(u);
    }
    if (!any || a.cancelled) return a;
    a.satisfaction = snap.sat;
    std::uint32_t hits = 0;
    for (std::uint32_t d = 0; d < draws; ++d) {
      sim_rng rng(oracle_seed ^ (0x9E3779B97F4A7C15ULL * (static_cast<std::uint64_t>(d) + 1)), index);
      sim_user w;
      for (int attempt = 0;; ++attempt) {
        w = snap;
        w.rng = rng;
        step(w);
        rng = w.rng;
        if (w.done || w.next_ts >= cutoff || attempt >= 10000) break;
      }
      while (!w.done && w.next_ts < until) {
        if (es::states[w.state].page == page::cancellation_confirmation) {
          ++hits;
          break;
        }
        step(w);
      }
    }
    a.probability = draws == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(draws);
    return a;
  }

  static constexpr std::int64_t slice_seconds = 6 * 3600;  // output does not depend on it: a speed knob
  static constexpr std::size_t block_users = 64;
  static constexpr double visit_cap = 5.0;  // highest visit factor of the satisfaction (thinning bound)
  static constexpr double cancel_visit_delay =
      static_cast<double>(seconds_per_day);  // mean wait from a decision to cancel to the visit

 private:
  void make_users() {
    const auto& s = world_.settings;
    // New users arrive as a Poisson process (thinned by Accordion's activity cycle) from their own stream.
    std::vector<std::int64_t> arrivals;
    if (s.new_users_per_day > 0) {
      sim_rng arrivals_rng(s.seed, 0xA441'7A15'0000'0000ULL);
      const double mean_gap = static_cast<double>(seconds_per_day) / s.new_users_per_day;
      double t = static_cast<double>(s.start_s);
      for (;;) {
        t += arrivals_rng.exponential(mean_gap);
        if (t >= static_cast<double>(s.end_s)) break;
        if (arrivals_rng.uniform() < sim_activity(static_cast<std::int64_t>(t), eventsim::configs[0]))
          arrivals.push_back(static_cast<std::int64_t>(t));
      }
    }
    users_.resize(s.users + arrivals.size());
    session_of_.assign(users_.size(), 0);
    const std::size_t blocks = (users_.size() + block_users - 1) / block_users;
    parallel_for(blocks, static_cast<int>(s.threads), [&](std::size_t b, std::size_t /*worker*/) {
      const std::size_t end = std::min(users_.size(), (b + 1) * block_users);
      for (std::size_t u = b * block_users; u < end; ++u)
        init_user(u, u < s.users ? std::int64_t{-1} : arrivals[u - s.users]);
    });
  }

  void init_user(std::size_t index, std::int64_t arrival) {
    const auto& s = world_.settings;
    auto& u = users_[index];
    u.rng = sim_rng(s.seed, index);
    u.config = static_cast<std::uint8_t>(world_.mix(u.rng));
    u.female = u.rng.uniform() < 0.5;
    u.first_name = static_cast<std::uint16_t>(u.female ? world_.female_names(u.rng) : world_.male_names(u.rng));
    u.last_name = static_cast<std::uint16_t>(world_.last_names(u.rng));
    u.metro = static_cast<std::uint16_t>(world_.metros(u.rng));
    u.agent = static_cast<std::uint8_t>(world_.agents(u.rng));
    const auto& c = eventsim::configs[u.config];
    u.alpha = c.alpha * u.rng.lognormal_mean1(s.alpha_sigma);
    u.beta = c.beta * s.beta_scale * u.rng.lognormal_mean1(world_.fixed_beta_sigma) * world_.fixed_beta_factor;
    if (s.mode == behaviour::engagement) init_satisfaction(u, arrival < 0 ? s.start_s : arrival);
    if (arrival < 0) {
      const double back =
          std::min(u.rng.exponential(s.registration_mean_days * seconds_per_day), 5 * 365.0 * seconds_per_day);
      u.registration_ms = (s.start_s - static_cast<std::int64_t>(back)) * 1000;
      namespace es = eventsim;
      const bool logged_in =
          u.rng.below(es::initial_logged_in_weight + es::initial_logged_out_weight) < es::initial_logged_in_weight;
      const bool paid = u.rng.below(es::initial_free_weight + es::initial_paid_weight) < es::initial_paid_weight;
      start_session(u, next_session_start(u, s.start_s), logged_in ? auth::logged_in : auth::logged_out,
                    paid ? level::paid : level::free);
    } else {
      u.registration_ms = arrival * 1000;
      start_session(u, arrival, auth::guest, level::free);
    }
  }

  /// Thinning of a Poisson process of rate 1/beta by the activity shape: the next session start after t.
  /// Engagement: the rate is also scaled by the visit factor of the satisfaction, which wanders
  /// between the candidate times (thinning from visit_cap times the rate).
  std::int64_t next_session_start(sim_user& u, std::int64_t t) const {
    const auto& c = eventsim::configs[u.config];
    double x = static_cast<double>(t);
    if (world_.settings.mode == behaviour::engagement) {
      const auto& e = world_.settings.engagement;
      for (;;) {
        x += u.rng.exponential(u.beta / visit_cap);
        if (x >= static_cast<double>(world_.settings.end_s)) return world_.settings.end_s;
        const auto at = static_cast<std::int64_t>(x);
        const std::int64_t decided = wander(u, at);
        if (decided >= 0) {
          // Decided to cancel on that day: comes to do it within about a day (at a time of day when
          // users come), whatever their usual rhythm.
          double y = static_cast<double>(std::max(decided, t));
          for (;;) {
            y += u.rng.exponential(cancel_visit_delay);
            if (y >= static_cast<double>(world_.settings.end_s)) return world_.settings.end_s;
            if (u.rng.uniform() < sim_activity(static_cast<std::int64_t>(y), c)) return static_cast<std::int64_t>(y);
          }
        }
        const double factor = std::min(visit_cap, world_.visit_norm * std::exp(e.visit_elasticity * u.sat));
        if (u.rng.uniform() * visit_cap < sim_activity(at, c) * factor) return at;
      }
    }
    for (;;) {
      x += u.rng.exponential(u.beta);
      if (x >= static_cast<double>(world_.settings.end_s)) return world_.settings.end_s;
      if (u.rng.uniform() < sim_activity(static_cast<std::int64_t>(x), c)) return static_cast<std::int64_t>(x);
    }
  }

  /// Moves the satisfaction forward, one day at a time, to the day of time t (days counted from the
  /// window's start, so the path does not depend on when it is looked at): a trend that persists
  /// about trend_days and drifts the satisfaction, which returns to the user's baseline over
  /// memory_days (a daily AR(2) process; the wander's stationary spread is wander_sd).
  /// Each day also decides, from that day's satisfaction, whether the user makes up their mind to
  /// cancel (probability cancel_per_day * exp(-cancel_elasticity * s), at most 0.9; registered users
  /// only). Returns the start (seconds) of the day the user decided, or -1.
  std::int64_t wander(sim_user& u, std::int64_t t) const {
    const auto& s = world_.settings;
    const std::int64_t rel = t - s.start_s;
    const std::int64_t day = floor_div(rel, seconds_per_day);
    std::int64_t decided = -1;
    while (u.sat_day < day) {
      u.trend = world_.trend_keep * u.trend + world_.trend_step_sd * u.rng.normal();
      u.sat = u.sat_base + world_.sat_keep * (u.sat - u.sat_base) + u.trend;
      ++u.sat_day;
      if (!u.intent && eventsim::states[u.state].auth != auth::guest) {
        const double p = std::min(
            0.9, s.engagement.cancel_per_day * s.cancel_multiplier * std::exp(-s.engagement.cancel_elasticity * u.sat));
        if (u.rng.uniform() < p) {
          u.intent = true;
          decided = s.start_s + u.sat_day * seconds_per_day;
        }
      }
    }
    return decided;
  }

  /// Draws a user's satisfaction at day `day` from the stationary distribution of the wander.
  void init_satisfaction(sim_user& u, std::int64_t t) const {
    const auto& e = world_.settings.engagement;
    const std::int64_t rel = t - world_.settings.start_s;
    u.sat_day = floor_div(rel, seconds_per_day);
    u.sat_base = e.baseline_sd * u.rng.normal();
    const double trend_var =
        world_.trend_step_sd * world_.trend_step_sd / (1.0 - world_.trend_keep * world_.trend_keep);
    const double c = 1.0 / (1.0 - world_.sat_keep * world_.trend_keep);  // Cov(s, trend) / Var(trend)
    u.trend = std::sqrt(trend_var) * u.rng.normal();
    const double rest = std::max(0.0, e.wander_sd * e.wander_sd - c * c * trend_var);
    u.sat = u.sat_base + c * u.trend + std::sqrt(rest) * u.rng.normal();
  }

  void start_session(sim_user& u, std::int64_t t, auth a, level l) const {
    if (t >= world_.settings.end_s) {
      u.done = true;
      return;
    }
    const auto& slot = world_.session_start[sim_world::auth_level_slot(a, l)];
    const double x = u.rng.uniform() * slot.back().second;
    std::uint8_t state = slot.back().first;
    for (const auto& [st, cum] : slot)
      if (x < cum) {
        state = st;
        break;
      }
    u.state = state;
    u.item = 0;
    u.next_ts = t;
    u.song_end = t;
    if (eventsim::states[state].page == page::next_song) pick_song(u, t);
  }

  void pick_song(sim_user& u, std::int64_t t) const {
    u.song = world_.songs(u.rng);
    u.song_end = t + static_cast<std::int64_t>(world_.song_length[u.song] / 100000);
  }

  /// Draws the pending event's successor (eventsim: one uniform draw; past the listed mass, the
  /// session ends).
  void step(sim_user& u) const {
    namespace es = eventsim;
    const auto& current = es::states[u.state];
    if (current.page == page::cancellation_confirmation) {
      u.done = true;
      return;
    }
    int next = -1;
    const bool engaged = world_.settings.mode == behaviour::engagement;
    if (engaged && u.intent && world_.cancel_edge[u.state] >= 0) {
      next = es::edge_target[static_cast<std::size_t>(world_.cancel_edge[u.state])];
    } else {
      const double x = u.rng.uniform();
      const double* cum = (engaged ? world_.cumulative_no_cancel : world_.cumulative).data() +
                          static_cast<std::size_t>(u.config) * es::edge_count;
      for (std::size_t k = es::edge_begin[u.state]; k < es::edge_begin[u.state + 1]; ++k)
        if (x < cum[k]) {
          next = es::edge_target[k];
          break;
        }
    }
    if (next < 0) {
      const auto gap = static_cast<std::int64_t>(es::configs[u.config].session_gap);
      start_session(u, next_session_start(u, u.next_ts + gap), current.auth, current.level);
      return;
    }
    const auto& target = es::states[static_cast<std::size_t>(next)];
    std::int64_t t = u.next_ts;
    if (target.status >= 300 && target.status < 400)
      t += 1;
    else if (target.page == page::next_song && u.song_end > t)
      t = u.song_end;
    else
      t += static_cast<std::int64_t>(u.rng.exponential(u.alpha));
    if (t >= world_.settings.end_s && target.page != page::cancellation_confirmation) {
      u.done = true;
      return;
    }
    if (target.page == page::next_song) pick_song(u, t);
    if (engaged) u.sat += world_.experience[static_cast<std::size_t>(target.page)];
    u.state = static_cast<std::uint8_t>(next);
    u.item += 1;
    u.next_ts = t;
  }

  void advance(std::uint32_t index, std::int64_t until, std::vector<sim_raw_event>& out) {
    auto& u = users_[index];
    while (!u.done && u.next_ts < until) {
      out.push_back({u.next_ts, 0, index, u.seq++, u.item, u.song, u.state});
      step(u);
    }
  }

  sim_world world_;
  std::vector<sim_user> users_;
  std::vector<std::uint64_t> session_of_;
  std::uint64_t sessions_ = 0;
  std::vector<std::vector<sim_raw_event>> block_out_;
};

}  // namespace detail
}  // namespace churn
