"""Drift statistics of core/drift_stats.h against scipy on random histograms.

Runs $MODELWATCH_BINARY_DIR/bench/drift_cli over a few hundred seeded random histogram pairs and
compares every statistic with scipy's on the same counts, to a relative 1e-9 (absolute 1e-12
near zero).
"""

import json
import math
import os
import subprocess
import unittest

import numpy as np
from scipy import stats
from scipy.spatial import distance

EPSILON = 1e-4  # kDriftSmoothingEpsilon
MIN_SAMPLES = 100  # DriftOptions::min_samples default
REL_TOL = 1e-9
ABS_TOL = 1e-12


def cli_path():
    binary_dir = os.environ.get("MODELWATCH_BINARY_DIR")
    if not binary_dir:
        raise RuntimeError("MODELWATCH_BINARY_DIR is not set (ctest sets it)")
    path = os.path.join(binary_dir, "bench", "drift_cli")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is missing: build the drift_cli target first")
    return path


def run_cli(lines, *flags):
    result = subprocess.run(
        [cli_path(), *flags],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


def fmt(values):
    return " ".join(repr(float(v)) for v in values)


def smoothed(counts):
    p = counts / counts.sum()
    return (p + EPSILON) / (1 + len(p) * EPSILON)


def random_case(rng):
    """A reference and a current histogram over the same bins, and maybe bin centers."""
    k = int(rng.integers(1, 41))
    kind = rng.integers(0, 5)
    base = rng.dirichlet(np.full(k, rng.choice([0.3, 1.0, 5.0])))
    if kind == 0:  # same distribution, sampling noise only
        ref = rng.multinomial(int(rng.integers(100, 20000)), base)
        cur = rng.multinomial(int(rng.integers(100, 20000)), base)
    elif kind == 1:  # shifted distribution
        other = rng.dirichlet(np.ones(k))
        ref = rng.multinomial(int(rng.integers(100, 20000)), base)
        cur = rng.multinomial(int(rng.integers(100, 20000)), 0.7 * base + 0.3 * other)
    elif kind == 2:  # sparse: many bins empty on one side or both
        mask_r = rng.random(k) < 0.5
        mask_c = rng.random(k) < 0.5
        ref = rng.poisson(200, k) * mask_r
        cur = rng.poisson(200, k) * mask_c
    elif kind == 3:  # large counts
        ref = rng.multinomial(int(rng.integers(10**6, 10**8)), base)
        cur = rng.multinomial(int(rng.integers(10**6, 10**8)), rng.dirichlet(np.ones(k)))
    else:  # non-integer weights
        ref = rng.random(k) * 1000
        cur = rng.random(k) * 1000
    ref = np.asarray(ref, dtype=float)
    cur = np.asarray(cur, dtype=float)
    centers = None
    if rng.random() < 0.7:
        centers = np.cumsum(rng.random(k) + 0.01) - rng.random() * 10
    return ref, cur, centers


class DriftOracleTest(unittest.TestCase):
    def assertClose(self, actual, expected, what):
        self.assertIsNotNone(actual, what)
        self.assertTrue(
            math.isclose(actual, expected, rel_tol=REL_TOL, abs_tol=ABS_TOL),
            f"{what}: drift_cli {actual!r} vs scipy {expected!r}",
        )

    def check_case(self, ref, cur, centers, got, label):
        reported = ref.sum() >= MIN_SAMPLES and cur.sum() >= MIN_SAMPLES
        if not reported:
            self.assertEqual(got, {"drift": None}, label)
            return
        self.assertIn("drift", got, label)
        d = got["drift"]
        self.assertIsNotNone(d, label)
        p, q = ref / ref.sum(), cur / cur.sum()
        ps, qs = smoothed(ref), smoothed(cur)

        self.assertClose(d["psi"], stats.entropy(qs, ps) + stats.entropy(ps, qs), f"{label} psi")
        self.assertClose(d["kl"], stats.entropy(qs, ps), f"{label} kl")
        self.assertClose(d["js"], distance.jensenshannon(ref, cur, base=2), f"{label} js")
        self.assertClose(
            d["hellinger"],
            distance.euclidean(np.sqrt(p), np.sqrt(q)) / math.sqrt(2),
            f"{label} hellinger",
        )
        self.assertClose(d["tv"], distance.cityblock(p, q) / 2, f"{label} tv")
        self.assertClose(d["linf"], distance.chebyshev(p, q), f"{label} linf")
        if centers is None:
            self.assertIsNone(d["wasserstein"], label)
        else:
            self.assertClose(
                d["wasserstein"],
                stats.wasserstein_distance(centers, centers, ref, cur),
                f"{label} wasserstein",
            )

        nonempty = (ref + cur) > 0
        chi2 = stats.chi2_contingency(
            np.array([ref[nonempty], cur[nonempty]]), correction=False
        )
        self.assertClose(d["chi2"]["statistic"], chi2.statistic, f"{label} chi2")
        self.assertEqual(d["chi2"]["dof"], chi2.dof, f"{label} chi2 dof")
        self.assertClose(d["chi2"]["p_value"], chi2.pvalue, f"{label} chi2 p")

        n, m = ref.sum(), cur.sum()
        en = n * m / (n + m)
        self.assertClose(d["ks"]["effective_samples"], en, f"{label} ks n")
        integral = np.all(ref == np.round(ref)) and np.all(cur == np.round(cur))
        if integral and n + m <= 50000:
            # Every value at its bin's upper edge: bin i's upper edge is i + 1 here.
            edges = np.arange(1, len(ref) + 1, dtype=float)
            sample_ref = np.repeat(edges, ref.astype(int))
            sample_cur = np.repeat(edges, cur.astype(int))
            ks_d = stats.ks_2samp(sample_ref, sample_cur).statistic
        else:
            ks_d = np.max(np.abs(np.cumsum(ref) / n - np.cumsum(cur) / m))
        self.assertClose(d["ks"]["statistic"], ks_d, f"{label} ks D")
        self.assertClose(
            d["ks"]["p_value"], stats.kstwobign.sf(math.sqrt(en) * ks_d), f"{label} ks p"
        )

    def test_random_histograms_match_scipy(self):
        rng = np.random.default_rng(20240611)
        cases = [random_case(rng) for _ in range(400)]
        lines = []
        for ref, cur, centers in cases:
            line = f"{fmt(ref)} / {fmt(cur)}"
            if centers is not None:
                line += f" / {fmt(centers)}"
            lines.append(line)
        results = run_cli(lines)
        self.assertEqual(len(results), len(cases))
        # The mix must exercise the statistics, not the minimum-sample rule.
        self.assertGreater(sum(r["drift"] is not None for r in results if "drift" in r), 350)
        for i, ((ref, cur, centers), got) in enumerate(zip(cases, results)):
            with self.subTest(case=i):
                self.check_case(ref, cur, centers, got, f"case {i} ({len(ref)} bins)")

    def test_ks_statistic_equals_ks_2samp_with_values_at_bin_centers(self):
        # Any increasing value per bin gives the same empirical CDF steps as the upper edges.
        rng = np.random.default_rng(7)
        for i in range(50):
            k = int(rng.integers(2, 30))
            ref = rng.multinomial(int(rng.integers(100, 3000)), rng.dirichlet(np.ones(k)))
            cur = rng.multinomial(int(rng.integers(100, 3000)), rng.dirichlet(np.ones(k)))
            centers = np.cumsum(rng.random(k) + 0.01)
            [got] = run_cli([f"{fmt(ref)} / {fmt(cur)} / {fmt(centers)}"])
            expected = stats.ks_2samp(np.repeat(centers, ref), np.repeat(centers, cur))
            with self.subTest(case=i):
                self.assertClose(got["drift"]["ks"]["statistic"], expected.statistic, "ks D")

    def test_minimum_sample_size_flag(self):
        line = "30 20 / 10 40"
        self.assertEqual(run_cli([line]), [{"drift": None}])
        [got] = run_cli([line], "--min_samples=50")
        self.assertClose(got["drift"]["tv"], 0.4, "tv")
        self.assertEqual(run_cli([line], "--min_samples=51"), [{"drift": None}])

    def test_kolmogorov_survival_matches_kstwobign(self):
        z = np.concatenate([np.linspace(0.01, 8, 400), [0.999999, 1.0, 1.000001, 12.0, 26.0]])
        [got] = run_cli([fmt(z)], "--mode=kolmogorov")
        self.assertEqual(len(got["sf"]), len(z))
        for x, sf in zip(z, got["sf"]):
            self.assertClose(sf, stats.kstwobign.sf(x), f"kstwobign.sf({x})")

    def test_invalid_lines_are_reported_not_fatal(self):
        got = run_cli(["1 2 / 3", "1 x / 2 3", "1 2 / 3 4 / 2 1", "100 100 / 100 100"])
        self.assertIn("current histogram has 1", got[0]["error"])
        self.assertIn("not a number", got[1]["error"])
        self.assertIn("strictly ascending", got[2]["error"])
        self.assertEqual(got[3]["drift"]["tv"], 0)


if __name__ == "__main__":
    unittest.main()
