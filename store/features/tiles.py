"""The SQL of vector tiles: one ``ST_AsMVT`` statement per layer, bounded whatever is stored.

A tile's work must not grow with what is stored (issue 17: 856 stored catchment bands made a
zoom-10 tile run past the 15 s statement timeout). Three rules keep it bounded:

- **Generalised geometry per zoom.** A layer with :class:`~store.features.registry.TileParts`
  (catchments) reads, by index, the stored piece of each feature inside the tile, already
  cut to the tile, simplified to a pixel of its zoom and made ready for ``ST_AsMVT``
  (migration 0012): nothing outside the tile is read and, up to zoom 14, nothing is clipped
  or validated per request. Other polygon and line layers are simplified in SQL with the
  same tolerance (one pixel of a 512-pixel tile, :func:`tolerance`) before
  ``ST_AsMVTGeom``, on their stored Web Mercator copy; they hold what loads bring (areas,
  road network), not what use accumulates.
- **Feature and size limits per layer** (:class:`TileLimits`). Candidates are ranked, largest
  first (area of their bounding box in the tile; points by key), and a feature is kept while
  the layer holds at most ``max_features`` and the estimated MVT size of the kept features
  stays within ``max_bytes`` (:func:`_estimate`: the stored encoded size of a piece, or 5
  bytes a vertex, plus the feature's tags and text values). Everything past the limits is
  dropped, the smallest first, before any geometry is read, clipped or encoded;
  :class:`TileLayer` says how many were dropped.
- **A statement budget** is the caller's (``SET LOCAL statement_timeout``, see
  :mod:`app.services.tiles`).

Identifiers come from the registry; tile indices, limits, filters and the caller's
organisation are bound parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, sql

from store.access import Principal
from store.features.queries import (
    _bbox_filter,
    _col,
    _property_filters,
    _table,
    _value,
    _visibility,
    clip_to_area_of_use,
)
from store.features.registry import Collection

__all__ = [
    "MVT_BUFFER",
    "MVT_EXTENT",
    "WEB_MERCATOR_WIDTH",
    "TileLayer",
    "TileLimits",
    "fetch_tile",
    "tile_lonlat_bounds",
    "tile_statement",
    "tolerance",
]

MVT_EXTENT = 4096
MVT_BUFFER = 64
#: Width of the Web Mercator world in metres: a zoom-z tile is this / 2^z wide.
WEB_MERCATOR_WIDTH = 40075016.68557849
#: Pixels a tile is drawn over (MapLibre draws vector tiles at 512 px).
_TILE_PIXELS = 512
#: Estimated MVT bytes: per vertex (two zig-zag varints of at most 2 bytes, plus ring
#: commands), per feature (id, type, lengths) and per property (tag pair, a numeric value).
_BYTES_PER_VERTEX = 5
_BYTES_PER_FEATURE = 32
_BYTES_PER_PROPERTY = 16


def tolerance(z: int) -> float:
    """Simplification tolerance at zoom ``z``, Web Mercator metres: one pixel of the tile."""
    return WEB_MERCATOR_WIDTH / (_TILE_PIXELS * 2.0**z)


@dataclass(frozen=True)
class TileLimits:
    """What one layer of a tile may hold."""

    max_features: int
    max_bytes: int


@dataclass(frozen=True)
class TileLayer:
    """One rendered layer: the MVT bytes and how many features the limits let through."""

    data: bytes
    #: Features encoded (those whose clipped geometry was not empty).
    features: int
    #: Features kept by the limits, and features that touched the tile before them.
    kept: int
    candidates: int

    @property
    def truncated(self) -> bool:
        """True when the limits dropped features."""
        return self.kept < self.candidates


def tile_lonlat_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """WebMercatorQuad tile ``z/x/y`` as (west, south, east, north) in degrees."""
    n = 2.0**z

    def lat(row: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return (x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y))


def _estimate(c: Collection, geometry_bytes: sql.Composable) -> sql.Composable:
    """Upper bound of a feature's bytes in the MVT layer: ``geometry_bytes`` plus its tags
    and text values."""
    text = [
        sql.SQL("coalesce(octet_length({}::text), 0)").format(_value(p))
        for p in c.properties
        if p.type in ("string", "date")
    ]
    fixed = _BYTES_PER_FEATURE + _BYTES_PER_PROPERTY * len(c.properties)
    return sql.SQL("{geometry} + {fixed}{text}").format(
        geometry=geometry_bytes,
        fixed=sql.Literal(fixed),
        text=sql.SQL("").join(sql.SQL(" + {}").format(t) for t in text),
    )


def _columns(c: Collection) -> sql.Composable:
    """The properties (by output name), ``_fid`` for a single integer key, and ``_k*`` keys."""
    cols = [
        sql.SQL("{}::text AS {}" if p.type == "date" else "{} AS {}").format(
            _value(p), sql.Identifier(p.name)
        )
        for p in c.properties
    ]
    if _has_fid(c):
        cols.append(sql.SQL("{} AS _fid").format(_col(c.key[0])))
    cols += [
        sql.SQL("{} AS {}").format(_col(k), sql.Identifier(f"_k{i}")) for i, k in enumerate(c.key)
    ]
    return sql.SQL(", ").join(cols)


def _has_fid(c: Collection) -> bool:
    return len(c.key) == 1 and c.key_types[0] is int


def _parts_source(
    c: Collection, z: int, x: int, y: int, where: sql.Composable, params: dict[str, Any]
) -> tuple[sql.Composable, sql.Composable]:
    """Candidates and MVT geometry (over ``ranked AS r``) of a layer with stored tile parts.

    Candidates carry no geometry (``bytes`` and ``area`` are stored); the kept ones read
    their piece. A tile deeper than the parts' last zoom maps its ancestor's piece back from
    tile units to Web Mercator and clips it.
    """
    parts = c.tile_parts
    assert parts is not None
    pz, px, py = parts.source_tile(z, x, y)
    params.update(pz=pz, px=px, py=py)
    candidates = sql.SQL(
        "SELECT p.{part_key} AS _pid, {estimate} AS _bytes1,"
        " p.area AS _prio, {columns}"
        " FROM {parts} AS p JOIN {table} ON {key} = p.{part_key}"
        " WHERE p.z = %(pz)s AND p.x = %(px)s AND p.y = %(py)s AND {where}"
    ).format(
        part_key=sql.Identifier(parts.key_column),
        estimate=_estimate(c, sql.SQL("p.bytes")),
        columns=_columns(c),
        parts=sql.Identifier(parts.table),
        table=_table(c),
        key=_col(c.key[0]),
        where=where,
    )
    # The kept features' pieces, each one probe of the (z, x, y, key) index.
    piece = sql.SQL(
        "(SELECT q.geom FROM {parts} AS q WHERE q.{part_key} = r._pid"
        " AND q.z = %(pz)s AND q.x = %(px)s AND q.y = %(py)s)"
    ).format(parts=sql.Identifier(parts.table), part_key=sql.Identifier(parts.key_column))
    geom: sql.Composable = piece
    if pz != z:
        width = WEB_MERCATOR_WIDTH / 2**pz
        params.update(
            unit=width / MVT_EXTENT,
            west=-WEB_MERCATOR_WIDTH / 2 + px * width,
            north=WEB_MERCATOR_WIDTH / 2 - py * width,
        )
        geom = sql.SQL(
            "ST_AsMVTGeom(ST_Affine({piece}, %(unit)s, 0, 0, -%(unit)s, %(west)s, %(north)s),"
            " ST_TileEnvelope(%(z)s, %(x)s, %(y)s)::box2d, {extent}, {buffer}, true)"
        ).format(piece=piece, extent=sql.Literal(MVT_EXTENT), buffer=sql.Literal(MVT_BUFFER))
    return candidates, geom


def _table_source(
    c: Collection, z: int, x: int, y: int, where: sql.Composable, params: dict[str, Any]
) -> tuple[sql.Composable, sql.Composable] | None:
    """Candidates and MVT geometry (over ``ranked AS r``) of a layer read from its table, or
    None when the tile lies outside the storage CRS's area of use."""
    stored = c.projected(3857)
    if stored is not None:
        # Web Mercator copy with its own index: the tile plus its buffer, no transform.
        params["margin"] = MVT_BUFFER / MVT_EXTENT
        g: sql.Composable = _col(stored)
        search: sql.Composable = sql.SQL(
            "{} && ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(margin)s)"
        ).format(g)
    else:
        west, south, east, north = tile_lonlat_bounds(z, x, y)
        # Search box: the tile plus its MVT buffer, in lon/lat, clipped to the area of use.
        pad_x = (east - west) * MVT_BUFFER / MVT_EXTENT
        pad_y = (north - south) * MVT_BUFFER / MVT_EXTENT
        box = (west - pad_x, max(south - pad_y, -85.06), east + pad_x, min(north + pad_y, 85.06))
        clipped = clip_to_area_of_use(box, c.storage_srid)
        if clipped is None:
            return None
        g = sql.SQL("ST_Transform({}, 3857)").format(_col(c.geometry_column))
        search = _bbox_filter(c, clipped, 4326, params)
    candidates = sql.SQL(
        "SELECT {g} AS _g, {estimate} AS _bytes1,"
        " ST_Area(Box2D({g})) AS _prio, {columns} FROM {table} WHERE {where} AND {search}"
    ).format(
        g=g,
        estimate=_estimate(
            c, sql.SQL("{} * ST_NPoints({})").format(sql.Literal(_BYTES_PER_VERTEX), g)
        ),
        columns=_columns(c),
        table=_table(c),
        where=where,
        search=search,
    )
    geom: sql.Composable = sql.SQL("r._g")
    if c.geometry_type != "Point":
        # Simplified to a pixel of the zoom before clipping, kept features only.
        params["tolerance"] = tolerance(z)
        geom = sql.SQL("ST_Simplify(r._g, %(tolerance)s, true)")
    geom = sql.SQL(
        "ST_AsMVTGeom({g}, ST_TileEnvelope(%(z)s, %(x)s, %(y)s)::box2d, {extent}, {buffer}, true)"
    ).format(g=geom, extent=sql.Literal(MVT_EXTENT), buffer=sql.Literal(MVT_BUFFER))
    return candidates, geom


def tile_statement(
    c: Collection,
    z: int,
    x: int,
    y: int,
    principal: Principal,
    limits: TileLimits,
    filters: dict[str, list[Any]] | None = None,
) -> tuple[sql.Composed, dict[str, Any]] | None:
    """One statement returning ``(mvt, features, kept, candidates)`` for one layer, or None
    when the tile cannot hold data (outside the layer's zoom range or the CRS's area)."""
    if z < c.tile_minzoom or z > c.tile_maxzoom:
        return None
    params: dict[str, Any] = {
        "z": z,
        "x": x,
        "y": y,
        "max_features": limits.max_features,
        "max_bytes": limits.max_bytes,
    }
    where = sql.SQL(" AND ").join(
        [_visibility(c, principal, params), *_property_filters(c, filters or {}, params)]
    )
    if c.tile_parts is not None:
        built: tuple[sql.Composable, sql.Composable] | None = _parts_source(
            c, z, x, y, where, params
        )
    else:
        built = _table_source(c, z, x, y, where, params)
    if built is None:
        return None
    candidates, geom = built
    names = [sql.Identifier(p.name) for p in c.properties]
    feature_id: sql.Composable = sql.SQL(", r._fid") if _has_fid(c) else sql.SQL("")
    id_arg: sql.Composable = sql.Literal("_fid") if _has_fid(c) else sql.SQL("NULL")
    names_r = sql.SQL(", ").join(sql.SQL("r.{}").format(n) for n in names)
    key_order = sql.SQL(", ").join(sql.Identifier(f"_k{i}") for i in range(len(c.key)))
    stmt = sql.SQL(
        "WITH cand AS ({candidates}),"
        " ranked AS (SELECT cand.*, row_number() OVER w AS _rank,"
        " sum(_bytes1) OVER w AS _bytes FROM cand"
        " WINDOW w AS (ORDER BY _prio DESC, {key_order} ROWS UNBOUNDED PRECEDING)),"
        " mvt AS (SELECT {geom} AS _geom, {names}{feature_id} FROM ranked AS r"
        " WHERE r._rank <= %(max_features)s AND r._bytes <= %(max_bytes)s)"
        " SELECT (SELECT ST_AsMVT(m.*, {layer}, {extent}, '_geom', {id_arg})"
        " FROM mvt AS m WHERE m._geom IS NOT NULL),"
        " (SELECT count(*) FROM mvt WHERE _geom IS NOT NULL),"
        " (SELECT count(*) FROM ranked WHERE _rank <= %(max_features)s"
        " AND _bytes <= %(max_bytes)s),"
        " (SELECT count(*) FROM ranked)"
    ).format(
        candidates=candidates,
        key_order=key_order,
        geom=geom,
        names=names_r,
        feature_id=feature_id,
        layer=sql.Literal(c.id),
        extent=sql.Literal(MVT_EXTENT),
        id_arg=id_arg,
    )
    return stmt, params


_EMPTY = TileLayer(b"", 0, 0, 0)


async def fetch_tile(
    conn: AsyncConnection[Any],
    c: Collection,
    z: int,
    x: int,
    y: int,
    principal: Principal,
    limits: TileLimits,
    filters: dict[str, list[Any]] | None = None,
) -> TileLayer:
    """Run :func:`tile_statement`; the layer within ``limits``.

    The size estimate is an upper bound for ordinary properties; should a layer still come
    out larger than ``limits.max_bytes`` (very long text values), it is rendered again with
    the byte budget scaled down, twice at most, then left out (and counted as dropped).
    """
    budget = limits.max_bytes
    for _ in range(3):
        within = TileLimits(limits.max_features, budget)
        built = tile_statement(c, z, x, y, principal, within, filters)
        if built is None:
            return _EMPTY
        stmt, params = built
        cur = await conn.execute(stmt, params)
        row = await cur.fetchone()
        if row is None:  # aggregates always return one row
            raise RuntimeError("tile statement returned no row")
        data = bytes(row[0]) if row[0] is not None else b""
        layer = TileLayer(data, int(row[1]), int(row[2]), int(row[3]))
        if len(data) <= limits.max_bytes:
            return layer
        budget = int(budget * limits.max_bytes / len(data) * 0.9)
    return TileLayer(b"", 0, 0, layer.candidates)
