"""Mapbox vector tiles (WebMercatorQuad, XYZ addressing) and TileJSON for MapLibre.

One tile is one statement (``ST_AsMVT`` over ``ST_AsMVTGeom``). Tiles outside the storage
CRS's area of use or outside a layer's zoom range never reach the database; a tile with no
feature is ``204 No Content``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.collections import REGISTRY, Collection, fetch_tile
from app.dependencies import (
    CollectionDep,
    ConnectionDep,
    PrincipalDep,
    TileDep,
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
_CACHE = {"Cache-Control": "public, max-age=60"}
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


def _tile_response(data: bytes) -> Response:
    if not data:
        return Response(status_code=204, headers=_CACHE)
    return Response(data, media_type=MVT, headers=_CACHE)


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
    c: CollectionDep, tile: TileDep, conn: ConnectionDep, principal: PrincipalDep
) -> Response:
    """The layer's features in tile ``z/x/y`` (XYZ: y counts from the north)."""
    z, x, y = tile
    return _tile_response(await fetch_tile(conn, c, z, x, y, principal))


def _layers(collections: str | None) -> list[Collection]:
    if collections is None:
        return list(REGISTRY.values())
    names = [n for n in collections.split(",") if n]
    unknown = [n for n in names if n not in REGISTRY]
    if unknown or not names:
        raise InvalidParameter(
            f"unknown collection(s) {unknown}; choose from {', '.join(REGISTRY)}",
            parameter="collections",
        )
    return [REGISTRY[n] for n in names]


_CollectionsParam = Annotated[
    str | None, Query(description="comma-separated layer ids; default all")
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
    tile: TileDep,
    conn: ConnectionDep,
    principal: PrincipalDep,
    collections: _CollectionsParam = None,
) -> Response:
    """All layers (or ``collections``) in one tile: MVT layers concatenate byte-wise."""
    z, x, y = tile
    parts = [await fetch_tile(conn, c, z, x, y, principal) for c in _layers(collections)]
    return _tile_response(b"".join(parts))
