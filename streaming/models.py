"""Streaming providers: the embed players a movie can be watched through, configured as data.

Adding a provider is an admin task, not a code change: a row names its adapter (``kind``), where
its player lives (``base_url`` + ``movie_path_template``) and which query parameters carry the
start time and the accent colour.
"""

from __future__ import annotations

import re
import string
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.db.models import Q

# Query parameter names as providers use them: camelCase, snake_case, dashes, dots.
PARAM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$")
TEMPLATE_FIELDS = frozenset({"tmdb_id"})
# The name of a player's ready message: the "type" of its postMessage object, or the message.
READY_MESSAGE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
# Probe bookkeeping; saves touching only these must not invalidate cached sources.
PROBE_FIELDS = frozenset({"last_probe_at", "last_probe_ok", "last_probe_latency_ms", "last_probe"})
MAX_TIMEOUT_SECONDS = 60.0


def validate_base_url(value: str) -> None:
    URLValidator(schemes=["http", "https"])(value)
    parts = urlsplit(value)
    if parts.query or parts.fragment:
        raise ValidationError("Give the base URL without a query string or #fragment.")


def validate_movie_path_template(value: str) -> None:
    if not value.startswith("/"):
        raise ValidationError("The path must start with “/”, e.g. /embed/movie/{tmdb_id}.")
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        raise ValidationError(f"Unbalanced braces in the path template ({exc}).") from None
    if "tmdb_id" not in fields:
        raise ValidationError("The path template must contain {tmdb_id}.")
    if unknown := fields - TEMPLATE_FIELDS:
        names = ", ".join("{" + name + "}" for name in sorted(unknown))
        raise ValidationError(f"Unknown placeholder {names}: only {{tmdb_id}} is available.")


def validate_param_name(value: str) -> None:
    if value and not PARAM_NAME.match(value):
        raise ValidationError(
            "A query parameter name: a letter, then letters, digits, “_”, “-” or “.” "
            "(at most 32 characters)."
        )


def validate_extra_params(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError('Extra parameters must be a JSON object, e.g. {"autoPlay": "true"}.')
    for name, param in value.items():
        validate_param_name(name)
        if not isinstance(param, str):
            raise ValidationError(
                f'The value of “{name}” must be a string (write "{param}" in quotes).'
            )


def validate_ready_message(value: str) -> None:
    if value and not READY_MESSAGE.match(value):
        raise ValidationError(
            "A message name: letters, digits, “_”, “-”, “.” or “:” (at most 64 characters)."
        )


def validate_health_path(value: str) -> None:
    if not value.startswith("/"):
        raise ValidationError("The health path must start with “/”.")


class ProviderQuerySet(models.QuerySet["Provider"]):
    def enabled(self) -> ProviderQuerySet:
        return self.filter(enabled=True)

    def by_priority(self) -> ProviderQuerySet:
        return self.order_by("priority", "id")


class Provider(models.Model):
    class Kind(models.TextChoices):
        VIDKING = "vidking", "VidKing embed"
        EMBED = "embed", "Embed page from a URL template"

    name = models.CharField(max_length=64, unique=True)
    slug = models.SlugField(
        max_length=32,
        unique=True,
        help_text="Identifies the provider in the API (?provider=) and in metrics.",
    )
    kind = models.CharField(
        max_length=16,
        choices=Kind.choices,
        default=Kind.EMBED,
        help_text="The adapter that builds player URLs. Any iframe embed works as “Embed page”.",
    )
    base_url = models.CharField(
        "base URL",
        max_length=200,
        validators=[validate_base_url],
        help_text="Scheme and host of the player, e.g. https://www.vidking.net",
    )
    movie_path_template = models.CharField(
        max_length=255,
        default="/embed/movie/{tmdb_id}",
        validators=[validate_movie_path_template],
        help_text="Path of a movie's player page; {tmdb_id} is replaced by the TMDb id.",
    )
    start_param = models.CharField(
        "start-time parameter",
        max_length=32,
        blank=True,
        validators=[validate_param_name],
        help_text="Query parameter taking the start position in seconds (VidKing: progress). "
        "Blank: the provider cannot resume.",
    )
    color_param = models.CharField(
        "colour parameter",
        max_length=32,
        blank=True,
        validators=[validate_param_name],
        help_text="Query parameter taking the player's accent colour as hex without “#” "
        "(VidKing: color). Blank: not supported.",
    )
    extra_params = models.JSONField(
        "extra query parameters",
        default=dict,
        blank=True,
        validators=[validate_extra_params],
        help_text='Added to every player URL, as a JSON object of strings: {"autoPlay": "true"}.',
    )
    priority = models.PositiveSmallIntegerField(
        default=100,
        validators=[MaxValueValidator(10_000)],
        help_text="Lower comes first: the lowest enabled provider with a closed circuit plays.",
    )
    enabled = models.BooleanField(default=True)
    ready_message = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_ready_message],
        help_text="What the player posts to the page once it plays, as its documentation "
        "says: the “type” of its postMessage object (VidKing: PLAYER_EVENT, used when blank), "
        "or the whole message when it is a plain string. Blank for a provider that posts "
        "nothing: the page then trusts the page load and keeps “Not playing? Try another "
        "server” on screen.",
    )
    player_timeout_seconds = models.FloatField(
        "player timeout (s)",
        null=True,
        blank=True,
        validators=[MinValueValidator(0.5), MaxValueValidator(MAX_TIMEOUT_SECONDS)],
        help_text="How long the watch page waits for the player to prove it plays (its "
        "ready message, or its page load) before trying the next server. Blank: "
        "WATCH_SOURCE_TIMEOUT.",
    )
    timeout_seconds = models.FloatField(
        "timeout (s)",
        default=5.0,
        validators=[MinValueValidator(0.1), MaxValueValidator(MAX_TIMEOUT_SECONDS)],
        help_text="Connect and read timeout of health checks against this provider.",
    )
    health_path = models.CharField(
        max_length=255,
        default="/",
        validators=[validate_health_path],
        help_text="Probed every few seconds; healthy means a 2xx/3xx answer with an HTML page.",
    )
    notes = models.TextField(blank=True)
    last_probe_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_probe_ok = models.BooleanField(null=True, blank=True, editable=False)
    last_probe_latency_ms = models.PositiveIntegerField(null=True, blank=True, editable=False)
    last_probe = models.CharField("last probe result", max_length=255, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProviderQuerySet.as_manager()

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(timeout_seconds__gt=0), name="provider_timeout_positive"
            ),
            models.CheckConstraint(
                condition=Q(player_timeout_seconds__isnull=True) | Q(player_timeout_seconds__gt=0),
                name="provider_player_timeout_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        self.base_url = (self.base_url or "").rstrip("/")
        # A start or colour parameter also listed as an extra would be sent twice.
        extras = self.extra_params if isinstance(self.extra_params, dict) else {}
        errors = {}
        if self.start_param and self.start_param in extras:
            errors["extra_params"] = (
                f"“{self.start_param}” is the start-time parameter; remove it from the extras."
            )
        if self.start_param and self.start_param == self.color_param:
            errors["color_param"] = "The colour and start-time parameters must differ."
        if errors:
            raise ValidationError(errors)

    @property
    def breaker_name(self) -> str:
        return f"provider:{self.slug}"

    @property
    def origin(self) -> str:
        """Scheme and host the player's postMessage events come from."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    def health_url(self) -> str:
        return self.base_url.rstrip("/") + self.health_path
