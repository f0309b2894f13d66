"""Provider admin: configure players, see which are healthy, probe or reset them by hand."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.timesince import timesince

from streaming import services
from streaming.models import Provider
from streaming.providers.base import BREAKERS_OFF, circuit_status
from streamsite import resilience

CIRCUIT_COLOURS = {
    resilience.CLOSED: "#1a7f37",
    resilience.HALF_OPEN: "#9a6700",
    resilience.OPEN: "#cf222e",
    BREAKERS_OFF: "#57606a",
}


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    # Fits a 1366 px screen: the host rather than the whole base URL, the last probe's verdict
    # and age (its message in the tooltip and on the provider's page).
    list_display = (
        "name",
        "kind",
        "priority",
        "enabled",
        "host",
        "circuit",
        "last_probe_brief",
    )
    list_display_links = ("name",)
    list_editable = ("priority", "enabled")
    list_filter = ("enabled", "kind")
    search_fields = ("name", "slug", "base_url")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("circuit", "last_probe_summary", "created_at", "updated_at")
    actions = ("probe_now", "reset_circuits")
    fieldsets = (
        (
            None,
            {
                "fields": ("name", "slug", "kind", "enabled", "priority", "notes"),
                "description": "Every field here can be changed: the seeded fallbacks are "
                "examples of the two common embed shapes; point them at providers you may "
                "use, then enable them. Changes reach viewers at once.",
            },
        ),
        (
            "Player URL",
            {
                "fields": (
                    "base_url",
                    "movie_path_template",
                    "start_param",
                    "color_param",
                    "extra_params",
                ),
                "description": "The player of a movie is base URL + path template, with "
                "{tmdb_id} replaced, plus the extra parameters, the colour and the start "
                "position (in seconds) when a viewer resumes.",
            },
        ),
        (
            "On the watch page",
            {
                "fields": ("ready_message", "player_timeout_seconds"),
                "description": "A player counts as playing only once it proves it: its ready "
                "message, or for a provider that posts none, its page load (the watch page then "
                "keeps a “Not playing?” control on screen). Without proof in time, the page "
                "moves to the next server and asks the server to probe this provider.",
            },
        ),
        (
            "Health",
            {
                "fields": (
                    "health_path",
                    "timeout_seconds",
                    "circuit",
                    "last_probe_summary",
                    "created_at",
                    "updated_at",
                ),
            },
        ),
    )

    @admin.display(description="Circuit")
    def circuit(self, provider: Provider) -> str:
        if not provider.pk:
            return "-"
        status = circuit_status(provider.breaker_name)
        label = status.circuit.replace("_", "-")
        if status.retry_after is not None:
            label += f" (probe in {status.retry_after:.0f}s)"
        return format_html(
            '<strong style="color:{}">{}</strong>', CIRCUIT_COLOURS[status.circuit], label
        )

    @admin.display(description="Last probe", ordering="last_probe_at")
    def last_probe_summary(self, provider: Provider) -> str:
        if provider.last_probe_at is None:
            return "never"
        verdict = "healthy" if provider.last_probe_ok else "failing"
        return format_html(
            '<span style="color:{}">{}</span>: {} <small>({} ago)</small>',
            "#1a7f37" if provider.last_probe_ok else "#cf222e",
            verdict,
            provider.last_probe or "-",
            timesince(provider.last_probe_at),
        )

    @admin.display(description="Host", ordering="base_url")
    def host(self, provider: Provider) -> str:
        return urlsplit(provider.base_url).netloc or provider.base_url

    @admin.display(description="Last probe", ordering="last_probe_at")
    def last_probe_brief(self, provider: Provider) -> str:
        if provider.last_probe_at is None:
            return "never"
        verdict = "healthy" if provider.last_probe_ok else "failing"
        return format_html(
            '<span style="color:{}" title="{}">{}</span> <small>{} ago</small>',
            "#1a7f37" if provider.last_probe_ok else "#cf222e",
            provider.last_probe or "",
            verdict,
            timesince(provider.last_probe_at, depth=1),
        )

    @admin.action(description="Probe selected providers now", permissions=["change"])
    def probe_now(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        services.request_probes(provider_ids=ids)
        self.message_user(
            request,
            f"Probing {len(ids)} provider(s); reload in a few seconds for the result.",
            messages.SUCCESS,
        )

    @admin.action(description="Close the circuit of selected providers", permissions=["change"])
    def reset_circuits(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        providers = list(queryset)
        for provider in providers:
            services.reset_circuit(provider=provider)
        self.message_user(request, f"Closed {len(providers)} circuit(s).", messages.SUCCESS)
