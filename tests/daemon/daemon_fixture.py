"""Starts the real modelwatchd for a test and talks to it: gRPC target, /metrics scraped and
parsed, the test clock moved, a clean stop.

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tests/daemon
    from daemon_fixture import Daemon

    with Daemon(config_text=YAML, test_clock=1_700_000_000) as d:
        client = d.client()
        ...
        metrics = d.scrape()           # {(name, frozenset(labels.items())): value}
        d.metric("modelwatch_accuracy", model="m", version="default", window="5m")
        d.advance_clock(60)

The daemon binds 127.0.0.1 port 0 for gRPC and HTTP and reports its ports through --port_file,
so tests run in parallel. Its binary comes from $MODELWATCHD; everything it writes lives in a
temporary directory removed at stop. Waits poll a condition against a deadline, never a fixed
sleep.
"""

import http.client
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

_HERE = os.path.dirname(os.path.abspath(__file__))


def _setup_paths():
    """Makes the client library and the generated stubs importable when run outside ctest."""
    source = os.environ.get("MODELWATCH_SOURCE_DIR", os.path.dirname(os.path.dirname(_HERE)))
    paths = [os.path.join(source, "clients", "python")]
    binary = os.environ.get("MODELWATCH_BINARY_DIR")
    if binary:
        paths.append(os.path.join(binary, "python"))
    for p in paths:
        if p not in sys.path:
            sys.path.insert(0, p)


_setup_paths()

import modelwatch_client  # noqa: E402  (needs the paths above)


def binary():
    path = os.environ.get("MODELWATCHD")
    if not path:
        raise RuntimeError("MODELWATCHD is not set; run through ctest or export the daemon path")
    return path


class DaemonError(RuntimeError):
    pass


# One sample line of the text format: name, optional {labels}, value, optional timestamp.
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def _unescape(value):
    out = []
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append({"n": "\n", "\\": "\\", '"': '"'}.get(nxt, "\\" + nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _parse_value(text):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    return float(text)


def parse_metrics(text):
    """Parses the Prometheus text format into {(name, frozenset(labels.items())): value}.

    Raises ValueError on a malformed line or a duplicated series, so a test also checks the
    exposition is well formed.
    """
    samples = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError(f"line {lineno} is not a sample: {line!r}")
        name, _, label_text, value = m.group(1), m.group(2), m.group(3), m.group(4)
        labels = {}
        if label_text:
            pos = 0
            while pos < len(label_text):
                lm = _LABEL.match(label_text, pos)
                if not lm:
                    raise ValueError(f"line {lineno}: bad labels {label_text!r}")
                labels[lm.group(1)] = _unescape(lm.group(2))
                pos = lm.end()
        key = (name, frozenset(labels.items()))
        if key in samples:
            raise ValueError(f"line {lineno}: duplicated series {line!r}")
        samples[key] = _parse_value(value)
    return samples


def select(samples, name, **labels):
    """{frozenset(labels): value} of the series named `name` whose labels include `labels`."""
    want = set(labels.items())
    return {k[1]: v for k, v in samples.items() if k[0] == name and want <= k[1]}


class Daemon:
    """One modelwatchd process. Use as a context manager, or call start() and stop()."""

    def __init__(self, config_text=None, test_clock=None, args=(), log_level="info",
                 start_timeout=30.0):
        self.config_text = config_text
        self.test_clock = test_clock
        self.args = list(args)
        self.log_level = log_level
        self.start_timeout = start_timeout
        self.process = None
        self.returncode = None
        self.grpc_target = None
        self.http_address = None
        self._dir = None
        self._log = None
        self._clients = []

    # Lifecycle.

    def command(self):
        """The command line start() runs (without the config path when there is no config)."""
        cmd = [binary(), "--grpc_listen=127.0.0.1:0", "--http_listen=127.0.0.1:0",
               f"--port_file={self.port_file}", f"--log_level={self.log_level}"]
        if self.config_text is not None:
            cmd.append(f"--config={self.config_path}")
        if self.test_clock is not None:
            cmd.append(f"--test_clock={int(self.test_clock)}")
        return cmd + self.args

    def start(self):
        self._dir = tempfile.TemporaryDirectory(prefix="modelwatchd-test-")
        self.port_file = os.path.join(self._dir.name, "ports")
        self.config_path = os.path.join(self._dir.name, "modelwatch.yaml")
        self.log_path = os.path.join(self._dir.name, "modelwatchd.log")
        if self.config_text is not None:
            with open(self.config_path, "w") as f:
                f.write(self.config_text)
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT)
        try:
            ports = self._wait_for_port_file()
            self.grpc_target = ports["grpc"]
            self.http_address = ports["http"]
            self.wait_until(lambda: self.http_status("/readyz") == 200, "readyz 200")
        except Exception:
            self.kill()
            raise
        return self

    def _wait_for_port_file(self):
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DaemonError(
                    f"modelwatchd exited with {self.process.returncode} before listening:\n"
                    f"{self.log()}")
            if os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    text = f.read()
                ports = dict(line.split("=", 1) for line in text.split("\n") if "=" in line)
                if "grpc" in ports and "http" in ports:
                    return ports
            time.sleep(0.02)
        raise DaemonError(f"modelwatchd wrote no port file within {self.start_timeout}s:\n"
                          f"{self.log()}")

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Sends `sig`, waits for the exit and returns the exit code."""
        for client in self._clients:
            client.close()
        self._clients = []
        if self.process is None:
            return self.returncode
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.returncode = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise DaemonError(f"modelwatchd did not exit within {timeout}s of {sig!r}:\n"
                              f"{self.log()}")
        finally:
            self._close_files()
        return self.returncode

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_files()

    def _close_files(self):
        if self._log is not None:
            self._log.close()
            self._log = None
        # The log is kept in memory so a test can read it after the directory is gone.
        if self._dir is not None:
            self._final_log = self._read_log()
            self._dir.cleanup()
            self._dir = None

    def _read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log(self):
        """Everything the daemon logged so far (stdout and stderr)."""
        if self._dir is None:
            return getattr(self, "_final_log", "")
        return self._read_log()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.process is not None and self.process.poll() is None:
            self.stop()
        self._close_files()

    # Waiting.

    @staticmethod
    def wait_until(condition, what, timeout=30.0, interval=0.02):
        """Polls `condition` until it is true; raises after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if condition():
                    return
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                raise DaemonError(f"timed out waiting for {what}")
            time.sleep(interval)

    # HTTP.

    def http(self, method, path, timeout=10.0):
        """(status, body) of one HTTP request to the daemon."""
        host, port = self.http_address.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            return response.status, response.read().decode("utf-8")
        finally:
            conn.close()

    def http_status(self, path):
        return self.http("GET", path)[0]

    def metrics_text(self):
        status, body = self.http("GET", "/metrics")
        if status != 200:
            raise DaemonError(f"/metrics answered {status}: {body}")
        return body

    def scrape(self):
        """{(name, frozenset(labels.items())): value} of one /metrics scrape."""
        return parse_metrics(self.metrics_text())

    def metric(self, name, samples=None, **labels):
        """The value of the one series `name` with exactly `labels`, or None when absent."""
        samples = self.scrape() if samples is None else samples
        return samples.get((name, frozenset(labels.items())))

    # Test clock.

    def _clock(self, query):
        if self.test_clock is None:
            raise DaemonError("the daemon was started without test_clock")
        status, body = self.http("POST", "/debug/clock?" + urllib.parse.urlencode(query))
        if status != 200:
            raise DaemonError(f"/debug/clock answered {status}: {body}")
        return float(body.strip().split("=", 1)[1])

    def advance_clock(self, seconds):
        """Moves the daemon's clock forward; returns its new Unix time."""
        return self._clock({"advance_seconds": seconds})

    def set_clock(self, unix_seconds):
        return self._clock({"set_unix": unix_seconds})

    # gRPC.

    def client(self, timeout=30.0):
        """A modelwatch_client.Client connected to the daemon (closed at stop)."""
        c = modelwatch_client.Client(self.grpc_target, timeout=timeout)
        self._clients.append(c)
        return c
