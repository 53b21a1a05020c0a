"""Writing a load's rows: COPY into a staging table, then replace or merge the previous load's.

A load (see :mod:`etl.loading`) runs in one transaction. Each of its tables is copied into a
temporary staging table (``COPY``, dropped at commit), then swapped in for the rows of the
load(s) it replaces:

* tables with a natural key (:data:`STABLE_KEYS`: sites, areas, postcodes) are *merged*: a
  staged row whose key was in the previous load updates that row in place, keeping its
  ``id``, so saved scenarios, stored travel times and catchments that name a site by id
  survive the quarterly reload of a newer file; the same comparison gives the change report
  (:class:`TableChanges`);
* every other table is *replaced*: the old load's rows are deleted and the staged ones
  inserted.

Nothing here commits; a failure anywhere rolls the whole load back with its transaction.
Table and column names come from :data:`GEOMETRY_COLUMNS` and the reader's frame, never from
a file, and are quoted as identifiers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import Connection, sql
from psycopg.pq import TransactionStatus
from shapely.geometry.base import BaseGeometry

from spatial.crs import BNG

__all__ = [
    "GEOMETRY_COLUMNS",
    "MAX_CHANGE_EXAMPLES",
    "STABLE_KEYS",
    "LoadConflict",
    "TableChanges",
    "count_load_rows",
    "delete_load_rows",
    "stage_and_swap",
]

#: Tables a load may write, with the geometry columns each holds (stored as EPSG:27700).
GEOMETRY_COLUMNS: dict[str, tuple[str, ...]] = {
    "areas": ("geom", "rep_point"),
    "population": (),
    "deprivation": (),
    "sites": ("geom",),
    "postcodes": ("geom",),
    "network_nodes": ("geom",),
    "network_edges": ("geom",),
    # GTFS feeds (etl/gtfs_load.py)
    "transit_feeds": (),
    "transit_stops": ("geom",),
    "gtfs_routes": (),
    "gtfs_trips": (),
    "gtfs_stop_times": (),
    "gtfs_calendar": (),
    "gtfs_calendar_dates": (),
    # The national ERIC benchmark (etl/readers/eric_benchmark.py)
    "eric_returns": (),
    # GP list sizes (etl/readers/registrations.py)
    "gp_registrations": (),
}

#: Natural keys of the tables whose rows keep their ``id`` when a newer file replaces a load.
STABLE_KEYS: dict[str, tuple[str, ...]] = {
    "sites": ("source", "source_id"),
    "areas": ("code", "vintage"),
    "postcodes": ("postcode", "source"),
}
#: Columns that make a change-report example readable (shown after the key).
_LABEL_COLUMNS: dict[str, str] = {"sites": "name", "areas": "name"}
MAX_CHANGE_EXAMPLES = 20


@dataclass
class TableChanges:
    """How a load changed one table against the load(s) it replaced.

    ``examples`` lists up to :data:`MAX_CHANGE_EXAMPLES` keys per kind of change (``"C82044
    EMPINGHAM SURGERY"``; for ``changed`` with the changed columns in brackets).
    """

    added: int = 0
    removed: int = 0
    changed: int = 0
    unchanged: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    def describe(self) -> str:
        """``+3 added, -1 removed, ~2 changed, 40 unchanged``."""
        return (
            f"+{self.added} added, -{self.removed} removed, ~{self.changed} changed, "
            f"{self.unchanged} unchanged"
        )


class LoadConflict(Exception):
    """Staged rows break a constraint (e.g. a key already held by another region's load).

    The message is PostgreSQL's first line; the transaction is rolled back by the caller's
    ``with`` block as the exception leaves it.
    """


def _require_transaction(conn: Connection[Any]) -> None:
    # The staging table is dropped at commit: in autocommit it would vanish after CREATE.
    if conn.info.transaction_status != TransactionStatus.INTRANS:
        raise RuntimeError("stage_and_swap needs a transaction (Database.transaction())")


def _names(names: Sequence[str], alias: str | None = None) -> sql.Composed:
    """``a, b, c`` (or ``x.a, x.b, x.c``) as quoted identifiers."""
    return sql.SQL(", ").join(
        sql.Identifier(alias, n) if alias else sql.Identifier(n) for n in names
    )


def _copy_value(value: Any) -> Any:
    """One cell as COPY takes it: hex WKB for geometries, JSON text for dicts and lists."""
    if value is None:
        return None
    if isinstance(value, BaseGeometry):
        return shapely.to_wkb(value, hex=True, include_srid=False)
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return value


def count_load_rows(conn: Connection[Any], table: str, load_ids: Sequence[int]) -> int:
    """How many rows of ``table`` the loads ``load_ids`` hold."""
    if table not in GEOMETRY_COLUMNS:
        raise ValueError(f"{table!r} is not a table loads write")
    if not load_ids:
        return 0
    row = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE load_id = ANY(%(ids)s)").format(
            sql.Identifier(table)
        ),
        {"ids": list(load_ids)},
    ).fetchone()
    assert row is not None  # an aggregate always gives one row
    return int(row[0])


def delete_load_rows(conn: Connection[Any], table: str, load_ids: Sequence[int]) -> None:
    """Delete the rows of ``table`` written by the loads ``load_ids``."""
    if table not in GEOMETRY_COLUMNS:
        raise ValueError(f"{table!r} is not a table loads write")
    conn.execute(
        sql.SQL("DELETE FROM {} WHERE load_id = ANY(%(ids)s)").format(sql.Identifier(table)),
        {"ids": list(load_ids)},
    )


def stage_and_swap(
    conn: Connection[Any],
    table: str,
    frame: pd.DataFrame,
    load_id: int,
    old_loads: Sequence[int],
) -> TableChanges | None:
    """Stage ``frame`` as load ``load_id``'s rows of ``table`` and swap them in for ``old_loads``.

    Parameters
    ----------
    conn
        A connection inside the load's transaction.
    table
        One of :data:`GEOMETRY_COLUMNS`.
    frame
        The rows, one column per table column (geometries as shapely objects in EPSG:27700,
        JSON columns as dicts or lists); ``load_id`` is added here.
    load_id
        The ``data_loads`` id of this load.
    old_loads
        The loads this one replaces.

    Returns
    -------
    TableChanges or None
        The change report for tables with a natural key (:data:`STABLE_KEYS`, merged in
        place); None for tables replaced wholesale.

    Raises
    ------
    LoadConflict
        When the rows break a constraint of the table (nothing is written: the transaction
        must be rolled back, as leaving its ``with`` block with the exception does).
    """
    if table not in GEOMETRY_COLUMNS:
        raise ValueError(f"{table!r} is not a table loads write")
    _require_transaction(conn)
    try:
        return _stage_and_swap(conn, table, frame, load_id, old_loads)
    except psycopg.IntegrityError as exc:
        raise LoadConflict(str(exc).splitlines()[0]) from exc


def _stage_and_swap(
    conn: Connection[Any],
    table: str,
    frame: pd.DataFrame,
    load_id: int,
    old_loads: Sequence[int],
) -> TableChanges | None:
    stage = f"_stage_{table}"
    columns = [str(c) for c in frame.columns if c != "load_id"]
    target = [*columns, "load_id"]
    conn.execute(
        sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
            sql.Identifier(stage), sql.Identifier(table)
        )
    )
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(stage), _names(target))
    with conn.cursor() as cur, cur.copy(copy_sql) as copy:
        for row in frame[columns].itertuples(index=False, name=None):
            copy.write_row([*(_copy_value(v) for v in row), load_id])
    for col in sorted(set(GEOMETRY_COLUMNS[table]) & set(columns)):
        # Hex WKB carries no SRID; the rows are EPSG:27700 by the readers' contract.
        conn.execute(
            sql.SQL("UPDATE {s} SET {c} = ST_SetSRID({c}, {srid})").format(
                s=sql.Identifier(stage), c=sql.Identifier(col), srid=sql.Literal(BNG)
            )
        )
    keys = STABLE_KEYS.get(table)
    if keys is not None and set(keys) <= set(columns):
        return _merge(conn, table, stage, columns, keys, load_id, list(old_loads))
    if old_loads:
        delete_load_rows(conn, table, old_loads)
    conn.execute(
        sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {s}").format(
            t=sql.Identifier(table), c=_names(target), s=sql.Identifier(stage)
        )
    )
    return None


def _label(table: str, alias: str) -> sql.Composable:
    """A row's readable key for the change report: ``concat_ws(' ', source_id, name)``."""
    keys = STABLE_KEYS[table]
    parts = [k for k in keys if k != "source"] or [keys[0]]
    label_col = _LABEL_COLUMNS.get(table)
    if label_col:
        parts.append(label_col)
    return sql.SQL("concat_ws(' ', {})").format(_names(parts, alias))


def _merge(
    conn: Connection[Any],
    table: str,
    stage: str,
    columns: list[str],
    keys: tuple[str, ...],
    load_id: int,
    old_loads: list[int],
) -> TableChanges:
    """Update matching rows of ``old_loads`` in place, delete the rest, insert the new ones."""
    data = [c for c in columns if c not in keys]
    t, s = sql.Identifier(table), sql.Identifier(stage)
    match = sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier("t", k), sql.Identifier("s", k)) for k in keys
    )
    changes = TableChanges()
    params: dict[str, Any] = {"old": old_loads, "new": load_id}
    if old_loads:
        which = (
            sql.SQL(", ").join(
                sql.SQL("CASE WHEN {a} IS DISTINCT FROM {b} THEN {name} END").format(
                    a=sql.Identifier("t", c), b=sql.Identifier("s", c), name=sql.Literal(c)
                )
                for c in data
            )
            if data
            else sql.SQL("NULL")
        )
        rows = conn.execute(
            sql.SQL(
                "SELECT t.id, {label}, array_remove(ARRAY[{which}]::text[], NULL) "
                "FROM {s} AS s JOIN {t} AS t ON {match} "
                "WHERE t.load_id = ANY(%(old)s) ORDER BY 2"
            ).format(label=_label(table, "s"), which=which, s=s, t=t, match=match),
            params,
        ).fetchall()
        changed = [r for r in rows if r[2]]
        changes.changed = len(changed)
        changes.unchanged = len(rows) - len(changed)
        changes.examples["changed"] = [
            f"{r[1]} ({', '.join(r[2])})" for r in changed[:MAX_CHANGE_EXAMPLES]
        ]
        moved = [r[0] for r in changed if "geom" in r[2]]
        if table == "sites" and moved:
            # A catchment describes the old place of a site that moved.
            conn.execute("DELETE FROM catchments WHERE site_id = ANY(%(ids)s)", {"ids": moved})
        assignments = sql.SQL(", ").join(
            [
                *(
                    sql.SQL("{} = {}").format(sql.Identifier(c), sql.Identifier("s", c))
                    for c in data
                ),
                sql.SQL("load_id = %(new)s"),
            ]
        )
        conn.execute(
            sql.SQL(
                "UPDATE {t} AS t SET {assignments} FROM {s} AS s "
                "WHERE {match} AND t.load_id = ANY(%(old)s)"
            ).format(t=t, assignments=assignments, s=s, match=match),
            params,
        )
        removed = conn.execute(
            sql.SQL("DELETE FROM {t} AS t WHERE t.load_id = ANY(%(old)s) RETURNING {label}").format(
                t=t, label=_label(table, "t")
            ),
            params,
        ).fetchall()
        gone = sorted(str(r[0]) for r in removed)
        changes.removed = len(gone)
        changes.examples["removed"] = gone[:MAX_CHANGE_EXAMPLES]
    target = _names([*columns, "load_id"])
    # Rows matched above now carry the new load id; a key held by another load (another
    # region's) is not skipped here, so it still fails on the unique constraint.
    added = conn.execute(
        sql.SQL(
            "INSERT INTO {t} ({c}) SELECT {c} FROM {s} AS s "
            "WHERE NOT EXISTS (SELECT 1 FROM {t} AS t WHERE {match} AND t.load_id = %(new)s) "
            "RETURNING {label}"
        ).format(t=t, c=target, s=s, match=match, label=_label(table, table)),
        params,
    ).fetchall()
    new = sorted(str(r[0]) for r in added)
    changes.added = len(new)
    changes.examples["added"] = new[:MAX_CHANGE_EXAMPLES]
    changes.examples = {k: v for k, v in changes.examples.items() if v}
    return changes
