#pragma once
// Conversions shared by bind_metrics.cpp and bind_cv.cpp: array-likes to labels, scores and matrices
// (with errors naming the argument and element), and metric structs to dicts.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <churn/detail/cv_matrix.hpp>
#include <churn/detail/metrics_check.hpp>
#include <churn/error.hpp>
#include <churn/matrix_view.hpp>
#include <churn/metrics.hpp>
#include <nlohmann/json.hpp>

#include "common.hpp"

namespace churn_py {
namespace py = pybind11;

inline py::array as_numpy(const py::handle& obj, const std::string& name, int ndim) {
  py::array arr = py::array::ensure(obj);
  if (!arr) {
    PyErr_Clear();
    throw churn::data_error(name + " is not array-like");
  }
  if (arr.ndim() != ndim) {
    throw churn::data_error(name + " must be " + std::to_string(ndim) + "-D, got an array with " +
                            std::to_string(arr.ndim()) + " dimensions");
  }
  const char kind = arr.dtype().kind();
  if (kind != 'b' && kind != 'i' && kind != 'u' && kind != 'f') {
    throw churn::data_error(name + " has dtype " + py::str(arr.dtype()).cast<std::string>() + "; numbers are needed");
  }
  return arr;
}

/// 0/1 labels from any 1-D array-like of numbers. Integral floats are accepted (scikit-learn does);
/// the 0/1 check itself happens in C++ with the element's index.
inline std::vector<int> labels_from_python(const py::handle& obj, const std::string& name) {
  py::array arr = as_numpy(obj, name, 1);
  const char kind = arr.dtype().kind();
  std::vector<int> out(static_cast<std::size_t>(arr.shape(0)));
  if (kind == 'f') {
    auto a = py::array_t<double, py::array::forcecast>::ensure(arr);
    auto r = a.unchecked<1>();
    for (py::ssize_t i = 0; i < r.shape(0); ++i) {
      const double v = r(i);
      if (!(v == std::floor(v)) || std::abs(v) > 1e9) {
        throw churn::data_error(name + "[" + std::to_string(i) + "] = " + churn::detail::metrics_format_double(v) +
                                " is not a binary label (allowed: 0 or 1)");
      }
      out[static_cast<std::size_t>(i)] = static_cast<int>(v);
    }
  } else {
    auto a = py::array_t<std::int64_t, py::array::forcecast>::ensure(arr);
    auto r = a.unchecked<1>();
    for (py::ssize_t i = 0; i < r.shape(0); ++i) {
      const std::int64_t v = r(i);
      // Out-of-range values are clamped to a value that is still not 0/1, so the C++ check names them.
      out[static_cast<std::size_t>(i)] = v > 1000000000 || v < -1000000000 ? 2 : static_cast<int>(v);
    }
  }
  return out;
}

/// Scores or probabilities from any 1-D array-like of numbers, as doubles.
inline std::vector<double> scores_from_python(const py::handle& obj, const std::string& name) {
  py::array arr = as_numpy(obj, name, 1);
  auto a = py::array_t<double, py::array::forcecast>::ensure(arr);
  auto r = a.unchecked<1>();
  std::vector<double> out(static_cast<std::size_t>(r.shape(0)));
  for (py::ssize_t i = 0; i < r.shape(0); ++i) out[static_cast<std::size_t>(i)] = r(i);
  return out;
}

/// A 2-D array-like of numbers viewed as a churn::matrix_view: no copy when it holds doubles, in any
/// order and with any strides (a column-major feature table, a slice); other dtypes are converted once.
/// `keep` holds the array the view points into.
struct matrix_arg {
  py::array_t<double> keep;
  churn::matrix_view view;
};

inline matrix_arg matrix_view_from_python(const py::handle& obj, const std::string& name) {
  py::array arr = as_numpy(obj, name, 2);
  auto a = py::array_t<double, py::array::forcecast>::ensure(arr);
  constexpr auto size = static_cast<py::ssize_t>(sizeof(double));
  if (a.strides(0) % size != 0 || a.strides(1) % size != 0)  // unaligned strides (a packed record array)
    a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(a);
  const churn::matrix_view view(a.data(), static_cast<std::size_t>(a.shape(0)), static_cast<std::size_t>(a.shape(1)),
                                static_cast<std::ptrdiff_t>(a.strides(0) / size),
                                static_cast<std::ptrdiff_t>(a.strides(1) / size));
  return {std::move(a), view};
}

/// A 2-D array-like of numbers as a row-major double matrix (one copy).
inline churn::row_matrix matrix_from_python(const py::handle& obj, const std::string& name) {
  py::array arr = as_numpy(obj, name, 2);
  auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(arr);
  churn::row_matrix X(a.shape(0), a.shape(1));
  if (X.size() > 0) std::copy(a.data(), a.data() + X.size(), X.data());
  return X;
}

/// A row-major matrix as a new 2-D numpy array.
inline py::array_t<double> matrix_to_numpy(const churn::row_matrix& X) {
  py::array_t<double> out({static_cast<py::ssize_t>(X.rows()), static_cast<py::ssize_t>(X.cols())});
  if (X.size() > 0) std::copy(X.data(), X.data() + X.size(), out.mutable_data());
  return out;
}

inline py::dict metrics_to_dict(const churn::binary_metrics& m) {
  py::dict d;
  const auto names = churn::binary_metric_names();
  const auto values = churn::to_vector(m);
  for (std::size_t i = 0; i < names.size(); ++i) d[py::str(names[i])] = values[i];
  return d;
}

/// A JSON value as the Python object json.loads gives (NaN stays a float NaN): for results whose one
/// field list is their C++ to_json.
inline py::object json_to_python(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null: return py::none();
    case nlohmann::json::value_t::boolean: return py::bool_(j.get<bool>());
    case nlohmann::json::value_t::number_integer: return py::int_(j.get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned: return py::int_(j.get<std::uint64_t>());
    case nlohmann::json::value_t::number_float: return py::float_(j.get<double>());
    case nlohmann::json::value_t::string: return py::str(j.get_ref<const std::string&>());
    case nlohmann::json::value_t::array: {
      py::list out;
      for (const auto& item : j) out.append(json_to_python(item));
      return out;
    }
    case nlohmann::json::value_t::object: {
      py::dict out;
      for (const auto& [key, value] : j.items()) out[py::str(key)] = json_to_python(value);
      return out;
    }
    default: throw churn::data_error("json_to_python: a JSON value of an unsupported type (binary or discarded)");
  }
}

inline py::list confusion_to_list(const churn::confusion_matrix_counts& c) {
  py::list row0;
  row0.append(c.tn);
  row0.append(c.fp);
  py::list row1;
  row1.append(c.fn);
  row1.append(c.tp);
  py::list out;
  out.append(row0);
  out.append(row1);
  return out;
}

}  // namespace churn_py
