// The matrix product of decode rows, y = x W^T, computed so that a row's result depends only on that row and the
// weights — not on how many rows share the call, where the row sits, or how many threads run it. BLAS picks its
// kernels by row count (a 1-row and an 8-row sgemm differ in the last bits), which used to force every decode step
// to multiply 8 zero-padded rows; OpenBLAS then packed the whole weight matrix on every call, and a lone session paid
// about 1.7x the memory traffic of its one row. This kernel reads each weight once per call and needs no padding.
// Torch-free; the libtorch operator `lingualinked::linear_rows` (torch_shard_range.cc) wraps it.
// Thread-safety: pure function of its inputs; calls on disjoint output ranges may run concurrently.
#pragma once

#include <cstdint>

namespace ll {

struct LinearShape {
  int64_t rows = 0;          // rows of x and y
  int64_t in_features = 0;   // columns of x and of W
  int64_t out_features = 0;  // rows of W, columns of y
};

// x: [rows, in], w: [out, in], y: [rows, out], all contiguous float32. Computes output columns [out_begin, out_end)
// only, so a caller can split them over threads. Every y[r][o] is the same fixed-order dot product of x[r] and w[o].
void linear_rows(const LinearShape& shape, const float* x, const float* w, float* y, int64_t out_begin,
                 int64_t out_end);

}  // namespace ll
