"""Admin for watch progress and viewing sessions, and the editors' statistics page."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone

from progress import statistics
from progress.models import ViewingSession, WatchProgress


@admin.register(WatchProgress)
class WatchProgressAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "movie",
        "position_display",
        "percent_display",
        "completed",
        "updated_at",
    )
    list_filter = ("completed",)
    list_select_related = ("user", "movie")
    search_fields = ("user__username", "movie__title")
    raw_id_fields = ("user", "movie")
    readonly_fields = ("client_ts", "updated_at")
    date_hierarchy = "updated_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # progress comes from players; editors may correct or delete rows

    @admin.display(description="position")
    def position_display(self, obj: WatchProgress) -> str:
        minutes, seconds = divmod(int(obj.position), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}:{minutes:02d}:{seconds:02d}"

    @admin.display(description="watched")
    def percent_display(self, obj: WatchProgress) -> str:
        return f"{obj.percent():.0f} %"


@admin.register(ViewingSession)
class ViewingSessionAdmin(admin.ModelAdmin):
    list_display = ("started_at", "user", "movie", "device", "resumed_from", "last_seen_at")
    list_select_related = ("user", "movie")
    search_fields = ("user__username", "movie__title", "device")
    raw_id_fields = ("user", "movie")
    date_hierarchy = "started_at"
    change_list_template = "progress/admin/viewingsession_change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # sessions start when someone presses play, not in the admin

    def get_urls(self) -> list[URLPattern]:
        statistics_url = path(
            "statistics/",
            self.admin_site.admin_view(self.statistics_view),
            name="progress_statistics",
        )
        return [statistics_url, *super().get_urls()]

    def statistics_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        now = timezone.now()
        report = statistics.build_report(now=now)
        quality = statistics.build_quality_report(now=now)
        quality_bars, quality_legend = statistics.rung_bars(quality.sources[:10])
        context = {
            **self.admin_site.each_context(request),
            "title": "Viewing statistics",
            "opts": self.model._meta,
            "report": report,
            "bars": statistics.view_bars(report.movies[:10]),
            "chart_width": statistics.CHART_WIDTH,
            "chart_height": max(1, min(10, len(report.movies))) * statistics.ROW_HEIGHT,
            "quality": quality,
            "quality_bars": quality_bars,
            "quality_legend": quality_legend,
            "quality_chart_height": max(1, len(quality_bars)) * statistics.ROW_HEIGHT,
        }
        return TemplateResponse(request, "progress/admin/statistics.html", context)
