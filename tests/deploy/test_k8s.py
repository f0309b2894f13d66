"""The Kubernetes manifests (deploy/k8s), checked offline: both overlays render with kustomize,
every built-in object validates against the Kubernetes schemas (the pinned kubernetes-validate),
the custom resources (CloudNativePG, Prometheus Operator, cert-manager) are checked for the
fields this deployment relies on, and the rules of docs/kubernetes.md hold: probes, requests,
limits and a non-root, read-only container everywhere; an autoscaler and a disruption budget
for every pool; no secret in the manifests; the Ingress routes as the nginx gateway does.

No cluster runs here: what only a cluster can show is listed in docs/kubernetes.md, "What was
not tested here". `python tests/deploy/test_k8s.py` writes the PrometheusRule from
deploy/prometheus/alerts.yml.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "production")
GATEWAY = ROOT / "deploy" / "nginx" / "templates" / "streamsite.conf.template"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS_RULE = K8S / "base" / "prometheusrule.yaml"
FILES_CONF = K8S / "base" / "files.conf.template"
# The cluster version whose schemas the built-in objects are validated against.
KUBERNETES_VERSION = "1.33.0"

ROLES = ("web", "api", "progress", "admin")
AUTOSCALED = ("web", "api", "progress")
# Kinds no schema is at hand for offline: each is checked by a test of its own below.
CUSTOM_KINDS = {
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("cert-manager.io/v1", "Issuer"),
}
# Variables a pod is given that are not the app's settings of .env.example: the pool's role,
# the replicas' URLs (for the database router), gunicorn's own, and the parts the database
# URLs are put together from.
NOT_IN_ENV_EXAMPLE = {
    "SERVICE_ROLE",
    "DATABASE_REPLICA_URLS",
    "GUNICORN_BIND",
    "GUNICORN_ACCESSLOG",
    "POD_IP",
    "DB_USER",
    "DB_PASSWORD",
}
SECRET_NAMES = re.compile(r"SECRET|PASSWORD|TOKEN|SIGNING_KEY|API_KEY", re.IGNORECASE)


def kubectl() -> str:
    found = shutil.which("kubectl")
    assert found, "kubectl is required (scripts/ensure-services.sh installs it)"
    return found


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """`kubectl kustomize` of each overlay (both at once: each takes a second or two)."""
    processes = {
        overlay: subprocess.Popen(
            [kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for overlay in OVERLAYS
    }
    objects = {}
    for overlay, process in processes.items():
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, f"{overlay}: {stderr}"
        objects[overlay] = [document for document in yaml.safe_load_all(stdout) if document]
    return objects


@pytest.fixture(scope="module")
def production(rendered) -> list[dict[str, Any]]:
    return rendered["production"]


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def workloads(objects: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (o for o in objects if o["kind"] in {"Deployment", "StatefulSet", "Job"})


def containers(pod_spec: dict[str, Any], *, init: bool = True) -> list[dict[str, Any]]:
    found = list(pod_spec["containers"])
    if init:
        found += pod_spec.get("initContainers", [])
    return found


def app_containers(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every container that runs the site's own image, with its workload's name."""
    for workload in workloads(objects):
        for container in containers(workload["spec"]["template"]["spec"]):
            if container["image"].split(":")[0].endswith("streamsite"):
                yield workload["metadata"]["name"], container


def env_example_names() -> set[str]:
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.add(match.group(1))
    return names


# --- Rendering and schemas ------------------------------------------------------------------


def test_both_overlays_render(rendered):
    for overlay, objects in rendered.items():
        kinds = {o["kind"] for o in objects}
        assert {"Deployment", "Service", "Ingress", "HorizontalPodAutoscaler"} <= kinds, overlay
        namespaced = [o for o in objects if o["kind"] != "Namespace"]
        assert {o["metadata"].get("namespace") for o in namespaced} == {
            {"dev": "streamsite-dev", "production": "streamsite"}[overlay]
        }


def test_built_in_objects_validate_against_the_kubernetes_schemas(rendered):
    import kubernetes_validate

    for overlay, objects in rendered.items():
        for document in objects:
            if (document["apiVersion"], document["kind"]) in CUSTOM_KINDS:
                continue
            try:
                kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(
                    f"{overlay}: {document['kind']}/{document['metadata']['name']}: {error}"
                )


def test_only_the_known_custom_resources_are_used(rendered):
    for objects in rendered.values():
        custom = {
            (o["apiVersion"], o["kind"])
            for o in objects
            if "." in o["apiVersion"].split("/")[0] and not o["apiVersion"].endswith(".k8s.io/v1")
        }
        assert custom <= CUSTOM_KINDS | {("autoscaling/v2", "HorizontalPodAutoscaler")}


# --- What every container must have -------------------------------------------------------------


def test_every_container_has_probes_requests_limits_and_runs_as_non_root(rendered):
    for overlay, objects in rendered.items():
        for workload in workloads(objects):
            name = f"{overlay}: {workload['kind']}/{workload['metadata']['name']}"
            pod = workload["spec"]["template"]["spec"]
            pod_security = pod.get("securityContext", {})
            assert pod.get("automountServiceAccountToken") is False, name
            for container in containers(pod):
                where = f"{name} container {container['name']}"
                if container in pod["containers"]:
                    assert "livenessProbe" in container, where
                    assert "readinessProbe" in container, where
                resources = container.get("resources", {})
                for kind in ("requests", "limits"):
                    assert set(resources.get(kind, {})) >= {"cpu", "memory"}, (where, kind)
                security = {**pod_security, **container.get("securityContext", {})}
                assert security.get("runAsNonRoot") is True, where
                assert security.get("runAsUser", 0) != 0, where
                assert security.get("allowPrivilegeEscalation") is False, where
                assert security.get("readOnlyRootFilesystem") is True, where
                assert security.get("capabilities", {}).get("drop") == ["ALL"], where
                assert not security.get("privileged"), where


def test_liveness_and_readiness_of_the_pools_are_the_health_endpoints(production):
    for role in ROLES:
        deployment = of_kind(production, "Deployment")[f"streamsite-{role}"]
        (gunicorn,) = deployment["spec"]["template"]["spec"]["containers"]
        assert gunicorn["livenessProbe"]["httpGet"]["path"] == "/api/health/live"
        assert gunicorn["readinessProbe"]["httpGet"]["path"] == "/api/health"
        # The probes' Host header must be one Django accepts (ALLOWED_HOSTS).
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert gunicorn[probe]["httpGet"]["httpHeaders"] == [
                {"name": "Host", "value": "localhost"}
            ]
        env = {e["name"]: e for e in gunicorn["env"]}
        assert env["SERVICE_ROLE"]["value"] == role
        assert env["ALLOWED_HOSTS"]["value"] == "$(ALLOWED_HOSTS),localhost,$(POD_IP)"


def test_read_only_containers_of_the_app_have_a_writable_tmp(production):
    for name, container in app_containers(production):
        if container["name"] == "static":
            continue
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, (name, container["name"])


# --- Pools: autoscaling, disruption budgets, spread, beat, migrations ---------------------------


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def test_every_role_pool_has_an_autoscaler_and_a_disruption_budget(rendered):
    for overlay, objects in rendered.items():
        deployments = of_kind(objects, "Deployment")
        autoscalers = of_kind(objects, "HorizontalPodAutoscaler")
        budgets = of_kind(objects, "PodDisruptionBudget")
        assert len(autoscalers) >= 3 and len(budgets) >= 3, overlay
        for role in ROLES:
            name = f"streamsite-{role}"
            labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
            targets = [a["spec"]["scaleTargetRef"] for a in autoscalers.values()]
            assert {"apiVersion": "apps/v1", "kind": "Deployment", "name": name} in targets
            assert any(selects(b["spec"]["selector"], labels) for b in budgets.values()), name
        for autoscaler in autoscalers.values():
            assert autoscaler["spec"]["minReplicas"] <= autoscaler["spec"]["maxReplicas"]


def test_autoscaled_deployments_leave_their_count_to_the_autoscaler(rendered):
    """A count in the manifest would be set back at every apply, shrinking a grown pool."""
    for overlay, objects in rendered.items():
        deployments = of_kind(objects, "Deployment")
        for autoscaler in of_kind(objects, "HorizontalPodAutoscaler").values():
            target = deployments[autoscaler["spec"]["scaleTargetRef"]["name"]]
            assert "replicas" not in target["spec"], (overlay, target["metadata"]["name"])


def test_the_service_monitors_token_is_a_secret_the_overlay_has(rendered):
    (monitor,) = of_kind(rendered["dev"], "ServiceMonitor").values()
    credentials = monitor["spec"]["endpoints"][0]["authorization"]["credentials"]
    secret = of_kind(rendered["dev"], "Secret")[credentials["name"]]
    assert credentials["key"] in secret["data"]


def test_production_pools_start_above_one_pod_and_spread_over_nodes_and_zones(production):
    autoscalers = of_kind(production, "HorizontalPodAutoscaler")
    for role in AUTOSCALED:
        assert autoscalers[f"streamsite-{role}"]["spec"]["minReplicas"] >= 2, role
    for name, deployment in of_kind(production, "Deployment").items():
        if name == "streamsite-beat":
            continue
        keys = {
            c["topologyKey"]
            for c in deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        }
        assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}, name


def test_beat_is_one_pod_never_two(rendered):
    for objects in rendered.values():
        beat = of_kind(objects, "Deployment")["streamsite-beat"]
        assert beat["spec"]["replicas"] == 1
        assert beat["spec"]["strategy"] == {"type": "Recreate"}
        targets = [
            a["spec"]["scaleTargetRef"]["name"]
            for a in of_kind(objects, "HorizontalPodAutoscaler").values()
        ]
        assert "streamsite-beat" not in targets


def test_every_pod_of_the_app_migrates_under_the_lock_before_it_starts(production):
    for name, deployment in of_kind(production, "Deployment").items():
        if name == "streamsite-files":
            continue
        pod = deployment["spec"]["template"]["spec"]
        (migrate,) = pod["initContainers"]
        assert migrate["command"] == ["python", "deploy/k8s/migrate.py"], name
        assert migrate["image"] == pod["containers"][0]["image"], name
        env = {e["name"]: e.get("value") for e in migrate["env"]}
        assert env["DATABASE_STATEMENT_TIMEOUT"] == "0"
    script = (K8S / "migrate.py").read_text()
    assert "pg_advisory_lock" in script and 'call_command("migrate"' in script


def test_the_migration_script_waits_for_the_lock_then_migrates(db):
    """The init container's script against this suite's database (already migrated): while
    another pod holds the lock it waits; once the lock is free it takes it, finds nothing to do
    and lets it go."""
    import os
    import time

    from django.db import connection

    settings = connection.settings_dict
    url = (
        f"postgres://{settings['USER']}:{settings['PASSWORD'] or ''}@{settings['HOST']}:"
        f"{settings['PORT'] or 5432}/{settings['NAME']}"
    )
    lock = migration_lock()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [lock])
        script = subprocess.Popen(
            [sys.executable, str(K8S / "migrate.py")],
            env={**os.environ, "DATABASE_URL": url, "DATABASE_REPLICA_URLS": ""},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd="/",
        )
        try:
            waiting = False
            for _ in range(100):
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    " AND objid = %s",
                    [lock],
                )
                if cursor.fetchone()[0]:
                    waiting = True
                    break
                time.sleep(0.1)
            assert waiting, "the script did not wait for the lock"
            assert script.poll() is None
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [lock])
        stdout, stderr = script.communicate(timeout=60)
        assert script.returncode == 0, stderr
        assert "No migrations to apply" in stdout
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s", [lock]
        )
        assert cursor.fetchone()[0] == 0


def migration_lock() -> int:
    match = re.search(
        r"^MIGRATION_LOCK = (0x[0-9A-Fa-f]+)$", (K8S / "migrate.py").read_text(), re.M
    )
    assert match
    return int(match.group(1), 16)


# --- Configuration and secrets ---------------------------------------------------------------


def test_settings_are_the_variables_of_env_example(rendered):
    known = env_example_names()
    for overlay, objects in rendered.items():
        (config,) = [o for o in objects if o["metadata"]["name"].startswith("streamsite-config")]
        assert set(config["data"]) <= known, (overlay, set(config["data"]) - known)
        for name, container in app_containers(objects):
            given = {e["name"] for e in container.get("env", [])}
            assert given <= known | NOT_IN_ENV_EXAMPLE, (overlay, name, given - known)
            sources = [next(iter(s.values()))["name"] for s in container.get("envFrom", [])]
            if sources:
                assert sources[0].startswith("streamsite-config-"), name
                assert re.fullmatch(r"streamsite-secrets(-\w+)?", sources[1]), name
        for secret in of_kind(objects, "Secret").values():
            assert set(secret["data"]) <= known, overlay


def test_no_secret_is_in_the_manifests(rendered):
    production = rendered["production"]
    # Production's secrets are made on the cluster (docs/kubernetes.md) or by the operators.
    assert not of_kind(production, "Secret")
    for overlay, objects in rendered.items():
        for config in of_kind(objects, "ConfigMap").values():
            leaked = {k for k in config["data"] if SECRET_NAMES.search(k)}
            assert not leaked, (overlay, leaked)
        for name, container in app_containers(objects):
            for variable in container.get("env", []):
                if SECRET_NAMES.search(variable["name"]) or "PASSWORD" in variable["name"]:
                    assert "valueFrom" in variable, (overlay, name, variable["name"])
                value = variable.get("value", "")
                # A password inside a URL comes only from the operator's secret.
                for userinfo in re.findall(r"://([^@/]*)@", value):
                    assert userinfo == "$(DB_USER):$(DB_PASSWORD)", (name, value)
    # The dev overlay's are values that protect nothing, and say so.
    import base64

    for secret in of_kind(rendered["dev"], "Secret").values():
        for key, encoded in secret["data"].items():
            assert base64.b64decode(encoded).decode().startswith(("dev-only", "devonly")), key


def test_database_urls_point_at_the_operators_primary_and_replicas(production):
    for name, container in app_containers(production):
        env = {e["name"]: e for e in container.get("env", [])}
        if "DATABASE_URL" not in env:
            continue
        assert "@streamsite-db-rw:5432/streamsite" in env["DATABASE_URL"]["value"], name
        if "DATABASE_REPLICA_URLS" in env:
            assert "@streamsite-db-ro:5432/streamsite" in env["DATABASE_REPLICA_URLS"]["value"]
        for part, key in (("DB_USER", "username"), ("DB_PASSWORD", "password")):
            reference = env[part]["valueFrom"]["secretKeyRef"]
            assert reference == {"name": "streamsite-db-app", "key": key}, name


# --- Custom resources, checked by structure ------------------------------------------------------


def test_postgresql_is_a_cloudnativepg_cluster_with_streaming_replicas(rendered):
    for overlay, objects in rendered.items():
        cluster = of_kind(objects, "Cluster")["streamsite-db"]
        assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
        spec = cluster["spec"]
        # A primary and at least one replica, so the -ro service has somewhere to send reads.
        assert spec["instances"] >= 2, overlay
        # The owner's secret is <cluster>-app: the name the pods read.
        assert spec["bootstrap"]["initdb"] == {"database": "streamsite", "owner": "streamsite"}
        assert re.fullmatch(r"\d+[GM]i", spec["storage"]["size"])
        assert set(spec["resources"]["requests"]) == set(spec["resources"]["limits"])
    assert of_kind(rendered["production"], "Cluster")["streamsite-db"]["spec"]["instances"] >= 3


def test_service_monitor_scrapes_every_pool_with_the_metrics_token(rendered):
    for objects in rendered.values():
        (monitor,) = of_kind(objects, "ServiceMonitor").values()
        services = of_kind(objects, "Service")
        selector = monitor["spec"]["selector"]
        (expression,) = selector["matchExpressions"]
        assert expression["operator"] == "In" and set(expression["values"]) == set(ROLES)
        for role in ROLES:
            service = services[f"streamsite-{role}"]
            assert selects(selector, service["metadata"]["labels"])
            assert service["metadata"]["labels"]["app.kubernetes.io/component"] == role
            assert "http" in {p["name"] for p in service["spec"]["ports"]}
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
        credentials = endpoint["authorization"]["credentials"]
        assert credentials == {"name": "streamsite-secrets", "key": "METRICS_TOKEN"}
        assert {"targetLabel": "job", "replacement": "streamsite"} in endpoint["relabelings"]


def write_prometheus_rule() -> None:
    """deploy/prometheus/alerts.yml as a PrometheusRule (kustomize cannot read a file outside
    deploy/k8s, and a ConfigMap cannot become a PrometheusRule): its groups, word for word."""
    groups = yaml.safe_load(ALERTS.read_text())["groups"]

    class Dumper(yaml.SafeDumper):
        pass

    def strings(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
        style = "|" if "\n" in text else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)

    Dumper.add_representer(str, strings)
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "streamsite", "labels": {"app.kubernetes.io/name": "streamsite"}},
        "spec": {"groups": groups},
    }
    header = (
        "# deploy/prometheus/alerts.yml as a PrometheusRule, written by\n"
        "# `python tests/deploy/test_k8s.py` (the test beside it fails when the two differ):\n"
        "# edit alerts.yml, then run it.\n"
    )
    body = yaml.dump(rule, Dumper=Dumper, sort_keys=False, width=100, allow_unicode=True)
    PROMETHEUS_RULE.write_text(header + body)


def test_prometheus_rule_holds_the_alert_rules_of_alerts_yml(rendered):
    for objects in rendered.values():
        (rule,) = of_kind(objects, "PrometheusRule").values()
        groups = rule["spec"]["groups"]
        assert groups and all(r["alert"] and r["expr"] for g in groups for r in g["rules"])
    shipped = yaml.safe_load(PROMETHEUS_RULE.read_text())["spec"]["groups"]
    assert shipped == yaml.safe_load(ALERTS.read_text())["groups"], (
        "deploy/k8s/base/prometheusrule.yaml differs from deploy/prometheus/alerts.yml: "
        "run `python tests/deploy/test_k8s.py`"
    )


def test_tls_comes_from_cert_manager_in_production(production):
    (issuer,) = of_kind(production, "Issuer").values()
    assert issuer["apiVersion"] == "cert-manager.io/v1"
    (solver,) = issuer["spec"]["acme"]["solvers"]
    assert solver["http01"]["ingress"]["ingressClassName"] == "nginx"
    assert issuer["spec"]["acme"]["privateKeySecretRef"]["name"]
    ingresses = of_kind(production, "Ingress")
    annotated = [
        i for i in ingresses.values() if "cert-manager.io/issuer" in i["metadata"]["annotations"]
    ]
    # One Certificate for the host (two Ingresses asking for one secret would fight over it).
    assert len(annotated) == 1
    assert (
        annotated[0]["metadata"]["annotations"]["cert-manager.io/issuer"]
        == (issuer["metadata"]["name"])
    )
    for ingress in ingresses.values():
        assert ingress["spec"]["tls"][0]["secretName"] == "streamsite-tls"
        hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
        assert hosts == set(ingress["spec"]["tls"][0]["hosts"])


# --- The Ingress routes as the gateway does ----------------------------------------------------


def gateway_routes() -> dict[str, str]:
    """Prefix location → where the gateway sends it: a pool, or "files" for what nginx serves."""
    routes = {}
    text = GATEWAY.read_text()
    for match in re.finditer(r"\n    location (= )?(/[^\s{]*) \{(.*?)\n    \}", text, re.S):
        exact, path, body = match.groups()
        pool = re.search(r"proxy_pass http://streamsite_(\w+);", body)
        if path.startswith("/_") or path.startswith("/.well-known"):
            continue  # internal, and the plain-HTTP server's challenges
        routes[path] = pool.group(1) if pool else "files"
    return routes


def ingress_routes(objects: list[dict[str, Any]]) -> dict[str, str]:
    routes = {}
    for ingress in of_kind(objects, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                service = path["backend"]["service"]["name"].removeprefix("streamsite-")
                routes[path["path"]] = service
    return routes


def route(routes: dict[str, str], path: str, *, elementwise: bool) -> str:
    """The longest matching prefix: nginx's prefix locations by characters, an Ingress's
    pathType Prefix by path elements."""

    def matches(prefix: str) -> bool:
        if not elementwise or prefix.endswith("/"):
            return path.startswith(prefix)
        return path == prefix or path.startswith(prefix + "/")

    return routes[max((p for p in routes if matches(p)), key=len)]


def test_ingress_routes_are_the_gateways(rendered):
    gateway = gateway_routes()
    assert gateway["/api/streaming/progress"] == "progress"
    for objects in rendered.values():
        assert ingress_routes(objects) == gateway


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/movies/fight-club",
        "/watch/550",
        "/accounts/signin",
        "/api/movies",
        "/api/health",
        "/api/health/live",
        "/api/streaming/sources/550",
        "/api/streaming/progress/550",
        "/api/streaming/sessions",
        "/admin/",
        "/admin/catalog/movie/1/change/",
        "/static/css/site.css",
        "/media/posters/1.jpg",
        "/hls/sig/1700000000/7/720p/seg_00001.ts",
        "/metrics",
    ],
)
def test_a_request_reaches_the_same_pool_through_the_ingress_as_through_the_gateway(
    production, path
):
    gateway = gateway_routes()
    ingress = ingress_routes(production)
    assert route(ingress, path, elementwise=True) == route(gateway, path, elementwise=False)


def test_ingress_body_sizes_and_timeouts_are_the_gateways(production):
    text = GATEWAY.read_text()
    ingresses = of_kind(production, "Ingress")
    config = next(o for o in production if o["metadata"]["name"].startswith("streamsite-config"))[
        "data"
    ]
    default_body = re.search(r"\n    client_max_body_size (\w+);", text).group(1)
    assert (
        ingresses["streamsite"]["metadata"]["annotations"][
            "nginx.ingress.kubernetes.io/proxy-body-size"
        ]
        == default_body
    )
    admin = ingresses["streamsite-admin"]["metadata"]["annotations"]
    size = admin["nginx.ingress.kubernetes.io/proxy-body-size"]
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    assert int(size[:-1]) * units[size[-1]] == int(config["VIDEO_UPLOAD_MAX_BYTES"])
    assert admin["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "300"
    progress = ingresses["streamsite-progress"]["metadata"]["annotations"]
    assert progress["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "15"


# --- nginx for the files -----------------------------------------------------------------------


def location_blocks(text: str) -> dict[str, str]:
    """Each server-level location (4 spaces in) with its body, as written."""
    blocks = {}
    for match in re.finditer(r"\n(    location [^\n]*\{\n.*?\n    \})", text, re.S):
        block = match.group(1)
        blocks[block.splitlines()[0].strip()] = block
    return blocks


def test_files_nginx_serves_the_gateways_file_locations_word_for_word():
    gateway = location_blocks(GATEWAY.read_text())
    files = location_blocks(FILES_CONF.read_text())
    shared = [
        header
        for header in gateway
        if not re.search(r"proxy_pass|acme", gateway[header])
        and header != "location = /metrics {"
        and not header.startswith("location @")
    ]
    assert len(shared) >= 5  # /static/, /media/, the signed /hls/ one, /hls/, /_hls/
    for header in shared:
        assert files.get(header) == gateway[header], header


def test_files_nginx_configuration_passes_nginx_t(tmp_path):
    from tests.deploy.edge import NGINX, image_nginx_conf, render

    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    values = {
        "STREAMSITE_STATIC_ROOT": str(tmp_path / "static"),
        "STREAMSITE_MEDIA_ROOT": str(tmp_path / "media"),
        "STREAMSITE_HLS_ROOT": str(tmp_path / "hls"),
        "HLS_SIGNING_KEY": "devonlynotsecret",
        "NGINX_ACCESS_LOG": str(tmp_path / "access.log"),
    }
    (conf_d / "default.conf").write_text(render(FILES_CONF.read_text(), values))
    (tmp_path / "nginx.conf").write_text(image_nginx_conf(tmp_path))
    result = subprocess.run(
        [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-t"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_files_nginx_serves_a_signed_segment_and_refuses_a_forged_one(tmp_path, settings):
    """The files nginx's configuration run by a real nginx, as the image renders it: Django's
    signed link gets the segment, a forged one a 403, /metrics a 404."""
    import time
    import urllib.error
    import urllib.request

    from tests.deploy.edge import NGINX, free_port, image_nginx_conf, render
    from videos import signing

    settings.HLS_SIGNING_KEY = "k8sfilesnginxsharesthiskey"
    segment = tmp_path / "videos" / "hls" / "7" / "720p" / "seg_00001.ts"
    segment.parent.mkdir(parents=True)
    segment.write_bytes(b"\x47" + bytes(187))
    values = {
        "STREAMSITE_STATIC_ROOT": str(tmp_path / "static"),
        "STREAMSITE_MEDIA_ROOT": str(tmp_path / "media"),
        "STREAMSITE_HLS_ROOT": str(tmp_path / "videos" / "hls"),
        "HLS_SIGNING_KEY": settings.HLS_SIGNING_KEY,
        "NGINX_ACCESS_LOG": str(tmp_path / "access.log"),
    }
    port = free_port()
    conf = render(FILES_CONF.read_text(), values).replace("listen 8080", f"listen 127.0.0.1:{port}")
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "default.conf").write_text(conf)
    (tmp_path / "nginx.conf").write_text(image_nginx_conf(tmp_path))
    command = [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    process = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"

    def status(path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(base + path, timeout=5) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, b""

    try:
        for _ in range(50):
            try:
                if status("/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        signed = signing.signed_url(7, "720p/seg_00001.ts")
        assert status(signed) == (200, segment.read_bytes())
        forged = re.sub(r"^/hls/[^/]+/", "/hls/forged/", signed)
        assert status(forged)[0] == 403
        assert status("/metrics")[0] == 404
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_files_nginx_is_the_unprivileged_image_reading_the_shared_volumes(production):
    files = of_kind(production, "Deployment")["streamsite-files"]
    pod = files["spec"]["template"]["spec"]
    (nginx,) = pod["containers"]
    assert nginx["image"].startswith("nginxinc/nginx-unprivileged:")
    mounts = {m["mountPath"]: m for m in nginx["volumeMounts"]}
    env = {e["name"]: e for e in nginx["env"]}
    # The renditions are VIDEO_ROOT/hls, where the worker writes them.
    assert env["STREAMSITE_HLS_ROOT"]["value"] == "/srv/videos/hls"
    assert mounts["/srv/videos"] == {"name": "videos", "mountPath": "/srv/videos", "readOnly": True}
    assert mounts["/srv/media"]["readOnly"]
    assert env["HLS_SIGNING_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "streamsite-secrets"
    (static,) = pod["initContainers"]
    assert (
        static["image"]
        == of_kind(production, "Deployment")["streamsite-web"]["spec"]["template"]["spec"][
            "containers"
        ][0]["image"]
    )


def test_shared_volumes_are_read_write_many(production):
    claims = of_kind(production, "PersistentVolumeClaim")
    for name in ("streamsite-media", "streamsite-videos"):
        assert claims[name]["spec"]["accessModes"] == ["ReadWriteMany"], name


def test_redis_keeps_its_data_in_an_append_only_file_on_a_volume(production):
    redis = of_kind(production, "StatefulSet")["streamsite-redis"]
    (container,) = redis["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]


if __name__ == "__main__":
    write_prometheus_rule()
    print(f"wrote {PROMETHEUS_RULE.relative_to(ROOT)}", file=sys.stderr)
