#include "core/drift_stats.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "boost/math/distributions/chi_squared.hpp"

namespace modelwatch::core {
namespace {

// Boost.Math reports bad arguments through errno rather than exceptions: the statistics are
// computed on the scrape path, which never throws.
using NoThrowPolicy = boost::math::policies::policy<
    boost::math::policies::domain_error<boost::math::policies::errno_on_error>,
    boost::math::policies::overflow_error<boost::math::policies::errno_on_error>,
    boost::math::policies::evaluation_error<boost::math::policies::errno_on_error>,
    boost::math::policies::pole_error<boost::math::policies::errno_on_error>,
    // Double precision throughout: long double is slower and buys nothing at 1e-9.
    boost::math::policies::promote_double<false>>;

absl::Status CheckCounts(absl::Span<const double> counts, const char* which) {
  for (size_t i = 0; i < counts.size(); ++i) {
    if (!std::isfinite(counts[i]) || counts[i] < 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s bin %d is %g: counts must be finite and non-negative", which, i, counts[i]));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckCenters(absl::Span<const double> centers, size_t bins) {
  if (centers.empty()) return absl::OkStatus();
  if (centers.size() != bins) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%d bin centers given for %d bins", centers.size(), bins));
  }
  for (size_t i = 0; i < centers.size(); ++i) {
    if (!std::isfinite(centers[i])) {
      return absl::InvalidArgumentError(
          absl::StrFormat("bin center %d is %g: centers must be finite", i, centers[i]));
    }
    if (i > 0 && centers[i] <= centers[i - 1]) {
      return absl::InvalidArgumentError(
          absl::StrFormat("bin center %d (%g) is not above center %d (%g): centers must be "
                          "strictly ascending",
                          i, centers[i], i - 1, centers[i - 1]));
    }
  }
  return absl::OkStatus();
}

double Sum(absl::Span<const double> values) {
  double total = 0;
  for (double v : values) total += v;
  return total;
}

// x ln(x / y) with 0 ln 0 = 0, as scipy.special.rel_entr for x, y >= 0 and y > 0 where x > 0.
double RelativeEntropyTerm(double x, double y) { return x > 0 ? x * std::log(x / y) : 0.0; }

// Calls visit(p_i, q_i) for every bin, with p and q the reference and current probabilities.
// The caller has checked that both totals are positive.
template <typename Visit>
void ForEachBin(const BinnedDistributions& bins, Visit visit) {
  for (size_t i = 0; i < bins.num_bins(); ++i) {
    visit(bins.reference()[i] / bins.reference_total(), bins.current()[i] / bins.current_total());
  }
}

// The same with the smoothed probabilities p' and q' (see the header).
template <typename Visit>
void ForEachSmoothedBin(const BinnedDistributions& bins, Visit visit) {
  const double scale = 1.0 + static_cast<double>(bins.num_bins()) * kDriftSmoothingEpsilon;
  ForEachBin(bins, [&visit, scale](double p, double q) {
    visit((p + kDriftSmoothingEpsilon) / scale, (q + kDriftSmoothingEpsilon) / scale);
  });
}

// PSI and KL share their logarithms, so one pass computes both.
struct Divergences {
  double population_stability_index = 0;
  double kl_divergence = 0;
};

Divergences SmoothedDivergences(const BinnedDistributions& bins) {
  Divergences d;
  ForEachSmoothedBin(bins, [&d](double p, double q) {
    const double log_ratio = std::log(q / p);
    d.population_stability_index += (q - p) * log_ratio;
    d.kl_divergence += q * log_ratio;
  });
  return d;
}

double ChiSquareSurvival(double statistic, int degrees_of_freedom) {
  boost::math::chi_squared_distribution<double, NoThrowPolicy> distribution(degrees_of_freedom);
  return boost::math::cdf(boost::math::complement(distribution, statistic));
}

}  // namespace

BinnedDistributions::BinnedDistributions(std::vector<double> reference, std::vector<double> current,
                                         std::vector<double> centers)
    : reference_(std::move(reference)),
      current_(std::move(current)),
      centers_(std::move(centers)),
      reference_total_(Sum(reference_)),
      current_total_(Sum(current_)) {}

absl::StatusOr<BinnedDistributions> BinnedDistributions::Create(absl::Span<const double> reference,
                                                                absl::Span<const double> current,
                                                                absl::Span<const double> centers) {
  return Validated(std::vector<double>(reference.begin(), reference.end()),
                   std::vector<double>(current.begin(), current.end()), centers);
}

absl::StatusOr<BinnedDistributions> BinnedDistributions::FromCounts(
    absl::Span<const uint64_t> reference, absl::Span<const uint64_t> current,
    absl::Span<const double> centers) {
  return Validated(std::vector<double>(reference.begin(), reference.end()),
                   std::vector<double>(current.begin(), current.end()), centers);
}

absl::StatusOr<BinnedDistributions> BinnedDistributions::Validated(
    std::vector<double> reference, std::vector<double> current, absl::Span<const double> centers) {
  if (reference.empty()) return absl::InvalidArgumentError("a histogram needs at least one bin");
  if (reference.size() != current.size()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the reference has %d bins but the current histogram has %d",
                        reference.size(), current.size()));
  }
  if (absl::Status s = CheckCounts(reference, "reference"); !s.ok()) return s;
  if (absl::Status s = CheckCounts(current, "current"); !s.ok()) return s;
  if (absl::Status s = CheckCenters(centers, reference.size()); !s.ok()) return s;
  BinnedDistributions bins(std::move(reference), std::move(current),
                           std::vector<double>(centers.begin(), centers.end()));
  if (!std::isfinite(bins.reference_total_) || !std::isfinite(bins.current_total_)) {
    return absl::InvalidArgumentError("the counts of a histogram sum to more than a double holds");
  }
  return bins;
}

bool BinnedDistributions::HasMinSamples(const DriftOptions& options) const {
  return reference_total_ > 0 && current_total_ > 0 && reference_total_ >= options.min_samples &&
         current_total_ >= options.min_samples;
}

std::optional<double> PopulationStabilityIndex(const BinnedDistributions& bins,
                                               const DriftOptions& options) {
  if (!bins.HasMinSamples(options)) return std::nullopt;
  return SmoothedDivergences(bins).population_stability_index;
}

std::optional<double> KlDivergence(const BinnedDistributions& bins, const DriftOptions& options) {
  if (!bins.HasMinSamples(options)) return std::nullopt;
  return SmoothedDivergences(bins).kl_divergence;
}

std::optional<double> JensenShannonDistance(const BinnedDistributions& bins,
                                            const DriftOptions& options) {
  if (!bins.HasMinSamples(options)) return std::nullopt;
  double sum = 0;
  ForEachBin(bins, [&sum](double p, double q) {
    const double m = (p + q) / 2.0;
    sum += RelativeEntropyTerm(p, m) + RelativeEntropyTerm(q, m);
  });
  // Rounding can leave a sum of a few ulps below zero for identical distributions.
  return std::sqrt(std::max(0.0, sum / std::numbers::ln2 / 2.0));
}

std::optional<double> HellingerDistance(const BinnedDistributions& bins,
                                        const DriftOptions& options) {
  if (!bins.HasMinSamples(options)) return std::nullopt;
  // The sum of squared differences, rather than 1 - sum sqrt(p q), keeps precision when the
  // distributions are close.
  double sum = 0;
  ForEachBin(bins, [&sum](double p, double q) {
    const double d = std::sqrt(p) - std::sqrt(q);
    sum += d * d;
  });
  return std::sqrt(sum / 2.0);
}

std::optional<double> TotalVariationDistance(const BinnedDistributions& bins,
                                             const DriftOptions& options) {
  if (!bins.HasMinSamples(options)) return std::nullopt;
  double sum = 0;
  ForEachBin(bins, [&sum](double p, double q) { sum += std::abs(p - q); });
  return sum / 2.0;
}

std::optional<double> LinfDistance(const BinnedDistributions& bins, const DriftOptions& options) {
  if (!bins.HasMinSamples(options)) return std::nullopt;
  double max = 0;
  ForEachBin(bins, [&max](double p, double q) { max = std::max(max, std::abs(p - q)); });
  return max;
}

std::optional<double> WassersteinDistance(const BinnedDistributions& bins,
                                          const DriftOptions& options) {
  if (!bins.HasMinSamples(options) || bins.centers().empty()) return std::nullopt;
  // CDFs from running sums of counts divided once, as scipy does, rather than sums of
  // probabilities, so both accumulate the same rounding.
  double reference_cumulative = 0;
  double current_cumulative = 0;
  double distance = 0;
  for (size_t i = 0; i + 1 < bins.num_bins(); ++i) {
    reference_cumulative += bins.reference()[i];
    current_cumulative += bins.current()[i];
    double gap = std::abs(reference_cumulative / bins.reference_total() -
                          current_cumulative / bins.current_total());
    distance += gap * (bins.centers()[i + 1] - bins.centers()[i]);
  }
  return distance;
}

std::optional<ChiSquareTest> ChiSquare(const BinnedDistributions& bins,
                                       const DriftOptions& options) {
  if (!bins.HasMinSamples(options)) return std::nullopt;
  const double total = bins.reference_total() + bins.current_total();
  ChiSquareTest test;
  int columns = 0;
  for (size_t i = 0; i < bins.num_bins(); ++i) {
    const double column = bins.reference()[i] + bins.current()[i];
    if (column == 0) continue;
    ++columns;
    const double expected_reference = bins.reference_total() * column / total;
    const double expected_current = bins.current_total() * column / total;
    const double dr = bins.reference()[i] - expected_reference;
    const double dc = bins.current()[i] - expected_current;
    test.statistic += dr * dr / expected_reference + dc * dc / expected_current;
  }
  test.degrees_of_freedom = columns - 1;
  if (test.degrees_of_freedom == 0) return ChiSquareTest{};
  test.p_value = ChiSquareSurvival(test.statistic, test.degrees_of_freedom);
  return test;
}

std::optional<KolmogorovSmirnovTest> KolmogorovSmirnov(const BinnedDistributions& bins,
                                                       const DriftOptions& options) {
  if (!bins.HasMinSamples(options)) return std::nullopt;
  const double n = bins.reference_total();
  const double m = bins.current_total();
  KolmogorovSmirnovTest test;
  double reference_cumulative = 0;
  double current_cumulative = 0;
  for (size_t i = 0; i < bins.num_bins(); ++i) {
    reference_cumulative += bins.reference()[i];
    current_cumulative += bins.current()[i];
    test.statistic =
        std::max(test.statistic, std::abs(reference_cumulative / n - current_cumulative / m));
  }
  test.effective_samples = n * m / (n + m);
  test.p_value = KolmogorovSurvival(std::sqrt(test.effective_samples) * test.statistic);
  return test;
}

std::optional<DriftStatistics> ComputeDrift(const BinnedDistributions& bins,
                                            const DriftOptions& options) {
  if (!bins.HasMinSamples(options)) return std::nullopt;
  DriftStatistics stats;
  const Divergences divergences = SmoothedDivergences(bins);
  stats.population_stability_index = divergences.population_stability_index;
  stats.kl_divergence = divergences.kl_divergence;
  stats.jensen_shannon_distance = *JensenShannonDistance(bins, options);
  stats.hellinger_distance = *HellingerDistance(bins, options);
  stats.total_variation = *TotalVariationDistance(bins, options);
  stats.linf_distance = *LinfDistance(bins, options);
  stats.wasserstein_distance = WassersteinDistance(bins, options);
  stats.chi_square = *ChiSquare(bins, options);
  stats.kolmogorov_smirnov = *KolmogorovSmirnov(bins, options);
  return stats;
}

double KolmogorovSurvival(double z) {
  if (!(z > 0)) return 1.0;
  if (std::isinf(z)) return 0.0;

  // Small z: 1 - CDF, with the CDF's series in exp(-(2k-1)^2 pi^2 / (8 z^2)); its terms fall
  // by a factor of at least e^-9 from the second one on when z < 1.
  constexpr double kPi = std::numbers::pi;
  if (z < 1.0) {
    const double w = kPi * kPi / (8.0 * z * z);
    double cdf = 0;
    for (int k = 1; k <= 20; ++k) {
      const double odd = 2.0 * k - 1.0;
      const double term = std::exp(-odd * odd * w);
      cdf += term;
      if (term <= cdf * 1e-17) break;
    }
    return 1.0 - std::sqrt(2.0 * kPi) / z * cdf;
  }

  // Large z: the alternating series, whose terms fall faster than e^-6 per step when z >= 1.
  double sf = 0;
  double sign = 1.0;
  for (int k = 1; k <= 20; ++k) {
    const double term = std::exp(-2.0 * k * k * z * z);
    sf += sign * term;
    if (term <= std::abs(sf) * 1e-17) break;
    sign = -sign;
  }
  return std::min(1.0, 2.0 * sf);
}

}  // namespace modelwatch::core
