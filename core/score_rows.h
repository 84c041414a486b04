#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

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

// What evaluating labelled, scored predictions adds up (EvaluateLabelledRows), over one group:
// the caller sizes and zeroes it with Reset() and adds it to the bucket once per group.
struct LabelledRowSums {
  void Reset(int k, int bins);

  // Per class c: the sum over rows of (p_c - [c == actual])^2, the Brier sum.
  std::vector<double> brier;
  // Per calibration bin of the top score: rows, rows whose top class is the true one, and the sum
  // of their top scores.
  std::vector<uint64_t> calibration_count;
  std::vector<uint64_t> calibration_correct;
  std::vector<double> calibration_confidence;
  // The sum of the rows' top scores (of calibration_confidence).
  double Confidence() const;
  // The log loss sum, -sum log(clip(p_actual) / clipped_sum), kept as the two products
  // log_numerator / log_denominator * 2^log_exponent so that no row costs a logarithm or a
  // division; NegLogSum() takes the logarithm.
  double log_numerator = 1;
  double log_denominator = 1;
  int64_t log_exponent = 0;
  double NegLogSum() const;
};

// Evaluates rows [0, rows) of `k` scores (k >= 1, model class order) whose true classes are
// actual[0..rows), each in [0, k), in one pass over the scores: writes each row's summary to
// out[r] (what SummarizeRows writes) and adds its Brier terms (AddSquares plus the true class's
// 1 - 2 p_actual), log loss term, calibration bin (`bins` equal-width bins of the top score) and
// top score to `sums`. Returns whether every score lies in [0, 1] (no NaN); when it returns
// false, `out` and `sums` hold what the invalid scores made of them and must be discarded.
bool EvaluateLabelledRows(const float* scores, size_t rows, int k, const int32_t* actual, int bins,
                          RowSummary* out, LabelledRowSums& sums);

// The two kernels behind each function above (the AVX2 ones only where CpuHasAvx2()).
void SummarizeRowsPortable(const float* scores, size_t rows, int k, RowSummary* out);
void SummarizeRowsAvx2(const float* scores, size_t rows, int k, RowSummary* out);
void AddSquaresPortable(const float* scores, int k, std::span<const uint32_t> rows,
                        double* squares);
void AddSquaresAvx2(const float* scores, int k, std::span<const uint32_t> rows, double* squares);
bool EvaluateLabelledRowsPortable(const float* scores, size_t rows, int k, const int32_t* actual,
                                  int bins, RowSummary* out, LabelledRowSums& sums);
bool EvaluateLabelledRowsAvx2(const float* scores, size_t rows, int k, const int32_t* actual,
                              int bins, RowSummary* out, LabelledRowSums& sums);

}  // namespace modelwatch::core
