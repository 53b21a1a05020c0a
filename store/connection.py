"""Connections: one configuration for every path into PostgreSQL (psycopg 3 pools).

Every connection, sync or async, API request, job or load, is opened with
:func:`connection_kwargs`: a ``statement_timeout`` (interactive work gets
``LOCUS_DATABASE_STATEMENT_TIMEOUT_MS``; loads and jobs ``..._BATCH_STATEMENT_TIMEOUT_MS``),
JIT off, and pools check a connection before handing it out, so one the server ended is
replaced instead of failing the caller.

Why the pools do their own check (:class:`CheckedPool`, :class:`CheckedAsyncPool`) instead of
psycopg_pool's ``check=``: the pool's check loop waits between failed checks with growing
pauses (1 s, 2 s, 4 s...), meant against a busy loop. After the server ended every idle
connection of a full pool (``pg_terminate_backend``, a restart, an idle timeout), the next
request spent those pauses on dead connections and hit the 10 s pool timeout: 503s until the
pool refilled (issue 17). Here a dead connection is returned at once (the pool closes it and
opens a replacement) and the next one is tried without waiting, up to the pool's size plus
one; only the total wait is bounded by the pool timeout. While the database is down, a pool
retries replacing connections for ``LOCUS_DATABASE_POOL_RECONNECT_TIMEOUT_S`` only and then
connects on demand, so the API is back within seconds of the database.

Why these options: the planner's cost estimates for tile statements cross
``jit_above_cost``, and compiling then took ~600 ms of a tile that runs in 30 ms without it
(measured, bench/api_load.py). Parallel query is off: on two cores a Gather's worker start-up
(~50 ms under load) cost more than the index scans it split. Plans are always custom: psycopg
prepares a statement after 5 executions, and PostgreSQL's generic plan for a bbox query
re-projected the bbox polygon for every row (an items page went from 12 ms to 1-3 s).

SQLAlchemy remains only where Alembic needs it (``migrations/``, :mod:`store.admin`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import pandas as pd
import psycopg
from psycopg import AsyncConnection, Connection, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from config.settings import DatabaseSettings

__all__ = [
    "CheckedAsyncPool",
    "CheckedPool",
    "Database",
    "Purpose",
    "Query",
    "async_pool",
    "close_databases",
    "connection_kwargs",
    "database",
    "read_frame",
]

#: ``interactive``: API requests (short statement timeout); ``batch``: loads and jobs.
Purpose = Literal["interactive", "batch"]
#: A statement: text with ``%(name)s`` placeholders, or a composed :mod:`psycopg.sql` object.
Query = str | bytes | sql.SQL | sql.Composed

log = logging.getLogger(__name__)


def connection_kwargs(settings: DatabaseSettings, *, purpose: Purpose) -> dict[str, Any]:
    """The libpq keyword arguments of every Locus connection (see the module docstring)."""
    timeout = (
        settings.statement_timeout_ms
        if purpose == "interactive"
        else settings.batch_statement_timeout_ms
    )
    return {
        "autocommit": True,
        "application_name": f"locus-{purpose}",
        "options": f"-c statement_timeout={int(timeout)} -c jit=off"
        " -c max_parallel_workers_per_gather=0 -c plan_cache_mode=force_custom_plan",
    }


def _timed_out(pool: str, timeout: float) -> PoolTimeout:
    return PoolTimeout(f"couldn't get a working connection from {pool!r} after {timeout:.2f} sec")


class CheckedPool(ConnectionPool[Connection[Any]]):
    """A sync pool whose :meth:`getconn` hands out only a connection that answered a round
    trip just now, discarding dead ones without backoff (see the module docstring).

    A ``check`` argument is ignored: this is the check.
    """

    def __init__(self, conninfo: str = "", **kwargs: Any) -> None:
        kwargs.pop("check", None)
        super().__init__(conninfo, **kwargs)

    def getconn(self, timeout: float | None = None) -> Connection[Any]:
        """A live connection within ``timeout`` (default: the pool's) or :class:`PoolTimeout`."""
        total = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + total
        for _ in range(self.max_size + 1):
            try:
                conn = super().getconn(timeout=max(deadline - time.monotonic(), 0.0))
            except PoolTimeout:
                raise _timed_out(self.name, total) from None
            try:
                self.check_connection(conn)
            except psycopg.Error as exc:
                log.info("pool %r: dead connection discarded (%s)", self.name, exc)
                self.putconn(conn)  # broken: the pool closes it and opens a replacement
                continue
            except BaseException:  # interrupted: give the connection back, try no more
                self.putconn(conn)
                raise
            return conn
        raise _timed_out(self.name, total)


class CheckedAsyncPool(AsyncConnectionPool[AsyncConnection[Any]]):
    """The async twin of :class:`CheckedPool` (the API's pool, the job queue's)."""

    def __init__(self, conninfo: str = "", **kwargs: Any) -> None:
        kwargs.pop("check", None)
        super().__init__(conninfo, **kwargs)

    async def getconn(self, timeout: float | None = None) -> AsyncConnection[Any]:
        """A live connection within ``timeout`` (default: the pool's) or :class:`PoolTimeout`."""
        total = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + total
        for _ in range(self.max_size + 1):
            try:
                conn = await super().getconn(timeout=max(deadline - time.monotonic(), 0.0))
            except PoolTimeout:
                raise _timed_out(self.name, total) from None
            try:
                await self.check_connection(conn)
            except psycopg.Error as exc:
                log.info("pool %r: dead connection discarded (%s)", self.name, exc)
                await self.putconn(conn)
                continue
            except BaseException:  # cancelled (client gone): never leak the connection
                await self.putconn(conn)
                raise
            return conn
        raise _timed_out(self.name, total)


def async_pool(
    settings: DatabaseSettings, *, purpose: Purpose = "interactive"
) -> AsyncConnectionPool[Any]:
    """An unopened async pool (the API's), checked before each reuse."""
    return CheckedAsyncPool(
        settings.libpq_url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout=settings.pool_timeout_s,
        reconnect_timeout=settings.pool_reconnect_timeout_s,
        open=False,
        name=f"locus-{purpose}-async",
        kwargs=connection_kwargs(settings, purpose=purpose),
    )


class Database:
    """A sync pool on one database with the Locus connection configuration.

    Connections are in autocommit mode: a statement outside :meth:`transaction` commits on
    its own; everything inside one :meth:`transaction` block commits together or not at all.
    """

    def __init__(self, settings: DatabaseSettings, *, purpose: Purpose) -> None:
        self.settings = settings
        self.purpose = purpose
        self.pool: ConnectionPool[Connection[Any]] = CheckedPool(
            settings.libpq_url,
            min_size=1,
            max_size=settings.pool_max_size,
            timeout=settings.pool_timeout_s,
            reconnect_timeout=settings.pool_reconnect_timeout_s,
            open=True,
            name=f"locus-{purpose}",
            kwargs=connection_kwargs(settings, purpose=purpose),
        )

    @contextmanager
    def connection(self) -> Iterator[Connection[Any]]:
        """A pooled connection (autocommit) for the block."""
        with self.pool.connection() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[Connection[Any]]:
        """A pooled connection in one transaction: committed at the end, rolled back on error."""
        with self.pool.connection() as conn, conn.transaction():
            yield conn

    def close(self) -> None:
        """Close the pool's connections."""
        self.pool.close()


_databases: dict[tuple[str, Purpose, int, int], Database] = {}
_lock = threading.Lock()


def database(settings: DatabaseSettings, *, purpose: Purpose = "batch") -> Database:
    """The process's :class:`Database` for ``settings`` and ``purpose`` (one pool each)."""
    key = (
        settings.url,
        purpose,
        settings.statement_timeout_ms,
        settings.batch_statement_timeout_ms,
    )
    with _lock:
        found = _databases.get(key)
        if found is None or found.pool.closed:
            found = _databases[key] = Database(settings, purpose=purpose)
        return found


def close_databases(url: str | None = None) -> None:
    """Close the pools of ``url`` (all when None): before dropping a database, at exit."""
    with _lock:
        for key in [k for k in _databases if url is None or k[0] == url]:
            _databases.pop(key).close()


def read_frame(
    conn: Connection[Any], query: Query, params: dict[str, Any] | Sequence[Any] | None = None
) -> pd.DataFrame:
    """The rows of ``query`` as a DataFrame (columns named as selected)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        columns = [c.name for c in cur.description or []]
        return pd.DataFrame(cur.fetchall(), columns=columns)
