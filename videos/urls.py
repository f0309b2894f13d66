from django.urls import path

from videos import views

urlpatterns = [
    path(
        "hls/<str:signature>/<int:expires>/<int:asset_id>/<path:filename>",
        views.serve_hls,
        name="hls",
    ),
]
