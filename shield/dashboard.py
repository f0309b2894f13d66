"""The shield's tile on the admin dashboard (streamsite.dashboard): addresses blocked now."""

from __future__ import annotations

from django.db.models import Count

from shield.models import Block
from streamsite import dashboard


def active_blocks() -> dashboard.Reading:
    reasons = dict(Block.objects.active().order_by().values_list("reason").annotate(n=Count("id")))
    count = sum(reasons.values())
    if not count:
        return dashboard.Reading("0", "No address is blocked", "ok")
    top = max(reasons, key=reasons.get)
    label = dict(Block._meta.get_field("reason").choices).get(top, top)
    return dashboard.Reading(f"{count:,}", f"Most for: {str(label).lower()}", "warning")


dashboard.register(
    "active-blocks", label="Active blocks", read=active_blocks, order=50,
    link="admin:shield_block_changelist", permission="shield.view_block",
)  # fmt: skip
