#pragma once
// Input checks shared by the metric functions: every message names the function and the offending
// element, so a bad label deep inside a cross-validation run can be found.
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <churn/error.hpp>

namespace churn {
namespace detail {

inline std::string metrics_format_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  // The shortest of 15 or 17 significant digits that reads back as v: 1.1 stays "1.1".
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  if (std::strtod(buf, nullptr) != v) std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

inline void metrics_check_labels(const char* fn, const char* name, const std::vector<int>& y) {
  if (y.empty()) throw data_error(std::string(fn) + ": " + name + " is empty");
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (y[i] != 0 && y[i] != 1) {
      throw data_error(std::string(fn) + ": " + name + "[" + std::to_string(i) + "] = " + std::to_string(y[i]) +
                       " is not a binary label (allowed: 0 or 1)");
    }
  }
}

inline void metrics_check_same_length(const char* fn, const char* a, std::size_t na, const char* b, std::size_t nb) {
  if (na != nb) {
    throw data_error(std::string(fn) + ": " + a + " and " + b + " have different lengths (" + std::to_string(na) +
                     " vs " + std::to_string(nb) + ")");
  }
}

inline void metrics_check_scores(const char* fn, const char* name, const std::vector<double>& s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!std::isfinite(s[i])) {
      throw data_error(std::string(fn) + ": " + name + "[" + std::to_string(i) + "] = " + metrics_format_double(s[i]) +
                       " is not finite");
    }
  }
}

inline void metrics_check_probabilities(const char* fn, const char* name, const std::vector<double>& p) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (!(p[i] >= 0.0 && p[i] <= 1.0)) {
      throw data_error(std::string(fn) + ": " + name + "[" + std::to_string(i) + "] = " + metrics_format_double(p[i]) +
                       " is not a probability (allowed: 0 <= p <= 1)");
    }
  }
}

}  // namespace detail
}  // namespace churn
