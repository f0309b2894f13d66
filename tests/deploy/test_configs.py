"""The operator-facing configuration files are valid for the tools that read them (the compose
file: tests/deploy/test_compose.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_prometheus_config_passes_promtool():
    promtool = shutil.which("promtool")
    assert promtool, "promtool is required (apt-get install prometheus)"

    result = subprocess.run(
        [promtool, "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_dashboard_only_charts_metrics_the_project_exports():
    import json
    import re

    from prometheus_client import REGISTRY

    import streamsite.metrics  # noqa: F401  (defines every custom metric)

    # Every series name a registered metric can produce (_total, _bucket, _count…), whether or
    # not it has been observed yet in this process.
    exported = set(REGISTRY._names_to_collectors)
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "streamsite.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    charted = {name for expr in expressions for name in re.findall(r"streamsite_\w+", expr)}

    assert charted, "the dashboard charts nothing"
    assert charted <= exported, f"charted but never exported: {sorted(charted - exported)}"
