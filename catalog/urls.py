from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("", views.home, name="home"),
    path("browse/", views.browse, name="browse"),
    path("search/", views.search, name="search"),
    path("movies/<slug:slug>/", views.detail, name="detail"),
    path("my-list/", views.my_list, name="my-list"),
    path("my-list/<int:movie_id>/", views.change_my_list, name="my-list-change"),
    path("artwork/<slug:slug>/poster.svg", views.poster, name="poster"),
    path("artwork/<slug:slug>/backdrop.svg", views.backdrop, name="backdrop"),
]
