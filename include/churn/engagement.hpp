#pragma once
// The simulator's behaviour models: eventsim's (a cancel is a fixed-probability step out of a page) and
// engagement (a hidden satisfaction per user sets how often they come and how likely a visit ends in a
// cancellation). Parameters and their meaning; the mechanism is in detail/sim_engine.hpp and
// docs/data.md ("Behaviour: engagement").
#include <cmath>
#include <string>
#include <string_view>

#include <churn/error.hpp>

namespace churn {

/// How simulated users decide to come back and to cancel.
enum class behaviour {
  engagement,  ///< hidden satisfaction drives visit frequency and cancellation (the default)
  eventsim,    ///< eventsim's chain as it is: the Sparkify generator, cancel risk per page step
};

inline std::string_view to_string(behaviour b) noexcept { return b == behaviour::eventsim ? "eventsim" : "engagement"; }

/// Parses "engagement" or "eventsim"; throws parameter_error otherwise.
inline behaviour parse_behaviour(std::string_view text) {
  if (text == "engagement") return behaviour::engagement;
  if (text == "eventsim") return behaviour::eventsim;
  throw parameter_error("behaviour", "'" + std::string(text) + "'", "'engagement' or 'eventsim'");
}

/// Parameters of the engagement behaviour. Satisfaction s is a number per user, 0 for the average
/// user; a user's session rate is eventsim's times visit_scale * exp(visit_elasticity * s) (normalised
/// to mean 1 over users), and on each day a registered user decides to cancel with probability
/// cancel_per_day * exp(-cancel_elasticity * s) (at most 0.9); they then come within about a day,
/// whatever their usual rhythm, and cancel at the first page from which eventsim's chain leads to
/// Cancel (Settings, Downgrade, Roll Advert, Thumbs Down): that visit ends in a cancellation.
/// Day by day s follows a trend that persists about trend_days and returns towards the user's own
/// baseline over memory_days (an AR(2) process: disengagement builds over days to weeks, and most
/// users recover); every page adds its experience weight, and every
/// song subtracts the average experience of a song in the real mini set (adverts excluded), so that only
/// a worse or better than usual experience moves s. The values are frozen (docs/data.md says how they
/// were set; a test pins them): change them for experiments, not to make a model look good.
struct engagement_params {
  double baseline_sd = 0.4;   ///< spread of users' long-run satisfaction
  double wander_sd = 0.7;     ///< stationary spread of the wander around the baseline
  double memory_days = 30.0;  ///< time constant of the return to the baseline, days
  double trend_days = 14.0;   ///< how long a trend (a drift up or down) persists, days
  double thumbs_up = 0.015;   ///< experience weight of each page (added to s)
  double add_to_playlist = 0.015;
  double add_friend = 0.02;
  double thumbs_down = -0.1;
  double roll_advert = -0.02;  ///< free users see most adverts: they drift down, paid users up
  double error = -0.08;
  double help = -0.02;
  double visit_elasticity = 1.5;   ///< session rate factor exp(visit_elasticity * s), normalised
  double visit_scale = 0.65;       ///< scales every user's session rate (fitted to events per user)
  double cancel_per_day = 0.0014;  ///< probability that an average user decides to cancel on a given day
  double cancel_elasticity = 3.5;

  /// Throws parameter_error naming the first invalid field.
  void validate() const {
    auto check = [](const char* name, double v, double lo, double hi) {
      if (!(v >= lo && v <= hi))
        throw parameter_error(std::string("engagement.") + name, std::to_string(v),
                              std::to_string(lo) + " .. " + std::to_string(hi));
    };
    check("baseline_sd", baseline_sd, 0, 3);
    check("wander_sd", wander_sd, 0, 3);
    check("memory_days", memory_days, 0.1, 3650);
    check("trend_days", trend_days, 0.1, 3650);
    check("thumbs_up", thumbs_up, -1, 1);
    check("add_to_playlist", add_to_playlist, -1, 1);
    check("add_friend", add_friend, -1, 1);
    check("thumbs_down", thumbs_down, -1, 1);
    check("roll_advert", roll_advert, -1, 1);
    check("error", error, -1, 1);
    check("help", help, -1, 1);
    check("visit_elasticity", visit_elasticity, 0, 3);
    check("visit_scale", visit_scale, 0.01, 100);
    check("cancel_per_day", cancel_per_day, 0, 0.9);
    check("cancel_elasticity", cancel_elasticity, 0, 5);
  }
};

}  // namespace churn
