#pragma once
// The step at the heart of batch prediction: the rows that reached a node are split into those going
// left (kept first, in order) and those going right (after them, in order). random_forest runs it once
// per node and block of rows (random_forest::walk_partition).
//
// Two kernels give the same result, element for element: a portable branch-free loop, and on x86-64
// processors with AVX-512 a loop that takes 16 rows at a time (gather, compare, compress). The wide one
// costs about 0.64 ns a row instead of 0.89 on the development machine (bench/bench_predict_floor.cpp)
// and is chosen at run time, so that a build for any x86-64 processor uses it where it exists.
#include <algorithm>
#include <cstdint>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define CHURN_HAS_AVX512_SPLIT 1
#endif

namespace churn::detail {

/// Splits first[0, count) by `column[row] <= threshold` (NaN goes left when `missing_left`), keeping the
/// order within each side; `right` is scratch of at least `count` entries. Returns the left count.
using split_rows_fn = std::uint32_t (*)(const float* column, std::uint32_t* first, std::uint32_t* right,
                                        std::uint32_t count, float threshold, bool missing_left);

// Without branches on the comparison: each row is written to both sides, and only its own side's
// count advances (a mispredicted branch per row would cost more than the extra store).
template <bool MissingLeft>
inline std::uint32_t split_rows_scalar_loop(const float* column, std::uint32_t* first, std::uint32_t* right,
                                            std::uint32_t begin, std::uint32_t count, float threshold,
                                            std::uint32_t nl, std::uint32_t nr) noexcept {
  for (std::uint32_t i = begin; i < count; ++i) {
    const std::uint32_t r = first[i];
    // NaN compares false: "not greater" sends it left, "less or equal" right.
    const bool left = MissingLeft ? !(column[r] > threshold) : column[r] <= threshold;
    first[nl] = r;
    right[nr] = r;
    nl += left;
    nr += !left;
  }
  std::copy(right, right + nr, first + nl);
  return nl;
}

inline std::uint32_t split_rows_scalar(const float* column, std::uint32_t* first, std::uint32_t* right,
                                       std::uint32_t count, float threshold, bool missing_left) noexcept {
  return missing_left ? split_rows_scalar_loop<true>(column, first, right, 0, count, threshold, 0, 0)
                      : split_rows_scalar_loop<false>(column, first, right, 0, count, threshold, 0, 0);
}

#ifdef CHURN_HAS_AVX512_SPLIT
template <bool MissingLeft>
__attribute__((target("avx512f"))) inline std::uint32_t split_rows_avx512_loop(
    const float* column, std::uint32_t* first, std::uint32_t* right, std::uint32_t count, float threshold) noexcept {
  const __m512 t = _mm512_set1_ps(threshold);
  std::uint32_t nl = 0, nr = 0, i = 0;
  // Each store writes 16 lanes from position nl (or nr) <= i: never past the rows already read, and
  // never past `count`, because i + 16 <= count.
  for (; i + 16 <= count; i += 16) {
    const __m512i rows = _mm512_loadu_si512(first + i);
    // The masked gather with an explicit source: the plain one trips GCC 12's maybe-uninitialized check.
    const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), 0xFFFF, rows, column, 4);
    const __mmask16 left = _mm512_cmp_ps_mask(v, t, MissingLeft ? _CMP_NGT_UQ : _CMP_LE_OQ);
    // Register-form compress and a plain store: the memory form is microcoded and slow on AMD.
    _mm512_storeu_si512(first + nl, _mm512_maskz_compress_epi32(left, rows));
    _mm512_storeu_si512(right + nr, _mm512_maskz_compress_epi32(static_cast<__mmask16>(~left), rows));
    const auto n = static_cast<std::uint32_t>(__builtin_popcount(left));
    nl += n;
    nr += 16 - n;
  }
  return split_rows_scalar_loop<MissingLeft>(column, first, right, i, count, threshold, nl, nr);
}

inline std::uint32_t split_rows_avx512(const float* column, std::uint32_t* first, std::uint32_t* right,
                                       std::uint32_t count, float threshold, bool missing_left) noexcept {
  return missing_left ? split_rows_avx512_loop<true>(column, first, right, count, threshold)
                      : split_rows_avx512_loop<false>(column, first, right, count, threshold);
}
#endif

/// Whether this processor runs split_rows_avx512 (false where it was not compiled in).
inline bool has_avx512_split() noexcept {
#ifdef CHURN_HAS_AVX512_SPLIT
  return __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

/// The fastest kernel this processor runs.
inline split_rows_fn best_split_rows() noexcept {
#ifdef CHURN_HAS_AVX512_SPLIT
  if (has_avx512_split()) return split_rows_avx512;
#endif
  return split_rows_scalar;
}

}  // namespace churn::detail
