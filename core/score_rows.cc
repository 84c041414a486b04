#include "core/score_rows.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "core/bucket_layout.h"
#include "core/histogram_binning.h"

#if MODELWATCH_X86_KERNELS
#include <immintrin.h>
#endif

namespace modelwatch::core {
namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();

#if MODELWATCH_X86_KERNELS
// The operations the kernels need, on W floats at a time: SSE2 registers (W = 4) or AVX2 ones
// (W = 8). Doubles take two registers per W floats, `lo` and `hi`.
template <int W>
struct Simd;

template <>
struct Simd<4> {
  using F = __m128;
  using D = __m128d;
  static F Load(const float* p) { return _mm_loadu_ps(p); }
  static F Max(F a, F b) { return _mm_max_ps(a, b); }
  static float MaxLane(F v) {
    v = _mm_max_ps(v, _mm_shuffle_ps(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
    v = _mm_max_ps(v, _mm_shuffle_ps(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtss_f32(v);
  }
  // Bit l set where lane l of `v` equals `x`.
  static int EqualLanes(F v, float x) { return _mm_movemask_ps(_mm_cmpeq_ps(v, _mm_set1_ps(x))); }
  static D Zero() { return _mm_setzero_pd(); }
  static D Lo(F v) { return _mm_cvtps_pd(v); }
  static D Hi(F v) { return _mm_cvtps_pd(_mm_movehl_ps(v, v)); }
  static D Clip(D x) { return _mm_min_pd(_mm_max_pd(x, _mm_set1_pd(kEps)), _mm_set1_pd(1 - kEps)); }
  static D Add(D a, D b) { return _mm_add_pd(a, b); }
  static D Mul(D a, D b) { return _mm_mul_pd(a, b); }
  static D LoadD(const double* p) { return _mm_loadu_pd(p); }
  static void StoreD(double* p, D v) { _mm_storeu_pd(p, v); }
  static constexpr int kDoubles = 2;
  static double SumLanes(D v) { return _mm_cvtsd_f64(_mm_add_sd(v, _mm_unpackhi_pd(v, v))); }
  // All ones in the lanes where keep[l] is not 0.
  static D KeepMask(const double* keep) { return _mm_cmpneq_pd(_mm_loadu_pd(keep), Zero()); }
  static D And(D a, D b) { return _mm_and_pd(a, b); }
  // All ones in the lanes of `v` that lie in [0, 1] (not NaN).
  static F InUnit(F v) {
    return _mm_and_ps(_mm_cmpge_ps(v, _mm_setzero_ps()), _mm_cmple_ps(v, _mm_set1_ps(1.0f)));
  }
  static F AndF(F a, F b) { return _mm_and_ps(a, b); }
  static F AllOnes() { return _mm_castsi128_ps(_mm_set1_epi32(-1)); }
  static bool AllLanes(F mask) { return _mm_movemask_ps(mask) == 0xF; }
};

// AVX2 members carry the target attribute: they compile for AVX2 and can be inlined only into
// AVX2 code, which the AVX2 entry points below are once `flatten` has inlined the kernel into
// them. The kernel's AVX2 instantiation exists only inlined there, so the AVX vectors it passes
// never cross a function boundary compiled without AVX (what -Wpsabi warns about).
#pragma GCC diagnostic ignored "-Wpsabi"
#define MODELWATCH_AVX2 __attribute__((target("avx2"))) static inline

template <>
struct Simd<8> {
  using F = __m256;
  using D = __m256d;
  MODELWATCH_AVX2 F Load(const float* p) { return _mm256_loadu_ps(p); }
  MODELWATCH_AVX2 F Max(F a, F b) { return _mm256_max_ps(a, b); }
  MODELWATCH_AVX2 float MaxLane(F v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_shuffle_ps(m, m, _MM_SHUFFLE(1, 0, 3, 2)));
    m = _mm_max_ps(m, _mm_shuffle_ps(m, m, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtss_f32(m);
  }
  MODELWATCH_AVX2 int EqualLanes(F v, float x) {
    return _mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_set1_ps(x), _CMP_EQ_OQ));
  }
  MODELWATCH_AVX2 D Zero() { return _mm256_setzero_pd(); }
  MODELWATCH_AVX2 D Lo(F v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
  MODELWATCH_AVX2 D Hi(F v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }
  MODELWATCH_AVX2 D Clip(D x) {
    return _mm256_min_pd(_mm256_max_pd(x, _mm256_set1_pd(kEps)), _mm256_set1_pd(1 - kEps));
  }
  MODELWATCH_AVX2 D Add(D a, D b) { return _mm256_add_pd(a, b); }
  MODELWATCH_AVX2 D Mul(D a, D b) { return _mm256_mul_pd(a, b); }
  MODELWATCH_AVX2 D LoadD(const double* p) { return _mm256_loadu_pd(p); }
  MODELWATCH_AVX2 void StoreD(double* p, D v) { _mm256_storeu_pd(p, v); }
  static constexpr int kDoubles = 4;
  MODELWATCH_AVX2 double SumLanes(D v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
  }
  MODELWATCH_AVX2 D KeepMask(const double* keep) {
    return _mm256_cmp_pd(_mm256_loadu_pd(keep), _mm256_setzero_pd(), _CMP_NEQ_OQ);
  }
  MODELWATCH_AVX2 D And(D a, D b) { return _mm256_and_pd(a, b); }
  MODELWATCH_AVX2 F InUnit(F v) {
    return _mm256_and_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ),
                         _mm256_cmp_ps(v, _mm256_set1_ps(1.0f), _CMP_LE_OQ));
  }
  MODELWATCH_AVX2 F AndF(F a, F b) { return _mm256_and_ps(a, b); }
  MODELWATCH_AVX2 F AllOnes() { return _mm256_castsi256_ps(_mm256_set1_epi32(-1)); }
  MODELWATCH_AVX2 bool AllLanes(F mask) { return _mm256_movemask_ps(mask) == 0xFF; }
};

#undef MODELWATCH_AVX2

#endif  // MODELWATCH_X86_KERNELS

double Clip(float p) { return std::min(std::max<double>(p, kEps), 1 - kEps); }

// Rows one class at a time: rows of fewer classes than a register holds, or every row where
// there are no vector kernels.
inline void SummarizeShortRows(const float* scores, size_t rows, int k, RowSummary* out) {
  for (size_t r = 0; r < rows; ++r) {
    const float* p = scores + r * static_cast<size_t>(k);
    float top = p[0];
    double sum = 0;
    for (int c = 0; c < k; ++c) {
      top = std::max(top, p[c]);
      sum += Clip(p[c]);
    }
    int top_class = k - 1;
    for (int c = k - 1; c >= 0; --c) top_class = p[c] == top ? c : top_class;
    out[r] = RowSummary{top, top_class, sum};
  }
}

// Squares one class at a time over the rows, in two independent sums: rows of fewer classes
// than a register holds, or every row where there are no vector kernels.
inline void AddSquaresByClass(const float* scores, int k, std::span<const uint32_t> rows,
                              double* squares) {
  const size_t stride = static_cast<size_t>(k);
  for (int c = 0; c < k; ++c) {
    double even = 0;
    double odd = 0;
    size_t i = 0;
    for (; i + 2 <= rows.size(); i += 2) {
      const double a = scores[rows[i] * stride + c];
      const double b = scores[rows[i + 1] * stride + c];
      even += a * a;
      odd += b * b;
    }
    if (i < rows.size()) {
      const double a = scores[rows[i] * stride + c];
      even += a * a;
    }
    squares[c] += even + odd;
  }
}

// Where the log loss products are brought back to [0.5, 1) before they can underflow or overflow.
constexpr double kProductLow = 0x1p-900;
constexpr double kProductHigh = 0x1p900;

// What every EvaluateLabelledRows kernel does with a row once it has the row's summary: the true
// class's Brier and log loss terms and the calibration bin of its top score (the bins' sums also
// give the sum of the top scores, so no running sum keeps it). The running products are locals of
// the kernel (this object is never addressed outside it), so they stay in registers for the whole
// pass.
struct LabelledRowTail {
  explicit LabelledRowTail(LabelledRowSums& sums, int bins)
      : brier(sums.brier.data()),
        count(sums.calibration_count.data()),
        correct(sums.calibration_correct.data()),
        calibration_confidence(sums.calibration_confidence.data()),
        bins(bins),
        numerator(sums.log_numerator),
        denominator(sums.log_denominator),
        exponent(sums.log_exponent) {}

  void Add(const RowSummary& row, float p_actual, int32_t actual) {
    brier[actual] += 1.0 - 2.0 * static_cast<double>(p_actual);
    numerator *= Clip(p_actual);
    denominator *= row.clipped_sum;
    // One branch for both products, rarely taken: a row multiplies either by at least 2^-52.
    if ((numerator < kProductLow) | (denominator < kProductLow) | (denominator > kProductHigh))
        [[unlikely]] {
      int e = 0;
      numerator = std::frexp(numerator, &e);
      exponent += e;
      denominator = std::frexp(denominator, &e);
      exponent -= e;
    }
    const int bin = BucketLayout::EqualWidthBin(row.top, bins);
    ++count[bin];
    correct[bin] += row.top_class == actual ? 1 : 0;
    calibration_confidence[bin] += row.top;
  }

  void Finish(LabelledRowSums& sums) const {
    sums.log_numerator = numerator;
    sums.log_denominator = denominator;
    sums.log_exponent = exponent;
  }

  double* brier;
  uint64_t* count;
  uint64_t* correct;
  double* calibration_confidence;
  int bins;
  double numerator;
  double denominator;
  int64_t exponent;
};

// Rows one class at a time: any class count, and every row where there are no vector kernels.
inline bool EvaluateLabelledRowsByClass(const float* scores, size_t rows, int k,
                                        const int32_t* actual, RowSummary* out,
                                        LabelledRowTail& tail) {
  bool valid = true;
  for (size_t r = 0; r < rows; ++r) {
    const float* p = scores + r * static_cast<size_t>(k);
    float top = p[0];
    double sum = 0;
    for (int c = 0; c < k; ++c) {
      valid &= (p[c] >= 0.0f) & (p[c] <= 1.0f);
      top = std::max(top, p[c]);
      sum += Clip(p[c]);
      tail.brier[c] += static_cast<double>(p[c]) * static_cast<double>(p[c]);
    }
    int top_class = k - 1;
    for (int c = k - 1; c >= 0; --c) top_class = p[c] == top ? c : top_class;
    const RowSummary row{top, top_class, sum};
    out[r] = row;
    tail.Add(row, p[actual[r]], actual[r]);
  }
  return valid;
}

#if MODELWATCH_X86_KERNELS

// 1.0 for the lanes of the register at offset k - W that no whole register before it covers,
// 0.0 for the others: rows of k >= W classes end with a register that overlaps the one before it
// when W does not divide k, and the overlapped lanes must not be added twice.
template <int W>
struct TailKeep {
  explicit TailKeep(int k) {
    const int fresh = k % W == 0 ? W : k % W;
    for (int l = 0; l < W; ++l) keep[l] = l >= W - fresh ? 1.0 : 0.0;
  }
  double keep[W];
};

// Each row is read in whole registers, the last one at offset k - W (overlapping the one before
// when W does not divide k): the maximum ignores the overlap, the clipped sum masks it out. The
// argmax is the first lane equal to the maximum, register by register.
template <int W>
inline void SummarizeRowsKernel(const float* scores, size_t rows, int k, RowSummary* out) {
  using S = Simd<W>;
  if (k < W) {
    SummarizeShortRows(scores, rows, k, out);
    return;
  }
  const int last = k - W;
  const TailKeep<W> tail(k);
  const typename S::D keep_lo = S::LoadD(tail.keep);
  const typename S::D keep_hi = S::LoadD(tail.keep + S::kDoubles);
  for (size_t r = 0; r < rows; ++r) {
    const float* p = scores + r * static_cast<size_t>(k);
    typename S::F m = S::Load(p + last);
    typename S::D sum =
        S::Add(S::Mul(S::Clip(S::Lo(m)), keep_lo), S::Mul(S::Clip(S::Hi(m)), keep_hi));
    for (int c = 0; c < last; c += W) {
      const typename S::F v = S::Load(p + c);
      m = S::Max(m, v);
      sum = S::Add(sum, S::Add(S::Clip(S::Lo(v)), S::Clip(S::Hi(v))));
    }
    const float top = S::MaxLane(m);

    int top_class = -1;
    for (int c = 0; c < last && top_class < 0; c += W) {
      const int lanes = S::EqualLanes(S::Load(p + c), top);
      if (lanes != 0) top_class = c + std::countr_zero(static_cast<unsigned>(lanes));
    }
    if (top_class < 0) {
      const int lanes = S::EqualLanes(S::Load(p + last), top);
      top_class = last + std::countr_zero(static_cast<unsigned>(lanes | (1 << (W - 1))));
    }
    out[r] = RowSummary{top, top_class, S::SumLanes(sum)};
  }
}

// Class registers outside, rows inside, so each register's squares accumulate in registers
// (two rows at a time, in independent sums) and reach `squares` once per call.
template <int W>
inline void AddSquaresKernel(const float* scores, int k, std::span<const uint32_t> rows,
                             double* squares) {
  using S = Simd<W>;
  const size_t stride = static_cast<size_t>(k);
  if (k < W) {
    AddSquaresByClass(scores, k, rows, squares);
    return;
  }
  const int last = k - W;
  const TailKeep<W> tail(k);
  const TailKeep<W> all(W);
  for (int c = 0;; c += W) {
    // The registers at 0, W, 2W, ... while they end before `last`, then the one at `last`.
    const int at = std::min(c, last);
    const TailKeep<W>& mask = at == last && c != last ? tail : all;
    typename S::D lo0 = S::Zero(), hi0 = S::Zero(), lo1 = S::Zero(), hi1 = S::Zero();
    size_t i = 0;
    for (; i + 2 <= rows.size(); i += 2) {
      const typename S::F v0 = S::Load(scores + rows[i] * stride + at);
      const typename S::F v1 = S::Load(scores + rows[i + 1] * stride + at);
      const typename S::D l0 = S::Lo(v0), h0 = S::Hi(v0), l1 = S::Lo(v1), h1 = S::Hi(v1);
      lo0 = S::Add(lo0, S::Mul(l0, l0));
      hi0 = S::Add(hi0, S::Mul(h0, h0));
      lo1 = S::Add(lo1, S::Mul(l1, l1));
      hi1 = S::Add(hi1, S::Mul(h1, h1));
    }
    if (i < rows.size()) {
      const typename S::F v0 = S::Load(scores + rows[i] * stride + at);
      const typename S::D l0 = S::Lo(v0), h0 = S::Hi(v0);
      lo0 = S::Add(lo0, S::Mul(l0, l0));
      hi0 = S::Add(hi0, S::Mul(h0, h0));
    }
    const typename S::D keep_lo = S::LoadD(mask.keep);
    const typename S::D keep_hi = S::LoadD(mask.keep + S::kDoubles);
    S::StoreD(squares + at, S::Add(S::LoadD(squares + at), S::Mul(S::Add(lo0, lo1), keep_lo)));
    S::StoreD(squares + at + S::kDoubles,
              S::Add(S::LoadD(squares + at + S::kDoubles), S::Mul(S::Add(hi0, hi1), keep_hi)));
    if (at == last) break;
  }
}

// EvaluateLabelledRows over rows of k classes read in NR registers of W floats, the last at offset
// k - W (overlapping the one before when W does not divide k; with NR == 1, k == W). Each
// register's squares accumulate in registers, unmasked, and reach the Brier sums once per call,
// where the overlapped lanes of the last register are masked out. kLastLo: whether the low half
// of the last register holds a class no earlier register covers; when it does not, that half is
// not converted at all.
template <int W, int NR, bool kLastLo>
inline bool EvaluateLabelledKernel(const float* scores, size_t rows, int k, const int32_t* actual,
                                   RowSummary* out, LabelledRowTail& tail) {
  using S = Simd<W>;
  constexpr int H = S::kDoubles;
  const int last = k - W;
  auto offset = [last](int j) { return j == NR - 1 ? last : j * W; };
  const TailKeep<W> tail_keep(NR == 1 ? W : k);
  const typename S::D keep_lo = S::KeepMask(tail_keep.keep);
  const typename S::D keep_hi = S::KeepMask(tail_keep.keep + H);
  typename S::D sq_lo[NR];
  typename S::D sq_hi[NR];
  for (int j = 0; j < NR; ++j) sq_lo[j] = sq_hi[j] = S::Zero();
  typename S::F valid = S::AllOnes();

  for (size_t r = 0; r < rows; ++r) {
    const float* p = scores + r * static_cast<size_t>(k);
    typename S::F v[NR];
    for (int j = 0; j < NR; ++j) v[j] = S::Load(p + offset(j));
    typename S::F m = v[0];
    for (int j = 1; j < NR; ++j) m = S::Max(m, v[j]);
    for (int j = 0; j < NR; ++j) valid = S::AndF(valid, S::InUnit(v[j]));
    const float top = S::MaxLane(m);

    int top_class = -1;
    for (int j = 0; j < NR - 1 && top_class < 0; ++j) {
      const int lanes = S::EqualLanes(v[j], top);
      if (lanes != 0) top_class = j * W + std::countr_zero(static_cast<unsigned>(lanes));
    }
    if (top_class < 0) {
      const int lanes = S::EqualLanes(v[NR - 1], top);
      top_class = last + std::countr_zero(static_cast<unsigned>(lanes | (1 << (W - 1))));
    }

    typename S::D sum = S::Zero();
    for (int j = 0; j < NR - 1; ++j) {
      const typename S::D lo = S::Lo(v[j]);
      const typename S::D hi = S::Hi(v[j]);
      sq_lo[j] = S::Add(sq_lo[j], S::Mul(lo, lo));
      sq_hi[j] = S::Add(sq_hi[j], S::Mul(hi, hi));
      sum = S::Add(sum, S::Add(S::Clip(lo), S::Clip(hi)));
    }
    const typename S::D hi = S::Hi(v[NR - 1]);
    sq_hi[NR - 1] = S::Add(sq_hi[NR - 1], S::Mul(hi, hi));
    sum = S::Add(sum, S::And(S::Clip(hi), keep_hi));
    if constexpr (kLastLo) {
      const typename S::D lo = S::Lo(v[NR - 1]);
      sq_lo[NR - 1] = S::Add(sq_lo[NR - 1], S::Mul(lo, lo));
      sum = S::Add(sum, S::And(S::Clip(lo), keep_lo));
    }

    const RowSummary row{top, top_class, S::SumLanes(sum)};
    out[r] = row;
    tail.Add(row, p[actual[r]], actual[r]);
  }

  for (int j = 0; j < NR; ++j) {
    double* at = tail.brier + offset(j);
    const bool is_last = j == NR - 1;
    const typename S::D lo = is_last ? S::And(sq_lo[j], keep_lo) : sq_lo[j];
    const typename S::D hi = is_last ? S::And(sq_hi[j], keep_hi) : sq_hi[j];
    if (!is_last || kLastLo) S::StoreD(at, S::Add(S::LoadD(at), lo));
    S::StoreD(at + H, S::Add(S::LoadD(at + H), hi));
  }
  return S::AllLanes(valid);
}

// The kernel for `k` classes in registers of W floats, k in [W, kMaxRegisters * W]; false in
// `handled` outside that range.
template <int W, int NR>
inline bool EvaluateLabelledByWidth(const float* scores, size_t rows, int k, const int32_t* actual,
                                    RowSummary* out, LabelledRowTail& tail) {
  // The last register's lanes that no earlier one covers, and whether its low half holds any.
  const int fresh = k - (NR - 1) * W;
  if (NR == 1 || fresh > W / 2) {
    return EvaluateLabelledKernel<W, NR, true>(scores, rows, k, actual, out, tail);
  }
  return EvaluateLabelledKernel<W, NR, false>(scores, rows, k, actual, out, tail);
}

// Rows of k >= W classes in up to four registers of W floats; rows of other widths one class at a
// time.
template <int W>
inline bool EvaluateLabelledRowsKernel(const float* scores, size_t rows, int k,
                                       const int32_t* actual, RowSummary* out,
                                       LabelledRowTail& tail) {
  switch ((k + W - 1) / W) {
    case 1:
      if (k == W) return EvaluateLabelledByWidth<W, 1>(scores, rows, k, actual, out, tail);
      break;
    case 2:
      return EvaluateLabelledByWidth<W, 2>(scores, rows, k, actual, out, tail);
    case 3:
      return EvaluateLabelledByWidth<W, 3>(scores, rows, k, actual, out, tail);
    case 4:
      return EvaluateLabelledByWidth<W, 4>(scores, rows, k, actual, out, tail);
    default:
      break;
  }
  return EvaluateLabelledRowsByClass(scores, rows, k, actual, out, tail);
}
#endif  // MODELWATCH_X86_KERNELS

}  // namespace

#if MODELWATCH_X86_KERNELS

__attribute__((flatten)) void SummarizeRowsPortable(const float* scores, size_t rows, int k,
                                                    RowSummary* out) {
  SummarizeRowsKernel<4>(scores, rows, k, out);
}

__attribute__((flatten)) void AddSquaresPortable(const float* scores, int k,
                                                 std::span<const uint32_t> rows, double* squares) {
  AddSquaresKernel<4>(scores, k, rows, squares);
}

__attribute__((target("avx2"), flatten)) void SummarizeRowsAvx2(const float* scores, size_t rows,
                                                                int k, RowSummary* out) {
  SummarizeRowsKernel<8>(scores, rows, k, out);
}

__attribute__((target("avx2"), flatten)) void AddSquaresAvx2(const float* scores, int k,
                                                             std::span<const uint32_t> rows,
                                                             double* squares) {
  AddSquaresKernel<8>(scores, k, rows, squares);
}

__attribute__((flatten)) bool EvaluateLabelledRowsPortable(const float* scores, size_t rows, int k,
                                                           const int32_t* actual, int bins,
                                                           RowSummary* out, LabelledRowSums& sums) {
  LabelledRowTail tail(sums, bins);
  const bool valid = EvaluateLabelledRowsKernel<4>(scores, rows, k, actual, out, tail);
  tail.Finish(sums);
  return valid;
}

// Rows of 4 to 7 classes take the SSE2 registers, wider ones AVX2's.
__attribute__((target("avx2"), flatten)) bool EvaluateLabelledRowsAvx2(const float* scores,
                                                                       size_t rows, int k,
                                                                       const int32_t* actual,
                                                                       int bins, RowSummary* out,
                                                                       LabelledRowSums& sums) {
  LabelledRowTail tail(sums, bins);
  const bool valid = k < 8 ? EvaluateLabelledRowsKernel<4>(scores, rows, k, actual, out, tail)
                           : EvaluateLabelledRowsKernel<8>(scores, rows, k, actual, out, tail);
  tail.Finish(sums);
  return valid;
}

#else

void SummarizeRowsPortable(const float* scores, size_t rows, int k, RowSummary* out) {
  SummarizeShortRows(scores, rows, k, out);
}

void AddSquaresPortable(const float* scores, int k, std::span<const uint32_t> rows,
                        double* squares) {
  AddSquaresByClass(scores, k, rows, squares);
}

void SummarizeRowsAvx2(const float* scores, size_t rows, int k, RowSummary* out) {
  SummarizeShortRows(scores, rows, k, out);
}

void AddSquaresAvx2(const float* scores, int k, std::span<const uint32_t> rows, double* squares) {
  AddSquaresByClass(scores, k, rows, squares);
}

bool EvaluateLabelledRowsPortable(const float* scores, size_t rows, int k, const int32_t* actual,
                                  int bins, RowSummary* out, LabelledRowSums& sums) {
  LabelledRowTail tail(sums, bins);
  const bool valid = EvaluateLabelledRowsByClass(scores, rows, k, actual, out, tail);
  tail.Finish(sums);
  return valid;
}

bool EvaluateLabelledRowsAvx2(const float* scores, size_t rows, int k, const int32_t* actual,
                              int bins, RowSummary* out, LabelledRowSums& sums) {
  return EvaluateLabelledRowsPortable(scores, rows, k, actual, bins, out, sums);
}

#endif  // MODELWATCH_X86_KERNELS

void SummarizeRows(const float* scores, size_t rows, int k, RowSummary* out) {
  if (CpuHasAvx2()) {
    SummarizeRowsAvx2(scores, rows, k, out);
  } else {
    SummarizeRowsPortable(scores, rows, k, out);
  }
}

void AddSquares(const float* scores, int k, std::span<const uint32_t> rows, double* squares) {
  if (CpuHasAvx2()) {
    AddSquaresAvx2(scores, k, rows, squares);
  } else {
    AddSquaresPortable(scores, k, rows, squares);
  }
}

bool EvaluateLabelledRows(const float* scores, size_t rows, int k, const int32_t* actual, int bins,
                          RowSummary* out, LabelledRowSums& sums) {
  if (CpuHasAvx2()) return EvaluateLabelledRowsAvx2(scores, rows, k, actual, bins, out, sums);
  return EvaluateLabelledRowsPortable(scores, rows, k, actual, bins, out, sums);
}

void LabelledRowSums::Reset(int k, int bins) {
  brier.assign(static_cast<size_t>(k), 0.0);
  calibration_count.assign(static_cast<size_t>(bins), 0);
  calibration_correct.assign(static_cast<size_t>(bins), 0);
  calibration_confidence.assign(static_cast<size_t>(bins), 0.0);
  log_numerator = 1;
  log_denominator = 1;
  log_exponent = 0;
}

double LabelledRowSums::Confidence() const {
  double sum = 0;
  for (double c : calibration_confidence) sum += c;
  return sum;
}

double LabelledRowSums::NegLogSum() const {
  return -(std::log(log_numerator) - std::log(log_denominator) +
           static_cast<double>(log_exponent) * std::log(2.0));
}

}  // namespace modelwatch::core
