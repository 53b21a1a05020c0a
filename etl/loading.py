"""Atomic, idempotent loads with provenance: the one way any dataset reaches PostGIS.

Every reader in ``etl/`` turns a file into a :class:`ParsedFile` (one DataFrame per target
table, geometry as shapely objects in EPSG:27700, plus the rows it rejected with their row
numbers and reasons). :func:`load_parsed` then, in one transaction:

1. skips the load when the same file (sha256), built with the same parameters (a road
   network's speeds), is already the active load of that dataset and region — loading a file
   twice changes nothing;
2. refuses the load when rows were rejected (unless the caller allows a number of rejects):
   the error names the file, each row and its reason, and nothing is written;
3. copies each frame into a temporary staging table (``COPY``), replaces the rows of the
   previous active load of the same dataset and region with the staged rows and marks the
   previous load ``superseded`` — so readers of the database see either the old data or the new,
   never a mix, and an interrupted load rolls back to exactly what was there;
4. refuses (rolls back) a load that would remove more than ``max_shrink`` of the rows the
   region held in any table (``LOCUS_LOAD_MAX_SHRINK``): a file cut short or filtered by
   mistake must not silently replace a complete one; ``--allow-shrink`` lets it through.

Sites, areas and postcodes keep their identity across reloads
(:data:`store.load_merge.STABLE_KEYS`): a row of the new file whose natural key (ODS code, area
code, postcode) was in the previous load updates that row in place, keeping its ``id``, so
saved scenarios, stored travel times and catchments that refer to a site by id survive the
quarterly reload of a newer file. The same comparison
gives the load's change report (:class:`TableChanges`: rows added, removed, changed — with the
columns that changed — and unchanged), kept in ``data_loads.changes`` and printed by
``locus load``. Catchments of a site that moved are deleted (they described the old place).

This module decides *what* happens; the SQL that does it is in :mod:`store.loads`
(provenance, look-ups) and :mod:`store.load_merge` (staging, swap, merge).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from store import loads
from store.connection import Database
from store.load_merge import (
    GEOMETRY_COLUMNS,
    LoadConflict,
    TableChanges,
    count_load_rows,
    delete_load_rows,
    stage_and_swap,
)

__all__ = [
    "GEOMETRY_COLUMNS",
    "ODBL",
    "OGL",
    "OS_ATTRIBUTION",
    "LoadError",
    "LoadSummary",
    "ParsedFile",
    "Region",
    "Reject",
    "TableChanges",
    "load_parsed",
    "parse_bbox",
    "resolve_region",
    "sha256_of",
    "unchanged_load",
]

OGL = "Open Government Licence v3.0"
OS_ATTRIBUTION = "Contains OS data © Crown copyright and database right"
ODBL = "© OpenStreetMap contributors, ODbL 1.0"

MAX_REJECTS_SHOWN = 50
UNCHANGED_NOTE = "the same file is already loaded: nothing changed"


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
    #: Settings the rows were built with besides the file (a road network: its walking and
    #: cycling speeds). Recorded in ``data_loads.metadata`` and part of the load's identity:
    #: the same file built with other parameters is a new load, not "unchanged".
    parameters: dict[str, Any] = field(default_factory=dict)
    #: More facts about the build, recorded with the parameters (a network: per-mode details).
    metadata: dict[str, Any] = field(default_factory=dict)


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
    #: What the load was built with (``data_loads.metadata``; a network: its speeds).
    metadata: dict[str, Any] = field(default_factory=dict)


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


def resolve_region(db: Database, key: str | None) -> Region:
    """The :class:`Region` for a CLI ``--region`` value ('' or None: no filter)."""
    if not key:
        return Region(key="")
    bbox = parse_bbox(key)
    if bbox is not None:
        with db.connection() as conn:
            polygon, codes = loads.bbox_region(conn, bbox)
        return Region(key=key, polygon=polygon, area_codes=codes)
    if not (len(key) == 9 and key[0] in "EWSN" and key[1:].isdigit()):
        raise ValueError(
            f"region {key!r}: expected a local authority code such as E06000017 "
            "or a bbox minlon,minlat,maxlon,maxlat"
        )
    with db.connection() as conn:
        outline, codes = loads.lad_region(conn, key)
    return Region(key=key, polygon=outline, area_codes=codes, lad_code=key)


def _check_frames(parsed: ParsedFile) -> None:
    for table, frame in parsed.tables.items():
        if table not in GEOMETRY_COLUMNS:
            raise LoadError(parsed.path, f"internal: unknown target table {table!r}")
        _check_finite(parsed.path, frame)
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
                        int(rows.iloc[i]),
                        f"column {col!r}: invalid geometry ({shapely.is_valid_reason(geoms[i])})",
                    )
                    for i in bad
                ]
                raise LoadError(parsed.path, problems)


def _check_finite(path: Path, frame: pd.DataFrame) -> None:
    """No infinity reaches the database, whatever the reader (they refuse them by
    :func:`etl.readers.common.to_number`; this catches one that did not)."""
    problems: list[Reject] = []
    rows = frame["_row"] if "_row" in frame.columns else pd.Series(frame.index + 1)
    for col in frame.columns:
        if col.startswith("_") or not pd.api.types.is_float_dtype(frame[col].dtype):
            continue
        infinite = np.isinf(frame[col].to_numpy(dtype=float))
        problems += [
            Reject(int(r), f"column {col!r}: {v} is not a finite number")
            for r, v in zip(rows.to_numpy()[infinite], frame[col].to_numpy()[infinite], strict=True)
        ]
    if problems:
        raise LoadError(path, problems)


@dataclass(frozen=True)
class _Shrink:
    """How many rows of one table the replaced loads held and how many this load removes."""

    table: str
    before: int
    removed: int
    examples: Sequence[str] = ()


def _refuse_shrink(path: Path, region: str, shrinks: Sequence[_Shrink], max_shrink: float) -> None:
    """Raise (so the load rolls back) when a table loses more than ``max_shrink`` of its rows."""
    problems = []
    for s in shrinks:
        if s.before == 0 or s.removed <= max_shrink * s.before:
            continue
        held = f"region {region} holds" if region else "the active load holds"
        listed = f" ({', '.join(s.examples[:10])}{', ...' if s.removed > 10 else ''})"
        problems.append(
            f"the load would remove {s.removed:,} of the {s.before:,} rows of {s.table} "
            f"{held} ({s.removed / s.before:.0%}){listed if s.examples else ''}"
        )
    if problems:
        raise LoadError(
            path,
            "; ".join(problems)
            + f": more than LOCUS_LOAD_MAX_SHRINK={max_shrink:g} ({max_shrink:.0%}) allows. "
            "Check the file is complete, or load it with --allow-shrink (allow_shrink=True) "
            "to accept the removals",
        )


def unchanged_load(
    db: Database,
    dataset: str,
    region: str,
    path: Path,
    parameters: Mapping[str, Any] | None = None,
) -> LoadSummary | None:
    """The summary of the active load of this very file (same sha256), or None.

    ``parameters`` are the settings the rows would be built with besides the file (a road
    network's speeds): a load of the same file built with other values does not count.
    Checked before a file is parsed, so re-loading an unchanged file costs one hash.
    """
    sha = sha256_of(path)
    with db.connection() as conn:
        record = loads.active_file_load(conn, dataset, region, sha, parameters)
    if record is None:
        return None
    return LoadSummary(
        dataset=dataset,
        region=region,
        file_name=path.name,
        status="unchanged",
        load_id=record.id,
        rows_read=record.rows_read,
        rows_loaded={},
        rows_rejected=record.rows_rejected,
        superseded=[],
        vintage=record.vintage,
        notes=[UNCHANGED_NOTE],
        metadata=dict(record.metadata),
    )


def _same_parameters(record: loads.LoadRecord, parameters: Mapping[str, Any]) -> bool:
    return all(record.metadata.get(k) == v for k, v in parameters.items())


def load_parsed(
    db: Database,
    parsed: ParsedFile,
    *,
    region: str = "",
    allow_rejects: int = 0,
    extra_superseded_datasets: Iterable[str] = (),
    max_shrink: float | None = None,
) -> LoadSummary:
    """Load a parsed file atomically, recording provenance in ``data_loads``.

    Parameters
    ----------
    db
        The target database (``store.connection.database(settings.database, purpose="batch")``).
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
    max_shrink
        The largest share (0-1) of the rows the replaced loads held in any table that this
        load may remove (rows whose key is gone; for tables replaced wholesale, the drop in
        count); None: no limit (``--allow-shrink``).

    Raises
    ------
    LoadError
        When rows were rejected beyond ``allow_rejects``, a geometry is invalid or a number
        infinite, the rows clash with another active load (e.g. one loaded for a different
        region), or the load would remove more than ``max_shrink`` of a table's rows;
        nothing is written.
    """
    if len(parsed.rejects) > allow_rejects:
        raise LoadError(parsed.path, parsed.rejects)
    _check_frames(parsed)
    sha = sha256_of(parsed.path)
    datasets = [parsed.dataset, *extra_superseded_datasets]
    started = dt.datetime.now(dt.UTC)
    try:
        with db.transaction() as conn:
            # One load of a dataset+region at a time: a second concurrent load waits here.
            loads.advisory_xact_lock(conn, f"{parsed.dataset}|{region}")
            previous = loads.active_loads(conn, datasets, region)
            same = [
                p
                for p in previous
                if p.sha256 == sha
                and p.dataset == parsed.dataset
                and _same_parameters(p, parsed.parameters)
            ]
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
                    notes=[UNCHANGED_NOTE],
                    metadata=dict(same[-1].metadata),
                )
            old_ids = [p.id for p in previous]
            metadata = {**parsed.metadata, **parsed.parameters}
            load_id = loads.start_load(
                conn,
                loads.NewLoad(
                    dataset=parsed.dataset,
                    region=region,
                    file_name=parsed.path.name,
                    sha256=sha,
                    vintage=parsed.vintage,
                    rows_read=parsed.rows_read,
                    rejects=[{"row": r.row, "reason": r.reason} for r in parsed.rejects],
                    started_at=started,
                    licence=parsed.licence,
                    message="; ".join(parsed.notes) or None,
                    metadata=metadata,
                ),
            )
            loaded: dict[str, int] = {}
            changes: dict[str, TableChanges] = {}
            shrinks: list[_Shrink] = []
            for table, frame in parsed.tables.items():
                clean = frame.drop(columns=[c for c in frame.columns if c.startswith("_")])
                before = count_load_rows(conn, table, old_ids)
                table_changes = stage_and_swap(conn, table, clean, load_id, old_ids)
                loaded[table] = len(clean)
                if table_changes is not None:
                    changes[table] = table_changes
                    shrinks.append(
                        _Shrink(
                            table,
                            before,
                            table_changes.removed,
                            table_changes.examples.get("removed", []),
                        )
                    )
                else:
                    shrinks.append(_Shrink(table, before, max(0, before - len(clean))))
            # Tables the old loads wrote but this one does not: their rows go too.
            if old_ids:
                for table in GEOMETRY_COLUMNS:
                    if table not in parsed.tables:
                        before = count_load_rows(conn, table, old_ids)
                        delete_load_rows(conn, table, old_ids)
                        shrinks.append(_Shrink(table, before, before))
            if max_shrink is not None:
                _refuse_shrink(parsed.path, region, shrinks, max_shrink)
            loads.supersede_loads(conn, old_ids)
            loads.finish_load(conn, load_id, rows_loaded=sum(loaded.values()), changes=changes)
    except LoadConflict as exc:
        raise LoadError(
            parsed.path,
            f"rows clash with another active load (loaded for a different region?): {exc}",
        ) from exc
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
        metadata=metadata,
    )
