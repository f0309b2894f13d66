"""deploy/docker-compose.yml holds together: every service, volume, file, port and health check it
names exists and agrees with the nginx template and the Prometheus configuration it mounts,
which render and pass their tools' checks. tests/topology starts the same file as processes."""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from streamsite import roles
from tests.deploy import compose
from tests.deploy.edge import (
    NGINX,
    POOL_SERVER,
    TEMPLATE,
    image_nginx_conf,
    placeholders,
    render,
)

VARIABLES = {"DOMAIN": "stream.example", "SECRET_KEY": "s" * 60, "HLS_SIGNING_KEY": "k" * 32}


@pytest.fixture(scope="module")
def spec() -> dict:
    return compose.load(VARIABLES)


@pytest.fixture(scope="module")
def services(spec) -> dict:
    return spec["services"]


def test_compose_refuses_to_start_without_the_secrets_it_cannot_default():
    for missing in ("SECRET_KEY", "HLS_SIGNING_KEY"):
        with pytest.raises(AssertionError, match=f"without {missing}"):
            compose.load({k: v for k, v in VARIABLES.items() if k != missing})


def test_every_dependency_names_a_service_that_can_meet_its_condition(services):
    for name, service in services.items():
        for target, condition in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            dependency = services[target]
            if condition["condition"] == "service_healthy":
                assert compose.healthcheck(dependency), f"{name} waits for {target}'s health"
            if condition["condition"] == "service_completed_successfully":
                assert dependency.get("restart") == "no", f"{target} is no one-shot job"
            assert not dependency.get("profiles"), f"{name} depends on {target}, never started"


def test_every_volume_is_declared_and_used_and_every_mounted_file_exists(spec, services):
    used = set()
    for name, service in services.items():
        for mount in compose.mounts(service):
            if mount.is_bind:
                assert (compose.DEPLOY / mount.source).exists(), f"{name} mounts {mount.source}"
            else:
                assert mount.source in spec["volumes"], f"{name}: undeclared {mount.source}"
                used.add(mount.source)
    assert used == set(spec["volumes"]), "declared volumes no service mounts"


def test_the_image_builds_from_files_that_exist_and_runs_what_exists(services):
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = (compose.DEPLOY / build["context"]).resolve()
            assert (context / build["dockerfile"]) == compose.DOCKERFILE, name
            assert service["image"] == "streamsite:latest", name
            command = " ".join(compose.command(service))
            for path in re.findall(r"(?:deploy/\S+|manage\.py)", command):
                assert (compose.ROOT / path).exists(), f"{name} runs missing {path}"
    gunicorn_config = compose.image_command()[compose.image_command().index("--config") + 1]
    assert (compose.ROOT / gunicorn_config).exists()


def test_one_beat_one_worker_and_a_pool_for_every_role(services, spec):
    commands = {name: compose.command(s) for name, s in compose.started_by_up(spec).items()}
    assert [n for n, c in commands.items() if c[:4] == ["celery", "-A", "streamsite", "beat"]] == [
        "beat"
    ]
    assert [n for n, c in commands.items() if "worker" in c] == ["worker"]
    pools = set(compose.instances(spec).values())
    assert pools == set(settings.SERVICE_ROLES) - {roles.ALL}
    for name in compose.instances(spec):
        assert services[name]["environment"]["STREAMSITE_ENV"] == "production", name


def test_the_gateway_names_every_instance_once_in_the_pool_of_its_role(services, spec):
    nginx = services["nginx"]["environment"]
    pool_servers = {key: value for key, value in nginx.items() if POOL_SERVER.fullmatch(key)}
    instances = compose.instances(spec)

    assert sorted(value.split(":")[0] for value in pool_servers.values()) == sorted(instances)
    for key, value in pool_servers.items():
        name, port = value.split(":")
        pool = POOL_SERVER.fullmatch(key).group(1).lower()  # type: ignore[union-attr]
        assert instances[name] == pool, f"{key} names {name}, a {instances[name]} instance"
        bind = services[name]["environment"]["GUNICORN_BIND"]
        assert bind.endswith(f":{port}"), f"{name} listens on {bind}, nginx calls {port}"
        assert services["nginx"]["depends_on"][name] == {"condition": "service_healthy"}


def test_nginx_gets_every_placeholder_of_the_template_and_replaces_the_stock_server(services):
    nginx = services["nginx"]
    environment = nginx["environment"]
    template_mounts = [
        m for m in compose.mounts(nginx) if m.target.startswith("/etc/nginx/templates/")
    ]
    text = TEMPLATE.read_text()
    needed = placeholders(text)
    envsubst = re.compile(environment["NGINX_ENVSUBST_FILTER"])

    assert [(compose.DEPLOY / m.source).resolve() for m in template_mounts] == [TEMPLATE]
    # The image renders <name>.template to conf.d/<name>: default.conf replaces its own server.
    assert template_mounts[0].target == "/etc/nginx/templates/default.conf.template"
    assert needed <= set(environment), f"unset: {needed - set(environment)}"
    assert all(envsubst.search(name) for name in needed), "the image would leave some unset"
    # envsubst fills $NAME as well as ${NAME}: no nginx variable may share a name with them.
    bare = set(re.findall(r"\$(\w+)", text)) & {n for n in environment if envsubst.search(n)}
    assert not bare, f"envsubst would replace nginx variables {bare}"


def test_ports_agree_between_the_file_the_template_and_the_health_checks(services):
    nginx = services["nginx"]
    environment = nginx["environment"]
    published = {(p.host, p.container) for p in compose.published(nginx)}

    assert published == {
        (80, int(environment["NGINX_HTTP_LISTEN"])),
        (443, int(environment["NGINX_HTTPS_LISTEN"])),
    }
    internal = int(environment["NGINX_INTERNAL_LISTEN"])
    assert internal not in {container for _, container in published}  # stays in the network
    health = urllib.parse.urlsplit(compose.healthcheck_url(nginx))
    assert (health.port, health.path) == (internal, "/api/health")
    for name in ("prometheus", "grafana"):
        assert all(p.host_ip == "127.0.0.1" for p in compose.published(services[name])), name


def test_every_instance_checks_its_liveness_on_the_port_it_binds(services, spec):
    for name in compose.instances(spec):
        service = services[name]
        port = int(service["environment"]["GUNICORN_BIND"].rsplit(":", 1)[1])
        health = urllib.parse.urlsplit(compose.healthcheck_url(service))

        assert (health.hostname, health.port, health.path) == (
            "127.0.0.1",
            port,
            "/api/health/live",
        )
    for name in ("postgres", "redis"):
        assert compose.healthcheck(services[name]), name


def test_the_volumes_nginx_serves_are_the_ones_the_app_writes(services):
    app = services["admin-1"]
    nginx = services["nginx"]
    app_mounts = {m.target: m.source for m in compose.mounts(app)}
    nginx_mounts = {m.target: m for m in compose.mounts(nginx)}
    environment, app_env = nginx["environment"], app["environment"]

    def nginx_volume(path: str) -> str:
        mount = nginx_mounts[path]
        assert mount.read_only, f"nginx may write {path}"
        return mount.source

    assert nginx_volume(environment["STREAMSITE_STATIC_ROOT"]) == app_mounts[app_env["STATIC_ROOT"]]
    assert nginx_volume(environment["STREAMSITE_MEDIA_ROOT"]) == app_mounts[app_env["MEDIA_ROOT"]]
    assert (
        nginx_volume(environment["STREAMSITE_HLS_ROOT"])
        == app_mounts[app_env["VIDEO_ROOT"] + "/hls"]
    )
    # The certificate tls-init writes, and certbot replaces, is the one nginx reads.
    tls = services["tls-init"]
    tls_volume = {m.target: m.source for m in compose.mounts(tls)}[tls["environment"]["TLS_DIR"]]
    certificate_dir = str(Path(environment["NGINX_TLS_CERTIFICATE"]).parent)
    assert nginx_volume(certificate_dir) == tls_volume
    certbot = {m.target: m.source for m in compose.mounts(services["certbot"])}
    assert certbot["/etc/letsencrypt"] == tls_volume
    assert certbot["/var/www/acme"] == nginx_volume(environment["NGINX_ACME_ROOT"])


def test_redis_keeps_an_append_only_file_on_a_volume(services):
    redis = services["redis"]
    command = compose.command(redis)

    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"
    assert [m.target for m in compose.mounts(redis)] == ["/data"]  # the image's working dir


def test_the_template_renders_with_composes_values_and_nginx_accepts_it(services, tmp_path):
    environment = dict(services["nginx"]["environment"])
    # What the container has and this machine does not: the instances' names, its paths.
    for key, value in environment.items():
        if POOL_SERVER.fullmatch(key):
            environment[key] = "127.0.0.1:" + value.split(":")[1]
        elif value.startswith("/"):
            environment[key] = str(tmp_path / value.lstrip("/"))
            Path(environment[key]).parent.mkdir(parents=True, exist_ok=True)
        elif key.endswith("_LISTEN"):
            environment[key] = f"127.0.0.1:{value}"
    certificate_dir = Path(environment["NGINX_TLS_CERTIFICATE"]).parent
    subprocess.run(
        ["sh", str(compose.DEPLOY / "tls" / "self-signed.sh")],
        env={"PATH": "/usr/bin:/bin", "TLS_DIR": str(certificate_dir)},
        check=True,
        capture_output=True,
    )
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "default.conf").write_text(render(TEMPLATE.read_text(), environment))
    (tmp_path / "nginx.conf").write_text(image_nginx_conf(tmp_path))

    checked = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
    )

    assert checked.returncode == 0, checked.stderr


def test_prometheus_scrapes_every_instance_by_a_name_django_accepts(services, spec, tmp_path):
    config = yaml.safe_load((compose.DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        target: group["labels"]["role"]
        for job in config["scrape_configs"]
        if job["job_name"] == "streamsite"  # the gunicorn instances; "celery" is the workers'
        for group in job["static_configs"]
        for target in group["targets"]
    }
    instances = compose.instances(spec)

    assert {t.split(":")[0]: role for t, role in targets.items()} == instances
    for target in targets:
        name, port = target.split(":")
        environment = services[name]["environment"]
        assert name in environment["ALLOWED_HOSTS"].split(","), f"Django refuses Host {name}"
        assert environment["GUNICORN_BIND"].endswith(f":{port}")
    # The file as Prometheus reads it in the container, and rendered with addresses.
    rendered = tmp_path / "prometheus.yml"
    text = (compose.DEPLOY / "prometheus" / "prometheus.yml").read_text()
    rendered.write_text(re.sub(r"\b([a-z]+-\d+):", r"127.0.0.1:", text))
    shutil.copy(compose.DEPLOY / "prometheus" / "alerts.yml", tmp_path)  # its rule_files
    promtool = shutil.which("promtool")
    assert promtool, "promtool is required (apt-get install prometheus)"
    checked = subprocess.run([promtool, "check", "config", str(rendered)], capture_output=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
