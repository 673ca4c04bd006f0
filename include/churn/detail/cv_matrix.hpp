#pragma once
// The feature-matrix type of the evaluation code. Row-major, because a C-contiguous numpy array maps
// onto it without a copy and because row-major double storage is what the forest's matrix_view reads.
#include <Eigen/Dense>

namespace churn {

/// Dense feature matrix, one row per sample, row-major.
using row_matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace churn
