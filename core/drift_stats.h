#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace modelwatch::core {

// Drift statistics between two histograms over the same bins: the reference distribution (from
// training data or a past window) and the current one (a live window). Pure functions of the
// counts, no I/O. Every number equals scipy's on the same counts; the formulas are below.
//
//   absl::StatusOr<BinnedDistributions> bins =
//       BinnedDistributions::Create(reference_counts, current_counts, bin_centers);
//   if (!bins.ok()) return bins.status();
//   std::optional<DriftStatistics> drift = ComputeDrift(*bins);
//   if (drift) Export(drift->population_stability_index);
//
// Notation: K bins; r_i and c_i the reference and current counts; R = sum r_i and C = sum c_i
// the totals; p_i = r_i / R and q_i = c_i / C the two distributions. Logarithms are natural
// unless a base is given.
//
// Empty bins: the population stability index and the Kullback-Leibler divergence are infinite
// when a bin is empty on one side only, so they, and only they, use smoothed distributions:
//   p'_i = (p_i + eps) / (1 + K * eps),   q'_i = (q_i + eps) / (1 + K * eps),   eps = 1e-4.
// Every other statistic uses p and q (or the counts) as they are.
//
// Minimum sample size: a statistic is not reported (std::nullopt) unless both R and C are at
// least DriftOptions::min_samples (and positive), because below that sampling noise dominates.
//
// Thread safety: every function is pure and thread-safe. Cost: O(K) per statistic, with one log
// or sqrt per bin; no allocation except in BinnedDistributions::Create.

// The smoothing constant eps of the population stability index and the Kullback-Leibler divergence.
inline constexpr double kDriftSmoothingEpsilon = 1e-4;

// Settings shared by every statistic.
struct DriftOptions {
  // Both totals R and C must reach this for a statistic to be reported.
  double min_samples = 100;
};

// A validated pair of histograms over the same K bins, with optional bin centers (the positions
// the Wasserstein distance uses). Counts are doubles so that weighted references work; integer
// counts up to 2^53 are exact. Owns copies of its inputs. Immutable after construction;
// thread-safe.
class BinnedDistributions {
 public:
  // Errors (InvalidArgument): no bins; reference and current differ in length; a count negative
  // or not finite, or a total that overflows; centers neither empty nor of length K; centers not
  // finite or not strictly ascending.
  static absl::StatusOr<BinnedDistributions> Create(absl::Span<const double> reference,
                                                    absl::Span<const double> current,
                                                    absl::Span<const double> centers = {});
  // The same from integer counts (as kept by the aggregation core).
  static absl::StatusOr<BinnedDistributions> FromCounts(absl::Span<const uint64_t> reference,
                                                        absl::Span<const uint64_t> current,
                                                        absl::Span<const double> centers = {});

  size_t num_bins() const { return reference_.size(); }
  absl::Span<const double> reference() const { return reference_; }
  absl::Span<const double> current() const { return current_; }
  // Empty when no centers were given.
  absl::Span<const double> centers() const { return centers_; }
  double reference_total() const { return reference_total_; }
  double current_total() const { return current_total_; }

  // True when both totals are positive and reach options.min_samples.
  bool HasMinSamples(const DriftOptions& options) const;

 private:
  BinnedDistributions(std::vector<double> reference, std::vector<double> current,
                      std::vector<double> centers);
  static absl::StatusOr<BinnedDistributions> Validated(std::vector<double> reference,
                                                       std::vector<double> current,
                                                       absl::Span<const double> centers);

  std::vector<double> reference_;
  std::vector<double> current_;
  std::vector<double> centers_;
  double reference_total_ = 0;
  double current_total_ = 0;
};

// Chi-square test of homogeneity of the two histograms, as
// scipy.stats.chi2_contingency([reference, current], correction=False) on the 2 x K' table of the
// K' bins that are non-empty in at least one histogram (bins empty in both carry no information
// and would make scipy's expected frequencies zero). Expected counts e_ji = row_j * col_i / N;
// statistic = sum (o_ji - e_ji)^2 / e_ji; degrees of freedom K' - 1; p-value = the chi-square
// survival function (Boost.Math). With K' = 1 the statistic is 0 and the p-value 1, as in scipy.
// No Yates correction, even when K' = 2.
struct ChiSquareTest {
  double statistic = 0;
  int degrees_of_freedom = 0;
  double p_value = 1;
};

// Two-sample Kolmogorov-Smirnov test on binned data. D = max over the bin edges of
// |P_i - Q_i|, where P_i = sum_{j <= i} p_j and Q_i likewise are the two CDFs at the upper edge of
// bin i. This D equals scipy.stats.ks_2samp's statistic on samples expanded from the bins (r_i,
// respectively c_i, copies of one value per bin, increasing with the bin, such as its upper edge
// or its center), because the empirical CDFs of such samples change only at those values and
// equal P_i and Q_i there. p-value = kstwobign.sf(sqrt(n) * D), the asymptotic Kolmogorov
// distribution with the effective sample size n = R * C / (R + C). It is an approximation: it
// ignores ties and is conservative for small samples.
struct KolmogorovSmirnovTest {
  double statistic = 0;
  double p_value = 1;
  double effective_samples = 0;
};

// Every statistic of one pair of histograms.
struct DriftStatistics {
  double population_stability_index = 0;
  double kl_divergence = 0;
  double jensen_shannon_distance = 0;
  double hellinger_distance = 0;
  double total_variation = 0;
  double linf_distance = 0;
  // Present when the histograms carry bin centers.
  std::optional<double> wasserstein_distance;
  ChiSquareTest chi_square;
  KolmogorovSmirnovTest kolmogorov_smirnov;
};

// Each function below returns std::nullopt when !bins.HasMinSamples(options).

// Population stability index: sum (q'_i - p'_i) ln(q'_i / p'_i) over the smoothed distributions,
// which is KL(q' || p') + KL(p' || q'). In [0, inf); 0.1 and 0.25 are the customary "moderate"
// and "major" shift thresholds.
std::optional<double> PopulationStabilityIndex(const BinnedDistributions& bins,
                                               const DriftOptions& options = {});

// Kullback-Leibler divergence of current from reference, in nats:
// KL(q' || p') = sum q'_i ln(q'_i / p'_i) over the smoothed distributions, as
// scipy.stats.entropy(q', p').
std::optional<double> KlDivergence(const BinnedDistributions& bins,
                                   const DriftOptions& options = {});

// Jensen-Shannon distance in base 2, in [0, 1], as
// scipy.spatial.distance.jensenshannon(p, q, base=2): with m = (p + q) / 2,
// sqrt((KL(p || m) + KL(q || m)) / (2 ln 2)), where 0 ln 0 = 0 (no smoothing needed).
std::optional<double> JensenShannonDistance(const BinnedDistributions& bins,
                                            const DriftOptions& options = {});

// Hellinger distance, in [0, 1]: sqrt(sum (sqrt(p_i) - sqrt(q_i))^2 / 2).
std::optional<double> HellingerDistance(const BinnedDistributions& bins,
                                        const DriftOptions& options = {});

// Total variation distance, in [0, 1]: sum |p_i - q_i| / 2.
std::optional<double> TotalVariationDistance(const BinnedDistributions& bins,
                                             const DriftOptions& options = {});

// L-infinity distance between the bin probabilities, in [0, 1]: max |p_i - q_i|.
std::optional<double> LinfDistance(const BinnedDistributions& bins,
                                   const DriftOptions& options = {});

// Wasserstein-1 (earth mover's) distance between the two distributions placed at the bin centers
// x_i: sum_{i < K-1} |P_i - Q_i| (x_{i+1} - x_i), as
// scipy.stats.wasserstein_distance(x, x, u_weights=reference, v_weights=current). Also nullopt
// when the histograms carry no centers.
std::optional<double> WassersteinDistance(const BinnedDistributions& bins,
                                          const DriftOptions& options = {});

std::optional<ChiSquareTest> ChiSquare(const BinnedDistributions& bins,
                                       const DriftOptions& options = {});

std::optional<KolmogorovSmirnovTest> KolmogorovSmirnov(const BinnedDistributions& bins,
                                                       const DriftOptions& options = {});

// All of the above in one call: std::nullopt when !bins.HasMinSamples(options).
std::optional<DriftStatistics> ComputeDrift(const BinnedDistributions& bins,
                                            const DriftOptions& options = {});

// The survival function of the Kolmogorov distribution, P(K > z) =
// 2 sum_{k >= 1} (-1)^(k-1) exp(-2 k^2 z^2), equal to scipy.stats.kstwobign.sf(z). For z < 1 it is
// computed as 1 minus the CDF's other series, sqrt(2 pi) / z sum_{k >= 1}
// exp(-(2k-1)^2 pi^2 / (8 z^2)), which converges fast there. 1 for z <= 0 or NaN; 0 for z = inf.
double KolmogorovSurvival(double z);

}  // namespace modelwatch::core
