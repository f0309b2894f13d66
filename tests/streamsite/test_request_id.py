"""X-Request-ID: the edge's id (or one of our own) on the answer and in every log line."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest
from django.test import Client

from streamsite import request_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the configured console handler (settings.LOGGING) writes, as it writes it."""
    handler = next(
        h for h in logging.getLogger().handlers if h.get_name() == "console"
    )  # the root logger's, shared with the "django" logger
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


def test_the_edges_id_is_kept_and_returned():
    response = Client().get(
        "/api/health/live", HTTP_X_REQUEST_ID="5f0c7a3e9d2b4c1a8e6f0b2d4c6a8e0f"
    )

    assert response["X-Request-ID"] == "5f0c7a3e9d2b4c1a8e6f0b2d4c6a8e0f"


def test_without_an_edge_django_makes_an_id_per_request():
    client = Client()

    first = client.get("/api/health/live")["X-Request-ID"]
    second = client.get("/api/health/live")["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


@pytest.mark.parametrize(
    "sent",
    ["id\nFAKE 500 log line", "x" * 129, "", "<script>"],
    ids=["newline", "too-long", "empty", "markup"],
)
def test_an_id_that_does_not_look_like_one_is_replaced(sent):
    response = Client().get("/api/health/live", HTTP_X_REQUEST_ID=sent)

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_every_log_line_of_a_request_names_it_even_those_django_writes_after_the_middleware(
    console,
):
    logging.getLogger("streamsite").warning("before any request")

    Client().get("/api/does-not-exist", HTTP_X_REQUEST_ID="edge-made-id-1")
    logging.getLogger("streamsite").warning("after the request")

    lines = console.getvalue().splitlines()
    not_found = [line for line in lines if "Not Found: /api/does-not-exist" in line]
    assert not_found and all("request_id=edge-made-id-1 " in line for line in not_found)
    assert "request_id=- before any request" in lines[0]
    assert "request_id=- after the request" in lines[-1]


def test_log_lines_written_outside_requests_carry_a_placeholder():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "beat tick", None, None)

    request_id.RequestIdFilter().filter(record)

    assert record.request_id == request_id.NO_REQUEST
