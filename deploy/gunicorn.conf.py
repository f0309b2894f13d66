"""gunicorn settings shared by production (deploy/) and the benchmarks (bench/)."""

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gunicorn import util as gunicorn_util

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# With threads > 1 gunicorn runs gthread workers, whose main loop tells the arbiter it is alive
# every second whatever its threads are doing: this is then how long a worker may stay silent
# (hung) before it is replaced, not a limit on one request. That is what lets an editor's video
# upload (up to VIDEO_UPLOAD_MAX_BYTES, 8 GiB) pass: nginx buffers it whole, then hands it over
# at local speed (a minute or so for 8 GiB, while Django streams it to disk), and the admin
# probes and stores it before answering; nginx's /admin/ timeouts cover those minutes. With
# GUNICORN_THREADS=1 (sync workers) it would be a per-request limit and cut such uploads off.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# Idle keep-alive connections from nginx are held this long (gthread workers; sync workers close
# after each answer). Longer than nginx's upstream keepalive_timeout (60 s, deploy/nginx): the
# proxy closes an idle connection first, so it never sends a request down one gunicorn is
# closing, which for a POST would be an error nginx may not retry.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
# The request id Django answered with (the edge's, or its own without nginx) in every line, so
# one grep finds a request in nginx's log, here and in Django's (streamsite/request_id.py).
access_log_format = (
    '%({x-forwarded-for}i)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s "%(a)s"'
)

# --- Requests gunicorn refuses itself ---------------------------------------------------------
# A request line or headers over gunicorn's limits (414, 431), or bytes that are no HTTP (400),
# never reach Django: gunicorn answers them with an HTML page of its own. Its workers write that
# page through gunicorn.util.write_error, so replacing the function here (the arbiter reads this
# file before forking workers) gives them the JSON error shape every API answer has. The path
# is not known at this stage; no browser sends such requests.


def _json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    code = reason.lower().replace(" ", "_").replace("-", "_") or "bad_request"
    detail = f"{reason}: {mesg}"[:300] if mesg else f"{reason}."
    body = json.dumps({"error": code, "detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


gunicorn_util.write_error = _json_error

# --- Prometheus multiprocess mode -----------------------------------------------------------
# Every worker writes its figures to files in this directory and /metrics adds them up, so a
# scrape sees the whole instance rather than whichever worker answered it. It has to be in the
# environment before a worker imports prometheus_client: this file is read by the arbiter before
# any worker exists. Left unset, each arbiter gets a private directory, removed at exit.
_PRIVATE_METRICS_DIR = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _PRIVATE_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="streamsite-prometheus-")


def on_starting(server: object) -> None:
    """Files of a previous run would be added to this run's figures: start from none."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for leftover in directory.glob("*.db"):
        leftover.unlink()


def child_exit(server: object, worker: Any) -> None:
    """A dead worker's live gauges (in-flight requests) must stop counting; counters stay."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: object) -> None:
    if _PRIVATE_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
