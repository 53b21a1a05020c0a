"""Vector tiles and the response cache: bounded renders that never starve item requests.

Issue 17: tiles over many stored catchments ran for up to the 15 s statement timeout, each
holding one of the API pool's connections, so item requests queued behind them got 503.
:class:`TileService` (one per API process, ``app.state.tiles``, opened in the lifespan)
keeps tiles apart and bounded (``LOCUS_TILE_*``, :class:`config.settings.TileSettings`):

- **A pool of their own.** Tiles render on ``concurrency`` connections of a separate pool;
  a tile waits at most ``queue_timeout_s`` for one (:class:`TilesBusy`, a 503). Item
  requests keep the whole API pool. Identical renders in flight are shared (one statement
  for fifty clients asking for the same new tile).
- **A budget per tile.** A tile's layers run in one transaction, each under ``SET LOCAL
  statement_timeout`` set to what is left of ``budget_ms`` (and the tile pool's connections
  default to it); past it the render stops (:class:`TileBudgetExceeded`, a 503 problem,
  nothing cached).
- **Limits per tile** (:mod:`store.features.tiles`): at most ``max_features`` per layer and
  ``max_bytes`` per tile, largest features first. Layers share the bytes in turn, point
  layers first (they are small): each gets an equal share of what the layers before it
  left, so a layer that needs little leaves more for the next. Layers that dropped features
  are listed in :attr:`RenderedTile.truncated`.

Rendered tiles and items pages are kept in a per-process LRU (:class:`TileCache`,
``LOCUS_TILE_CACHE_MB``) keyed by the data version, the caller's organisation, the request
and (tiles) ``z/x/y``. The data version is ``(count(*), max(id))`` of ``data_changes``
(migration 0008), read through :class:`DataVersion` at most every ``version_ttl_s`` seconds:
a response is never older than the version read at most that long before it was asked for.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from config.settings import Settings, TileSettings
from store.access import Principal
from store.connection import async_pool
from store.features import (
    Collection,
    ItemsPage,
    ItemsQuery,
    TileLimits,
    data_version,
    fetch_items,
    fetch_tile,
)

__all__ = [
    "DataVersion",
    "RenderedTile",
    "TileBudgetExceeded",
    "TileCache",
    "TileService",
    "TilesBusy",
]

CacheKey = tuple[Any, ...]


class TileBudgetExceeded(Exception):
    """The tile's statements ran past ``LOCUS_TILE_BUDGET_MS``."""


class TilesBusy(Exception):
    """No tile connection came free within ``LOCUS_TILE_QUEUE_TIMEOUT_S``."""


class TileCache:
    """A byte-bounded LRU of rendered responses keyed by data version and caller.

    Tiles use ``(version, org, layers, filters, z, x, y)``; items pages ``("items", version,
    org, collection, query)`` (:meth:`TileService.cached_page`).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[CacheKey, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey) -> bytes | None:
        data = self._entries.get(key)
        if data is not None:
            self._entries.move_to_end(key)
        return data

    def put(self, key: CacheKey, data: bytes) -> None:
        if len(data) > self.max_bytes or key in self._entries:
            return
        self._entries[key] = data
        self.size += len(data) + 100
        while self.size > self.max_bytes:
            _, old = self._entries.popitem(last=False)
            self.size -= len(old) + 100


class DataVersion:
    """The data version, read at most every ``ttl_s`` seconds (0: on every call).

    Concurrent callers share one read. The time kept is the one before the read, so a
    version is never used more than ``ttl_s`` after a moment it was known to be current.
    """

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._value: str | None = None
        self._read_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self, read: Callable[[], Awaitable[str]]) -> str:
        if self.ttl_s <= 0:
            return await read()
        if self._value is not None and time.monotonic() - self._read_at < self.ttl_s:
            return self._value
        async with self._lock:
            if self._value is not None and time.monotonic() - self._read_at < self.ttl_s:
                return self._value
            started = time.monotonic()
            self._value = await read()
            self._read_at = started
            return self._value


@dataclass(frozen=True)
class RenderedTile:
    """The MVT bytes of a tile and the layers whose limits dropped features."""

    data: bytes
    #: ``layer;kept=N;total=M`` for each layer that dropped features.
    truncated: tuple[str, ...] = ()

    def to_cache(self) -> bytes:
        return ",".join(self.truncated).encode() + b"\n" + self.data

    @classmethod
    def from_cache(cls, raw: bytes) -> RenderedTile:
        head, _, data = raw.partition(b"\n")
        return cls(data, tuple(head.decode().split(",")) if head else ())


class TileService:
    """The tile pool, the response cache, the data version and the renders in flight."""

    def __init__(self, settings: Settings, pool: AsyncConnectionPool[Any]) -> None:
        self.settings: TileSettings = settings.tiles
        self.pool = pool
        db = settings.database.model_copy(
            update={
                "pool_min_size": 1,
                "pool_max_size": self.settings.concurrency,
                "pool_timeout_s": self.settings.queue_timeout_s,
                "statement_timeout_ms": self.settings.budget_ms,
            }
        )
        self.tile_pool = async_pool(db, purpose="interactive")
        mb = settings.api.tile_cache_mb
        self.cache = TileCache(int(mb * 2**20)) if mb > 0 else None
        self.version = DataVersion(self.settings.version_ttl_s)
        self._inflight: dict[CacheKey, asyncio.Future[RenderedTile]] = {}

    async def open(self) -> None:
        await self.tile_pool.open(wait=False)

    async def close(self) -> None:
        await self.tile_pool.close()

    async def data_version(self, conn: AsyncConnection[Any] | None = None) -> str:
        """The data version (through :class:`DataVersion`), on ``conn`` or the API pool."""

        async def read() -> str:
            if conn is not None:
                return await data_version(conn)
            async with self.pool.connection() as own:
                return await data_version(own)

        return await self.version.get(read)

    # ---------------------------------------------------------------------------- items

    async def cached_page(
        self, c: Collection, q: ItemsQuery, principal: Principal, query_key: str
    ) -> ItemsPage:
        """An items page through the response cache (same data version, caller and query);
        a connection of the API pool is taken only to render a page not cached."""
        if self.cache is None:
            async with self.pool.connection() as conn:
                return await fetch_items(conn, c, q, principal)
        key: CacheKey = (
            "items",
            await self.data_version(),
            principal.organisation,
            c.id,
            query_key,
        )
        hit = self.cache.get(key)
        if hit is not None:
            head, _, features = hit.decode().partition("\n")
            returned, last_fid, has_more = json.loads(head)
            return ItemsPage(features, returned, last_fid, has_more)
        async with self.pool.connection() as conn:
            page = await fetch_items(conn, c, q, principal)
        head = json.dumps([page.returned, page.last_fid, page.has_more])
        self.cache.put(key, f"{head}\n{page.features_json}".encode())
        return page

    # ---------------------------------------------------------------------------- tiles

    async def tile(
        self,
        layers: Sequence[Collection],
        z: int,
        x: int,
        y: int,
        principal: Principal,
        filters: dict[str, list[Any]] | None,
        version: str,
    ) -> RenderedTile:
        """The tile of ``layers`` for data ``version``: from the cache, from a render in
        flight, or rendered now (:class:`TilesBusy`, :class:`TileBudgetExceeded`)."""
        filter_key = tuple(sorted((k, tuple(v)) for k, v in (filters or {}).items()))
        key: CacheKey = (
            version,
            principal.organisation,
            tuple(c.id for c in layers),
            filter_key,
            z,
            x,
            y,
        )
        if self.cache is not None:
            raw = self.cache.get(key)
            if raw is not None:
                return RenderedTile.from_cache(raw)
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(self._render(layers, z, x, y, principal, filters))
            self._inflight[key] = future
            future.add_done_callback(lambda f: self._done(key, f))
        return await asyncio.shield(future)

    def _done(self, key: CacheKey, future: asyncio.Future[RenderedTile]) -> None:
        self._inflight.pop(key, None)
        if future.cancelled() or future.exception() is not None:
            return  # failures are not cached (the exception is retrieved: no warning)
        if self.cache is not None:
            self.cache.put(key, future.result().to_cache())

    async def _render(
        self,
        layers: Sequence[Collection],
        z: int,
        x: int,
        y: int,
        principal: Principal,
        filters: dict[str, list[Any]] | None,
    ) -> RenderedTile:
        limits = self.settings
        try:
            async with self.tile_pool.connection() as conn, conn.transaction():
                start = time.monotonic()
                left = limits.max_bytes
                chunks: dict[int, bytes] = {}
                truncated: dict[int, str] = {}
                # Point layers first (small): the polygon and line layers share what is left.
                order = sorted(range(len(layers)), key=lambda i: layers[i].geometry_type != "Point")
                for k, i in enumerate(order):
                    c = layers[i]
                    remaining_ms = limits.budget_ms - (time.monotonic() - start) * 1000
                    if remaining_ms < 1:
                        raise TileBudgetExceeded
                    await conn.execute(
                        "SELECT set_config('statement_timeout', %s, true)",
                        (str(int(remaining_ms)),),
                    )
                    share = left // (len(layers) - k)
                    layer = await fetch_tile(
                        conn,
                        c,
                        z,
                        x,
                        y,
                        principal,
                        TileLimits(limits.max_features, share),
                        filters,
                    )
                    chunks[i] = layer.data
                    left -= len(layer.data)
                    if layer.truncated:
                        truncated[i] = f"{c.id};kept={layer.kept};total={layer.candidates}"
        except psycopg.errors.QueryCanceled as exc:
            raise TileBudgetExceeded from exc
        except PoolTimeout as exc:
            raise TilesBusy from exc
        # MVT layers concatenate byte-wise (in the order asked for).
        return RenderedTile(
            b"".join(chunks[i] for i in range(len(layers))),
            tuple(truncated[i] for i in sorted(truncated)),
        )
