"""Postcode points → ``postcodes``: OS Code-Point Open (headerless, BNG eastings/northings,
column names in ``codepoint_column_headers.csv`` beside it) and ONS Postcode Directory
extracts (``postcode``, ``lsoa_code``, ``la_code``, ``lon``, ``lat``, optionally ``ward_code``
and ``ward_name``).

Each postcode keeps the administrative codes its file gives (local authority and electoral
ward: Code-Point's ``DC``/``WC``, the directory's ``la_code``/``ward_code``): ward footprints
are built from them (``spatial.footprints``), since no ward-to-LSOA lookup is loaded.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from etl.loading import OGL, OS_ATTRIBUTION, LoadError, ParsedFile, Region, Reject
from etl.readers.common import (
    LAD_RE,
    LSOA_RE,
    POSTCODE_RE,
    Progress,
    bad_bng,
    bad_lonlat,
    bad_numbers,
    duplicate_rejects,
    lonlat_points,
    normalise_postcode,
    read_csv,
    region_note,
    require_columns,
    split_points,
    to_number,
)

CODEPOINT_LICENCE = (
    f"{OGL}; {OS_ATTRIBUTION}; Contains Royal Mail data © Royal Mail copyright and database right"
)
CODEPOINT_COLUMNS = ("PC", "PQ", "EA", "NO", "CY", "RH", "LH", "CC", "DC", "WC")
#: Code-Point positional quality 90: no coordinates for the postcode.
NO_COORDINATES = "90"
#: A GSS statistical code (local authority E06000017, ward E05001789).
GSS_RE = re.compile(r"^[EWSN]\d{8}$")


def _codepoint_names(path: Path) -> tuple[str, ...]:
    headers = path.parent / "codepoint_column_headers.csv"
    if not headers.is_file():
        return CODEPOINT_COLUMNS
    try:
        with headers.open(encoding="utf-8-sig") as handle:
            first = handle.readline(64_000)
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(headers, f"cannot read the column headers ({exc})") from exc
    names = tuple(n.strip().strip('"') for n in first.split(","))
    if names[:4] != CODEPOINT_COLUMNS[:4]:
        raise LoadError(
            headers, f"expected Code-Point columns starting PC, PQ, EA, NO; found {names[:4]}"
        )
    return names


def _vintage(path: Path) -> str | None:
    m = re.search(r"(19|20)\d{2}(-\d{2}(-\d{2})?)?", path.name)
    return m.group(0) if m else None


def _check_postcodes(frame: pd.DataFrame, column: str) -> tuple[pd.Series, list[Reject]]:
    postcodes = frame[column].map(normalise_postcode)
    bad = ~postcodes.str.match(POSTCODE_RE)
    rejects = [
        Reject(int(r), f"column {column!r}: {v!r} is not a valid UK postcode")
        for r, v in zip(frame.loc[bad, "_row"], frame.loc[bad, column], strict=True)
    ]
    return postcodes, rejects


def _admin_codes(frame: pd.DataFrame, column: str, what: str) -> tuple[pd.Series, list[Reject]]:
    """A column of GSS codes (blank: none given, kept as None) and the rows where a code is
    malformed."""
    codes = frame[column].fillna("").astype(str).str.strip().str.upper()
    bad = (codes != "") & ~codes.str.match(GSS_RE)
    rejects = [
        Reject(int(r), f"column {column!r}: {v!r} is not a {what} code")
        for r, v in zip(frame.loc[bad, "_row"], codes[bad], strict=True)
    ]
    return codes.where(codes != "", None), rejects


def _finish(
    path: Path,
    frame: pd.DataFrame,
    rejects: list[Reject],
    notes: list[str],
    *,
    dataset: str,
    licence: str,
    rows_read: int,
    vintage: str | None,
    postcode_column: str,
) -> ParsedFile:
    rejects = rejects + duplicate_rejects(frame, "postcode", f"column {postcode_column!r}")
    bad = {r.row for r in rejects}
    frame = frame[~frame["_row"].isin(bad)].reset_index(drop=True)
    return ParsedFile(
        dataset=dataset,
        path=path,
        licence=licence,
        tables={"postcodes": frame},
        rows_read=rows_read,
        rejects=sorted(rejects, key=lambda r: r.row or 0),
        vintage=vintage,
        notes=notes,
    )


def read_codepoint(path: Path, region: Region, progress: Progress | None = None) -> ParsedFile:
    """Code-Point Open for one postcode area; a national product, filtered to the region by
    point (postcodes without coordinates, quality 90, are counted and left out)."""
    names = _codepoint_names(path)
    raw = read_csv(path, names=names, progress=progress)
    easting, northing = to_number(raw["EA"]), to_number(raw["NO"])
    rejects = bad_numbers(raw, "EA", easting) + bad_numbers(raw, "NO", northing)
    no_coords = raw["PQ"].str.strip() == NO_COORDINATES
    notes = [f"{int(no_coords.sum())} postcodes without coordinates (quality 90) left out"] * bool(
        no_coords.any()
    )
    outside_gb = bad_bng(easting, northing) & easting.notna() & northing.notna() & ~no_coords
    rejects += [
        Reject(
            int(r),
            f"columns 'EA'/'NO': easting/northing {e:.0f}, {n:.0f} outside Great Britain "
            "(EPSG:27700)",
        )
        for r, e, n in zip(
            raw.loc[outside_gb, "_row"], easting[outside_gb], northing[outside_gb], strict=True
        )
    ]
    ok = easting.notna() & northing.notna() & ~no_coords & ~outside_gb
    frame = raw[ok]
    geoms = np.asarray(
        shapely.points(np.column_stack([easting[ok].to_numpy(), northing[ok].to_numpy()])),
        dtype=object,
    )
    if region.key:
        inside, _ = split_points(region, geoms)
        notes += region_note(region, int((~inside).sum()), "postcodes")
        frame, geoms = frame[inside], geoms[inside]
    postcodes, pc_rejects = _check_postcodes(frame, "PC")
    district, dc_rejects = (
        _admin_codes(frame, "DC", "local authority")
        if "DC" in frame.columns
        else (pd.Series(None, index=frame.index, dtype=object), [])
    )
    ward, wc_rejects = (
        _admin_codes(frame, "WC", "ward")
        if "WC" in frame.columns
        else (pd.Series(None, index=frame.index, dtype=object), [])
    )
    out = pd.DataFrame(
        {
            "_row": frame["_row"].to_numpy(),
            "postcode": postcodes.to_numpy(),
            "source": "codepoint-open",
            "vintage": _vintage(path) or "unknown",
            "lsoa21": None,
            "lad_code": district.to_numpy(dtype=object),
            "ward_code": ward.to_numpy(dtype=object),
            "ward_name": None,
            "geom": geoms,
        }
    )
    return _finish(
        path,
        out,
        rejects + pc_rejects + dc_rejects + wc_rejects,
        notes,
        dataset="codepoint",
        licence=CODEPOINT_LICENCE,
        rows_read=len(raw),
        vintage=_vintage(path),
        postcode_column="PC",
    )


def read_onspd_extract(path: Path, region: Region, progress: Progress | None = None) -> ParsedFile:
    """An ONS Postcode Directory extract with WGS84 lon/lat and LSOA 2021 codes; a national
    product, filtered by its local authority column (or by point for a bbox region)."""
    raw = read_csv(path, progress=progress)
    require_columns(path, raw, ["postcode", "lsoa_code", "la_code", "lon", "lat"])
    lon, lat = to_number(raw["lon"]), to_number(raw["lat"])
    rejects = bad_numbers(raw, "lon", lon) + bad_numbers(raw, "lat", lat)
    outside_uk = bad_lonlat(raw, lon, lat)
    rejects += [
        Reject(int(r), f"columns 'lon'/'lat': {x}, {y} is not in the UK (expected WGS84 degrees)")
        for r, x, y in zip(
            raw.loc[outside_uk, "_row"], lon[outside_uk], lat[outside_uk], strict=True
        )
    ]
    la = raw["la_code"].str.strip()
    rejects += [
        Reject(int(r), f"column 'la_code': {v!r} is not a local authority code")
        for r, v in zip(
            raw.loc[~la.str.match(LAD_RE), "_row"], la[~la.str.match(LAD_RE)], strict=True
        )
    ]
    lsoa = raw["lsoa_code"].str.strip()
    bad_lsoa = ~lsoa.str.match(LSOA_RE) & (lsoa != "")
    rejects += [
        Reject(int(r), f"column 'lsoa_code': {v!r} is not an LSOA code")
        for r, v in zip(raw.loc[bad_lsoa, "_row"], lsoa[bad_lsoa], strict=True)
    ]
    geoms = lonlat_points(lon, lat)
    notes: list[str] = []
    keep = np.ones(len(raw), dtype=bool)
    if region.key:
        if region.lad_code:
            keep = (la == region.lad_code).to_numpy()
        else:
            keep, _ = split_points(region, geoms)
        notes += region_note(region, int((~keep).sum()), "postcodes")
    frame = raw[keep]
    postcodes, pc_rejects = _check_postcodes(frame, "postcode")
    if "ward_code" in frame.columns:
        ward, ward_rejects = _admin_codes(frame, "ward_code", "ward")
        pc_rejects += ward_rejects
    else:
        ward = pd.Series(None, index=frame.index, dtype=object)
    ward_name = (
        frame["ward_name"].fillna("").astype(str).str.strip()
        if "ward_name" in frame.columns
        else pd.Series("", index=frame.index)
    )
    in_region = set(frame["_row"])
    rejects = [r for r in rejects if r.row in in_region] + pc_rejects
    out = pd.DataFrame(
        {
            "_row": frame["_row"].to_numpy(),
            "postcode": postcodes.to_numpy(),
            "source": "onspd",
            "vintage": _vintage(path) or "unknown",
            "lsoa21": lsoa[keep].replace("", None).to_numpy(),
            "lad_code": la[keep].to_numpy(dtype=object),
            "ward_code": ward.to_numpy(dtype=object),
            "ward_name": ward_name.where(ward_name != "", None).to_numpy(dtype=object),
            "geom": geoms[keep],
        }
    )
    return _finish(
        path,
        out,
        rejects,
        notes,
        dataset="onspd",
        licence=f"{OGL}; Source: Office for National Statistics; {OS_ATTRIBUTION}; "
        "Contains Royal Mail data © Royal Mail copyright and database right",
        rows_read=len(raw),
        vintage=_vintage(path),
        postcode_column="postcode",
    )
