"""``manage.py cdn_purge --everything`` (after a deploy: static files keep their names), or
``--url <URL>`` / ``--tag <tag>``: queued as any purge, then drained here until done."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cdn import services


class Command(BaseCommand):
    help = "Purge URLs, cache tags or everything from the CDN, and wait until it is done."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--everything", action="store_true")
        parser.add_argument("--url", action="append", default=[], dest="urls")
        parser.add_argument("--tag", action="append", default=[], dest="tags")
        parser.add_argument(
            "--timeout", type=float, default=600.0, help="Seconds to wait for the queue to empty"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not services.enabled():
            raise CommandError("No CDN is configured (CDN_PROVIDER=none)")
        if not (options["everything"] or options["urls"] or options["tags"]):
            raise CommandError("Name what to purge: --everything, --url or --tag")
        services.queue(
            urls=options["urls"],
            tags=options["tags"],
            everything=options["everything"],
            reason="manage.py cdn_purge",
            delay=0.0,
        )
        deadline = time.monotonic() + options["timeout"]
        while True:
            result = services.drain()
            if not result.remaining:
                break
            if time.monotonic() > deadline:
                raise CommandError(f"{result.remaining} purges still waiting; the beat goes on")
            time.sleep(min(result.wait or 1.0, 10.0))
        self.stdout.write(self.style.SUCCESS("Purged."))
