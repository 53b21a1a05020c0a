"""Statistical areas (LSOA/MSOA), their population and deprivation, and postcode points.

Open data only (no row is restricted), so these functions take no principal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from psycopg import Connection
from psycopg.rows import dict_row

from store.connection import read_frame

__all__ = [
    "PostcodePoint",
    "area_features",
    "area_points",
    "population_by_age",
    "postcode_point",
]


@dataclass(frozen=True)
class PostcodePoint:
    """A stored postcode: its point (EPSG:27700 metres), source file and LSOA 2021."""

    postcode: str
    source: str
    vintage: str
    lsoa21: str | None
    x: float
    y: float


def area_points(conn: Connection[Any]) -> pd.DataFrame:
    """Every area's representative point: ``code, vintage, x, y`` (EPSG:27700 metres)."""
    frame = read_frame(
        conn,
        "SELECT code, vintage, ST_X(rep_point) AS x, ST_Y(rep_point) AS y FROM areas "
        "ORDER BY vintage, code",
    )
    if frame.empty:
        return pd.DataFrame(
            {
                "code": pd.Series(dtype=object),
                "vintage": pd.Series(dtype="int64"),
                "x": pd.Series(dtype="float64"),
                "y": pd.Series(dtype="float64"),
            }
        )
    return frame.astype({"vintage": "int64", "x": "float64", "y": "float64"})


def area_features(conn: Connection[Any], *, vintage: int) -> pd.DataFrame:
    """LSOAs of ``vintage`` with their figures, ordered by code.

    Columns ``code, name, x, y`` (representative point, EPSG:27700), ``population``,
    ``pop_65_plus`` and ``imd_decile`` (IMD 2019; best-fit 2011 decile for split codes).
    """
    frame = read_frame(
        conn,
        "SELECT code, name, ST_X(rep_point) AS x, ST_Y(rep_point) AS y, population, "
        "pop_65_plus, imd_decile FROM areas_features WHERE vintage = %(v)s AND level = 'lsoa' "
        "ORDER BY code",
        {"v": vintage},
    )
    for column in ("x", "y", "population", "pop_65_plus", "imd_decile"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


def population_by_age(conn: Connection[Any], *, vintage: int) -> pd.DataFrame:
    """Population of each area of ``vintage`` by age band, from its latest source.

    Columns ``area_code, age_lower, age_upper`` (NaN: open-ended), ``n`` (people),
    ``source`` and ``reference_date`` (the source chosen for the area and the date its counts
    refer to). Of an area's sources the most recent reference date wins (ties: source name,
    then the both-sexes rows).
    """
    frame = read_frame(
        conn,
        "WITH latest AS (SELECT p.area_code, p.age_lower, p.age_upper, p.count, p.source, "
        "p.reference_date, rank() OVER (PARTITION BY p.area_code ORDER BY p.reference_date "
        "DESC, p.source, p.sex <> 'all') AS rk FROM population p JOIN areas a "
        "ON a.code = p.area_code AND a.vintage = %(v)s) "
        "SELECT area_code, age_lower, age_upper, sum(count) AS n, source, reference_date "
        "FROM latest WHERE rk = 1 GROUP BY 1, 2, 3, 5, 6",
        {"v": vintage},
    )
    if not frame.empty:
        frame["n"] = frame["n"].astype("float64")
    return frame


def postcode_point(conn: Connection[Any], postcode: str) -> PostcodePoint | None:
    """The stored point of ``postcode`` (spaces ignored; newest vintage first), or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT postcode, source, vintage, lsoa21, ST_X(geom) AS x, ST_Y(geom) AS y "
            "FROM postcodes WHERE replace(postcode, ' ', '') = %(pc)s "
            "ORDER BY vintage DESC LIMIT 1",
            {"pc": "".join(postcode.split()).upper()},
        ).fetchone()
    if row is None:
        return None
    return PostcodePoint(
        postcode=str(row["postcode"]),
        source=str(row["source"]),
        vintage=str(row["vintage"]),
        lsoa21=row["lsoa21"],
        x=float(row["x"]),
        y=float(row["y"]),
    )
