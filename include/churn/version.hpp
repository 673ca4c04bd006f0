#pragma once
// The one source of truth for the version: CMake and pyproject read it from here.
#define CHURN_VERSION_MAJOR 0
#define CHURN_VERSION_MINOR 1
#define CHURN_VERSION_PATCH 0
#define CHURN_VERSION_STRING "0.1.0"

namespace churn {
inline constexpr const char* version = CHURN_VERSION_STRING;
}  // namespace churn
