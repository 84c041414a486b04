#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

// The kernels use SSE2 and AVX2 on x86-64. On other CPUs (or built with
// -DMODELWATCH_PORTABLE_KERNELS) they are plain C++, and the "AVX2" entry points run the same code
// as the portable ones.
#if (defined(__x86_64__) || defined(__i386__)) && !defined(MODELWATCH_PORTABLE_KERNELS)
#define MODELWATCH_X86_KERNELS 1
#else
#define MODELWATCH_X86_KERNELS 0
#endif

namespace modelwatch::core {

// Column kernels of the drift histograms: they turn a group's float columns into bin indices,
// many values per instruction, so the per-event part of a histogram is one add.
//
// Each kernel exists twice: for the baseline x86-64 instruction set (SSE2), and for AVX2, chosen
// once at startup when the CPU has it (the daemon runs anywhere; on a CPU with AVX2 the wider
// kernel bins twice the values per instruction). Both give the same bins; the *Portable and *Avx2
// entry points are exposed so tests can check each against the scalar definition.
//
// Stateless and thread-safe.

// The float threshold of a double edge: the least float t with (double)t >= edge, so that for
// every float x, x >= t exactly when (double)x >= edge. Thresholds let a float column be binned
// against double edges (EdgeBin's bins) without converting each value.
float FloatThreshold(double edge);

// For each of the `n` values of `x`, the number of ascending `thresholds` at or below it, into
// `bins`: EdgeBin's bin for the edges the thresholds stand for (NaN falls in bin 0). Costs a
// compare and a subtract per threshold per 4 (SSE2) or 8 (AVX2) values, with no data-dependent
// branch.
void BinByThresholds(std::span<const float> thresholds, const float* x, size_t n, int32_t* bins);

// Adds to at_or_above[j] how many of the `n` values of `x` are at or above thresholds[j]: a
// column's histogram without binning each value (bin 0 holds n - at_or_above[0], bin b the
// difference at_or_above[b - 1] - at_or_above[b], the last bin at_or_above.back()). Costs a
// compare and a subtract per threshold per 4 (SSE2) or 8 (AVX2) values, and no per-value add.
void CountAtOrAbove(std::span<const float> thresholds, const float* x, size_t n,
                    uint64_t* at_or_above);

// For each of the `n` scores of `p`, all in [0, 1], its bin among `bins` equal-width bins into
// `out`: floor(p x bins) computed in double, 1.0 in the last bin (BucketLayout::ScoreBin).
void BinScores(int bins, const float* p, size_t n, int32_t* out);

// The two kernels behind each function above. CpuHasAvx2() is false off x86-64.
bool CpuHasAvx2();
void BinByThresholdsPortable(std::span<const float> thresholds, const float* x, size_t n,
                             int32_t* bins);
void CountAtOrAbovePortable(std::span<const float> thresholds, const float* x, size_t n,
                            uint64_t* at_or_above);
void BinScoresPortable(int bins, const float* p, size_t n, int32_t* out);
// Only where CpuHasAvx2().
void BinByThresholdsAvx2(std::span<const float> thresholds, const float* x, size_t n,
                         int32_t* bins);
void CountAtOrAboveAvx2(std::span<const float> thresholds, const float* x, size_t n,
                        uint64_t* at_or_above);
void BinScoresAvx2(int bins, const float* p, size_t n, int32_t* out);

}  // namespace modelwatch::core
