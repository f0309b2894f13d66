from django.urls import path

from streaming import api

urlpatterns = [
    path(
        "streaming/sources/<int:movie_id>",
        api.SourceListView.as_view(),
        name="streaming-sources",
    ),
    path("streaming/embed/<int:movie_id>", api.EmbedView.as_view(), name="streaming-embed"),
    path(
        "streaming/providers/<slug:slug>/failures",
        api.FailureReportView.as_view(),
        name="streaming-provider-failures",
    ),
]
