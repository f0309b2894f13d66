from django.urls import path

from cdn import views

app_name = "cdn"

urlpatterns = [
    path("cdn/image/<int:width>/<path:name>", views.resized_image, name="resized-image"),
]
