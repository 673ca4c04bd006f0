// Maps churn's C++ exceptions to Python classes. Each derives from ChurnError and from the builtin a
// Python user would catch (ValueError for bad data or parameters, OSError for files).
#include <filesystem>
#include <ios>

#include <churn/detail/parallel.hpp>
#include "common.hpp"

namespace py = pybind11;

namespace {

py::object make_class(py::module_& m, const char* name, py::tuple bases, const char* doc) {
  std::string qualified = std::string("churn._churn.") + name;
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases.ptr(), nullptr);
  if (!cls) throw py::error_already_set();
  py::object obj = py::reinterpret_steal<py::object>(cls);
  m.attr(name) = obj;
  return obj;
}

// Messages can quote bytes of the input (a corrupt model file, a log line) that are not UTF-8: a
// strict conversion would replace the churn error with a UnicodeDecodeError (found by test_hostile.py).
py::str text(const std::string& s, const char* errors = "backslashreplace") {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), errors);
  if (!o) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

void raise(const char* name, const std::exception& e, py::dict attributes = py::dict()) {
  py::object cls = py::module_::import("churn._churn").attr(name);
  py::object instance = cls(text(e.what()));
  for (auto item : attributes) instance.attr(item.first) = item.second;
  PyErr_SetObject(cls.ptr(), instance.ptr());
}

}  // namespace

void bind_errors(py::module_& m) {
  py::object base = make_class(m, "ChurnError", py::make_tuple(py::handle(PyExc_Exception)),
                               "Base class of every error raised by churn.");
  make_class(m, "ParseError", py::make_tuple(base, py::handle(PyExc_ValueError)),
             "A line of an event log could not be read; has .file, .line, .field and .reason.");
  make_class(m, "ModelFormatError", py::make_tuple(base, py::handle(PyExc_ValueError)),
             "A saved model is corrupt, truncated or of an unsupported version; has .path and .reason.");
  make_class(m, "DataError", py::make_tuple(base, py::handle(PyExc_ValueError)),
             "Input data (matrix, labels, feature values) that churn cannot accept. Raised at a line of a "
             "log (an absurd timestamp, the user beyond max_users), it also has .file, .line and .reason.");
  make_class(m, "LimitError", py::make_tuple(m.attr("DataError")),
             "A resource limit the caller set was reached (a DataError): .limit names it ('max_users', "
             "'stop'), .value is its value; raised while a log was read, also .file and .line (else None).");
  make_class(m, "ParameterError", py::make_tuple(base, py::handle(PyExc_ValueError)),
             "A parameter outside its allowed values; has .name.");
  make_class(m, "ModelCapabilityError", py::make_tuple(base, py::handle(PyExc_ValueError)),
             "The model lacks what an operation needs (SHAP values from a model loaded from a format version 1 "
             "file, which keeps no training cover): refit it with this version and save it again.");
  make_class(m, "ChurnIOError", py::make_tuple(base, py::handle(PyExc_OSError)),
             "A file could not be opened, read or written.");

  m.attr("max_threads") = churn::detail::max_threads;

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const churn::parse_error& e) {
      py::dict a;
      a["file"] = text(e.file(), "surrogateescape");  // as os.fsdecode does
      a["line"] = e.line();
      a["field"] = text(e.field());
      a["reason"] = text(e.reason());
      raise("ParseError", e, a);
    } catch (const churn::model_format_error& e) {
      py::dict a;
      a["path"] = text(e.path());
      a["reason"] = text(e.reason());
      raise("ModelFormatError", e, a);
    } catch (const churn::parameter_error& e) {
      py::dict a;
      a["name"] = text(e.name());
      raise("ParameterError", e, a);
    } catch (const churn::limit_error& e) {
      py::dict a;
      a["limit"] = text(e.limit());
      a["value"] = e.value();
      a["reason"] = text(e.reason());
      a["file"] = e.line() ? py::object(text(e.file(), "surrogateescape")) : py::object(py::none());
      a["line"] = e.line() ? py::object(py::int_(e.line())) : py::object(py::none());
      raise("LimitError", e, a);
    } catch (const churn::located_data_error& e) {
      py::dict a;
      a["file"] = text(e.file(), "surrogateescape");
      a["line"] = e.line();
      a["reason"] = text(e.reason());
      raise("DataError", e, a);
    } catch (const churn::data_error& e) {
      raise("DataError", e);
    } catch (const churn::model_capability_error& e) {
      raise("ModelCapabilityError", e);
    } catch (const churn::io_error& e) {
      raise("ChurnIOError", e);
    } catch (const churn::error& e) {
      raise("ChurnError", e);
    } catch (const std::filesystem::filesystem_error& e) {
      // A safety net: the library throws io_error for every I/O failure it knows of (issue 15), and an
      // I/O failure from the standard library must still reach Python as ChurnIOError, not RuntimeError.
      raise("ChurnIOError", e);
    } catch (const std::ios_base::failure& e) {
      raise("ChurnIOError", e);
    }
  });
}
