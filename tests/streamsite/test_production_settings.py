"""STREAMSITE_ENV=production: Django's deployment checks pass and HTTPS is enforced."""

from __future__ import annotations

import json
import os
import secrets

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

HOST = "streamsite.example"


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SECURE_", "DEBUG", "ALLOWED_HOSTS"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "streamsite.settings",
            "STREAMSITE_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "HLS_SIGNING_KEY": secrets.token_urlsafe(32),
            "ALLOWED_HOSTS": HOST,
            "LOG_LEVEL": "ERROR",
        }
    )
    env.update(overrides)
    return env


def test_deploy_checks_pass_without_a_single_warning(child_python):
    result = child_python.run(
        "manage.py", "check", "--deploy", "--fail-level", "WARNING", env=production_env()
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_requires_the_allowed_hosts(child_python):
    result = child_python.run("manage.py", "check", env=production_env(ALLOWED_HOSTS=""))

    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set" in result.stderr


def test_production_requires_the_key_nginx_checks_video_links_with(child_python):
    result = child_python.run("manage.py", "check", env=production_env(HLS_SIGNING_KEY=""))

    assert result.returncode != 0
    assert "HLS_SIGNING_KEY must be set" in result.stderr


# Requests through the whole middleware stack of a production process, as nginx would send
# them: plain HTTP, or HTTPS terminated at nginx and announced by X-Forwarded-Proto.
CHILD = """
import json, sys, django
django.setup()
from django.test import Client
client = Client()
host = {"HTTP_HOST": sys.argv[1]}
http = client.get("/", **host)
https = client.get("/api/health/live", HTTP_X_FORWARDED_PROTO="https", **host)
probe = client.get("/api/health/live", **host)
print(json.dumps({
    "http": [http.status_code, http.get("Location")],
    "hsts": https.get("Strict-Transport-Security"),
    "probe": probe.status_code,
}))
"""


def test_plain_http_is_redirected_and_https_gets_hsts_but_health_probes_are_answered(child_python):
    result = child_python.run("-c", CHILD, HOST, env=production_env())

    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["http"] == [301, f"https://{HOST}/"]
    assert seen["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert seen["probe"] == 200


SCRAPE = """
import json, sys, django
django.setup()
from django.test import Client
scrape = Client().get("/metrics", HTTP_HOST=sys.argv[1])  # plain HTTP, from loopback
print(json.dumps([scrape.status_code, scrape.get("Location")]))
"""


def test_prometheus_scrapes_metrics_over_plain_http_inside_the_network(child_python):
    result = child_python.run("-c", SCRAPE, HOST, env=production_env())

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [200, None]


SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "debug": s.DEBUG,
    "cookies": [s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY],
    "proxy": list(s.SECURE_PROXY_SSL_HEADER),
}))
"""


def test_cookies_are_secure_and_the_proxy_header_is_trusted(child_python):
    result = child_python.run("-c", SETTINGS, env=production_env())

    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {
        "debug": False,
        "cookies": [True, True, True],
        "proxy": ["HTTP_X_FORWARDED_PROTO", "https"],
    }


@pytest.mark.django_db
def test_the_admin_is_for_staff_only():
    users = get_user_model().objects
    viewer, editor = Client(), Client()
    viewer.force_login(users.create_user("viewer"))
    editor.force_login(users.create_user("editor", is_staff=True))

    assert Client().get("/admin/").status_code == 302
    refused = viewer.get("/admin/")
    assert refused.status_code == 302
    assert refused["Location"].startswith("/admin/login/")
    assert editor.get("/admin/").status_code == 200
