// Every reduction here has an order fixed by the source: 8 partial sums over the head dimension combined in one fixed
// tree, and a plain left-to-right sum over positions. The file is compiled with -ffp-contract=off (CMakeLists.txt)
// so the compiler may vectorise (lanes are independent) but never fuse or reassociate: a row's numbers are the same
// in every call shape.
#include "runtime/attention_kernel.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ll {
namespace {

inline __attribute__((always_inline)) float dot(const float* a, const float* b, int64_t n) {
  float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t d = 0;
  for (; d + 8 <= n; d += 8) {
    for (int l = 0; l < 8; ++l) lane[l] += a[d + l] * b[d + l];
  }
  for (int l = 0; d < n; ++d, ++l) lane[l] += a[d] * b[d];
  return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
}

}  // namespace

// x86-64: an AVX2 build of the same source, chosen at run time; lanes hold the same sums either way.
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx2", "default")))
#endif
void attend_causal(const AttentionShape& s, const float* q, const float* keys, const float* values, float* out,
                   int64_t kv_begin, int64_t kv_end) {
  const int64_t group = s.n_heads / s.n_kv_heads;
  const int64_t hd = s.head_dim;
  std::vector<float> weight(static_cast<size_t>(s.start_pos + s.rows));
  std::vector<float> acc(static_cast<size_t>(hd));
  for (int64_t kv = kv_begin; kv < kv_end; ++kv) {
    const float* k_head = keys + kv * s.context * hd;
    const float* v_head = values + kv * s.context * hd;
    for (int64_t r = 0; r < s.rows; ++r) {
      const int64_t length = s.start_pos + r + 1;
      for (int64_t g = 0; g < group; ++g) {
        const int64_t head = kv * group + g;
        const float* qh = q + (r * s.n_heads + head) * hd;
        float top = -INFINITY;
        for (int64_t j = 0; j < length; ++j) {
          weight[j] = dot(qh, k_head + j * hd, hd) * s.scale;
          top = std::max(top, weight[j]);
        }
        float total = 0;
        for (int64_t j = 0; j < length; ++j) {
          weight[j] = std::exp(weight[j] - top);
          total += weight[j];
        }
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t j = 0; j < length; ++j) {
          const float w = weight[j];
          const float* v = v_head + j * hd;
          for (int64_t d = 0; d < hd; ++d) acc[d] += w * v[d];
        }
        const float inv = 1.0f / total;
        float* o = out + (r * s.n_heads + head) * hd;
        for (int64_t d = 0; d < hd; ++d) o[d] = acc[d] * inv;
      }
    }
  }
}

}  // namespace ll
