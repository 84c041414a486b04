"""core::ComputeReport and core::ComputeConfidence against scikit-learn 1.2 as the oracle.

Random event streams (imbalanced, 2 to 20 classes, classes missing, only-predicted classes,
unlabeled and unscored events, scores from a Dirichlet with exact zeros, ones and ties) go
through bench/report_cli, which accumulates them with the daemon's per-event formulas and prints
the report as JSON; every number is compared with sklearn's (numpy's for the expected calibration
error, which sklearn lacks) on the same events, to 1e-9.
"""

import json
import os
import subprocess
import unittest
import warnings

import numpy as np
from sklearn import metrics

TOLERANCE = 1e-9


def cli_path():
    binary_dir = os.environ.get("MODELWATCH_BINARY_DIR", "")
    return os.path.join(binary_dir, "bench", "report_cli")


class Stream:
    """Events of one model: actual (-1 when unlabeled), predicted, and float32 scores whose rows
    are used only where has_scores is set."""

    def __init__(self, classes, actual, predicted, scores=None, has_scores=None, bins=10):
        self.classes = classes
        self.bins = bins
        self.actual = np.asarray(actual, dtype=np.int64)
        self.predicted = np.asarray(predicted, dtype=np.int64)
        n = len(self.actual)
        if scores is None:
            scores = np.zeros((n, classes), dtype=np.float32)
            has_scores = np.zeros(n, dtype=bool)
        self.scores = np.asarray(scores, dtype=np.float32).reshape(n, classes)
        if has_scores is None:
            has_scores = np.ones(n, dtype=bool)
        self.has_scores = np.asarray(has_scores, dtype=bool)

    def text(self):
        lines = ["%d %d" % (self.classes, self.bins)]
        for i in range(len(self.actual)):
            fields = ["%d" % self.actual[i], "%d" % self.predicted[i]]
            if self.has_scores[i]:
                # repr of the float64 that holds the float32 exactly: strtof reads it back as
                # the same float32.
                fields += [repr(float(s)) for s in self.scores[i]]
            lines.append(" ".join(fields))
        return "\n".join(lines) + "\n"


def run_cli(stream):
    done = subprocess.run(
        [cli_path()], input=stream.text(), capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise AssertionError("report_cli failed: %s" % done.stderr)
    return json.loads(done.stdout)


def prf(values):
    return {"precision": values[0], "recall": values[1], "f1": values[2]}


def expected_calibration_error(y_true, scores, bins):
    top = scores.max(axis=1)
    right = scores.argmax(axis=1) == y_true  # argmax takes the lowest index on ties
    bin_of = np.minimum((top * bins).astype(np.int64), bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = bin_of == b
        n_b = in_bin.sum()
        if n_b:
            ece += n_b / len(top) * abs(right[in_bin].mean() - top[in_bin].mean())
    return ece


def oracle(stream):
    """The report and confidence summary as sklearn computes them on the stream's events."""
    evaluated = stream.actual >= 0
    scored = stream.scores[stream.has_scores].astype(np.float64)
    confidence = None
    if len(scored):
        confidence = {"scored": len(scored), "mean_confidence": scored.max(axis=1).mean()}
    if not evaluated.any():
        return {"report": None, "confidence": confidence}

    y_true = stream.actual[evaluated]
    y_pred = stream.predicted[evaluated]
    with warnings.catch_warnings():
        # sklearn warns on the ill-defined cases (no support, single class) it handles.
        warnings.simplefilter("ignore")
        p, r, f, s = metrics.precision_recall_fscore_support(
            y_true, y_pred, average=None, zero_division=0
        )
        report = {
            "evaluated": int(evaluated.sum()),
            "classes": [int(c) for c in np.unique(np.concatenate([y_true, y_pred]))],
            "per_class": [prf(v) for v in zip(p, r, f)],
            "support": [int(v) for v in s],
            "accuracy": metrics.accuracy_score(y_true, y_pred),
            "balanced_accuracy": metrics.balanced_accuracy_score(y_true, y_pred),
            "cohen_kappa": metrics.cohen_kappa_score(y_true, y_pred),
            "matthews_corrcoef": metrics.matthews_corrcoef(y_true, y_pred),
            "log_loss": None,
            "expected_calibration_error": None,
            "brier": [],
        }
        for average in ("macro", "micro", "weighted"):
            report[average] = prf(
                metrics.precision_recall_fscore_support(
                    y_true, y_pred, average=average, zero_division=0
                )[:3]
            )
    if np.isnan(report["cohen_kappa"]):
        report["cohen_kappa"] = None

    scored_evaluated = evaluated & stream.has_scores
    if scored_evaluated.any():
        y = stream.actual[scored_evaluated]
        scores = stream.scores[scored_evaluated].astype(np.float64)
        report["log_loss"] = metrics.log_loss(y, scores, labels=range(stream.classes))
        report["brier"] = [
            metrics.brier_score_loss((y == c).astype(np.int64), scores[:, c], pos_label=1)
            for c in report["classes"]
        ]
        report["expected_calibration_error"] = expected_calibration_error(
            y, scores, stream.bins
        )
    return {"report": report, "confidence": confidence}


def random_stream(rng):
    """An imbalanced stream: 2..20 classes, some never true, a model that is usually but not
    always right, some events unlabeled or unscored."""
    k = int(rng.integers(2, 21))
    n = int(rng.integers(1, 2500))
    prior = rng.dirichlet(np.full(k, 0.4))
    absent = rng.random(k) < 0.25
    if absent.all():
        absent[int(rng.integers(k))] = False
    prior[absent] = 0
    prior /= prior.sum()
    truth = rng.choice(k, size=n, p=prior)

    # Scores lean towards the true class; some rows are one-hot or hold exact zeros.
    skill = rng.uniform(0, 6)
    concentration = np.full((n, k), rng.uniform(0.1, 1.5))
    concentration[np.arange(n), truth] += skill
    scores = np.array([rng.dirichlet(c) for c in concentration]).astype(np.float32)
    one_hot = rng.random(n) < 0.05
    scores[one_hot] = 0
    scores[one_hot, rng.integers(k, size=one_hot.sum())] = 1
    scores[rng.random((n, k)) < 0.03] = 0

    # In half of the streams the model never emits the absent classes, so they are left out of
    # the report; in the others it does, so they appear as only-predicted classes.
    emitted = np.arange(k)
    if rng.random() < 0.5:
        scores[:, absent] = 0
        emitted = emitted[~absent]

    # Predictions are the top score, except some a post-processing step overrides.
    predicted = scores.argmax(axis=1)
    override = rng.random(n) < rng.uniform(0, 0.3)
    predicted[override] = rng.choice(emitted, size=override.sum())

    actual = truth.copy()
    actual[rng.random(n) < rng.uniform(0, 0.4)] = -1
    has_scores = rng.random(n) < rng.choice([0.0, 0.5, 0.9, 1.0])
    bins = int(rng.choice([1, 4, 10, 15]))
    return Stream(k, actual, predicted, scores, has_scores, bins)


class ReportOracleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(cli_path(), os.X_OK):
            raise AssertionError(
                "%s is not built (set MODELWATCH_BINARY_DIR to the build directory)" % cli_path()
            )

    def assertMatches(self, got, want, path="$"):
        if want is None or isinstance(want, (bool, str)):
            self.assertEqual(got, want, path)
        elif isinstance(want, dict):
            self.assertIsInstance(got, dict, path)
            self.assertEqual(sorted(got), sorted(want), path)
            for key in want:
                self.assertMatches(got[key], want[key], "%s.%s" % (path, key))
        elif isinstance(want, list):
            self.assertIsInstance(got, list, path)
            self.assertEqual(len(got), len(want), path)
            for i, (g, w) in enumerate(zip(got, want)):
                self.assertMatches(g, w, "%s[%d]" % (path, i))
        elif isinstance(want, (int, np.integer)):
            self.assertEqual(got, int(want), path)
        else:
            self.assertIsNotNone(got, path)
            self.assertTrue(np.isfinite(want), path)
            self.assertAlmostEqual(got, float(want), delta=TOLERANCE, msg=path)

    def check(self, stream):
        self.assertMatches(run_cli(stream), oracle(stream))

    def test_random_streams_match_sklearn(self):
        rng = np.random.default_rng(20260512)
        for seed in range(80):
            stream = random_stream(rng)
            with self.subTest(seed=seed, classes=stream.classes, events=len(stream.actual)):
                self.check(stream)

    def test_perfect_model(self):
        truth = np.array([0, 1, 2, 2, 1, 0, 0])
        self.check(Stream(3, truth, truth, np.eye(3)[truth]))

    def test_all_wrong(self):
        truth = np.array([0, 1, 2, 0, 1, 2, 2])
        scores = np.full((7, 3), 0.25)
        scores[np.arange(7), (truth + 1) % 3] = 0.5
        self.check(Stream(3, truth, (truth + 1) % 3, scores))

    def test_binary(self):
        rng = np.random.default_rng(7)
        truth = rng.integers(2, size=500)
        p1 = np.clip(0.3 + 0.4 * truth + rng.normal(0, 0.2, 500), 0, 1)
        scores = np.stack([1 - p1, p1], axis=1)
        self.check(Stream(2, truth, (p1 >= 0.5).astype(int), scores))

    def test_one_class_only_has_no_kappa(self):
        stream = Stream(4, [2] * 5, [2] * 5, [[0.1, 0.1, 0.7, 0.1]] * 5)
        self.check(stream)
        self.assertIsNone(run_cli(stream)["report"]["cohen_kappa"])

    def test_class_never_predicted_and_class_never_true(self):
        # Class 1 is true but never predicted; class 3 is predicted but never true; class 2
        # never occurs and is left out of the report.
        self.check(Stream(4, [0, 0, 1, 1, 0, 1], [0, 3, 0, 3, 0, 0]))

    def test_ties_and_bin_edges(self):
        scores = [
            [0.25, 0.25, 0.25, 0.25],  # four-way tie: class 0 is the top class
            [0.0, 0.5, 0.5, 0.0],  # tie between 1 and 2
            [0.0, 0.0, 0.0, 1.0],  # top score 1.0 falls in the last bin
            [0.5, 0.25, 0.25, 0.0],  # exactly on a bin edge
            [0.0, 0.0, 0.0, 0.0],  # all zero: clipped to eps, log loss log(4)
        ]
        self.check(Stream(4, [0, 2, 3, 0, 1], [0, 1, 3, 0, 2], scores, bins=4))

    def test_unlabeled_only_has_confidence_but_no_report(self):
        stream = Stream(3, [-1, -1], [0, 2], [[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
        self.check(stream)
        got = run_cli(stream)
        self.assertIsNone(got["report"])
        self.assertEqual(got["confidence"]["scored"], 2)

    def test_unscored_has_no_score_metrics(self):
        stream = Stream(3, [0, 1, 2], [0, 2, 2])
        self.check(stream)
        got = run_cli(stream)
        self.assertIsNone(got["confidence"])
        self.assertIsNone(got["report"]["log_loss"])
        self.assertIsNone(got["report"]["expected_calibration_error"])
        self.assertEqual(got["report"]["brier"], [])

    def test_malformed_input_is_rejected(self):
        for text in ["", "0\n", "3\n0 3\n", "3\n-2 0\n", "3\n0 0 0.5 0.5\n", "3\n0 0 0.5 0.5 1.5\n",
                     "3\n0 0 nan 0.5 0.5\n", "3\nzero 0\n"]:
            with self.subTest(text=text):
                done = subprocess.run([cli_path()], input=text, capture_output=True, text=True)
                self.assertEqual(done.returncode, 2, done.stdout)
                self.assertTrue(done.stderr.startswith("line "), done.stderr)


if __name__ == "__main__":
    unittest.main()
