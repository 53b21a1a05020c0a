"""Reads and writes of the job processes' results: hub-siting inputs and catchment bands.

Hub siting reads the candidate sites a caller may see, the demand areas and the stored
area → site travel times to those candidates; its downloads read area polygons. The
catchments process selects sites, reads stored travel times computed on one network load, and
replaces the stored bands of its sites (``catchments``) in one transaction.

Every query that returns sites, or figures derived from them (travel times, bands), filters
the sites through :func:`store.access.visible_rows`: a job run for one organisation never reads
or writes another organisation's restricted sites. The API side (``precheck`` of a process, a
download) is async on the app's pool; the worker side is sync on its batch
:class:`store.connection.Database`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import psycopg
from psycopg import AsyncConnection, Connection, sql

from spatial.crs import BNG, WGS84
from spatial.modes import Mode
from store.access import Principal, visible_rows
from store.connection import Database, read_frame

__all__ = [
    "CatchmentStage",
    "StagedBand",
    "area_shapes",
    "candidate_site_kinds",
    "candidate_sites",
    "catchment_site_ids",
    "catchment_sites",
    "catchment_stage",
    "demand_areas",
    "mode_data_loaded",
    "site_travel_times",
    "stored_seconds",
]

#: One lock for every writer of ``catchments`` (two jobs replacing the same site's bands).
_CATCHMENTS_LOCK = "locus:catchments"

# Active, located sites: the only ones a process may choose or compute.
_SITE_IN_SERVICE = sql.SQL("s.status = 'active' AND s.geom IS NOT NULL")


# ------------------------------------------------------------------------------ hub siting
def _candidates(
    principal: Principal, kinds: Sequence[str], columns: sql.Composable
) -> tuple[sql.Composed, dict[str, Any]]:
    """Active, located sites of ``kinds`` that ``principal`` may see, by id."""
    visible, params = visible_rows(principal, alias="s")
    query = sql.SQL(
        "SELECT {columns} FROM sites AS s WHERE s.kind = ANY(%(kinds)s) AND {in_service} "
        "AND {visible} ORDER BY s.id"
    ).format(columns=columns, in_service=_SITE_IN_SERVICE, visible=visible)
    return query, {**params, "kinds": list(kinds)}


async def candidate_site_kinds(
    conn: AsyncConnection[Any], principal: Principal, kinds: Sequence[str]
) -> dict[int, str]:
    """Id → kind of the active, located sites of ``kinds`` that ``principal`` may see."""
    query, params = _candidates(principal, kinds, sql.SQL("s.id, s.kind"))
    cur = await conn.execute(query, params)
    return {int(r[0]): str(r[1]) for r in await cur.fetchall()}


def candidate_sites(
    conn: Connection[Any], principal: Principal, kinds: Sequence[str]
) -> pd.DataFrame:
    """The active, located sites of ``kinds`` that ``principal`` may see, by id.

    Columns ``id, name, kind, lon, lat`` (WGS84 degrees).
    """
    columns = sql.SQL(
        "s.id, s.name, s.kind, ST_X(ST_Transform(s.geom, %(wgs84)s)) AS lon, "
        "ST_Y(ST_Transform(s.geom, %(wgs84)s)) AS lat"
    )
    query, params = _candidates(principal, kinds, columns)
    frame = read_frame(conn, query, {**params, "wgs84": WGS84})
    if frame.empty:
        return pd.DataFrame(columns=["id", "name", "kind", "lon", "lat"])
    return frame


def demand_areas(conn: Connection[Any], *, area_vintage: int) -> pd.DataFrame:
    """The LSOAs of a vintage with their demand figures, by code.

    Columns ``code, population, pop_65_plus, imd_decile`` (view ``areas_features``: latest
    population source, 65+ where age bands are known, IMD decile of the best-fit 2011 LSOA).
    """
    frame = read_frame(
        conn,
        "SELECT code, population, pop_65_plus, imd_decile FROM areas_features "
        "WHERE vintage = %(vintage)s AND level = 'lsoa' ORDER BY code",
        {"vintage": area_vintage},
    )
    if frame.empty:
        return pd.DataFrame(columns=["code", "population", "pop_65_plus", "imd_decile"])
    return frame


def site_travel_times(
    conn: Connection[Any],
    principal: Principal,
    *,
    mode: Mode,
    area_vintage: int,
    site_ids: Sequence[int],
) -> pd.DataFrame:
    """Stored area → site seconds to the sites of ``site_ids`` that ``principal`` may see.

    Long format (r5py's): ``from_id`` (area code), ``to_id`` (site id), ``mode``, ``seconds``.
    """
    visible, params = visible_rows(principal, alias="s")
    query = sql.SQL(
        "SELECT t.area_code AS from_id, t.site_id AS to_id, t.mode, t.seconds "
        "FROM travel_times AS t JOIN sites AS s ON s.id = t.site_id "
        "WHERE t.mode = %(mode)s AND t.area_vintage = %(vintage)s AND t.site_id = ANY(%(ids)s) "
        "AND {visible}"
    ).format(visible=visible)
    frame = read_frame(
        conn, query, {**params, "mode": mode, "vintage": area_vintage, "ids": list(site_ids)}
    )
    if frame.empty:
        return pd.DataFrame(columns=["from_id", "to_id", "mode", "seconds"])
    return frame


async def area_shapes(
    conn: AsyncConnection[Any], codes: Sequence[str], *, area_vintage: int, srid: int = WGS84
) -> dict[str, bytes]:
    """Area code → polygon (WKB in EPSG ``srid``) of the listed areas of a vintage.

    Areas are open data (no visibility rule): the caller already holds the codes from a job
    result it may read.
    """
    cur = await conn.execute(
        "SELECT code, ST_AsBinary(ST_Transform(geom, %(srid)s)) FROM areas "
        "WHERE vintage = %(vintage)s AND code = ANY(%(codes)s)",
        {"srid": srid, "vintage": area_vintage, "codes": list(codes)},
    )
    return {str(code): bytes(wkb) for code, wkb in await cur.fetchall()}


# ------------------------------------------------------------------------------ catchments
def _chosen_sites(
    principal: Principal,
    *,
    site_ids: Sequence[int] | None,
    kinds: Sequence[str] | None,
    columns: sql.Composable,
) -> tuple[sql.Composed, dict[str, Any]]:
    """Sites by id (when ``site_ids``) else by kind, active, located and visible."""
    visible, params = visible_rows(principal, alias="s")
    if site_ids is not None:
        chosen = sql.SQL("s.id = ANY(%(ids)s)")
        params = {**params, "ids": list(site_ids)}
    else:
        chosen = sql.SQL("s.kind = ANY(%(kinds)s)")
        params = {**params, "kinds": list(kinds or ())}
    query = sql.SQL(
        "SELECT {columns} FROM sites AS s WHERE {chosen} AND {in_service} AND {visible} "
        "ORDER BY s.id"
    ).format(columns=columns, chosen=chosen, in_service=_SITE_IN_SERVICE, visible=visible)
    return query, params


async def catchment_site_ids(
    conn: AsyncConnection[Any],
    principal: Principal,
    *,
    site_ids: Sequence[int] | None = None,
    kinds: Sequence[str] | None = None,
) -> set[int]:
    """Ids of the chosen sites (by id, else by kind) that are usable and ``principal`` may see."""
    query, params = _chosen_sites(
        principal, site_ids=site_ids, kinds=kinds, columns=sql.SQL("s.id")
    )
    cur = await conn.execute(query, params)
    return {int(r[0]) for r in await cur.fetchall()}


def catchment_sites(
    conn: Connection[Any],
    principal: Principal,
    *,
    site_ids: Sequence[int] | None = None,
    kinds: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The chosen sites (by id, else by kind) that are usable and ``principal`` may see.

    Columns ``id, source_id, name, kind, x, y`` (EPSG:27700 metres), by id.
    """
    query, params = _chosen_sites(
        principal,
        site_ids=site_ids,
        kinds=kinds,
        columns=sql.SQL("s.id, s.source_id, s.name, s.kind, ST_X(s.geom) AS x, ST_Y(s.geom) AS y"),
    )
    frame = read_frame(conn, query, params)
    if frame.empty:
        return pd.DataFrame(columns=["id", "source_id", "name", "kind", "x", "y"])
    return frame


async def mode_data_loaded(conn: AsyncConnection[Any], mode: Mode) -> bool:
    """True when what ``mode`` runs on is loaded: the active road network's graph of that mode,
    or for ``transit`` a GTFS feed of an active load."""
    if mode == "transit":
        cur = await conn.execute(
            "SELECT EXISTS (SELECT 1 FROM transit_feeds f JOIN data_loads d ON d.id = f.load_id "
            "WHERE d.status = 'active')"
        )
    else:
        cur = await conn.execute(
            "SELECT EXISTS (SELECT 1 FROM network_nodes WHERE mode = %(mode)s AND load_id = "
            "(SELECT max(id) FROM data_loads WHERE dataset = 'osm-network' AND status = 'active'))",
            {"mode": mode},
        )
    row = await cur.fetchone()
    return bool(row and row[0])


def stored_seconds(
    conn: Connection[Any],
    principal: Principal,
    *,
    mode: Mode,
    area_vintage: int,
    load_id: int,
    site_ids: Sequence[int],
) -> pd.DataFrame:
    """Stored area → site seconds computed on network (or feed) load ``load_id``.

    Only sites of ``site_ids`` that ``principal`` may see. Columns ``area_code, site_id,
    seconds``.
    """
    visible, params = visible_rows(principal, alias="s")
    query = sql.SQL(
        "SELECT t.area_code, t.site_id, t.seconds FROM travel_times AS t "
        "JOIN sites AS s ON s.id = t.site_id WHERE t.mode = %(mode)s "
        "AND t.area_vintage = %(vintage)s AND t.network_load_id = %(load)s "
        "AND t.site_id = ANY(%(ids)s) AND {visible}"
    ).format(visible=visible)
    frame = read_frame(
        conn,
        query,
        {
            **params,
            "mode": mode,
            "vintage": area_vintage,
            "load": load_id,
            "ids": list(site_ids),
        },
    )
    if frame.empty:
        return pd.DataFrame(columns=["area_code", "site_id", "seconds"])
    return frame


@dataclass(frozen=True)
class StagedBand:
    """One catchment band to store: ``wkb`` is the band's polygon in EPSG:27700."""

    band_min: int
    population: float
    wkb: bytes


class CatchmentStage:
    """Catchment bands staged on one connection, then stored together by :meth:`replace`.

    Made by :func:`catchment_stage`. Bands are staged in a temporary table as they are
    computed (so a long job holds no transaction open), and only :meth:`replace` touches
    ``catchments``.
    """

    def __init__(self, conn: Connection[Any], principal: Principal) -> None:
        self._conn = conn
        self._principal = principal

    def add(
        self, *, site_id: int, mode: Mode, network_load_id: int, bands: Iterable[StagedBand]
    ) -> int:
        """Stage the bands of one site by one mode; returns how many were staged."""
        rows = [
            {
                "site": site_id,
                "mode": mode,
                "band": band.band_min,
                "population": band.population,
                "load": network_load_id,
                "wkb": band.wkb,
            }
            for band in bands
        ]
        if rows:
            with self._conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO catchments_staged (site_id, mode, band_min, population, "
                    "network_load_id, wkb) VALUES (%(site)s, %(mode)s, %(band)s, "
                    "%(population)s, %(load)s, %(wkb)s)",
                    rows,
                )
        return len(rows)

    def replace(self, *, site_ids: Sequence[int], modes: Sequence[Mode]) -> tuple[int, int]:
        """One transaction: remove the sites' rows of these modes, insert the staged bands.

        Only sites the stage's principal may see are touched; a site deleted while the job
        ran is dropped (joined to ``sites``), not a foreign-key error. Returns ``(removed,
        inserted)`` row counts.
        """
        visible, params = visible_rows(self._principal, alias="s")
        delete = sql.SQL(
            "DELETE FROM catchments AS c USING sites AS s WHERE s.id = c.site_id "
            "AND c.site_id = ANY(%(ids)s) AND c.mode = ANY(%(modes)s) AND {visible}"
        ).format(visible=visible)
        insert = sql.SQL(
            "INSERT INTO catchments (site_id, mode, band_min, population, network_load_id, geom) "
            "SELECT c.site_id, c.mode, c.band_min, c.population, c.network_load_id, "
            "ST_Multi(ST_GeomFromWKB(c.wkb, %(bng)s)) FROM catchments_staged AS c "
            "JOIN sites AS s ON s.id = c.site_id WHERE {visible} "
            "ORDER BY c.site_id, c.mode, c.band_min"
        ).format(visible=visible)
        with self._conn.transaction():
            self._conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%(key)s))", {"key": _CATCHMENTS_LOCK}
            )
            removed = self._conn.execute(
                delete, {**params, "ids": list(site_ids), "modes": list(modes)}
            ).rowcount
            inserted = self._conn.execute(insert, {**params, "bng": BNG}).rowcount
        return int(removed), int(inserted)


@contextlib.contextmanager
def catchment_stage(db: Database, principal: Principal) -> Iterator[CatchmentStage]:
    """A :class:`CatchmentStage` on a connection of ``db`` held for the block.

    The temporary table is dropped at the end; nothing reaches ``catchments`` unless
    :meth:`CatchmentStage.replace` ran, so a failed or dismissed job changes nothing.
    """
    with db.connection() as conn:
        conn.execute("DROP TABLE IF EXISTS catchments_staged")
        conn.execute(
            "CREATE TEMP TABLE catchments_staged (site_id integer NOT NULL, mode text NOT NULL, "
            "band_min integer NOT NULL, population double precision NOT NULL, "
            "network_load_id integer NOT NULL, wkb bytea NOT NULL)"
        )
        try:
            yield CatchmentStage(conn, principal)
        finally:
            # A broken connection cannot drop the table (the pool discards it, and the table
            # with it); the job's own error is the one worth raising.
            with contextlib.suppress(psycopg.Error):
                conn.execute("DROP TABLE IF EXISTS catchments_staged")
