// Event reading for Python: scan (churn::scan_summary, bound read-only as _ScanSummary; churn.ScanSummary
// derives from it) and the vocabularies; read_events is bind_event_table.cpp.
#include <map>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include <churn/reader.hpp>
#include <churn/scan.hpp>

#include "common.hpp"

namespace py = pybind11;

namespace {

churn::read_options make_options(bool strict, unsigned threads, std::uint64_t max_line_bytes) {
  churn::read_options options;
  options.strict = strict;
  options.threads = threads;
  options.max_line_bytes = max_line_bytes;
  return options;
}

py::object ts_or_none(std::int64_t ts) {
  return ts == churn::missing_int ? py::object(py::none()) : py::object(py::int_(ts));
}

/// ScanSummary.to_dict(): the summary's fields as a dict, the one builder (the subclass churn.ScanSummary
/// adds its path and per-file summaries).
py::dict scan_to_dict(const churn::scan_summary& s) {
  py::dict d;
  d["events"] = s.events;
  d["anonymous_events"] = s.anonymous_events;
  d["users"] = s.users.size();
  d["churned_users"] = s.churned_users.size();
  d["sessions"] = s.sessions;
  d["first_ts"] = ts_or_none(s.first_ts);
  d["last_ts"] = ts_or_none(s.last_ts);
  d["pages"] = s.pages;
  d["auths"] = s.auths;
  d["levels"] = s.levels;
  d["report"] = churn_py::read_report_to_dict(s.report);
  return d;
}

}  // namespace

void bind_events(py::module_& m) {
  m.attr("page_names") = py::cast(std::vector<std::string>(churn::page_names.begin(), churn::page_names.end()));
  m.attr("auth_names") = py::cast(std::vector<std::string>(churn::auth_names.begin(), churn::auth_names.end()));
  m.attr("level_names") = py::cast(std::vector<std::string>(churn::level_names.begin(), churn::level_names.end()));
  m.attr("method_names") = py::cast(std::vector<std::string>(churn::method_names.begin(), churn::method_names.end()));

  using S = churn::scan_summary;
  py::class_<S, std::shared_ptr<S>>(
      m, "_ScanSummary",
      "A summary of event logs (churn::scan_summary), read-only: events, users, sessions, pages, time range "
      "and the ReadReport. churn.ScanSummary derives from it.")
      .def(py::init([](std::shared_ptr<S> other) { return other; }), py::arg("summary"),
           "The same summary (shared, not copied).")
      .def_readonly("events", &S::events)
      .def_readonly("anonymous_events", &S::anonymous_events, "rows with an empty userId (guests, logged out)")
      .def_property_readonly(
          "users", [](const S& s) { return s.users.size(); }, "distinct non-empty user ids")
      .def_property_readonly(
          "churned_users", [](const S& s) { return s.churned_users.size(); },
          "users that reached Cancellation Confirmation")
      .def_readonly("sessions", &S::sessions, "distinct (userId, sessionId) of logged-in users")
      .def_property_readonly(
          "first_ts", [](const S& s) { return ts_or_none(s.first_ts); }, "epoch ms of the first event (None: none)")
      .def_property_readonly(
          "last_ts", [](const S& s) { return ts_or_none(s.last_ts); }, "epoch ms of the last event (None: none)")
      .def_readonly("pages", &S::pages, "page name as in the log -> events")
      .def_readonly("auths", &S::auths, "auth -> events ('' when absent)")
      .def_readonly("levels", &S::levels, "level -> events ('' when absent)")
      .def_property_readonly(
          "report",
          [](const py::object& self) {
            return py::cast(&self.cast<const S&>().report, py::return_value_policy::reference_internal, self);
          },
          "the ReadReport of the read")
      .def("to_dict", &scan_to_dict, "The summary as a dict (the report as a dict too).")
      .def(py::pickle(
          [](const S& s) {  // version 1; the per-session keys stay behind (sessions is their count)
            return py::make_tuple(1, s.events, s.anonymous_events, s.first_ts, s.last_ts, s.pages, s.auths, s.levels,
                                  s.users, s.churned_users, s.sessions, s.report);
          },
          [](const py::tuple& t) {
            if (t.size() != 12 || t[0].cast<int>() != 1)
              throw churn::data_error("ScanSummary: pickled state of another version (expected 12 fields, version 1)");
            auto s = std::make_shared<S>();
            s->events = t[1].cast<std::uint64_t>();
            s->anonymous_events = t[2].cast<std::uint64_t>();
            s->first_ts = t[3].cast<std::int64_t>();
            s->last_ts = t[4].cast<std::int64_t>();
            s->pages = t[5].cast<std::map<std::string, std::uint64_t>>();
            s->auths = t[6].cast<std::map<std::string, std::uint64_t>>();
            s->levels = t[7].cast<std::map<std::string, std::uint64_t>>();
            s->users = t[8].cast<std::unordered_set<std::string>>();
            s->churned_users = t[9].cast<std::unordered_set<std::string>>();
            s->sessions = t[10].cast<std::uint64_t>();
            s->report = t[11].cast<churn::read_report>();
            return s;
          }));

  m.def(
      "_scan",
      [](const std::vector<std::string>& paths, bool strict, unsigned threads, std::uint64_t max_line_bytes) {
        auto total = std::make_shared<S>();
        std::vector<S> files;
        {
          py::gil_scoped_release release;
          *total = churn::scan_files(paths, make_options(strict, threads, max_line_bytes), &files);
        }
        std::vector<std::shared_ptr<S>> per_file;
        if (files.size() > 1)
          for (auto& f : files) per_file.push_back(std::make_shared<S>(std::move(f)));
        return py::make_tuple(total, per_file);
      },
      py::arg("paths"), py::arg("strict") = true, py::arg("threads") = 0u,
      py::arg("max_line_bytes") = std::uint64_t(64) << 20,
      "Summarises event logs, files and folders: (_ScanSummary of all, [_ScanSummary of each file] when there "
      "are several). Use churn.scan.");

  m.def(
      "_expand_paths", [](const std::vector<std::string>& paths) { return churn::expand_paths(paths); },
      py::arg("paths"), "The event files that files and folders stand for (churn::expand_paths).");
}
