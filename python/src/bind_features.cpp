// Per-user features for Python: the mergeable accumulator (picklable through its bytes) and a one-call
// path from files to a feature table. Conversion only; the algorithms live in churn/features.hpp.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <churn/feature_csv.hpp>
#include <churn/features.hpp>
#include <churn/reader.hpp>

#include "common.hpp"

namespace py = pybind11;

namespace {

py::object ts_or_none(std::int64_t ts) {
  return ts == churn::missing_int ? py::object(py::none()) : py::object(py::int_(ts));
}

/// A numpy view of memory held by the bound struct `owner` (no copy; the array keeps `owner` alive).
template <class T>
py::array_t<T> view_of(const py::object& owner, const T* data, std::vector<py::ssize_t> shape,
                       std::vector<py::ssize_t> strides) {
  return py::array_t<T>(std::move(shape), std::move(strides), data, owner);
}

std::string kind_name(churn::feature_kind k) { return k == churn::feature_kind::numeric ? "numeric" : "categorical"; }

/// Column metadata of a table, one list per attribute, in column order.
template <class F>
py::list column_list(const churn::feature_table& t, F&& get) {
  py::list out;
  for (const auto& f : t.features) out.append(get(f));
  return out;
}

/// Pickled state of a feature table: its fields in order (version 1). Pickling copies X.
py::tuple table_state(const churn::feature_table& t) {
  const auto& r = t.report;
  py::list features;
  for (const auto& f : t.features)
    features.append(py::make_tuple(f.name, f.description, f.unit, kind_name(f.kind), f.categories));
  const auto& o = t.options;
  const auto& a = t.aggregation;
  py::tuple options = py::make_tuple(std::string(churn::to_string(o.mode)), o.cutoff_ms, o.horizon_days,
                                     a.session_gap_minutes, a.max_users);
  py::tuple report = py::make_tuple(r.events, r.anonymous_events, r.guest_events, r.logged_out_events,
                                    r.cancellation_events, r.users_seen, r.users_in_table, r.users_churned,
                                    r.users_cancelled_ever, r.users_cancelled_before_cutoff,
                                    r.users_without_events_before_cutoff, r.users_active_after_cancellation, r.first_ts,
                                    r.last_ts, r.cutoff_ms, r.label_end_ms, r.label_window_complete, py::cast(r.read),
                                    r.snapshot_cutoffs, r.snapshot_rows, r.snapshot_churned);
  py::array_t<double, py::array::f_style> X(
      {static_cast<py::ssize_t>(t.X.rows()), static_cast<py::ssize_t>(t.X.cols())});
  if (t.X.size()) std::copy(t.X.data(), t.X.data() + t.X.size(), X.mutable_data());
  std::vector<int> labels(t.labels.data(), t.labels.data() + t.labels.size());
  return py::make_tuple(1, X, labels, t.user_ids, t.cutoffs, features, options, report);
}

churn::feature_table table_from_state(const py::tuple& s) {
  if (s.size() != 8 || s[0].cast<int>() != 1)
    throw churn::data_error("FeatureTable: pickled state of another version (expected 8 fields, version 1)");
  churn::feature_table t;
  auto X = s[1].cast<py::array_t<double, py::array::f_style | py::array::forcecast>>();
  if (X.ndim() != 2) throw churn::data_error("FeatureTable: pickled X is not a matrix");
  t.X = Eigen::Map<const Eigen::MatrixXd>(X.data(), X.shape(0), X.shape(1));
  const auto labels = s[2].cast<std::vector<int>>();
  t.labels = Eigen::Map<const Eigen::VectorXi>(labels.data(), static_cast<Eigen::Index>(labels.size()));
  t.user_ids = s[3].cast<std::vector<std::string>>();
  t.cutoffs = s[4].cast<std::vector<std::int64_t>>();
  for (const auto& item : s[5].cast<py::list>()) {
    const auto f = item.cast<py::tuple>();
    t.features.push_back(
        {f[0].cast<std::string>(), f[1].cast<std::string>(), f[2].cast<std::string>(),
         f[3].cast<std::string>() == "numeric" ? churn::feature_kind::numeric : churn::feature_kind::categorical,
         f[4].cast<std::vector<std::string>>()});
  }
  const auto o = s[6].cast<py::tuple>();
  t.options.mode = churn::parse_label_mode(o[0].cast<std::string>());
  t.options.cutoff_ms = o[1].cast<std::int64_t>();
  t.options.horizon_days = o[2].cast<double>();
  t.aggregation.session_gap_minutes = o[3].cast<double>();
  t.aggregation.max_users = o[4].cast<std::uint64_t>();
  churn::detail::set_deprecated_aggregation(t.options, t.aggregation);
  const auto r = s[7].cast<py::tuple>();
  auto& rep = t.report;
  std::uint64_t* counts[] = {&rep.events,
                             &rep.anonymous_events,
                             &rep.guest_events,
                             &rep.logged_out_events,
                             &rep.cancellation_events,
                             &rep.users_seen,
                             &rep.users_in_table,
                             &rep.users_churned,
                             &rep.users_cancelled_ever,
                             &rep.users_cancelled_before_cutoff,
                             &rep.users_without_events_before_cutoff,
                             &rep.users_active_after_cancellation};
  for (std::size_t i = 0; i < 12; ++i) *counts[i] = r[i].cast<std::uint64_t>();
  rep.first_ts = r[12].cast<std::int64_t>();
  rep.last_ts = r[13].cast<std::int64_t>();
  rep.cutoff_ms = r[14].cast<std::int64_t>();
  rep.label_end_ms = r[15].cast<std::int64_t>();
  rep.label_window_complete = r[16].cast<bool>();
  rep.read = r[17].cast<churn::read_report>();
  rep.snapshot_cutoffs = r[18].cast<std::vector<std::int64_t>>();
  rep.snapshot_rows = r[19].cast<std::vector<std::uint64_t>>();
  rep.snapshot_churned = r[20].cast<std::vector<std::uint64_t>>();
  return t;
}

void bind_feature_structs(py::module_& m) {
  py::class_<churn::feature_info>(m, "FeatureInfo", "One column of a feature table (churn::feature_info), read-only.")
      .def_readonly("name", &churn::feature_info::name)
      .def_readonly("description", &churn::feature_info::description)
      .def_readonly("unit", &churn::feature_info::unit)
      .def_property_readonly(
          "kind", [](const churn::feature_info& f) { return kind_name(f.kind); }, "'numeric' or 'categorical'")
      .def_readonly("categories", &churn::feature_info::categories, "names of the codes (categorical columns)")
      .def("to_dict",
           [](const churn::feature_info& f) {
             py::dict d;
             d["name"] = f.name;
             d["description"] = f.description;
             d["unit"] = f.unit;
             d["kind"] = kind_name(f.kind);
             d["categories"] = py::cast(f.categories);
             return d;
           })
      .def("__repr__",
           [](const churn::feature_info& f) { return "FeatureInfo(" + f.name + ", " + kind_name(f.kind) + ")"; });

  using R = churn::feature_report;
  py::class_<R>(m, "FeatureReport",
                "What went into a feature table and what was left out (churn::feature_report), read-only. "
                "Snapshot tables count rows in users_in_table and users_churned; snapshot_cutoffs, "
                "snapshot_rows and snapshot_churned are empty for other tables.")
      .def_readonly("events", &R::events)
      .def_readonly("anonymous_events", &R::anonymous_events)
      .def_readonly("guest_events", &R::guest_events)
      .def_readonly("logged_out_events", &R::logged_out_events)
      .def_readonly("cancellation_events", &R::cancellation_events)
      .def_readonly("users_seen", &R::users_seen)
      .def_readonly("users_in_table", &R::users_in_table)
      .def_readonly("users_churned", &R::users_churned)
      .def_readonly("users_cancelled_ever", &R::users_cancelled_ever)
      .def_readonly("users_cancelled_before_cutoff", &R::users_cancelled_before_cutoff)
      .def_readonly("users_without_events_before_cutoff", &R::users_without_events_before_cutoff)
      .def_readonly("users_active_after_cancellation", &R::users_active_after_cancellation)
      .def_property_readonly("first_ts", [](const R& r) { return ts_or_none(r.first_ts); })
      .def_property_readonly("last_ts", [](const R& r) { return ts_or_none(r.last_ts); })
      .def_property_readonly("cutoff_ms", [](const R& r) { return ts_or_none(r.cutoff_ms); })
      .def_property_readonly("label_end_ms", [](const R& r) { return ts_or_none(r.label_end_ms); })
      .def_readonly("label_window_complete", &R::label_window_complete)
      .def_property_readonly(
          "read",
          [](const py::object& self) -> py::object {
            const auto& r = self.cast<const R&>();
            if (!r.read.lines) return py::none();
            return py::cast(&r.read, py::return_value_policy::reference_internal, self);
          },
          "the ReadReport of the files read (None when the table was not built from files)")
      .def_readonly("snapshot_cutoffs", &R::snapshot_cutoffs)
      .def_readonly("snapshot_rows", &R::snapshot_rows)
      .def_readonly("snapshot_churned", &R::snapshot_churned)
      .def_property_readonly("summary", &R::summary)
      .def("__str__", &R::summary);

  using T = churn::feature_table;
  py::class_<T, std::shared_ptr<T>>(
      m, "_FeatureTable",
      "A feature table (churn::feature_table), read-only; X, y and cutoffs are numpy views of its memory. "
      "churn.FeatureTable derives from it.")
      .def(py::init([](std::shared_ptr<T> other) { return other; }), py::arg("table"),
           "The same table (shared, not copied).")
      .def_property_readonly(
          "X",
          [](const py::object& self) {
            const auto& t = self.cast<const T&>();
            const auto rows = static_cast<py::ssize_t>(t.X.rows());
            const auto s = static_cast<py::ssize_t>(sizeof(double));
            return view_of<double>(self, t.X.data(), {rows, static_cast<py::ssize_t>(t.X.cols())},
                                   {s, s * std::max<py::ssize_t>(rows, 1)});
          },
          "rows x features, float64, Fortran order")
      .def_property_readonly(
          "y",
          [](const py::object& self) {
            const auto& t = self.cast<const T&>();
            return view_of<int>(self, t.labels.data(), {static_cast<py::ssize_t>(t.labels.size())},
                                {static_cast<py::ssize_t>(sizeof(int))});
          },
          "1 for churn (int32)")
      .def_property_readonly(
          "cutoffs",
          [](const py::object& self) -> py::object {
            const auto& t = self.cast<const T&>();
            if (t.options.mode != churn::label_mode::window) return py::none();
            return view_of<std::int64_t>(self, t.cutoffs.data(), {static_cast<py::ssize_t>(t.cutoffs.size())},
                                         {static_cast<py::ssize_t>(sizeof(std::int64_t))});
          },
          "window mode: the cutoff of each row (epoch ms, int64); None in history mode")
      .def_readonly("user_ids", &T::user_ids)
      .def_readonly("features", &T::features, "FeatureInfo of each column")
      .def_property_readonly("feature_names",
                             [](const T& t) { return column_list(t, [](const auto& f) { return f.name; }); })
      .def_property_readonly("descriptions",
                             [](const T& t) { return column_list(t, [](const auto& f) { return f.description; }); })
      .def_property_readonly("units", [](const T& t) { return column_list(t, [](const auto& f) { return f.unit; }); })
      .def_property_readonly("kinds",
                             [](const T& t) { return column_list(t, [](const auto& f) { return kind_name(f.kind); }); })
      .def_property_readonly(
          "categories",
          [](const T& t) {
            py::dict d;
            for (const auto& f : t.features)
              if (f.kind == churn::feature_kind::categorical) d[py::str(f.name)] = py::cast(f.categories);
            return d;
          },
          "categorical column name -> names of its codes")
      .def_property_readonly("label", [](const T& t) { return std::string(churn::to_string(t.options.mode)); })
      .def_property_readonly("cutoff_ms",
                             [](const T& t) {
                               return t.options.mode == churn::label_mode::window ? ts_or_none(t.options.cutoff_ms)
                                                                                  : py::object(py::none());
                             })
      .def_property_readonly("horizon_days", [](const T& t) { return t.options.horizon_days; })
      .def_property_readonly("session_gap_minutes", [](const T& t) { return t.aggregation.session_gap_minutes; })
      .def_readonly("report", &T::report)
      .def(
          "__len__", [](const T& t) { return static_cast<std::size_t>(t.labels.size()); }, "rows (no numpy needed)")
      .def(py::pickle(&table_state, &table_from_state));
}

churn::label_options make_label_options(const std::string& label, std::optional<std::int64_t> cutoff_ms,
                                        double horizon_days) {
  churn::label_options o;
  o.mode = churn::parse_label_mode(label);
  o.cutoff_ms = cutoff_ms ? *cutoff_ms : churn::missing_int;
  o.horizon_days = horizon_days;
  o.validate();
  return o;
}

/// None and 0: a single cutoff; otherwise snapshots at the given cutoffs or on a schedule.
churn::snapshot_options make_snapshots(std::optional<std::vector<std::int64_t>> cutoffs, int every_days,
                                       double min_history_days) {
  churn::snapshot_options s;
  if (cutoffs) {
    if (cutoffs->empty()) throw churn::parameter_error("cutoffs", "[]", "None or a non-empty list of UTC midnights");
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
    throw churn::parameter_error("max_users", std::to_string(*max_users),
                                 "None (no limit) or a positive number of users");
  return static_cast<std::uint64_t>(*max_users);
}

churn::aggregation_options make_aggregation(double session_gap_minutes, std::optional<std::int64_t> max_users) {
  churn::aggregation_options a;
  a.session_gap_minutes = session_gap_minutes;
  a.max_users = make_max_users(max_users);
  a.validate();
  return a;
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
  bind_feature_structs(m);

  py::class_<churn::feature_progress>(m, "_FeatureProgress",
                                      "Counters polled by progress bars while files are aggregated.")
      .def(py::init<>())
      .def_property_readonly("events", [](const churn::feature_progress& p) { return p.events.load(); })
      .def_property_readonly("bytes", [](const churn::feature_progress& p) { return p.bytes.load(); })
      .def_property_readonly("bytes_total", [](const churn::feature_progress& p) { return p.bytes_total.load(); })
      .def(
          "stop", [](churn::feature_progress& p) { p.stop.store(true); },
          "Stops the reading that polls these counters at its next block (LimitError with limit 'stop').");

  py::class_<churn::feature_accumulator>(m, "_FeatureAccumulator",
                                         "Mergeable per-user aggregate of an event log (see churn.FeatureAccumulator).")
      .def(py::init([](double session_gap_minutes, std::optional<std::int64_t> max_users) {
             return churn::feature_accumulator(make_aggregation(session_gap_minutes, max_users));
           }),
           py::arg("session_gap_minutes") = 30.0, py::arg("max_users") = py::none())
      .def(
          "add_files",
          [](churn::feature_accumulator& acc, const std::vector<std::string>& paths, bool strict, int threads,
             churn::feature_progress* progress) {
            churn::read_report report;
            {
              py::gil_scoped_release release;
              // The part takes the accumulator's user limit too; the merge checks the sum.
              auto part = churn::accumulate_files(paths, acc.aggregation(), make_read_options(strict, threads),
                                                  progress, &report);
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
            return churn::read_buffer_at(
                view, lines_before, [&](const churn::event& e) { acc.add(e); }, r, name);
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
            return churn::read_piece(
                piece, [&](const churn::event& e) { acc.add(e); }, r);
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
             double min_history_days, std::optional<churn::read_report> read) {
            auto o = make_label_options(label, cutoff_ms, horizon_days);
            auto s = make_snapshots(std::move(cutoffs), every_days, min_history_days);
            churn::feature_table t;
            {
              py::gil_scoped_release release;
              t = finalize_any(acc, o, s);
            }
            if (read) t.report.read = std::move(*read);
            return t;
          },
          py::arg("label") = "window", py::arg("cutoff_ms") = py::none(), py::arg("horizon_days") = 30.0,
          py::arg("cutoffs") = py::none(), py::arg("every_days") = 0, py::arg("min_history_days") = 14.0,
          py::arg("read") = py::none(),
          "The feature table (_FeatureTable); `read`: the ReadReport of what was aggregated, for its report.")
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
         double horizon_days, double session_gap_minutes, int threads, bool strict, churn::feature_progress* progress,
         std::optional<std::int64_t> max_users, std::optional<std::vector<std::int64_t>> cutoffs, int every_days,
         double min_history_days) {
        auto o = make_label_options(label, cutoff_ms, horizon_days);
        auto a = make_aggregation(session_gap_minutes, max_users);
        auto s = make_snapshots(std::move(cutoffs), every_days, min_history_days);
        auto r = make_read_options(strict, threads);
        churn::feature_table t;
        {
          py::gil_scoped_release release;
          t = s.enabled() ? churn::user_features(paths, o, s, a, r, progress)
                          : churn::user_features(paths, o, a, r, progress);
        }
        return t;
      },
      py::arg("paths"), py::arg("label") = "window", py::arg("cutoff_ms") = py::none(), py::arg("horizon_days") = 30.0,
      py::arg("session_gap_minutes") = 30.0, py::arg("threads") = 0, py::arg("strict") = true,
      py::arg("progress") = nullptr, py::arg("max_users") = py::none(), py::arg("cutoffs") = py::none(),
      py::arg("every_days") = 0, py::arg("min_history_days") = 14.0,
      "Feature table of event log files (_FeatureTable). Use churn.user_features.");

  m.def(
      "_write_csv",
      [](const churn::feature_table& t, const std::string& path, bool decode) {
        churn::csv_options o;
        o.decode = decode;
        py::gil_scoped_release release;
        churn::write_csv(t, path, o);
      },
      py::arg("table"), py::arg("path"), py::arg("decode") = false,
      "Writes a feature table as CSV (churn/feature_csv.hpp). Use churn.features.write_csv.");

  m.def(
      "_parse_cutoff", [](const std::string& text) { return churn::parse_cutoff(text); }, py::arg("text"));
  m.def(
      "_format_utc", [](std::int64_t ts) { return churn::format_utc(ts); }, py::arg("ts"));
}
