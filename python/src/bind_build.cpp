// churn._churn.build_info(): how this module was compiled, for bug reports and for checking that a
// wheel is portable (its reader uses simdjson's "fallback" kernel) or a native build uses the host's
// SIMD ("haswell"). Every binding TU is compiled with the same flags, so this TU's answer is the module's.
#include <string>

#include <pybind11/pybind11.h>

#include <churn/reader.hpp>
#include <churn/version.hpp>

namespace py = pybind11;

void bind_build(py::module_& m) {
  m.def(
      "build_info",
      []() {
        py::dict info;
        info["version"] = CHURN_VERSION_STRING;
        info["simd"] = churn::simd_kernel();
#if defined(__AVX2__)
        info["avx2"] = true;
#else
        info["avx2"] = false;
#endif
        info["simdjson"] = SIMDJSON_STRINGIFY(SIMDJSON_VERSION);
#if defined(__clang__)
        info["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
        info["compiler"] = std::string("gcc ") + __VERSION__;
#else
        info["compiler"] = std::string("unknown");
#endif
#if defined(NDEBUG)
        info["debug"] = false;
#else
        info["debug"] = true;
#endif
        return info;
      },
      "How the compiled core was built: {'version', 'simd' (simdjson's reader kernel: 'fallback' is "
      "portable, 'haswell' needs AVX2), 'avx2', 'simdjson', 'compiler', 'debug'}.");
}
