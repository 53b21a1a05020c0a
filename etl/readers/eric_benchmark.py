"""NHS Digital ERIC 2016/17 Site Data for all of England → ``eric_returns`` (the benchmark).

:mod:`etl.readers.eric` loads a region's ERIC sites into ``sites`` (located, for analyses). A
benchmark needs every trust in England as the peer group, located or not, and the trust's
AGGREGATE row (the sites a trust returns together rather than one by one, part of its estate
but not a site): this reader keeps every Site Data row with the figures the KPIs of
:mod:`spatial.benchmark` are computed from. The running cost is the one definition
(:data:`etl.readers.eric.RUNNING_COSTS`, summed by :func:`etl.readers.eric.summed`); backlog
stays split by risk category. The file is national and so is the load: a ``--region`` is
refused, since a benchmark filtered to one county compares a trust with itself.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from etl.loading import LoadError, ParsedFile, Region, Reject
from etl.readers.common import (
    ODS_RE,
    Progress,
    read_sheet,
    report,
    require_columns,
    sheet_frame,
    to_number,
)
from etl.readers.eric import BACKLOG, ERIC_LICENCE, GIFA, RUNNING_COSTS, header_row, summed

__all__ = ["BACKLOG_COLUMNS", "PERCENT_COLUMNS", "read_eric_benchmark"]

OCCUPIED = "Occupied floor area (m²)"
ENERGY = "Energy costs (all energy supplies) (£)"
#: ``eric_returns`` column → the ERIC backlog column (cost to eradicate, £) it holds.
BACKLOG_COLUMNS: dict[str, str] = dict(
    zip(
        (
            "backlog_high_gbp",
            "backlog_significant_gbp",
            "backlog_moderate_gbp",
            "backlog_low_gbp",
        ),
        BACKLOG,
        strict=True,
    )
)
#: ``eric_returns`` column → the ERIC share of floor area (per cent, 0–100) it holds.
PERCENT_COLUMNS: dict[str, str] = {
    "pre_1948_pct": "Age profile - pre 1948 (%)",
    "empty_pct": "Floor area - empty (%)",
    "under_used_pct": "Floor area - under used (%)",
}
_TEXT = {
    "organisation_code": "Organisation Code",
    "organisation_name": "Organisation Name",
    "organisation_type": "Organisation Type",
    "commissioning_region": "Commissioning Region",
    "site_code": "Site Code",
    "site_name": "Site Name",
    "site_type": "Site Type",
}
REQUIRED = [
    *_TEXT.values(),
    GIFA,
    OCCUPIED,
    ENERGY,
    *RUNNING_COSTS,
    *BACKLOG,
    *PERCENT_COLUMNS.values(),
]


def _rejects(frame: pd.DataFrame, numbers: dict[str, pd.Series]) -> list[Reject]:
    rejects: list[Reject] = []
    code, site = frame["Organisation Code"], frame["Site Code"]
    rejects += [
        Reject(int(r), f"column 'Organisation Code': {v!r} is not an ODS code")
        for r, v in frame.loc[~code.str.match(ODS_RE), ["_row", "Organisation Code"]].itertuples(
            index=False
        )
    ]
    rejects += [
        Reject(int(r), f"column 'Site Code': {v!r} is not an ERIC site code")
        for r, v in frame.loc[~site.str.match(ODS_RE), ["_row", "Site Code"]].itertuples(
            index=False
        )
    ]
    for column in ("Organisation Name", "Organisation Type", "Site Name", "Site Type"):
        rejects += [
            Reject(int(r), f"column {column!r} is empty")
            for r in frame.loc[frame[column].str.strip() == "", "_row"]
        ]
    repeated = frame.duplicated(["Organisation Code", "Site Code"], keep="first")
    rejects += [
        Reject(int(r), f"site {s} of trust {o} repeats an earlier row")
        for r, o, s in frame.loc[repeated, ["_row", "Organisation Code", "Site Code"]].itertuples(
            index=False
        )
    ]
    # Money columns may be negative (some trusts return credits as negative "other hard FM"
    # costs); they are added up as published. Floor areas and backlog cannot be.
    for column in (GIFA, OCCUPIED, *BACKLOG):
        negative = numbers[column] < 0
        rejects += [
            Reject(int(r), f"column {column!r}: negative value {v:g}")
            for r, v in zip(frame.loc[negative, "_row"], numbers[column][negative], strict=True)
        ]
    for column in PERCENT_COLUMNS.values():
        out = (numbers[column] < 0) | (numbers[column] > 100)
        rejects += [
            Reject(int(r), f"column {column!r}: {v:g} is not a percentage (0 to 100)")
            for r, v in zip(frame.loc[out, "_row"], numbers[column][out], strict=True)
        ]
    return rejects


def read_eric_benchmark(path: Path, region: Region, progress: Progress | None = None) -> ParsedFile:
    """Every row of the ERIC Site Data sheet (AGGREGATE rows flagged) as ``eric_returns``."""
    if region.key:
        raise LoadError(
            path,
            f"eric-benchmark is the national peer group: load it without --region "
            f"(got {region.key!r}); every English trust and site is compared with the others",
        )
    rows = read_sheet(path, "Site Data")
    frame = sheet_frame(path, rows, header_row(path, rows, "Site Data"))
    require_columns(path, frame, REQUIRED)
    report(progress, len(frame), len(frame))
    for column in _TEXT.values():
        frame[column] = frame[column].str.strip()
    frame["Organisation Code"] = frame["Organisation Code"].str.upper()
    frame["Site Code"] = frame["Site Code"].str.upper()
    numbers = {c: to_number(frame[c]) for c in REQUIRED if c not in _TEXT.values()}
    rejects = _rejects(frame, numbers)
    aggregate = (frame["Site Code"] == "AGGRE") | (
        frame["Site Type"].str.lower() == "aggregate site"
    )
    out = pd.DataFrame(
        {
            "_row": frame["_row"],
            **{column: frame[header] for column, header in _TEXT.items()},
            "aggregate": aggregate,
            "gia_m2": numbers[GIFA],
            "occupied_m2": numbers[OCCUPIED],
            "running_cost_gbp": summed(frame, RUNNING_COSTS),
            **{column: numbers[header] for column, header in BACKLOG_COLUMNS.items()},
            **{column: numbers[header] for column, header in PERCENT_COLUMNS.items()},
            "energy_cost_gbp": numbers[ENERGY],
        }
    )
    out["commissioning_region"] = out["commissioning_region"].where(
        out["commissioning_region"] != "", None
    )
    bad = {r.row for r in rejects}
    out = out[~out["_row"].isin(bad)].reset_index(drop=True)
    trusts = out["organisation_code"].nunique()
    return ParsedFile(
        dataset="eric-benchmark",
        path=path,
        licence=ERIC_LICENCE,
        tables={"eric_returns": out},
        rows_read=len(frame),
        rejects=sorted(rejects, key=lambda r: r.row or 0),
        vintage="2016/17",
        notes=[
            f"{trusts} trusts, {int((~out['aggregate']).sum())} sites and "
            f"{int(out['aggregate'].sum())} trust AGGREGATE rows"
        ],
    )
