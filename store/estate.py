"""The estate as the register, co-location and scenarios read it: sites, sources, areas.

Every query that returns sites, or anything derived from them (a cost rate, the data sources
a report lists), filters through :func:`store.access.visible_rows` for the caller; nothing
here writes that predicate itself. Uploaded assets are written by the load pipeline
(``etl.loading``), like every other file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from psycopg import AsyncConnection, Connection, sql

from spatial.crs import BNG
from store.access import Principal, visible_rows
from store.connection import read_frame

__all__ = [
    "SITE_COLUMNS",
    "area_polygons",
    "area_polygons_async",
    "cost_rate_sites",
    "data_sources",
    "has_active_sites",
    "hidden_datasets",
    "latest_load_id",
    "visible_sites",
]

#: Columns of :func:`visible_sites` (``x``/``y``: EPSG:27700 metres, NaN when unlocated).
SITE_COLUMNS = (
    "id",
    "source",
    "source_id",
    "name",
    "kind",
    "owner",
    "owner_type",
    "status",
    "tenure",
    "gia_m2",
    "land_ha",
    "running_cost_gbp",
    "backlog_gbp",
    "postcode",
    "organisation",
    "restricted",
    "attributes",
    "x",
    "y",
)
_NUMERIC = ("gia_m2", "land_ha", "running_cost_gbp", "backlog_gbp", "x", "y")


def visible_sites(
    conn: Connection[Any],
    principal: Principal,
    *,
    kinds: Sequence[str] | None = None,
    owner_types: Sequence[str] | None = None,
    located_only: bool = False,
    active_only: bool = True,
) -> pd.DataFrame:
    """Sites ``principal`` may see, ordered by id, with the columns of :data:`SITE_COLUMNS`.

    ``kinds`` / ``owner_types`` keep only those values; ``located_only`` only sites with a
    point; ``active_only`` only ``status = 'active'``.
    """
    vis, params = visible_rows(principal, alias="s")
    where: list[sql.Composable] = [vis]
    values: dict[str, Any] = dict(params)
    if kinds:
        where.append(sql.SQL("s.kind = ANY(%(kinds)s)"))
        values["kinds"] = list(kinds)
    if owner_types:
        where.append(sql.SQL("s.owner_type = ANY(%(owner_types)s)"))
        values["owner_types"] = list(owner_types)
    if located_only:
        where.append(sql.SQL("s.geom IS NOT NULL"))
    if active_only:
        where.append(sql.SQL("s.status = 'active'"))
    query = sql.SQL(
        "SELECT s.id, s.source, s.source_id, s.name, s.kind, s.owner, s.owner_type, s.status, "
        "s.tenure, s.gia_m2, s.land_ha, s.running_cost_gbp, s.backlog_gbp, s.postcode, "
        "s.organisation, s.restricted, s.attributes, ST_X(s.geom) AS x, ST_Y(s.geom) AS y "
        "FROM sites AS s WHERE {where} ORDER BY s.id"
    ).format(where=sql.SQL(" AND ").join(where))
    frame = read_frame(conn, query, values)
    if frame.empty:
        frame = pd.DataFrame(columns=list(SITE_COLUMNS))
    for col in _NUMERIC:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return frame


def cost_rate_sites(conn: Connection[Any], principal: Principal, *, source: str) -> pd.DataFrame:
    """``kind, gia_m2, running_cost_gbp`` of the active sites of ``source`` (e.g. ``eric``)
    that ``principal`` may see: the sites a floor-area-weighted £/m² rate is taken from."""
    vis, params = visible_rows(principal, alias="s")
    query = sql.SQL(
        "SELECT s.kind, s.gia_m2, s.running_cost_gbp FROM sites AS s "
        "WHERE s.source = %(source)s AND s.status = 'active' AND {vis}"
    ).format(vis=vis)
    return read_frame(conn, query, {**params, "source": source})


def latest_load_id(conn: Connection[Any]) -> int:
    """The newest ``data_loads.id`` (0 when nothing was loaded): changes with every load."""
    row = conn.execute("SELECT coalesce(max(id), 0) FROM data_loads").fetchone()
    return int(row[0]) if row else 0


def _load_visible(principal: Principal) -> tuple[sql.Composable, dict[str, Any]]:
    """Whether data load ``d`` may be shown to ``principal``: a load that wrote sites only when
    at least one of its sites is visible (:func:`store.access.visible_rows`), so another
    organisation's restricted upload (its file name, its organisation in the dataset name)
    stays hidden; loads without sites (areas, population, networks) are open data."""
    vis, params = visible_rows(principal, alias="s")
    clause = sql.SQL(
        "(NOT EXISTS (SELECT 1 FROM sites AS s0 WHERE s0.load_id = d.id) "
        "OR EXISTS (SELECT 1 FROM sites AS s WHERE s.load_id = d.id AND {vis}))"
    ).format(vis=vis)
    return clause, params


def data_sources(conn: Connection[Any], principal: Principal) -> list[tuple[str, str, str, str]]:
    """``(dataset, file, vintage, licence)`` of the active data loads ``principal`` may see
    (:func:`_load_visible`): the sources a report lists."""
    visible, params = _load_visible(principal)
    query = sql.SQL(
        "SELECT d.dataset, d.file_name, coalesce(d.vintage, ''), coalesce(d.licence, '') "
        "FROM data_loads AS d WHERE d.status = 'active' AND {visible} ORDER BY d.id"
    ).format(visible=visible)
    rows = conn.execute(query, params).fetchall()
    return [(str(a), str(b), str(c), str(d)) for a, b, c, d in rows]


async def hidden_datasets(conn: AsyncConnection[Any], principal: Principal) -> set[str]:
    """Datasets whose active loads ``principal`` may not see (:func:`_load_visible`), e.g.
    ``assets:<organisation>`` of another organisation's restricted upload: the sources a
    stored result recorded for its own organisation are shown to others without these."""
    visible, params = _load_visible(principal)
    query = sql.SQL(
        "SELECT DISTINCT d.dataset FROM data_loads AS d WHERE d.status = 'active' AND NOT {visible}"
    ).format(visible=visible)
    cur = await conn.execute(query, params)
    return {str(r[0]) for r in await cur.fetchall()}


_AREA_POLYGONS = (
    "SELECT code, ST_AsBinary(geom) FROM areas WHERE vintage = %(vintage)s "
    "AND (%(codes)s::text[] IS NULL OR code = ANY(%(codes)s::text[])) ORDER BY code"
)


def _area_frame(rows: Sequence[Any]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"area_code": [str(r[0]) for r in rows]},
        geometry=[shapely.from_wkb(bytes(r[1])) for r in rows],
        crs=BNG,
    )


def area_polygons(
    conn: Connection[Any], *, vintage: int, codes: Sequence[str] | None = None
) -> gpd.GeoDataFrame:
    """Area polygons of ``vintage`` (all, or those in ``codes``): ``area_code``, geometry
    (EPSG:27700)."""
    params = {"vintage": vintage, "codes": None if codes is None else list(codes)}
    return _area_frame(conn.execute(_AREA_POLYGONS, params).fetchall())


async def area_polygons_async(
    conn: AsyncConnection[Any], *, vintage: int, codes: Sequence[str] | None = None
) -> gpd.GeoDataFrame:
    """:func:`area_polygons` on the API's async connection (result downloads)."""
    params = {"vintage": vintage, "codes": None if codes is None else list(codes)}
    cur = await conn.execute(_AREA_POLYGONS, params)
    return _area_frame(await cur.fetchall())


async def has_active_sites(
    conn: AsyncConnection[Any], principal: Principal, kinds: Sequence[str]
) -> bool:
    """True when ``principal`` may see at least one active site of one of ``kinds``."""
    vis, params = visible_rows(principal, alias="s")
    query = sql.SQL(
        "SELECT EXISTS (SELECT 1 FROM sites AS s WHERE s.kind = ANY(%(kinds)s) "
        "AND s.status = 'active' AND {vis})"
    ).format(vis=vis)
    cur = await conn.execute(query, {**params, "kinds": list(kinds)})
    row = await cur.fetchone()
    return bool(row and row[0])
