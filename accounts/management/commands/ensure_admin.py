from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Create a superuser with a random password, printed once, unless one already exists. "
        "There is no default password."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--site-url", default="http://127.0.0.1:8000", help="Where the site is served."
        )

    def handle(self, *args: Any, username: str, site_url: str, **options: Any) -> None:
        users = get_user_model().objects
        if users.filter(is_superuser=True).exists():
            self.stdout.write(
                "An admin account exists already (reset it: manage.py changepassword)."
            )
            return
        password = secrets.token_urlsafe(12)
        users.create_superuser(username=username, email="", password=password)
        banner = "=" * 64
        self.stdout.write(
            self.style.SUCCESS(
                f"{banner}\nAdmin account created: {site_url.rstrip('/')}/admin/\n"
                f"  username: {username}\n  password: {password}\n"
                f"This password is shown only once.\n{banner}"
            )
        )
