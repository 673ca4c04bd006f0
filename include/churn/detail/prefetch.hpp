#pragma once
// A hint to load a cache line ahead of use; no effect on results. Where the compiler offers no
// builtin it does nothing.
namespace churn::detail {

inline void prefetch(const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p);
#else
  (void)p;
#endif
}

/// Prefetches the `bytes` bytes from `p` on (each 64-byte line they touch).
inline void prefetch(const void* p, unsigned bytes) noexcept {
  const char* c = static_cast<const char*>(p);
  for (unsigned at = 0; at < bytes; at += 64) prefetch(c + at);
  prefetch(c + bytes - 1);
}

}  // namespace churn::detail
