"""Shared pieces of the drift tests: random event streams, how modelwatchd bins them, and every
drift statistic computed with scipy (the oracle) from the binned counts.

The binning mirrors core/: a score p, carried as a 32-bit float, falls in score bin
min(floor(p * bins), bins - 1); a feature value v (32-bit float) in bin number of edges <= v.
"""

import math
import os
import sys

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, entropy, kstwobign, ks_2samp, wasserstein_distance

_HERE = os.path.dirname(os.path.abspath(__file__))
_SOURCE = os.environ.get("MODELWATCH_SOURCE_DIR", os.path.dirname(os.path.dirname(_HERE)))
for _p in (os.path.join(_SOURCE, "tests", "daemon"), os.path.join(_SOURCE, "tools")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import drift_reference  # noqa: E402  tools/drift_reference.py
from daemon_fixture import Daemon, select  # noqa: E402,F401

EPS = 1e-4  # the smoothing constant of PSI and KL (core/drift_stats.h)


def f32(x):
    return float(np.float32(x))


def make_events(rng, n, classes, prior, score_shift=0.0, feature_mean=0.0, feature_name="x"):
    """n events as dicts: predicted, label, scores (summing to 1), feature value.

    The predicted class follows `prior`; the label equals it 80% of the time; scores put a
    Beta-distributed weight on the predicted class (moved up by score_shift, clipped to [0, 1]) and
    share the rest; the feature is normal with mean feature_mean.
    """
    k = len(classes)
    events = []
    predicted = rng.choice(k, size=n, p=prior)
    for i in range(n):
        p = int(predicted[i])
        label = p if rng.random() < 0.8 else int(rng.integers(k))
        top = min(1.0, max(1.0 / k, rng.beta(4, 2) + score_shift))
        rest = rng.dirichlet(np.ones(k - 1)) * (1 - top)
        scores = list(rest[:p]) + [top] + list(rest[p:])
        events.append({
            "predicted": classes[p],
            "label": classes[label],
            "scores": [f32(s) for s in scores],
            "feature": f32(rng.normal(feature_mean, 1.0)),
        })
    return events


def send(client, model, events, classes, feature_name="x", batch=500, version=""):
    from modelwatch_client import BatchBuilder
    for start in range(0, len(events), batch):
        b = BatchBuilder()
        for e in events[start:start + batch]:
            b.add_prediction(model, e["predicted"], scores=e["scores"], label=e["label"],
                             features={feature_name: e["feature"]}, class_names=classes,
                             version=version)
        reply = client.send(b.build())
        assert reply.accepted_predictions == len(events[start:start + batch]), reply


def bin_events(events, classes, score_bins, edges):
    """{signal: counts} as modelwatchd counts these events."""
    k = len(classes)
    index = {c: i for i, c in enumerate(classes)}
    out = {"predicted_class": [0] * k, "label": [0] * k, "confidence": [0] * score_bins,
           "feature:x": [0] * (len(edges) + 1)}
    for c in classes:
        out[f"score:{c}"] = [0] * score_bins
    for e in events:
        out["predicted_class"][index[e["predicted"]]] += 1
        out["label"][index[e["label"]]] += 1
        for c, s in zip(classes, e["scores"]):
            out[f"score:{c}"][drift_reference.score_bin(s, score_bins)] += 1
        out["confidence"][drift_reference.score_bin(max(e["scores"]), score_bins)] += 1
        out["feature:x"][drift_reference.feature_bin(e["feature"], edges)] += 1
    return out


def centers(signal, counts, edges, score_bins):
    """Bin positions for the Wasserstein distance (core::SignalBinCenters)."""
    k = len(counts)
    if signal == "confidence" or signal.startswith("score:"):
        return [(b + 0.5) / score_bins for b in range(k)]
    e = edges
    out = [e[0] - (e[1] - e[0]) / 2]
    out += [(e[b - 1] + e[b]) / 2 for b in range(1, len(e))]
    out.append(e[-1] + (e[-1] - e[-2]) / 2)
    return out


def oracle(signal, ref, cur, positions):
    """{statistic: value} by scipy for one signal (reference counts, current counts)."""
    ref = np.asarray(ref, dtype=float)
    cur = np.asarray(cur, dtype=float)
    p = ref / ref.sum()
    q = cur / cur.sum()
    k = len(p)
    ps = (p + EPS) / (1 + k * EPS)
    qs = (q + EPS) / (1 + k * EPS)
    out = {
        "psi": entropy(qs, ps) + entropy(ps, qs),
        "kl": entropy(qs, ps),
        "js": jensenshannon(p, q, base=2),
        # No scipy function: the exact formula of docs/drift.md.
        "hellinger": math.sqrt(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2) / 2),
        "tv": np.sum(np.abs(p - q)) / 2,
        "linf": np.max(np.abs(p - q)),
    }
    if signal in ("predicted_class", "label"):
        keep = (ref + cur) > 0
        table = np.array([ref[keep], cur[keep]])
        if table.shape[1] == 1:
            out["chi2_pvalue"] = 1.0
        else:
            out["chi2_pvalue"] = chi2_contingency(table, correction=False)[1]
        return out
    out["wasserstein"] = wasserstein_distance(positions, positions, ref, cur)
    xs = np.repeat(positions, ref.astype(int))
    ys = np.repeat(positions, cur.astype(int))
    d = ks_2samp(xs, ys).statistic
    n = ref.sum() * cur.sum() / (ref.sum() + cur.sum())
    out["ks_statistic"] = d
    out["ks_pvalue"] = kstwobign.sf(math.sqrt(n) * d)
    return out


def drift_values(samples, model, window, version="default"):
    """{(signal, statistic): value} of modelwatch_drift for one model and window."""
    out = {}
    for labels, value in select(samples, "modelwatch_drift", model=model, version=version,
                                window=window).items():
        d = dict(labels)
        out[(d["signal"], d["statistic"])] = value
    return out


def histogram_values(samples, name, model, version="default"):
    """{signal: {bin label: value}} of a histogram family."""
    out = {}
    for labels, value in select(samples, name, model=model, version=version).items():
        d = dict(labels)
        out.setdefault(d["signal"], {})[d["bin"]] = value
    return out


def bin_labels(signal, n, edges, score_bins, classes):
    """The `bin` label of each bin, as modelwatchd writes it."""
    if signal in ("predicted_class", "label"):
        return list(classes)
    e = drift_reference.score_edges(score_bins) if signal != "feature:x" else edges
    return [repr_edge(x) for x in e] + ["+Inf"]


def repr_edge(x):
    """The shortest of %.6g, %.15g, %.17g that reads back as x (core::SignalBinLabel)."""
    for digits in (6, 15, 17):
        s = "%.*g" % (digits, x)
        if float(s) == x:
            return s
    return "%.17g" % x
