"""The rules modelwatchctl generates, checked by Prometheus's own tools: `promtool check rules` on
every generated file, `promtool test rules` unit tests for every alert kind, and the deploy/
examples checked by `promtool check config` and `amtool check-config`. Also modelwatchctl's
command line: validate, errors that name file, line and field, exit codes."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

from alerting_fixture import PROMTOOL, generate_rules, run_modelwatchctl  # noqa: E402

SOURCE = os.environ.get("MODELWATCH_SOURCE_DIR", os.path.dirname(os.path.dirname(_HERE)))
TESTDATA = os.path.join(_HERE, "testdata")
DEPLOY = os.path.join(SOURCE, "deploy")


def read(path):
    with open(path) as f:
        return f.read()


def promtool(*args, cwd=None):
    p = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, cwd=cwd)
    return p.returncode, p.stdout + p.stderr


def configmap_config():
    """The modelwatch.yaml of deploy/kubernetes/modelwatch.yaml's ConfigMap."""
    with open(os.path.join(DEPLOY, "kubernetes", "modelwatch.yaml")) as f:
        for doc in yaml.safe_load_all(f):
            if doc and doc.get("kind") == "ConfigMap":
                return doc["data"]["modelwatch.yaml"]
    raise AssertionError("no ConfigMap in deploy/kubernetes/modelwatch.yaml")


class GeneratedRulesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="modelwatch-promtool-")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def check(self, config_text, name):
        rules = generate_rules(config_text, self.tmp, name=name)
        code, out = promtool("check", "rules", rules)
        self.assertEqual(code, 0, f"{name}:\n{out}\n{read(rules)}")
        self.assertIn("SUCCESS", out)
        return rules

    def test_every_kind_passes_check_and_unit_tests(self):
        rules = self.check(read(os.path.join(TESTDATA, "every_kind.yaml")), "rules.yml")
        shutil.copy(os.path.join(TESTDATA, "every_kind_test.yml"), self.tmp)
        code, out = promtool("test", "rules", "every_kind_test.yml", cwd=self.tmp)
        self.assertEqual(code, 0, f"{out}\n{read(rules)}")

    def test_every_config_in_the_repository_generates_valid_rules(self):
        configs = {"embedded default": "", "deploy configmap": configmap_config(),
                   "every kind": read(os.path.join(TESTDATA, "every_kind.yaml"))}
        for name, text in configs.items():
            with self.subTest(config=name):
                self.check(text, name.replace(" ", "_") + ".yml")

    def test_no_drift_rules_without_a_drift_reference(self):
        rules = yaml.safe_load(read(self.check("models: [{name: m, classes: [a, b]}]\n",
                                               "plain.yml")))
        self.assertEqual([g["name"] for g in rules["groups"]],
                         ["modelwatch_fleet_5m", "modelwatch_fleet_1h", "modelwatch_fleet_24h"])
        self.assertNotIn("drift", read(os.path.join(self.tmp, "plain.yml")))

    def test_one_group_of_recording_rules_per_window(self):
        rules = yaml.safe_load(read(self.check(read(os.path.join(TESTDATA, "every_kind.yaml")),
                                               "r.yml")))
        names = [g["name"] for g in rules["groups"]]
        self.assertEqual(names, ["modelwatch_fleet_drift_reference", "modelwatch_fleet_5m",
                                 "modelwatch_fleet_1h", "modelwatch_alerts"])
        # The 1h window exists for fraud only, so its rules are restricted to fraud.
        first_1h = rules["groups"][2]["rules"][0]
        self.assertEqual(first_1h["record"], "model:modelwatch_confusion:sum_1h")
        self.assertIn('model=~"fraud"', first_1h["expr"])
        self.assertNotIn("model=", rules["groups"][1]["rules"][0]["expr"])
        alerts = [r["alert"] for r in rules["groups"][3]["rules"]]
        self.assertEqual(len(alerts), 9)

    def test_kubernetes_format_is_a_prometheus_rule_with_the_same_groups(self):
        text = read(os.path.join(TESTDATA, "every_kind.yaml"))
        plain = yaml.safe_load(read(generate_rules(text, self.tmp, name="plain.yml")))
        path = os.path.join(self.tmp, "in.yaml")
        with open(path, "w") as f:
            f.write(text)
        code, out, err = run_modelwatchctl("rules", f"--config={path}", "--format=kubernetes",
                                           "--kubernetes_namespace=ml",
                                           "--kubernetes_name=fraud-rules")
        self.assertEqual(code, 0, err)
        obj = yaml.safe_load(out)
        self.assertEqual(obj["apiVersion"], "monitoring.coreos.com/v1")
        self.assertEqual(obj["kind"], "PrometheusRule")
        self.assertEqual(obj["metadata"]["name"], "fraud-rules")
        self.assertEqual(obj["metadata"]["namespace"], "ml")
        self.assertEqual(obj["spec"], plain)
        spec_path = os.path.join(self.tmp, "spec.yml")
        with open(spec_path, "w") as f:
            yaml.safe_dump(obj["spec"], f)
        code, out = promtool("check", "rules", spec_path)
        self.assertEqual(code, 0, out)


class DeployExamplesTest(unittest.TestCase):
    def test_prometheus_config_passes_promtool(self):
        tmp = tempfile.mkdtemp(prefix="modelwatch-deploy-")
        try:
            # prometheus.yml loads /etc/prometheus/rules/*.yml; check it beside generated rules.
            rules_dir = os.path.join(tmp, "rules")
            os.mkdir(rules_dir)
            generate_rules(configmap_config(), rules_dir, name="modelwatch.yml")
            text = read(os.path.join(DEPLOY, "prometheus", "prometheus.yml"))
            text = text.replace("/etc/prometheus/rules/", rules_dir + "/")
            # Debian builds Prometheus without Kubernetes service discovery, so promtool would
            # reject kubernetes_sd_configs; the pod job is checked (relabelling included) with
            # static targets in its place.
            config_yaml = yaml.safe_load(text)
            k8s_jobs = [job for job in config_yaml["scrape_configs"]
                        if "kubernetes_sd_configs" in job]
            self.assertEqual(len(k8s_jobs), 1)
            self.assertEqual(k8s_jobs[0]["kubernetes_sd_configs"], [{"role": "pod"}])
            del k8s_jobs[0]["kubernetes_sd_configs"]
            k8s_jobs[0]["static_configs"] = [{"targets": ["pod:9464"]}]
            config = os.path.join(tmp, "prometheus.yml")
            with open(config, "w") as f:
                yaml.safe_dump(config_yaml, f)
            code, out = promtool("check", "config", config)
            self.assertEqual(code, 0, out)
            self.assertIn("SUCCESS", out)
            self.assertIn("rules found", out)
        finally:
            shutil.rmtree(tmp)

    def test_alertmanager_config_passes_amtool(self):
        p = subprocess.run([shutil.which("amtool") or "/usr/bin/amtool", "check-config",
                            os.path.join(DEPLOY, "alertmanager", "alertmanager.yml")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


class ModelwatchctlTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="modelwatchctl-")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def write(self, text):
        path = os.path.join(self.tmp, "modelwatch.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_validate_accepts_a_valid_config(self):
        path = self.write(read(os.path.join(TESTDATA, "every_kind.yaml")))
        code, out, err = run_modelwatchctl("validate", f"--config={path}")
        self.assertEqual(code, 0, err)
        self.assertIn("valid; 2 models, 9 alerts", out)

    def test_validate_names_file_line_and_field_of_a_bad_reference(self):
        path = self.write("models:\n"
                          "  - name: fraud\n"
                          "    classes: [legit, fraud]\n"
                          "alerts:\n"
                          "  - name: A\n"
                          "    model: fraud\n"
                          "    signal: recall\n"
                          "    class: fruad\n"
                          "    window: 1h\n"
                          "    op: '<'\n"
                          "    threshold: 0.5\n")
        code, out, err = run_modelwatchctl("validate", f"--config={path}")
        self.assertEqual(code, 1)
        self.assertEqual(out, "")
        self.assertIn(f'{path}:8:12: alerts[0].class: "fruad" is not a class of model fraud; '
                      "its classes are legit, fraud", err)

    def test_rules_writes_the_file_and_stdout_alike(self):
        path = self.write(read(os.path.join(TESTDATA, "every_kind.yaml")))
        out_path = os.path.join(self.tmp, "rules.yml")
        code, _, err = run_modelwatchctl("rules", f"--config={path}", f"--out={out_path}")
        self.assertEqual(code, 0, err)
        code, stdout, _ = run_modelwatchctl("rules", f"--config={path}")
        self.assertEqual(code, 0)
        self.assertEqual(read(out_path), stdout)

    def test_usage_errors_exit_2(self):
        self.assertEqual(run_modelwatchctl("frobnicate", "--config=x")[0], 2)
        self.assertEqual(run_modelwatchctl("validate")[0], 2)
        self.assertEqual(run_modelwatchctl()[0], 2)
        path = self.write("")
        self.assertEqual(run_modelwatchctl("rules", f"--config={path}", "--format=json")[0], 2)

    def test_missing_file_exits_1_naming_it(self):
        missing = os.path.join(self.tmp, "nope.yaml")
        code, _, err = run_modelwatchctl("validate", f"--config={missing}")
        self.assertEqual(code, 1)
        self.assertIn(missing, err)

    def test_help_describes_the_commands(self):
        code, out, err = run_modelwatchctl("--help")
        self.assertIn("modelwatchctl rules --config FILE", out + err)
        self.assertIn("--format", out + err)


if __name__ == "__main__":
    unittest.main()
