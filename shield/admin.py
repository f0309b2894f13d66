"""Editors see automatic blocks with their reasons and lift the mistaken ones."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from shield import services, store
from shield.models import Block


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("lifted", "Lifted"), ("expired", "Expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Block]) -> QuerySet[Block]:
        if self.value() == "active":
            return queryset.active()  # type: ignore[attr-defined]
        if self.value() == "lifted":
            return queryset.filter(lifted_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(lifted_at__isnull=True, expires_at__lte=timezone.now())
        return queryset


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ("ip", "reason", "offence", "created_at", "expires_at", "status", "lifted_by")
    list_filter = (StatusFilter, "reason")
    search_fields = ("ip",)
    date_hierarchy = "created_at"
    list_select_related = ("lifted_by",)
    readonly_fields = [field.name for field in Block._meta.fields]
    actions = ("lift",)

    @admin.display(description="status")
    def status(self, block: Block) -> str:
        if block.lifted_at:
            return "lifted"
        return "active" if block.is_active() else "expired"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # blocks come from detection; the audit trail is not edited by hand

    @admin.action(description="Lift selected blocks now", permissions=["change"])
    def lift(self, request: HttpRequest, queryset: QuerySet[Block]) -> None:
        try:
            lifted = services.lift_blocks(
                block_ids=list(queryset.values_list("pk", flat=True)), lifted_by=request.user
            )
        except store.RedisError as exc:
            self.message_user(
                request, f"Redis is unavailable, nothing lifted: {exc}", messages.ERROR
            )
            return
        self.message_user(request, f"Lifted {lifted} active block(s).", messages.SUCCESS)
