"""Council and local listings → ``sites``: the Local Government Transparency Code land and
building assets register, and the Trafford health listings (GP practices, pharmacies, care
homes, dentists) published as CSV with lon/lat or postcodes.

All are regional files: a point outside the region is a rejected row — except in an asset
register, which lists what the council owns wherever it is (e.g. Trafford's units in Wigan and
Warrington): those are kept, flagged ``attributes.outside_region`` and noted. Rows without
coordinates keep their postcode for :func:`etl.datasets.locate_sites`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from etl.loading import OGL, OS_ATTRIBUTION, LoadError, ParsedFile, Region, Reject
from etl.readers.common import (
    BNG_BOUNDS,
    OUTWARD_RE,
    POSTCODE_RE,
    Progress,
    bad_lonlat,
    bad_numbers,
    duplicate_rejects,
    filter_sites,
    lonlat_points,
    negative_numbers,
    normalise_postcode,
    read_csv,
    require_columns,
    sites_frame,
    to_number,
)

COUNCIL_COLUMNS = [
    "OrganisationLabel",
    "UPRN",
    "AssetCode",
    "PropertyName",
    "PostCode",
    "CoordinateReferenceSystem",
    "GeoX",
    "GeoY",
    "TenureType",
    "HoldingType",
    "BuildingSize",
    "LandArea",
    "EnergyRating",
]
HOLDING_KINDS = {
    "land": "council_land",
    "buildings": "council_building",
    "land/buildings": "council_building",
    "building": "council_building",
}
_WGS84 = {"", "wgs84", "wgs 84", "epsg:4326", "4326", "etrs89"}
_BNG = {"osgb36", "bng", "british national grid", "epsg:27700", "27700"}


def _postcodes(frame: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series, list[Reject]]:
    """(full postcodes or None, outward codes given alone or None, rejects for malformed)."""
    norm = frame[column].map(normalise_postcode)
    full = norm.str.match(POSTCODE_RE)
    outward = norm.str.match(OUTWARD_RE)
    bad = ~full & ~outward & (norm != "")
    rejects = [
        Reject(int(r), f"column {column!r}: {v!r} is not a valid UK postcode")
        for r, v in zip(frame.loc[bad, "_row"], frame.loc[bad, column], strict=True)
    ]
    return (
        norm.where(full, None).astype(object),
        norm.where(outward, None).astype(object),
        rejects,
    )


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """An optional column (blank strings when the file lacks it)."""
    return frame[name] if name in frame.columns else pd.Series("", index=frame.index)


def _blank_none(values: pd.Series) -> pd.Series:
    """Stripped strings with blanks and R-style ``NA`` as None."""
    stripped = values.str.strip()
    return stripped.astype(object).where(~stripped.isin(["", "NA"]), None)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _coordinates(
    frame: pd.DataFrame, lon_col: str, lat_col: str
) -> tuple[np.ndarray[Any, Any], list[Reject]]:
    lon, lat = to_number(frame[lon_col]), to_number(frame[lat_col])
    rejects = bad_numbers(frame, lon_col, lon, allow_blank=True) + bad_numbers(
        frame, lat_col, lat, allow_blank=True
    )
    wrong = bad_lonlat(frame, lon, lat)
    rejects += [
        Reject(
            int(r),
            f"columns {lon_col!r}/{lat_col!r}: {x}, {y} is not in the UK (expected WGS84 degrees)",
        )
        for r, x, y in zip(frame.loc[wrong, "_row"], lon[wrong], lat[wrong], strict=True)
    ]
    return lonlat_points(lon, lat), rejects


def _finish(
    path: Path,
    frame: pd.DataFrame,
    rejects: list[Reject],
    region: Region,
    *,
    dataset: str,
    licence: str,
    rows_read: int,
    notes: Sequence[str] = (),
    keep_outside: bool = False,
) -> ParsedFile:
    frame = frame[~frame["_row"].isin({r.row for r in rejects})]
    frame, reg_rejects, reg_notes = filter_sites(
        frame, region, national=False, keep_outside=keep_outside
    )
    return ParsedFile(
        dataset=dataset,
        path=path,
        licence=licence,
        tables={"sites": frame.reset_index(drop=True)},
        rows_read=rows_read,
        rejects=sorted(rejects + reg_rejects, key=lambda r: r.row or 0),
        notes=[*notes, *reg_notes],
    )


def read_council_assets(path: Path, region: Region, progress: Progress | None = None) -> ParsedFile:
    """Transparency Code land and building assets: one site per AssetCode, kind
    ``council_land`` (holding type Land) or ``council_building``; owner the organisation."""
    raw = read_csv(path, progress=progress)
    require_columns(path, raw, COUNCIL_COLUMNS)
    raw["AssetCode"] = raw["AssetCode"].str.strip()
    rejects = [
        Reject(int(r), "column 'AssetCode' is empty")
        for r in raw.loc[raw["AssetCode"] == "", "_row"]
    ]
    rejects += duplicate_rejects(raw, "AssetCode")
    rejects += [
        Reject(int(r), "column 'PropertyName' is empty")
        for r in raw.loc[raw["PropertyName"].str.strip() == "", "_row"]
    ]
    uprn = raw["UPRN"].str.strip()
    bad_uprn = ~uprn.str.fullmatch(r"\d{1,12}") & (uprn != "")
    rejects += [
        Reject(int(r), f"column 'UPRN': {v!r} is not a UPRN")
        for r, v in zip(raw.loc[bad_uprn, "_row"], uprn[bad_uprn], strict=True)
    ]
    holding = raw["HoldingType"].str.strip().str.lower().map(HOLDING_KINDS)
    rejects += [
        Reject(int(r), f"column 'HoldingType': {v!r} is not Land, Buildings or Land/Buildings")
        for r, v in raw.loc[holding.isna(), ["_row", "HoldingType"]].itertuples(index=False)
    ]
    crs = raw["CoordinateReferenceSystem"].str.strip().str.lower()
    is_bng = crs.isin(_BNG)
    unknown_crs = ~crs.isin(_WGS84) & ~is_bng
    rejects += [
        Reject(int(r), f"column 'CoordinateReferenceSystem': unsupported CRS {v!r}")
        for r, v in raw.loc[unknown_crs, ["_row", "CoordinateReferenceSystem"]].itertuples(
            index=False
        )
    ]
    geoms, coord_rejects = _coordinates(raw[~is_bng], "GeoX", "GeoY")
    rejects += coord_rejects
    points = np.empty(len(raw), dtype=object)
    points[(~is_bng).to_numpy()] = geoms
    if is_bng.any():
        bng = raw[is_bng]
        x, y = to_number(bng["GeoX"]), to_number(bng["GeoY"])
        rejects += bad_numbers(bng, "GeoX", x, allow_blank=True)
        rejects += bad_numbers(bng, "GeoY", y, allow_blank=True)
        ok = x.between(BNG_BOUNDS[0], BNG_BOUNDS[2]) & y.between(BNG_BOUNDS[1], BNG_BOUNDS[3])
        outside = x.notna() & y.notna() & ~ok
        rejects += [
            Reject(
                int(r),
                f"columns 'GeoX'/'GeoY': {a:.0f}, {b:.0f} outside Great Britain (EPSG:27700)",
            )
            for r, a, b in zip(bng.loc[outside, "_row"], x[outside], y[outside], strict=True)
        ]
        points[is_bng.to_numpy()] = [
            shapely.Point(a, b) if good else None for a, b, good in zip(x, y, ok, strict=True)
        ]
    postcode, outward, pc_rejects = _postcodes(raw, "PostCode")
    rejects += pc_rejects
    size, land = to_number(raw["BuildingSize"]), to_number(raw["LandArea"])
    rejects += bad_numbers(raw, "BuildingSize", size, allow_blank=True)
    rejects += bad_numbers(raw, "LandArea", land, allow_blank=True)
    rejects += negative_numbers(raw, "BuildingSize", size)
    rejects += negative_numbers(raw, "LandArea", land)
    tenure = (
        raw["TenureType"].str.strip() + " / " + _column(raw, "TenureDetail").str.strip()
    ).str.strip(" /")

    def attrs(i: int) -> dict[str, Any]:
        row = raw.iloc[i]
        out = {
            "uprn": row["UPRN"].strip() or None,
            "holding_type": row["HoldingType"].strip(),
            "energy_rating": row["EnergyRating"].strip() or None,
            "tenure_detail": str(row.get("TenureDetail", "")).strip() or None,
            "other_detail": str(row.get("OtherDetail", "")).strip() or None,
            "effective_date": str(row.get("EffectiveDate", "")).strip() or None,
            "address": " ".join(
                str(row.get(c, "")).strip() for c in ("StreetNumber", "StreetName", "PostTown")
            ).strip()
            or None,
            "postcode_district": outward.iat[i],
        }
        return {k: v for k, v in out.items() if v is not None}

    frame = sites_frame(
        pd.DataFrame(
            {
                "_row": raw["_row"],
                "source": "council-register",
                "source_id": raw["AssetCode"],
                "name": raw["PropertyName"].str.strip(),
                "kind": holding,
                "owner": raw["OrganisationLabel"].str.strip(),
                "owner_type": "council",
                "tenure": tenure.replace("", None),
                "gia_m2": size,
                "land_ha": land,
                "postcode": postcode,
                "located_by": "coordinates",
                "organisation": raw.get("OrganisationURI", pd.Series("", index=raw.index))
                .str.strip()
                .replace("", None),
                "attributes": [attrs(i) for i in range(len(raw))],
                "geom": points,
            }
        )
    )
    return _finish(
        path,
        frame,
        rejects,
        region,
        dataset="council-assets",
        licence=f"{OGL}; {OS_ATTRIBUTION}",
        rows_read=len(raw),
        keep_outside=True,
    )


def _listing(
    path: Path,
    region: Region,
    progress: Progress | None,
    *,
    dataset: str,
    source: str,
    kind: str,
    owner_type: str,
    name_col: str,
    id_col: str | None,
    id_pattern: str | None = None,
    owner_col: str | None = None,
    extra: Sequence[str] = (),
) -> ParsedFile:
    raw = read_csv(path, progress=progress)
    has_lonlat = "lon" in raw.columns and "lat" in raw.columns
    required = [name_col, "postcode", *([id_col] if id_col else [])]
    require_columns(path, raw, required)
    names = raw[name_col].str.strip()
    rejects = [
        Reject(int(r), f"column {name_col!r} is empty") for r in raw.loc[names == "", "_row"]
    ]
    if id_col:
        ids = raw[id_col].str.strip()
        if id_pattern:
            bad = ~ids.str.fullmatch(id_pattern)
            rejects += [
                Reject(int(r), f"column {id_col!r}: {v!r} is not a valid identifier")
                for r, v in zip(raw.loc[bad, "_row"], ids[bad], strict=True)
            ]
    else:
        ids = names.map(_slug)
    raw["_id"] = ids
    id_field = f"column {id_col!r}" if id_col else f"column {name_col!r} (the site's id)"
    rejects += duplicate_rejects(raw, "_id", id_field)
    postcode, _, pc_rejects = _postcodes(raw, "postcode")
    rejects += pc_rejects
    if has_lonlat:
        raw[["lon", "lat"]] = raw[["lon", "lat"]].replace("NA", "")
        points, coord_rejects = _coordinates(raw, "lon", "lat")
        rejects += coord_rejects
    else:
        points = np.full(len(raw), None, dtype=object)
    frame = sites_frame(
        pd.DataFrame(
            {
                "_row": raw["_row"],
                "source": source,
                "source_id": ids,
                "name": names,
                "kind": kind,
                "owner": _blank_none(raw[owner_col]) if owner_col else None,
                "owner_type": owner_type,
                "postcode": postcode,
                "located_by": "coordinates",
                "attributes": [
                    {
                        c: v.strip()
                        for c in extra
                        if (v := str(row.get(c, ""))).strip() not in ("", "NA")
                    }
                    for _, row in raw.iterrows()
                ],
                "geom": points,
            }
        )
    )
    if frame.empty:
        raise LoadError(path, "no data rows")
    return _finish(path, frame, rejects, region, dataset=dataset, licence=OGL, rows_read=len(raw))


def read_trafford_gp(path: Path, region: Region, progress: Progress | None = None) -> ParsedFile:
    """Trafford general practices (name, address, postcode, telephone, lon, lat): no ODS
    codes, so the source_id is the name as a slug."""
    return _listing(
        path,
        region,
        progress,
        dataset="trafford-gp",
        source="trafford-gp",
        kind="gp_practice",
        owner_type="gp_practice",
        name_col="name",
        id_col=None,
        extra=("address", "telephone"),
    )


def read_trafford_pharmacies(
    path: Path, region: Region, progress: Progress | None = None
) -> ParsedFile:
    """Trafford pharmacies (ODS code, name, address, postcode; no coordinates: located by
    postcode)."""
    return _listing(
        path,
        region,
        progress,
        dataset="trafford-pharmacies",
        source="trafford-pharmacy",
        kind="pharmacy",
        owner_type="pharmacy_contractor",
        name_col="pharmacy_name",
        id_col="organisation_data_service_code",
        id_pattern=r"[A-Z0-9]{3,6}",
        extra=("address", "ward_code", "ward_name", "locality"),
    )


def read_trafford_care_homes(
    path: Path, region: Region, progress: Progress | None = None
) -> ParsedFile:
    """Trafford CQC care homes (CQC location id, provider, lon/lat)."""
    return _listing(
        path,
        region,
        progress,
        dataset="trafford-care-homes",
        source="cqc",
        kind="care_home",
        owner_type="care_provider",
        name_col="name",
        id_col="cqc_id",
        id_pattern=r"1-\d+",
        owner_col="provider",
        extra=("type", "address", "telephone", "website", "inspection_date"),
    )


def read_trafford_dentists(
    path: Path, region: Region, progress: Progress | None = None
) -> ParsedFile:
    """Trafford dentists (name, address, postcode, lon/lat); source_id is the name slug."""
    return _listing(
        path,
        region,
        progress,
        dataset="trafford-dentists",
        source="trafford-dentist",
        kind="dentist",
        owner_type="dental_practice",
        name_col="name",
        id_col=None,
        extra=("address", "telephone", "website"),
    )
