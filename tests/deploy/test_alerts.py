"""The alert rules: valid for Prometheus, loaded by its configuration, and doing what their unit
tests (deploy/prometheus/alerts.test.yml) say on the series they are given."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is required (apt-get install prometheus)"
    return subprocess.run(
        [promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, check=False
    )


def _alerts() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_alert_rules_pass_promtool_check():
    result = _promtool("check", "rules", "alerts.yml")

    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_pass_their_unit_tests():
    result = _promtool("test", "rules", "alerts.test.yml")

    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_loads_the_alert_rules():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())

    assert "alerts.yml" in config["rule_files"]


def test_every_alert_has_a_summary_a_runbook_and_a_unit_test():
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())
    tested = {
        case["alertname"]
        for test in tests["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }

    for rule in _alerts():
        assert rule["annotations"].get("summary"), rule["alert"]
        assert rule["annotations"]["runbook"] == f"docs/deploy.md#{rule['alert'].lower()}"
        assert rule["alert"] in tested, f"no test shows {rule['alert']} firing"


def test_the_alerts_cover_what_operators_must_hear_about():
    names = {rule["alert"] for rule in _alerts()}

    assert {
        "HighErrorRatio",
        "HighLatencyP99",
        "InstanceDown",
        "CircuitOpenTooLong",
        "ProgressFlushBehind",
        "CacheHitRatioLow",
        "ReplicaLagHigh",
        "BlocksSpiking",
        "DiskFillingUp",
    } <= names


def test_every_alert_has_its_runbook_in_the_deployment_guide():
    guide = (PROMETHEUS.parents[1] / "docs" / "deploy.md").read_text()
    headings = {line.removeprefix("### ").strip() for line in guide.splitlines()}

    missing = [rule["alert"] for rule in _alerts() if rule["alert"] not in headings]

    assert not missing, f"no runbook in docs/deploy.md for {missing}"


def test_the_deployment_guide_covers_what_an_operator_needs():
    guide = (PROMETHEUS.parents[1] / "docs" / "deploy.md").read_text()

    for section in (
        "## One host with compose",
        "## TLS",
        "## Several hosts",
        "## Read replicas",
        "## Backups and restore",
        "## Upgrades without downtime",
        "## Monitoring",
        "## Alerts and their runbooks",
    ):
        assert section in guide
