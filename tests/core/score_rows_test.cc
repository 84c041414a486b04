#include "core/score_rows.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/histogram_binning.h"
#include "gtest/gtest.h"

namespace modelwatch::core {
namespace {

using SummarizeKernel = void (*)(const float*, size_t, int, RowSummary*);
using SquaresKernel = void (*)(const float*, int, std::span<const uint32_t>, double*);
using LabelledKernel = bool (*)(const float*, size_t, int, const int32_t*, int, RowSummary*,
                                LabelledRowSums&);

struct Kernels {
  const char* name;
  SummarizeKernel summarize;
  SquaresKernel squares;
  LabelledKernel labelled;
};

std::vector<Kernels> AvailableKernels() {
  std::vector<Kernels> kernels = {
      {"portable", SummarizeRowsPortable, AddSquaresPortable, EvaluateLabelledRowsPortable},
      {"dispatch", SummarizeRows, AddSquares, EvaluateLabelledRows}};
  if (CpuHasAvx2()) {
    kernels.push_back({"avx2", SummarizeRowsAvx2, AddSquaresAvx2, EvaluateLabelledRowsAvx2});
  }
  return kernels;
}

constexpr double kEps = std::numeric_limits<double>::epsilon();

// Rows of k scores with ties for the top score, zeros and ones (which the clip changes), values
// below the double epsilon, and random values.
std::vector<float> Rows(size_t rows, int k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  std::vector<float> out;
  for (size_t r = 0; r < rows; ++r) {
    for (int c = 0; c < k; ++c) out.push_back(uniform(rng));
    float* row = out.data() + r * static_cast<size_t>(k);
    switch (r % 5) {
      case 0:  // a tie between the last class and one before it
        row[k - 1] = row[r % static_cast<size_t>(k)] = 0.99f;
        break;
      case 1:
        row[(r / 5) % static_cast<size_t>(k)] = 1.0f;
        row[0] = 0.0f;
        break;
      case 2:
        row[k - 1] = 1e-20f;
        break;
      case 3:  // all equal: the argmax is class 0
        std::fill(row, row + k, 0.5f);
        break;
      default:
        break;
    }
  }
  return out;
}

class ScoreRowsTest : public ::testing::TestWithParam<Kernels> {};

TEST_P(ScoreRowsTest, SummariesEqualTheScalarDefinitions) {
  // Class counts below, at and around the register widths (4 and 8 floats).
  for (int k = 1; k <= 21; ++k) {
    const size_t rows = 23;
    const std::vector<float> scores = Rows(rows, k, static_cast<uint32_t>(k));
    std::vector<RowSummary> out(rows);
    GetParam().summarize(scores.data(), rows, k, out.data());
    for (size_t r = 0; r < rows; ++r) {
      const float* p = scores.data() + r * static_cast<size_t>(k);
      const float* top = std::max_element(p, p + k);
      double sum = 0;
      for (int c = 0; c < k; ++c) sum += std::clamp<double>(p[c], kEps, 1 - kEps);
      EXPECT_EQ(out[r].top, *top) << "k=" << k << " row " << r;
      EXPECT_EQ(out[r].top_class, top - p) << "k=" << k << " row " << r;
      EXPECT_NEAR(out[r].clipped_sum, sum, 1e-14) << "k=" << k << " row " << r;
    }
  }
}

TEST_P(ScoreRowsTest, SquaresOfTheListedRowsAddToEachClass) {
  for (int k = 1; k <= 21; ++k) {
    const std::vector<float> scores = Rows(40, k, 100u + static_cast<uint32_t>(k));
    // Every other row, and one row twice: the list is what counts.
    std::vector<uint32_t> rows;
    for (uint32_t r = 0; r < 40; r += 2) rows.push_back(r);
    rows.push_back(7);
    std::vector<double> squares(static_cast<size_t>(k) + 1, 0.25);
    GetParam().squares(scores.data(), k, rows, squares.data());
    for (int c = 0; c < k; ++c) {
      double expected = 0.25;
      for (uint32_t r : rows) {
        const double p = scores[r * static_cast<size_t>(k) + c];
        expected += p * p;
      }
      EXPECT_NEAR(squares[c], expected, 1e-12) << "k=" << k << " class " << c;
    }
    EXPECT_EQ(squares[k], 0.25) << "k=" << k << ": wrote past the row";
  }
}

TEST_P(ScoreRowsTest, NoRowsChangeNothing) {
  const std::vector<float> scores = Rows(3, 10, 1);
  std::vector<double> squares(10, 1.0);
  GetParam().squares(scores.data(), 10, {}, squares.data());
  for (double s : squares) EXPECT_EQ(s, 1.0);
}

// What EvaluateLabelledRows must add for rows of k scores with true classes `actual`, from the
// definitions: the Brier sum per class, -sum log(clip(p_actual) / clipped row sum), and per
// calibration bin of the top score the rows, the correct ones and the sum of top scores.
struct LabelledExpectation {
  std::vector<double> brier;
  double log_loss = 0;
  std::vector<uint64_t> count, correct;
  std::vector<double> confidence;
  double total_confidence = 0;
};

LabelledExpectation Expected(const std::vector<float>& scores, int k,
                             const std::vector<int32_t>& actual, int bins) {
  LabelledExpectation e;
  e.brier.assign(static_cast<size_t>(k), 0.0);
  e.count.assign(static_cast<size_t>(bins), 0);
  e.correct.assign(static_cast<size_t>(bins), 0);
  e.confidence.assign(static_cast<size_t>(bins), 0.0);
  for (size_t r = 0; r < actual.size(); ++r) {
    const float* p = scores.data() + r * static_cast<size_t>(k);
    double sum = 0;
    for (int c = 0; c < k; ++c) {
      const double y = c == actual[r] ? 1.0 : 0.0;
      e.brier[c] += (p[c] - y) * (p[c] - y);
      sum += std::clamp<double>(p[c], kEps, 1 - kEps);
    }
    e.log_loss -= std::log(std::clamp<double>(p[actual[r]], kEps, 1 - kEps) / sum);
    const float* top = std::max_element(p, p + k);
    const int bin = std::min(static_cast<int>(static_cast<double>(*top) * bins), bins - 1);
    ++e.count[bin];
    e.correct[bin] += top - p == actual[r] ? 1 : 0;
    e.confidence[bin] += *top;
    e.total_confidence += *top;
  }
  return e;
}

TEST_P(ScoreRowsTest, LabelledRowsAddTheirDefinitions) {
  // Every register layout (1 to 4 registers of 4 or 8 floats, the last overlapping or not) and the
  // class-at-a-time widths beyond; rows with ties, zeros, ones and values below the epsilon.
  for (int k = 1; k <= 40; ++k) {
    const size_t rows = 37;
    const std::vector<float> scores = Rows(rows, k, 300u + static_cast<uint32_t>(k));
    std::mt19937 rng(static_cast<uint32_t>(k));
    std::vector<int32_t> actual(rows);
    for (int32_t& a : actual) a = static_cast<int32_t>(rng() % static_cast<uint32_t>(k));
    const int bins = 7;
    LabelledRowSums sums;
    sums.Reset(k, bins);
    std::vector<RowSummary> out(rows);
    ASSERT_TRUE(GetParam().labelled(scores.data(), rows, k, actual.data(), bins, out.data(), sums))
        << "k=" << k;

    const LabelledExpectation e = Expected(scores, k, actual, bins);
    for (int c = 0; c < k; ++c) {
      EXPECT_NEAR(sums.brier[c], e.brier[c], 1e-12) << "k=" << k << " class " << c;
    }
    EXPECT_NEAR(sums.NegLogSum(), e.log_loss, 1e-9 * e.log_loss) << "k=" << k;
    EXPECT_EQ(sums.calibration_count, e.count) << "k=" << k;
    EXPECT_EQ(sums.calibration_correct, e.correct) << "k=" << k;
    for (int b = 0; b < bins; ++b) {
      EXPECT_NEAR(sums.calibration_confidence[b], e.confidence[b], 1e-12) << "k=" << k;
    }
    EXPECT_NEAR(sums.Confidence(), e.total_confidence, 1e-12) << "k=" << k;
    for (size_t r = 0; r < rows; ++r) {
      const float* p = scores.data() + r * static_cast<size_t>(k);
      const float* top = std::max_element(p, p + k);
      EXPECT_EQ(out[r].top, *top) << "k=" << k << " row " << r;
      EXPECT_EQ(out[r].top_class, top - p) << "k=" << k << " row " << r;
    }
  }
}

TEST_P(ScoreRowsTest, LabelledRowsLogLossSurvivesManyTinyTerms) {
  // 5,000 rows whose true class scores 0 (clipped to the epsilon): the product of the terms
  // underflows a double many times over, the sum must not.
  const int k = 10;
  const size_t rows = 5000;
  std::vector<float> scores(rows * k, 0.1f);
  std::vector<int32_t> actual(rows, 3);
  for (size_t r = 0; r < rows; ++r) {
    scores[r * k + 3] = 0.0f;
    scores[r * k + 4] = 0.2f;
  }
  LabelledRowSums sums;
  sums.Reset(k, 10);
  std::vector<RowSummary> out(rows);
  ASSERT_TRUE(GetParam().labelled(scores.data(), rows, k, actual.data(), 10, out.data(), sums));
  double sum = 0;
  for (int c = 0; c < k; ++c) sum += std::clamp<double>(scores[c], kEps, 1 - kEps);
  const double expected = -static_cast<double>(rows) * std::log(kEps / sum);
  EXPECT_NEAR(sums.NegLogSum(), expected, 1e-9 * expected);
}

TEST_P(ScoreRowsTest, LabelledRowsLogLossSurvivesRowSumsFarFromOne) {
  // The other product, of the rows' clipped sums: rows of ten 0.9s (sum 9) overflow it, rows of
  // zeros (sum 10 eps, each true-class score clipped to eps) underflow it together with the
  // product of the true-class scores.
  const int k = 10;
  const size_t rows = 5000;
  for (const float value : {0.9f, 0.0f}) {
    std::vector<float> scores(rows * k, value);
    std::vector<int32_t> actual(rows);
    for (size_t r = 0; r < rows; ++r) actual[r] = static_cast<int32_t>(r % k);
    LabelledRowSums sums;
    sums.Reset(k, 10);
    std::vector<RowSummary> out(rows);
    ASSERT_TRUE(GetParam().labelled(scores.data(), rows, k, actual.data(), 10, out.data(), sums));
    const double p = std::clamp<double>(value, kEps, 1 - kEps);
    const double expected = -static_cast<double>(rows) * std::log(p / (k * p));
    EXPECT_NEAR(sums.NegLogSum(), expected, 1e-9 * expected) << "value " << value;
  }
}

TEST_P(ScoreRowsTest, LabelledRowsReportAnyScoreOutsideTheUnitInterval) {
  const float bad_values[] = {std::numeric_limits<float>::quiet_NaN(),
                              std::numeric_limits<float>::infinity(), -0.25f, 1.0001f};
  for (int k : {1, 3, 4, 5, 8, 10, 16, 17, 31, 33}) {
    for (float bad : bad_values) {
      // In every class position, the overlapped lanes of the last register included.
      for (int c = 0; c < k; ++c) {
        std::vector<float> scores = Rows(9, k, 7);
        scores[5 * static_cast<size_t>(k) + c] = bad;
        std::vector<int32_t> actual(9, 0);
        LabelledRowSums sums;
        sums.Reset(k, 10);
        std::vector<RowSummary> out(9);
        EXPECT_FALSE(GetParam().labelled(scores.data(), 9, k, actual.data(), 10, out.data(), sums))
            << "k=" << k << " class " << c << " value " << bad;
      }
    }
    // Negative zero is zero.
    std::vector<float> scores = Rows(9, k, 7);
    scores[static_cast<size_t>(k) - 1] = -0.0f;
    std::vector<int32_t> actual(9, 0);
    LabelledRowSums sums;
    sums.Reset(k, 10);
    std::vector<RowSummary> out(9);
    EXPECT_TRUE(GetParam().labelled(scores.data(), 9, k, actual.data(), 10, out.data(), sums))
        << "k=" << k;
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, ScoreRowsTest, ::testing::ValuesIn(AvailableKernels()),
                         [](const ::testing::TestParamInfo<Kernels>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace modelwatch::core
