"""Sites as points for the travel-time analyses: who may see which, where they are, their kinds.

Every function that returns sites takes the caller's :class:`~store.access.Principal` and
filters through :func:`store.access.visible_rows`: open sites for everyone, a restricted site
for its own organisation only. The one exception, :func:`all_site_points`, feeds the stored
area → site matrix, which is computed once for every organisation and read back only through
the same rule (:mod:`store.traveltimes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from psycopg import Connection, sql
from psycopg.rows import dict_row

from store.access import Principal, visible_rows
from store.connection import read_frame

__all__ = [
    "SITE_POINT_COLUMNS",
    "SitePoint",
    "all_site_points",
    "kind_counts",
    "site_point",
    "site_points",
]

#: Columns of :func:`site_points` (x, y: EPSG:27700 metres).
SITE_POINT_COLUMNS = ("id", "kind", "name", "source_id", "x", "y")

_LOCATED_ACTIVE = sql.SQL("s.geom IS NOT NULL AND s.status = 'active'")


@dataclass(frozen=True)
class SitePoint:
    """One located site: ids, name, kind, owner and its point (EPSG:27700 metres)."""

    id: int
    source_id: str
    name: str
    kind: str
    owner: str | None
    x: float
    y: float


def site_points(
    conn: Connection[Any],
    principal: Principal,
    *,
    kinds: list[str] | None = None,
    site_ids: list[int] | None = None,
) -> pd.DataFrame:
    """Located active sites ``principal`` may see: ``id, kind, name, source_id, x, y``.

    Optionally only those of ``kinds`` and/or with an id in ``site_ids``; ordered by id.
    """
    visible, params = visible_rows(principal, alias="s")
    where = [_LOCATED_ACTIVE, visible]
    if kinds is not None:
        where.append(sql.SQL("s.kind = ANY(%(kinds)s)"))
        params["kinds"] = list(kinds)
    if site_ids is not None:
        where.append(sql.SQL("s.id = ANY(%(site_ids)s)"))
        params["site_ids"] = list(site_ids)
    query = sql.SQL(
        "SELECT s.id, s.kind, s.name, s.source_id, ST_X(s.geom) AS x, ST_Y(s.geom) AS y "
        "FROM sites AS s WHERE {where} ORDER BY s.id"
    ).format(where=sql.SQL(" AND ").join(where))
    return _typed(read_frame(conn, query, params))


def all_site_points(conn: Connection[Any]) -> pd.DataFrame:
    """Every located active site, restricted ones included (columns as :func:`site_points`).

    Only for the stored area → site matrix (``locus compute``): it is computed once for all
    organisations, and every read of it applies :func:`store.access.visible_rows`.
    """
    query = sql.SQL(
        "SELECT s.id, s.kind, s.name, s.source_id, ST_X(s.geom) AS x, ST_Y(s.geom) AS y "
        "FROM sites AS s WHERE {located} ORDER BY s.id"
    ).format(located=_LOCATED_ACTIVE)
    return _typed(read_frame(conn, query))


def site_point(conn: Connection[Any], principal: Principal, site_id: int) -> SitePoint | None:
    """The located site ``site_id`` if ``principal`` may see it (any status), else None."""
    visible, params = visible_rows(principal, alias="s")
    query = sql.SQL(
        "SELECT s.id, s.source_id, s.name, s.kind, s.owner, ST_X(s.geom) AS x, "
        "ST_Y(s.geom) AS y FROM sites AS s WHERE s.id = %(site_id)s AND s.geom IS NOT NULL "
        "AND {visible}"
    ).format(visible=visible)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, {**params, "site_id": site_id}).fetchone()
    if row is None:
        return None
    return SitePoint(
        id=int(row["id"]),
        source_id=str(row["source_id"]),
        name=str(row["name"]),
        kind=str(row["kind"]),
        owner=row["owner"],
        x=float(row["x"]),
        y=float(row["y"]),
    )


def kind_counts(conn: Connection[Any], principal: Principal) -> pd.DataFrame:
    """Site kinds among the active sites ``principal`` may see: ``kind, sites, located``.

    ``sites`` counts every active site of the kind, ``located`` those with a point (the ones
    travel times reach); ordered by kind.
    """
    visible, params = visible_rows(principal, alias="s")
    query = sql.SQL(
        "SELECT s.kind, count(*) AS sites, count(s.geom) AS located FROM sites AS s "
        "WHERE s.status = 'active' AND {visible} GROUP BY s.kind ORDER BY s.kind"
    ).format(visible=visible)
    frame = read_frame(conn, query, params)
    return frame.astype({"sites": "int64", "located": "int64"}) if len(frame) else frame


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(
            {
                "id": pd.Series(dtype="int64"),
                "kind": pd.Series(dtype=object),
                "name": pd.Series(dtype=object),
                "source_id": pd.Series(dtype=object),
                "x": pd.Series(dtype="float64"),
                "y": pd.Series(dtype="float64"),
            }
        )
    return frame.astype({"id": "int64", "x": "float64", "y": "float64"})
