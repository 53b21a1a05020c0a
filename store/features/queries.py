"""The SQL of the feature collections: items pages, single features, counts, extents.

Every statement is composed with :mod:`psycopg.sql`: table, column and property names come
from the registry (:mod:`store.features.registry`, fixed at import time) as quoted
identifiers; every value that came from a request (bbox, filters, limit, keys, tile indices,
the caller's organisation) is a bound parameter.

Row visibility is :func:`store.access.visible_rows`, applied through :func:`_visibility` by
every statement here (items, item, counts, extents, tiles): a restricted row reaches only
callers of its own organisation.

Output is built in SQL (``json_build_object``/``json_agg``, ``ST_AsGeoJSON``, ``ST_AsMVT``):
PostgreSQL writes the GeoJSON text and Python only splices it into the envelope, which keeps
pages of hundreds of features cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection, sql

from spatial.crs import AREA_OF_USE
from store.access import Principal, visible_rows
from store.features.registry import Collection, Property

__all__ = [
    "AREA_OF_USE",
    "PRECISION",
    "ItemsPage",
    "ItemsQuery",
    "clip_to_area_of_use",
    "count_items",
    "count_statement",
    "data_version",
    "extent_statement",
    "fetch_extent",
    "fetch_item",
    "fetch_items",
    "item_statement",
    "items_statement",
]

# Bboxes and tiles are clipped to the storage CRS's area of use (spatial.crs.AREA_OF_USE)
# before being projected, so a world-wide bbox or tile never reaches ST_Transform.
#: Coordinate decimals in GeoJSON output: 1e-7 degrees (~1 cm) or centimetres in BNG.
PRECISION: dict[int, int] = {4326: 7, 27700: 2}

#: The alias every statement gives the collection's table (registry ``where`` uses it too).
_ALIAS = "t"

# --------------------------------------------------------------------------------------------
# SQL building blocks


def _col(name: str) -> sql.Composable:
    return sql.Identifier(_ALIAS, name)


def _table(c: Collection, *, for_extent: bool = False) -> sql.Composable:
    name = (c.extent_table or c.table) if for_extent else c.table
    return sql.SQL("{} AS {}").format(sql.Identifier(name), sql.Identifier(_ALIAS))


def _visibility(c: Collection, principal: Principal, params: dict[str, Any]) -> sql.Composable:
    """The registry's fixed predicate and, for restricted collections, the visibility rule."""
    parts: list[sql.Composable] = []
    if c.where:
        parts.append(sql.SQL(c.where))  # fixed registry text, never request input
    if c.restricted_column:
        clause, clause_params = visible_rows(
            principal,
            alias=_ALIAS,
            restricted_column=c.restricted_column,
            organisation_column=c.organisation_column or "organisation",
        )
        params.update(clause_params)
        parts.append(clause)
    return sql.SQL(" AND ").join(parts) if parts else sql.SQL("TRUE")


def clip_to_area_of_use(
    bbox: tuple[float, float, float, float], srid: int
) -> tuple[float, float, float, float] | None:
    """A lon/lat bbox clipped to the storage CRS's area of use, or None if disjoint."""
    area = AREA_OF_USE.get(srid)
    if area is None:
        return bbox
    minx, miny = max(bbox[0], area[0]), max(bbox[1], area[1])
    maxx, maxy = min(bbox[2], area[2]), min(bbox[3], area[3])
    if minx > maxx or miny > maxy:
        return None
    return (minx, miny, maxx, maxy)


def _bbox_filter(
    c: Collection,
    bbox: tuple[float, float, float, float],
    bbox_srid: int,
    params: dict[str, Any],
) -> sql.Composable:
    """``ST_Intersects`` against the bbox projected to the column SRID (GiST index used)."""
    params.update(bx0=bbox[0], by0=bbox[1], bx1=bbox[2], by1=bbox[3])
    envelope = sql.SQL("ST_MakeEnvelope(%(bx0)s, %(by0)s, %(bx1)s, %(by1)s, {srid})").format(
        srid=sql.Literal(bbox_srid)
    )
    if bbox_srid != c.storage_srid:
        # Densify so the projected box keeps its curved edges (1/32 of the box per segment).
        params["seg"] = max(bbox[2] - bbox[0], bbox[3] - bbox[1]) / 32 or 1e-6
        envelope = sql.SQL("ST_Transform(ST_Segmentize({e}, %(seg)s), {srid})").format(
            e=envelope, srid=sql.Literal(c.storage_srid)
        )
    return sql.SQL("ST_Intersects({g}, {e})").format(g=_col(c.geometry_column), e=envelope)


def _property_filters(
    c: Collection, filters: dict[str, list[Any]], params: dict[str, Any]
) -> list[sql.Composable]:
    parts: list[sql.Composable] = []
    for i, (name, values) in enumerate(sorted(filters.items())):
        prop = c.get_property(name)
        assert prop is not None  # unknown and non-filterable names rejected by the dependency
        params[f"f{i}"] = values
        parts.append(sql.SQL("{} = ANY({})").format(_col(prop.source), sql.Placeholder(f"f{i}")))
    return parts


def _fid_expr(c: Collection) -> sql.Composable:
    if len(c.key) == 1:
        return _col(c.key[0])
    return sql.SQL("concat_ws('.', {})").format(sql.SQL(", ").join(_col(k) for k in c.key))


def _order(c: Collection) -> sql.Composable:
    return sql.SQL(", ").join(_col(k) for k in c.key)


def _value(p: Property) -> sql.Composable:
    return _col(p.source)


def _feature_json(c: Collection, out_srid: int) -> sql.Composable:
    geom = _col(c.geometry_column)
    stored = c.projected(out_srid)
    if stored is not None:
        geom = _col(stored)
    elif out_srid != c.storage_srid:
        geom = sql.SQL("ST_Transform({}, {})").format(geom, sql.Literal(out_srid))
    props = sql.SQL(", ").join(
        sql.SQL("{}, {}").format(sql.Literal(p.name), _value(p)) for p in c.properties
    )
    return sql.SQL(
        "json_build_object('type', 'Feature', 'id', {fid}, "
        "'geometry', ST_AsGeoJSON({geom}, {prec}, 0)::json, "
        "'properties', json_build_object({props}))"
    ).format(
        fid=_fid_expr(c),
        geom=geom,
        prec=sql.Literal(PRECISION.get(out_srid, 7)),
        props=props,
    )


@dataclass
class ItemsQuery:
    """A parsed ``/items`` request (see :mod:`app.dependencies`)."""

    limit: int
    offset: int = 0
    after: tuple[Any, ...] | None = None
    bbox: tuple[float, float, float, float] | None = None
    bbox_srid: int = 4326
    out_srid: int = 4326
    filters: dict[str, list[Any]] = field(default_factory=dict)


def _where(
    c: Collection, q: ItemsQuery, principal: Principal, params: dict[str, Any]
) -> sql.Composable | None:
    """The WHERE clause, or None when the bbox cannot match anything (outside the CRS)."""
    parts = [_visibility(c, principal, params)]
    if q.bbox is not None:
        bbox = q.bbox
        if q.bbox_srid != c.storage_srid:
            clipped = clip_to_area_of_use(bbox, c.storage_srid)
            if clipped is None:
                return None
            bbox = clipped
        parts.append(_bbox_filter(c, bbox, q.bbox_srid, params))
    parts.extend(_property_filters(c, q.filters, params))
    return sql.SQL(" AND ").join(parts)


def items_statement(
    c: Collection, q: ItemsQuery, principal: Principal
) -> tuple[sql.Composed, dict[str, Any]] | None:
    """One statement returning (features JSON array, count, last fid, has more)."""
    params: dict[str, Any] = {"limit": q.limit, "offset": q.offset}
    where = _where(c, q, principal, params)
    if where is None:
        return None
    if q.after is not None:
        for i, value in enumerate(q.after):
            params[f"k{i}"] = value
        keys = sql.SQL(", ").join(sql.Placeholder(f"k{i}") for i in range(len(c.key)))
        where = sql.SQL("{} AND ({}) > ({})").format(where, _order(c), keys)
    key_cols = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(_col(k), sql.Identifier(f"_k{i}")) for i, k in enumerate(c.key)
    )
    key_order = sql.SQL(", ").join(sql.Identifier(f"_k{i}") for i in range(len(c.key)))
    join = sql.SQL(" AND ").join(
        sql.SQL("{} = p.{}").format(_col(k), sql.Identifier(f"_k{i}")) for i, k in enumerate(c.key)
    )
    # The page's keys first (LIMIT/OFFSET over keys only), then the features of those rows:
    # skipped rows (offset) and the look-ahead row are never turned into GeoJSON.
    stmt = sql.SQL(
        "WITH keys AS ("
        " SELECT {key_cols} FROM {table} WHERE {where} ORDER BY {order}"
        " LIMIT %(limit)s + 1 OFFSET %(offset)s"
        "), page AS (SELECT row_number() OVER (ORDER BY {key_order}) AS _rn, * FROM keys)"
        " SELECT coalesce(json_agg({feature} ORDER BY p._rn) FILTER (WHERE p._rn <= %(limit)s),"
        " '[]')::text, count(*) FILTER (WHERE p._rn <= %(limit)s),"
        " max({fid}::text) FILTER (WHERE p._rn = %(limit)s), count(*) > %(limit)s"
        " FROM page AS p JOIN {table} ON {join}"
    ).format(
        key_cols=key_cols,
        fid=_fid_expr(c),
        feature=_feature_json(c, q.out_srid),
        table=_table(c),
        where=where,
        order=_order(c),
        key_order=key_order,
        join=join,
    )
    return stmt, params


def count_statement(
    c: Collection, q: ItemsQuery, principal: Principal
) -> tuple[sql.Composed, dict[str, Any]] | None:
    """``count(*)`` of the features matching ``q`` (for ``resultType=hits`` only)."""
    params: dict[str, Any] = {}
    where = _where(c, q, principal, params)
    if where is None:
        return None
    return sql.SQL("SELECT count(*) FROM {} WHERE {}").format(_table(c), where), params


def item_statement(
    c: Collection, key: tuple[Any, ...], out_srid: int, principal: Principal
) -> tuple[sql.Composed, dict[str, Any]]:
    """One feature as GeoJSON text, or no row."""
    params: dict[str, Any] = {f"k{i}": v for i, v in enumerate(key)}
    match = sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(_col(k), sql.Placeholder(f"k{i}")) for i, k in enumerate(c.key)
    )
    where = sql.SQL("{} AND {}").format(_visibility(c, principal, params), match)
    stmt = sql.SQL("SELECT {}::text FROM {} WHERE {}").format(
        _feature_json(c, out_srid), _table(c), where
    )
    return stmt, params


def extent_statement(c: Collection, principal: Principal) -> tuple[sql.Composed, dict[str, Any]]:
    """The collection's bbox in CRS84 (each feature's envelope projected), NULLs if empty."""
    params: dict[str, Any] = {}
    where = _visibility(c, principal, params)
    stmt = sql.SQL(
        "WITH e AS (SELECT ST_Extent(ST_Transform(ST_Envelope({g}), 4326))::geometry AS g"
        " FROM {table} WHERE {where})"
        " SELECT ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g) FROM e"
    ).format(
        g=_col(c.geometry_column),
        table=_table(c, for_extent=True),
        where=where,
    )
    return stmt, params


# --------------------------------------------------------------------------------------------
# Running the statements


@dataclass
class ItemsPage:
    """One page of features: the GeoJSON array text and what the links need."""

    features_json: str
    returned: int
    last_fid: str | None
    has_more: bool


async def fetch_items(
    conn: AsyncConnection[Any], c: Collection, q: ItemsQuery, principal: Principal
) -> ItemsPage:
    """Run :func:`items_statement`."""
    built = items_statement(c, q, principal)
    if built is None:
        return ItemsPage("[]", 0, None, False)
    stmt, params = built
    cur = await conn.execute(stmt, params)
    row = await cur.fetchone()
    assert row is not None
    return ItemsPage(row[0], int(row[1]), row[2], bool(row[3]))


async def count_items(
    conn: AsyncConnection[Any], c: Collection, q: ItemsQuery, principal: Principal
) -> int:
    """Run :func:`count_statement`."""
    built = count_statement(c, q, principal)
    if built is None:
        return 0
    stmt, params = built
    cur = await conn.execute(stmt, params)
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def fetch_item(
    conn: AsyncConnection[Any], c: Collection, key: tuple[Any, ...], out_srid: int, p: Principal
) -> str | None:
    """Run :func:`item_statement`: the feature's GeoJSON text or None."""
    stmt, params = item_statement(c, key, out_srid, p)
    cur = await conn.execute(stmt, params)
    row = await cur.fetchone()
    return row[0] if row else None


async def fetch_extent(
    conn: AsyncConnection[Any], c: Collection, principal: Principal
) -> tuple[float, float, float, float] | None:
    """Run :func:`extent_statement`."""
    stmt, params = extent_statement(c, principal)
    cur = await conn.execute(stmt, params)
    row = await cur.fetchone()
    if row is None or row[0] is None:
        return None
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


async def data_version(conn: AsyncConnection[Any]) -> str:
    """``count-maxid`` of ``data_changes``: moves with every committed change of served data.

    Migration 0008 writes one ``data_changes`` row per transaction that changed a table a
    collection reads, committed with the data; the count grows even when transactions commit
    out of id order, so a response rendered after the version was read is never older than it.
    """
    cur = await conn.execute("SELECT count(*), coalesce(max(id), 0) FROM data_changes")
    row = await cur.fetchone()
    if row is None:  # an aggregate always returns one row
        raise RuntimeError("data_changes returned no row")
    return f"{row[0]}-{row[1]}"
