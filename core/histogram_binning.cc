#include "core/histogram_binning.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#if MODELWATCH_X86_KERNELS
#define MODELWATCH_TARGET_AVX2 __attribute__((target("avx2")))
#else
#define MODELWATCH_TARGET_AVX2
#endif

namespace modelwatch::core {
namespace {

// W floats, or W int32 counts, in one register: 4 for SSE2, 8 for AVX2 (GCC and Clang vector
// extensions; a comparison gives -1 per lane where it holds, 0 elsewhere).
template <int W>
struct Lanes;
template <>
struct Lanes<4> {
  using Float = float __attribute__((vector_size(16)));
  using Int = int32_t __attribute__((vector_size(16)));
};
template <>
struct Lanes<8> {
  using Float = float __attribute__((vector_size(32)));
  using Int = int32_t __attribute__((vector_size(32)));
};
template <int W>
using FloatV = typename Lanes<W>::Float;
template <int W>
using IntV = typename Lanes<W>::Int;

// Loads W unaligned floats. Vectors are passed by reference, never returned: a 32-byte vector
// returned by value would have a different ABI in the baseline and the AVX2 build.
template <int W>
__attribute__((always_inline)) inline void Load(const float* x, FloatV<W>& v) {
  std::memcpy(&v, x, sizeof(v));
}

template <int W>
__attribute__((always_inline)) inline uint64_t SumLanes(const IntV<W>& v) {
  uint64_t sum = 0;
  for (int l = 0; l < W; ++l) sum += static_cast<uint32_t>(v[l]);
  return sum;
}

// Values are taken 2W at a time, their counts kept in two registers while every threshold is
// compared against them. Inlined into each target's entry point below, which compiles it for that
// instruction set.
template <int W>
__attribute__((always_inline)) inline void BinByThresholdsKernel(std::span<const float> thresholds,
                                                                 const float* x, size_t n,
                                                                 int32_t* bins) {
  size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    FloatV<W> v0;
    Load<W>(x + i, v0);
    FloatV<W> v1;
    Load<W>(x + i + W, v1);
    IntV<W> count0 = {};
    IntV<W> count1 = {};
    for (float t : thresholds) {
      const FloatV<W> tv = FloatV<W>{} + t;
      count0 -= v0 >= tv;
      count1 -= v1 >= tv;
    }
    std::memcpy(bins + i, &count0, sizeof(count0));
    std::memcpy(bins + i + W, &count1, sizeof(count1));
  }
  for (; i < n; ++i) {
    int32_t count = 0;
    for (float t : thresholds) count += x[i] >= t ? 1 : 0;
    bins[i] = count;
  }
}

// Thresholds are taken four at a time, kept in registers while the whole column streams past
// them 2W values at a time: two compares and two subtracts per threshold, into eight vector
// counters summed across lanes once per four thresholds.
template <int W>
__attribute__((always_inline)) inline void CountAtOrAboveKernel(std::span<const float> thresholds,
                                                                const float* x, size_t n,
                                                                uint64_t* at_or_above) {
  const size_t full = n / (2 * W) * (2 * W);
  size_t j = 0;
  for (; j + 4 <= thresholds.size(); j += 4) {
    const FloatV<W> t0 = FloatV<W>{} + thresholds[j];
    const FloatV<W> t1 = FloatV<W>{} + thresholds[j + 1];
    const FloatV<W> t2 = FloatV<W>{} + thresholds[j + 2];
    const FloatV<W> t3 = FloatV<W>{} + thresholds[j + 3];
    IntV<W> c0 = {}, c1 = {}, c2 = {}, c3 = {};
    for (size_t i = 0; i < full; i += 2 * W) {
      FloatV<W> v0;
      Load<W>(x + i, v0);
      FloatV<W> v1;
      Load<W>(x + i + W, v1);
      c0 -= (v0 >= t0) + (v1 >= t0);
      c1 -= (v0 >= t1) + (v1 >= t1);
      c2 -= (v0 >= t2) + (v1 >= t2);
      c3 -= (v0 >= t3) + (v1 >= t3);
    }
    at_or_above[j] += SumLanes<W>(c0);
    at_or_above[j + 1] += SumLanes<W>(c1);
    at_or_above[j + 2] += SumLanes<W>(c2);
    at_or_above[j + 3] += SumLanes<W>(c3);
  }
  for (; j < thresholds.size(); ++j) {
    const FloatV<W> t = FloatV<W>{} + thresholds[j];
    IntV<W> c = {};
    for (size_t i = 0; i < full; i += 2 * W) {
      FloatV<W> v0;
      FloatV<W> v1;
      Load<W>(x + i, v0);
      Load<W>(x + i + W, v1);
      c -= (v0 >= t) + (v1 >= t);
    }
    at_or_above[j] += SumLanes<W>(c);
  }
  for (size_t i = full; i < n; ++i) {
    for (size_t q = 0; q < thresholds.size(); ++q) at_or_above[q] += x[i] >= thresholds[q] ? 1 : 0;
  }
}

// A float times a small integer is exact in double, so the bin is the exact floor; the compiler
// vectorizes the loop.
__attribute__((always_inline)) inline void BinScoresKernel(int bins, const float* p, size_t n,
                                                           int32_t* out) {
  const double scale = bins;
  const int32_t last = bins - 1;
  for (size_t i = 0; i < n; ++i) {
    out[i] = std::min(static_cast<int32_t>(static_cast<double>(p[i]) * scale), last);
  }
}

}  // namespace

float FloatThreshold(double edge) {
  const float t = static_cast<float>(edge);
  return static_cast<double>(t) < edge ? std::nextafter(t, std::numeric_limits<float>::infinity())
                                       : t;
}

bool CpuHasAvx2() {
#if MODELWATCH_X86_KERNELS
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
#else
  return false;
#endif
}

void BinByThresholdsPortable(std::span<const float> thresholds, const float* x, size_t n,
                             int32_t* bins) {
  BinByThresholdsKernel<4>(thresholds, x, n, bins);
}

void CountAtOrAbovePortable(std::span<const float> thresholds, const float* x, size_t n,
                            uint64_t* at_or_above) {
  CountAtOrAboveKernel<4>(thresholds, x, n, at_or_above);
}

void BinScoresPortable(int bins, const float* p, size_t n, int32_t* out) {
  BinScoresKernel(bins, p, n, out);
}

MODELWATCH_TARGET_AVX2 void BinByThresholdsAvx2(std::span<const float> thresholds, const float* x,
                                                size_t n, int32_t* bins) {
  BinByThresholdsKernel<8>(thresholds, x, n, bins);
}

MODELWATCH_TARGET_AVX2 void CountAtOrAboveAvx2(std::span<const float> thresholds, const float* x,
                                               size_t n, uint64_t* at_or_above) {
  CountAtOrAboveKernel<8>(thresholds, x, n, at_or_above);
}

MODELWATCH_TARGET_AVX2 void BinScoresAvx2(int bins, const float* p, size_t n, int32_t* out) {
  BinScoresKernel(bins, p, n, out);
}

void BinByThresholds(std::span<const float> thresholds, const float* x, size_t n, int32_t* bins) {
  if (CpuHasAvx2()) {
    BinByThresholdsAvx2(thresholds, x, n, bins);
  } else {
    BinByThresholdsPortable(thresholds, x, n, bins);
  }
}

void CountAtOrAbove(std::span<const float> thresholds, const float* x, size_t n,
                    uint64_t* at_or_above) {
  if (CpuHasAvx2()) {
    CountAtOrAboveAvx2(thresholds, x, n, at_or_above);
  } else {
    CountAtOrAbovePortable(thresholds, x, n, at_or_above);
  }
}

void BinScores(int bins, const float* p, size_t n, int32_t* out) {
  if (CpuHasAvx2()) {
    BinScoresAvx2(bins, p, n, out);
  } else {
    BinScoresPortable(bins, p, n, out);
  }
}

}  // namespace modelwatch::core
