// Per-user features for Python: the mergeable accumulator (picklable through its bytes) and a one-call
// path from files to a feature table. Conversion only; the algorithms live in churn/features.hpp.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <churn/features.hpp>
#include <churn/reader.hpp>

#include "common.hpp"

namespace py = pybind11;
using churn_py::to_numpy;

namespace {


py::object ts_or_none(std::int64_t ts) {
  return ts == churn::missing_int ? py::object(py::none()) : py::object(py::int_(ts));
}

/// Moves the matrix into a numpy array (Fortran order, as Eigen stores it) without copying.
py::array_t<double> matrix_to_numpy(Eigen::MatrixXd&& m) {
  auto* heap = new Eigen::MatrixXd(std::move(m));
  py::capsule owner(heap, [](void* p) { delete static_cast<Eigen::MatrixXd*>(p); });
  const auto rows = static_cast<py::ssize_t>(heap->rows());
  const auto cols = static_cast<py::ssize_t>(heap->cols());
  const auto s = static_cast<py::ssize_t>(sizeof(double));
  return py::array_t<double>({rows, cols}, {s, s * std::max<py::ssize_t>(rows, 1)}, heap->data(), owner);
}

py::dict table_to_dict(churn::feature_table&& t) {
  py::dict d;
  std::vector<std::int32_t> y(t.labels.data(), t.labels.data() + t.labels.size());
  d["X"] = matrix_to_numpy(std::move(t.X));
  d["y"] = to_numpy(y);
  d["user_ids"] = py::cast(t.user_ids);
  d["cutoffs"] = t.options.mode == churn::label_mode::window ? py::object(churn_py::move_to_numpy(std::move(t.cutoffs)))
                                                             : py::object(py::none());
  py::list features;
  for (const auto& f : t.features) {
    py::dict fd;
    fd["name"] = f.name;
    fd["description"] = f.description;
    fd["unit"] = f.unit;
    fd["kind"] = f.kind == churn::feature_kind::numeric ? "numeric" : "categorical";
    fd["categories"] = py::cast(f.categories);
    features.append(fd);
  }
  d["features"] = features;
  d["label"] = std::string(churn::to_string(t.options.mode));
  d["cutoff_ms"] = t.options.mode == churn::label_mode::window ? ts_or_none(t.options.cutoff_ms) : py::none();
  d["horizon_days"] = t.options.horizon_days;
  d["session_gap_minutes"] = t.options.session_gap_minutes;
  const auto& r = t.report;
  py::dict rd;
  rd["events"] = r.events;
  rd["anonymous_events"] = r.anonymous_events;
  rd["guest_events"] = r.guest_events;
  rd["logged_out_events"] = r.logged_out_events;
  rd["cancellation_events"] = r.cancellation_events;
  rd["users_seen"] = r.users_seen;
  rd["users_in_table"] = r.users_in_table;
  rd["users_churned"] = r.users_churned;
  rd["users_cancelled_ever"] = r.users_cancelled_ever;
  rd["users_cancelled_before_cutoff"] = r.users_cancelled_before_cutoff;
  rd["users_without_events_before_cutoff"] = r.users_without_events_before_cutoff;
  rd["users_active_after_cancellation"] = r.users_active_after_cancellation;
  rd["first_ts"] = ts_or_none(r.first_ts);
  rd["last_ts"] = ts_or_none(r.last_ts);
  rd["cutoff_ms"] = ts_or_none(r.cutoff_ms);
  rd["label_end_ms"] = ts_or_none(r.label_end_ms);
  rd["label_window_complete"] = r.label_window_complete;
  rd["snapshot_cutoffs"] = py::cast(r.snapshot_cutoffs);
  rd["snapshot_rows"] = py::cast(r.snapshot_rows);
  rd["snapshot_churned"] = py::cast(r.snapshot_churned);
  rd["read"] = r.read.lines ? py::object(churn_py::read_report_to_dict(r.read)) : py::object(py::none());
  rd["summary"] = r.summary();
  d["report"] = rd;
  return d;
}

churn::label_options make_label_options(const std::string& label, std::optional<std::int64_t> cutoff_ms,
                                        double horizon_days, double session_gap_minutes) {
  churn::label_options o;
  o.mode = churn::parse_label_mode(label);
  o.cutoff_ms = cutoff_ms ? *cutoff_ms : churn::missing_int;
  o.horizon_days = horizon_days;
  o.session_gap_minutes = session_gap_minutes;
  o.validate();
  return o;
}

/// None and 0: a single cutoff; otherwise snapshots at the given cutoffs or on a schedule.
churn::snapshot_options make_snapshots(std::optional<std::vector<std::int64_t>> cutoffs, int every_days,
                                       double min_history_days) {
  churn::snapshot_options s;
  if (cutoffs) {
    if (cutoffs->empty())
      throw churn::parameter_error("cutoffs", "[]", "None or a non-empty list of UTC midnights");
    s.cutoffs_ms = *cutoffs;
  }
  s.every_days = every_days;
  s.min_history_days = min_history_days;
  s.validate();
  return s;
}

/// The snapshot table when snapshots are asked for, else the single-cutoff table.
churn::feature_table finalize_any(const churn::feature_accumulator& acc, const churn::label_options& o,
                                  const churn::snapshot_options& s) {
  return s.enabled() ? acc.finalize(o, s) : acc.finalize(o);
}

/// None: no limit (0 in C++); otherwise at least one user.
std::uint64_t make_max_users(std::optional<std::int64_t> max_users) {
  if (!max_users) return 0;
  if (*max_users < 1)
    throw churn::parameter_error("max_users", std::to_string(*max_users), "None (no limit) or a positive number of users");
  return static_cast<std::uint64_t>(*max_users);
}

py::object max_users_or_none(std::uint64_t max_users) {
  return max_users == 0 ? py::object(py::none()) : py::object(py::int_(max_users));
}

churn::read_options make_read_options(bool strict, int threads) {
  if (threads < 0) throw churn::parameter_error("threads", std::to_string(threads), "0 (all cores) or more");
  churn::read_options r;
  r.strict = strict;
  r.threads = static_cast<unsigned>(threads);
  return r;
}

}  // namespace

void bind_features(py::module_& m) {
  py::class_<churn::feature_progress>(m, "_FeatureProgress",
                                      "Counters polled by progress bars while files are aggregated.")
      .def(py::init<>())
      .def_property_readonly("events", [](const churn::feature_progress& p) { return p.events.load(); })
      .def_property_readonly("bytes", [](const churn::feature_progress& p) { return p.bytes.load(); })
      .def_property_readonly("bytes_total", [](const churn::feature_progress& p) { return p.bytes_total.load(); })
      .def("stop", [](churn::feature_progress& p) { p.stop.store(true); },
           "Stops the reading that polls these counters at its next block (LimitError with limit 'stop').");

  py::class_<churn::feature_accumulator>(m, "_FeatureAccumulator",
                                         "Mergeable per-user aggregate of an event log (see churn.FeatureAccumulator).")
      .def(py::init([](double session_gap_minutes, std::optional<std::int64_t> max_users) {
             churn::label_options o;
             o.session_gap_minutes = session_gap_minutes;
             o.max_users = make_max_users(max_users);
             return churn::feature_accumulator(o);
           }),
           py::arg("session_gap_minutes") = 30.0, py::arg("max_users") = py::none())
      .def(
          "add_files",
          [](churn::feature_accumulator& acc, const std::vector<std::string>& paths, bool strict, int threads,
             churn::feature_progress* progress) {
            churn::read_report report;
            {
              py::gil_scoped_release release;
              churn::label_options o;
              o.session_gap_minutes = acc.session_gap_minutes();
              o.max_users = acc.max_users();  // bounds the part; the merge checks the sum
              auto part = churn::accumulate_files(paths, o, make_read_options(strict, threads), progress, &report);
              acc.merge(part);
            }
            return report;
          },
          py::arg("paths"), py::arg("strict") = true, py::arg("threads") = 0, py::arg("progress") = nullptr,
          "Aggregates event log files (threads: 0 = all cores); returns the ReadReport.")
      .def(
          "add_jsonl",
          [](churn::feature_accumulator& acc, const py::bytes& data, bool strict, const std::string& name,
             std::uint64_t lines_before) {
            std::string_view view = data;
            churn::read_options r;
            r.strict = strict;
            py::gil_scoped_release release;
            return churn::read_buffer_at(view, lines_before, [&](const churn::event& e) { acc.add(e); }, r, name);
          },
          py::arg("data"), py::arg("strict") = true, py::arg("name") = "<buffer>", py::arg("lines_before") = 0,
          "Aggregates JSON lines held in memory (bytes) that follow `lines_before` lines of the source "
          "`name` (errors name the line within the whole source); returns the ReadReport.")
      .def(
          "add_piece",
          [](churn::feature_accumulator& acc, const churn::file_piece& piece, bool strict) {
            churn::read_options r;
            r.strict = strict;
            r.skip_names_and_songs = true;  // no feature reads them
            py::gil_scoped_release release;
            return churn::read_piece(piece, [&](const churn::event& e) { acc.add(e); }, r);
          },
          py::arg("piece"), py::arg("strict") = true,
          "Aggregates one FilePiece (errors name the line within the whole file); returns its ReadReport.")
      .def(
          "merge",
          [](churn::feature_accumulator& acc, const churn::feature_accumulator& other) {
            py::gil_scoped_release release;
            acc.merge(other);
          },
          py::arg("other"), "Adds everything `other` aggregated (exactly, whatever the split or order).")
      .def(
          "finalize",
          [](const churn::feature_accumulator& acc, const std::string& label, std::optional<std::int64_t> cutoff_ms,
             double horizon_days, std::optional<std::vector<std::int64_t>> cutoffs, int every_days,
             double min_history_days) {
            auto o = make_label_options(label, cutoff_ms, horizon_days, acc.session_gap_minutes());
            auto s = make_snapshots(std::move(cutoffs), every_days, min_history_days);
            churn::feature_table t;
            {
              py::gil_scoped_release release;
              t = finalize_any(acc, o, s);
            }
            return table_to_dict(std::move(t));
          },
          py::arg("label") = "window", py::arg("cutoff_ms") = py::none(), py::arg("horizon_days") = 30.0,
          py::arg("cutoffs") = py::none(), py::arg("every_days") = 0, py::arg("min_history_days") = 14.0,
          "The feature table as a dict (X, y, user_ids, features, report, ...).")
      .def("to_bytes", [](const churn::feature_accumulator& acc) { return py::bytes(acc.to_bytes()); })
      .def_static("from_bytes",
                  [](const py::bytes& data) { return churn::feature_accumulator::from_bytes(std::string_view(data)); })
      .def_property_readonly("events", &churn::feature_accumulator::events)
      .def_property_readonly("users", &churn::feature_accumulator::users)
      .def_property_readonly("session_gap_minutes", &churn::feature_accumulator::session_gap_minutes)
      .def_property_readonly("max_users",
                             [](const churn::feature_accumulator& a) { return max_users_or_none(a.max_users()); })
      .def_property_readonly("first_ts", [](const churn::feature_accumulator& a) { return ts_or_none(a.first_ts()); })
      .def_property_readonly("last_ts", [](const churn::feature_accumulator& a) { return ts_or_none(a.last_ts()); });

  m.def(
      "_user_features",
      [](const std::vector<std::string>& paths, const std::string& label, std::optional<std::int64_t> cutoff_ms,
         double horizon_days, double session_gap_minutes, int threads, bool strict,
         churn::feature_progress* progress, std::optional<std::int64_t> max_users,
         std::optional<std::vector<std::int64_t>> cutoffs, int every_days, double min_history_days) {
        auto o = make_label_options(label, cutoff_ms, horizon_days, session_gap_minutes);
        o.max_users = make_max_users(max_users);
        auto s = make_snapshots(std::move(cutoffs), every_days, min_history_days);
        auto r = make_read_options(strict, threads);
        churn::feature_table t;
        {
          py::gil_scoped_release release;
          t = s.enabled() ? churn::user_features(paths, o, s, r, progress) : churn::user_features(paths, o, r, progress);
        }
        return table_to_dict(std::move(t));
      },
      py::arg("paths"), py::arg("label") = "window", py::arg("cutoff_ms") = py::none(),
      py::arg("horizon_days") = 30.0, py::arg("session_gap_minutes") = 30.0, py::arg("threads") = 0,
      py::arg("strict") = true, py::arg("progress") = nullptr, py::arg("max_users") = py::none(),
      py::arg("cutoffs") = py::none(), py::arg("every_days") = 0, py::arg("min_history_days") = 14.0,
      "Feature table of event log files, as a dict. Use churn.user_features.");

  m.def("_parse_cutoff", [](const std::string& text) { return churn::parse_cutoff(text); }, py::arg("text"));
  m.def("_format_utc", [](std::int64_t ts) { return churn::format_utc(ts); }, py::arg("ts"));
}
