"""Every custom Prometheus metric of the project, defined once, named ``streamsite_<thing>``.

Other modules import the metric objects from here; none defines its own.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# --- Outbound HTTP and circuit breakers (streamsite/resilience.py) ---

CIRCUIT_STATE = Gauge(
    "streamsite_circuit_state",
    "Circuit breaker state as this process last saw it: 0 closed, 1 half-open, 2 open.",
    ["name"],
)
OUTBOUND_REQUESTS = Counter(
    "streamsite_outbound_requests_total",
    "Outbound HTTP attempts by service and outcome (success, client_error, rate_limited, "
    "server_error, timeout, connection_error, error, circuit_open).",
    ["service", "outcome"],
)
OUTBOUND_REQUEST_SECONDS = Histogram(
    "streamsite_outbound_request_seconds",
    "Duration of one outbound HTTP attempt.",
    ["service"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
