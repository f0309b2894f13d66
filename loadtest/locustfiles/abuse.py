"""A small share of abusive clients the shield must stop without harming anyone else.

``Scanner`` probes paths that do not exist (the shield's missing-paths signal); ``Flooder``
asks for uncacheable pages as fast as it can (the request-rate signal). Both go on after they
are blocked, as they do in the wild. A refusal (403 blocked, 429 limited, 404 not found) is
what they should get and is not counted as a failure; a server error or a dropped connection
is.
"""

from __future__ import annotations

import itertools
import random

from locust import task

from loadtest.locustfiles.common import Client, mix_weight

PROBES = (
    "/wp-login.php",
    "/.env",
    "/.git/config",
    "/phpmyadmin/",
    "/admin.php",
    "/xmlrpc.php",
    "/config.json",
    "/backup.sql",
    "/server-status",
    "/cgi-bin/test.cgi",
    "/.aws/credentials",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/wp-content/plugins/",
    "/api/v1/users",
    "/actuator/env",
    "/.DS_Store",
    "/web.config",
    "/solr/admin/",
    "/owa/",
    "/boaform/admin/formLogin",
)
PREFIXES = ("", "/old", "/backup", "/wordpress", "/blog", "/test", "/dev", "/new", "/site")
EXPECTED = {403, 404, 429}


class Abuser(Client):
    abstract = True

    def probe(self, path: str, name: str) -> None:
        with self.client.get(
            path, name=name, context=self.context(), allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code in EXPECTED or response.status_code < 400:
                response.success()
            else:
                response.failure(f"status {response.status_code}")


class Scanner(Abuser):
    journey = "scanner"
    weight = mix_weight("scanner")

    def wait_time(self) -> float:
        return random.uniform(0.1, 0.3)

    @task
    def scan(self) -> None:
        # Each known path under a few usual prefixes: many distinct missing paths.
        prefix = random.choice(PREFIXES)
        self.probe(f"{prefix}{random.choice(PROBES)}", "scan [missing path]")


class Flooder(Abuser):
    journey = "flooder"
    weight = mix_weight("flooder")
    counter = itertools.count()

    def wait_time(self) -> float:
        return 0.02

    @task
    def flood(self) -> None:
        # A new query string each time: the micro-cache cannot absorb it.
        self.probe(f"/search/?q=flood{next(self.counter)}", "flood /search/?q=[unique]")
