"""tools/drift_reference.py bins as modelwatchd does (checked against numpy on the same 32-bit
values), writes a file the daemon's format accepts, and rejects bad rows."""

import csv
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from drift_support import _SOURCE, drift_reference  # noqa: E402

TOOL = os.path.join(_SOURCE, "tools", "drift_reference.py")


class DriftReferenceToolTest(unittest.TestCase):
    def test_bins_equal_numpy_on_float32_values(self):
        rng = np.random.default_rng(7)
        edges = [-1.0, -0.25, 0.0, 0.3, 2.0]
        values = list(rng.normal(0, 1, 5000)) + edges + [np.nextafter(e, -9) for e in edges]
        got = [drift_reference.feature_bin(v, edges) for v in values]
        want = np.searchsorted(np.array(edges), np.float32(values).astype(float), side="right")
        self.assertEqual(got, list(want))

        scores = list(rng.random(5000)) + [0.0, 1.0, 0.05, 0.95]
        got = [drift_reference.score_bin(p, 20) for p in scores]
        want = np.minimum((np.float32(scores).astype(float) * 20).astype(int), 19)
        self.assertEqual(got, list(want))

    def test_decile_edges_are_distinct_and_ascending(self):
        self.assertEqual(drift_reference.decile_edges([5.0] * 100), [5.0])
        edges = drift_reference.decile_edges(list(range(1001)))
        self.assertEqual(edges, [100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0])

    def test_command_line_writes_every_signal(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "train.csv")
            with open(path, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["predicted", "label", "score_a", "score_b", "x", "y"])
                w.writerow(["a", "a", "0.9", "0.1", "1.5", "10"])
                w.writerow(["b", "a", "0.3", "0.7", "-2", "20"])
                w.writerow(["b", "", "0.45", "0.55", "0.5", "30"])
            out = os.path.join(tmp, "ref.json")
            subprocess.run([sys.executable, TOOL, "--csv", path, "--out", out, "--classes", "a,b",
                            "--score_bins", "4", "--feature", "x=0,1", "--feature", "y"],
                           check=True)
            with open(out) as f:
                ref = json.load(f)
        self.assertEqual(ref["format"], "modelwatch.drift_reference.v1")
        s = ref["signals"]
        self.assertEqual(s["predicted_class"], {"categories": ["a", "b"], "counts": [1, 2]})
        self.assertEqual(s["label"], {"categories": ["a", "b"], "counts": [2, 0]})
        self.assertEqual(s["score:a"], {"edges": [0.25, 0.5, 0.75], "counts": [0, 2, 0, 1]})
        self.assertEqual(s["score:b"], {"edges": [0.25, 0.5, 0.75], "counts": [1, 0, 2, 0]})
        self.assertEqual(s["confidence"], {"edges": [0.25, 0.5, 0.75], "counts": [0, 0, 2, 1]})
        self.assertEqual(s["feature:x"], {"edges": [0.0, 1.0], "counts": [1, 1, 1]})
        # Deciles of 10, 20, 30: 12, 14, ..., 28.
        np.testing.assert_allclose(s["feature:y"]["edges"], np.arange(12, 29, 2), rtol=1e-6)
        self.assertEqual(s["feature:y"]["counts"], [1, 0, 0, 0, 0, 1, 0, 0, 0, 1])

    def test_unknown_class_is_an_error_naming_the_row(self):
        with self.assertRaisesRegex(ValueError, "row 3: predicted class 'c'"):
            drift_reference.build_reference([{"predicted": "a"}, {"predicted": "c"}], ["a", "b"])


if __name__ == "__main__":
    unittest.main()
