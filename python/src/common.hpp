#pragma once
// Helpers shared by the binding files: numpy conversion and argument checks. No algorithm lives here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include <churn/error.hpp>
#include <churn/matrix_view.hpp>
#include <churn/reader.hpp>

namespace churn_py {
namespace py = pybind11;

/// A 1-D numpy array owning a copy of `values`.
template <class T>
py::array_t<T> to_numpy(const std::vector<T>& values) {
  py::array_t<T> out(static_cast<py::ssize_t>(values.size()));
  if (!values.empty()) std::copy(values.begin(), values.end(), out.mutable_data());
  return out;
}

/// A 1-D numpy array that takes ownership of `values` without copying.
template <class T>
py::array_t<T> move_to_numpy(std::vector<T>&& values) {
  auto* heap = new std::vector<T>(std::move(values));
  py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>({static_cast<py::ssize_t>(heap->size())}, {static_cast<py::ssize_t>(sizeof(T))}, heap->data(),
                        owner);
}

/// Doubles in any order and with any strides cross without a copy (a column-major feature table, a
/// slice); other dtypes are converted once.
using dense = py::array_t<double, py::array::forcecast>;

inline churn::matrix_view view_of(const dense& X) {
  if (X.ndim() != 2)
    throw churn::data_error("X must be 2-D (rows x features), got an array with " + std::to_string(X.ndim()) +
                            " dimensions");
  constexpr auto size = static_cast<py::ssize_t>(sizeof(double));
  if (X.strides(0) % size != 0 || X.strides(1) % size != 0)
    throw churn::data_error(
        "X has strides that are not whole doubles (a packed record array?); pass np.ascontiguousarray(X)");
  return churn::matrix_view(X.data(), static_cast<std::size_t>(X.shape(0)), static_cast<std::size_t>(X.shape(1)),
                            static_cast<std::ptrdiff_t>(X.strides(0) / size),
                            static_cast<std::ptrdiff_t>(X.strides(1) / size));
}

/// ReadReport.to_dict(): a read report as a dict (per-file reports under "files"), the one builder.
inline py::dict read_report_to_dict(const churn::read_report& r) {
  py::dict d;
  d["source"] = r.source;
  d["bytes"] = r.bytes;
  d["lines"] = r.lines;
  d["events"] = r.events;
  d["blank_lines"] = r.blank_lines;
  d["bad_lines"] = r.bad_lines;
  d["bad_by_reason"] = r.bad_by_reason;
  py::list examples;
  for (const auto& [line, reason] : r.examples) examples.append(py::make_tuple(line, reason));
  d["examples"] = examples;
  d["summary"] = r.summary();
  py::list files;
  for (const auto& f : r.files) files.append(read_report_to_dict(f));
  d["files"] = files;
  return d;
}

}  // namespace churn_py
