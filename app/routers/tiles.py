"""Mapbox vector tiles (WebMercatorQuad, XYZ addressing) and TileJSON for MapLibre.

One tile is one statement (``ST_AsMVT`` over ``ST_AsMVTGeom``). Tiles outside the storage
CRS's area of use or outside a layer's zoom range never reach the database; a tile with no
feature is ``204 No Content``.

Rendered tiles are kept in a per-process LRU (:class:`TileCache`, ``LOCUS_TILE_CACHE_MB``)
keyed by the data version, the caller's organisation (what it may see), the layers, any
property filters and ``z/x/y``. The data version is ``(count(*), max(id))`` of
``data_changes`` (migration 0008: one row per transaction that wrote a table a collection
reads, committed with the data), read before the tile is rendered: a tile rendered after the
version was read is never older than that version, and any later change moves the version
(the count grows even when transactions commit out of id order). The version is also the
tile's ``ETag`` (with ``If-None-Match`` → 304); anonymous tiles are ``public``, tiles
rendered for an organisation ``private``.

A layer's tiles take the same ``name=value`` property filters as its items
(``/collections/travel_times/tiles/WebMercatorQuad/{z}/{x}/{y}?site_id=12&mode=drive``).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from psycopg import AsyncConnection

from app.auth import Principal
from app.collections import (
    REGISTRY,
    Collection,
    ItemsPage,
    ItemsQuery,
    fetch_items,
    fetch_tile,
)
from app.dependencies import (
    CollectionDep,
    ConnectionDep,
    PrincipalDep,
    TileDep,
    TileFiltersDep,
)
from app.errors import InvalidParameter
from app.routers.common import JSON, MVT, base_url, collection_extent

router = APIRouter(tags=["Vector tiles"])

TMS = "WebMercatorQuad"
_FIELD_TYPE = {
    "string": "String",
    "integer": "Number",
    "number": "Number",
    "boolean": "Boolean",
    "date": "String",
}
_MAX_AGE = 60
_WORLD = (-180.0, -85.0511, 180.0, 85.0511)


def _vector_layer(c: Collection) -> dict[str, Any]:
    return {
        "id": c.id,
        "description": c.description,
        "minzoom": c.tile_minzoom,
        "maxzoom": c.tile_maxzoom,
        "fields": {p.name: _FIELD_TYPE[p.type] for p in c.properties},
    }


def _tilejson(
    name: str,
    tiles_url: str,
    layers: list[Collection],
    bounds: tuple[float, float, float, float] | None,
) -> dict[str, Any]:
    west, south, east, north = bounds or _WORLD
    minzoom = min(c.tile_minzoom for c in layers)
    maxzoom = max(c.tile_maxzoom for c in layers)
    return {
        "tilejson": "3.0.0",
        "name": name,
        "attribution": layers[0].attribution,
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, max(minzoom, 10)],
        "vector_layers": [_vector_layer(c) for c in layers],
    }


def _union(
    boxes: list[tuple[float, float, float, float] | None],
) -> tuple[float, float, float, float] | None:
    real = [b for b in boxes if b is not None]
    if not real:
        return None
    return (
        min(b[0] for b in real),
        min(b[1] for b in real),
        max(b[2] for b in real),
        max(b[3] for b in real),
    )


TileKey = tuple[Any, ...]


class TileCache:
    """A byte-bounded LRU of rendered responses keyed by data version and caller.

    Tiles use ``(version, org, layers, z, x, y)``; items pages ``("items", version, org,
    collection, query)`` (:func:`cached_page`).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[TileKey, bytes] = OrderedDict()

    def get(self, key: TileKey) -> bytes | None:
        data = self._entries.get(key)
        if data is not None:
            self._entries.move_to_end(key)
        return data

    def put(self, key: TileKey, data: bytes) -> None:
        if len(data) > self.max_bytes or key in self._entries:
            return
        self._entries[key] = data
        self.size += len(data) + 100
        while self.size > self.max_bytes:
            _, old = self._entries.popitem(last=False)
            self.size -= len(old) + 100


def response_cache(request: Request) -> TileCache | None:
    """The process's response cache (``LOCUS_TILE_CACHE_MB``; None when set to 0)."""
    settings = request.app.state.settings
    cache: TileCache | None = getattr(request.app.state, "tile_cache", None)
    if cache is None and settings.api.tile_cache_mb > 0:
        cache = request.app.state.tile_cache = TileCache(int(settings.api.tile_cache_mb * 2**20))
    return cache


async def cached_page(
    request: Request,
    conn: AsyncConnection[Any],
    c: Collection,
    q: ItemsQuery,
    principal: Principal,
) -> ItemsPage:
    """An items page through the response cache (same data version, caller and query)."""
    cache = response_cache(request)
    if cache is None:
        return await fetch_items(conn, c, q, principal)
    query = "&".join(f"{k}={v}" for k, v in sorted(request.query_params.multi_items()) if k != "f")
    key: TileKey = ("items", await _data_version(conn), principal.organisation, c.id, query)
    hit = cache.get(key)
    if hit is not None:
        head, _, features = hit.decode().partition("\n")
        returned, last_fid, has_more = json.loads(head)
        return ItemsPage(features, returned, last_fid, has_more)
    page = await fetch_items(conn, c, q, principal)
    head = json.dumps([page.returned, page.last_fid, page.has_more])
    cache.put(key, f"{head}\n{page.features_json}".encode())
    return page


async def _data_version(conn: AsyncConnection[Any]) -> str:
    """``count-maxid`` of ``data_changes``: changes with every committed change of data."""
    cur = await conn.execute("SELECT count(*), coalesce(max(id), 0) FROM data_changes")
    row = await cur.fetchone()
    assert row is not None
    return f"{row[0]}-{row[1]}"


async def _cached_tile(
    request: Request,
    conn: AsyncConnection[Any],
    layers: list[Collection],
    z: int,
    x: int,
    y: int,
    principal: Principal,
    filters: dict[str, list[Any]] | None = None,
) -> Response:
    """The tile of ``layers`` (MVT layers concatenate byte-wise), through the cache."""
    cache = response_cache(request)
    if all(z < c.tile_minzoom or z > c.tile_maxzoom for c in layers):
        return _tile_response(b"", None, principal)  # no database needed
    version = await _data_version(conn)
    org = principal.organisation
    etag = f'"{version}{"-" + org if org else ""}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=_cache_headers(etag, principal))
    filter_key = tuple(sorted((k, tuple(v)) for k, v in (filters or {}).items()))
    key: TileKey = (version, org, tuple(c.id for c in layers), filter_key, z, x, y)
    data = cache.get(key) if cache is not None else None
    if data is None:
        data = b"".join([await fetch_tile(conn, c, z, x, y, principal, filters) for c in layers])
        if cache is not None:
            cache.put(key, data)
    return _tile_response(data, etag, principal)


def _cache_headers(etag: str | None, principal: Principal) -> dict[str, str]:
    scope = "private" if principal.organisation else "public"
    headers = {"Cache-Control": f"{scope}, max-age={_MAX_AGE}"}
    if etag is not None:
        headers["ETag"] = etag
    return headers


def _tile_response(data: bytes, etag: str | None, principal: Principal) -> Response:
    headers = _cache_headers(etag, principal)
    if not data:
        return Response(status_code=204, headers=headers)
    return Response(data, media_type=MVT, headers=headers)


@router.get(
    f"/collections/{{collectionId}}/tiles/{TMS}/tilejson.json",
    summary="TileJSON for one layer",
)
async def collection_tilejson(
    request: Request, c: CollectionDep, conn: ConnectionDep, principal: PrincipalDep
) -> Response:
    """TileJSON 3.0 with the tile URL template, zoom range, bounds and field types."""
    url = f"{base_url(request)}/collections/{c.id}/tiles/{TMS}/{{z}}/{{x}}/{{y}}"
    extent = await collection_extent(request, conn, c, principal)
    return Response(json.dumps(_tilejson(c.title, url, [c], extent)), media_type=JSON)


@router.get(
    f"/collections/{{collectionId}}/tiles/{TMS}/{{z}}/{{x}}/{{y}}",
    summary="Vector tile of one layer",
    responses={200: {"content": {MVT: {}}}, 204: {"description": "empty tile"}},
)
async def collection_tile(
    request: Request,
    c: CollectionDep,
    tile: TileDep,
    filters: TileFiltersDep,
    conn: ConnectionDep,
    principal: PrincipalDep,
) -> Response:
    """The layer's features in tile ``z/x/y`` (XYZ: y counts from the north).

    Other query parameters named after a queryable property filter by equality, as on
    ``/items`` (``site_id=12&mode=drive``).
    """
    z, x, y = tile
    return await _cached_tile(request, conn, [c], z, x, y, principal, filters)


def _layers(collections: str | None) -> list[Collection]:
    if collections is None:
        return [c for c in REGISTRY.values() if c.default_tile_layer]
    names = [n for n in collections.split(",") if n]
    unknown = [n for n in names if n not in REGISTRY]
    if unknown or not names:
        raise InvalidParameter(
            f"unknown collection(s) {unknown}; choose from {', '.join(REGISTRY)}",
            parameter="collections",
        )
    return [REGISTRY[n] for n in names]


_CollectionsParam = Annotated[
    str | None,
    Query(description="comma-separated layer ids; default all but travel_times"),
]


@router.get(f"/tiles/{TMS}/tilejson.json", summary="TileJSON for all layers")
async def tilejson(
    request: Request,
    conn: ConnectionDep,
    principal: PrincipalDep,
    collections: _CollectionsParam = None,
) -> Response:
    """One TileJSON whose tiles carry every layer (or the ``collections`` chosen)."""
    layers = _layers(collections)
    url = f"{base_url(request)}/tiles/{TMS}/{{z}}/{{x}}/{{y}}"
    if collections is not None:
        url += f"?collections={','.join(c.id for c in layers)}"
    extents = [await collection_extent(request, conn, c, principal) for c in layers]
    body = _tilejson("Locus", url, layers, _union(extents))
    return Response(json.dumps(body), media_type=JSON)


@router.get(
    f"/tiles/{TMS}/{{z}}/{{x}}/{{y}}",
    summary="Vector tile with several layers",
    responses={200: {"content": {MVT: {}}}, 204: {"description": "empty tile"}},
)
async def tile(
    request: Request,
    tile: TileDep,
    conn: ConnectionDep,
    principal: PrincipalDep,
    collections: _CollectionsParam = None,
) -> Response:
    """All layers (or ``collections``) in one tile: MVT layers concatenate byte-wise."""
    z, x, y = tile
    return await _cached_tile(request, conn, _layers(collections), z, x, y, principal)
