"""Every number modelwatchd serves on /metrics, checked against scikit-learn on generated streams.

Each scenario starts the real daemon (tests/daemon/daemon_fixture.py) on its test clock, streams
seeded events into it over gRPC with the Python client, and mirrors in Python exactly what the
daemon accepted and when: the arrival time of every batch (events count in the window of their
arrival, README "How it works"), the label join (either order, the newer duplicate wins, a joined
pair counts at the arrival of the later of the two, entries older than the TTL expire) and the
order in which a model learns its class names. From those events the oracle computes the whole
exposition: the report of each window with sklearn (precision_recall_fscore_support with
labels=None and zero_division=0, confusion_matrix, balanced_accuracy_score, cohen_kappa_score,
matthews_corrcoef, log_loss over every model class, brier_score_loss per class one-vs-rest),
the expected calibration error and mean confidence with numpy, the cumulative counters, the join
counters and the label lag histogram. A scrape must hold exactly the expected series (a metric
undefined in a window is absent), each within 1e-9 (relative above 1).

Scores travel as float32, so the generators draw float32 scores and the oracle computes in
float64 on those exact values.
"""

import hashlib
import math
import os
import sys
import threading
import unittest
import warnings
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
from sklearn import metrics as skm

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "daemon"))
from daemon_fixture import Daemon  # noqa: E402  (needs the path above)
from modelwatch_client import BatchBuilder  # noqa: E402
from modelwatch.v1 import ingest_pb2  # noqa: E402

TOLERANCE = 1e-9
JOIN_SHARDS = 16
T0 = 1_700_000_000
# Upper bounds of modelwatch_label_lag_seconds, as the README's histogram exposes them.
LAG_BOUNDS = [1, 5, 30, 60, 300, 900, 3600, 21600, 86400, 259200, 604800]
REJECT_REASONS = [name.lower() for name in ingest_pb2.RejectReason.keys()
                  if name != "REJECT_REASON_UNSPECIFIED"]


# ---------------------------------------------------------------------------------------------
# Events as the scenarios write them.

@dataclass
class Pred:
    """One prediction; class names are names of the group's dictionary, and `scores` follows
    the dictionary's order."""
    predicted: str
    scores: Optional[Sequence[float]] = None
    id: Optional[Union[int, str]] = None
    label: Optional[str] = None
    ts_ms: Optional[int] = None


@dataclass
class Lab:
    label: str
    id: Union[int, str]
    ts_ms: Optional[int] = None


@dataclass
class Group:
    """One group of a batch: one model and version, one class dictionary. Labels ignore the
    version, so a group with labels has version "" (the client puts labels there)."""
    model: str
    dictionary: Sequence[str]
    predictions: Sequence[Pred] = ()
    labels: Sequence[Lab] = ()
    version: str = ""


# ---------------------------------------------------------------------------------------------
# The oracle: what the daemon holds after the events it accepted.

@dataclass
class PredRecord:
    t: int  # arrival, Unix seconds
    predicted: int
    row: Optional[np.ndarray]  # float64 scores in model class order, k = classes known then
    with_id: bool  # a join candidate: carried an id and no inline label


@dataclass
class EvalRecord:
    t: int  # when evaluated: arrival of the prediction (inline) or of the later of the pair
    actual: int
    predicted: int
    row: Optional[np.ndarray]
    joined: bool


@dataclass
class Pending:
    kind: str  # "prediction" or "label"
    arrival: int
    ts_ms: int
    cls: int  # predicted class of a prediction, true class of a label
    version: str = ""
    row: Optional[np.ndarray] = None


class ModelOracle:
    """Mirrors one model of the config: its classes, versions, windows and join table."""

    def __init__(self, name, classes=None, windows=(("5m", 300, 15), ("1h", 3600, 120),
                                                     ("24h", 86400, 3600)),
                 ttl=86400, bins=10, max_learned=32, capacity=100000):
        self.name = name
        self.learned = classes is None
        self.classes = [] if classes is None else list(classes)
        self.windows = list(windows)
        self.ttl = ttl
        self.bins = bins
        self.max_learned = max_learned
        self.versions = {}  # version label -> {"predictions": [...], "evaluations": [...]}
        # Waiting entries by id, oldest arrival first (a duplicate replaces its entry and moves
        # to the back, as it restarts the entry's wait).
        self.pending = {}  # id -> Pending
        self.capacity = capacity
        self.shard_capacity = max(1, capacity // JOIN_SHARDS)
        self.stats = dict(joined=0, expired_prediction=0, expired_label=0, evicted=0,
                          duplicate_prediction=0, duplicate_label=0, joined_by_prediction=0)
        self.lags = []
        self.accepted = dict(prediction=0, label=0)

    # Ingest, in the daemon's order: the group's dictionary, then its predictions (counted, then
    # evaluated inline or handed to the join table), then its labels.

    def resolve(self, dictionary):
        index = []
        for name in dictionary:
            if name not in self.classes:
                if not self.learned or len(self.classes) >= self.max_learned:
                    raise AssertionError(f"the scenario sends unknown class {name!r}")
                self.classes.append(name)
            index.append(self.classes.index(name))
        return index

    def ingest(self, now, group):
        index = self.resolve(group.dictionary)
        k = len(self.classes)
        self.expire(now)
        if group.predictions:
            version = group.version or "default"
            records = self.versions.setdefault(version, {"predictions": [], "evaluations": []})
            waiting = []
            for p in group.predictions:
                predicted = index[list(group.dictionary).index(p.predicted)]
                row = None
                if p.scores is not None:
                    row = np.zeros(k)
                    for j, c in enumerate(index):
                        row[c] = float(np.float32(p.scores[j]))
                with_id = p.label is None and p.id is not None
                records["predictions"].append(PredRecord(now, predicted, row, with_id))
                self.accepted["prediction"] += 1
                if p.label is not None:
                    actual = index[list(group.dictionary).index(p.label)]
                    records["evaluations"].append(EvalRecord(now, actual, predicted, row, False))
                elif p.id is not None:
                    ts = p.ts_ms if p.ts_ms and p.ts_ms > 0 else now * 1000
                    waiting.append((p.id, Pending("prediction", now, ts, predicted, version, row)))
            for id_, entry in waiting:
                self.add_prediction(now, id_, entry)
        for lab in group.labels:
            self.accepted["label"] += 1
            ts = lab.ts_ms if lab.ts_ms and lab.ts_ms > 0 else now * 1000
            actual = index[list(group.dictionary).index(lab.label)]
            self.add_label(now, lab.id, Pending("label", now, ts, actual))

    def expire(self, now):
        """Drops entries that arrived more than the TTL before `now`."""
        for id_ in [i for i, e in self.pending.items() if e.arrival < now - self.ttl]:
            self.stats["expired_" + self.pending.pop(id_).kind] += 1

    def add_prediction(self, now, id_, entry):
        waiting = self.pending.get(id_)
        if waiting is not None and waiting.kind == "label":
            del self.pending[id_]
            self.stats["joined_by_prediction"] += 1
            self.join(now, entry, waiting)
            return
        if waiting is not None:
            self.stats["duplicate_prediction"] += 1
        self.wait(id_, entry)

    def add_label(self, now, id_, entry):
        waiting = self.pending.get(id_)
        if waiting is not None and waiting.kind == "prediction":
            del self.pending[id_]
            self.join(now, waiting, entry)
            return
        if waiting is not None:
            self.stats["duplicate_label"] += 1
        self.wait(id_, entry)

    def wait(self, id_, entry):
        """Stores an entry under its id; a new id first evicts the oldest entry of its shard
        when the shard is full."""
        if id_ in self.pending:
            del self.pending[id_]
        else:
            shard = [i for i in self.pending if join_shard(i) == join_shard(id_)]
            if len(shard) >= self.shard_capacity:
                del self.pending[shard[0]]
                self.stats["evicted"] += 1
        self.pending[id_] = entry

    def join(self, now, prediction, label):
        self.stats["joined"] += 1
        lag_ms = label.ts_ms - prediction.ts_ms
        self.lags.append(lag_ms / 1000.0 if lag_ms > 0 else 0.0)
        self.versions[prediction.version]["evaluations"].append(
            EvalRecord(now, label.cls, prediction.cls, prediction.row, True))

    # The exposition as of `now`.

    def series(self, now, out):
        self.expire(now)
        model = {"model": self.name}
        for version, records in self.versions.items():
            base = dict(model, version=version)
            cumulative_series(out, base, self.classes, records["predictions"],
                              records["evaluations"], self.bins)
            for name, length, granularity in self.windows:
                window = (now, length, granularity)
                window_series(out, dict(base, window=name), self.classes,
                              [p for p in records["predictions"] if in_window(p.t, *window)],
                              [e for e in records["evaluations"] if in_window(e.t, *window)],
                              self.bins)
        for kind in ("prediction", "label"):
            put(out, "modelwatch_join_expired_total", dict(model, kind=kind),
                self.stats["expired_" + kind])
            put(out, "modelwatch_join_duplicates_total", dict(model, kind=kind),
                self.stats["duplicate_" + kind])
            put(out, "modelwatch_join_pending", dict(model, kind=kind),
                sum(1 for e in self.pending.values() if e.kind == kind))
        put(out, "modelwatch_join_evictions_total", model, self.stats["evicted"])
        lags = np.array(self.lags)
        for bound in LAG_BOUNDS:
            put(out, "modelwatch_label_lag_seconds_bucket", dict(model, le=str(bound)),
                int(np.sum(lags <= bound)))
        put(out, "modelwatch_label_lag_seconds_bucket", dict(model, le="+Inf"), len(lags))
        put(out, "modelwatch_label_lag_seconds_count", model, len(lags))
        put(out, "modelwatch_label_lag_seconds_sum", model, float(np.sum(lags)))
        if self.accepted["prediction"] or self.accepted["label"]:
            for kind, n in self.accepted.items():
                put(out, "modelwatch_events_accepted_total", dict(model, kind=kind), n)


def in_window(t, now, length, granularity):
    """Whether an event that arrived at `t` counts in the window at `now`: its bucket,
    floor(t / granularity), is one of the window's last length / granularity buckets."""
    newest = now // granularity
    return newest - length // granularity < t // granularity <= newest


def join_shard(id_):
    """The join table shard an integer id lands in. The table is split into JOIN_SHARDS shards
    of max(1, capacity / JOIN_SHARDS) entries, each evicting its own oldest entry
    (core/label_joiner.h); which shard is the join table's own hash of the id, mirrored here. A
    scenario that fills a shard uses integer ids; other scenarios never fill one, and their
    string ids (hashed by the daemon) all count as one shard here."""
    if isinstance(id_, str):
        return -1
    return ((id_ * 0x9E3779B97F4A7C15) % 2**64 >> 32) % JOIN_SHARDS


def put(out, name, labels, value):
    key = (name, frozenset(labels.items()))
    assert key not in out, f"the oracle computed {key} twice"
    out[key] = float(value)


def padded(rows, k):
    """The score rows as an n x k matrix; classes learned after a prediction score 0."""
    out = np.zeros((len(rows), k))
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out


def bin_label(b, bins):
    return "%.6g" % ((b + 1) / bins)


def calibration_bins(y, scores, bins):
    """Per equal-width bin of the top score: count, how many had the true class as their first
    argmax, and the sum of the top score."""
    top = scores.max(axis=1)
    right = scores.argmax(axis=1) == y
    bin_of = np.minimum((top * bins).astype(np.int64), bins - 1)
    return [(int(np.sum(bin_of == b)), int(np.sum(right[bin_of == b])),
             float(np.sum(top[bin_of == b]))) for b in range(bins)]


def expected_calibration_error(y, scores, bins):
    n = len(y)
    top = scores.max(axis=1)
    right = scores.argmax(axis=1) == y
    bin_of = np.minimum((top * bins).astype(np.int64), bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = bin_of == b
        if in_bin.any():
            ece += in_bin.sum() / n * abs(right[in_bin].mean() - top[in_bin].mean())
    return ece


def cumulative_series(out, base, classes, predictions, evaluations, bins):
    k = len(classes)
    predicted = np.array([p.predicted for p in predictions], dtype=np.int64)
    for c, name in enumerate(classes):
        put(out, "modelwatch_predictions_total", dict(base, **{"class": name}),
            np.sum(predicted == c))
    y = np.array([e.actual for e in evaluations], dtype=np.int64)
    y_pred = np.array([e.predicted for e in evaluations], dtype=np.int64)
    cm = (skm.confusion_matrix(y, y_pred, labels=list(range(k))) if len(y)
          else np.zeros((k, k)))
    for a, actual in enumerate(classes):
        for p, pred in enumerate(classes):
            put(out, "modelwatch_confusion_matrix_total",
                dict(base, actual=actual, predicted=pred), cm[a][p])

    scored = [p.row for p in predictions if p.row is not None]
    put(out, "modelwatch_scored_predictions_total", base, len(scored))
    put(out, "modelwatch_confidence_sum_total", base,
        sum(float(np.max(row)) for row in scored))
    scored_evals = [e for e in evaluations if e.row is not None]
    n = len(scored_evals)
    put(out, "modelwatch_scored_evaluations_total", base, n)
    ys = np.array([e.actual for e in scored_evals], dtype=np.int64)
    probs = padded([e.row for e in scored_evals], k)
    put(out, "modelwatch_log_loss_sum_total", base,
        skm.log_loss(ys, probs, labels=list(range(k)), normalize=False) if n else 0.0)
    for c, name in enumerate(classes):
        brier = (skm.brier_score_loss((ys == c).astype(int), probs[:, c], pos_label=1) * n
                 if n else 0.0)
        put(out, "modelwatch_brier_sum_total", dict(base, **{"class": name}), brier)
    per_bin = calibration_bins(ys, probs, bins) if n else [(0, 0, 0.0)] * bins
    for b, (count, right, confidence) in enumerate(per_bin):
        labels = dict(base, bin=bin_label(b, bins))
        put(out, "modelwatch_calibration_total", labels, count)
        put(out, "modelwatch_calibration_correct_total", labels, right)
        put(out, "modelwatch_calibration_confidence_sum_total", labels, confidence)
    put(out, "modelwatch_predictions_with_id_total", base, sum(p.with_id for p in predictions))
    put(out, "modelwatch_label_joins_total", base, sum(e.joined for e in evaluations))


def window_series(out, base, classes, predictions, evaluations, bins):
    """The windowed gauges of one window: sklearn's report on its evaluations, the label-free
    estimate and coverage on its predictions; a metric undefined in the window gets no series."""
    put(out, "modelwatch_window_predictions", base, len(predictions))
    put(out, "modelwatch_window_evaluated", base, len(evaluations))
    if evaluations:
        report_series(out, base, classes, evaluations, bins)
    tops = [float(np.max(p.row)) for p in predictions if p.row is not None]
    if tops:
        put(out, "modelwatch_mean_confidence", base, np.mean(tops))
    with_id = sum(p.with_id for p in predictions)
    if with_id:
        put(out, "modelwatch_label_coverage", base,
            sum(e.joined for e in evaluations) / with_id)


def report_series(out, base, classes, evaluations, bins):
    k = len(classes)
    y = np.array([e.actual for e in evaluations], dtype=np.int64)
    y_pred = np.array([e.predicted for e in evaluations], dtype=np.int64)
    present = np.unique(np.concatenate([y, y_pred]))
    with warnings.catch_warnings():
        # sklearn warns where it drops a class from a mean or divides by zero, as specified.
        warnings.simplefilter("ignore")
        precision, recall, f1, support = skm.precision_recall_fscore_support(
            y, y_pred, labels=None, zero_division=0)
        for i, c in enumerate(present):
            labels = dict(base, **{"class": classes[c]})
            put(out, "modelwatch_precision", labels, precision[i])
            put(out, "modelwatch_recall", labels, recall[i])
            put(out, "modelwatch_f1", labels, f1[i])
            put(out, "modelwatch_support", labels, support[i])
        for average in ("macro", "micro", "weighted"):
            p, r, f, _ = skm.precision_recall_fscore_support(y, y_pred, labels=None,
                                                             average=average, zero_division=0)
            labels = dict(base, average=average)
            put(out, "modelwatch_precision_average", labels, p)
            put(out, "modelwatch_recall_average", labels, r)
            put(out, "modelwatch_f1_average", labels, f)
        put(out, "modelwatch_accuracy", base, skm.accuracy_score(y, y_pred))
        put(out, "modelwatch_balanced_accuracy", base, skm.balanced_accuracy_score(y, y_pred))
        kappa = skm.cohen_kappa_score(y, y_pred)
        if not math.isnan(kappa):
            put(out, "modelwatch_cohen_kappa", base, kappa)
        put(out, "modelwatch_matthews_corrcoef", base, skm.matthews_corrcoef(y, y_pred))
    cm = skm.confusion_matrix(y, y_pred)
    for i, a in enumerate(present):
        for j, p in enumerate(present):
            put(out, "modelwatch_window_confusion",
                dict(base, actual=classes[a], predicted=classes[p]), cm[i][j])

    scored = [e for e in evaluations if e.row is not None]
    if not scored:
        return
    ys = np.array([e.actual for e in scored], dtype=np.int64)
    probs = padded([e.row for e in scored], k)
    put(out, "modelwatch_log_loss", base, skm.log_loss(ys, probs, labels=list(range(k))))
    for c in present:
        put(out, "modelwatch_brier_score", dict(base, **{"class": classes[c]}),
            skm.brier_score_loss((ys == c).astype(int), probs[:, c], pos_label=1))
    put(out, "modelwatch_expected_calibration_error", base,
        expected_calibration_error(ys, probs, bins))


# ---------------------------------------------------------------------------------------------
# Comparison.

# Series whose values the oracle does not model; checked on their own.
IDENTITY = ("modelwatch_build_info", "modelwatch_config_info")


def close(actual, expected):
    if math.isnan(actual) or math.isnan(expected):
        return False
    return abs(actual - expected) <= TOLERANCE * max(1.0, abs(expected))


def describe(key):
    name, labels = key
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels)) + "}"


def mismatches(actual, expected):
    """What differs between a scrape and the expected series: missing series, series that
    should be absent, and values further apart than TOLERANCE."""
    out = []
    for key in sorted(expected.keys() - actual.keys(), key=describe):
        out.append(f"missing {describe(key)} (expected {expected[key]!r})")
    for key in sorted(actual.keys() - expected.keys(), key=describe):
        out.append(f"unexpected {describe(key)} = {actual[key]!r}")
    for key in sorted(actual.keys() & expected.keys(), key=describe):
        if not close(actual[key], expected[key]):
            out.append(f"{describe(key)} = {actual[key]!r}, expected {expected[key]!r} "
                       f"(off by {actual[key] - expected[key]:.3g})")
    return out


class Session:
    """A daemon on its test clock, the oracle of each of its models, and the batches sent."""

    def __init__(self, test, models):
        self.test = test
        self.config = config_text(models)
        self.models = {m.name: m for m in models}
        self.now = T0
        self.batches = {"stream": 0, "send": 0}
        self.daemon = Daemon(config_text=self.config, test_clock=T0).start()
        test.addCleanup(self.daemon.stop)
        self.client = self.daemon.client()

    def build(self, groups):
        builder = BatchBuilder()
        keys = [(g.model, g.version) for g in groups]
        self.test.assertEqual(len(keys), len(set(keys)), "one group per model and version")
        for g in groups:
            self.test.assertTrue(g.predictions or g.labels, "an empty group is rejected")
            self.test.assertTrue(g.version == "" or not g.labels, "labels go to version ''")
            names = list(g.dictionary)
            for p in g.predictions:
                builder.add_prediction(g.model, p.predicted, scores=p.scores, id=p.id,
                                       label=p.label, version=g.version, timestamp_ms=p.ts_ms,
                                       class_names=names)
            for lab in g.labels:
                builder.add_label(g.model, lab.label, id=lab.id, timestamp_ms=lab.ts_ms,
                                  class_names=names)
        batch = builder.build()
        self.test.assertEqual([list(g.class_names) for g in batch.groups],
                              [list(g.dictionary) for g in groups])
        return batch

    def send(self, *batches):
        """Sends batches (each a list of Groups): one Send, or one Stream for several. Every
        event must be accepted."""
        built = [self.build(groups) for groups in batches]
        if len(built) == 1:
            reply = self.client.send(built[0])
            self.batches["send"] += 1
        else:
            reply = self.client.stream(built)
            self.batches["stream"] += len(built)
        groups = [g for groups in batches for g in groups]
        self.test.assertEqual(list(reply.rejected), [])
        self.test.assertEqual(
            (reply.accepted_predictions, reply.accepted_labels),
            (sum(len(g.predictions) for g in groups), sum(len(g.labels) for g in groups)))
        for g in groups:
            self.models[g.model].ingest(self.now, g)

    def stream_concurrently(self, *streams):
        """Sends each list of batches on its own stream, all at once from as many threads, so
        that several server threads write the same counters. The order in which the daemon
        applies the threads' batches is unknown, so every prediction carries its label inline:
        nothing waits for a join, and the counts do not depend on the order."""
        built = [[self.build(groups) for groups in batches] for batches in streams]
        replies = [None] * len(built)

        def run(i):
            replies[i] = self.client.stream(built[i])

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(built))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for batches, reply in zip(streams, replies):
            self.test.assertIsNotNone(reply)
            self.batches["stream"] += len(batches)
            groups = [g for groups in batches for g in groups]
            self.test.assertTrue(all(p.label is not None for g in groups for p in g.predictions))
            self.test.assertEqual(list(reply.rejected), [])
            self.test.assertEqual(reply.accepted_predictions,
                                  sum(len(g.predictions) for g in groups))
            for g in groups:
                self.models[g.model].ingest(self.now, g)

    def advance(self, seconds):
        self.now += seconds
        self.test.assertEqual(self.daemon.advance_clock(seconds), self.now)

    def set_clock(self, unix_seconds):
        self.now = unix_seconds
        self.test.assertEqual(self.daemon.set_clock(unix_seconds), self.now)

    def expected(self):
        out = {}
        for model in self.models.values():
            model.series(self.now, out)
        for reason in REJECT_REASONS:
            put(out, "modelwatch_events_rejected_total", {"reason": reason}, 0)
        for rpc, n in self.batches.items():
            put(out, "modelwatch_batches_total", {"rpc": rpc}, n)
        put(out, "modelwatch_writer_slot_overflow_total", {}, 0)
        put(out, "modelwatch_models", {}, len(self.models))
        return out

    def check(self, what=""):
        """Scrapes once and compares every series with the oracle; returns both."""
        scraped = self.daemon.scrape()
        for model in self.models:
            self.assert_join_conserves_entries(scraped, model, what)
        actual = {k: v for k, v in scraped.items() if k[0] not in IDENTITY}
        expected = self.expected()
        problems = mismatches(actual, expected)
        if problems:
            self.test.fail(f"{what} at now=T0+{self.now - T0}s: {len(problems)} mismatches:\n  "
                           + "\n  ".join(problems[:40]))
        info = [dict(k[1]) for k in scraped if k[0] == "modelwatch_config_info"]
        self.test.assertEqual([i["hash"] for i in info],
                              [hashlib.sha256(self.config.encode()).hexdigest()])
        self.test.assertEqual([v for k, v in scraped.items() if k[0] in IDENTITY], [1.0, 1.0])
        return actual, expected

    def assert_join_conserves_entries(self, scraped, model, what):
        """From the daemon's numbers alone, whatever its hashing: every prediction with an id
        and every label either joined a waiting entry or waited, and every entry that waited
        joined, was replaced by a duplicate, expired, was evicted or is still pending."""
        def total(name, **labels):
            want = set(dict(model=model, **labels).items())
            return sum(v for k, v in scraped.items() if k[0] == name and want <= k[1])

        arrived = (total("modelwatch_predictions_with_id_total")
                   + total("modelwatch_events_accepted_total", kind="label"))
        accounted = (2 * total("modelwatch_label_joins_total")
                     + total("modelwatch_join_duplicates_total")
                     + total("modelwatch_join_expired_total")
                     + total("modelwatch_join_evictions_total")
                     + total("modelwatch_join_pending"))
        self.test.assertEqual(arrived, accounted, f"{what}: join entries of model {model}")


def config_text(models):
    """The config that declares exactly what each ModelOracle mirrors."""
    lines = ["accept_unknown_models: false", "models:"]
    for m in models:
        lines.append(f"  - name: {m.name}")
        if m.learned:
            lines.append(f"    max_learned_classes: {m.max_learned}")
        else:
            lines.append(f"    classes: [{', '.join(m.classes)}]")
        lines.append(f"    calibration_bins: {m.bins}")
        lines.append(f"    join: {{capacity: {m.capacity}, ttl: {m.ttl}s}}")
        lines.append("    windows:")
        lines += [f"      - {{name: {name}, length: {length}s, granularity: {granularity}s}}"
                  for name, length, granularity in m.windows]
    return "\n".join(lines) + "\n"


def dirichlet_scores(rng, y, k, concentration, background=0.4):
    """float32 score rows leaning towards the classes in `y`."""
    alpha = np.full((len(y), k), background)
    alpha[np.arange(len(y)), y] += concentration
    draws = rng.gamma(alpha)  # a Dirichlet row per event: gamma draws, normalized
    return (draws / draws.sum(axis=1, keepdims=True)).astype(np.float32)


def label_values(series, name, label):
    return {dict(k[1])[label] for k in series if k[0] == name}


# ---------------------------------------------------------------------------------------------
# The scenarios.

class ComparisonTest(unittest.TestCase):
    """The comparison fails on each kind of difference, so the scenarios' assertions can fail."""

    def test_catches_every_kind_of_difference(self):
        a = ("modelwatch_accuracy", frozenset({"window": "5m"}.items()))
        b = ("modelwatch_confidence_sum_total", frozenset())
        expected = {a: 0.75, b: 1234.5}
        self.assertEqual(mismatches(dict(expected), expected), [])
        self.assertEqual(mismatches({a: 0.75 + 5e-10, b: 1234.5 * (1 + 5e-10)}, expected), [])
        self.assertEqual(len(mismatches({a: 0.75 + 2e-9, b: 1234.5}, expected)), 1)
        self.assertEqual(len(mismatches({a: 0.75, b: 1234.5 * (1 + 2e-9)}, expected)), 1)
        self.assertEqual(len(mismatches({a: math.nan, b: 1234.5}, expected)), 1)
        self.assertIn("missing", mismatches({b: 1234.5}, expected)[0])
        self.assertIn("unexpected", mismatches({**expected, ("x", frozenset()): 0.0},
                                                expected)[0])


class ReportOracleTest(unittest.TestCase):

    def assert_each_series_checked(self, actual, expected):
        """For one series of every metric name: an expected value off by twice the tolerance
        is reported, and so is the series missing or unexpected."""
        seen = {}
        for key in expected:
            seen.setdefault(key[0], key)
        self.assertGreater(len(seen), 10)
        for name, key in seen.items():
            wrong = dict(expected)
            wrong[key] = expected[key] + 2 * TOLERANCE * max(1.0, abs(expected[key]))
            self.assertEqual(len(mismatches(actual, wrong)), 1, name)
            del wrong[key]
            self.assertEqual(len(mismatches(actual, wrong)), 1, name)

    def test_imbalanced_twelve_classes_with_scores(self):
        """5,000 inline-labelled events of an imbalanced 12-class model with Dirichlet scores:
        rare classes, predictions that are not the top score, exact ties, one-hot and all-zero
        score rows, and a batch without scores (left out of the score metrics). Half the events
        come on two concurrent streams, so that the windows sum several writers' counters."""
        rng = np.random.default_rng(1201)
        k = 12
        classes = [f"k{c:02d}" for c in range(k)]
        windows = [("5m", 300, 15), ("1h", 3600, 120)]
        oracle = ModelOracle("imbalanced", classes, windows, bins=15)
        s = Session(self, [oracle])

        prior = 1.0 / np.arange(1, k + 1) ** 1.8
        n = 4800
        y = rng.choice(k, size=n, p=prior / prior.sum())
        scores = dirichlet_scores(rng, y, k, concentration=2.5)
        predicted = scores.argmax(axis=1)
        other = rng.random(n) < 0.1
        predicted[other] = rng.integers(0, k, size=other.sum())
        scores[0] = np.eye(k, dtype=np.float32)[y[0]]  # certain and right
        scores[1] = np.eye(k, dtype=np.float32)[(y[1] + 1) % k]  # certain and wrong
        scores[2] = 0.0  # no mass at all: every class ties at 0
        scores[3] = 0.0
        scores[3, [y[3], (y[3] + 5) % k]] = 0.5  # a tie between the true class and another
        predicted[:4] = [y[0], (y[1] + 1) % k, 0, (y[3] + 5) % k]

        def batch(lo, hi):
            return [Group("imbalanced", classes, [
                Pred(classes[predicted[i]], scores=scores[i], label=classes[y[i]])
                for i in range(lo, hi)])]

        s.send(*[batch(lo, lo + 240) for lo in range(0, 2400, 240)])
        s.check("first stream")
        s.advance(20)
        s.stream_concurrently([batch(lo, lo + 240) for lo in range(2400, 3600, 240)],
                              [batch(lo, lo + 240) for lo in range(3600, n, 240)])
        y_plain = rng.choice(k, size=200, p=prior / prior.sum())
        s.send([Group("imbalanced", classes, [
            Pred(classes[(c + int(rng.integers(0, 2))) % k], label=classes[c]) for c in y_plain])])
        actual, expected = s.check("all 5,000 events")

        self.assertEqual(len(label_values(actual, "modelwatch_f1", "class")), k)
        self.assertEqual(expected[("modelwatch_window_evaluated",
                                   frozenset(dict(model="imbalanced", version="default",
                                                  window="1h").items()))], 5000)
        self.assert_each_series_checked(actual, expected)

    def test_classes_missing_from_the_short_window(self):
        """Batches of a few classes each, with the clock moved between them: after a rotation
        the 5m window holds only some classes while 10m and 1h hold more, and each window equals
        sklearn on the events whose arrival bucket lies in its last length/granularity
        buckets."""
        rng = np.random.default_rng(1202)
        classes = ["north", "south", "east", "west", "up", "down"]
        k = len(classes)
        windows = [("5m", 300, 15), ("10m", 600, 60), ("1h", 3600, 120)]
        oracle = ModelOracle("compass", classes, windows)
        s = Session(self, [oracle])

        fewer_in_5m = single_class_5m = 0
        advances = [15, 45, 100, 170, 299, 300, 301, 600, 7, 120, 240, 1200, 30, 900, 60, 3, 500]
        for step, advance in enumerate(advances):
            subset = rng.choice(k, size=int(rng.integers(1, 4)), replace=False)
            n = int(rng.integers(15, 60))
            y = rng.choice(subset, size=n)
            predicted = np.where(rng.random(n) < 0.7, y, rng.choice(subset, size=n))
            # Now and then a class that is only predicted: precision 0, no support.
            stray = rng.random(n) < 0.05
            predicted[stray] = rng.integers(0, k, size=stray.sum())
            scores = dirichlet_scores(rng, predicted, k, concentration=3.0)
            s.send([Group("compass", classes, [
                Pred(classes[p], scores=sc, label=classes[t])
                for t, p, sc in zip(y, predicted, scores)])])
            actual, _ = s.check(f"after batch {step}")
            window_classes = {w: {dict(key[1])["class"] for key in actual
                                  if key[0] == "modelwatch_support"
                                  and dict(key[1])["window"] == w} for w, _, _ in windows}
            fewer_in_5m += window_classes["5m"] < window_classes["1h"]
            single_class_5m += len(window_classes["5m"]) == 1
            s.advance(advance)
            s.check(f"after batch {step} and {advance}s")

        # The stream did exercise what this test is about.
        self.assertGreater(fewer_in_5m, 3)
        self.assertGreater(single_class_5m, 0)
        self.assertGreater(s.now - T0, 3600)

    def test_delayed_labels_duplicates_and_expiry(self):
        """Predictions of two versions with string ids; labels arrive later, some before their
        prediction, some twice, some never, some after the TTL, some exactly at it; a few
        predictions are sent twice. Joins count at the later arrival on the prediction's version;
        after the TTL the waiting entries expire and never-labelled predictions stay
        unevaluated."""
        rng = np.random.default_rng(1203)
        classes = ["stay", "leave", "pause", "upgrade"]
        k = len(classes)
        windows = [("5m", 300, 15), ("1h", 3600, 120)]
        step_seconds, ttl_steps = 30, 20
        oracle = ModelOracle("churn", classes, windows, ttl=ttl_steps * step_seconds)
        s = Session(self, [oracle])

        # What happens at each step: predictions per version, then labels.
        steps = 40
        preds = [{"a": [], "b": []} for _ in range(steps)]
        labels = [[] for _ in range(steps)]

        def prediction(step, id_, version, y):
            p = int(y) if rng.random() < 0.6 else int(rng.integers(0, k))
            ts = None
            if rng.random() < 0.5:
                ts = (T0 + step * step_seconds) * 1000 - int(rng.integers(0, 5000))
            scored = dirichlet_scores(rng, [p], k, concentration=2.0)[0] if version == "a" else None
            preds[step][version].append(Pred(classes[p], scores=scored, id=id_, ts_ms=ts))

        def label(step, id_, y):
            ts = None
            if rng.random() < 0.5:
                # Lags from a tenth of a second to days fill every bucket of the histogram.
                ts = (T0 + step * step_seconds) * 1000 + int(10 ** rng.uniform(2, 9))
            labels[step].append(Lab(classes[y], id=id_, ts_ms=ts))

        kinds = ["normal", "label_first", "dup_prediction", "dup_label", "never", "late",
                 "orphan", "relabel", "at_ttl"]
        for i, kind in enumerate(rng.choice(kinds, size=360,
                                            p=[.46, .12, .07, .06, .12, .05, .04, .04, .04])):
            id_, version, y = f"req-{i}", str(rng.choice(["a", "b"])), int(rng.integers(0, k))
            at = int(rng.integers(0, 16))
            if kind == "normal":
                prediction(at, id_, version, y)
                label(at + int(rng.integers(0, 8)), id_, y)
            elif kind == "label_first":
                label(at, id_, y)
                prediction(at + int(rng.integers(1, 6)), id_, version, y)
            elif kind == "dup_prediction":
                prediction(at, id_, version, y)
                prediction(at + int(rng.integers(0, 3)), id_, version, y)
                label(at + 3, id_, y)
            elif kind == "dup_label":
                label(at, id_, int(rng.integers(0, k)))
                label(at + int(rng.integers(0, 2)), id_, y)
                prediction(at + 2, id_, version, y)
            elif kind == "never":
                prediction(at, id_, version, y)
            elif kind == "late":
                prediction(at, id_, version, y)
                label(at + ttl_steps + 1, id_, y)
            elif kind == "orphan":
                label(at, id_, y)
            elif kind == "relabel":
                prediction(at, id_, version, y)
                label(at + 1, id_, y)
                label(at + 3, id_, int(rng.integers(0, k)))
            elif kind == "at_ttl":
                prediction(at, id_, version, y)
                label(at + ttl_steps, id_, y)
        # Inline labels with ids: evaluated at once, never join candidates.
        for step in range(0, 16, 5):
            for j in range(3):
                y = int(rng.integers(0, k))
                preds[step]["a"].append(Pred(classes[y], scores=dirichlet_scores(
                    rng, [y], k, 2.0)[0], id=f"inline-{step}-{j}", label=classes[y]))

        for step in range(steps):
            groups = [Group("churn", classes, preds[step][v], version=v)
                      for v in ("a", "b") if preds[step][v]]
            if labels[step]:
                groups.append(Group("churn", classes, labels=labels[step]))
            if groups:
                s.send(groups)
            s.check(f"step {step}")
            s.advance(step_seconds)

        # Exactly the TTL after the last arrivals, they still wait; one second later they have
        # expired, and with them everything else.
        last = max(step for step in range(steps) if labels[step] or any(preds[step].values()))
        s.set_clock(T0 + last * step_seconds + ttl_steps * step_seconds)
        actual, _ = s.check("at the TTL of the last arrivals")
        pending = [("modelwatch_join_pending", frozenset(dict(model="churn", kind=kind).items()))
                   for kind in ("prediction", "label")]
        self.assertGreater(sum(actual[key] for key in pending), 0)
        s.advance(1)
        actual, expected = s.check("past the TTL")
        self.assertEqual([actual[key] for key in pending], [0, 0])
        stats = oracle.stats
        for what in ("joined", "joined_by_prediction", "duplicate_prediction", "duplicate_label",
                     "expired_prediction", "expired_label"):
            self.assertGreater(stats[what], 5, what)
        # Never-labelled predictions are not evaluated: evaluations are joins plus inline labels.
        evaluated = sum(v for key, v in actual.items()
                        if key[0] == "modelwatch_confusion_matrix_total")
        self.assertEqual(evaluated, stats["joined"] + 12)
        lag_buckets = sorted(v for key, v in actual.items()
                             if key[0] == "modelwatch_label_lag_seconds_bucket")
        self.assertEqual(len(set(lag_buckets)), len(lag_buckets), "every lag bucket is used")
        self.assert_each_series_checked(actual, expected)

    def test_window_without_evaluations_has_no_report(self):
        """A window with predictions but nothing evaluated serves its counts (and the label-free
        estimate and coverage) and no report gauge; one with evaluations but no scores serves
        the report without the score metrics; one with a single class has no Cohen's kappa."""
        rng = np.random.default_rng(1204)
        classes = ["low", "mid", "high"]
        windows = [("5m", 300, 15), ("1h", 3600, 120)]
        oracle = ModelOracle("risk", classes, windows)
        idle = ModelOracle("idle", ["yes", "no"])
        s = Session(self, [oracle, idle])
        report_gauges = [
            "modelwatch_accuracy", "modelwatch_precision", "modelwatch_recall", "modelwatch_f1",
            "modelwatch_support", "modelwatch_precision_average", "modelwatch_recall_average",
            "modelwatch_f1_average", "modelwatch_balanced_accuracy", "modelwatch_cohen_kappa",
            "modelwatch_matthews_corrcoef", "modelwatch_window_confusion", "modelwatch_log_loss",
            "modelwatch_brier_score", "modelwatch_expected_calibration_error"]

        def in_window(series, name, window):
            return [k for k in series if k[0] == name and ("window", window) in k[1]]

        y = rng.integers(0, 3, size=50)
        scores = dirichlet_scores(rng, y, 3, concentration=2.0)
        s.send([Group("risk", classes, [Pred(classes[int(sc.argmax())], scores=sc,
                                             label=classes[t]) for t, sc in zip(y, scores)])])
        s.check("evaluated events")

        # Six minutes on: unlabelled scored predictions, some waiting for labels.
        s.advance(360)
        scores = dirichlet_scores(rng, rng.integers(0, 3, size=30), 3, concentration=2.0)
        s.send([Group("risk", classes, [
            Pred(classes[int(sc.argmax())], scores=sc, id=(f"w{i}" if i % 3 == 0 else None))
            for i, sc in enumerate(scores)])])
        actual, _ = s.check("predictions only in 5m")
        for name in report_gauges:
            self.assertEqual(in_window(actual, name, "5m"), [], name)
            self.assertNotEqual(in_window(actual, name, "1h"), [], name)
        for name in ("modelwatch_window_predictions", "modelwatch_window_evaluated",
                     "modelwatch_mean_confidence", "modelwatch_label_coverage"):
            self.assertEqual(len(in_window(actual, name, "5m")), 1, name)

        # Six more: predictions without scores or ids, so only the counts remain in 5m.
        s.advance(360)
        s.send([Group("risk", classes, [Pred("mid") for _ in range(10)])])
        actual, _ = s.check("unscored predictions only in 5m")
        self.assertEqual(sorted(k[0] for k in actual if ("window", "5m") in k[1]),
                         ["modelwatch_window_evaluated", "modelwatch_window_predictions"])

        # Six more: evaluated events of one class and without scores.
        s.advance(360)
        s.send([Group("risk", classes, [Pred("high", label="high") for _ in range(7)])])
        actual, _ = s.check("one class, no scores in 5m")
        for name in ("modelwatch_cohen_kappa", "modelwatch_log_loss", "modelwatch_brier_score",
                     "modelwatch_expected_calibration_error", "modelwatch_mean_confidence"):
            self.assertEqual(in_window(actual, name, "5m"), [], name)
        self.assertEqual(in_window(actual, "modelwatch_accuracy", "5m"),
                         [("modelwatch_accuracy", frozenset(
                             dict(model="risk", version="default", window="5m").items()))])

        # Past the TTL: the waiting predictions expire.
        s.advance(86400)
        s.check("a day later, everything expired and out of every window")

    def test_full_join_table_evicts_the_oldest_of_a_shard(self):
        """A join table of capacity 64 (16 shards of 4) under more waiting predictions and
        labels than it holds: each new id evicts the oldest entry of its full shard, a duplicate
        restarts its entry's wait, a label whose prediction was evicted waits in turn, and an
        evicted prediction is never evaluated. Integer ids."""
        rng = np.random.default_rng(1206)
        classes = ["red", "green", "blue"]
        windows = [("5m", 300, 15), ("1h", 3600, 120)]
        oracle = ModelOracle("queue", classes, windows, ttl=3600, capacity=64)
        s = Session(self, [oracle])

        ids = [int(i) for i in rng.choice(2**62, size=600, replace=False) + 1]
        sent, unlabelled = [], []
        for step in range(14):
            fresh = [ids.pop() for _ in range(int(rng.integers(10, 30)))]
            waiting = [i for i, e in oracle.pending.items() if e.kind == "prediction"]
            again = [waiting[j] for j in rng.choice(len(waiting), size=min(3, len(waiting)),
                                                    replace=False)]
            predictions = []
            for id_ in fresh + again:
                sc = dirichlet_scores(rng, [int(rng.integers(0, 3))], 3, concentration=2.0)[0]
                predictions.append(Pred(classes[int(sc.argmax())], scores=sc, id=id_))
            sent += fresh
            unlabelled += fresh
            rng.shuffle(unlabelled)
            answered = [unlabelled.pop() for _ in range(min(len(unlabelled), 12))]
            labels = [Lab(classes[int(rng.integers(0, 3))], id=id_)
                      for id_ in answered + [ids.pop() for _ in range(3)]]
            s.send([Group("queue", classes, predictions, labels=labels)])
            actual, _ = s.check(f"step {step}")
            self.assertLessEqual(
                sum(v for k, v in actual.items() if k[0] == "modelwatch_join_pending"), 64)
            s.advance(20)

        self.assertGreater(oracle.stats["evicted"], 50)
        self.assertGreater(oracle.stats["duplicate_prediction"], 10)
        self.assertLess(oracle.stats["joined"], len(sent) - 50)
        s.advance(3600)
        actual, expected = s.check("past the TTL")
        self.assertGreater(oracle.stats["expired_label"], 0)
        self.assert_each_series_checked(actual, expected)

    def test_learned_classes(self):
        """A model without a class list learns names from the groups' dictionaries, in
        dictionary order; scores follow each group's dictionary (classes missing from it score
        0); a class first seen after some predictions were made labels them, and a class first
        seen in a labels-only group is learned there. Integer ids."""
        rng = np.random.default_rng(1205)
        windows = [("5m", 300, 15), ("1h", 3600, 120)]
        oracle = ModelOracle("intent", None, windows, bins=8, max_learned=6)
        s = Session(self, [oracle])

        def rows(dictionary, n, lean=None):
            lean = rng.integers(0, len(dictionary), size=n) if lean is None else lean
            return dirichlet_scores(rng, lean, len(dictionary), concentration=2.0)

        first = ["greet", "bye", "ask"]
        sc = rows(first, 60)
        s.send([Group("intent", first, [
            Pred(first[int(r.argmax())], scores=r, id=1000 + i if i % 2 else None,
                 label=None if i % 2 else first[int(rng.integers(0, 3))])
            for i, r in enumerate(sc)])])
        s.check("three classes learned")

        # A subset dictionary in another order: its rows are 2 scores wide.
        subset = ["ask", "greet"]
        sc = rows(subset, 20)
        s.send([Group("intent", subset, [
            Pred(subset[int(r.argmax())], scores=r, label=subset[int(rng.integers(0, 2))])
            for r in sc])])
        s.advance(40)

        # "complain" is new: it labels predictions made when it did not exist yet, and new
        # predictions score it.
        second = ["complain", "bye", "greet", "ask"]
        sc = rows(second, 40)
        s.send([Group("intent", second,
                      [Pred(second[int(r.argmax())], scores=r, id=2000 + i)
                       for i, r in enumerate(sc)],
                      labels=[Lab("complain" if j % 3 == 0 else second[int(rng.integers(0, 4))],
                                  id=1000 + j) for j in range(1, 40, 2)])])
        s.check("complain learned")

        # "refund" is first named by a labels-only group.
        s.advance(200)
        s.send([Group("intent", ["refund", "greet"],
                      labels=[Lab("refund" if i % 2 else "greet", id=2000 + i)
                              for i in range(0, 40, 3)])])
        self.assertEqual(oracle.classes, ["greet", "bye", "ask", "complain", "refund"])
        actual, expected = s.check("refund learned from labels")
        self.assertEqual(label_values(actual, "modelwatch_predictions_total", "class"),
                         set(oracle.classes))

        full = ["refund", "complain", "ask", "bye", "greet"]
        s.advance(120)
        sc = rows(full, 50)
        s.send([Group("intent", full, [Pred(full[int(r.argmax())], scores=r,
                                            label=full[int(rng.integers(0, 5))])
                                       for r in sc])])
        actual, expected = s.check("five classes")
        self.assertEqual(len(label_values(actual, "modelwatch_f1", "class")), 5)
        self.assertGreater(oracle.stats["joined"], 20)
        self.assert_each_series_checked(actual, expected)


if __name__ == "__main__":
    unittest.main()
