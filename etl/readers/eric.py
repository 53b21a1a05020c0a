"""NHS Digital ERIC (Estates Returns Information Collection) Site Data → ``sites``.

The ``.xls`` is read with calamine. One row per trust site (the per-trust ``AGGREGATE`` rows
are skipped); floor area, land area, running cost and backlog go to columns, every other
measure to ``attributes``. This module is the only code that knows ERIC's headers: the
running cost is the sum of :data:`RUNNING_COSTS` (the one definition, with the reason for
what it leaves out), and the measures :mod:`spatial.estate` derives figures from are stored
under the keys it names (:data:`ESTATE_ATTRIBUTES`). ERIC has no coordinates: sites listed
in the PFI Data sheet get its postcode, and :func:`etl.datasets.locate_sites` places the
rest by the ``postcodes`` table or by the name of an OSM hospital/clinic, reporting
whatever stays unlocated.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from etl.loading import OGL, LoadError, ParsedFile, Region, Reject
from etl.readers.common import (
    POSTCODE_RE,
    Progress,
    bad_numbers,
    duplicate_rejects,
    filter_sites,
    negative_numbers,
    normalise_postcode,
    read_sheet,
    report,
    require_columns,
    sheet_frame,
    sites_frame,
    to_number,
)
from spatial import estate

ERIC_LICENCE = f"{OGL}; Source: NHS Digital, Estates Returns Information Collection"

GIFA = "Gross internal floor area (m²)"
#: What ERIC writes in a numeric column when a trust has no figure.
NOT_APPLICABLE = "Not Applicable"
LAND = "Land area owned (Hectares)"
#: Backlog by risk category, summed into ``backlog_gbp`` (the cost to eradicate all backlog).
#: The three "Critical Infrastructure Risk" columns are a subset of these totals and are not
#: added again.
BACKLOG = [
    "Cost to eradicate high risk backlog (£)",
    "Cost to eradicate significant risk backlog (£)",
    "Cost to eradicate moderate risk backlog (£)",
    "Cost to eradicate low risk backlog (£)",
]
#: THE definition of a site's running cost (``sites.running_cost_gbp``, £/year): the ERIC
#: columns summed into it. Hard FM, soft FM, energy, water and sewage, waste, cleaning, food,
#: laundry and portering: the costs that go with the building and stop when it is vacated.
#: Excluded on purpose: "Electro Bio Medical Equipment maintenance cost" (medical equipment
#: moves with the service, its maintenance does not stop when the building is released) and
#: "Estates and facilities finance costs" (capital charges, which outlive occupation). Every
#: other figure (cost per m², the ERIC £/m² rate applied to buildings without a return,
#: scenario savings) derives from the stored sum. Each column also stays in ``attributes``.
RUNNING_COSTS = [
    "Estates and property maintenance (£)",
    "Grounds and gardens maintenance (£)",
    "Other Hard FM (Estates) costs (£)",
    "Other Soft FM (Hotel Services) costs (£)",
    "Energy costs (all energy supplies) (£)",
    "Water cost (£)",
    "Sewage cost (£)",
    "Landfill disposal cost (£)",
    "Incineration disposal cost (£)",
    "Waste reycling cost (£)",  # sic: ERIC's spelling
    "Other recovery cost (£)",
    "Cleaning service cost (£)",
    "Inpatient food service cost (£)",
    "Laundry and linen service cost (£)",
    "Portering service cost (£)",
]
#: The running-cost definition in words (stated in API responses and reports).
RUNNING_COST_DEFINITION = (
    "ERIC running cost (£/year): hard FM (estates, grounds, other hard FM), soft FM (hotel "
    "services, cleaning, inpatient food, laundry and linen, portering), energy, water, "
    "sewage and waste; excluding medical-equipment maintenance and capital (finance) costs, "
    "which do not stop when a building is vacated"
)
#: ERIC header → the ``attributes`` key :func:`spatial.estate.derive_estate_metrics` reads.
ESTATE_ATTRIBUTES: dict[str, str] = {
    "Occupied floor area (m²)": estate.OCCUPIED_M2,
    "Land area not delivering services (Hectares)": estate.LAND_NOT_DELIVERING_HA,
    "Not functionally suitable - occupied floor area (%)": estate.NOT_SUITABLE_PCT,
    "Floor area - empty (%)": estate.EMPTY_PCT,
    "Floor area - under used (%)": estate.UNDER_USED_PCT,
    "Age profile - pre 1948 (%)": estate.PRE_1948_PCT,
}
REQUIRED = [
    "Organisation Code",
    "Organisation Name",
    "Organisation Type",
    "Site Code",
    "Site Name",
    "Site Type",
    GIFA,
    LAND,
    *BACKLOG,
    *RUNNING_COSTS,
    *ESTATE_ATTRIBUTES,
]
#: ERIC site type number → site kind.
SITE_KINDS = {
    1: "hospital",
    2: "hospital",
    3: "hospital",
    4: "mental_health_unit",
    5: "learning_disability_unit",
    6: "mental_health_unit",
    7: "community_hospital",
    8: "inpatient_unit",
    9: "clinic",
    10: "support_facility",
}


def summed(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Row sums of ERIC money columns (text such as "Not Applicable" is no amount); NaN where
    none of the columns has a number. With :data:`RUNNING_COSTS` this is THE running cost."""
    return pd.concat([to_number(frame[c]) for c in columns], axis=1).sum(axis=1, min_count=1)


def header_row(path: Path, rows: list[list[Any]], sheet: str) -> int:
    for number, row in enumerate(rows[:10], start=1):
        if row and str(row[0]).strip() == "Organisation Code":
            return number
    raise LoadError(path, f"sheet {sheet!r}: no header row starting 'Organisation Code'")


def _key(column: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]+", "_", column.lower())).strip("_")


def _kind(site_type: str) -> str:
    m = re.match(r"^\s*(\d+)\.", site_type)
    if m and int(m.group(1)) in SITE_KINDS:
        return SITE_KINDS[int(m.group(1))]
    return "nhs_site"


def read_eric_sites(path: Path, region: Region, progress: Progress | None = None) -> ParsedFile:
    """ERIC Site Data sheet as sites (source ``eric``, source_id the ERIC site code)."""
    rows = read_sheet(path, "Site Data")
    frame = sheet_frame(path, rows, header_row(path, rows, "Site Data"))
    require_columns(path, frame, REQUIRED)
    report(progress, len(frame), len(frame))
    aggregate = (frame["Site Code"].str.upper() == "AGGRE") | (
        frame["Site Type"].str.lower() == "aggregate site"
    )
    notes = [f"{int(aggregate.sum())} trust AGGREGATE rows skipped"]
    frame = frame[~aggregate].reset_index(drop=True)
    frame["Site Code"] = frame["Site Code"].str.strip().str.upper()
    rejects: list[Reject] = [
        Reject(int(r), f"column 'Site Code': {v!r} is not an ERIC site code")
        for r, v in frame.loc[
            ~frame["Site Code"].str.match(r"^[A-Z0-9]{3,6}$"), ["_row", "Site Code"]
        ].itertuples(index=False)
    ]
    rejects += [
        Reject(int(r), "column 'Site Name' is empty")
        for r in frame.loc[frame["Site Name"].str.strip() == "", "_row"]
    ]
    rejects += duplicate_rejects(frame, "Site Code")
    measured = [GIFA, LAND, *BACKLOG, *RUNNING_COSTS, *ESTATE_ATTRIBUTES]
    # ERIC writes "Not Applicable" where a trust has no figure: a blank, not an error.
    figures = frame[measured].replace(NOT_APPLICABLE, "")
    numbers = {c: to_number(figures[c]) for c in measured}
    checked = pd.concat([frame["_row"], figures], axis=1)
    for column in measured:
        rejects += bad_numbers(checked, column, numbers[column], allow_blank=True)
    for column in (GIFA, LAND):
        rejects += negative_numbers(checked, column, numbers[column])
    # PFI Data sheet: postcodes of the PFI sites.
    pfi_rows = read_sheet(path, "PFI Data")
    pfi = sheet_frame(path, pfi_rows, header_row(path, pfi_rows, "PFI Data"))
    require_columns(path, pfi, ["Site Code", "Post Code"])
    pfi_pc = pfi["Post Code"].map(normalise_postcode)
    pfi_pc = pfi_pc.where(pfi_pc.str.match(POSTCODE_RE))
    postcode_of = dict(zip(pfi["Site Code"].str.strip().str.upper(), pfi_pc, strict=True))
    skip = {c for c in frame.columns if c in ("_row", "Site Code", "Site Name")}
    values = frame.drop(columns=list(skip))
    numeric = values.apply(to_number)
    combined = numeric.astype(object).where(numeric.notna(), values)
    combined.columns = [ESTATE_ATTRIBUTES.get(c, _key(c)) for c in combined.columns]
    attributes: list[dict[str, Any]] = [
        {str(k): v for k, v in rec.items() if v != ""} for rec in combined.to_dict("records")
    ]
    out = sites_frame(
        pd.DataFrame(
            {
                "_row": frame["_row"],
                "source": "eric",
                "source_id": frame["Site Code"],
                "name": frame["Site Name"].str.strip(),
                "kind": frame["Site Type"].map(_kind),
                "owner": frame["Organisation Name"].str.strip(),
                "owner_type": "nhs_trust",
                "organisation": frame["Organisation Code"].str.strip(),
                "gia_m2": numbers[GIFA],
                "land_ha": numbers[LAND],
                "running_cost_gbp": summed(frame, RUNNING_COSTS),
                "backlog_gbp": summed(frame, BACKLOG),
                "postcode": frame["Site Code"].map(postcode_of),
                "attributes": attributes,
                "geom": None,
            }
        )
    )
    out["postcode"] = out["postcode"].astype(object).where(out["postcode"].notna(), None)
    out = out[~out["_row"].isin({r.row for r in rejects})]
    out, reg_rejects, reg_notes = filter_sites(out, region, national=True)
    return ParsedFile(
        dataset="eric-sites",
        path=path,
        licence=ERIC_LICENCE,
        tables={"sites": out.reset_index(drop=True)},
        rows_read=len(frame) + int(aggregate.sum()),
        rejects=sorted(rejects + reg_rejects, key=lambda r: r.row or 0),
        vintage="2016/17",
        notes=notes + reg_notes,
    )
