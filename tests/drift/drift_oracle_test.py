"""Every drift statistic modelwatchd exposes equals scipy's on the same binned data, to 1e-9, for
each kind of reference: a file written by tools/drift_reference.py, the previous window, and a
capture of the first N events kept across a restart in state_dir. Runs the real daemon with the
test clock.
"""

import csv
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from drift_support import (Daemon, bin_events, bin_labels, centers, drift_values,  # noqa: E402
                           histogram_values, make_events, oracle, send, _SOURCE)

CLASSES = ["a", "b", "c"]
SCORE_BINS = 10
EDGES = [-1.5, -0.5, 0.0, 0.5, 1.5]
TOLERANCE = 1e-9
CLOCK = 1_700_000_000


def model_yaml(reference, min_samples=100, windows="[{name: 5m, length: 5m, granularity: 1m}]",
               extra=""):
    return f"""
models:
  - name: m
    classes: [a, b, c]
    score_bins: {SCORE_BINS}
    windows: {windows}
    features: [{{name: x, edges: {EDGES}}}]
    drift:
      reference: {reference}
      min_samples: {min_samples}
{extra}"""


class DriftOracleTest(unittest.TestCase):
    def assert_statistics_equal_scipy(self, samples, reference_counts, current_counts,
                                      window="5m"):
        got = drift_values(samples, "m", window)
        expected = {}
        for signal, ref in reference_counts.items():
            cur = current_counts[signal]
            positions = centers(signal, ref, EDGES, SCORE_BINS)
            for statistic, value in oracle(signal, ref, cur, positions).items():
                expected[(signal, statistic)] = value
        self.assertEqual(sorted(got), sorted(expected))
        for key, value in expected.items():
            self.assertAlmostEqual(got[key], value, delta=TOLERANCE, msg=str(key))

    def assert_histograms(self, samples, name, counts):
        got = histogram_values(samples, name, "m")
        self.assertEqual(sorted(got), sorted(counts))
        for signal, values in counts.items():
            labels = bin_labels(signal, len(values), EDGES, SCORE_BINS, CLASSES)
            self.assertEqual(got[signal], {label: float(v) for label, v in zip(labels, values)},
                             signal)

    def test_file_reference_from_the_tool_matches_scipy(self):
        rng = np.random.default_rng(1)
        training = make_events(rng, 3000, CLASSES, [0.6, 0.3, 0.1])
        live = make_events(rng, 2000, CLASSES, [0.4, 0.4, 0.2], score_shift=-0.1,
                           feature_mean=0.3)
        with tempfile.TemporaryDirectory() as tmp:
            # The documented tool writes the reference from a CSV of training predictions.
            path = os.path.join(tmp, "train.csv")
            with open(path, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["predicted", "label"] + [f"score_{c}" for c in CLASSES] + ["x"])
                for e in training:
                    w.writerow([e["predicted"], e["label"]] + [repr(s) for s in e["scores"]] +
                               [repr(e["feature"])])
            reference = os.path.join(tmp, "ref.json")
            subprocess.run([sys.executable, os.path.join(_SOURCE, "tools", "drift_reference.py"),
                            "--csv", path, "--out", reference, "--classes", ",".join(CLASSES),
                            "--score_bins", str(SCORE_BINS),
                            "--feature", "x=" + ",".join(str(e) for e in EDGES)], check=True)

            with Daemon(config_text=model_yaml(f"{{file: {reference}}}"), test_clock=CLOCK) as d:
                send(d.client(), "m", live, CLASSES)
                samples = d.scrape()

        ref_counts = bin_events(training, CLASSES, SCORE_BINS, EDGES)
        cur_counts = bin_events(live, CLASSES, SCORE_BINS, EDGES)
        self.assert_histograms(samples, "modelwatch_signal_histogram_total", cur_counts)
        self.assert_histograms(samples, "modelwatch_drift_reference_total", ref_counts)
        self.assert_statistics_equal_scipy(samples, ref_counts, cur_counts)

    def test_previous_window_reference_matches_scipy(self):
        rng = np.random.default_rng(2)
        before = make_events(rng, 1500, CLASSES, [0.5, 0.3, 0.2])
        after = make_events(rng, 1200, CLASSES, [0.3, 0.3, 0.4], score_shift=0.1,
                            feature_mean=-0.4)
        with Daemon(config_text=model_yaml("{previous_window: true}"), test_clock=CLOCK) as d:
            client = d.client()
            send(client, "m", before, CLASSES)
            # With nothing in the previous window yet, no statistic.
            self.assertEqual(drift_values(d.scrape(), "m", "5m"), {})
            d.advance_clock(300)
            send(client, "m", after, CLASSES)
            samples = d.scrape()
        self.assert_statistics_equal_scipy(samples, bin_events(before, CLASSES, SCORE_BINS, EDGES),
                                           bin_events(after, CLASSES, SCORE_BINS, EDGES))

    def test_captured_reference_survives_a_restart(self):
        rng = np.random.default_rng(3)
        first = make_events(rng, 1000, CLASSES, [0.5, 0.3, 0.2])
        later = make_events(rng, 800, CLASSES, [0.2, 0.5, 0.3], feature_mean=0.5)
        with tempfile.TemporaryDirectory() as state:
            config = model_yaml("{capture_events: 1000}", extra=f"state_dir: {state}\n")
            with Daemon(config_text=config, test_clock=CLOCK) as d:
                send(d.client(), "m", first, CLASSES)
                samples = d.scrape()
            first_counts = bin_events(first, CLASSES, SCORE_BINS, EDGES)
            self.assert_histograms(samples, "modelwatch_drift_reference_total", first_counts)
            self.assertTrue(os.path.exists(os.path.join(state, "m", "default.json")))

            # A new process reloads the frozen reference when the version reappears: 800 events
            # alone would not complete a capture of 1000.
            with Daemon(config_text=config, test_clock=CLOCK + 3600) as d:
                self.assertEqual(histogram_values(d.scrape(), "modelwatch_drift_reference_total",
                                                  "m"), {})
                send(d.client(), "m", later, CLASSES)
                samples = d.scrape()
        self.assert_histograms(samples, "modelwatch_drift_reference_total", first_counts)
        self.assert_statistics_equal_scipy(samples, first_counts,
                                           bin_events(later, CLASSES, SCORE_BINS, EDGES))

    def test_no_statistic_below_min_samples(self):
        rng = np.random.default_rng(4)
        events = make_events(rng, 99, CLASSES, [0.5, 0.3, 0.2])
        with Daemon(config_text=model_yaml("{capture_events: 50}"), test_clock=CLOCK) as d:
            client = d.client()
            send(client, "m", events[:50], CLASSES)
            d.advance_clock(600)
            send(client, "m", events[50:], CLASSES)
            samples = d.scrape()
        # The reference holds 50 events and the window 49: both below 100.
        self.assertEqual(drift_values(samples, "m", "5m"), {})
        self.assertEqual(sum(histogram_values(samples, "modelwatch_drift_reference_total",
                                              "m")["predicted_class"].values()), 50)


if __name__ == "__main__":
    unittest.main()
