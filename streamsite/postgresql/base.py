"""PostgreSQL behind a circuit breaker: while the database is unreachable, nothing waits for it.

Django's psycopg 3 backend (as instrumented by django-prometheus) with its native pool, plus:

* Every connection attempt, the pool's own background ones included, tells the database's
  breaker (``streamsite.resilience.database_breaker``) how it went.
* While the breaker is open, taking a connection fails at once with an ``OperationalError``,
  instead of waiting up to ``DATABASE_POOL_TIMEOUT`` for a pool that cannot connect. Callers
  answer from a stale copy (``streamsite.cache``) or with a 503 and ``Retry-After``
  (``streamsite.api``, ``streamsite.errors``).
* A request already waiting for the pool gives up as soon as the breaker opens.
* ``DATABASE_CIRCUIT_RESET_SECONDS`` after it opened, one request probes: taking a connection
  makes the pool try at once, and the outcome closes or re-opens the circuit. The pool stops
  retrying on its own schedule after as long, so a probe never waits for its back-off.

Connect and statement timeouts (settings.py) bound what one attempt or query may take.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from django.conf import settings
from django.db.backends.base.base import NO_DB_ALIAS
from django_prometheus.db.backends.postgresql import base
from psycopg_pool import ConnectionPool, PoolTimeout

from streamsite.resilience import OPEN, CircuitOpenError, breakers_enabled, database_breaker

# How often a request waiting for the pool looks at the breaker.
_WAIT_SLICE_SECONDS = 0.1


class DatabaseUnavailable(psycopg.OperationalError):
    """Raised instead of connecting while the database's circuit is open."""


class BreakerConnection(psycopg.Connection):  # type: ignore[type-arg]
    """The pool's connections: each attempt to open one is reported to the breaker."""

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any) -> BreakerConnection:
        try:
            connection = super().connect(conninfo, **kwargs)
        except psycopg.OperationalError:
            if breakers_enabled():
                database_breaker().record_failure()
            raise
        if breakers_enabled():
            database_breaker().record_success()
        return connection


class BreakerPool(ConnectionPool):  # type: ignore[type-arg]
    """A pool whose waiting requests give up once the breaker opens."""

    def getconn(self, timeout: float | None = None) -> Any:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            remaining = deadline - time.monotonic()
            try:
                return super().getconn(timeout=max(0.001, min(_WAIT_SLICE_SECONDS, remaining)))
            except PoolTimeout:
                if remaining <= _WAIT_SLICE_SECONDS:
                    raise
                if breakers_enabled() and database_breaker().state() == OPEN:
                    raise DatabaseUnavailable("the database is unreachable") from None


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> ConnectionPool | None:  # type: ignore[type-arg]
        """Django's pool, built from the same options, as a BreakerPool of BreakerConnections."""
        options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == NO_DB_ALIAS or not options or self.alias in self._connection_pools:
            return super().pool
        connect_kwargs = self.get_connection_params()
        connect_kwargs["autocommit"] = True  # as Django's: it sets autocommit later itself
        pool = BreakerPool(
            kwargs=connect_kwargs,
            open=False,
            configure=self._configure_connection,
            check=ConnectionPool.check_connection
            if self.settings_dict["CONN_HEALTH_CHECKS"]
            else None,
            connection_class=BreakerConnection,
            **{
                "reconnect_timeout": float(settings.DATABASE_CIRCUIT_RESET_SECONDS),
                **({} if options is True else options),
            },
        )
        self._connection_pools.setdefault(self.alias, pool)
        return self._connection_pools[self.alias]

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if not breakers_enabled():
            return super().get_new_connection(conn_params)
        breaker = database_breaker()
        try:
            breaker.before_call()
        except CircuitOpenError as exc:
            raise DatabaseUnavailable(
                f"the database is unreachable; next attempt in {exc.retry_after:.1f} s"
            ) from None
        try:
            connection = super().get_new_connection(conn_params)
        except psycopg.Error:
            breaker.record_failure()
            raise
        breaker.record_success()
        return connection
