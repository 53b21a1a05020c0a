"""Stored area → site travel times (``travel_times``) and the ledger of derived products.

The matrix is computed for every located site (restricted ones included) by ``locus
compute``; every read joins ``sites`` and applies :func:`store.access.visible_rows`, so a
restricted site's times reach its own organisation only. ``computations`` records what each
stored product was computed from (the newest data load and the model's parameters), so a
refresh recomputes only when either changed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from psycopg import AsyncConnection, Connection, sql
from psycopg.rows import dict_row

from store.access import Principal, visible_rows
from store.connection import read_frame

__all__ = [
    "TRAVEL_TIME_COLUMNS",
    "Computation",
    "access_by_area",
    "has_travel_times",
    "latest_computation",
    "min_times_to_sites",
    "newest_load_id",
    "record_computation",
    "replace_travel_times",
    "stored_times",
]

#: Columns written by :func:`replace_travel_times`, in ``COPY`` order.
TRAVEL_TIME_COLUMNS = (
    "mode",
    "area_code",
    "area_vintage",
    "site_id",
    "seconds",
    "network_load_id",
)


@dataclass(frozen=True)
class Computation:
    """The latest ``computations`` row of a kind: what it was computed from and found."""

    kind: str
    newest_load_id: int
    parameters: dict[str, Any]
    summary: Any


def replace_travel_times(conn: Connection[Any], mode: str, rows: pd.DataFrame) -> int:
    """Replace every stored time of ``mode`` by ``rows``; returns the number of rows written.

    ``rows`` has the columns ``area_code, area_vintage, site_id, seconds, network_load_id``
    (``mode`` is added). Run it inside one transaction (``Database.transaction``) so readers
    see either the old matrix or the new one.
    """
    frame = rows.assign(mode=mode)[list(TRAVEL_TIME_COLUMNS)]
    conn.execute("DELETE FROM travel_times WHERE mode = %(m)s", {"m": mode})
    with (
        conn.cursor() as cur,
        cur.copy(
            sql.SQL("COPY travel_times ({}) FROM STDIN").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in TRAVEL_TIME_COLUMNS)
            )
        ) as copy,
    ):
        for row in frame.itertuples(index=False, name=None):
            copy.write_row([_plain(v) for v in row])
    return len(frame)


def stored_times(
    conn: Connection[Any],
    principal: Principal,
    *,
    mode: str,
    area_vintage: int = 2021,
    kinds: Sequence[str] | None = None,
    site_ids: Sequence[int] | None = None,
    active_only: bool = False,
    load_id: int | None = None,
) -> pd.DataFrame:
    """Stored times to the sites ``principal`` may see: long frame ``from_id, to_id, mode,
    seconds`` (area code → site id).

    Optionally only to sites of ``kinds``, with an id in ``site_ids``, or active ones, and
    only times computed on network (or feed) load ``load_id``.
    """
    visible, params = visible_rows(principal, alias="s")
    where = [
        sql.SQL("t.mode = %(mode)s AND t.area_vintage = %(vintage)s"),
        visible,
    ]
    params.update({"mode": mode, "vintage": area_vintage})
    if kinds is not None:
        where.append(sql.SQL("s.kind = ANY(%(kinds)s)"))
        params["kinds"] = list(kinds)
    if site_ids is not None:
        where.append(sql.SQL("t.site_id = ANY(%(site_ids)s)"))
        params["site_ids"] = list(site_ids)
    if active_only:
        where.append(sql.SQL("s.status = 'active'"))
    if load_id is not None:
        where.append(sql.SQL("t.network_load_id = %(load_id)s"))
        params["load_id"] = load_id
    query = sql.SQL(
        "SELECT t.area_code AS from_id, t.site_id AS to_id, t.mode, t.seconds "
        "FROM travel_times AS t JOIN sites AS s ON s.id = t.site_id WHERE {where} "
        "ORDER BY t.area_code, t.site_id"
    ).format(where=sql.SQL(" AND ").join(where))
    frame = read_frame(conn, query, params)
    if frame.empty:
        return pd.DataFrame(
            {
                "from_id": pd.Series(dtype=object),
                "to_id": pd.Series(dtype="int64"),
                "mode": pd.Series(dtype=object),
                "seconds": pd.Series(dtype="float64"),
            }
        )
    return frame.astype({"to_id": "int64", "seconds": "float64"})


def min_times_to_sites(
    conn: Connection[Any],
    principal: Principal,
    *,
    mode: str,
    site_ids: Sequence[int],
    area_vintage: int = 2021,
) -> pd.DataFrame:
    """Per area, the least stored time to any of ``site_ids`` it may see: ``code, seconds``."""
    visible, params = visible_rows(principal, alias="s")
    query = sql.SQL(
        "SELECT t.area_code AS code, min(t.seconds) AS seconds FROM travel_times AS t "
        "JOIN sites AS s ON s.id = t.site_id WHERE t.site_id = ANY(%(site_ids)s) "
        "AND t.mode = %(mode)s AND t.area_vintage = %(vintage)s AND {visible} GROUP BY 1"
    ).format(visible=visible)
    params.update({"site_ids": list(site_ids), "mode": mode, "vintage": area_vintage})
    frame = read_frame(conn, query, params)
    if frame.empty:
        return pd.DataFrame(
            {"code": pd.Series(dtype=object), "seconds": pd.Series(dtype="float64")}
        )
    return frame.astype({"seconds": "float64"})


def access_by_area(
    conn: Connection[Any],
    principal: Principal,
    *,
    kind: str,
    mode: str,
    within_s: float,
    area_vintage: int = 2021,
) -> pd.DataFrame:
    """Every LSOA of ``area_vintage``: the least stored time to an active site of ``kind``
    ``principal`` may see, and how many such sites are within ``within_s`` seconds.

    Columns ``code, seconds`` (NaN: none reached) ``, sites_within``; ordered by code.
    """
    visible, params = visible_rows(principal, alias="s")
    query = sql.SQL(
        "SELECT a.code, min(t.seconds) AS seconds, "
        "count(t.site_id) FILTER (WHERE t.seconds <= %(within)s) AS sites_within "
        "FROM areas AS a LEFT JOIN (travel_times AS t JOIN sites AS s ON s.id = t.site_id "
        "AND s.kind = %(kind)s AND s.status = 'active' AND {visible}) "
        "ON t.area_code = a.code AND t.area_vintage = a.vintage AND t.mode = %(mode)s "
        "WHERE a.vintage = %(vintage)s AND a.level = 'lsoa' GROUP BY a.code ORDER BY a.code"
    ).format(visible=visible)
    params.update({"within": within_s, "kind": kind, "mode": mode, "vintage": area_vintage})
    frame = read_frame(conn, query, params)
    frame["seconds"] = pd.to_numeric(frame["seconds"]).astype("float64")
    return frame.astype({"sites_within": "int64"}) if len(frame) else frame


def newest_load_id(conn: Connection[Any]) -> int:
    """Id of the newest active data load (0 when nothing is loaded)."""
    row = conn.execute("SELECT coalesce(max(id), 0) FROM data_loads WHERE status = 'active'")
    found = row.fetchone()
    return int(found[0]) if found is not None else 0


def latest_computation(conn: Connection[Any], kind: str) -> Computation | None:
    """The newest ``computations`` row of ``kind``, or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT kind, newest_load_id, parameters, summary FROM computations "
            "WHERE kind = %(k)s ORDER BY id DESC LIMIT 1",
            {"k": kind},
        ).fetchone()
    if row is None:
        return None
    return Computation(
        kind=str(row["kind"]),
        newest_load_id=int(row["newest_load_id"]),
        parameters=dict(row["parameters"] or {}),
        summary=row["summary"],
    )


def record_computation(
    conn: Connection[Any],
    *,
    kind: str,
    newest_load_id: int,
    parameters: dict[str, Any],
    summary: Any,
    seconds: float,
) -> None:
    """Record a finished computation of ``kind`` (parameters and summary as JSON)."""
    conn.execute(
        "INSERT INTO computations (kind, newest_load_id, parameters, summary, seconds) "
        "VALUES (%(k)s, %(n)s, CAST(%(p)s AS jsonb), CAST(%(s)s AS jsonb), %(sec)s)",
        {
            "k": kind,
            "n": newest_load_id,
            "p": json.dumps(parameters, default=_json_default),
            "s": json.dumps(summary, default=_json_default),
            "sec": seconds,
        },
    )


def _plain(value: Any) -> Any:
    """numpy scalars as Python values (COPY adapts Python types)."""
    return value.item() if isinstance(value, np.generic) else value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


async def has_travel_times(conn: AsyncConnection[Any], *, mode: str, area_vintage: int) -> bool:
    """True when area → site travel times of ``mode`` are stored for ``area_vintage``.

    Only whether any row exists (a job's precheck): no site or time is returned, so it needs
    no visibility filter.
    """
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM travel_times WHERE mode = %(mode)s "
        "AND area_vintage = %(vintage)s)",
        {"mode": mode, "vintage": area_vintage},
    )
    row = await cur.fetchone()
    return bool(row and row[0])
