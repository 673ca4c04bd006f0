// The reader's structs and the pieces of event logs for Python: churn::read_report as ReadReport
// (read-only, picklable), churn::file_piece as FilePiece, and the functions that plan, read and join
// pieces (churn.dask and churn.spark run them as tasks). Conversion only; the logic is in churn/reader.hpp.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <churn/reader.hpp>

#include "common.hpp"

namespace py = pybind11;

namespace {

py::tuple report_state(const churn::read_report& r) {
  py::list files;
  for (const auto& f : r.files) files.append(report_state(f));
  return py::make_tuple(r.source, r.bytes, r.lines, r.events, r.blank_lines, r.bad_lines, r.bad_by_reason, r.examples,
                        files);
}

churn::read_report report_from_state(const py::tuple& t) {
  if (t.size() != 9)
    throw churn::data_error("ReadReport: pickled state has " + std::to_string(t.size()) + " fields, expected 9");
  churn::read_report r;
  r.source = t[0].cast<std::string>();
  r.bytes = t[1].cast<std::uint64_t>();
  r.lines = t[2].cast<std::uint64_t>();
  r.events = t[3].cast<std::uint64_t>();
  r.blank_lines = t[4].cast<std::uint64_t>();
  r.bad_lines = t[5].cast<std::uint64_t>();
  r.bad_by_reason = t[6].cast<std::map<std::string, std::uint64_t>>();
  r.examples = t[7].cast<std::vector<std::pair<std::uint64_t, std::string>>>();
  for (const auto& f : t[8].cast<py::list>()) r.files.push_back(report_from_state(f.cast<py::tuple>()));
  return r;
}

}  // namespace

void bind_reader(py::module_& m) {
  py::class_<churn::read_report>(
      m, "ReadReport",
      "What a read of event logs saw (churn::read_report): every line is an event, blank, or bad (counted "
      "under its reason, with example line numbers). Read-only; ``to_dict()`` gives the dict churn has "
      "always returned, and ``report[key]`` reads it.")
      .def_readonly("source", &churn::read_report::source, "file name, '<buffer>', or '<n> files'")
      .def_readonly("bytes", &churn::read_report::bytes, "bytes read (decompressed for .gz)")
      .def_readonly("lines", &churn::read_report::lines, "lines seen, blank and bad ones included")
      .def_readonly("events", &churn::read_report::events, "lines turned into events")
      .def_readonly("blank_lines", &churn::read_report::blank_lines)
      .def_readonly("bad_lines", &churn::read_report::bad_lines)
      .def_readonly("bad_by_reason", &churn::read_report::bad_by_reason, "'field: reason' -> count")
      .def_readonly("examples", &churn::read_report::examples, "(line, 'field: reason'), by line")
      .def_readonly("files", &churn::read_report::files, "one report per file when several were read")
      .def_property_readonly("summary", &churn::read_report::summary, "one line per fact, for logs")
      .def("to_dict", &churn_py::read_report_to_dict, "The report as a dict (files as dicts too).")
      .def("__getitem__",
           [](const churn::read_report& r, const std::string& key) -> py::object {
             const py::dict d = churn_py::read_report_to_dict(r);
             if (!d.contains(key)) throw py::key_error(key);
             return d[py::str(key)];
           })
      .def(
          "get",
          [](const churn::read_report& r, const std::string& key, const py::object& default_) -> py::object {
            return churn_py::read_report_to_dict(r).attr("get")(key, default_);
          },
          py::arg("key"), py::arg("default") = py::none())
      .def("__eq__",
           [](const churn::read_report& r, const py::object& other) -> py::object {
             if (py::isinstance<churn::read_report>(other))
               return py::bool_(churn_py::read_report_to_dict(r).equal(
                   churn_py::read_report_to_dict(other.cast<const churn::read_report&>())));
             if (py::isinstance<py::dict>(other)) return py::bool_(churn_py::read_report_to_dict(r).equal(other));
             return py::reinterpret_borrow<py::object>(Py_NotImplemented);
           })
      .def("__str__", &churn::read_report::summary)
      .def("keys", [](const churn::read_report& r) { return churn_py::read_report_to_dict(r).attr("keys")(); })
      .def("__contains__", [](const churn::read_report& r,
                              const py::object& key) { return churn_py::read_report_to_dict(r).contains(key); })
      .def("__repr__",
           [](const churn::read_report& r) {
             return "ReadReport(source=" + py::repr(py::str(r.source)).cast<std::string>() +
                    ", lines=" + std::to_string(r.lines) + ", events=" + std::to_string(r.events) +
                    ", bad_lines=" + std::to_string(r.bad_lines) + ")";
           })
      .def(py::pickle(&report_state, &report_from_state));

  py::class_<churn::file_piece>(
      m, "FilePiece",
      "A part of an event log read by one task (churn::file_piece): bytes [begin, end) of a plain file, "
      "cut at line starts, or a whole gzip file or stream (whole).")
      .def(py::init([](std::string path, std::uint64_t begin, std::uint64_t end, bool whole) {
             return churn::file_piece{std::move(path), begin, end, whole};
           }),
           py::arg("path"), py::arg("begin") = 0, py::arg("end") = 0, py::arg("whole") = false)
      .def_readonly("path", &churn::file_piece::path)
      .def_readonly("begin", &churn::file_piece::begin)
      .def_readonly("end", &churn::file_piece::end)
      .def_readonly("whole", &churn::file_piece::whole)
      .def("describe", &churn::file_piece::describe)
      .def("__repr__", [](const churn::file_piece& p) { return "FilePiece(" + p.describe() + ")"; })
      .def("__eq__",
           [](const churn::file_piece& a, const churn::file_piece& b) {
             return a.path == b.path && a.begin == b.begin && a.end == b.end && a.whole == b.whole;
           })
      .def(py::pickle([](const churn::file_piece& p) { return py::make_tuple(p.path, p.begin, p.end, p.whole); },
                      [](const py::tuple& t) {
                        return churn::file_piece{t[0].cast<std::string>(), t[1].cast<std::uint64_t>(),
                                                 t[2].cast<std::uint64_t>(), t[3].cast<bool>()};
                      }));

  m.def(
      "_plan_pieces",
      [](const std::vector<std::string>& paths, std::int64_t piece_bytes) {
        if (piece_bytes <= 0)
          throw churn::parameter_error("blocksize", std::to_string(piece_bytes), "a positive number of bytes");
        py::gil_scoped_release release;
        return churn::plan_pieces(churn::expand_paths(paths), static_cast<std::uint64_t>(piece_bytes));
      },
      py::arg("paths"), py::arg("piece_bytes"),
      "The pieces of the files and folders `paths` (churn::expand_paths then churn::plan_pieces): plain "
      "files cut at line starts into pieces of about piece_bytes, gzip files whole.");

  m.def(
      "_throw_parse_error",
      [](const std::string& file, std::uint64_t line, const std::string& field, const std::string& reason) {
        throw churn::parse_error(file, line, field, reason);
      },
      py::arg("file"), py::arg("line"), py::arg("field"), py::arg("reason"),
      "Raises the ParseError churn's reader raises for that file, line, field and reason (churn.spark "
      "rebuilds a task's error with it).");

  m.def(
      "_join_piece_reports",
      [](std::vector<churn::read_report> reports, std::size_t max_examples, const std::string& noun) {
        return churn::join_piece_reports(std::move(reports), max_examples, noun);
      },
      py::arg("reports"), py::arg("max_examples") = 5, py::arg("noun") = "files",
      "One read report for the reports of pieces, in order, the pieces of a source adjacent "
      "(churn::join_piece_reports).");
}
