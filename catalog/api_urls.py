from django.urls import path

from catalog import api

urlpatterns = [
    path("movies", api.MovieListView.as_view(), name="movie-list"),
    path("movies/search", api.MovieSearchView.as_view(), name="movie-search"),
    path("movies/<int:movie_id>", api.MovieDetailView.as_view(), name="movie-detail"),
    path("genres", api.GenreListView.as_view(), name="genre-list"),
]
