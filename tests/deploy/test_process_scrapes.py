"""Prometheus scrapes the Celery worker and beat where compose makes them serve their metrics."""

from __future__ import annotations

from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_prometheus_scrapes_the_worker_and_the_beat_on_their_metrics_port():
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    services = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]
    (job,) = [job for job in prometheus["scrape_configs"] if job["job_name"] == "celery"]
    targets = [target for group in job["static_configs"] for target in group["targets"]]

    assert {target.split(":")[0] for target in targets} == {"worker", "beat"}
    for target in targets:
        name, port = target.split(":")
        environment = services[name]["environment"]
        assert environment["METRICS_PORT"] == port
        assert environment["METRICS_ADDRESS"] == "0.0.0.0"  # noqa: S104 (the compose network)
        assert environment["METRICS_ALLOWED_NETWORKS"]
    assert "PROMETHEUS_MULTIPROC_DIR" in services["worker"]["environment"]  # a prefork pool
