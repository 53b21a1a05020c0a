"""The dataset registry: every file format Locus loads, by name, and :func:`load_dataset`.

``locus load <dataset> <path> [--region E06000017]`` looks the name up in :data:`DATASETS`,
resolves the region against the areas already loaded, reads the file with the dataset's
reader, locates sites that the file could not place (postcodes table, OSM names) and hands the
result to :func:`etl.loading.load_parsed` (atomic, idempotent, with provenance). Road networks
are built at the configured speeds (``settings.travel``), which the load records. Reading is
bounded by ``settings.load`` (:mod:`etl.readers.limits`), and a load that would remove more
than ``settings.load.max_shrink`` of the region's rows is refused unless ``allow_shrink``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import shapely

from config.settings import Settings, TravelSettings
from etl import gtfs_load, network_load
from etl.loading import (
    LoadError,
    LoadSummary,
    ParsedFile,
    Region,
    Reject,
    load_parsed,
    resolve_region,
    unchanged_load,
)
from etl.readers import (
    boundaries,
    council,
    deprivation,
    eric,
    eric_benchmark,
    ods,
    osm_sites,
    population,
    postcodes,
    registrations,
)
from etl.readers.common import POSTCODE_RE, Progress, mark_outside, split_points
from etl.readers.limits import check_size, read_limits
from store import loads
from store.connection import Database, database

__all__ = [
    "DATASETS",
    "Dataset",
    "GuardedReader",
    "Progress",
    "TravelReader",
    "load_dataset",
    "locate_sites",
]

Reader = Callable[[Path, Region, "Progress | None"], ParsedFile]
Locator = Callable[[Database, ParsedFile, Region, Mapping[str, Any]], ParsedFile]


class _ReadWithTravel(Protocol):
    def __call__(
        self,
        path: Path,
        region: Region,
        progress: Progress | None = None,
        *,
        travel: TravelSettings,
    ) -> ParsedFile: ...


@dataclass(frozen=True)
class TravelReader:
    """A reader whose rows depend on the travel settings as well as the file (road networks:
    the walking and cycling speeds)."""

    read: _ReadWithTravel
    #: The settings that decide the rows, recorded with the load and part of its identity.
    parameters: Callable[[TravelSettings], dict[str, Any]]


class _ReadWithSettings(Protocol):
    def __call__(
        self,
        path: Path,
        region: Region,
        progress: Progress | None = None,
        *,
        settings: Settings,
        allow_outside_region: bool = False,
    ) -> ParsedFile: ...


@dataclass(frozen=True)
class GuardedReader:
    """A reader bounded by the settings (a GTFS feed's size, ratio and row limits) that refuses
    a file wholly outside the region unless the caller allows it."""

    read: _ReadWithSettings


MAX_LISTED = 30


@dataclass(frozen=True)
class Dataset:
    """One loadable dataset: its reader and how it relates to a region."""

    name: str
    description: str
    read: Reader | TravelReader | GuardedReader
    national: bool
    #: After reading, with a database connection: place sites the file could not place.
    locate: Locator | None = None
    #: Other datasets whose active load for the same region this one replaces (and vice versa).
    supersedes: tuple[str, ...] = field(default_factory=tuple)
    #: What the reader keeps besides the file, recorded with the load and part of its identity
    #: (as a road network's speeds): when a reader starts keeping more columns, a file loaded
    #: before is read again rather than skipped as unchanged.
    parameters: Mapping[str, Any] = field(default_factory=dict)


# --- locating sites against what is already in the database --------------------------------


def _unlocated(frame: pd.DataFrame) -> np.ndarray[Any, Any]:
    return np.asarray(shapely.is_missing(frame["geom"].to_numpy(dtype=object)), dtype=bool)


def _by_postcode(db: Database, frame: pd.DataFrame) -> int:
    """Fill missing geometries from the ``postcodes`` table; returns how many were placed."""
    todo = _unlocated(frame) & frame["postcode"].fillna("").str.match(POSTCODE_RE).to_numpy()
    if not todo.any():
        return 0
    wanted = sorted(set(frame.loc[todo, "postcode"]))
    with db.connection() as conn:
        points = loads.postcode_points(conn, wanted)
    geoms = frame["geom"].to_numpy(dtype=object).copy()
    located_by = frame["located_by"].to_numpy(dtype=object).copy()
    codes = frame["postcode"].to_numpy(dtype=object)
    placed = 0
    for idx in np.flatnonzero(todo):
        point = points.get(codes[idx])
        if point is not None:
            geoms[idx] = point
            located_by[idx] = "postcode"
            placed += 1
    frame["geom"] = geoms
    frame["located_by"] = located_by
    return placed


def _norm_name(name: str) -> str:
    words = re.sub(r"[^a-z0-9 ]+", " ", name.lower().replace("&", " and ")).split()
    return " ".join(w for w in words if w not in {"the", "nhs"})


def _by_osm_name(db: Database, frame: pd.DataFrame, region: Region) -> int:
    """Place unlocated sites on an OSM health site (source 'osm') with the same name."""
    todo = np.flatnonzero(_unlocated(frame))
    if not len(todo):
        return 0
    with db.connection() as conn:
        rows = loads.osm_site_names(conn)
    candidates = [(_norm_name(n), g) for n, g in rows if n]
    if region.polygon is not None and candidates:
        inside = region.contains(np.array([g for _, g in candidates], dtype=object))
        candidates = [c for c, ok in zip(candidates, inside, strict=True) if ok]
    geoms = frame["geom"].to_numpy(dtype=object).copy()
    located_by = frame["located_by"].to_numpy(dtype=object).copy()
    names = frame["name"].to_numpy(dtype=object)
    placed = 0
    for idx in todo:
        wanted = _norm_name(str(names[idx]))
        best = max(
            ((SequenceMatcher(None, wanted, n).ratio(), g) for n, g in candidates),
            default=(0.0, None),
            key=lambda t: t[0],
        )
        if best[1] is not None and best[0] >= 0.9:
            geoms[idx] = best[1]
            located_by[idx] = "osm_name"
            placed += 1
    frame["geom"] = geoms
    frame["located_by"] = located_by
    return placed


def locate_sites(
    db: Database,
    parsed: ParsedFile,
    region: Region,
    options: Mapping[str, Any],
    *,
    national: bool,
    osm_names: bool = False,
    keep_outside: bool = False,
) -> ParsedFile:
    """Place the sites a reader left without a point, then apply the region to them.

    Order: the ``postcodes`` table (any source, newest load first); for ``osm_names`` an OSM
    health site of the same name. Sites placed outside the region are dropped (national file,
    noted) or rejected (regional file). Sites still without a point are kept with a null
    geometry and ``located_by='unlocated'`` — except for a national file filtered to a region,
    where nothing says they belong to it: those are listed in the notes and left out.
    """
    frame = parsed.tables["sites"].copy()
    before = _unlocated(frame)
    placed = _by_postcode(db, frame)
    if osm_names:
        placed += _by_osm_name(db, frame, region)
    notes = list(parsed.notes)
    rejects = list(parsed.rejects)
    if placed:
        notes.append(
            f"{placed} sites located by " + ("postcode or OSM name" if osm_names else "postcode")
        )
    newly = before & ~_unlocated(frame)
    if region.key and newly.any():
        inside, _ = split_points(region, frame["geom"].to_numpy(dtype=object))
        outside = newly & ~inside
        if keep_outside:
            frame, _, kept = mark_outside(frame, outside, region)
            notes += kept
            outside = np.zeros(len(frame), dtype=bool)
        elif national:
            if outside.any():
                notes.append(
                    f"{int(outside.sum())} sites located outside region {region.key} left out"
                )
        else:
            rejects += [
                Reject(int(r), f"site {sid}: located by postcode outside region {region.key}")
                for r, sid in frame.loc[outside, ["_row", "source_id"]].itertuples(index=False)
            ]
        frame = frame[~outside]
    still = _unlocated(frame)
    if still.any():
        listed = ", ".join(
            f"{sid} {name}"
            for sid, name in frame.loc[still, ["source_id", "name"]]
            .head(MAX_LISTED)
            .itertuples(index=False)
        )
        more = f" and {int(still.sum()) - MAX_LISTED} more" if still.sum() > MAX_LISTED else ""
        if region.key and national:
            notes.append(
                f"{int(still.sum())} sites could not be located, so not placed in region "
                f"{region.key} (left out): {listed}{more}"
            )
            frame = frame[~still]
        else:
            notes.append(
                f"{int(still.sum())} sites unlocated (kept without a point): {listed}{more}"
            )
            frame.loc[still, "located_by"] = "unlocated"
    tables = dict(parsed.tables)
    tables["sites"] = frame.reset_index(drop=True)
    return ParsedFile(
        dataset=parsed.dataset,
        path=parsed.path,
        licence=parsed.licence,
        tables=tables,
        rows_read=parsed.rows_read,
        rejects=sorted(rejects, key=lambda r: r.row or 0),
        vintage=parsed.vintage,
        notes=notes,
    )


# --- the registry ----------------------------------------------------------------------------


def _sites(
    name: str,
    description: str,
    read: Reader,
    *,
    national: bool,
    osm_names: bool = False,
    keep_outside: bool = False,
) -> Dataset:
    return Dataset(
        name=name,
        description=description,
        read=read,
        national=national,
        locate=partial(
            locate_sites, national=national, osm_names=osm_names, keep_outside=keep_outside
        ),
    )


#: The postcode readers keep each postcode's local authority and ward (migration 0012).
POSTCODE_READER: dict[str, Any] = {"postcode_admin_codes": True}

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "lsoa21",
            "ONS LSOA 2021 boundaries (GeoJSON, WGS84; LSOA21CD or area_code)",
            partial(boundaries.read_boundaries, dataset="lsoa21", level="lsoa", vintage=2021),
            national=False,
        ),
        Dataset(
            "lsoa11",
            "ONS LSOA 2011 boundaries (GeoJSON, WGS84; LSOA11CD or area_code)",
            partial(boundaries.read_boundaries, dataset="lsoa11", level="lsoa", vintage=2011),
            national=False,
        ),
        Dataset(
            "msoa21",
            "ONS MSOA 2021 boundaries (GeoJSON, WGS84; MSOA21CD)",
            partial(boundaries.read_boundaries, dataset="msoa21", level="msoa", vintage=2021),
            national=False,
        ),
        Dataset(
            "census2021-age",
            "Census 2021 usual residents per LSOA 2021 in 6 age bands (CSV or CSV.gz)",
            population.read_census2021_6_bands,
            national=True,
        ),
        Dataset(
            "census2021-5yr",
            "Census 2021 population per LSOA 2021 in 5-year age bands, long format",
            population.read_census2021_5yr_long,
            national=False,
        ),
        Dataset(
            "sape-mid2017",
            "ONS SAPE mid-2017 population estimates, LSOA 2011, all ages",
            population.read_sape_mid2017,
            national=True,
        ),
        Dataset(
            "midyear-sya",
            "ONS mid-year population estimates per LSOA 2021 by sex and single year of age",
            population.read_midyear_single_age,
            national=False,
        ),
        Dataset(
            "imd2019",
            "English IMD 2019 File 1 (xlsx): IMD rank and decile per LSOA 2011",
            deprivation.read_imd2019_file1,
            national=True,
            supersedes=("iod2019",),
        ),
        Dataset(
            "iod2019",
            "English Indices of Deprivation 2019, all domains (CSV.gz): rank and decile",
            deprivation.read_iod2019_all_domains,
            national=True,
            supersedes=("imd2019",),
        ),
        Dataset(
            "codepoint",
            "OS Code-Point Open postcode units (headerless CSV, EPSG:27700)",
            postcodes.read_codepoint,
            national=True,
            parameters=POSTCODE_READER,
        ),
        Dataset(
            "onspd",
            "ONS Postcode Directory extract (postcode, lsoa_code, la_code, lon, lat; "
            "optional ward_code, ward_name)",
            postcodes.read_onspd_extract,
            national=True,
            parameters=POSTCODE_READER,
        ),
        _sites(
            "gp-practices",
            "ODS epraccur GP practices and other prescribing organisations (headerless), "
            "located by gp_practices_geo.csv beside it, else by postcode",
            ods.read_epraccur,
            national=True,
        ),
        _sites(
            "pharmacies",
            "ODS pharmacies with LAT/LON (pharmacy_geo.csv)",
            partial(
                ods.read_ods_geo,
                dataset="pharmacies",
                source="ods-pharmacy",
                kind="pharmacy",
                owner_type="pharmacy_contractor",
            ),
            national=True,
        ),
        _sites(
            "care-sites",
            "ODS care trust sites with LAT/LON (care_sites_geo.csv)",
            partial(
                ods.read_ods_geo,
                dataset="care-sites",
                source="ods-care-site",
                kind="care_site",
                owner_type="care_trust",
            ),
            national=True,
        ),
        _sites(
            "eric-sites",
            "NHS ERIC 2016/17 Site Data (xls): trust sites with floor areas and costs, "
            "located by PFI postcodes, the postcodes table or OSM names",
            eric.read_eric_sites,
            national=True,
            osm_names=True,
        ),
        Dataset(
            "eric-benchmark",
            "NHS ERIC 2016/17 Site Data (xls), every trust and site in England: the national "
            "estate benchmark (load without --region)",
            eric_benchmark.read_eric_benchmark,
            national=True,
        ),
        _sites(
            "osm-health",
            "OpenStreetMap health points (hospital, clinic, doctors, pharmacy, dentist, "
            "healthcare=*) from a PBF extract",
            osm_sites.read_osm_health,
            national=True,
        ),
        _sites(
            "council-assets",
            "Local Government Transparency Code land and building assets register (CSV)",
            council.read_council_assets,
            national=False,
            keep_outside=True,
        ),
        _sites(
            "trafford-gp",
            "Trafford general practices (CSV with lon/lat; no ODS codes)",
            council.read_trafford_gp,
            national=False,
        ),
        _sites(
            "trafford-pharmacies",
            "Trafford pharmacies (CSV with ODS codes; located by postcode)",
            council.read_trafford_pharmacies,
            national=False,
        ),
        _sites(
            "trafford-care-homes",
            "Trafford CQC care homes (CSV with lon/lat)",
            council.read_trafford_care_homes,
            national=False,
        ),
        _sites(
            "trafford-dentists",
            "Trafford dentists (CSV with lon/lat)",
            council.read_trafford_dentists,
            national=False,
        ),
        Dataset(
            "gp-registrations",
            "Patients registered at each GP practice (CSV: practice_code, practice_name, "
            "practice_postcode, registered_patients): list sizes for capacity sizing",
            registrations.read_gp_registrations,
            national=False,
        ),
        Dataset(
            "osm-network",
            "OpenStreetMap extract (.osm.pbf) → drive, walk and cycle networks",
            TravelReader(network_load.parse_osm_network, network_load.network_parameters),
            national=False,
        ),
        Dataset(
            "gtfs",
            "GTFS public transport feed (.zip): stops, routes, trips, stop times, calendars",
            GuardedReader(gtfs_load.parse_gtfs),
            national=False,
        ),
    )
}


def load_dataset(
    settings: Settings,
    name: str,
    path: Path,
    *,
    region: str = "",
    allow_rejects: int = 0,
    allow_shrink: bool = False,
    progress: Progress | None = None,
    options: Mapping[str, Any] | None = None,
    allow_outside_region: bool = False,
) -> LoadSummary:
    """Read ``path`` as dataset ``name`` filtered to ``region`` and load it atomically.

    Parameters
    ----------
    settings
        Where to load (``settings.database``, a batch connection) and, for road networks, the
        speeds to build them at (``settings.travel``; recorded in the load's metadata).
    name
        A key of :data:`DATASETS`.
    path
        The file.
    region
        A local authority code or a WGS84 bbox ``minlon,minlat,maxlon,maxlat`` ('' for the
        whole file).
    allow_rejects
        How many rejected rows to tolerate (recorded with the load).
    allow_shrink
        Accept a load that removes more than ``settings.load.max_shrink`` of the rows the
        region held (``LOCUS_LOAD_MAX_SHRINK``; refused otherwise).
    progress
        Called with (rows done, total) while the file is read.
    options
        Passed to the dataset's site locator.
    allow_outside_region
        Load a GTFS feed even when none of its stops lies in ``region`` (refused otherwise).

    Raises
    ------
    ValueError
        Unknown dataset name (the message lists the known ones) or a malformed region.
    LoadError
        Missing, truncated, invalid or too large a file (``settings.load`` bounds reading; a
        GTFS archive past its own limits), rejected rows beyond ``allow_rejects``, a feed wholly
        outside the region, rows clashing with another active load, or a load removing too many
        rows without ``allow_shrink``; the database is left unchanged.
    """
    dataset = DATASETS.get(name)
    if dataset is None:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}")
    path = Path(path)
    if not path.is_file():
        raise LoadError(path, f"file not found: {path}")
    db = database(settings.database, purpose="batch")
    reader = dataset.read
    parameters = (
        reader.parameters(settings.travel)
        if isinstance(reader, TravelReader)
        else dict(dataset.parameters)
    )
    with read_limits(settings.load):
        check_size(path)  # before hashing it
    same = unchanged_load(db, name, region, path, parameters)
    if same is not None:
        return same
    reg = resolve_region(db, region)
    with read_limits(settings.load):
        if isinstance(reader, TravelReader):
            parsed = reader.read(path, reg, progress, travel=settings.travel)
        elif isinstance(reader, GuardedReader):
            parsed = reader.read(
                path, reg, progress, settings=settings, allow_outside_region=allow_outside_region
            )
        else:
            parsed = reader(path, reg, progress)
    if dataset.locate is not None:
        parsed = dataset.locate(db, parsed, reg, options or {})
    parsed.parameters = {**dataset.parameters, **parsed.parameters}
    return load_parsed(
        db,
        parsed,
        region=region,
        allow_rejects=allow_rejects,
        extra_superseded_datasets=dataset.supersedes,
        max_shrink=None if allow_shrink else settings.load.max_shrink,
    )
