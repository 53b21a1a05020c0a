"""Patients registered at each GP practice → ``gp_registrations`` (list sizes).

The file is NHS Digital's "Patients registered at a GP practice" as Trafford Data Lab
re-publishes it: one row per practice with ``practice_code`` (ODS), ``practice_name``,
``practice_postcode`` and ``registered_patients``; any other column (ward, MSOA, locality)
is kept in ``attributes``. Capacity sizing reads the list sizes as a practice's patients
today, matched to sites by ODS code, else by name and postcode
(:func:`spatial.capacity.match_registrations`).

Rows name practices, not areas, so a region is not applied (the load records it, and a newer
file for the same region replaces the older one). The file carries no date: an optional
``extract_date`` (YYYY-MM-DD) column fills ``reference_date``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from etl.loading import OGL, ParsedFile, Region, Reject
from etl.readers.common import (
    ODS_RE,
    Progress,
    as_dates,
    bad_codes,
    bad_dates,
    bad_numbers,
    duplicate_rejects,
    normalise_postcode,
    parse_dates,
    read_csv,
    require_columns,
    to_number,
)

__all__ = ["REQUIRED", "read_gp_registrations"]

REQUIRED = ("practice_code", "practice_name", "practice_postcode", "registered_patients")
LICENCE = f"{OGL}; Source: NHS Digital, Patients registered at a GP practice"


def read_gp_registrations(
    path: Path, region: Region, progress: Progress | None = None
) -> ParsedFile:
    """Read a list-size file (see the module docstring); every bad row is a reject naming
    its line and column."""
    raw = read_csv(path, progress=progress)
    require_columns(path, raw, REQUIRED)
    raw["practice_code"] = raw["practice_code"].str.strip().str.upper()
    rejects: list[Reject] = bad_codes(raw, "practice_code", ODS_RE, "ODS practice code")
    rejects += duplicate_rejects(raw, "practice_code")
    patients = to_number(raw["registered_patients"])
    rejects += bad_numbers(raw, "registered_patients", patients)
    rejects += [
        Reject(int(r), "column 'registered_patients': negative count")
        for r in raw.loc[patients < 0, "_row"]
    ]
    dates = pd.Series(pd.NaT, index=raw.index)
    if "extract_date" in raw.columns:
        dates = parse_dates(raw["extract_date"], "%Y-%m-%d")
        rejects += bad_dates(raw, "extract_date", dates, "%Y-%m-%d")
    bad = {r.row for r in rejects}
    keep = ~raw["_row"].isin(bad)
    known = {"_row", *REQUIRED, "extract_date"}
    extra = [c for c in raw.columns if c not in known]
    frame = raw[keep]
    out = pd.DataFrame(
        {
            "_row": frame["_row"].to_numpy(),
            "practice_code": frame["practice_code"].to_numpy(),
            "practice_name": frame["practice_name"].str.strip().to_numpy(),
            "postcode": [normalise_postcode(p) or None for p in frame["practice_postcode"]],
            "registered_patients": patients[keep].to_numpy(dtype=float),
            "reference_date": as_dates(dates[keep]),
            "attributes": [
                {c: str(row[c]).strip() for c in extra if str(row[c]).strip()}
                for _, row in frame.iterrows()
            ],
        }
    )
    notes = []
    if region.key:
        notes.append(f"list sizes name practices, not areas: region {region.key} not applied")
    years = {d.year for d in out["reference_date"] if d is not None}
    return ParsedFile(
        dataset="gp-registrations",
        path=path,
        licence=LICENCE,
        tables={"gp_registrations": out},
        rows_read=len(raw),
        rejects=sorted(rejects, key=lambda r: r.row or 0),
        vintage=str(max(years)) if years else None,
        notes=notes,
    )
