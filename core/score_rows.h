#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace modelwatch::core {

// Kernels over the score rows of a group: rows of `k` scores (k >= 1) in model class order, one
// row per prediction, stored one after another. They do the per-class work of evaluating scored
// predictions many classes per instruction, a whole group per call, so the per-event path only
// reads their results.
//
// Like the histogram kernels (core/histogram_binning.h), each exists for SSE2 and for AVX2,
// chosen once at startup, on x86-64, and as plain C++ elsewhere; the *Portable and *Avx2 entry
// points are exposed for tests. Scores must be finite (the ingest path checks them first).
// Stateless and thread-safe.

// What the evaluation of a scored prediction needs from its row.
struct RowSummary {
  // The top score and the lowest class holding it (numpy's argmax).
  float top = 0;
  int32_t top_class = 0;
  // The sum of the row's scores, each clipped to [eps, 1 - eps] with eps the double epsilon and
  // summed in double: the normalizer of scikit-learn's log_loss.
  double clipped_sum = 0;
};

// Summarizes `rows` rows starting at `scores` into out[0..rows).
void SummarizeRows(const float* scores, size_t rows, int k, RowSummary* out);

// Adds p_c * p_c (in double) to squares[c] for every class c of each row listed in `rows`
// (indices of rows starting at `scores`): the part of the Brier sums that does not depend on the
// label.
void AddSquares(const float* scores, int k, std::span<const uint32_t> rows, double* squares);

// The two kernels behind each function above (the AVX2 ones only where CpuHasAvx2()).
void SummarizeRowsPortable(const float* scores, size_t rows, int k, RowSummary* out);
void SummarizeRowsAvx2(const float* scores, size_t rows, int k, RowSummary* out);
void AddSquaresPortable(const float* scores, int k, std::span<const uint32_t> rows,
                        double* squares);
void AddSquaresAvx2(const float* scores, int k, std::span<const uint32_t> rows, double* squares);

}  // namespace modelwatch::core
