// Event reading for Python: scan (a summary) and the vocabularies; read_events is bind_event_table.cpp.
#include <string>

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

py::dict scan_to_dict(const churn::scan_summary& s) {
  py::dict d;
  d["events"] = s.events;
  d["anonymous_events"] = s.anonymous_events;
  d["users"] = s.users.size();
  d["churned_users"] = s.churned_users.size();
  d["sessions"] = s.sessions;
  d["first_ts"] = s.first_ts == churn::missing_int ? py::object(py::none()) : py::object(py::int_(s.first_ts));
  d["last_ts"] = s.last_ts == churn::missing_int ? py::object(py::none()) : py::object(py::int_(s.last_ts));
  d["pages"] = s.pages;
  d["auths"] = s.auths;
  d["levels"] = s.levels;
  d["report"] = py::cast(s.report);  // ReadReport
  return d;
}

}  // namespace

void bind_events(py::module_& m) {
  m.attr("page_names") = py::cast(std::vector<std::string>(churn::page_names.begin(), churn::page_names.end()));
  m.attr("auth_names") = py::cast(std::vector<std::string>(churn::auth_names.begin(), churn::auth_names.end()));
  m.attr("level_names") = py::cast(std::vector<std::string>(churn::level_names.begin(), churn::level_names.end()));
  m.attr("method_names") = py::cast(std::vector<std::string>(churn::method_names.begin(), churn::method_names.end()));

  m.def(
      "_scan",
      [](const std::vector<std::string>& paths, bool strict, unsigned threads, std::uint64_t max_line_bytes) {
        churn::scan_summary total;
        std::vector<churn::scan_summary> files;
        {
          py::gil_scoped_release release;
          total = churn::scan_files(paths, make_options(strict, threads, max_line_bytes), &files);
        }
        py::dict d = scan_to_dict(total);
        py::list per_file;
        if (files.size() > 1)
          for (const auto& f : files) per_file.append(scan_to_dict(f));
        d["files"] = per_file;
        return d;
      },
      py::arg("paths"), py::arg("strict") = true, py::arg("threads") = 0u,
      py::arg("max_line_bytes") = std::uint64_t(64) << 20,
      "Summarises event logs: files and folders (dict, with one dict per file under 'files' when there "
      "are several). Use churn.scan.");

  m.def(
      "_expand_paths", [](const std::vector<std::string>& paths) { return churn::expand_paths(paths); },
      py::arg("paths"), "The event files that files and folders stand for (churn::expand_paths).");
}
