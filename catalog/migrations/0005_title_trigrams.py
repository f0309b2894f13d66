"""Typo-tolerant search on PostgreSQL: the pg_trgm extension and a trigram index on titles, which
serves ``MovieQuerySet.similar_titles()`` and ``suggestions()`` (the ``%>`` word-similarity
operator). SQLite has neither and compares titles in Python instead.

pg_trgm ships with PostgreSQL and is a trusted extension (13+): the database owner may create
it without being a superuser.
"""

from django.db import migrations

FORWARD = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS movie_title_trigram ON catalog_movie USING gin (title gin_trgm_ops);
"""

BACKWARD = """
DROP INDEX IF EXISTS movie_title_trigram;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_credits_my_list")]

    operations = [migrations.RunPython(forward, backward)]
