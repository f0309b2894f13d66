"""The one interface the rest of the code purges through, whoever the provider is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Answer:
    """What the provider made of one purge request."""

    ok: bool
    detail: str  # the provider's own words, shortened, for the log
    http_status: int | None = None
    # Seconds the provider asked us to wait (429 Retry-After), or the breaker's wait.
    retry_after: float | None = None
    # False when sending nothing more would help right now (the circuit is open): the drain
    # stops without counting an attempt against the items.
    sent: bool = True


@dataclass(frozen=True)
class Budget:
    """A token bucket: ``per_minute`` requests a minute on average, ``burst`` at once."""

    per_minute: float
    burst: int


class Provider(Protocol):
    name: str
    # Most URLs or tags one request may name.
    batch_size: int

    def purge(self, kind: str, values: list[str]) -> Answer:
        """Make the edge forget ``values`` (URLs or tags; ignored for "everything")."""
        ...

    def budget(self) -> Budget | None:
        """The provider's request budget, or None when it has none."""
        ...

    def image_urls(self, url: str) -> list[str]:
        """Every URL under which the edge may hold ``url`` (an uploaded image) and its sizes."""
        ...
