#pragma once
// L2-regularised logistic regression on standardised features: the linear baseline that the forest is
// compared with. The objective is scikit-learn's LogisticRegression(C=C) on StandardScaler output,
//     0.5 * ||w||^2 + C * sum_i log(1 + exp(-s_i * (x_i . w + b))),   s_i = +-1, intercept b unpenalised,
// minimised by Newton's method (IRLS) with a backtracking line search; the problem is strictly convex,
// so a handful of iterations reach the optimum to rounding.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include <churn/detail/cv_matrix.hpp>
#include <churn/detail/metrics_check.hpp>
#include <churn/error.hpp>
#include <churn/matrix_view.hpp>

namespace churn {

/// Hyper-parameters of fit_logistic.
struct logistic_params {
  double C = 1.0;           ///< inverse regularisation strength (scikit-learn's C), > 0
  int max_iter = 100;       ///< Newton iterations, >= 1
  double tol = 1e-10;       ///< stop when no coefficient moves by more than tol (on the standardised scale)
  bool standardize = true;  ///< centre and scale features by their training mean and (population) std

  /// Throws parameter_error naming the offending field.
  void validate() const {
    if (!(C > 0.0) || !std::isfinite(C))
      throw parameter_error("C", detail::metrics_format_double(C), "a finite number > 0");
    if (max_iter < 1) throw parameter_error("max_iter", std::to_string(max_iter), "an integer >= 1");
    if (!(tol > 0.0)) throw parameter_error("tol", detail::metrics_format_double(tol), "a number > 0");
  }
};

namespace detail {

inline double logistic_sigmoid(double z) noexcept {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

/// log(1 + exp(z)) without overflow.
inline double logistic_softplus(double z) noexcept {
  return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z));
}

inline void logistic_check_finite(const char* fn, const matrix_view& X) {
  for (std::size_t r = 0; r < X.rows; ++r) {
    for (std::size_t c = 0; c < X.cols; ++c) {
      if (!std::isfinite(X(r, c))) {
        throw data_error(std::string(fn) + ": X[" + std::to_string(r) + ", " + std::to_string(c) +
                         "] = " + metrics_format_double(X(r, c)) +
                         " is not finite; logistic regression needs complete numeric features");
      }
    }
  }
}

inline void logistic_check_finite(const char* fn, const row_matrix& X) { logistic_check_finite(fn, as_view(X)); }

}  // namespace detail

/// A fitted logistic regression. Immutable; predict_proba is const and thread-safe.
struct logistic_model {
  std::vector<double> mean;   ///< subtracted from each feature (0 without standardisation)
  std::vector<double> scale;  ///< then divided by (the std; 1 for constant features or without standardisation)
  Eigen::VectorXd coef;       ///< weights of the standardised features
  double intercept = 0.0;
  int n_iter = 0;          ///< Newton iterations used
  bool converged = false;  ///< whether tol was reached within max_iter

  std::size_t n_features() const noexcept { return mean.size(); }

  /// Probability of class 1 for each row of X. Throws data_error when X has the wrong number of columns
  /// or a non-finite value.
  std::vector<double> predict_proba(const row_matrix& X) const {
    if (static_cast<std::size_t>(X.cols()) != n_features()) {
      throw data_error("logistic_model::predict_proba: X has " + std::to_string(X.cols()) +
                       " columns but the model was fitted on " + std::to_string(n_features()));
    }
    detail::logistic_check_finite("logistic_model::predict_proba", X);
    std::vector<double> out(static_cast<std::size_t>(X.rows()));
    for (Eigen::Index r = 0; r < X.rows(); ++r) {
      double z = intercept;
      for (Eigen::Index c = 0; c < X.cols(); ++c) {
        const auto j = static_cast<std::size_t>(c);
        z += (X(r, c) - mean[j]) / scale[j] * coef[c];
      }
      out[static_cast<std::size_t>(r)] = detail::logistic_sigmoid(z);
    }
    return out;
  }

  /// Weights on the original (unstandardised) features: coef_j / scale_j.
  Eigen::VectorXd raw_coef() const {
    Eigen::VectorXd w(coef.size());
    for (Eigen::Index j = 0; j < coef.size(); ++j) w[j] = coef[j] / scale[static_cast<std::size_t>(j)];
    return w;
  }
  /// Intercept on the original features: intercept - sum_j coef_j * mean_j / scale_j.
  double raw_intercept() const {
    double b = intercept;
    for (Eigen::Index j = 0; j < coef.size(); ++j)
      b -= coef[j] * mean[static_cast<std::size_t>(j)] / scale[static_cast<std::size_t>(j)];
    return b;
  }
};

/// Fits L2 logistic regression to binary labels y (0/1) by Newton's method.
/// Requires: X.rows() == y.size() >= 2, both classes present, all X finite.
/// Throws parameter_error for bad params, data_error for bad data.
/// Complexity O(n p^2 + p^3) per iteration.
inline logistic_model fit_logistic(const row_matrix& X, const std::vector<int>& y, const logistic_params& params = {}) {
  params.validate();
  detail::metrics_check_labels("fit_logistic", "y", y);
  if (static_cast<std::size_t>(X.rows()) != y.size()) {
    throw data_error("fit_logistic: X has " + std::to_string(X.rows()) + " rows but y has " + std::to_string(y.size()) +
                     " labels");
  }
  const auto pos = std::count(y.begin(), y.end(), 1);
  if (pos == 0 || pos == static_cast<std::ptrdiff_t>(y.size())) {
    throw data_error(std::string("fit_logistic: y contains only class ") + (pos == 0 ? "0" : "1") +
                     "; logistic regression needs samples of both classes");
  }
  detail::logistic_check_finite("fit_logistic", X);
  const Eigen::Index n = X.rows();
  const Eigen::Index p = X.cols();
  logistic_model m;
  m.mean.assign(static_cast<std::size_t>(p), 0.0);
  m.scale.assign(static_cast<std::size_t>(p), 1.0);
  if (params.standardize) {
    for (Eigen::Index c = 0; c < p; ++c) {
      const double mu = X.col(c).mean();
      const double var = (X.col(c).array() - mu).square().mean();
      m.mean[static_cast<std::size_t>(c)] = mu;
      // StandardScaler leaves constant columns unscaled (their centred values are all 0 anyway).
      m.scale[static_cast<std::size_t>(c)] = var > 0.0 ? std::sqrt(var) : 1.0;
    }
  }
  // Design matrix A = [standardised X, 1]; theta = [w; b].
  Eigen::MatrixXd A(n, p + 1);
  for (Eigen::Index c = 0; c < p; ++c) {
    A.col(c) = (X.col(c).array() - m.mean[static_cast<std::size_t>(c)]) / m.scale[static_cast<std::size_t>(c)];
  }
  A.col(p).setOnes();
  Eigen::VectorXd yv(n);
  for (Eigen::Index i = 0; i < n; ++i) yv[i] = y[static_cast<std::size_t>(i)];
  const double C = params.C;

  auto objective = [&](const Eigen::VectorXd& theta) {
    const Eigen::VectorXd z = A * theta;
    double loss = 0.0;
    for (Eigen::Index i = 0; i < n; ++i) loss += detail::logistic_softplus(z[i]) - yv[i] * z[i];
    return 0.5 * theta.head(p).squaredNorm() + C * loss;
  };

  Eigen::VectorXd theta = Eigen::VectorXd::Zero(p + 1);
  double f = objective(theta);
  for (int it = 1; it <= params.max_iter; ++it) {
    m.n_iter = it;
    const Eigen::VectorXd z = A * theta;
    Eigen::VectorXd prob(n);
    Eigen::VectorXd d(n);
    for (Eigen::Index i = 0; i < n; ++i) {
      prob[i] = detail::logistic_sigmoid(z[i]);
      d[i] = prob[i] * (1.0 - prob[i]);
    }
    Eigen::VectorXd grad = C * (A.transpose() * (prob - yv));
    grad.head(p) += theta.head(p);
    Eigen::MatrixXd H = C * (A.transpose() * d.asDiagonal() * A);
    H.diagonal().head(p).array() += 1.0;
    // With (nearly) separable data d underflows towards 0 and the intercept's curvature with it; a tiny
    // ridge keeps the factorisation usable without moving the optimum noticeably.
    H(p, p) += 1e-12 * std::max(1.0, C * static_cast<double>(n));
    const Eigen::VectorXd step = -H.ldlt().solve(grad);
    const double slope = grad.dot(step);
    double t = 1.0;
    Eigen::VectorXd next = theta + step;
    double f_next = objective(next);
    while (f_next > f + 1e-4 * t * slope && t > 1e-12) {
      t *= 0.5;
      next = theta + t * step;
      f_next = objective(next);
    }
    const double moved = (next - theta).cwiseAbs().maxCoeff();
    theta = next;
    f = f_next;
    if (moved <= params.tol) {
      m.converged = true;
      break;
    }
  }
  m.coef = theta.head(p);
  m.intercept = theta[p];
  return m;
}

}  // namespace churn
