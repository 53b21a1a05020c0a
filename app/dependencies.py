"""Request parsing as FastAPI dependencies (``Annotated`` aliases keep routes short).

Every parameter is validated here and a bad one raises :class:`app.errors.InvalidParameter`
naming it, which the problem+json handler turns into a 400. :func:`reject_nul_bytes` runs
before every route (``create_app`` installs it app-wide): no query or path parameter holding
a NUL character, which PostgreSQL text cannot store, reaches a route or the database.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Query, Request
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from app.auth import current_principal
from app.errors import CollectionNotFound, InvalidParameter, NotAcceptable
from config.settings import Settings
from store.access import Principal
from store.features import CRS84, CRS_SRID, EPSG_27700, REGISTRY, Collection, ItemsQuery

#: Valid coordinate ranges per bbox CRS (CRS84 in degrees, BNG in metres).
_BBOX_RANGE: dict[int, tuple[float, float, float, float]] = {
    4326: (-180.0, -90.0, 180.0, 90.0),
    27700: (-1_000_000.0, -1_000_000.0, 1_500_000.0, 2_500_000.0),
}
_MAX_OFFSET = 1_000_000
_ITEMS_PARAMS = frozenset(
    {"f", "bbox", "bbox-crs", "crs", "limit", "offset", "after", "datetime", "resultType"}
)
_DATETIME = re.compile(
    r"^(\.\.|\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))?)?"
    r"(/(\.\.|\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))?)?)?$"
)


def reject_nul_bytes(request: Request) -> None:
    """400 naming the first query or path parameter (name or value) with a NUL character.

    Installed as an app-wide dependency, so it runs before each route's own parameters are
    parsed: PostgreSQL cannot store NUL in text, and a value holding one would otherwise end
    as a database error (500) in whichever statement received it.
    """
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        if "\x00" in str(name) or "\x00" in str(value):
            raise InvalidParameter(
                f"parameter {name!r} contains a NUL character (%00), which is not allowed",
                parameter=str(name),
            )


def get_settings_dep(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def get_pool(request: Request) -> AsyncConnectionPool[Any]:
    """The app's connection pool (opened in the lifespan)."""
    pool: AsyncConnectionPool[Any] = request.app.state.pool
    return pool


PoolDep = Annotated[AsyncConnectionPool[Any], Depends(get_pool)]


async def get_connection(pool: PoolDep) -> AsyncIterator[AsyncConnection[Any]]:
    """A pooled connection for the request (autocommit, statement timeout set)."""
    async with pool.connection() as conn:
        yield conn


ConnectionDep = Annotated[AsyncConnection[Any], Depends(get_connection)]


#: Who is calling, from the API key (``app.auth``): the one place keys are resolved.
PrincipalDep = Annotated[Principal, Depends(current_principal)]


def get_collection(
    collectionId: Annotated[str, Path(description="collection id, see /collections")],
) -> Collection:
    """The registry entry for ``collectionId`` or 404."""
    collection = REGISTRY.get(collectionId)
    if collection is None:
        raise CollectionNotFound(f"no collection {collectionId!r}", parameter="collectionId")
    return collection


CollectionDep = Annotated[Collection, Depends(get_collection)]

OutputFormat = Literal["json", "html"]


def get_format(
    request: Request,
    f: Annotated[
        str | None,
        Query(description="output format: json (GeoJSON/JSON) or html; default from Accept"),
    ] = None,
) -> OutputFormat:
    """``f`` if given, else HTML only when the client prefers it (a browser)."""
    if f is not None:
        if f in ("json", "geojson", "application/json", "application/geo+json"):
            return "json"
        if f in ("html", "text/html"):
            return "html"
        raise NotAcceptable(f"format {f!r} is not offered; use json or html", parameter="f")
    accept = request.headers.get("accept", "")
    if "text/html" in accept and "json" not in accept.split("text/html")[0]:
        return "html"
    return "json"


FormatDep = Annotated[OutputFormat, Depends(get_format)]


def parse_crs(value: str | None, *, parameter: str) -> int:
    """SRID for a CRS URI (CRS84 or EPSG:27700), CRS84 when absent."""
    if value is None:
        return 4326
    uri = value.strip()
    if uri.startswith("[") and uri.endswith("]"):  # safe CURIE, e.g. [EPSG:27700]
        uri = uri[1:-1]
    aliases = {"EPSG:27700": EPSG_27700, "OGC:CRS84": CRS84}
    uri = aliases.get(uri, uri)
    srid = CRS_SRID.get(uri)
    if srid is None:
        raise InvalidParameter(
            f"unsupported CRS {value!r}; supported: {', '.join(CRS_SRID)}", parameter=parameter
        )
    return srid


def parse_bbox(value: str, srid: int) -> tuple[float, float, float, float]:
    """``minx,miny,maxx,maxy`` (or 6 numbers with heights) checked for order and range."""
    parts = value.split(",")
    if len(parts) not in (4, 6):
        raise InvalidParameter("bbox needs 4 (or 6) comma-separated numbers", parameter="bbox")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InvalidParameter(f"bbox {value!r} is not numeric", parameter="bbox") from None
    if not all(math.isfinite(n) for n in numbers):
        raise InvalidParameter("bbox values must be finite", parameter="bbox")
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    minx, miny, maxx, maxy = numbers
    lo_x, lo_y, hi_x, hi_y = _BBOX_RANGE[srid]
    if not (lo_x <= minx <= hi_x and lo_x <= maxx <= hi_x):
        raise InvalidParameter(f"bbox x outside [{lo_x}, {hi_x}]", parameter="bbox")
    if not (lo_y <= miny <= hi_y and lo_y <= maxy <= hi_y):
        raise InvalidParameter(f"bbox y outside [{lo_y}, {hi_y}]", parameter="bbox")
    if miny > maxy:
        raise InvalidParameter("bbox lower corner is north of the upper one", parameter="bbox")
    if minx > maxx:
        raise InvalidParameter(
            "bbox minx > maxx (antimeridian-crossing boxes are not supported)", parameter="bbox"
        )
    return (minx, miny, maxx, maxy)


def _parse_value(raw: str, kind: str, parameter: str) -> Any:
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise InvalidParameter(f"{parameter} must be an integer", parameter=parameter) from None
    if kind == "number":
        try:
            number = float(raw)
        except ValueError:
            raise InvalidParameter(f"{parameter} must be a number", parameter=parameter) from None
        if not math.isfinite(number):
            raise InvalidParameter(f"{parameter} must be finite", parameter=parameter)
        return number
    if kind == "boolean":
        if raw.lower() not in ("true", "false"):
            raise InvalidParameter(f"{parameter} must be true or false", parameter=parameter)
        return raw.lower() == "true"
    return raw


def property_filters(
    request: Request, collection: Collection, reserved: frozenset[str]
) -> dict[str, list[Any]]:
    """``name=value`` query parameters (not in ``reserved``) as filters on queryables.

    A comma-separated value, or the parameter repeated, matches any of the values; a name that
    is not a filterable property is a 400 naming it and the properties that are.
    """
    filters: dict[str, list[Any]] = {}
    for name in request.query_params:
        if name in reserved:
            continue
        prop = collection.get_property(name)
        if prop is None or not prop.filterable:
            allowed = ", ".join(p.name for p in collection.filterable)
            raise InvalidParameter(
                f"unknown parameter {name!r}; filterable properties: {allowed}", parameter=name
            )
        values = [v for raw in request.query_params.getlist(name) for v in raw.split(",")]
        filters[name] = [_parse_value(v, prop.type, name) for v in values]
    return filters


def get_items_query(
    request: Request,
    collection: CollectionDep,
    settings: SettingsDep,
    bbox: Annotated[
        str | None,
        Query(description="minx,miny,maxx,maxy in bbox-crs (default CRS84 lon/lat)"),
    ] = None,
    bbox_crs: Annotated[
        str | None,
        Query(alias="bbox-crs", description=f"CRS of bbox: {', '.join(CRS_SRID)}"),
    ] = None,
    crs: Annotated[
        str | None, Query(description=f"output CRS: {', '.join(CRS_SRID)}; default CRS84")
    ] = None,
    limit: Annotated[
        int | None, Query(description="features per page (1 to the configured maximum)")
    ] = None,
    offset: Annotated[int, Query(description="features to skip", ge=0, le=_MAX_OFFSET)] = 0,
    after: Annotated[
        str | None, Query(description="keyset cursor: the id of the last feature seen")
    ] = None,
    datetime: Annotated[
        str | None, Query(description="accepted for conformance; no collection is temporal")
    ] = None,
    resultType: Annotated[
        Literal["results", "hits"],
        Query(description="hits: only numberMatched, no features"),
    ] = "results",
) -> ItemsQuery:
    """All ``/items`` parameters, checked; other ``name=value`` pairs are property filters."""
    if limit is None:
        limit = settings.api.default_page_size
    if not 1 <= limit <= settings.api.max_page_size:
        raise InvalidParameter(
            f"limit must be between 1 and {settings.api.max_page_size}", parameter="limit"
        )
    bbox_srid = parse_crs(bbox_crs, parameter="bbox-crs")
    out_srid = parse_crs(crs, parameter="crs")
    parsed_bbox = parse_bbox(bbox, bbox_srid) if bbox is not None else None
    if datetime is not None and not _DATETIME.match(datetime):
        raise InvalidParameter("datetime must be RFC 3339 or an interval", parameter="datetime")
    after_key = None
    if after is not None:
        after_key = collection.parse_fid(after)
        if after_key is None:
            raise InvalidParameter(f"after {after!r} is not a feature id", parameter="after")
    filters = property_filters(request, collection, _ITEMS_PARAMS)
    return ItemsQuery(
        limit=limit,
        offset=offset,
        after=after_key,
        bbox=parsed_bbox,
        bbox_srid=bbox_srid,
        out_srid=out_srid,
        filters=filters,
    )


ItemsQueryDep = Annotated[ItemsQuery, Depends(get_items_query)]


def get_out_srid(
    crs: Annotated[
        str | None, Query(description=f"output CRS: {', '.join(CRS_SRID)}; default CRS84")
    ] = None,
) -> int:
    """The ``crs`` parameter of single-feature requests."""
    return parse_crs(crs, parameter="crs")


OutSridDep = Annotated[int, Depends(get_out_srid)]


def get_tile(
    z: Annotated[int, Path(description="zoom level, 0-24")],
    x: Annotated[int, Path(description="column, 0 to 2^z - 1")],
    y: Annotated[int, Path(description="row from the north, 0 to 2^z - 1")],
) -> tuple[int, int, int]:
    """WebMercatorQuad tile indices, checked."""
    if not 0 <= z <= 24:
        raise InvalidParameter("z must be between 0 and 24", parameter="z")
    n = 2**z
    if not 0 <= x < n:
        raise InvalidParameter(f"x must be between 0 and {n - 1} at zoom {z}", parameter="x")
    if not 0 <= y < n:
        raise InvalidParameter(f"y must be between 0 and {n - 1} at zoom {z}", parameter="y")
    return (z, x, y)


TileDep = Annotated[tuple[int, int, int], Depends(get_tile)]


def get_tile_filters(request: Request, collection: CollectionDep) -> dict[str, list[Any]]:
    """Property filters of a layer's tile request (``f`` is the only other parameter)."""
    return property_filters(request, collection, frozenset({"f"}))


TileFiltersDep = Annotated[dict[str, list[Any]], Depends(get_tile_filters)]
