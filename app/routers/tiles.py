"""Mapbox vector tiles (WebMercatorQuad, XYZ addressing) and TileJSON for MapLibre.

A tile is rendered by :class:`app.services.tiles.TileService` (``app.state.tiles``): on its
own small pool, within a statement budget and per-tile feature and size limits, through the
response cache keyed by the data version and the caller's organisation. Tiles outside the
storage CRS's area of use or outside a layer's zoom range never reach the database; a tile
with no feature is ``204 No Content``.

The data version is also the tile's ``ETag`` (with ``If-None-Match`` → 304); anonymous
tiles are ``public``, tiles rendered for an organisation ``private``. A tile whose limits
dropped features (``LOCUS_TILE_MAX_FEATURES`` per layer, ``LOCUS_TILE_MAX_BYTES`` per tile;
the smallest go first) is still a 200, with ``Tile-Truncated: layer;kept=N;total=M, ...``.
A tile that runs past ``LOCUS_TILE_BUDGET_MS``, or finds no tile connection free within
``LOCUS_TILE_QUEUE_TIMEOUT_S``, is a 503 problem+json with ``Retry-After`` (and is not
cached); item requests are never queued behind tiles.

A layer's tiles take the same ``name=value`` property filters as its items
(``/collections/travel_times/tiles/WebMercatorQuad/{z}/{x}/{y}?site_id=12&mode=drive``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.dependencies import (
    CollectionDep,
    ConnectionDep,
    PrincipalDep,
    TileDep,
    TileFiltersDep,
)
from app.errors import RETRY_AFTER_S, DatabaseUnavailable, InvalidParameter, QueryTimeout, problem
from app.routers.common import JSON, MVT, base_url, collection_extent
from app.schemas.ogc import TileJSON
from app.schemas.openapi import download, problems
from app.services.tiles import TileBudgetExceeded, TilesBusy, TileService
from store.access import Principal
from store.features import REGISTRY, Collection

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
_TRUNCATED_HEADER = {
    "Tile-Truncated": {
        "description": "layers whose limits (LOCUS_TILE_MAX_FEATURES per layer,"
        " LOCUS_TILE_MAX_BYTES per tile) dropped features, the smallest first:"
        " `layer;kept=N;total=M`, comma-separated",
        "schema": {"type": "string"},
    }
}
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


def _service(request: Request) -> TileService:
    service: TileService = request.app.state.tiles
    return service


async def _cached_tile(
    request: Request,
    layers: list[Collection],
    z: int,
    x: int,
    y: int,
    principal: Principal,
    filters: dict[str, list[Any]] | None = None,
) -> Response:
    """The tile of ``layers`` through the service (cache, renders in flight, limits)."""
    if all(z < c.tile_minzoom or z > c.tile_maxzoom for c in layers):
        return _tile_response(b"", None, principal)  # no database needed
    service = _service(request)
    version = await service.data_version()
    org = principal.organisation
    etag = f'"{version}{"-" + org if org else ""}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=_cache_headers(etag, principal))
    try:
        rendered = await service.tile(layers, z, x, y, principal, filters, version)
    except TileBudgetExceeded:
        budget = service.settings.budget_ms
        return problem(
            request,
            status=503,
            title=QueryTimeout.title,
            detail=f"tile {z}/{x}/{y} took longer than its budget of {budget} ms"
            " (LOCUS_TILE_BUDGET_MS); ask for fewer layers, filter the layer, or retry",
            slug=QueryTimeout.slug,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    except TilesBusy:
        wait = service.settings.queue_timeout_s
        return problem(
            request,
            status=503,
            title=DatabaseUnavailable.title,
            detail=f"no tile renderer came free within {wait:g} s (LOCUS_TILE_CONCURRENCY,"
            " LOCUS_TILE_QUEUE_TIMEOUT_S): many tiles are being rendered, or the database"
            " is unreachable; retry shortly",
            slug="tiles-busy",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    response = _tile_response(rendered.data, etag, principal)
    if rendered.truncated:
        response.headers["Tile-Truncated"] = ", ".join(rendered.truncated)
    return response


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
    response_model=TileJSON,
    responses=problems(401, 404, 503),
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
    response_class=Response,
    responses={
        200: {
            "description": "Mapbox vector tile",
            "content": download(MVT),
            "headers": _TRUNCATED_HEADER,
        },
        204: {"description": "empty tile"},
        304: {"description": "not modified (If-None-Match)"},
        **problems(400, 401, 404, 503),
    },
)
async def collection_tile(
    request: Request,
    c: CollectionDep,
    tile: TileDep,
    filters: TileFiltersDep,
    principal: PrincipalDep,
) -> Response:
    """The layer's features in tile ``z/x/y`` (XYZ: y counts from the north).

    Other query parameters named after a queryable property filter by equality, as on
    ``/items`` (``site_id=12&mode=drive``).
    """
    z, x, y = tile
    return await _cached_tile(request, [c], z, x, y, principal, filters)


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


@router.get(
    f"/tiles/{TMS}/tilejson.json",
    summary="TileJSON for all layers",
    response_model=TileJSON,
    responses=problems(400, 401, 503),
)
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
    response_class=Response,
    responses={
        200: {
            "description": "Mapbox vector tile",
            "content": download(MVT),
            "headers": _TRUNCATED_HEADER,
        },
        204: {"description": "empty tile"},
        304: {"description": "not modified (If-None-Match)"},
        **problems(400, 401, 503),
    },
)
async def tile(
    request: Request,
    tile: TileDep,
    principal: PrincipalDep,
    collections: _CollectionsParam = None,
) -> Response:
    """All layers (or ``collections``) in one tile: MVT layers concatenate byte-wise."""
    z, x, y = tile
    return await _cached_tile(request, _layers(collections), z, x, y, principal)
