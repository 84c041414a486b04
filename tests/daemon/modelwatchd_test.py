"""End-to-end tests of the real modelwatchd binary: gRPC ingest over loopback, /metrics scraped
over HTTP, rejections by reason, window rotation on the test clock, health, lifecycle and flags.
Numbers are checked exactly, against scikit-learn where they are statistics."""

import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import unittest

import grpc
from sklearn import metrics as skm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_fixture import Daemon, binary, select  # noqa: E402  (needs the path above)
from modelwatch_client import BatchBuilder  # noqa: E402
from modelwatch.v1 import ingest_pb2  # noqa: E402

CONFIG = """
models:
  - name: fraud
    classes: [legit, fraud]
    features:
      - name: amount
        edges: [0, 10, 100]
  - name: learned
    max_learned_classes: 2
"""

T0 = 1_700_000_000
R = ingest_pb2.RejectReason


def good_batch(n=1):
    """n predictions of the configured model `fraud`, all valid."""
    batch = ingest_pb2.Batch()
    g = batch.groups.add(model="fraud")
    g.predictions.predicted.extend([0] * n)
    return batch


def group(batch, model="fraud", **predictions):
    g = batch.groups.add(model=model)
    for field, values in predictions.items():
        getattr(g.predictions, field).extend(values)
    return g


class RejectionTest(unittest.TestCase):
    """One test per reject reason: the bad batch is counted under its reason, the batch after it
    on the same stream is still accepted, and /metrics agrees with the reply."""

    extra_args = ()

    def setUp(self):
        self.daemon = Daemon(config_text=CONFIG, test_clock=T0, args=self.extra_args).start()
        self.addCleanup(self.daemon.stop)

    def assertRejected(self, bad, reason, count, accepted_in_bad=0):
        reply = self.daemon.client().stream([bad, good_batch(1)])
        self.assertEqual(reply.batches, 2)
        self.assertEqual(reply.accepted_predictions, accepted_in_bad + 1)
        self.assertEqual({r.reason: r.count for r in reply.rejected}, {reason: count})
        self.assertTrue(reply.rejected[0].first_message)

        samples = self.daemon.scrape()
        rejected = {dict(k)["reason"]: v
                    for k, v in select(samples, "modelwatch_events_rejected_total").items()}
        expected = {name.lower(): 0.0 for name in R.keys() if name != "REJECT_REASON_UNSPECIFIED"}
        expected[R.Name(reason).lower()] = float(count)
        self.assertEqual(rejected, expected)
        self.assertEqual(self.daemon.metric("modelwatch_batches_total", samples, rpc="stream"), 2)
        return reply

    def test_unknown_model_with_config_listing_models(self):
        bad = ingest_pb2.Batch()
        group(bad, model="nope", predicted=[0, 1])
        self.assertRejected(bad, R.UNKNOWN_MODEL, 2)

    def test_class_index_out_of_range(self):
        bad = ingest_pb2.Batch()
        group(bad, predicted=[0, 5])
        reply = self.assertRejected(bad, R.UNKNOWN_CLASS, 1, accepted_in_bad=1)
        self.assertEqual((reply.rejected[0].first_group, reply.rejected[0].first_event), (0, 1))

    def test_unknown_class_name(self):
        bad = ingest_pb2.Batch()
        g = group(bad, predicted=[0, 1])
        g.class_names.extend(["legit", "bogus"])
        self.assertRejected(bad, R.UNKNOWN_CLASS, 1, accepted_in_bad=1)

    def test_scores_length(self):
        bad = ingest_pb2.Batch()
        group(bad, predicted=[0, 1], scores=[0.5, 0.5, 0.5])
        self.assertRejected(bad, R.SCORES_LENGTH, 2)

    def test_nan_score(self):
        bad = ingest_pb2.Batch()
        group(bad, predicted=[0, 1], scores=[math.nan, 1.0, 0.5, 0.5])
        self.assertRejected(bad, R.INVALID_SCORE, 1, accepted_in_bad=1)

    def test_inf_feature(self):
        bad = ingest_pb2.Batch()
        g = group(bad, predicted=[0, 1])
        g.predictions.features.add(name="amount", values=[math.inf, 5.0])
        self.assertRejected(bad, R.INVALID_FEATURE, 1, accepted_in_bad=1)

    def test_column_length(self):
        bad = ingest_pb2.Batch()
        group(bad, predicted=[0, 1], ids=[7])
        self.assertRejected(bad, R.COLUMN_LENGTH, 2)

    def test_missing_id_on_label(self):
        bad = ingest_pb2.Batch()
        g = bad.groups.add(model="fraud")
        g.labels.label.extend([0, 1])
        g.labels.ids.extend([0, 9])
        self.assertRejected(bad, R.MISSING_ID, 1)

    def test_empty_batch(self):
        self.assertRejected(ingest_pb2.Batch(), R.EMPTY_BATCH, 1)

    def test_empty_group(self):
        bad = good_batch(2)
        bad.groups.add(model="fraud")
        self.assertRejected(bad, R.EMPTY_BATCH, 1, accepted_in_bad=2)

    def test_conflicting_ids(self):
        bad = ingest_pb2.Batch()
        group(bad, predicted=[0, 1], ids=[1, 2], string_ids=["a", "b"])
        self.assertRejected(bad, R.CONFLICTING_IDS, 2)

    def test_class_limit_on_learned_model(self):
        bad = ingest_pb2.Batch()
        g = group(bad, model="learned", predicted=[0, 1, 2])
        g.class_names.extend(["a", "b", "c"])
        self.assertRejected(bad, R.CLASS_LIMIT, 1, accepted_in_bad=2)


class OversizeBatchTest(RejectionTest):
    extra_args = ("--max_batch_bytes=1000",)

    def test_oversize_batch_is_one_event_and_stream_stays_open(self):
        self.assertRejected(good_batch(2000), R.BATCH_TOO_LARGE, 1)


# The generic rejection tests need not run again under the small batch limit.
for _name in [n for n in vars(RejectionTest) if n.startswith("test_")]:
    setattr(OversizeBatchTest, _name, None)


class MetricsTest(unittest.TestCase):
    def setUp(self):
        self.daemon = Daemon(config_text=CONFIG, test_clock=T0).start()
        self.addCleanup(self.daemon.stop)

    def test_report_equals_sklearn(self):
        classes = ["legit", "fraud"]
        y_true = [0, 0, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1]
        y_pred = [0, 1, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1]
        p_fraud = [0.1, 0.7, 0.9, 0.4, 0.8, 0.2, 0.6, 0.3, 0.55, 0.95, 0.45, 0.85]
        b = BatchBuilder()
        for i, (t, p, s) in enumerate(zip(y_true, y_pred, p_fraud)):
            # Half the labels come inline, half later through the join by string id.
            if i % 2 == 0:
                b.add_prediction("fraud", classes[p], scores=[1 - s, s], label=classes[t],
                                 class_names=classes)
            else:
                b.add_prediction("fraud", classes[p], scores=[1 - s, s], id=f"r{i}",
                                 class_names=classes)
                b.add_label("fraud", classes[t], id=f"r{i}", class_names=classes)
        reply = self.daemon.client().send(b.build())
        self.assertEqual((reply.accepted_predictions, reply.accepted_labels), (12, 6))

        s = self.daemon.scrape()
        w = dict(model="fraud", version="default", window="5m")
        m = lambda name, **extra: self.daemon.metric(name, s, **w, **extra)
        self.assertEqual(m("modelwatch_window_predictions"), 12)
        self.assertEqual(m("modelwatch_window_evaluated"), 12)
        self.assertAlmostEqual(m("modelwatch_accuracy"), skm.accuracy_score(y_true, y_pred), 12)
        for avg in ("macro", "micro", "weighted"):
            p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, average=avg,
                                                             zero_division=0)
            self.assertAlmostEqual(m("modelwatch_precision_average", average=avg), p, 12)
            self.assertAlmostEqual(m("modelwatch_recall_average", average=avg), r, 12)
            self.assertAlmostEqual(m("modelwatch_f1_average", average=avg), f, 12)
        p, r, f, sup = skm.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
        for c, name in enumerate(classes):
            self.assertAlmostEqual(m("modelwatch_precision", **{"class": name}), p[c], 12)
            self.assertAlmostEqual(m("modelwatch_recall", **{"class": name}), r[c], 12)
            self.assertAlmostEqual(m("modelwatch_f1", **{"class": name}), f[c], 12)
            self.assertEqual(m("modelwatch_support", **{"class": name}), sup[c])
        self.assertAlmostEqual(m("modelwatch_balanced_accuracy"),
                               skm.balanced_accuracy_score(y_true, y_pred), 12)
        self.assertAlmostEqual(m("modelwatch_cohen_kappa"), skm.cohen_kappa_score(y_true, y_pred), 12)
        self.assertAlmostEqual(m("modelwatch_matthews_corrcoef"),
                               skm.matthews_corrcoef(y_true, y_pred), 12)
        cm = skm.confusion_matrix(y_true, y_pred)
        for a, an in enumerate(classes):
            for q, qn in enumerate(classes):
                self.assertEqual(m("modelwatch_window_confusion", actual=an, predicted=qn), cm[a][q])
                self.assertEqual(self.daemon.metric("modelwatch_confusion_matrix_total", s,
                                                    model="fraud", version="default", actual=an,
                                                    predicted=qn), cm[a][q])
        # Scores travel as float32: compare with the float32 values sklearn would be given.
        import numpy as np
        probs = np.array([[1 - x, x] for x in p_fraud], dtype=np.float32).astype(np.float64)
        self.assertAlmostEqual(m("modelwatch_log_loss"), skm.log_loss(y_true, probs, labels=[0, 1]),
                               6)
        self.assertAlmostEqual(m("modelwatch_brier_score", **{"class": "fraud"}),
                               skm.brier_score_loss(y_true, probs[:, 1]), 6)
        self.assertAlmostEqual(m("modelwatch_mean_confidence"), float(np.mean(probs.max(axis=1))), 6)
        self.assertEqual(m("modelwatch_label_coverage"), 1.0)
        self.assertEqual(self.daemon.metric("modelwatch_label_joins_total", s, model="fraud",
                                            version="default"), 6)
        self.assertEqual(self.daemon.metric("modelwatch_events_accepted_total", s, model="fraud",
                                            kind="label"), 6)
        self.assertEqual(self.daemon.metric("modelwatch_label_lag_seconds_count", s, model="fraud"),
                         6)

    def test_window_rotates_on_test_clock(self):
        b = BatchBuilder()
        for p, t in [(0, 0), (1, 1), (1, 0)]:
            b.add_prediction("fraud", p, label=t)
        self.daemon.client().send(b.build())
        labels = dict(model="fraud", version="default")
        s = self.daemon.scrape()
        self.assertEqual(self.daemon.metric("modelwatch_window_predictions", s, window="5m",
                                            **labels), 3)
        self.assertAlmostEqual(self.daemon.metric("modelwatch_accuracy", s, window="5m", **labels),
                               2 / 3, 12)

        self.assertEqual(self.daemon.advance_clock(301), T0 + 301)
        s = self.daemon.scrape()
        self.assertEqual(self.daemon.metric("modelwatch_window_predictions", s, window="5m",
                                            **labels), 0)
        # Undefined in the window: absent, not zero.
        self.assertIsNone(self.daemon.metric("modelwatch_accuracy", s, window="5m", **labels))
        self.assertAlmostEqual(self.daemon.metric("modelwatch_accuracy", s, window="1h", **labels),
                               2 / 3, 12)
        self.assertEqual(self.daemon.metric("modelwatch_predictions_total", s, **labels,
                                            **{"class": "fraud"}), 2)

    def test_pending_join_expires_after_ttl(self):
        b = BatchBuilder()
        b.add_prediction("fraud", 0, id=42)
        self.daemon.client().send(b.build())
        self.assertEqual(self.daemon.metric("modelwatch_join_pending", model="fraud",
                                            kind="prediction"), 1)
        self.daemon.advance_clock(24 * 3600 + 1)
        s = self.daemon.scrape()
        self.assertEqual(self.daemon.metric("modelwatch_join_pending", s, model="fraud",
                                            kind="prediction"), 0)
        self.assertEqual(self.daemon.metric("modelwatch_join_expired_total", s, model="fraud",
                                            kind="prediction"), 1)

    def test_every_readme_metric_is_exposed(self):
        b = BatchBuilder()
        b.add_prediction("fraud", "legit", scores=[0.8, 0.2], id="a", class_names=["legit", "fraud"],
                         features={"amount": 5.0})
        b.add_label("fraud", "legit", id="a", class_names=["legit", "fraud"])
        # Two true classes, so that Cohen's kappa is defined.
        b.add_prediction("fraud", "fraud", scores=[0.3, 0.7], label="fraud",
                         class_names=["legit", "fraud"], features={"amount": 50.0})
        self.daemon.client().send(b.build())
        names = {k[0] for k in self.daemon.scrape()}
        with open(os.path.join(os.environ.get("MODELWATCH_SOURCE_DIR", "."), "README.md")) as f:
            readme = f.read()
        # Every metric of the reference, but the drift series: those exist only for models with a
        # drift section, and tests/drift checks them.
        section = readme.split("## Metric reference", 1)[1].split("\n## ", 1)[0]
        section = re.sub(r"### Drift series.*?(?=\n### )", "", section, flags=re.S)
        documented = set(re.findall(r"^\| `(modelwatch_[a-z_]+)`", section, re.M))
        documented |= set(re.findall(r"`, `(modelwatch_[a-z_]+)`", section))
        self.assertGreaterEqual(len(documented), 40)
        for name in sorted(documented):
            if name == "modelwatch_label_lag_seconds":
                self.assertIn(name + "_bucket", names)
            else:
                self.assertIn(name, names)


class ConcurrencyTest(unittest.TestCase):
    def test_concurrent_streams_within_writer_slots_never_overflow(self):
        with Daemon(args=["--writer_slots=4"]) as d:
            replies = [None] * 3

            def run(i):
                replies[i] = d.client().stream(good_batch_for("m", 100) for _ in range(50))

            threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            self.assertEqual([(r.batches, r.accepted_predictions) for r in replies],
                             [(50, 5000)] * 3)
            s = d.scrape()
            self.assertEqual(d.metric("modelwatch_events_accepted_total", s, model="m",
                                      kind="prediction"), 15000)
            self.assertEqual(d.metric("modelwatch_predictions_total", s, model="m",
                                      version="default", **{"class": "x"}), 15000)
            self.assertEqual(d.metric("modelwatch_batches_total", s, rpc="stream"), 150)
            self.assertEqual(d.metric("modelwatch_writer_slot_overflow_total", s), 0)

    def test_pipelined_streams_keep_order_and_lose_nothing(self):
        # Two of the three streams get an ingest thread; the third applies inline. Batches 2j and
        # 2j + 1 predict the same 100 ids, as class x and then as class y (the newer prediction
        # of an id replaces the older), and batch 2j + 2 labels them y: only batches applied in
        # the order they were sent make every evaluation (y, y).
        with Daemon(args=["--writer_slots=4", "--ingest_threads=2"], log_level="debug") as d:
            replies = [None] * 3

            def ids(stream, j):
                return [stream * 1_000_000 + j * 100 + i + 1 for i in range(100)]

            def batches(stream):
                for k in range(41):
                    batch = ingest_pb2.Batch()
                    g = batch.groups.add(model="m", class_names=["x", "y"])
                    if k < 40:
                        g.predictions.predicted.extend([k % 2] * 100)
                        g.predictions.ids.extend(ids(stream, k // 2))
                    if k >= 2 and k % 2 == 0:
                        g.labels.ids.extend(ids(stream, k // 2 - 1))
                        g.labels.label.extend([1] * 100)
                    yield batch

            def run(i):
                replies[i] = d.client().stream(batches(i))

            threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            self.assertEqual(
                [(r.batches, r.accepted_predictions, r.accepted_labels) for r in replies],
                [(41, 4000, 2000)] * 3)
            s = d.scrape()
            for predicted, count in (("y", 6000), ("x", 0)):
                self.assertEqual(d.metric("modelwatch_confusion_matrix_total", s, model="m",
                                          version="default", actual="y", predicted=predicted),
                                 count)
            self.assertEqual(d.metric("modelwatch_label_joins_total", s, model="m",
                                      version="default"), 6000)
            self.assertEqual(d.metric("modelwatch_join_pending", s, model="m", kind="label"), 0)
            self.assertEqual(d.metric("modelwatch_writer_slot_overflow_total", s), 0)
            # The streams did go through ingest threads (the debug log of each stream's close).
            d.wait_until(lambda: d.log().count("event=stream_close") == 3,
                         "three stream_close lines")
            pipelined = [int(n) for n in re.findall(r"pipelined_batches=(\d+)", d.log())]
            self.assertEqual(len(pipelined), 3)
            self.assertGreater(max(pipelined), 0)


class LifecycleTest(unittest.TestCase):
    def test_health_service_answers_serving(self):
        with Daemon() as d:
            channel = grpc.insecure_channel(d.grpc_target)
            check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                        request_serializer=lambda b: b,
                                        response_deserializer=lambda b: b)
            # HealthCheckResponse{status: SERVING (1)} is field 1, varint 1.
            self.assertEqual(check(b"", timeout=10), b"\x08\x01")
            channel.close()
            self.assertEqual(d.http("GET", "/healthz"), (200, "ok\n"))
            self.assertEqual(d.http_status("/readyz"), 200)
            self.assertEqual(d.http_status("/nothing"), 404)

    def test_sigterm_exits_zero_and_reports_in_flight_totals(self):
        d = Daemon().start()
        self.addCleanup(d.kill)
        release = threading.Event()
        sent = threading.Event()

        def batches():
            for _ in range(3):
                yield good_batch_for("m", 5)
            sent.set()
            # Keep the stream open until the daemon is shutting down.
            release.wait(30)
            yield good_batch_for("m", 1)

        result = {}
        client = d.client()
        t = threading.Thread(target=lambda: result.update(reply=client.stream(batches())))
        t.start()
        self.assertTrue(sent.wait(30))
        d.wait_until(lambda: d.metric("modelwatch_batches_total", rpc="stream") == 3, "3 batches")
        d.process.send_signal(signal.SIGTERM)
        d.wait_until(lambda: d.http_status("/readyz") == 503, "readyz 503")
        release.set()
        t.join(30)
        reply = result["reply"]
        self.assertEqual((reply.batches, reply.accepted_predictions), (4, 16))
        self.assertEqual(d.stop(), 0)
        self.assertIn("event=shutdown accepted_predictions=16 accepted_labels=0 rejected=0 "
                      "batches_stream=4 batches_send=0", d.log())

    def test_help_lists_flags_and_hides_test_flags(self):
        out = subprocess.run([binary(), "--help"], capture_output=True, text=True, timeout=30)
        text = out.stdout + out.stderr
        for flag in ("--config", "--grpc_listen", "--http_listen", "--log_level",
                     "--max_batch_bytes", "--writer_slots", "--port_file"):
            self.assertIn(flag, text)
        self.assertNotIn("--test_clock", text)

    def test_malformed_config_exits_2_naming_file_and_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bad.yaml")
            with open(path, "w") as f:
                f.write("models:\n  - name: m\n    windows: [{length: 5x, granularity: 1s}]\n")
            out = subprocess.run([binary(), f"--config={path}", "--grpc_listen=127.0.0.1:0",
                                  "--http_listen=127.0.0.1:0"],
                                 capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 2)
        self.assertIn("critical", out.stderr)
        self.assertIn("bad.yaml:3", out.stderr)

    def _start_on(self, grpc_listen, http_listen):
        try:
            return subprocess.run([binary(), f"--grpc_listen={grpc_listen}",
                                   f"--http_listen={http_listen}"],
                                  capture_output=True, text=True, timeout=20)
        except subprocess.TimeoutExpired as e:
            self.fail(f"a second modelwatchd started on {grpc_listen} / {http_listen}:\n"
                      f"{e.stderr}")

    def test_grpc_port_in_use_stops_startup(self):
        # gRPC would share the port with SO_REUSEPORT and split the model servers' streams
        # between two daemons without a word; modelwatchd refuses instead.
        with Daemon() as first:
            out = self._start_on(first.grpc_target, "127.0.0.1:0")
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn(f"cannot serve gRPC on {first.grpc_target}", out.stderr)

    def test_http_port_in_use_stops_startup(self):
        with Daemon() as first:
            out = self._start_on("127.0.0.1:0", first.http_address)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn(first.http_address, out.stderr)

    def test_config_server_addresses_apply_without_flags(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "c.yaml")
            ports = os.path.join(tmp, "ports")
            with open(path, "w") as f:
                f.write("server:\n  grpc_listen: 127.0.0.1:0\n  http_listen: 127.0.0.1:0\n")
            p = subprocess.Popen([binary(), f"--config={path}", f"--port_file={ports}"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                Daemon.wait_until(lambda: os.path.exists(ports) or p.poll() is not None, "ports")
                self.assertIsNone(p.poll(), p.stderr.read() if p.poll() is not None else "")
                with open(ports) as f:
                    text = f.read()
                self.assertRegex(text, r"^grpc=127\.0\.0\.1:\d+\nhttp=127\.0\.0\.1:\d+\n$")
                self.assertNotIn(":50051", text)
            finally:
                p.send_signal(signal.SIGTERM)
                self.assertEqual(p.wait(30), 0)
                p.stderr.close()


def good_batch_for(model, n):
    batch = ingest_pb2.Batch()
    g = batch.groups.add(model=model, class_names=["x", "y"])
    g.predictions.predicted.extend([0] * n)
    return batch


if __name__ == "__main__":
    unittest.main()
