"""The area → footprint lookups footprints are built from, and custom footprint uploads.

Lookups (open data, no principal): each LSOA's local authority (``areas.lad_code``), its MSOA
(the MSOA boundary holding the LSOA's representative point: LSOAs nest in MSOAs), and its
postcodes counted by ward (a postcode's newest load; its LSOA from the file, else the LSOA
polygon holding its point). Practices' commissioners and custom footprint sets belong to
organisations: every read applies :func:`store.access.visible_rows`.

A custom set is written in one transaction: a new upload with the name of one of the
organisation's sets replaces it (its id changes), so a failed upload leaves what was stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import shapely
from psycopg import Connection, sql
from psycopg.rows import dict_row
from shapely.geometry.base import BaseGeometry

from spatial.crs import BNG
from store.access import Principal, visible_rows
from store.connection import read_frame

__all__ = [
    "FootprintPolygon",
    "FootprintSet",
    "delete_footprint_set",
    "footprint_names",
    "footprint_set",
    "footprint_sets",
    "lsoa_in_polygons",
    "lsoa_lad",
    "lsoa_msoa",
    "postcode_ward_counts",
    "replace_footprint_set",
    "site_organisations",
]


@dataclass(frozen=True)
class FootprintPolygon:
    """One polygon of an upload: its feature number, code, name and geometry (EPSG:27700)."""

    feature: int
    code: str
    name: str | None
    geom: BaseGeometry


@dataclass(frozen=True)
class FootprintSet:
    """A stored custom footprint set (without its polygons)."""

    id: int
    name: str
    organisation: str
    restricted: bool
    file_name: str
    sha256: str
    features: int
    notes: str | None
    created_at: Any


def _membership(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(
            {
                "area_code": pd.Series(dtype=object),
                "footprint": pd.Series(dtype=object),
                "name": pd.Series(dtype=object),
            }
        )
    return frame


def lsoa_lad(conn: Connection[Any], *, vintage: int) -> pd.DataFrame:
    """``area_code, footprint, name``: each LSOA of ``vintage`` with a local authority code
    (``name`` None: no names of local authorities are loaded)."""
    frame = read_frame(
        conn,
        "SELECT code AS area_code, lad_code AS footprint, NULL::text AS name FROM areas "
        "WHERE vintage = %(v)s AND level = 'lsoa' AND lad_code IS NOT NULL ORDER BY code",
        {"v": vintage},
    )
    return _membership(frame)


def lsoa_msoa(conn: Connection[Any], *, vintage: int) -> pd.DataFrame:
    """``area_code, footprint, name``: each LSOA of ``vintage`` and the MSOA of the same vintage
    whose boundary holds its representative point."""
    frame = read_frame(
        conn,
        "SELECT l.code AS area_code, m.code AS footprint, m.name FROM areas AS l "
        "JOIN areas AS m ON m.vintage = l.vintage AND m.level = 'msoa' "
        "AND ST_Contains(m.geom, l.rep_point) "
        "WHERE l.vintage = %(v)s AND l.level = 'lsoa' ORDER BY l.code, m.code",
        {"v": vintage},
    )
    return _membership(frame.drop_duplicates("area_code", keep="first"))


def postcode_ward_counts(conn: Connection[Any], *, vintage: int) -> tuple[pd.DataFrame, str]:
    """Postcodes per (LSOA, ward): ``area_code, footprint, name, n``; and the postcode sources.

    Each postcode counts once, from its newest load with a ward code; its LSOA is the file's
    LSOA 2021 code when it has one (``vintage`` 2021), else the LSOA of ``vintage`` whose
    polygon holds the postcode's point. Postcodes in no loaded LSOA are not counted. The
    second value names the sources and vintages used (``"codepoint-open 2014-08 (1,234)"``).
    """
    query = (
        "WITH pc AS (SELECT DISTINCT ON (postcode) postcode, source, vintage, lsoa21, "
        "ward_code, ward_name, geom FROM postcodes WHERE ward_code IS NOT NULL "
        "ORDER BY postcode, load_id DESC), "
        "placed AS (SELECT pc.*, CASE WHEN %(v)s = 2021 AND pc.lsoa21 IS NOT NULL "
        "THEN pc.lsoa21 ELSE (SELECT a.code FROM areas AS a WHERE a.vintage = %(v)s "
        "AND a.level = 'lsoa' AND ST_Contains(a.geom, pc.geom) ORDER BY a.code LIMIT 1) "
        "END AS area_code FROM pc) "
        "SELECT p.area_code, p.ward_code AS footprint, max(p.ward_name) AS name, "
        "count(*) AS n, string_agg(DISTINCT p.source || ' ' || p.vintage, ', ') AS sources "
        "FROM placed AS p JOIN areas AS a ON a.code = p.area_code AND a.vintage = %(v)s "
        "AND a.level = 'lsoa' GROUP BY 1, 2 ORDER BY 1, 2"
    )
    frame = read_frame(conn, query, {"v": vintage})
    if frame.empty:
        return (
            pd.DataFrame(
                {
                    "area_code": pd.Series(dtype=object),
                    "footprint": pd.Series(dtype=object),
                    "name": pd.Series(dtype=object),
                    "n": pd.Series(dtype="int64"),
                }
            ),
            "",
        )
    sources = sorted({s.strip() for row in frame["sources"] for s in str(row).split(",")})
    return frame.drop(columns="sources").astype({"n": "int64"}), ", ".join(sources)


def site_organisations(
    conn: Connection[Any], principal: Principal, site_ids: Sequence[int]
) -> pd.DataFrame:
    """``id, source_id, name, organisation`` of the sites ``principal`` may see among
    ``site_ids`` (for an ODS practice, ``organisation`` is its commissioner)."""
    visible, params = visible_rows(principal, alias="s")
    query = sql.SQL(
        "SELECT s.id, s.source_id, s.name, s.organisation FROM sites AS s "
        "WHERE s.id = ANY(%(ids)s) AND {visible} ORDER BY s.id"
    ).format(visible=visible)
    frame = read_frame(conn, query, {**params, "ids": list(site_ids)})
    if frame.empty:
        return pd.DataFrame(
            {
                "id": pd.Series(dtype="int64"),
                "source_id": pd.Series(dtype=object),
                "name": pd.Series(dtype=object),
                "organisation": pd.Series(dtype=object),
            }
        )
    return frame.astype({"id": "int64"})


# ------------------------------------------------------------------------------ custom sets

_SET_COLUMNS = sql.SQL(
    "f.id, f.name, f.organisation, f.restricted, f.file_name, f.sha256, f.features, f.notes, "
    "f.created_at"
)


def _set(row: dict[str, Any]) -> FootprintSet:
    return FootprintSet(
        id=int(row["id"]),
        name=str(row["name"]),
        organisation=str(row["organisation"]),
        restricted=bool(row["restricted"]),
        file_name=str(row["file_name"]),
        sha256=str(row["sha256"]),
        features=int(row["features"]),
        notes=row["notes"],
        created_at=row["created_at"],
    )


def footprint_sets(conn: Connection[Any], principal: Principal) -> list[FootprintSet]:
    """The custom footprint sets ``principal`` may see, newest first."""
    visible, params = visible_rows(principal, alias="f")
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            sql.SQL(
                "SELECT {cols} FROM footprint_sets AS f WHERE {visible} ORDER BY f.id DESC"
            ).format(cols=_SET_COLUMNS, visible=visible),
            params,
        ).fetchall()
    return [_set(r) for r in rows]


def footprint_set(conn: Connection[Any], principal: Principal, set_id: int) -> FootprintSet | None:
    """The custom set ``set_id`` if ``principal`` may see it, else None."""
    visible, params = visible_rows(principal, alias="f")
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            sql.SQL(
                "SELECT {cols} FROM footprint_sets AS f WHERE f.id = %(id)s AND {visible}"
            ).format(cols=_SET_COLUMNS, visible=visible),
            {**params, "id": set_id},
        ).fetchone()
    return None if row is None else _set(row)


def replace_footprint_set(
    conn: Connection[Any],
    *,
    name: str,
    organisation: str,
    restricted: bool,
    file_name: str,
    sha256: str,
    notes: str | None,
    polygons: Sequence[FootprintPolygon],
) -> tuple[int, int | None]:
    """Store a set (replacing the organisation's set of the same name); run inside one
    transaction. Returns ``(new id, replaced id or None)``."""
    old = conn.execute(
        "DELETE FROM footprint_sets WHERE organisation = %(o)s AND name = %(n)s RETURNING id",
        {"o": organisation, "n": name},
    ).fetchone()
    row = conn.execute(
        "INSERT INTO footprint_sets (name, organisation, restricted, file_name, sha256, "
        "features, notes) VALUES (%(n)s, %(o)s, %(r)s, %(f)s, %(s)s, %(k)s, %(notes)s) "
        "RETURNING id",
        {
            "n": name,
            "o": organisation,
            "r": restricted,
            "f": file_name,
            "s": sha256,
            "k": len(polygons),
            "notes": notes,
        },
    ).fetchone()
    assert row is not None  # INSERT ... RETURNING gives one row
    set_id = int(row[0])
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO footprint_polygons (set_id, feature, code, name, geom) VALUES "
            "(%(set)s, %(feature)s, %(code)s, %(name)s, ST_GeomFromWKB(%(wkb)s, %(srid)s))",
            [
                {
                    "set": set_id,
                    "feature": p.feature,
                    "code": p.code,
                    "name": p.name,
                    "wkb": shapely.to_wkb(p.geom),
                    "srid": BNG,
                }
                for p in polygons
            ],
        )
    return set_id, None if old is None else int(old[0])


def delete_footprint_set(conn: Connection[Any], *, set_id: int, organisation: str) -> bool:
    """Delete ``set_id`` if it belongs to ``organisation``; True when a set was deleted."""
    row = conn.execute(
        "DELETE FROM footprint_sets WHERE id = %(id)s AND organisation = %(o)s RETURNING id",
        {"id": set_id, "o": organisation},
    ).fetchone()
    return row is not None


def lsoa_in_polygons(
    conn: Connection[Any], principal: Principal, *, set_id: int, vintage: int
) -> pd.DataFrame:
    """``area_code, footprint, name``: each LSOA of ``vintage`` whose representative point
    lies in a polygon of set ``set_id`` (visible to ``principal``); where polygons overlap,
    the first feature of the file."""
    visible, params = visible_rows(principal, alias="f")
    query = sql.SQL(
        "SELECT DISTINCT ON (a.code) a.code AS area_code, p.code AS footprint, p.name "
        "FROM footprint_polygons AS p JOIN footprint_sets AS f ON f.id = p.set_id "
        "JOIN areas AS a ON a.vintage = %(v)s AND a.level = 'lsoa' "
        "AND ST_Intersects(p.geom, a.rep_point) "
        "WHERE p.set_id = %(set)s AND {visible} ORDER BY a.code, p.feature"
    ).format(visible=visible)
    return _membership(read_frame(conn, query, {**params, "set": set_id, "v": vintage}))


def footprint_names(conn: Connection[Any], principal: Principal, *, set_id: int) -> pd.DataFrame:
    """``footprint, name, feature`` of every polygon of set ``set_id`` (visible ones)."""
    visible, params = visible_rows(principal, alias="f")
    query = sql.SQL(
        "SELECT p.code AS footprint, p.name, p.feature FROM footprint_polygons AS p "
        "JOIN footprint_sets AS f ON f.id = p.set_id WHERE p.set_id = %(set)s AND {visible} "
        "ORDER BY p.feature"
    ).format(visible=visible)
    return read_frame(conn, query, {**params, "set": set_id})
