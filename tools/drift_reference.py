#!/usr/bin/python3
"""Writes a modelwatch drift reference file from a CSV of training (or validation) predictions.

The file holds, per drift signal, the histogram modelwatchd compares live windows with
(docs/drift.md): the predicted classes, the labels, the confidence (top score), each class's
score and each numeric feature. Bins are the ones modelwatchd counts in, so the counts line up:

  * scores and confidence: `--score_bins` equal-width bins on [0, 1]; a score p (read as a
    32-bit float, as the wire carries it) falls in bin min(floor(p * bins), bins - 1);
  * features: the ascending inner edges given with --feature NAME=E1,E2,..., or, for a bare
    --feature NAME, the distinct deciles of the column; a value v (as a 32-bit float) falls in
    the number of edges <= v, so values below the first edge land in bin 0 and values at or above
    the last edge in the last bin.

CSV columns: the predicted class (--predicted_column, default `predicted`), optionally the true
class (--label_column, default `label`; left out when absent or empty), optionally one score
column per class named <score_prefix><class> (default prefix `score_`), and the feature columns.

Example:

    tools/drift_reference.py --csv train.csv --classes legit,fraud \\
        --feature amount=0,10,100,1000 --feature age --out ref/fraud.json

and in the config:

    models:
      - name: fraud
        classes: [legit, fraud]
        features: [{name: amount}, {name: age}]   # edges come from the reference file
        drift: {reference: {file: ref/fraud.json}}

Uses only the Python standard library.
"""

import argparse
import bisect
import csv
import json
import math
import struct
import sys

FORMAT = "modelwatch.drift_reference.v1"


def as_float32(x):
    """The double nearest to x after a round trip through a 32-bit float, as the wire carries it."""
    return struct.unpack("f", struct.pack("f", float(x)))[0]


def score_bin(p, bins):
    """The bin modelwatchd counts score p in."""
    b = int(as_float32(p) * bins)
    return min(max(b, 0), bins - 1)


def score_edges(bins):
    return [b / bins for b in range(1, bins)]


def feature_bin(value, edges):
    """The bin modelwatchd counts feature value `value` in (edges ascending, inner)."""
    return bisect.bisect_right(edges, as_float32(value))


def decile_edges(values):
    """Distinct deciles of the values, as inner edges (what a bare --feature NAME gets)."""
    data = sorted(values)
    if not data:
        return []
    edges = []
    for q in range(1, 10):
        pos = q * (len(data) - 1) / 10
        lo = math.floor(pos)
        hi = min(lo + 1, len(data) - 1)
        edge = data[lo] + (data[hi] - data[lo]) * (pos - lo)
        edge = as_float32(edge)
        if not edges or edge > edges[-1]:
            edges.append(edge)
    return edges


def build_reference(rows, classes, score_bins=20, features=(), predicted_column="predicted",
                    label_column="label", score_prefix="score_"):
    """The reference as a dict ready for json.dump.

    rows: iterable of dicts (CSV rows); classes: class names in model order; features: list of
    (name, edges or None).
    """
    rows = list(rows)
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    predicted = [0] * k
    labels = [0] * k
    confidence = [0] * score_bins
    scores = [[0] * score_bins for _ in range(k)]
    have_labels = False
    have_scores = False

    for n, row in enumerate(rows, 2):
        name = row.get(predicted_column)
        if name not in index:
            raise ValueError(f"row {n}: predicted class {name!r} is not one of {classes}")
        predicted[index[name]] += 1
        label = row.get(label_column)
        if label not in (None, ""):
            if label not in index:
                raise ValueError(f"row {n}: label {label!r} is not one of {classes}")
            labels[index[label]] += 1
            have_labels = True
        row_scores = [row.get(score_prefix + c) for c in classes]
        if all(v not in (None, "") for v in row_scores):
            values = [as_float32(v) for v in row_scores]
            for c, p in enumerate(values):
                if not 0.0 <= p <= 1.0:
                    raise ValueError(f"row {n}: score of {classes[c]!r} is {p}, not in [0, 1]")
                scores[c][score_bin(p, score_bins)] += 1
            confidence[score_bin(max(values), score_bins)] += 1
            have_scores = True

    signals = {"predicted_class": {"categories": list(classes), "counts": predicted}}
    if have_labels:
        signals["label"] = {"categories": list(classes), "counts": labels}
    if have_scores:
        edges = score_edges(score_bins)
        signals["confidence"] = {"edges": edges, "counts": confidence}
        for c, name in enumerate(classes):
            signals[f"score:{name}"] = {"edges": edges, "counts": scores[c]}
    for name, edges in features:
        column = [float(r[name]) for r in rows if r.get(name) not in (None, "")]
        if edges is None:
            edges = decile_edges(column)
        counts = [0] * (len(edges) + 1)
        for v in column:
            counts[feature_bin(v, edges)] += 1
        signals[f"feature:{name}"] = {"edges": list(edges), "counts": counts}
    return {"format": FORMAT, "signals": signals}


def parse_feature(text):
    name, sep, edges = text.partition("=")
    if not sep:
        return name, None
    values = [float(e) for e in edges.split(",") if e]
    if any(b <= a for a, b in zip(values, values[1:])):
        raise argparse.ArgumentTypeError(f"edges of {name} must be strictly ascending")
    return name, values


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", required=True, help="input CSV with a header row")
    parser.add_argument("--out", required=True, help="reference file to write (JSON)")
    parser.add_argument("--classes", required=True, help="class names in model order, comma-separated")
    parser.add_argument("--score_bins", type=int, default=20, help="the model's score_bins")
    parser.add_argument("--feature", action="append", default=[], type=parse_feature,
                        help="NAME=E1,E2,... (inner edges) or NAME (deciles); repeat per feature")
    parser.add_argument("--predicted_column", default="predicted")
    parser.add_argument("--label_column", default="label")
    parser.add_argument("--score_prefix", default="score_")
    args = parser.parse_args(argv)

    classes = [c for c in args.classes.split(",") if c]
    if len(classes) < 2:
        parser.error("--classes needs at least two names")
    if args.score_bins < 1:
        parser.error("--score_bins must be at least 1")
    with open(args.csv, newline="") as f:
        reference = build_reference(csv.DictReader(f), classes, args.score_bins, args.feature,
                                    args.predicted_column, args.label_column, args.score_prefix)
    with open(args.out, "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
