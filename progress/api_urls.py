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
