"""Seed VidKing as the primary provider and one example of each other common embed shape.

The two fallbacks are placeholders on reserved example domains, left disabled: an editor points
them at providers the site may use, then enables them. Rows an editor already created with the
same slug are left alone, and reversing removes only rows this migration would have created.
"""

from django.db import migrations

PROVIDERS = [
    {
        "slug": "vidking",
        "name": "VidKing",
        "kind": "vidking",
        "base_url": "https://www.vidking.net",
        "movie_path_template": "/embed/movie/{tmdb_id}",
        "start_param": "progress",
        "color_param": "color",
        "extra_params": {"color": "e50914", "autoPlay": "true"},
        "priority": 10,
        "enabled": True,
        "timeout_seconds": 5.0,
        "health_path": "/",
        "notes": "Primary player. Reports playback progress to the page by postMessage.",
    },
    {
        "slug": "fallback-embed",
        "name": "Fallback embed (/embed/movie)",
        "kind": "embed",
        "base_url": "https://embed.example.com",
        "movie_path_template": "/embed/movie/{tmdb_id}",
        "start_param": "",
        "color_param": "",
        "extra_params": {},
        "priority": 20,
        "enabled": False,
        "timeout_seconds": 5.0,
        "health_path": "/",
        "notes": "Example of the /embed/movie/{tmdb_id} shape many embed players share. "
        "Set the base URL of a provider you may use, then enable it.",
    },
    {
        "slug": "fallback-player",
        "name": "Fallback player (/movie, startAt)",
        "kind": "embed",
        "base_url": "https://player.example.org",
        "movie_path_template": "/movie/{tmdb_id}",
        "start_param": "startAt",
        "color_param": "",
        "extra_params": {},
        "priority": 30,
        "enabled": False,
        "timeout_seconds": 5.0,
        "health_path": "/",
        "notes": "Example of the /movie/{tmdb_id}?startAt=<seconds> shape. "
        "Set the base URL of a provider you may use, then enable it.",
    },
]


def seed(apps, schema_editor):
    Provider = apps.get_model("streaming", "Provider")
    for fields in PROVIDERS:
        Provider.objects.get_or_create(slug=fields["slug"], defaults=fields)


def unseed(apps, schema_editor):
    Provider = apps.get_model("streaming", "Provider")
    Provider.objects.filter(slug__in=[fields["slug"] for fields in PROVIDERS]).delete()


class Migration(migrations.Migration):
    dependencies = [("streaming", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
