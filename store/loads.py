"""Loads: provenance in ``data_loads`` and the reads a load needs before it writes.

Every file that reaches PostGIS is one row of ``data_loads`` (dataset, region, file, sha256,
vintage, counts, rejects, licence, notes, the change report and the parameters the rows were
built with, e.g. a road network's walking and cycling speeds). :mod:`etl.loading` orchestrates
a load inside one :meth:`store.connection.Database.transaction`: :func:`advisory_xact_lock`,
:func:`active_loads`, :func:`start_load`, the table swaps of :mod:`store.load_merge`,
:func:`supersede_loads` and :func:`finish_load`. The readers' look-ups (a region's outline and
areas, postcode points, OSM site names) are here too.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import shapely
from psycopg import Connection, sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from shapely.geometry.base import BaseGeometry

from spatial.crs import BNG, WGS84
from store.access import ANONYMOUS, visible_rows
from store.load_merge import TableChanges

__all__ = [
    "LoadRecord",
    "NewLoad",
    "active_file_load",
    "active_loads",
    "advisory_xact_lock",
    "bbox_region",
    "finish_load",
    "lad_region",
    "load_metadata",
    "osm_site_names",
    "postcode_points",
    "start_load",
    "supersede_loads",
    "table_checksum",
]


@dataclass(frozen=True)
class LoadRecord:
    """An active load of ``data_loads`` (what a new load compares itself with)."""

    id: int
    dataset: str
    sha256: str
    rows_read: int
    rows_rejected: int
    vintage: str | None
    #: The parameters the rows were built with besides the file (``{}`` for most datasets).
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NewLoad:
    """The provenance of a load, recorded before its rows are written."""

    dataset: str
    region: str
    file_name: str
    sha256: str
    vintage: str | None
    rows_read: int
    #: ``{"row": int | None, "reason": str}`` per rejected row.
    rejects: Sequence[Mapping[str, Any]]
    started_at: dt.datetime
    licence: str
    message: str | None
    metadata: Mapping[str, Any] = field(default_factory=dict)


_RECORD_COLUMNS = sql.SQL("id, dataset, sha256, rows_read, rows_rejected, vintage, metadata")


def advisory_xact_lock(conn: Connection[Any], key: str) -> None:
    """Wait for, then hold until the transaction ends, the advisory lock named ``key``."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%(k)s))", {"k": key})


def active_file_load(
    conn: Connection[Any],
    dataset: str,
    region: str,
    sha256: str,
    parameters: Mapping[str, Any] | None = None,
) -> LoadRecord | None:
    """The newest active load of this very file (same sha256) built with ``parameters``.

    ``parameters`` (e.g. ``{"walk_speed_kmh": 4.8}``) must all be recorded in the load's
    metadata with equal values: the same extract built at another speed is another load.
    """
    with conn.cursor(row_factory=class_row(LoadRecord)) as cur:
        cur.execute(
            sql.SQL(
                "SELECT {cols} FROM data_loads WHERE dataset = %(d)s AND region = %(r)s "
                "AND status = 'active' AND sha256 = %(s)s AND metadata @> %(p)s "
                "ORDER BY id DESC LIMIT 1"
            ).format(cols=_RECORD_COLUMNS),
            {"d": dataset, "r": region, "s": sha256, "p": Jsonb(dict(parameters or {}))},
        )
        return cur.fetchone()


def active_loads(conn: Connection[Any], datasets: Sequence[str], region: str) -> list[LoadRecord]:
    """The active loads of any of ``datasets`` for ``region``, oldest first."""
    with conn.cursor(row_factory=class_row(LoadRecord)) as cur:
        cur.execute(
            sql.SQL(
                "SELECT {cols} FROM data_loads WHERE dataset = ANY(%(ds)s) AND region = %(r)s "
                "AND status = 'active' ORDER BY id"
            ).format(cols=_RECORD_COLUMNS),
            {"ds": list(datasets), "r": region},
        )
        return cur.fetchall()


def start_load(conn: Connection[Any], load: NewLoad) -> int:
    """Record ``load`` as the active load of its dataset and region; returns its id."""
    row = conn.execute(
        "INSERT INTO data_loads (dataset, region, file_name, sha256, vintage, rows_read, "
        "rows_rejected, rejects, started_at, status, licence, message, metadata) "
        "VALUES (%(dataset)s, %(region)s, %(file)s, %(sha)s, %(vintage)s, %(read)s, "
        "%(rejected)s, %(rejects)s, %(started)s, 'active', %(licence)s, %(message)s, "
        "%(metadata)s) RETURNING id",
        {
            "dataset": load.dataset,
            "region": load.region,
            "file": load.file_name,
            "sha": load.sha256,
            "vintage": load.vintage,
            "read": load.rows_read,
            "rejected": len(load.rejects),
            "rejects": Jsonb([dict(r) for r in load.rejects]),
            "started": load.started_at,
            "licence": load.licence,
            "message": load.message,
            # default=str: build details may hold numpy scalars or dates.
            "metadata": Jsonb(dict(load.metadata), dumps=partial(json.dumps, default=str)),
        },
    ).fetchone()
    assert row is not None  # INSERT ... RETURNING gives one row
    return int(row[0])


def supersede_loads(conn: Connection[Any], load_ids: Sequence[int]) -> None:
    """Mark ``load_ids`` superseded (their rows were replaced by a newer load)."""
    if load_ids:
        conn.execute(
            "UPDATE data_loads SET status = 'superseded' WHERE id = ANY(%(ids)s)",
            {"ids": list(load_ids)},
        )


def finish_load(
    conn: Connection[Any],
    load_id: int,
    *,
    rows_loaded: int,
    changes: Mapping[str, TableChanges],
) -> None:
    """Record the rows written and the change report of load ``load_id``."""
    conn.execute(
        "UPDATE data_loads SET rows_loaded = %(n)s, finished_at = %(t)s, changes = %(changes)s "
        "WHERE id = %(id)s",
        {
            "n": rows_loaded,
            "t": dt.datetime.now(dt.UTC),
            "id": load_id,
            "changes": Jsonb({t: asdict(c) for t, c in changes.items()}),
        },
    )


def load_metadata(conn: Connection[Any], load_id: int) -> dict[str, Any]:
    """What load ``load_id`` was built with (a road network: its speeds); ``{}`` if unknown."""
    row = conn.execute(
        "SELECT metadata FROM data_loads WHERE id = %(id)s", {"id": load_id}
    ).fetchone()
    return dict(row[0]) if row is not None and row[0] else {}


def table_checksum(conn: Connection[Any], table: str) -> str:
    """md5 of every row of ``table`` in a stable order (used to prove a load changed nothing)."""
    row = conn.execute(
        sql.SQL(
            "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t"
        ).format(sql.Identifier(table))
    ).fetchone()
    assert row is not None  # an aggregate always gives one row
    return str(row[0])


# --- regions ---------------------------------------------------------------------------------


def bbox_region(
    conn: Connection[Any], bbox: tuple[float, float, float, float]
) -> tuple[BaseGeometry, frozenset[str]]:
    """A WGS84 ``(minlon, minlat, maxlon, maxlat)`` box in EPSG:27700, and the codes of the
    areas whose representative point lies in it."""
    row = conn.execute(
        "SELECT ST_AsBinary(ST_Transform(ST_MakeEnvelope(%(a)s, %(b)s, %(c)s, %(d)s, %(wgs)s), "
        "%(bng)s))",
        {"a": bbox[0], "b": bbox[1], "c": bbox[2], "d": bbox[3], "wgs": WGS84, "bng": BNG},
    ).fetchone()
    assert row is not None
    polygon = shapely.from_wkb(bytes(row[0]))
    codes = conn.execute(
        "SELECT code FROM areas WHERE ST_Intersects(rep_point, ST_GeomFromWKB(%(wkb)s, %(bng)s))",
        {"wkb": shapely.to_wkb(polygon), "bng": BNG},
    ).fetchall()
    return polygon, frozenset(str(c[0]) for c in codes)


def lad_region(conn: Connection[Any], lad_code: str) -> tuple[BaseGeometry | None, frozenset[str]]:
    """The outline of a local authority (union of its newest areas, EPSG:27700; None when no
    areas of it are loaded) and the codes of its areas of every vintage."""
    codes = conn.execute(
        "SELECT code FROM areas WHERE lad_code = %(r)s", {"r": lad_code}
    ).fetchall()
    row = conn.execute(
        "SELECT ST_AsBinary(ST_Union(geom)) FROM areas WHERE lad_code = %(r)s "
        "AND vintage = (SELECT max(vintage) FROM areas WHERE lad_code = %(r)s)",
        {"r": lad_code},
    ).fetchone()
    outline = shapely.from_wkb(bytes(row[0])) if row is not None and row[0] is not None else None
    return outline, frozenset(str(c[0]) for c in codes)


# --- locating sites --------------------------------------------------------------------------


def postcode_points(conn: Connection[Any], postcodes: Sequence[str]) -> dict[str, BaseGeometry]:
    """The point (EPSG:27700) of each postcode found, from its newest load of any source."""
    rows = conn.execute(
        "SELECT DISTINCT ON (postcode) postcode, ST_AsBinary(geom) FROM postcodes "
        "WHERE postcode = ANY(%(pcs)s) ORDER BY postcode, load_id DESC",
        {"pcs": list(postcodes)},
    ).fetchall()
    return {str(pc): shapely.from_wkb(bytes(wkb)) for pc, wkb in rows}


def osm_site_names(conn: Connection[Any]) -> list[tuple[str, BaseGeometry]]:
    """``(name, point)`` of every named, located OpenStreetMap site (open data only)."""
    visible, params = visible_rows(ANONYMOUS, alias="s")
    rows = conn.execute(
        sql.SQL(
            "SELECT s.name, ST_AsBinary(s.geom) FROM sites s WHERE s.source = 'osm' "
            "AND s.geom IS NOT NULL AND s.name IS NOT NULL AND {visible}"
        ).format(visible=visible),
        params,
    ).fetchall()
    return [(str(name), shapely.from_wkb(bytes(wkb))) for name, wkb in rows]
