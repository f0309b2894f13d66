"""The schema a new image needs, applied before any of its pods serves.

Every pod of the site runs this as its init container (deploy/k8s/base). The first one to start
takes a PostgreSQL advisory lock and migrates; the others wait for the lock and find nothing
left to do, so two pods of a rollout never migrate at once and no pod of the new image serves
before its migrations are in. Old pods keep serving meanwhile: migrations must suit the code of
the release before as well (docs/kubernetes.md, "Upgrades without downtime").
"""

import os
import sys
from pathlib import Path

# Run as `python deploy/k8s/migrate.py` from the image's working directory (the repository).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "streamsite.settings")

# One number for every StreamSite pod of a database: "StrM" in ASCII.
MIGRATION_LOCK = 0x5374724D


def main() -> None:
    import django

    django.setup()

    from django.core.management import call_command
    from django.db import connection

    # Session-level: held on this connection, which migrate uses too, until released or until
    # the pod dies (PostgreSQL drops the lock with the connection, so a killed pod blocks none).
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
        try:
            call_command("migrate", interactive=False, verbosity=1)
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])


if __name__ == "__main__":
    main()
