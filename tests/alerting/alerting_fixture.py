"""Real Prometheus, Alertmanager and a webhook receiver for alerting tests, all on loopback.

    from alerting_fixture import Alertmanager, Prometheus, WebhookReceiver, generate_rules

    rules = generate_rules(config_text, directory)          # runs modelwatchctl rules
    with WebhookReceiver() as hook, Alertmanager(hook.url) as am, \
            Prometheus(targets=[daemon.http_address], rule_files=[rules],
                       alertmanager=am.address) as prom:
        prom.wait_for(lambda: prom.query("up") ...)

Each server gets its own temporary directory and an ephemeral loopback port, and is killed on
exit. Prometheus and Alertmanager cannot report a port they chose themselves, so a free port is
picked by binding port 0 and the start is retried on the rare clash. Waits poll a condition
against a deadline.
"""

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "daemon"))

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


class TimeoutError_(AssertionError):
    pass


def wait_for(condition, what, timeout=60.0, interval=0.1):
    """Polls `condition` until it returns a truthy value, which it returns; raises after
    `timeout` seconds with `what` in the message."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except (OSError, ValueError, KeyError) as e:
            last_error = e
        if time.monotonic() > deadline:
            raise TimeoutError_(f"timed out after {timeout}s waiting for {what}"
                                f"{'; last error: ' + repr(last_error) if last_error else ''}")
        time.sleep(interval)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def modelwatchctl():
    path = os.environ.get("MODELWATCHCTL")
    if not path:
        raise RuntimeError("MODELWATCHCTL is not set; run through ctest or export its path")
    return path


def run_modelwatchctl(*args):
    """(exit code, stdout, stderr) of one modelwatchctl run."""
    p = subprocess.run([modelwatchctl(), *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def generate_rules(config_text, directory, name="rules.yml", fmt="prometheus"):
    """Writes config_text to `directory`, runs `modelwatchctl rules` on it and returns the path
    of the rule file; raises with modelwatchctl's message when it fails."""
    config_path = os.path.join(directory, name + ".config.yaml")
    with open(config_path, "w") as f:
        f.write(config_text)
    out = os.path.join(directory, name)
    code, _, err = run_modelwatchctl("rules", f"--config={config_path}", f"--out={out}",
                                     f"--format={fmt}")
    if code != 0:
        raise AssertionError(f"modelwatchctl rules failed ({code}): {err}")
    return out


def http_json(url, data=None, timeout=10.0):
    request = urllib.request.Request(url, data=data)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


class _Server:
    """A child process with a temporary directory, killed on exit."""

    name = "server"

    def __init__(self):
        self.dir = None
        self.process = None
        self.port = None
        self._log = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"http://{self.address}"

    def _command(self):
        raise NotImplementedError

    def _ready(self):
        raise NotImplementedError

    def start(self, timeout=60.0):
        self.dir = tempfile.mkdtemp(prefix=f"modelwatch-{self.name}-")
        self._prepare()
        for attempt in range(3):
            self.port = free_port()
            self._log = open(os.path.join(self.dir, "log"), "ab")
            self.process = subprocess.Popen(self._command(), stdout=self._log,
                                            stderr=subprocess.STDOUT, cwd=self.dir)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                try:
                    if self._ready():
                        return self
                except (OSError, ValueError):
                    pass
                time.sleep(0.05)
            self._kill()
            if "address already in use" not in self.log() or attempt == 2:
                raise AssertionError(f"{self.name} did not start:\n{self.log()}")
        return self

    def _prepare(self):
        pass

    def log(self):
        try:
            with open(os.path.join(self.dir, "log"), "rb") as f:
                return f.read().decode("utf-8", "replace")[-5000:]
        except OSError:
            return ""

    def _kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self):
        self._kill()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Prometheus(_Server):
    """Prometheus scraping `targets` (host:port of /metrics) every second, evaluating
    `rule_files` every second and sending alerts to `alertmanager` (host:port) if given."""

    name = "prometheus"

    def __init__(self, targets, rule_files=(), alertmanager=None, job="modelwatch"):
        super().__init__()
        self.targets = list(targets)
        self.rule_files = list(rule_files)
        self.alertmanager = alertmanager
        self.job = job

    def _prepare(self):
        rules = []
        for i, path in enumerate(self.rule_files):
            copy = os.path.join(self.dir, f"rules{i}.yml")
            shutil.copy(path, copy)
            rules.append(copy)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s",
                       "scrape_timeout": "1s"},
            "rule_files": rules,
            "scrape_configs": [{"job_name": self.job,
                                "static_configs": [{"targets": self.targets}]}],
        }
        if self.alertmanager:
            config["alerting"] = {"alertmanagers": [
                {"static_configs": [{"targets": [self.alertmanager]}]}]}
        # JSON is YAML.
        with open(os.path.join(self.dir, "prometheus.yml"), "w") as f:
            json.dump(config, f, indent=2)

    def _command(self):
        return [PROMETHEUS, f"--config.file={os.path.join(self.dir, 'prometheus.yml')}",
                f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
                f"--web.listen-address={self.address}",
                "--rules.alert.resend-delay=1s", "--log.level=warn"]

    def _ready(self):
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
            return r.status == 200

    def query(self, expr):
        """The result vector of an instant query: [{"metric": {...}, "value": [t, "v"]}]."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        body = http_json(url)
        if body.get("status") != "success":
            raise AssertionError(f"query {expr!r} failed: {body}")
        return body["data"]["result"]

    def values(self, expr, key):
        """{tuple(metric[k] for k in key): float value} of an instant query."""
        return {tuple(r["metric"].get(k, "") for k in key): float(r["value"][1])
                for r in self.query(expr)}

    def alerts(self):
        """The active alerts (pending or firing) as Prometheus reports them."""
        return http_json(f"{self.url}/api/v1/alerts")["data"]["alerts"]

    def targets_up(self):
        body = http_json(f"{self.url}/api/v1/targets")
        active = body["data"]["activeTargets"]
        return len(active) == len(self.targets) and all(t["health"] == "up" for t in active)


class Alertmanager(_Server):
    """Alertmanager routing every alert to one webhook, with waits of a second."""

    name = "alertmanager"

    def __init__(self, webhook_url):
        super().__init__()
        self.webhook_url = webhook_url

    def _prepare(self):
        config = {
            "route": {"receiver": "webhook", "group_by": ["alertname"], "group_wait": "1s",
                      "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [{"name": "webhook", "webhook_configs": [
                {"url": self.webhook_url, "send_resolved": True}]}],
        }
        with open(os.path.join(self.dir, "alertmanager.yml"), "w") as f:
            json.dump(config, f, indent=2)

    def _command(self):
        return [ALERTMANAGER, f"--config.file={os.path.join(self.dir, 'alertmanager.yml')}",
                f"--storage.path={os.path.join(self.dir, 'data')}",
                f"--web.listen-address={self.address}", "--cluster.listen-address=",
                "--log.level=warn"]

    def _ready(self):
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
            return r.status == 200

    def alerts(self):
        return http_json(f"{self.url}/api/v2/alerts")


class WebhookReceiver:
    """An HTTP server in this process that records every Alertmanager notification."""

    def __init__(self):
        self.notifications = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length).decode("utf-8"))
                with receiver._lock:
                    receiver.notifications.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/alerts"

    def received(self):
        with self._lock:
            return list(self.notifications)

    def alerts(self, alertname, status):
        """Alerts named `alertname` with `status` (firing, resolved) received so far."""
        return [a for n in self.received() for a in n.get("alerts", [])
                if a["labels"].get("alertname") == alertname and a["status"] == status]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
