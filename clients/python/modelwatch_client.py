"""A small Python client for modelwatchd's gRPC ingest API (modelwatch.v1.Ingest).

It turns rows (one per prediction or label) into the columnar batches the wire contract wants,
and sends them over a stream or as unary calls:

    from modelwatch_client import BatchBuilder, Client

    builder = BatchBuilder()
    builder.add_prediction("fraud", "legit", scores=[0.9, 0.1], id="req-1",
                           class_names=["legit", "fraud"])
    builder.add_label("fraud", "fraud", id="req-1")
    with Client("127.0.0.1:50051") as client:
        reply = client.send(builder.build())
        print(reply.accepted_predictions, reply.accepted_labels)

Classes are given either by name (each group then carries a class dictionary, resolved once per
group by the daemon) or by integer index into the model's configured class list; one group uses
one or the other. Ids are integers (fixed64, non-zero) or strings; one group uses one or the
other. Needs the generated modules modelwatch.v1.ingest_pb2 and ingest_pb2_grpc on sys.path.
"""

import grpc

from modelwatch.v1 import ingest_pb2, ingest_pb2_grpc

Batch = ingest_pb2.Batch
IngestReply = ingest_pb2.IngestReply


class _Group:
    """Rows of one (model, version) group, kept column by column."""

    def __init__(self, model, version):
        self.model = model
        self.version = version
        self.by_name = None  # True: classes are names; False: indices; None: not known yet
        self.class_names = []
        self.class_index = {}
        self.predicted = []
        self.scores = []
        self.scored = None  # whether the group's predictions carry scores
        self.ids = []
        self.id_kind = None  # int or str
        self.inline_labels = []
        self.timestamps = []
        self.features = None  # feature names, fixed by the first prediction
        self.feature_values = {}
        self.labels = []
        self.label_ids = []
        self.label_id_kind = None
        self.label_timestamps = []

    def cls(self, value, class_names):
        """The wire value of a class given by name or index."""
        by_name = isinstance(value, str)
        if self.by_name is None:
            self.by_name = by_name
        elif self.by_name != by_name:
            raise ValueError(f"model {self.model!r}: mix of class names and class indices in one group")
        if not by_name:
            return int(value)
        if class_names is not None and not self.class_names:
            for name in class_names:
                self._intern(name)
        return self._intern(value)

    def _intern(self, name):
        if name not in self.class_index:
            self.class_index[name] = len(self.class_names)
            self.class_names.append(name)
        return self.class_index[name]


def _id_kind(group_kind, value, what):
    kind = str if isinstance(value, str) else int
    if group_kind is not None and group_kind is not kind:
        raise ValueError(f"{what}: mix of integer and string ids in one group")
    return kind


class BatchBuilder:
    """Builds one modelwatch.v1.Batch from rows. Not thread-safe."""

    def __init__(self):
        self._groups = {}

    def _group(self, model, version):
        key = (model, version)
        if key not in self._groups:
            self._groups[key] = _Group(model, version)
        return self._groups[key]

    def add_prediction(self, model, predicted, scores=None, id=None, label=None, features=None,
                       version="", timestamp_ms=None, class_names=None):
        """Adds one prediction.

        predicted: class name (str) or index into the model's class list (int).
        scores: per-class probabilities in dictionary order (class_names, when given, fixes that
            order; otherwise classes are numbered in order of first use) or model class order.
        id: join id (non-zero int or non-empty str) for a label that arrives later.
        label: the true class when already known (name or index), evaluated at once.
        features: {name: float}; every prediction of a group must carry the same names.
        """
        g = self._group(model, version)
        g.predicted.append(g.cls(predicted, class_names))

        has_scores = scores is not None
        if g.scored is None:
            g.scored = has_scores
        elif g.scored != has_scores:
            raise ValueError(f"model {model!r}: some predictions have scores and some do not")
        if has_scores:
            g.scores.extend(float(s) for s in scores)

        if id is not None:
            g.id_kind = _id_kind(g.id_kind, id, f"model {model!r}")
        g.ids.append(id)
        g.inline_labels.append(None if label is None else g.cls(label, class_names))
        g.timestamps.append(timestamp_ms)

        names = sorted(features) if features else []
        if g.features is None:
            g.features = names
            g.feature_values = {name: [] for name in names}
        elif g.features != names:
            raise ValueError(f"model {model!r}: predictions carry different features")
        for name in names:
            g.feature_values[name].append(float(features[name]))

    def add_label(self, model, label, id, timestamp_ms=None, class_names=None):
        """Adds a ground-truth label for the earlier (or later) prediction with this id."""
        g = self._group(model, "")
        g.labels.append(g.cls(label, class_names))
        g.label_id_kind = _id_kind(g.label_id_kind, id, f"model {model!r} labels")
        g.label_ids.append(id)
        g.label_timestamps.append(timestamp_ms)

    def __len__(self):
        return sum(len(g.predicted) + len(g.labels) for g in self._groups.values())

    def build(self):
        """The batch of every row added so far, as a modelwatch.v1.Batch."""
        batch = ingest_pb2.Batch()
        for g in self._groups.values():
            events = batch.groups.add(model=g.model, version=g.version)
            events.class_names.extend(g.class_names)
            p = events.predictions
            p.predicted.extend(g.predicted)
            p.scores.extend(g.scores)
            if any(i is not None for i in g.ids):
                if g.id_kind is str:
                    p.string_ids.extend(i or "" for i in g.ids)
                else:
                    p.ids.extend(i or 0 for i in g.ids)
            if any(lbl is not None for lbl in g.inline_labels):
                p.label.extend(-1 if lbl is None else lbl for lbl in g.inline_labels)
            if any(t is not None for t in g.timestamps):
                p.timestamp_ms.extend(t or 0 for t in g.timestamps)
            for name in g.features or []:
                p.features.add(name=name, values=g.feature_values[name])
            lab = events.labels
            lab.label.extend(g.labels)
            if g.label_id_kind is str:
                lab.string_ids.extend(g.label_ids)
            else:
                lab.ids.extend(g.label_ids)
            if any(t is not None for t in g.label_timestamps):
                lab.timestamp_ms.extend(t or 0 for t in g.label_timestamps)
        return batch


class Client:
    """A connection to modelwatchd's ingest service. Thread-safe like a grpc.Channel."""

    def __init__(self, target="127.0.0.1:50051", timeout=None, options=None):
        self._channel = grpc.insecure_channel(target, options=options or [])
        self._stub = ingest_pb2_grpc.IngestStub(self._channel)
        self._timeout = timeout

    def send(self, batch):
        """One batch, one reply (the unary Send RPC)."""
        return self._stub.Send(batch, timeout=self._timeout)

    def stream(self, batches):
        """Streams an iterable of batches over one Stream RPC; returns the reply that totals them."""
        return self._stub.Stream(iter(batches), timeout=self._timeout)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
