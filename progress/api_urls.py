from django.conf import settings
from django.urls import path

from progress import api

urlpatterns = [
    path("streaming/sessions", api.SessionCreateView.as_view(), name="viewing-session-create"),
    path(
        "streaming/sessions/<uuid:session_id>/qoe",
        api.QualityReportView.as_view(),
        name="viewing-session-qoe",
    ),
    path(
        "streaming/progress/<int:movie_id>",
        api.MovieProgressView.as_view(),
        name="movie-progress",
    ),
    path("progress", api.ContinueWatchingView.as_view(), name="continue-watching"),
]

if settings.BENCH_ENDPOINTS:  # bench/progress.py's floor: never in production
    urlpatterns.append(path("bench/heartbeat/<int:movie_id>", api.HeartbeatFloorView.as_view()))
