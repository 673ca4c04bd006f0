// UTC dates for Python: the library's one date parser (churn/dates.hpp) and its time constant, so that
// the Python layer never parses dates or spells 86400000 itself.
#include <cstdint>
#include <string>

#include <pybind11/pybind11.h>

#include <churn/dates.hpp>

namespace py = pybind11;

void bind_dates(py::module_& m) {
  m.attr("MS_PER_DAY") = churn::ms_per_day;
  m.def(
      "_parse_date",
      [](const std::string& text, const std::string& parameter) { return churn::parse_date(text, parameter); },
      py::arg("text"), py::arg("parameter") = "date",
      "Epoch milliseconds of 00:00 UTC on a 'YYYY-MM-DD' date; ParameterError naming `parameter` otherwise.");
  m.def("_format_utc", &churn::format_utc, py::arg("ts_ms"),
        "'YYYY-MM-DD' for a UTC midnight, else 'YYYY-MM-DDTHH:MM:SSZ'.");
}
