"""Atomic, idempotent loads with provenance: the one way any dataset reaches PostGIS.

Every reader in ``etl/`` turns a file into a :class:`ParsedFile` (one DataFrame per target
table, geometry as shapely objects in EPSG:27700, plus the rows it rejected with their row
numbers and reasons). :func:`load_parsed` then, in one transaction:

1. skips the load when the same file (sha256) is already the active load of that dataset and
   region — loading a file twice changes nothing;
2. refuses the load when rows were rejected (unless the caller allows a number of rejects):
   the error names the file, each row and its reason, and nothing is written;
3. copies each frame into a temporary staging table (``COPY``), replaces the rows of the
   previous active load of the same dataset and region with the staged rows and marks the
   previous load ``superseded`` — so readers of the database see either the old data or the new,
   never a mix, and an interrupted load rolls back to exactly what was there.

Sites, areas and postcodes keep their identity across reloads (:data:`STABLE_KEYS`): a row of
the new file whose natural key (ODS code, area code, postcode) was in the previous load updates
that row in place, keeping its ``id``, so saved scenarios, stored travel times and catchments
that refer to a site by id survive the quarterly reload of a newer file. The same comparison
gives the load's change report (:class:`TableChanges`: rows added, removed, changed — with the
columns that changed — and unchanged), kept in ``data_loads.changes`` and printed by
``locus load``. Catchments of a site that moved are deleted (they described the old place).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, Engine, text

BNG = 27700
OGL = "Open Government Licence v3.0"
OS_ATTRIBUTION = "Contains OS data © Crown copyright and database right"
ODBL = "© OpenStreetMap contributors, ODbL 1.0"

# Tables a load may write, with the geometry columns each holds (stored as EPSG:27700).
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
}
JSON_COLUMNS: dict[str, tuple[str, ...]] = {
    "sites": ("attributes",),
    "transit_feeds": ("agencies",),
}

MAX_REJECTS_SHOWN = 50

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


@dataclass(frozen=True)
class Reject:
    """One rejected input row: its row number as a user sees it in the file, and why."""

    row: int | None
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}" if self.row is not None else self.reason


class LoadError(Exception):
    """A file that cannot be loaded; the message names the file, the rows and the reasons."""

    def __init__(self, path: Path | str, problems: str | Sequence[Reject]) -> None:
        self.path = Path(path)
        if isinstance(problems, str):
            self.rejects: list[Reject] = [Reject(None, problems)]
        else:
            self.rejects = list(problems)
        shown = [str(r) for r in self.rejects[:MAX_REJECTS_SHOWN]]
        more = len(self.rejects) - len(shown)
        lines = [f"{self.path.name}: {line}" for line in shown]
        if more > 0:
            lines.append(f"{self.path.name}: ... and {more} more rejected rows")
        super().__init__("\n".join(lines))


@dataclass
class ParsedFile:
    """What a reader made of one file, ready for :func:`load_parsed`."""

    dataset: str
    path: Path
    licence: str
    tables: dict[str, pd.DataFrame]
    rows_read: int
    rejects: list[Reject] = field(default_factory=list)
    vintage: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class LoadSummary:
    """The outcome of a load, as printed at the end of ``locus load``."""

    dataset: str
    region: str
    file_name: str
    status: str  # "loaded" or "unchanged"
    load_id: int
    rows_read: int
    rows_loaded: dict[str, int]
    rows_rejected: int
    superseded: list[int]
    vintage: str | None
    notes: list[str]
    changes: dict[str, TableChanges] = field(default_factory=dict)


@dataclass
class Region:
    """The region a load is filtered to: a local authority code or a WGS84 bbox.

    ``polygon`` is the region's outline in EPSG:27700 when known (the union of the areas
    loaded for that local authority, or the bbox), ``area_codes`` the LSOA/MSOA codes in it.
    """

    key: str
    polygon: BaseGeometry | None = None
    area_codes: frozenset[str] = frozenset()
    lad_code: str | None = None

    def contains(self, geoms: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Boolean mask of the geometries inside the region (all True when unknown)."""
        if self.polygon is None:
            return np.ones(len(geoms), dtype=bool)
        shapely.prepare(self.polygon)
        # 50 m tolerance: boundary generalisation puts real edge-of-county points just outside.
        inside = shapely.dwithin(self.polygon, geoms, 50.0)
        return np.asarray(inside, dtype=bool)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_bbox(text_bbox: str) -> tuple[float, float, float, float] | None:
    """``"minlon,minlat,maxlon,maxlat"`` as four floats, or None when not a bbox."""
    parts = text_bbox.split(",")
    if len(parts) != 4:
        return None
    try:
        minx, miny, maxx, maxy = (float(p) for p in parts)
    except ValueError:
        return None
    if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
        raise ValueError(
            f"region bbox {text_bbox!r}: expected minlon,minlat,maxlon,maxlat in WGS84 "
            "with min < max"
        )
    return minx, miny, maxx, maxy


def resolve_region(conn: Connection, key: str | None) -> Region:
    """The :class:`Region` for a CLI ``--region`` value ('' or None: no filter)."""
    if not key:
        return Region(key="")
    bbox = parse_bbox(key)
    if bbox is not None:
        row = conn.execute(
            text("SELECT ST_AsBinary(ST_Transform(ST_MakeEnvelope(:a, :b, :c, :d, 4326), 27700))"),
            {"a": bbox[0], "b": bbox[1], "c": bbox[2], "d": bbox[3]},
        ).one()
        polygon = shapely.from_wkb(bytes(row[0]))
        in_bbox = conn.execute(
            text(
                "SELECT code FROM areas WHERE ST_Intersects(rep_point, ST_GeomFromWKB(:wkb, 27700))"
            ),
            {"wkb": shapely.to_wkb(polygon)},
        ).scalars()
        return Region(key=key, polygon=polygon, area_codes=frozenset(in_bbox))
    if not (len(key) == 9 and key[0] in "EWSN" and key[1:].isdigit()):
        raise ValueError(
            f"region {key!r}: expected a local authority code such as E06000017 "
            "or a bbox minlon,minlat,maxlon,maxlat"
        )
    codes: frozenset[str] = frozenset(
        conn.execute(text("SELECT code FROM areas WHERE lad_code = :r"), {"r": key}).scalars()
    )
    wkb = conn.execute(
        text(
            "SELECT ST_AsBinary(ST_Union(geom)) FROM areas WHERE lad_code = :r "
            "AND vintage = (SELECT max(vintage) FROM areas WHERE lad_code = :r)"
        ),
        {"r": key},
    ).scalar()
    outline = shapely.from_wkb(bytes(wkb)) if wkb is not None else None
    return Region(key=key, polygon=outline, area_codes=codes, lad_code=key)


def _copy_value(value: Any) -> Any:
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


def _stage_and_swap(
    conn: Connection, table: str, frame: pd.DataFrame, load_id: int, old_loads: list[int]
) -> TableChanges | None:
    """Stage ``frame`` and swap it in for the rows of ``old_loads``.

    Tables with a natural key (:data:`STABLE_KEYS`) are merged (rows keep their ids) and the
    changes are returned; other tables are replaced wholesale (returns None).
    """
    stage = f"_stage_{table}"
    columns = [c for c in frame.columns if c != "load_id"]
    geom_cols = set(GEOMETRY_COLUMNS[table])
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    raw = conn.connection.driver_connection
    assert raw is not None
    column_list = ", ".join([*columns, "load_id"])
    with raw.cursor() as cur, cur.copy(f"COPY {stage} ({column_list}) FROM STDIN") as copy:
        for row in frame[columns].itertuples(index=False, name=None):
            copy.write_row([*(_copy_value(v) for v in row), load_id])
    for col in geom_cols & set(columns):
        conn.exec_driver_sql(f"UPDATE {stage} SET {col} = ST_SetSRID({col}, {BNG})")
    keys = STABLE_KEYS.get(table)
    if keys is not None and set(keys) <= set(columns):
        return _merge(conn, table, stage, columns, keys, load_id, old_loads)
    if old_loads:
        conn.execute(
            text(f"DELETE FROM {table} WHERE load_id = ANY(:ids)"),
            {"ids": old_loads},
        )
    conn.exec_driver_sql(f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {stage}")
    return None


def _merge(
    conn: Connection,
    table: str,
    stage: str,
    columns: list[str],
    keys: tuple[str, ...],
    load_id: int,
    old_loads: list[int],
) -> TableChanges:
    """Update matching rows of ``old_loads`` in place, delete the rest, insert the new ones.

    Table and column names come from the reader's frame and the registry, never from a file.
    """
    data = [c for c in columns if c not in keys]
    match = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    label_col = _LABEL_COLUMNS.get(table)

    def label(alias: str) -> str:
        parts = [f"{alias}.{k}" for k in keys if k != "source"] or [f"{alias}.{keys[0]}"]
        if label_col:
            parts.append(f"{alias}.{label_col}")
        return f"concat_ws(' ', {', '.join(parts)})"

    changes = TableChanges()
    params = {"old": old_loads, "new": load_id}
    if old_loads:
        which = ", ".join(f"CASE WHEN t.{c} IS DISTINCT FROM s.{c} THEN '{c}' END" for c in data)
        rows = conn.execute(
            text(
                f"SELECT t.id, {label('s')}, "
                f"array_remove(ARRAY[{which or 'NULL'}]::text[], NULL) "
                f"FROM {stage} AS s JOIN {table} AS t ON {match} "
                f"WHERE t.load_id = ANY(:old) ORDER BY 2"
            ),
            params,
        ).all()
        changed = [r for r in rows if r[2]]
        changes.changed = len(changed)
        changes.unchanged = len(rows) - len(changed)
        changes.examples["changed"] = [
            f"{r[1]} ({', '.join(r[2])})" for r in changed[:MAX_CHANGE_EXAMPLES]
        ]
        moved = [r[0] for r in changed if "geom" in r[2]]
        if table == "sites" and moved:
            # A catchment describes the old place of a site that moved.
            conn.execute(text("DELETE FROM catchments WHERE site_id = ANY(:ids)"), {"ids": moved})
        assignments = ", ".join([*(f"{c} = s.{c}" for c in data), "load_id = :new"])
        conn.execute(
            text(
                f"UPDATE {table} AS t SET {assignments} FROM {stage} AS s "
                f"WHERE {match} AND t.load_id = ANY(:old)"
            ),
            params,
        )
        removed = conn.execute(
            text(f"DELETE FROM {table} AS t WHERE t.load_id = ANY(:old) RETURNING {label('t')}"),
            params,
        ).scalars()
        gone = sorted(removed)
        changes.removed = len(gone)
        changes.examples["removed"] = gone[:MAX_CHANGE_EXAMPLES]
    column_list = ", ".join([*columns, "load_id"])
    # Rows matched above now carry the new load id; a key held by another load (another
    # region's) is not skipped here, so it still fails on the unique constraint.
    added = conn.execute(
        text(
            f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {stage} AS s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {match} AND t.load_id = :new) "
            f"RETURNING {label(table)}"
        ),
        params,
    ).scalars()
    new = sorted(added)
    changes.added = len(new)
    changes.examples["added"] = new[:MAX_CHANGE_EXAMPLES]
    changes.examples = {k: v for k, v in changes.examples.items() if v}
    return changes


def advisory_xact_lock(conn: Connection, key: str) -> None:
    """Wait for, then hold until the transaction ends, the advisory lock named ``key``."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})


def _check_frames(parsed: ParsedFile) -> None:
    for table, frame in parsed.tables.items():
        if table not in GEOMETRY_COLUMNS:
            raise LoadError(parsed.path, f"internal: unknown target table {table!r}")
        for col in GEOMETRY_COLUMNS[table]:
            if col not in frame.columns:
                continue
            geoms = frame[col].to_numpy()
            present = ~shapely.is_missing(geoms)
            valid = shapely.is_valid(geoms[present])
            if not np.all(valid):
                bad = np.flatnonzero(present)[~valid]
                rows = frame.get("_row", pd.Series(frame.index + 1, index=frame.index))
                problems = [
                    Reject(
                        int(rows.iloc[i]), f"invalid geometry ({shapely.is_valid_reason(geoms[i])})"
                    )
                    for i in bad
                ]
                raise LoadError(parsed.path, problems)


def unchanged_load(engine: Engine, dataset: str, region: str, path: Path) -> LoadSummary | None:
    """The summary of the active load of this very file (same sha256), or None.

    Checked before a file is parsed, so re-loading an unchanged file costs one hash.
    """
    sha = sha256_of(path)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT id, rows_read, rows_rejected, vintage FROM data_loads WHERE dataset = :d "
                "AND region = :r AND status = 'active' AND sha256 = :s ORDER BY id DESC LIMIT 1"
            ),
            {"d": dataset, "r": region, "s": sha},
        ).first()
    if row is None:
        return None
    return LoadSummary(
        dataset=dataset,
        region=region,
        file_name=path.name,
        status="unchanged",
        load_id=row.id,
        rows_read=row.rows_read,
        rows_loaded={},
        rows_rejected=row.rows_rejected,
        superseded=[],
        vintage=row.vintage,
        notes=["the same file is already loaded: nothing changed"],
    )


def load_parsed(
    engine: Engine,
    parsed: ParsedFile,
    *,
    region: str = "",
    allow_rejects: int = 0,
    extra_superseded_datasets: Iterable[str] = (),
) -> LoadSummary:
    """Load a parsed file atomically, recording provenance in ``data_loads``.

    Parameters
    ----------
    engine
        The target database.
    parsed
        What a reader produced from the file.
    region
        The region key the load was filtered to ('' for the whole file); a newer load of the
        same dataset and region replaces this one.
    allow_rejects
        How many rejected rows to tolerate (they are recorded with the load); more than this
        and the load is refused with every reason listed.
    extra_superseded_datasets
        Other dataset names whose active loads for the region this one replaces.

    Raises
    ------
    LoadError
        When rows were rejected beyond ``allow_rejects`` or a geometry is invalid; nothing is
        written.
    """
    if len(parsed.rejects) > allow_rejects:
        raise LoadError(parsed.path, parsed.rejects)
    _check_frames(parsed)
    sha = sha256_of(parsed.path)
    datasets = [parsed.dataset, *extra_superseded_datasets]
    started = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        # One load of a dataset+region at a time: a second concurrent load waits here.
        advisory_xact_lock(conn, f"{parsed.dataset}|{region}")
        previous = conn.execute(
            text(
                "SELECT id, sha256, dataset FROM data_loads WHERE dataset = ANY(:ds) "
                "AND region = :r AND status = 'active' ORDER BY id"
            ),
            {"ds": datasets, "r": region},
        ).all()
        same = [p for p in previous if p.sha256 == sha and p.dataset == parsed.dataset]
        if same:
            return LoadSummary(
                dataset=parsed.dataset,
                region=region,
                file_name=parsed.path.name,
                status="unchanged",
                load_id=same[-1].id,
                rows_read=parsed.rows_read,
                rows_loaded={},
                rows_rejected=len(parsed.rejects),
                superseded=[],
                vintage=parsed.vintage,
                notes=["the same file is already loaded: nothing changed"],
            )
        old_ids = [p.id for p in previous]
        load_id = conn.execute(
            text(
                "INSERT INTO data_loads (dataset, region, file_name, sha256, vintage, "
                "rows_read, rows_rejected, rejects, started_at, status, licence, message) "
                "VALUES (:dataset, :region, :file, :sha, :vintage, :read, :rejected, "
                "CAST(:rejects AS jsonb), :started, 'active', :licence, :message) RETURNING id"
            ),
            {
                "dataset": parsed.dataset,
                "region": region,
                "file": parsed.path.name,
                "sha": sha,
                "vintage": parsed.vintage,
                "read": parsed.rows_read,
                "rejected": len(parsed.rejects),
                "rejects": json.dumps([{"row": r.row, "reason": r.reason} for r in parsed.rejects]),
                "started": started,
                "licence": parsed.licence,
                "message": "; ".join(parsed.notes) or None,
            },
        ).scalar_one()
        loaded: dict[str, int] = {}
        changes: dict[str, TableChanges] = {}
        for table, frame in parsed.tables.items():
            clean = frame.drop(columns=[c for c in frame.columns if c.startswith("_")])
            table_changes = _stage_and_swap(conn, table, clean, load_id, old_ids)
            loaded[table] = len(clean)
            if table_changes is not None:
                changes[table] = table_changes
        # Tables the old loads wrote but this one does not: their rows go too.
        for table in GEOMETRY_COLUMNS:
            if table not in parsed.tables and old_ids:
                conn.execute(
                    text(f"DELETE FROM {table} WHERE load_id = ANY(:ids)"), {"ids": old_ids}
                )
        if old_ids:
            conn.execute(
                text("UPDATE data_loads SET status = 'superseded' WHERE id = ANY(:ids)"),
                {"ids": old_ids},
            )
        conn.execute(
            text(
                "UPDATE data_loads SET rows_loaded = :n, finished_at = :t,"
                " changes = CAST(:changes AS jsonb) WHERE id = :id"
            ),
            {
                "n": sum(loaded.values()),
                "t": dt.datetime.now(dt.UTC),
                "id": load_id,
                "changes": json.dumps({t: asdict(c) for t, c in changes.items()}),
            },
        )
    return LoadSummary(
        dataset=parsed.dataset,
        region=region,
        file_name=parsed.path.name,
        status="loaded",
        load_id=load_id,
        rows_read=parsed.rows_read,
        rows_loaded=loaded,
        rows_rejected=len(parsed.rejects),
        superseded=old_ids,
        vintage=parsed.vintage,
        notes=parsed.notes,
        changes=changes,
    )


def table_checksum(conn: Connection, table: str) -> str:
    """md5 of every row of ``table`` in a stable order (used to prove a load changed nothing)."""
    value = conn.exec_driver_sql(
        f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
    ).scalar_one()
    return str(value)
