"""NHS ODS files → ``sites``: epraccur (headerless) located through ``gp_practices_geo.csv``,
and the ODS geo CSVs (``ODS_Code, Role, Name, geo_match, LAT, LON``) for pharmacies and care
trust sites.

A site the geo file does not place keeps its postcode; :func:`etl.datasets.locate_sites`
then tries the ``postcodes`` table and reports what is still unlocated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from etl.loading import OGL, LoadError, ParsedFile, Region, Reject
from etl.readers.common import (
    ODS_RE,
    POSTCODE_RE,
    Progress,
    as_dates,
    bad_codes,
    bad_dates,
    bad_lonlat,
    bad_numbers,
    duplicate_rejects,
    filter_sites,
    lonlat_points,
    normalise_postcode,
    parse_dates,
    read_csv,
    require_columns,
    sites_frame,
    to_number,
)

ODS_LICENCE = f"{OGL}; Source: NHS England Organisation Data Service"

#: epraccur column layout (ODS "GP practices" extract, 27 columns, no header row).
EPRACCUR_COLUMNS: tuple[str, ...] = (
    "code",
    "name",
    "national_grouping",
    "health_geography",
    "address_1",
    "address_2",
    "address_3",
    "address_4",
    "address_5",
    "postcode",
    "open_date",
    "close_date",
    "status_code",
    "sub_type",
    "commissioner",
    "join_date",
    "left_date",
    "telephone",
    "null_1",
    "null_2",
    "null_3",
    "amended",
    "null_4",
    "provider_purchaser",
    "null_5",
    "prescribing_setting",
    "null_6",
)

#: ODS prescribing settings → site kind (4 is a GP practice).
PRESCRIBING_SETTINGS: dict[str, str] = {
    "0": "other_prescriber",
    "1": "walk_in_centre",
    "2": "out_of_hours",
    "3": "walk_in_centre",
    "4": "gp_practice",
    "8": "public_health_service",
    "9": "community_health_service",
    "10": "hospital_service",
    "11": "optometry",
    "12": "urgent_care",
    "13": "hospice",
    "14": "care_home",
    "15": "border_force",
    "16": "young_offender_institution",
    "17": "secure_training_centre",
    "18": "secure_childrens_home",
    "19": "immigration_removal_centre",
    "20": "court",
    "21": "police_custody",
    "22": "sexual_assault_referral_centre",
    "24": "justice_estate_other",
    "25": "prison",
    "26": "primary_care_network",
}
#: ODS status codes: Active, Closed, Dormant, Proposed. Only A is an operating site.
STATUS = {"A": "active", "C": "closed", "D": "closed", "P": "closed"}

GEO_COLUMNS = ["ODS_Code", "Role", "Name", "geo_match", "LAT", "LON"]


def _read_geo(path: Path, progress: Progress | None) -> tuple[pd.DataFrame, list[Reject]]:
    """An ODS geo CSV, validated: codes, coordinates (WGS84, inside the UK), duplicates."""
    frame = read_csv(path, progress=progress)
    require_columns(path, frame, GEO_COLUMNS)
    frame["ODS_Code"] = frame["ODS_Code"].str.strip().str.upper()
    rejects = bad_codes(frame, "ODS_Code", ODS_RE, "ODS code")
    rejects += duplicate_rejects(frame, "ODS_Code")
    # "NA": no coordinates (the site is kept and located by postcode if it can be).
    frame[["LAT", "LON"]] = frame[["LAT", "LON"]].replace("NA", "")
    lat, lon = to_number(frame["LAT"]), to_number(frame["LON"])
    rejects += bad_numbers(frame, "LAT", lat, allow_blank=True)
    rejects += bad_numbers(frame, "LON", lon, allow_blank=True)
    outside = bad_lonlat(frame, lon, lat)
    rejects += [
        Reject(int(r), f"columns 'LAT'/'LON': {la}, {lo} is not in the UK (expected WGS84 degrees)")
        for r, la, lo in zip(frame.loc[outside, "_row"], lat[outside], lon[outside], strict=True)
    ]
    frame["_geom"] = lonlat_points(lon, lat)
    bad_rows = {r.row for r in rejects}
    return frame[~frame["_row"].isin(bad_rows)], rejects


def read_epraccur(path: Path, region: Region, progress: Progress | None = None) -> ParsedFile:
    """ODS epraccur: every organisation with its status and prescribing setting; kind
    ``gp_practice`` for prescribing setting 4. Located by ``gp_practices_geo.csv`` beside it."""
    raw = read_csv(path, names=EPRACCUR_COLUMNS, progress=progress)
    raw["code"] = raw["code"].str.strip().str.upper()
    rejects = bad_codes(raw, "code", ODS_RE, "ODS code")
    rejects += duplicate_rejects(raw, "code", "column 1 (ODS code)")
    status = raw["status_code"].str.strip().map(STATUS)
    rejects += [
        Reject(int(r), f"column 13 (status): {v!r} is not one of A, C, D, P")
        for r, v in raw.loc[status.isna(), ["_row", "status_code"]].itertuples(index=False)
    ]
    setting = raw["prescribing_setting"].str.strip()
    kinds = setting.map(PRESCRIBING_SETTINGS)
    rejects += [
        Reject(int(r), f"column 26 (prescribing setting): {v!r} is not an ODS setting code")
        for r, v in raw.loc[kinds.isna(), ["_row", "prescribing_setting"]].itertuples(index=False)
    ]
    opened = parse_dates(raw["open_date"], "%Y%m%d")
    closed = parse_dates(raw["close_date"], "%Y%m%d")
    rejects += bad_dates(raw, "open_date", opened, "%Y%m%d")
    rejects += bad_dates(raw, "close_date", closed, "%Y%m%d")
    postcodes = raw["postcode"].map(normalise_postcode)
    bad_pc = ~postcodes.str.match(POSTCODE_RE) & (postcodes != "")
    rejects += [
        Reject(int(r), f"column 10 (postcode): {v!r} is not a valid UK postcode")
        for r, v in raw.loc[bad_pc, ["_row", "postcode"]].itertuples(index=False)
    ]
    geo_path = path.parent / "gp_practices_geo.csv"
    notes: list[str] = []
    if geo_path.is_file():
        geo, geo_rejects = _read_geo(geo_path, None)
        notes += [f"{geo_path.name} {r}" for r in geo_rejects[:20]]
        if len(geo_rejects) > 20:
            notes.append(f"{geo_path.name}: {len(geo_rejects) - 20} more bad rows ignored")
    else:
        geo = pd.DataFrame(columns=["ODS_Code", "geo_match", "_geom"])
        notes.append(f"{geo_path.name} not found beside {path.name}: locating by postcode only")
    located = geo.set_index("ODS_Code")
    geom = raw["code"].map(located["_geom"]).to_numpy(dtype=object)
    match = raw["code"].map(located["geo_match"])
    bad_rows = {r.row for r in rejects}
    frame = sites_frame(
        pd.DataFrame(
            {
                "_row": raw["_row"],
                "source": "ods-epraccur",
                "source_id": raw["code"],
                "name": raw["name"].str.strip(),
                "kind": kinds,
                "owner": raw["name"].str.strip(),
                "owner_type": np.where(setting == "4", "gp_practice", "nhs_provider"),
                "status": status,
                "opened_on": as_dates(opened),
                "closed_on": as_dates(closed),
                "postcode": postcodes.replace("", None),
                "located_by": ("ods_geo:" + match.fillna("")).where(match.notna(), None),
                "organisation": raw["commissioner"].str.strip().replace("", None),
                "attributes": [
                    {
                        "ods_status": s,
                        "prescribing_setting": int(p) if p.isdigit() else p,
                        "national_grouping": g,
                        "address": ", ".join(x for x in a if x),
                    }
                    for s, p, g, a in zip(
                        raw["status_code"],
                        setting,
                        raw["national_grouping"],
                        raw[
                            ["address_1", "address_2", "address_3", "address_4", "address_5"]
                        ].apply(lambda r: [str(v).strip() for v in r], axis=1),
                        strict=True,
                    )
                ],
                "geom": geom,
            }
        )
    )
    frame = frame[~frame["_row"].isin(bad_rows)]
    frame, reg_rejects, reg_notes = filter_sites(frame, region, national=True)
    return ParsedFile(
        dataset="gp-practices",
        path=path,
        licence=ODS_LICENCE,
        tables={"sites": frame.reset_index(drop=True)},
        rows_read=len(raw),
        rejects=sorted(rejects + reg_rejects, key=lambda r: r.row or 0),
        vintage=None,
        notes=notes + reg_notes,
    )


def read_ods_geo(
    path: Path,
    region: Region,
    progress: Progress | None = None,
    *,
    dataset: str,
    source: str,
    kind: str,
    owner_type: str,
) -> ParsedFile:
    """An ODS geo CSV (pharmacies, care trust sites) as sites; rows without LAT/LON are kept
    unlocated (reported) rather than dropped."""
    geo, rejects = _read_geo(path, progress)
    frame = sites_frame(
        pd.DataFrame(
            {
                "_row": geo["_row"],
                "source": source,
                "source_id": geo["ODS_Code"],
                "name": geo["Name"].str.strip(),
                "kind": kind,
                "owner_type": owner_type,
                "located_by": "ods_geo:" + geo["geo_match"].str.strip(),
                "attributes": [{"role": r.strip()} for r in geo["Role"]],
                "geom": geo["_geom"].to_numpy(dtype=object),
            }
        )
    )
    if frame.empty:  # every row rejected: say why
        raise LoadError(path, rejects or "no usable rows")
    frame, reg_rejects, notes = filter_sites(frame, region, national=True)
    return ParsedFile(
        dataset=dataset,
        path=path,
        licence=ODS_LICENCE,
        tables={"sites": frame.reset_index(drop=True)},
        rows_read=len(geo) + len({r.row for r in rejects}),
        rejects=rejects + reg_rejects,
        notes=notes,
    )
