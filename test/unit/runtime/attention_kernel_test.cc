// The attention kernel's contract: a row's output depends only on its position and the cache — the same bits whether
// it is computed alone, among many rows, or with the heads split over calls — and it is attention (close to a
// double-precision reference).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "runtime/attention_kernel.h"

using namespace ll;

namespace {

struct Case {
  AttentionShape shape;
  std::vector<float> q, keys, values;
};

Case make_case(int64_t rows, int64_t n_heads, int64_t n_kv, int64_t hd, int64_t context, int64_t start) {
  Case c;
  c.shape = AttentionShape{rows, n_heads, n_kv, context, hd, start, 1.0f / std::sqrt(static_cast<float>(hd))};
  std::mt19937 rng(static_cast<uint32_t>(rows * 131 + hd));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto* v : {&c.q, &c.keys, &c.values}) {
    const size_t n = v == &c.q ? static_cast<size_t>(rows * n_heads * hd) : static_cast<size_t>(n_kv * context * hd);
    for (size_t i = 0; i < n; ++i) v->push_back(normal(rng));
  }
  return c;
}

std::vector<float> run(const Case& c, const AttentionShape& shape, const float* q) {
  std::vector<float> out(static_cast<size_t>(shape.rows * shape.n_heads * shape.head_dim));
  attend_causal(shape, q, c.keys.data(), c.values.data(), out.data(), 0, shape.n_kv_heads);
  return out;
}

}  // namespace

TEST_CASE("AttentionRowIsTheSameBitsAloneOrAmongOthers", "[runtime][attention]") {
  // Head sizes on and off the kernel's eight lanes; grouped-query and plain.
  for (const auto& [n_heads, n_kv, hd] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{6, 2, 12}, {8, 8, 64}}) {
    const int64_t rows = 37, start = 90, context = 160;
    const Case c = make_case(rows, n_heads, n_kv, hd, context, start);
    const std::vector<float> together = run(c, c.shape, c.q.data());
    const size_t row_size = static_cast<size_t>(n_heads * hd);
    size_t differing = 0;
    for (int64_t r = 0; r < rows; ++r) {
      AttentionShape one = c.shape;
      one.rows = 1;
      one.start_pos = start + r;
      const std::vector<float> alone = run(c, one, c.q.data() + r * static_cast<int64_t>(row_size));
      differing += std::memcmp(alone.data(), together.data() + r * static_cast<int64_t>(row_size),
                               row_size * sizeof(float)) != 0;
    }
    INFO("head size " << hd << ", " << n_heads << " heads over " << n_kv << " kv heads");
    CHECK(differing == 0);

    // Heads split over two calls (as two threads would) write the same bits.
    std::vector<float> split(together.size());
    attend_causal(c.shape, c.q.data(), c.keys.data(), c.values.data(), split.data(), 0, 1);
    attend_causal(c.shape, c.q.data(), c.keys.data(), c.values.data(), split.data(), 1, n_kv);
    CHECK(std::memcmp(split.data(), together.data(), split.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("AttentionMatchesADoublePrecisionReference", "[runtime][attention]") {
  const int64_t rows = 5, n_heads = 6, n_kv = 2, hd = 12, context = 40, start = 20;
  const Case c = make_case(rows, n_heads, n_kv, hd, context, start);
  const std::vector<float> out = run(c, c.shape, c.q.data());
  double worst = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t h = 0; h < n_heads; ++h) {
      const int64_t kv = h / (n_heads / n_kv), length = start + r + 1;
      const float* q = c.q.data() + (r * n_heads + h) * hd;
      std::vector<double> w(static_cast<size_t>(length));
      double top = -INFINITY, total = 0;
      for (int64_t j = 0; j < length; ++j) {
        double s = 0;
        for (int64_t d = 0; d < hd; ++d) s += double(q[d]) * c.keys[static_cast<size_t>((kv * context + j) * hd + d)];
        w[static_cast<size_t>(j)] = s * c.shape.scale;
        top = std::max(top, w[static_cast<size_t>(j)]);
      }
      for (auto& x : w) total += (x = std::exp(x - top));
      for (int64_t d = 0; d < hd; ++d) {
        double expect = 0;
        for (int64_t j = 0; j < length; ++j)
          expect += w[static_cast<size_t>(j)] * c.values[static_cast<size_t>((kv * context + j) * hd + d)];
        expect /= total;
        worst = std::max(worst, std::abs(expect - out[static_cast<size_t>((r * n_heads + h) * hd + d)]));
      }
    }
  }
  CHECK(worst < 1e-5);
  // The last row attends to one more position than the row before it: a kernel ignoring causality fails here.
  AttentionShape earlier = c.shape;
  earlier.start_pos = start - 1;
  CHECK(run(c, earlier, c.q.data()) != out);
}
