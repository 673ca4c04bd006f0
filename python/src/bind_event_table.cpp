// The event table for Python: read into C++ columns on all cores, seen from numpy as read-only views
// and from Arrow consumers through the C data interface (PyCapsules), both without copying the rows.
#include <Python.h>

#include <memory>
#include <string>
#include <vector>

#include <churn/arrow.hpp>
#include <churn/event_table.hpp>
#include <churn/reader.hpp>

#include "common.hpp"

namespace py = pybind11;

namespace {

using table_ptr = std::shared_ptr<churn::event_table>;

const churn::column_ref& column_named(const std::array<churn::column_ref, 18>& columns, const std::string& name) {
  for (const auto& c : columns)
    if (c.name == name) return c;
  throw py::key_error("unknown column '" + name + "'");
}

/// A read-only 1-D view of `values`, kept alive by `owner` (the Python object holding the table).
template <class T>
py::array view(const std::vector<T>& values, const py::object& owner) {
  py::array_t<T> out({static_cast<py::ssize_t>(values.size())}, {static_cast<py::ssize_t>(sizeof(T))}, values.data(),
                     owner);
  py::detail::array_proxy(out.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return std::move(out);
}

template <class T, void (*Export)(std::shared_ptr<const churn::event_table>, T*)>
py::object capsule_of(const table_ptr& table, const char* name, PyCapsule_Destructor destructor) {
  auto* out = new T();
  try {
    Export(table, out);
  } catch (...) {
    delete out;
    throw;
  }
  PyObject* capsule = PyCapsule_New(out, name, destructor);
  if (capsule == nullptr) {
    out->release(out);
    delete out;
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::object>(capsule);
}

void export_schema(std::shared_ptr<const churn::event_table>, ArrowSchema* out) { churn::export_event_schema(out); }

}  // namespace

void bind_event_table(py::module_& m) {
  py::class_<churn::event_table, table_ptr>(m, "_EventColumns",
                                            "The columns of an event table (churn::event_table). Use churn.EventTable.")
      .def("__len__", &churn::event_table::size)
      .def(
          "values",
          [](py::object self, const std::string& name) -> py::array {
            const auto& table = self.cast<const churn::event_table&>();
            const auto columns = table.columns();
            const churn::column_ref& c = column_named(columns, name);
            if (c.ints) return view(*c.ints, self);
            if (c.floats) return view(*c.floats, self);
            return view(c.strings->codes, self);
          },
          py::arg("name"),
          "A column's values as a read-only numpy view of the C++ buffer: int64 (missing_int where null), "
          "float64 (NaN where null) or, for a string column, int32 codes (-1 where null).")
      .def(
          "categories",
          [](const churn::event_table& table, const std::string& name) {
            const auto columns = table.columns();
            const churn::column_ref& c = column_named(columns, name);
            if (!c.strings) throw py::key_error("column '" + name + "' is not a string column");
            py::list out(c.strings->category_count());
            for (std::size_t i = 0; i < c.strings->category_count(); ++i) {
              const std::string_view s = c.strings->category(i);
              out[i] = py::str(s.data(), s.size());
            }
            return out;
          },
          py::arg("name"), "The dictionary of a string column, by code.")
      .def("memory_bytes", &churn::event_table::memory_bytes,
           "Bytes held by the columns (capacity, dictionaries and their hash indexes included).")
      .def(
          "arrow_c_stream",
          [](const table_ptr& table) {
            return capsule_of<ArrowArrayStream, churn::export_event_stream>(
                table, "arrow_array_stream", [](PyObject* capsule) {
                  auto* stream = static_cast<ArrowArrayStream*>(PyCapsule_GetPointer(capsule, "arrow_array_stream"));
                  if (stream == nullptr) return PyErr_Clear();
                  if (stream->release != nullptr) stream->release(stream);
                  delete stream;
                });
          },
          "A PyCapsule 'arrow_array_stream' of the table (one record batch), sharing its buffers.")
      .def(
          "arrow_c_schema",
          [](const table_ptr& table) {
            return capsule_of<ArrowSchema, export_schema>(table, "arrow_schema", [](PyObject* capsule) {
              auto* schema = static_cast<ArrowSchema*>(PyCapsule_GetPointer(capsule, "arrow_schema"));
              if (schema == nullptr) return PyErr_Clear();
              if (schema->release != nullptr) schema->release(schema);
              delete schema;
            });
          },
          "A PyCapsule 'arrow_schema' of the table's schema.");

  m.def(
      "_read_events",
      [](const std::vector<std::string>& files, bool strict, unsigned threads, std::uint64_t max_line_bytes) {
        auto table = std::make_shared<churn::event_table>();
        churn::read_report report;
        churn::read_options options;
        options.strict = strict;
        options.threads = threads;
        options.max_line_bytes = max_line_bytes;
        {
          py::gil_scoped_release release;
          report = churn::read_event_table(files, *table, options);
        }
        return py::make_tuple(table, py::cast(std::move(report)));
      },
      py::arg("files"), py::arg("strict") = true, py::arg("threads") = 0u,
      py::arg("max_line_bytes") = std::uint64_t(64) << 20,
      "Reads event logs into columns on `threads` threads (0: all cores): (_EventColumns, read report). Use "
      "churn.read_events.");
}
