"""Full-text search on PostgreSQL: a trigger keeps Movie.search_vector current, a GIN index
serves ``MovieQuerySet.search()``.

A trigger rather than a GeneratedField keeps one schema for both databases (SQLite has no
tsvector) and catches every write path: the admin, imports, bulk updates and raw SQL alike.
Weights rank title matches over original-title matches over overview matches.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION catalog_movie_search_vector_update() RETURNS trigger AS $$
BEGIN
    NEW.search_vector :=
        setweight(to_tsvector('english', coalesce(NEW.title, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(NEW.original_title, '')), 'B') ||
        setweight(to_tsvector('english', coalesce(NEW.overview, '')), 'C');
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER catalog_movie_search_vector_trigger
    BEFORE INSERT OR UPDATE ON catalog_movie
    FOR EACH ROW EXECUTE FUNCTION catalog_movie_search_vector_update();

-- Backfill rows that existed before the trigger.
UPDATE catalog_movie SET title = title;

CREATE INDEX movie_search_vector_gin ON catalog_movie USING gin (search_vector);
"""

BACKWARD = """
DROP INDEX IF EXISTS movie_search_vector_gin;
DROP TRIGGER IF EXISTS catalog_movie_search_vector_trigger ON catalog_movie;
DROP FUNCTION IF EXISTS catalog_movie_search_vector_update();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
