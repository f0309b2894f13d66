"""URL map. Pages live at the root, the REST API under /api/ (paths without trailing slash).

A process serves the part of the site its ``SERVICE_ROLE`` names (``streamsite.roles``): the
other routes stay known for building links (a page links to the API docs, the watch page to the
progress API) but match no request.
"""

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponseBase
from django.urls import include, path, re_path
from django.views.static import serve

from streamsite import api, bench_views, errors, health, openapi, roles
from streamsite.monitoring import metrics_view

api_patterns = [
    # First: the player's heartbeats outnumber every other request, and Django tries patterns
    # in order.
    path("", include("progress.api_urls")),
    path("", include("catalog.api_urls")),
    path("", include("streaming.api_urls")),
    path("schema", openapi.SchemaView.as_view(), name="schema"),
    path("docs", openapi.DocsView.as_view(url_name="schema"), name="docs"),
    path("health", health.health, name="health"),
    path("health/live", health.live, name="health-live"),
    # Last: the API answers its own unknown paths, in its own shape.
    re_path(r"^", api.UnknownEndpointView.as_view(), name="api-unknown"),
]

urlpatterns = [
    # Prometheus scrapes here; allowed networks or the bearer token only (streamsite/monitoring).
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("", include("streamsite.favicon")),
    path("accounts/", include("accounts.urls")),
    path("api/", include(api_patterns)),
    # Signed HLS files, where no nginx serves them (HLS_SERVED_BY_DJANGO).
    path("", include("videos.urls")),
    # Uploaded artwork resized for the self-hosted edge (CDN_PROVIDER=nginx).
    path("", include("cdn.urls")),
    path("", include("catalog.urls")),
    # The watch page (/watch/<slug>/) belongs to streaming, the top layer.
    path("", include("streaming.urls")),
]


def serve_media(request: HttpRequest, name: str) -> HttpResponseBase:
    """Uploaded files where no nginx is in front, from MEDIA_ROOT as it is at the request."""
    return serve(request, name, document_root=settings.MEDIA_ROOT)


if settings.MEDIA_SERVED_BY_DJANGO:
    urlpatterns.insert(0, re_path(rf"^{settings.MEDIA_URL.strip('/')}/(?P<name>.+)$", serve_media))

if settings.BENCH_ENDPOINTS:
    urlpatterns.insert(0, path("bench/bare", bench_views.bare, name="bench-bare"))

urlpatterns = roles.mount(urlpatterns, settings.SERVICE_ROLE)

handler404 = errors.page_not_found
handler500 = errors.server_error
