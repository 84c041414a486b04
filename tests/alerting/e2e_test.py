"""End to end: modelwatchd scraped by a real Prometheus that evaluates the rules modelwatchctl
generates, and a real Alertmanager that notifies a webhook in this process.

AlertLifecycleTest: a model degrades, its alert fires in Prometheus, reaches the webhook through
Alertmanager, and resolves when the model recovers.

FleetTest: two daemons scraped as two replicas of one model; the fleet-wide recorded precision,
recall, F1 (per class and averaged) and accuracy equal scikit-learn's on the union of their
events, and every query of deploy/grafana/dashboard.json returns data.

The daemons run on a test clock moved through /debug/clock, so windows rotate without waiting;
Prometheus evaluates `for:` in real time, which the tests wait for by polling with a deadline.
"""

import json
import os
import random
import re
import sys
import tempfile
import unittest

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "daemon"))

from alerting_fixture import (Alertmanager, Prometheus, WebhookReceiver,  # noqa: E402
                              generate_rules, wait_for)
from daemon_fixture import Daemon  # noqa: E402
import modelwatch_client  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.metrics import (accuracy_score, f1_score, precision_score,  # noqa: E402
                             recall_score)

SOURCE = os.environ.get("MODELWATCH_SOURCE_DIR", os.path.dirname(os.path.dirname(_HERE)))
CLOCK = 1_700_000_000

LIFECYCLE_CONFIG = """
models:
  - name: fraud
    classes: [legit, fraud]
    windows:
      - {name: 1m, length: 1m, granularity: 10s}
alerts:
  - name: FraudMacroF1Low
    model: fraud
    signal: f1_average
    average: macro
    window: 1m
    op: "<"
    threshold: 0.8
    for: 2s
    severity: page
    labels: {team: risk}
"""


def send_events(daemon, rows):
    """Sends (predicted, label) rows of model fraud with inline labels; returns the reply."""
    builder = modelwatch_client.BatchBuilder()
    for predicted, label in rows:
        builder.add_prediction("fraud", predicted, label=label)
    return daemon.client().send(builder.build())


class AlertLifecycleTest(unittest.TestCase):
    def test_alert_fires_reaches_webhook_and_resolves(self):
        with tempfile.TemporaryDirectory() as tmp, \
                Daemon(config_text=LIFECYCLE_CONFIG, test_clock=CLOCK) as daemon, \
                WebhookReceiver() as hook, \
                Alertmanager(hook.url) as am:
            rules = generate_rules(LIFECYCLE_CONFIG, tmp)
            with Prometheus([daemon.http_address], [rules], alertmanager=am.address) as prom:
                macro_f1 = 'modelwatch_f1_average{model="fraud", window="1m", average="macro"}'

                # A good model: every prediction right, macro F1 1.
                reply = send_events(daemon, [("legit", "legit")] * 80 + [("fraud", "fraud")] * 20)
                self.assertEqual(reply.accepted_predictions, 100)
                wait_for(lambda: prom.values(macro_f1, ["model"]) == {("fraud",): 1.0},
                         "Prometheus to scrape macro F1 1.0")
                self.assertEqual(prom.alerts(), [])

                # It degrades: once the good events leave the window, half of the frauds are
                # missed and some legit predictions are wrong.
                daemon.advance_clock(70)
                send_events(daemon, [("legit", "legit")] * 70 + [("fraud", "legit")] * 10 +
                            [("legit", "fraud")] * 10 + [("fraud", "fraud")] * 10)
                expected = f1_score(["legit"] * 80 + ["fraud"] * 20,
                                    ["legit"] * 70 + ["fraud"] * 10 + ["legit"] * 10 +
                                    ["fraud"] * 10, average="macro")
                def degraded():
                    value = prom.values(macro_f1, ["model"]).get(("fraud",))
                    return value if value is not None and value < 1 else None

                value = wait_for(degraded, "Prometheus to scrape the degraded macro F1")
                self.assertAlmostEqual(value, expected, places=12)

                firing = wait_for(
                    lambda: [a for a in prom.alerts() if a["labels"]["alertname"] ==
                             "FraudMacroF1Low" and a["state"] == "firing"],
                    "the alert to fire in Prometheus")
                self.assertEqual(firing[0]["labels"]["model"], "fraud")
                self.assertEqual(firing[0]["labels"]["severity"], "page")
                self.assertEqual(firing[0]["labels"]["team"], "risk")

                notified = wait_for(lambda: hook.alerts("FraudMacroF1Low", "firing"),
                                    "Alertmanager to notify the webhook")
                annotations = notified[0]["annotations"]
                self.assertIn(f"{expected:.4g}", annotations["summary"])
                self.assertIn("< 0.8", annotations["summary"])
                self.assertTrue(annotations["summary"].startswith("fraud:"), annotations)
                self.assertIn("below the threshold of 0.8 for at least 2s",
                              annotations["description"])

                # It recovers: the bad events leave the window and good ones arrive.
                daemon.advance_clock(70)
                send_events(daemon, [("legit", "legit")] * 50 + [("fraud", "fraud")] * 50)
                wait_for(lambda: hook.alerts("FraudMacroF1Low", "resolved"),
                         "the resolved notification at the webhook")
                self.assertEqual(
                    [a for a in prom.alerts() if a["labels"]["alertname"] == "FraudMacroF1Low"],
                    [])


FLEET_CONFIG = """
models:
  - name: fraud
    classes: [legit, fraud, chargeback]
    windows:
      - {name: 1m, length: 1m, granularity: 10s}
      - {name: 1h, length: 1h, granularity: 2m}
    drift:
      reference: {capture_events: 200}
      min_samples: 50
alerts:
  - name: FleetChargebackF1Low
    model: fraud
    signal: f1
    class: chargeback
    scope: fleet
    window: 1m
    op: "<"
    threshold: 0.99
  - name: RejectsHigh
    model: "*"
    signal: reject_ratio
    window: 1m
    op: ">"
    threshold: 0.5
"""

CLASSES = ["legit", "fraud", "chargeback"]


def dashboard_queries():
    """(panel title, expr) of every target of the Grafana dashboard."""
    with open(os.path.join(SOURCE, "deploy", "grafana", "dashboard.json")) as f:
        dashboard = json.load(f)
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return [(p["title"], t["expr"]) for p in panels for t in p.get("targets", [])]


def substitute(expr, variables):
    """Replaces Grafana's $name and ${name} variables."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: variables[m.group(1)], expr)


class FleetTest(unittest.TestCase):
    """Two replicas, one Prometheus, shared by the tests of this class."""

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.daemons = [Daemon(config_text=FLEET_CONFIG, test_clock=CLOCK).start()
                       for _ in range(2)]
        rules = generate_rules(FLEET_CONFIG, cls._tmp.name)
        cls.prom = Prometheus([d.http_address for d in cls.daemons], [rules]).start()
        wait_for(cls.prom.targets_up, "both replicas to be scraped", timeout=30)
        cls.y_true, cls.y_pred = cls._stream()

    @classmethod
    def tearDownClass(cls):
        cls.prom.stop()
        for d in cls.daemons:
            d.stop()
        cls._tmp.cleanup()

    @classmethod
    def _stream(cls):
        """Streams random events to both replicas in two phases, each after Prometheus has
        scraped the previous one, so counters grow between scrapes (rates are defined).
        Returns the true and predicted classes of every evaluated event."""
        rng = random.Random(5)
        y_true, y_pred = [], []
        next_id = 1
        for phase in range(2):
            for replica, daemon in enumerate(cls.daemons):
                builder = modelwatch_client.BatchBuilder()
                labels = modelwatch_client.BatchBuilder()
                for _ in range(300 + 100 * replica):
                    truth = rng.choices(CLASSES, weights=[6, 3, 1])[0]
                    predicted = truth if rng.random() < 0.7 else rng.choice(CLASSES)
                    scores = [rng.random() for _ in CLASSES]
                    scores = [s / sum(scores) for s in scores]
                    kind = rng.random()
                    if kind < 0.5:  # label known at once
                        builder.add_prediction("fraud", predicted, label=truth, scores=scores,
                                               class_names=CLASSES, id=next_id,
                                               timestamp_ms=CLOCK * 1000)
                        y_true.append(truth)
                        y_pred.append(predicted)
                    elif kind < 0.85:  # label joined later by id
                        builder.add_prediction("fraud", predicted, scores=scores,
                                               class_names=CLASSES, id=next_id,
                                               timestamp_ms=CLOCK * 1000)
                        labels.add_label("fraud", truth, id=next_id, class_names=CLASSES,
                                         timestamp_ms=CLOCK * 1000 + 30_000)
                        y_true.append(truth)
                        y_pred.append(predicted)
                    else:  # never labelled
                        builder.add_prediction("fraud", predicted, scores=scores,
                                               class_names=CLASSES, id=next_id,
                                               timestamp_ms=CLOCK * 1000)
                    next_id += 1
                client = daemon.client()
                client.send(builder.build())
                client.send(labels.build())
                bad = modelwatch_client.BatchBuilder()
                bad.add_prediction("fraud", "bogus", class_names=["bogus"])
                client.send(bad.build())
            total = len(y_true)
            wait_for(lambda: cls.prom.values(
                'model:modelwatch_window_evaluated:sum_1m{model="fraud"}', ["model"]) ==
                {("fraud",): float(total)}, f"Prometheus to record {total} evaluated events")
        return y_true, y_pred

    def recorded(self, name, key=("class",)):
        return self.prom.values(f'{name}{{model="fraud", version="default"}}', list(key))

    def test_fleet_per_class_quality_equals_sklearn_on_the_union(self):
        labels = sorted(set(self.y_true) | set(self.y_pred))
        for metric, oracle in [("f1", f1_score), ("precision", precision_score),
                               ("recall", recall_score)]:
            expected = oracle(self.y_true, self.y_pred, labels=labels, average=None,
                              zero_division=0)
            got = self.recorded(f"model:modelwatch_{metric}:ratio_1m")
            self.assertEqual(sorted(got), [(c,) for c in labels], metric)
            for cls_name, value in zip(labels, expected):
                self.assertAlmostEqual(got[(cls_name,)], value, delta=1e-9,
                                       msg=f"{metric} of {cls_name}")

    def test_fleet_averages_and_accuracy_equal_sklearn(self):
        for metric, oracle in [("f1", f1_score), ("precision", precision_score),
                               ("recall", recall_score)]:
            got = self.recorded(f"model:modelwatch_{metric}_average:ratio_1m", ("average",))
            for average in ["macro", "micro", "weighted"]:
                self.assertAlmostEqual(
                    got[(average,)], oracle(self.y_true, self.y_pred, average=average,
                                            zero_division=0), delta=1e-9,
                    msg=f"{average} {metric}")
        accuracy = self.recorded("model:modelwatch_accuracy:ratio_1m", ())
        self.assertAlmostEqual(accuracy[()], accuracy_score(self.y_true, self.y_pred), delta=1e-9)

    def test_fleet_confusion_is_the_sum_of_the_replicas(self):
        got = self.recorded("model:modelwatch_confusion:sum_1m", ("actual", "predicted"))
        expected = {}
        for t, p in zip(self.y_true, self.y_pred):
            expected[(t, p)] = expected.get((t, p), 0.0) + 1
        self.assertEqual({k: v for k, v in got.items() if v}, expected)

    def test_fleet_f1_differs_from_the_mean_of_replica_f1(self):
        # Why the recording rules exist: averaging the replicas' ratios is not the fleet's F1.
        per_replica = self.prom.values(
            'modelwatch_f1{model="fraud", window="1m", class="chargeback"}', ["instance"])
        self.assertEqual(len(per_replica), 2)
        fleet = self.recorded("model:modelwatch_f1:ratio_1m")[("chargeback",)]
        self.assertNotAlmostEqual(np.mean(list(per_replica.values())), fleet, places=6)

    def test_fleet_alert_fires_on_recorded_f1(self):
        expected = f1_score(self.y_true, self.y_pred, labels=["chargeback"], average=None)[0]
        self.assertLess(expected, 0.99)
        # The alert may have fired on the first phase's events; its value follows the
        # recorded F1 at the next evaluation.
        firing = wait_for(lambda: [a for a in self.prom.alerts()
                                   if a["labels"]["alertname"] == "FleetChargebackF1Low"
                                   and a["state"] == "firing"
                                   and abs(float(a["value"]) - expected) < 1e-9],
                          "the fleet alert to fire with the fleet's F1 as its value")
        self.assertEqual(len(firing), 1)  # one alert for the fleet, not one per replica
        self.assertEqual(firing[0]["labels"]["class"], "chargeback")
        self.assertNotIn("instance", firing[0]["labels"])

    def test_reject_ratio_stays_quiet_below_threshold(self):
        ratio = self.prom.values(
            'job:modelwatch_events_rejected:ratio_1m', ["job"])
        self.assertEqual(list(ratio), [("modelwatch",)])
        self.assertGreater(ratio[("modelwatch",)], 0)
        self.assertLess(ratio[("modelwatch",)], 0.5)
        self.assertEqual([a for a in self.prom.alerts()
                          if a["labels"]["alertname"] == "RejectsHigh"], [])

    def test_every_dashboard_query_returns_data(self):
        variables = {"model": "fraud", "version": "default", "window": "1m", "class": "fraud",
                     "job": "modelwatch", "instance": self.daemons[0].http_address,
                     "__rate_interval": "1m", "__interval": "15s", "__range": "5m"}
        queries = dashboard_queries()
        self.assertGreater(len(queries), 10)
        for title, expr in queries:
            query = substitute(expr, variables)
            with self.subTest(panel=title, query=query):
                result = self.prom.query(query)
                values = [float(r["value"][1]) for r in result]
                self.assertTrue(any(not np.isnan(v) for v in values),
                                f"{title}: {query} returned {result}")


if __name__ == "__main__":
    unittest.main()
