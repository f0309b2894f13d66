"""StreamSite's admin site: its own header and title, room for the change lists (no navigation
sidebar squeezing them at 1366 px), and the dashboard on the index page.

``AdminConfig`` (in INSTALLED_APPS in place of ``django.contrib.admin``) makes this the default
site, so every ``admin.register`` and ``admin.site`` in the apps is this site.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig
from django.http import HttpRequest, JsonResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path

from streamsite import dashboard


class StreamSiteAdminSite(admin.AdminSite):
    site_header = "StreamSite"
    site_title = "StreamSite admin"
    index_title = "Dashboard"
    # The sidebar repeats the index beside every page and costs a change list ~360 px: the
    # movie list's columns did not fit a 1366 px screen with it.
    enable_nav_sidebar = False
    index_template = "admin/streamsite_index.html"

    def get_urls(self) -> list[URLResolver | URLPattern]:
        live = path("dashboard.json", self.admin_view(self.dashboard_json), name="dashboard")
        return [live, *super().get_urls()]

    def dashboard_json(self, request: HttpRequest) -> JsonResponse:
        # admin_view() already marks it never cached, as every admin page.
        return JsonResponse({"tiles": dashboard.readings(request.user)})

    def index(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> TemplateResponse:
        context = {
            "dashboard_tiles": dashboard.readings(request.user),
            "dashboard_reports": dashboard.reports(request.user),
            **(extra_context or {}),
        }
        return super().index(request, context)

    def get_app_list(
        self, request: HttpRequest, app_label: str | None = None
    ) -> list[dict[str, Any]]:
        """Each app's models, and its reports (pages that are no model's list) beside them."""
        apps = super().get_app_list(request, app_label)
        for app in apps:
            for report in dashboard.reports(request.user, app["app_label"]):
                app["models"].append(
                    {
                        "name": report["label"],
                        "object_name": report["key"],
                        "admin_url": report["url"],
                        "add_url": None,
                        "view_only": True,
                        "perms": {"view": True},
                    }
                )
        return apps


class AdminConfig(DjangoAdminConfig):
    default_site = "streamsite.admin_site.StreamSiteAdminSite"
