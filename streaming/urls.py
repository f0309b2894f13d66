from django.urls import path

from streaming import views

app_name = "streaming"

urlpatterns = [
    path("watch/<slug:slug>/", views.watch, name="watch"),
]
