#pragma once
// The one matrix type every algorithm of churn reads: a read-only strided view of doubles (no copy),
// like a 2-D numpy array: element (r, c) at data[r * row_stride + c * col_stride]. Callers keep their
// layout (a column-major feature table, a row-major Eigen matrix, a C- or Fortran-ordered numpy array,
// a slice of any of them); an algorithm that needs its own layout (binning, float32 rows for the trees,
// row subsets for cross-validation) makes it once, inside.
#include <cstddef>
#include <string>
#include <type_traits>

#include <Eigen/Core>

#include <churn/error.hpp>

namespace churn {

/// A read-only rows x cols view of doubles, valid while the viewed memory lives.
struct matrix_view {
  const double* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::ptrdiff_t row_stride = 0;  ///< distance between rows, in values (may be negative)
  std::ptrdiff_t col_stride = 1;  ///< distance between columns, in values (may be negative)

  matrix_view() = default;
  /// A row-major view: row r at d + r * row_stride (0: cols, i.e. contiguous), columns adjacent.
  matrix_view(const double* d, std::size_t r, std::size_t c, std::size_t row_stride_values = 0)
      : data(d),
        rows(r),
        cols(c),
        row_stride(static_cast<std::ptrdiff_t>(row_stride_values == 0 ? c : row_stride_values)) {}
  /// A view with any strides (in values), e.g. numpy's strides divided by sizeof(double).
  matrix_view(const double* d, std::size_t r, std::size_t c, std::ptrdiff_t row_stride_values,
              std::ptrdiff_t col_stride_values)
      : data(d), rows(r), cols(c), row_stride(row_stride_values), col_stride(col_stride_values) {}

  double operator()(std::size_t r, std::size_t c) const noexcept {
    return data[static_cast<std::ptrdiff_t>(r) * row_stride + static_cast<std::ptrdiff_t>(c) * col_stride];
  }
  /// Whether each row's values are adjacent (then row(r) points at them).
  bool rows_contiguous() const noexcept { return col_stride == 1; }
  /// The first value of row r; its values are col_stride apart.
  const double* row(std::size_t r) const noexcept { return data + static_cast<std::ptrdiff_t>(r) * row_stride; }
  /// Copies row r into out[0, cols).
  void copy_row(std::size_t r, double* out) const noexcept {
    const double* p = row(r);
    if (col_stride == 1) {
      for (std::size_t c = 0; c < cols; ++c) out[c] = p[c];
    } else {
      for (std::size_t c = 0; c < cols; ++c) out[c] = p[static_cast<std::ptrdiff_t>(c) * col_stride];
    }
  }
};

/// A view of an Eigen matrix, array, map or block with direct access to its values (no copy), in
/// whatever storage order it has: as_view(table.X) for the column-major feature table, as_view(X) for
/// a row-major row_matrix.
template <class Derived>
matrix_view as_view(const Eigen::DenseBase<Derived>& X) {
  static_assert(std::is_same<typename Derived::Scalar, double>::value, "as_view: the matrix must hold doubles");
  static_assert(static_cast<bool>(Eigen::internal::traits<Derived>::Flags & Eigen::DirectAccessBit),
                "as_view: the expression has no values in memory; evaluate it into a matrix first");
  const Derived& d = X.derived();
  const auto inner = static_cast<std::ptrdiff_t>(d.innerStride());
  const auto outer = static_cast<std::ptrdiff_t>(d.outerStride());
  const bool row_major = Derived::IsRowMajor;
  return matrix_view(d.data(), static_cast<std::size_t>(d.rows()), static_cast<std::size_t>(d.cols()),
                     row_major ? outer : inner, row_major ? inner : outer);
}

}  // namespace churn
