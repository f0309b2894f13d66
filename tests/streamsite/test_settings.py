"""Settings come from the environment; bad values stop the process with a clear message."""

from __future__ import annotations

import os
import subprocess

import pytest
from django.core.exceptions import ImproperlyConfigured

from streamsite import env
from tests.child_python import ChildPython


@pytest.mark.parametrize(
    ("helper", "value", "message"),
    [
        (lambda: env.env_int("STREAMSITE_X", 1), "ten", "STREAMSITE_X must be an integer"),
        (lambda: env.env_int("STREAMSITE_X", 1, minimum=2), "1", "STREAMSITE_X must be at least"),
        (lambda: env.env_float("STREAMSITE_X", 1.0), "fast", "STREAMSITE_X must be a number"),
        (lambda: env.env_float("STREAMSITE_X", 1.0), "nan", "STREAMSITE_X must be a finite"),
        (lambda: env.env_bool("STREAMSITE_X"), "perhaps", "STREAMSITE_X must be a boolean"),
        (lambda: env.env_networks("STREAMSITE_X"), "10.0.0.0/33", "STREAMSITE_X has an invalid"),
        (lambda: env.env_database("STREAMSITE_X", ""), "mysql://x/y", "STREAMSITE_X must be a"),
        (lambda: env.env_redis_url("STREAMSITE_X"), "localhost:6379", "STREAMSITE_X must start"),
    ],
)
def test_bad_values_raise_improperly_configured_naming_the_variable(
    monkeypatch, helper, value, message
):
    monkeypatch.setenv("STREAMSITE_X", value)

    with pytest.raises(ImproperlyConfigured, match=message):
        helper()


def test_helpers_parse_good_values(monkeypatch):
    monkeypatch.setenv("STREAMSITE_X", " 42 ")
    assert env.env_int("STREAMSITE_X", 1) == 42
    monkeypatch.setenv("STREAMSITE_X", "Yes")
    assert env.env_bool("STREAMSITE_X") is True
    monkeypatch.setenv("STREAMSITE_X", "a, b,,c")
    assert env.env_list("STREAMSITE_X") == ["a", "b", "c"]
    monkeypatch.delenv("STREAMSITE_X")
    assert env.env_float("STREAMSITE_X", 2.5) == 2.5


def run_check(child_python: ChildPython, **overrides: str) -> subprocess.CompletedProcess[str]:
    """Load the settings in a fresh interpreter, as `manage.py` does at start-up."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER"}
    }
    environment.update(overrides)
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], "
        "'pool': s.DATABASES['default'].get('OPTIONS', {}).get('pool'), "
        "'cache': s.CACHES['default']['BACKEND'], 'eager': s.CELERY_TASK_ALWAYS_EAGER}))"
    )
    return child_python.run(
        "-c", code, env={**environment, "DJANGO_SETTINGS_MODULE": "streamsite.settings"}, timeout=60
    )


def test_nothing_set_means_sqlite_local_memory_cache_and_eager_tasks(child_python):
    result = run_check(child_python)

    assert result.returncode == 0, result.stderr
    assert 'sqlite3", "pool": null' in result.stdout
    assert 'LocMemCache"' in result.stdout
    assert '"eager": true' in result.stdout


def test_database_url_selects_postgres_with_a_native_pool_sized_from_env(child_python):
    result = run_check(
        child_python,
        DATABASE_URL="postgres://app@db.example:5432/streamsite",
        DATABASE_POOL_MIN_SIZE="3",
        DATABASE_POOL_MAX_SIZE="7",
        DATABASE_POOL_TIMEOUT="2.5",
        REDIS_URL="redis://cache.example:6379/0",
    )

    assert result.returncode == 0, result.stderr
    assert "postgresql" in result.stdout
    assert '"pool": {"min_size": 3, "max_size": 7, "timeout": 2.5}' in result.stdout
    assert 'RedisCache"' in result.stdout
    assert '"eager": false' in result.stdout


def test_bad_setting_stops_start_up_with_the_variable_named(child_python):
    result = run_check(
        child_python, DATABASE_URL="postgres://app@db/x", DATABASE_POOL_MAX_SIZE="lots"
    )

    assert result.returncode != 0
    assert "DATABASE_POOL_MAX_SIZE must be an integer, got 'lots'" in result.stderr


def test_production_requires_a_secret_key(child_python):
    result = run_check(child_python, STREAMSITE_ENV="production", SECRET_KEY="")

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize(
    "weak",
    [
        "short-but-secret",
        "a" * 60,  # long, but only one character
        "django-insecure-" + "x1y2z3w4v5" * 6,  # Django's own "generate me a real one" prefix
    ],
    ids=["short", "repetitive", "insecure-prefix"],
)
def test_production_refuses_a_weak_secret_key(child_python, weak):
    result = run_check(
        child_python,
        STREAMSITE_ENV="production",
        SECRET_KEY=weak,
        ALLOWED_HOSTS="streamsite.example",
        HLS_SIGNING_KEY="h" * 10 + "0123456789" * 4,
    )

    assert result.returncode != 0
    assert "SECRET_KEY is too weak" in result.stderr
    assert weak not in result.stderr  # the message never repeats the key
