"""The provider's purge budget as a token bucket, kept in the cache for every worker.

Only the process holding the drain lock (``cdn.services.drain``) reads and writes it, so a
plain get and set suffice. Times come from the caller's clock, so a simulated clock (the
drain-time figure of ``bench/edge.py``) runs the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdn.providers.base import Budget
from streamsite import cache

_KEY = "cdn:budget:{}"
# Long enough to outlive any wait the bucket imposes; a lost state only means a full bucket.
_TTL = 86_400


@dataclass
class _State:
    tokens: float
    at: float
    blocked_until: float = 0.0


class Bucket:
    def __init__(self, provider: str, budget: Budget, *, now: float) -> None:
        self.key = _KEY.format(provider)
        self.budget = budget
        stored = cache.get(self.key)
        self.state = stored if isinstance(stored, _State) else _State(float(budget.burst), now)
        self._refill(now)

    @property
    def rate(self) -> float:
        """Tokens a second."""
        return self.budget.per_minute / 60.0

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.state.at)
        self.state.tokens = min(float(self.budget.burst), self.state.tokens + elapsed * self.rate)
        self.state.at = max(now, self.state.at)

    def wait(self, now: float) -> float:
        """Seconds until a request may be sent; 0 when one may go now."""
        self._refill(now)
        blocked = max(0.0, self.state.blocked_until - now)
        missing = max(0.0, 1.0 - self.state.tokens)
        return max(blocked, missing / self.rate)

    def take(self, now: float) -> None:
        self._refill(now)
        self.state.tokens -= 1.0

    def block(self, now: float, seconds: float) -> None:
        """The provider said to come back later (429 Retry-After): no request before then."""
        self.state.blocked_until = max(self.state.blocked_until, now + seconds)
        self.state.tokens = min(self.state.tokens, 0.0)

    def save(self) -> None:
        cache.set(self.key, self.state, _TTL)
