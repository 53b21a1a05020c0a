"""Planning data: projections and norm sets (versioned per organisation), the population
vintages a projection starts from, best-fit pairs between LSOA vintages, GP list sizes.

Projections and norm sets follow the scenario rules (:mod:`store.scenarios`): a row is read
through :func:`store.access.visible_rows` (a restricted one only by its organisation; one
that is not visible reads as absent), and saving takes an advisory lock on (table,
organisation, name) so two saves of one name get consecutive versions. Population, areas
and list sizes are open data and take no principal.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from psycopg import AsyncConnection, Connection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from store.access import Principal, visible_rows
from store.connection import read_frame
from store.versions import visible_versions

__all__ = [
    "PROJECTION_ROW_COLUMNS",
    "NamedRow",
    "best_fit_pairs",
    "get_named",
    "gp_registrations",
    "insert_named",
    "list_named",
    "lsoa_codes",
    "named_visible",
    "population_rows",
    "population_vintages",
    "projection_rows",
    "projection_totals",
    "projection_years",
    "write_projection_rows",
]

#: The two versioned tables of this module.
Table = Literal["population_projections", "planning_norms"]
_TABLES: tuple[str, ...] = ("population_projections", "planning_norms")
#: Columns of ``population_projection_rows`` written by :func:`write_projection_rows`.
PROJECTION_ROW_COLUMNS = (
    "area_code",
    "area_vintage",
    "age_lower",
    "age_upper",
    "year",
    "count",
    "housing",
)


@dataclass(frozen=True)
class NamedRow:
    """One stored version of a projection or norm set. ``extra`` holds the projection's
    ``metadata``, ``base_year`` and ``horizon_years`` (empty for norm sets)."""

    id: int
    name: str
    version: int
    organisation: str | None
    restricted: bool
    description: str
    definition: dict[str, Any]
    created_at: dt.datetime
    extra: dict[str, Any]


def _table(table: str) -> sql.Identifier:
    if table not in _TABLES:
        raise ValueError(f"{table!r} is not a versioned planning table")
    return sql.Identifier(table)


def _columns(table: str) -> sql.Composable:
    base = (
        "s.id, s.name, s.version, s.organisation, s.restricted, s.description, s.definition, "
        "s.created_at"
    )
    if table == "population_projections":
        base += ", s.metadata, s.base_year, s.horizon_years"
    return sql.SQL(base)


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return dict(value or {})


def _row(row: dict[str, Any]) -> NamedRow:
    extra: dict[str, Any] = {}
    if "base_year" in row:
        extra = {
            "metadata": _json(row["metadata"]),
            "base_year": int(row["base_year"]),
            "horizon_years": [int(y) for y in row["horizon_years"]],
        }
    return NamedRow(
        id=int(row["id"]),
        name=str(row["name"]),
        version=int(row["version"]),
        organisation=row["organisation"],
        restricted=bool(row["restricted"]),
        description=str(row["description"] or ""),
        definition=_json(row["definition"]),
        created_at=row["created_at"],
        extra=extra,
    )


def insert_named(
    conn: Connection[Any],
    table: Table,
    principal: Principal,
    *,
    name: str,
    version: int,
    description: str,
    definition: dict[str, Any],
    restricted: bool,
    metadata: dict[str, Any] | None = None,
    base_year: int | None = None,
    horizon_years: list[int] | None = None,
) -> NamedRow:
    """Store one version for ``principal``'s organisation (``restricted`` needs one); a
    projection also takes ``metadata``, ``base_year`` and ``horizon_years``."""
    values: dict[str, Any] = {
        "name": name,
        "version": version,
        "organisation": principal.organisation,
        "restricted": restricted and principal.organisation is not None,
        "description": description,
        "definition": Jsonb(definition),
        "created_by": principal.key_id,
    }
    if table == "population_projections":
        values.update(
            metadata=Jsonb(metadata or {}), base_year=base_year, horizon_years=horizon_years
        )
    query = sql.SQL("INSERT INTO {t} AS s ({cols}) VALUES ({vals}) RETURNING {ret}").format(
        t=_table(table),
        cols=sql.SQL(", ").join(sql.Identifier(k) for k in values),
        vals=sql.SQL(", ").join(sql.Placeholder(k) for k in values),
        ret=_columns(table),
    )
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, values)
        row = cur.fetchone()
    assert row is not None  # INSERT ... RETURNING returns the row
    return _row(row)


def list_named(
    conn: Connection[Any],
    table: Table,
    principal: Principal,
    *,
    name: str | None = None,
    latest_only: bool = False,
) -> list[NamedRow]:
    """Versions ``principal`` may see, by name then newest version first (``latest_only``:
    the newest visible version of each organisation's name)."""
    query, values = visible_versions(
        table, _columns(table), principal, name=name, latest_only=latest_only
    )
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, values)
        return [_row(r) for r in cur.fetchall()]


def get_named(
    conn: Connection[Any], table: Table, principal: Principal, row_id: int
) -> NamedRow | None:
    """Row ``row_id`` of ``table`` if ``principal`` may see it, else None."""
    vis, params = visible_rows(principal, alias="s")
    query = sql.SQL("SELECT {cols} FROM {t} AS s WHERE s.id = %(id)s AND {vis}").format(
        cols=_columns(table), t=_table(table), vis=vis
    )
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, {**params, "id": row_id})
        row = cur.fetchone()
    return _row(row) if row else None


async def named_visible(
    conn: AsyncConnection[Any], table: Table, principal: Principal, row_id: int
) -> bool:
    """True when row ``row_id`` of ``table`` exists and ``principal`` may see it."""
    vis, params = visible_rows(principal, alias="s")
    query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {t} AS s WHERE s.id = %(id)s AND {vis})")
    cur = await conn.execute(query.format(t=_table(table), vis=vis), {**params, "id": row_id})
    row = await cur.fetchone()
    return bool(row and row[0])


async def projection_years(
    conn: AsyncConnection[Any], principal: Principal, projection_id: int
) -> list[int] | None:
    """The base year and horizon years of projection ``projection_id`` if ``principal`` may
    see it, else None."""
    vis, params = visible_rows(principal, alias="s")
    query = sql.SQL(
        "SELECT s.base_year, s.horizon_years FROM population_projections AS s "
        "WHERE s.id = %(id)s AND {vis}"
    ).format(vis=vis)
    cur = await conn.execute(query, {**params, "id": projection_id})
    row = await cur.fetchone()
    if row is None:
        return None
    return [int(row[0]), *(int(y) for y in row[1])]


# ----------------------------------------------------------------------------- projection rows


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def write_projection_rows(conn: Connection[Any], projection_id: int, rows: pd.DataFrame) -> int:
    """COPY the projected rows (:data:`PROJECTION_ROW_COLUMNS`) of ``projection_id``; run it
    in the transaction that inserted the projection. Returns the number of rows."""
    columns = ["projection_id", *PROJECTION_ROW_COLUMNS]
    copy_sql = sql.SQL("COPY population_projection_rows ({}) FROM STDIN").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    frame = rows[list(PROJECTION_ROW_COLUMNS)]
    integer = {"area_vintage", "age_lower", "age_upper", "year"}
    kinds = [c in integer for c in PROJECTION_ROW_COLUMNS]
    with conn.cursor() as cur, cur.copy(copy_sql) as copy:
        for row in frame.itertuples(index=False, name=None):
            values = [_plain(v) for v in row]
            copy.write_row(
                [
                    projection_id,
                    *(
                        int(v) if k and v is not None else v
                        for v, k in zip(values, kinds, strict=True)
                    ),
                ]
            )
    return len(frame)


def projection_rows(
    conn: Connection[Any],
    principal: Principal,
    projection_id: int,
    *,
    years: list[int] | None = None,
) -> pd.DataFrame:
    """Rows of a projection ``principal`` may see (empty when not visible):
    ``area_code, area_vintage, age_lower, age_upper`` (NaN: open), ``year, count, housing``,
    ordered by area, age and year; only ``years`` when given."""
    vis, params = visible_rows(principal, alias="s")
    query = sql.SQL(
        "SELECT r.area_code, r.area_vintage, r.age_lower, r.age_upper, r.year, r.count, "
        "r.housing FROM population_projection_rows AS r JOIN population_projections AS s "
        "ON s.id = r.projection_id WHERE r.projection_id = %(id)s AND {vis} "
        "AND (%(years)s::int[] IS NULL OR r.year = ANY(%(years)s::int[])) "
        "ORDER BY r.area_code, r.age_lower, r.year"
    ).format(vis=vis)
    frame = read_frame(conn, query, {**params, "id": projection_id, "years": years})
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in PROJECTION_ROW_COLUMNS})
    frame["age_upper"] = pd.to_numeric(frame["age_upper"]).astype("float64")
    return frame.astype({"count": "float64", "housing": "float64", "year": "int64"})


def projection_totals(
    conn: Connection[Any], principal: Principal, projection_id: int
) -> pd.DataFrame:
    """People per year and age band of a visible projection: ``year, age_lower,
    age_upper, count, housing``."""
    vis, params = visible_rows(principal, alias="s")
    query = sql.SQL(
        "SELECT r.year, r.age_lower, r.age_upper, sum(r.count) AS count, "
        "sum(r.housing) AS housing FROM population_projection_rows AS r "
        "JOIN population_projections AS s ON s.id = r.projection_id "
        "WHERE r.projection_id = %(id)s AND {vis} GROUP BY 1, 2, 3 ORDER BY 1, 2"
    ).format(vis=vis)
    frame = read_frame(conn, query, {**params, "id": projection_id})
    if not frame.empty:
        frame["age_upper"] = pd.to_numeric(frame["age_upper"]).astype("float64")
        frame = frame.astype({"count": "float64", "housing": "float64"})
    return frame


# ----------------------------------------------------------------------------- population


def population_vintages(conn: Connection[Any]) -> pd.DataFrame:
    """The loaded population tables: ``source, reference_date, area_vintage, areas,
    people, bands, sexes`` (distinct age bands and sexes), newest first."""
    frame = read_frame(
        conn,
        "SELECT source, reference_date, vintage AS area_vintage, "
        "count(DISTINCT area_code) AS areas, "
        "sum(count) FILTER (WHERE sex = 'all') AS people_all, "
        "sum(count) FILTER (WHERE sex <> 'all') AS people_by_sex, "
        "count(DISTINCT (age_lower, age_upper)) AS bands, "
        "array_agg(DISTINCT sex ORDER BY sex) AS sexes "
        "FROM population GROUP BY 1, 2, 3 ORDER BY 2 DESC, 1, 3",
    )
    if frame.empty:
        return frame
    frame["people"] = frame["people_all"].fillna(frame["people_by_sex"]).astype("float64")
    return frame.drop(columns=["people_all", "people_by_sex"])


def population_rows(
    conn: Connection[Any], *, source: str, reference_date: dt.date, area_vintage: int
) -> pd.DataFrame:
    """One loaded population table: ``area_code, age_lower, age_upper, count`` per area and
    band — the both-sexes rows where an area has them, else females and males summed."""
    frame = read_frame(
        conn,
        "WITH t AS (SELECT area_code, age_lower, age_upper, sex, count, "
        "bool_or(sex = 'all') OVER (PARTITION BY area_code) AS has_all FROM population "
        "WHERE source = %(source)s AND reference_date = %(date)s AND vintage = %(vintage)s) "
        "SELECT area_code, age_lower, age_upper, sum(count) AS count FROM t "
        "WHERE (sex = 'all') = has_all GROUP BY 1, 2, 3 ORDER BY 1, 2",
        {"source": source, "date": reference_date, "vintage": area_vintage},
    )
    if frame.empty:
        return pd.DataFrame(
            {
                "area_code": pd.Series(dtype=object),
                "age_lower": pd.Series(dtype="int64"),
                "age_upper": pd.Series(dtype="float64"),
                "count": pd.Series(dtype="float64"),
            }
        )
    frame["age_upper"] = pd.to_numeric(frame["age_upper"]).astype("float64")
    return frame.astype({"count": "float64", "age_lower": "int64"})


def lsoa_codes(
    conn: Connection[Any], *, vintage: int, lad_codes: list[str] | None = None
) -> list[str]:
    """Codes of the loaded LSOAs of ``vintage`` (in ``lad_codes`` when given), sorted."""
    rows = conn.execute(
        "SELECT code FROM areas WHERE level = 'lsoa' AND vintage = %(v)s "
        "AND (%(lads)s::text[] IS NULL OR lad_code = ANY(%(lads)s::text[])) ORDER BY code",
        {"v": vintage, "lads": lad_codes},
    ).fetchall()
    return [str(r[0]) for r in rows]


def best_fit_pairs(conn: Connection[Any], *, older: int, newer: int) -> pd.DataFrame:
    """Best-fit pairs between the LSOAs of two boundary vintages: ``older, newer`` codes,
    one pair for each area of either vintage whose representative point lies in an area of
    the other (the lowest code on a shared boundary), as ONS's best-fit lookups pair them."""
    frame = read_frame(
        conn,
        "SELECT o.code AS older, (SELECT n.code FROM areas AS n WHERE n.level = 'lsoa' "
        "AND n.vintage = %(newer)s AND ST_Intersects(n.geom, o.rep_point) ORDER BY n.code "
        "LIMIT 1) AS newer FROM areas AS o WHERE o.level = 'lsoa' AND o.vintage = %(older)s "
        "UNION "
        "SELECT (SELECT o.code FROM areas AS o WHERE o.level = 'lsoa' AND o.vintage = %(older)s "
        "AND ST_Intersects(o.geom, n.rep_point) ORDER BY o.code LIMIT 1), n.code "
        "FROM areas AS n WHERE n.level = 'lsoa' AND n.vintage = %(newer)s",
        {"older": older, "newer": newer},
    )
    return frame.dropna().reset_index(drop=True)


def gp_registrations(conn: Connection[Any]) -> pd.DataFrame:
    """Registered patients per GP practice from the active loads: ``practice_code,
    practice_name, postcode, registered_patients, reference_date, file_name``."""
    frame = read_frame(
        conn,
        "SELECT g.practice_code, g.practice_name, g.postcode, g.registered_patients, "
        "g.reference_date, d.file_name FROM gp_registrations AS g "
        "JOIN data_loads AS d ON d.id = g.load_id WHERE d.status = 'active' "
        "ORDER BY g.practice_code",
    )
    if frame.empty:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=object)
                for c in (
                    "practice_code",
                    "practice_name",
                    "postcode",
                    "registered_patients",
                    "reference_date",
                    "file_name",
                )
            }
        )
    return frame.astype({"registered_patients": "float64"})
