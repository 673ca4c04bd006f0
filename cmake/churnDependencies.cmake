# Finds churn's C++ dependencies. A missing one stops the build with the Debian package to install.
include(CMakeFindDependencyMacro)

macro(churn_require package target debian)
  if(NOT TARGET ${target})
    find_package(${package} ${ARGN} QUIET)
  endif()
  if(NOT TARGET ${target})
    message(FATAL_ERROR
      "churn needs ${package} (CMake target ${target}), which was not found.\n"
      "On Debian/Ubuntu install it with:  apt-get install -y --no-install-recommends ${debian}")
  endif()
endmacro()

set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
churn_require(simdjson simdjson::simdjson libsimdjson-dev)
churn_require(nlohmann_json nlohmann_json::nlohmann_json nlohmann-json3-dev)
churn_require(Eigen3 Eigen3::Eigen libeigen3-dev NO_MODULE)
churn_require(ZLIB ZLIB::ZLIB zlib1g-dev)
