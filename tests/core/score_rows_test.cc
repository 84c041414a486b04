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

struct Kernels {
  const char* name;
  SummarizeKernel summarize;
  SquaresKernel squares;
};

std::vector<Kernels> AvailableKernels() {
  std::vector<Kernels> kernels = {{"portable", SummarizeRowsPortable, AddSquaresPortable},
                                  {"dispatch", SummarizeRows, AddSquares}};
  if (CpuHasAvx2()) kernels.push_back({"avx2", SummarizeRowsAvx2, AddSquaresAvx2});
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

INSTANTIATE_TEST_SUITE_P(Kernels, ScoreRowsTest, ::testing::ValuesIn(AvailableKernels()),
                         [](const ::testing::TestParamInfo<Kernels>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace modelwatch::core
