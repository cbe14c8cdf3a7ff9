// Every y[r][o] is one dot product with an order fixed by the source: 8 partial sums over the input (lane l takes
// inputs l, l + 8, ...), combined in one fixed tree — the attention kernel's order. The file is compiled with
// -ffp-contract=off (CMakeLists.txt) so the compiler may vectorise across lanes but never fuse or reassociate.
// Four weight rows are taken at a time (four independent sums in flight; the rows stay in L1 while every x row
// passes), which changes nothing in any single sum.
#include "runtime/linear_kernel.h"

#include <cstring>

// Lanes never cross a function boundary (every helper is inlined); the vector-ABI note does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace ll {
namespace {

// Eight float lanes; GCC lowers lane-wise operations to one AVX register or two SSE/NEON registers, the same sums in
// each (no FMA: -ffp-contract=off).
typedef float Lanes __attribute__((vector_size(32)));

inline __attribute__((always_inline)) Lanes load(const float* p) {
  Lanes v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The lanes' sum in a fixed tree, after the inputs past the last multiple of 8 were added to lanes 0, 1, ...
inline __attribute__((always_inline)) float finish(const Lanes& acc, const float* a, const float* b, int64_t d,
                                                   int64_t n) {
  float lane[8];
  std::memcpy(lane, &acc, sizeof lane);
  for (int l = 0; d < n; ++d, ++l) lane[l] += a[d] * b[d];
  return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
}

inline __attribute__((always_inline)) float dot(const float* a, const float* b, int64_t n) {
  Lanes acc = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t d = 0;
  for (; d + 8 <= n; d += 8) acc += load(a + d) * load(b + d);
  return finish(acc, a, b, d, n);
}

// Four dot products of one x row with four weight rows, each summed exactly as dot() sums it.
inline __attribute__((always_inline)) void dot4(const float* x, const float* w0, const float* w1, const float* w2,
                                                const float* w3, int64_t n, float* out) {
  Lanes a0 = {0, 0, 0, 0, 0, 0, 0, 0}, a1 = a0, a2 = a0, a3 = a0;
  int64_t d = 0;
  for (; d + 8 <= n; d += 8) {
    const Lanes v = load(x + d);
    a0 += v * load(w0 + d);
    a1 += v * load(w1 + d);
    a2 += v * load(w2 + d);
    a3 += v * load(w3 + d);
  }
  out[0] = finish(a0, x, w0, d, n);
  out[1] = finish(a1, x, w1, d, n);
  out[2] = finish(a2, x, w2, d, n);
  out[3] = finish(a3, x, w3, d, n);
}

}  // namespace

// x86-64: AVX-512 and AVX2 builds of the same source, chosen at run time; 8 lanes hold the same sums in each.
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void linear_rows(const LinearShape& s, const float* x, const float* w, float* y, int64_t out_begin, int64_t out_end) {
  const int64_t in = s.in_features;
  int64_t o = out_begin;
  for (; o + 4 <= out_end; o += 4) {
    const float* w0 = w + o * in;
    for (int64_t r = 0; r < s.rows; ++r) {
      float four[4];
      dot4(x + r * in, w0, w0 + in, w0 + 2 * in, w0 + 3 * in, in, four);
      float* yr = y + r * s.out_features + o;
      yr[0] = four[0];
      yr[1] = four[1];
      yr[2] = four[2];
      yr[3] = four[3];
    }
  }
  for (; o < out_end; ++o) {
    for (int64_t r = 0; r < s.rows; ++r) y[r * s.out_features + o] = dot(x + r * in, w + o * in, in);
  }
}

}  // namespace ll
