// The event simulator for Python: simulate_file (writes a log), simulate_counts (tallies without
// writing) and the config names. The GIL is released while simulating and taken back only for the
// progress callback, which also lets Ctrl+C stop a long run.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <churn/simulate.hpp>

#include "common.hpp"

namespace py = pybind11;

namespace {

churn::simulate_options make_options(std::int64_t users, std::int64_t days, std::uint64_t seed,
                                     const std::string& start, unsigned threads,
                                     const std::optional<std::vector<double>>& config_mix, double cancel_multiplier,
                                     double new_users_per_day, int gzip_level, double beta_sigma, double beta_scale,
                                     const py::object& progress, const std::string& behaviour,
                                     const std::optional<churn::engagement_params>& engagement) {
  // Signed here so that a negative count is a ParameterError naming it, not a pybind11 TypeError.
  if (users < 0) throw churn::parameter_error("users", std::to_string(users), "0 .. 50,000,000");
  if (days < 1 || days > 3660) throw churn::parameter_error("days", std::to_string(days), "1 .. 3660");
  churn::simulate_options o;
  o.users = static_cast<std::uint64_t>(users);
  o.days = static_cast<std::uint32_t>(days);
  o.seed = seed;
  o.start_ms = churn::parse_start_date(start);
  o.threads = threads;
  if (config_mix) o.config_mix = *config_mix;
  o.cancel_multiplier = cancel_multiplier;
  o.new_users_per_day = new_users_per_day;
  o.gzip_level = gzip_level;
  o.beta_sigma = beta_sigma;
  o.beta_scale = beta_scale;
  o.behaviour = churn::parse_behaviour(behaviour);
  if (engagement) o.engagement = *engagement;
  o.validate();
  // Called on this (the calling) thread between time slices, with the GIL released.
  o.progress = [progress](const churn::simulate_progress& p) {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (!progress.is_none()) progress(p.events, p.fraction);
  };
  return o;
}

/// SimulationSummary.to_dict(): the summary's fields as a dict, the one builder.
py::dict summary_to_dict(const churn::simulate_summary& s) {
  py::dict d;
  d["events"] = s.events;
  d["sessions"] = s.sessions;
  d["users"] = s.users;
  d["churned"] = s.churned;
  d["anonymous_events"] = s.anonymous_events;
  d["registrations"] = s.registrations;
  d["text_bytes"] = s.text_bytes;
  d["bytes"] = s.bytes;
  d["first_ts"] = s.first_ts;
  d["last_ts"] = s.last_ts;
  return d;
}

}  // namespace

void bind_simulate(py::module_& m) {
  py::class_<churn::engagement_params>(m, "EngagementParams",
                                       "Parameters of the engagement behaviour (docs/data.md); the defaults "
                                       "are the frozen calibration.")
      .def(py::init<>())
      .def_readwrite("baseline_sd", &churn::engagement_params::baseline_sd)
      .def_readwrite("wander_sd", &churn::engagement_params::wander_sd)
      .def_readwrite("memory_days", &churn::engagement_params::memory_days)
      .def_readwrite("trend_days", &churn::engagement_params::trend_days)
      .def_readwrite("thumbs_up", &churn::engagement_params::thumbs_up)
      .def_readwrite("add_to_playlist", &churn::engagement_params::add_to_playlist)
      .def_readwrite("add_friend", &churn::engagement_params::add_friend)
      .def_readwrite("thumbs_down", &churn::engagement_params::thumbs_down)
      .def_readwrite("roll_advert", &churn::engagement_params::roll_advert)
      .def_readwrite("error", &churn::engagement_params::error)
      .def_readwrite("help", &churn::engagement_params::help)
      .def_readwrite("visit_elasticity", &churn::engagement_params::visit_elasticity)
      .def_readwrite("visit_scale", &churn::engagement_params::visit_scale)
      .def_readwrite("cancel_per_day", &churn::engagement_params::cancel_per_day)
      .def_readwrite("cancel_elasticity", &churn::engagement_params::cancel_elasticity)
      .def("validate", &churn::engagement_params::validate, "Raises ParameterError naming the first invalid field.")
      .def("__repr__", [](const churn::engagement_params& e) {
        return "EngagementParams(baseline_sd=" + std::to_string(e.baseline_sd) +
               ", wander_sd=" + std::to_string(e.wander_sd) + ", memory_days=" + std::to_string(e.memory_days) +
               ", ...)";
      });

  using S = churn::simulate_summary;
  py::class_<S, std::shared_ptr<S>>(m, "_SimulationSummary",
                                    "What a simulation wrote (churn::simulate_summary), read-only. "
                                    "churn.SimulationSummary derives from it.")
      .def(py::init([](std::shared_ptr<S> other) { return other; }), py::arg("summary"),
           "The same summary (shared, not copied).")
      .def_readonly("events", &S::events)
      .def_readonly("users", &S::users, "distinct non-empty userIds in the log")
      .def_readonly("churned", &S::churned, "users with a Cancellation Confirmation")
      .def_readonly("sessions", &S::sessions,
                    "sessions of logged-in users: distinct userId + sessionId, as churn.scan counts them")
      .def_readonly("anonymous_events", &S::anonymous_events, "rows with an empty userId (Guest, Logged Out)")
      .def_readonly("registrations", &S::registrations, "Submit Registration events")
      .def_readonly("bytes", &S::bytes, "bytes written (compressed size for .gz)")
      .def_readonly("text_bytes", &S::text_bytes, "bytes of JSON-lines text")
      .def_readonly("first_ts", &S::first_ts, "epoch ms")
      .def_readonly("last_ts", &S::last_ts, "epoch ms")
      .def("to_dict", &summary_to_dict, "The summary as a dict.")
      .def(py::pickle(
          [](const S& s) {  // version 1
            return py::make_tuple(1, s.events, s.sessions, s.users, s.churned, s.anonymous_events, s.registrations,
                                  s.text_bytes, s.bytes, s.first_ts, s.last_ts);
          },
          [](const py::tuple& t) {
            if (t.size() != 11 || t[0].cast<int>() != 1)
              throw churn::data_error(
                  "SimulationSummary: pickled state of another version (expected 11 fields, version 1)");
            auto s = std::make_shared<S>();
            std::uint64_t* counts[] = {&s->events,           &s->sessions,      &s->users,      &s->churned,
                                       &s->anonymous_events, &s->registrations, &s->text_bytes, &s->bytes};
            for (std::size_t i = 0; i < 8; ++i) *counts[i] = t[i + 1].cast<std::uint64_t>();
            s->first_ts = t[9].cast<std::int64_t>();
            s->last_ts = t[10].cast<std::int64_t>();
            return s;
          }));

  m.def(
      "simulate_config_names",
      [] {
        std::vector<std::string> names;
        for (auto n : churn::simulate_config_names()) names.emplace_back(n);
        return names;
      },
      "Names of eventsim's 26 configs, in the order of config_mix (Accordion first).");
  m.def(
      "default_config_mix",
      [] {
        const auto mix = churn::default_config_mix();
        return std::vector<double>(mix.begin(), mix.end());
      },
      "The calibrated config weights used when config_mix is None.");

  m.def(
      "_simulate_file",
      [](const std::string& path, std::int64_t users, std::int64_t days, std::uint64_t seed, const std::string& start,
         unsigned threads, const std::optional<std::vector<double>>& config_mix, double cancel_multiplier,
         double new_users_per_day, int gzip_level, double beta_sigma, double beta_scale, const py::object& progress,
         const std::string& behaviour, const std::optional<churn::engagement_params>& engagement) {
        auto o = make_options(users, days, seed, start, threads, config_mix, cancel_multiplier, new_users_per_day,
                              gzip_level, beta_sigma, beta_scale, progress, behaviour, engagement);
        auto s = std::make_shared<S>();
        {
          py::gil_scoped_release release;
          *s = churn::write_jsonl_file(o, path);
        }
        return s;
      },
      py::arg("path"), py::arg("users") = 225, py::arg("days") = 60, py::arg("seed") = 0,
      py::arg("start") = "2018-10-01", py::arg("threads") = 0, py::arg("config_mix") = py::none(),
      py::arg("cancel_multiplier") = 1.0, py::arg("new_users_per_day") = -1.0, py::arg("gzip_level") = 6,
      py::arg("beta_sigma") = 1.15, py::arg("beta_scale") = 1.0, py::arg("progress") = py::none(),
      py::arg("behaviour") = "engagement", py::arg("engagement") = py::none(),
      "Writes a simulated event log (gzip if path ends in .gz); returns its _SimulationSummary. "
      "progress(events, fraction) is called every 6 simulated hours.");

  m.def(
      "_simulate_counts",
      [](std::int64_t users, std::int64_t days, std::uint64_t seed, const std::string& start, unsigned threads,
         const std::optional<std::vector<double>>& config_mix, double cancel_multiplier, double new_users_per_day,
         double beta_sigma, double beta_scale, const std::string& behaviour,
         const std::optional<churn::engagement_params>& engagement) {
        auto o = make_options(users, days, seed, start, threads, config_mix, cancel_multiplier, new_users_per_day, 6,
                              beta_sigma, beta_scale, py::none(), behaviour, engagement);
        std::map<std::string, std::uint64_t> pages;
        std::uint64_t paid_songs = 0;
        churn::simulate_summary s;
        {
          py::gil_scoped_release release;
          std::vector<std::uint64_t> by_page(churn::known_page_count + 1, 0);
          s = churn::simulate(o, [&](const churn::event& e) {
            ++by_page[static_cast<std::size_t>(e.page)];
            if (e.page == churn::page::next_song && e.level == churn::level::paid) ++paid_songs;
          });
          for (std::size_t i = 0; i < churn::known_page_count; ++i)
            if (by_page[i] != 0) pages[std::string(churn::page_names[i])] = by_page[i];
        }
        py::dict d = summary_to_dict(s);
        d["pages"] = pages;
        d["paid_songs"] = paid_songs;
        return d;
      },
      py::arg("users") = 225, py::arg("days") = 60, py::arg("seed") = 0, py::arg("start") = "2018-10-01",
      py::arg("threads") = 0, py::arg("config_mix") = py::none(), py::arg("cancel_multiplier") = 1.0,
      py::arg("new_users_per_day") = -1.0, py::arg("beta_sigma") = 1.15, py::arg("beta_scale") = 1.0,
      py::arg("behaviour") = "engagement", py::arg("engagement") = py::none(),
      "Simulates without writing and returns the summary plus page counts and paid NextSong count.");

  m.def(
      "_simulate_oracle",
      [](std::int64_t users, std::int64_t days, std::uint64_t seed, const std::string& start, unsigned threads,
         const std::optional<std::vector<double>>& config_mix, double cancel_multiplier, double new_users_per_day,
         double beta_sigma, double beta_scale, const std::string& behaviour,
         const std::optional<churn::engagement_params>& engagement, std::optional<std::int64_t> cutoff_ms,
         double horizon_days, std::int64_t draws, std::uint64_t oracle_seed) {
        auto o = make_options(users, days, seed, start, threads, config_mix, cancel_multiplier, new_users_per_day, 6,
                              beta_sigma, beta_scale, py::none(), behaviour, engagement);
        o.progress = nullptr;
        if (draws < 1 || draws > 1'000'000)
          throw churn::parameter_error("draws", std::to_string(draws), "1 .. 1,000,000");
        churn::oracle_options q;
        q.cutoff_ms = cutoff_ms ? *cutoff_ms : churn::missing_int;
        q.horizon_days = horizon_days;
        q.draws = static_cast<std::uint32_t>(draws);
        q.seed = oracle_seed;
        churn::oracle_result r;
        {
          py::gil_scoped_release release;
          r = churn::simulate_oracle(o, q);
        }
        py::dict d;
        d["cutoff_ms"] = r.cutoff_ms;
        d["horizon_days"] = r.horizon_days;
        d["draws"] = r.draws;
        d["user_id"] = py::array_t<std::uint64_t>(static_cast<py::ssize_t>(r.user_id.size()), r.user_id.data());
        d["probability"] = py::array_t<double>(static_cast<py::ssize_t>(r.probability.size()), r.probability.data());
        d["satisfaction"] = py::array_t<double>(static_cast<py::ssize_t>(r.satisfaction.size()), r.satisfaction.data());
        return d;
      },
      py::arg("users"), py::arg("days"), py::arg("seed"), py::arg("start"), py::arg("threads"), py::arg("config_mix"),
      py::arg("cancel_multiplier"), py::arg("new_users_per_day"), py::arg("beta_sigma"), py::arg("beta_scale"),
      py::arg("behaviour"), py::arg("engagement"), py::arg("cutoff_ms"), py::arg("horizon_days"), py::arg("draws"),
      py::arg("oracle_seed"),
      "The ceiling: P(cancel within the horizon | hidden state at the cutoff) per user, from `draws` "
      "re-simulated futures (see churn.simulation.oracle).");
}
