from django.urls import path

from catalog import api, api_my_list

urlpatterns = [
    path("movies", api.MovieListView.as_view(), name="movie-list"),
    path("movies/search", api.MovieSearchView.as_view(), name="movie-search"),
    path("movies/suggest", api.MovieSuggestView.as_view(), name="movie-suggest"),
    path("movies/<int:movie_id>", api.MovieDetailView.as_view(), name="movie-detail"),
    path("movies/<int:movie_id>/similar", api.SimilarMoviesView.as_view(), name="movie-similar"),
    path("genres", api.GenreListView.as_view(), name="genre-list"),
    path("me/list", api_my_list.MyListView.as_view(), name="me-list"),
    path("me/list/<int:movie_id>", api_my_list.MyListEntryView.as_view(), name="me-list-entry"),
]
