// churn._churn.build_info(): how this module was compiled, for bug reports and for checking that a
// wheel is portable (the reader's inline simdjson code uses the "fallback" kernel) or a native build
// uses the host's SIMD ("haswell"). Every binding TU is compiled with the same flags, so this TU's
// answer is the module's.
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
        // simdjson's stage 1 (structural indexing, UTF-8 validation: the SIMD-heavy part) is not inline:
        // libsimdjson chooses it when it runs, for this CPU, whatever the flags above.
        info["simd_runtime"] = simdjson::get_active_implementation()->name();
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
      "How the compiled core was built: {'version', 'simd' (the kernel of simdjson's inline on-demand code, "
      "chosen at compile time: 'fallback' is portable, 'haswell' needs AVX2), 'simd_runtime' (the kernel "
      "libsimdjson chose at run time for this CPU, which does stage 1), 'avx2', 'simdjson', 'compiler', "
      "'debug'}.");
}
