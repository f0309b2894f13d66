"""The Celery application and the one beat schedule of the project.

Every periodic task is declared here, with the reason for its interval, so an operator can see
the whole background load in one place.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "streamsite.settings")

app = Celery("streamsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {}
