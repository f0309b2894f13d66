"""The CDN in the admin: the purge log, what is waiting, and "Purge everything".

"Purge from CDN" on selected movies and genres is an action of their own admins
(``catalog.edge``), which call :func:`request_purge` here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from cdn import services
from cdn.models import CdnPurge, QueuedPurge


def request_purge(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    *,
    tags: Iterable[str] = (),
    urls: Iterable[str] = (),
    everything: bool = False,
    what: str,
) -> None:
    """Queue an editor's purge (drained within seconds) and say so."""
    if not services.enabled():
        modeladmin.message_user(
            request, "No CDN is configured (CDN_PROVIDER=none): nothing to purge.", messages.WARNING
        )
        return
    services.purge_on_commit(
        tags=tags,
        urls=urls,
        everything=everything,
        reason=f"{what}, from the admin",
        requested_by=request.user,
    )
    modeladmin.message_user(
        request,
        f"Purge of {what} queued for {settings.CDN_PROVIDER}; the purge log shows its answer.",
        messages.SUCCESS,
    )


@admin.register(CdnPurge)
class CdnPurgeAdmin(admin.ModelAdmin):
    list_display = (
        "sent_at",
        "status",
        "kind",
        "count",
        "summary",
        "reason",
        "requested_by",
        "http_status",
        "answer",
        "queue_length",
    )
    list_filter = ("status", "kind", "provider")
    date_hierarchy = "sent_at"
    list_select_related = ("requested_by",)
    readonly_fields = (
        "sent_at",
        "provider",
        "kind",
        "count",
        "status",
        "reason",
        "requested_by",
        "http_status",
        "answer",
        "retry_after",
        "queue_length",
        "item_list",
    )
    exclude = ("items",)
    change_list_template = "admin/cdn/cdnpurge/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Named")
    def summary(self, purge: CdnPurge) -> str:
        items = purge.items or []
        shown = ", ".join(str(item) for item in items[:3])
        return shown + (f" … (+{len(items) - 3})" if len(items) > 3 else "")

    @admin.display(description="URLs or tags")
    def item_list(self, purge: CdnPurge) -> str:
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((i,) for i in purge.items))
        )

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        context = {
            "cdn_provider": settings.CDN_PROVIDER,
            "cdn_waiting": services.pending(),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "purge-everything/",
                self.admin_site.admin_view(self.purge_everything_view),
                name="cdn_purge_everything",
            ),
            *super().get_urls(),
        ]

    def purge_everything_view(self, request: HttpRequest) -> HttpResponse:
        """A confirmation page; only its POST queues the purge."""
        if not request.user.has_perm("cdn.add_queuedpurge"):
            raise PermissionDenied
        if request.method == "POST":
            request_purge(self, request, everything=True, what="everything")
            return HttpResponseRedirect(reverse("admin:cdn_cdnpurge_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Purge everything from the CDN?",
            "opts": self.model._meta,
            "cdn_provider": settings.CDN_PROVIDER,
            "cdn_enabled": services.enabled(),
        }
        return TemplateResponse(request, "admin/cdn/purge_everything.html", context)


@admin.register(QueuedPurge)
class QueuedPurgeAdmin(admin.ModelAdmin):
    """What waits for the provider: due time, attempts so far, why it was queued."""

    list_display = ("kind", "value", "due_at", "attempts", "reason", "requested_by", "queued_at")
    list_filter = ("kind",)
    search_fields = ("value", "reason")
    list_select_related = ("requested_by",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
