"""The streaming app's tile on the admin dashboard (streamsite.dashboard): providers whose
circuit is open, so viewers are not being sent to them."""

from __future__ import annotations

from streaming.models import Provider
from streaming.providers.base import circuit_status
from streamsite import dashboard, resilience


def open_circuits() -> dashboard.Reading:
    providers = list(Provider.objects.filter(enabled=True).order_by("priority", "name"))
    if not resilience.breakers_enabled():
        return dashboard.Reading("—", "Circuit breakers are off", "idle")
    if not providers:
        return dashboard.Reading("0", "No provider is enabled", "idle")
    opened = [
        p.name for p in providers if circuit_status(p.breaker_name).circuit == resilience.OPEN
    ]
    if not opened:
        return dashboard.Reading("0", f"All {len(providers)} enabled providers answer", "ok")
    state = "alert" if len(opened) == len(providers) else "warning"
    return dashboard.Reading(str(len(opened)), f"of {len(providers)}: {', '.join(opened)}", state)


dashboard.register(
    "open-circuits", label="Open circuits", read=open_circuits, order=40,
    link="admin:streaming_provider_changelist", permission="streaming.view_provider",
)  # fmt: skip
