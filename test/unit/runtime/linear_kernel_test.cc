// The decode product's contract: a row's output depends only on that row and the weights — the same bits whether it
// is multiplied alone, among many rows, at any place in the call, or with the output columns split over calls — and
// it is x W^T (close to a double-precision reference). A lone decode row multiplies alone because of it.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "runtime/linear_kernel.h"

using namespace ll;

namespace {

std::vector<float> normal_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

std::vector<float> multiply(const std::vector<float>& x, const std::vector<float>& w, int64_t rows, int64_t in,
                            int64_t out) {
  std::vector<float> y(static_cast<size_t>(rows * out));
  linear_rows(LinearShape{rows, in, out}, x.data(), w.data(), y.data(), 0, out);
  return y;
}

bool same_bits(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

}  // namespace

TEST_CASE("LoneRowHasTheBitsItHasAmongOtherRows", "[linear_kernel]") {
  // Odd sizes too: inputs not a multiple of the 8 lanes, outputs not a multiple of the 4-row tile.
  for (auto [in, out] : std::vector<std::pair<int64_t, int64_t>>{{512, 1536}, {1376, 512}, {61, 23}, {7, 5}}) {
    const int64_t rows = 9;
    const auto x = normal_values(static_cast<size_t>(rows * in), 1);
    const auto w = normal_values(static_cast<size_t>(out * in), 2);
    const auto all = multiply(x, w, rows, in, out);
    for (int64_t r = 0; r < rows; ++r) {
      const std::vector<float> one(x.begin() + r * in, x.begin() + (r + 1) * in);
      const auto alone = multiply(one, w, 1, in, out);
      INFO("in " << in << " out " << out << " row " << r);
      REQUIRE(same_bits(alone.data(), all.data() + r * out, static_cast<size_t>(out)));
    }
  }
}

TEST_CASE("SplittingTheOutputColumnsChangesNoBit", "[linear_kernel]") {
  const int64_t rows = 3, in = 100, out = 37;
  const auto x = normal_values(static_cast<size_t>(rows * in), 3);
  const auto w = normal_values(static_cast<size_t>(out * in), 4);
  const auto whole = multiply(x, w, rows, in, out);
  std::vector<float> split(whole.size(), NAN);
  const LinearShape shape{rows, in, out};
  // Splits at tile boundaries (as the operator splits over threads) and at odd columns.
  for (auto [begin, end] : std::vector<std::pair<int64_t, int64_t>>{{0, 8}, {8, 9}, {9, 30}, {30, 37}}) {
    linear_rows(shape, x.data(), w.data(), split.data(), begin, end);
  }
  REQUIRE(same_bits(whole.data(), split.data(), whole.size()));
}

TEST_CASE("ProductIsCloseToADoubleReference", "[linear_kernel]") {
  const int64_t rows = 4, in = 300, out = 50;
  const auto x = normal_values(static_cast<size_t>(rows * in), 5);
  const auto w = normal_values(static_cast<size_t>(out * in), 6);
  const auto y = multiply(x, w, rows, in, out);
  double worst = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double expected = 0;
      for (int64_t k = 0; k < in; ++k) expected += static_cast<double>(x[r * in + k]) * w[o * in + k];
      worst = std::max(worst, std::abs(expected - y[r * out + o]));
    }
  }
  REQUIRE(worst < 1e-3);  // sums of 300 products of unit normals: float rounding is ~1e-5 here
  REQUIRE(worst > 0.0);   // and it really is float arithmetic, not a copy of the reference
}
