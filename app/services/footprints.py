"""Area results added up by footprint, and how footprints overlap practice catchments.

A footprint type assigns each LSOA 2021 wholly to one footprint (:func:`membership`):

* ``la``: the local authority of the LSOA (``areas.lad_code``: the boundary file's LAD code or
  the region it was loaded for); LSOAs nest in local authorities.
* ``msoa``: the loaded MSOA 2021 boundary holding the LSOA's representative point (LSOAs nest
  in MSOAs, so this is exact).
* ``ward``: the electoral ward holding most of the LSOA's postcodes (Code-Point Open or ONS
  Postcode Directory rows carry each postcode's ward; majority, not apportioned, so an LSOA
  counts once; ties to the lower ward code). The share of the LSOA's postcodes in its ward is
  reported.
* ``commissioner``: the commissioner code of the LSOA's nearest GP practice by ``mode`` (the
  ODS epraccur commissioner, kept as the practice's organisation): practices → their
  nearest-site catchments.
* ``custom-<id>``: an uploaded polygon set; an LSOA belongs to the polygon holding its
  representative point (the first in the file where polygons overlap).

LSOAs no footprint claims are counted in ``(unassigned)``, so every LSOA's people count once
per footprint type and the footprints add up to the regional total. The sums themselves are
:mod:`spatial.footprints` (pure); :mod:`app.services.footprint_sums` adds up a stored
projection and a capacity-sizing job the same way (:func:`membership`, then
:func:`spatial.footprints.sum_by_footprint`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from app.services.areas import AnalysisInputError, area_table
from app.services.estate_common import AREA_VINTAGE, clean
from app.services.traveltimes import stored_metadata
from spatial import footprints as fp
from spatial.catchment import nearest_site
from spatial.modes import Mode
from store import footprints as store
from store.access import Principal
from store.connection import Database
from store.planning import lsoa_codes
from store.traveltimes import access_by_area, stored_times

__all__ = [
    "COMMISSIONER_KIND",
    "FOOTPRINT_TYPES",
    "Membership",
    "footprint_access",
    "footprint_catchments",
    "footprint_population",
    "footprint_types",
    "membership",
    "row_head",
]

#: The site kind whose catchments make commissioner footprints (ODS practices).
COMMISSIONER_KIND = "gp_practice"
_CUSTOM = re.compile(r"^custom-(\d{1,9})$")

#: Footprint type → (label, how each LSOA is assigned).
FOOTPRINT_TYPES: dict[str, tuple[str, str]] = {
    "la": (
        "Local authority",
        "the LSOA's local authority code (LSOAs nest in local authorities)",
    ),
    "msoa": (
        "MSOA 2021",
        "the loaded MSOA 2021 boundary holding the LSOA's representative point (LSOAs nest "
        "in MSOAs)",
    ),
    "ward": (
        "Electoral ward",
        "the ward holding most of the LSOA's postcodes (Code-Point Open / ONS Postcode "
        "Directory ward codes; whole LSOAs, not apportioned; ties to the lower ward code)",
    ),
    "commissioner": (
        "NHS commissioner",
        "the ODS commissioner code of the LSOA's nearest GP practice by the given mode "
        "(stored travel times; practices → their nearest-site catchments)",
    ),
    "custom": (
        "Custom polygons",
        "the uploaded polygon holding the LSOA's representative point (the first feature of "
        "the file where polygons overlap)",
    ),
}


@dataclass
class Membership:
    """Which footprint each LSOA belongs to, for one footprint type."""

    footprint: str
    label: str
    method: str
    #: ``area_code, footprint, weight`` (whole areas: weight 1).
    frame: pd.DataFrame
    #: footprint code → name (None when no name is loaded).
    names: dict[str, str | None] = field(default_factory=dict)
    #: footprint code → extra columns for its row (ward: the share of postcodes).
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def _records(frame: pd.DataFrame) -> list[Any]:
    """Rows as attribute-access records, typed loosely for mypy."""
    return list(frame.itertuples(index=False))


def _whole(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[["area_code", "footprint"]].copy()
    out["weight"] = 1.0
    return out


def _names(frame: pd.DataFrame) -> dict[str, str | None]:
    if "name" not in frame.columns:
        return {}
    return {
        str(c): (None if pd.isna(n) else str(n))
        for c, n in frame.drop_duplicates("footprint")[["footprint", "name"]].itertuples(
            index=False
        )
    }


def _ward(db: Database) -> Membership:
    label, method = FOOTPRINT_TYPES["ward"]
    with db.connection() as conn:
        counts, sources = store.postcode_ward_counts(conn, vintage=AREA_VINTAGE)
    if counts.empty:
        raise AnalysisInputError(
            "footprint",
            "no postcodes with ward codes lie in the loaded LSOAs: load Code-Point Open "
            "(`locus load codepoint ...`) or an ONS Postcode Directory extract with ward_code",
        )
    best = fp.majority_assignment(counts)
    extra: dict[str, dict[str, Any]] = {}
    for ward, group in best.groupby("footprint"):
        extra[str(ward)] = {
            "postcodes": int(group["units"].sum()),
            # Of the postcodes of the LSOAs given to this ward, the share that lies in it.
            "postcode_share": round(
                float((group["share"] * group["units"]).sum() / group["units"].sum()), 4
            ),
        }
    split = best[best["share"] < 1.0]
    notes = [
        f"{len(split)} of {len(best)} LSOAs have postcodes in more than one ward; each goes "
        "wholly to the ward holding most of them"
    ]
    return Membership(
        footprint="ward",
        label=label,
        method=method,
        frame=best[["area_code", "footprint", "weight"]],
        names=_names(counts),
        extra=extra,
        notes=notes,
        metadata={"postcode_sources": sources},
    )


def _commissioner(db: Database, principal: Principal, mode: Mode) -> Membership:
    label, method = FOOTPRINT_TYPES["commissioner"]
    meta = stored_metadata(db, mode)
    with db.connection() as conn:
        times = stored_times(
            conn,
            principal,
            mode=mode,
            kinds=[COMMISSIONER_KIND],
            active_only=True,
            area_vintage=AREA_VINTAGE,
        )
        # LSOAs only: the stored times also hold MSOA rows.
        lsoas = set(lsoa_codes(conn, vintage=AREA_VINTAGE))
        nearest = nearest_site(times[times["from_id"].astype(str).isin(lsoas)])
        practices = store.site_organisations(conn, principal, nearest["site_id"].tolist())
    if nearest.empty:
        raise AnalysisInputError(
            "mode", f"no stored {mode} times to GP practices: run `locus compute`"
        )
    commissioner = practices.set_index("id")["organisation"]
    frame = nearest.assign(footprint=nearest["site_id"].map(commissioner)).rename(
        columns={"area_id": "area_code"}
    )
    missing = frame["footprint"].isna()
    notes = []
    if missing.any():
        notes.append(
            f"{int(missing.sum())} LSOAs' nearest practice has no commissioner code: "
            "counted as unassigned"
        )
    return Membership(
        footprint="commissioner",
        label=label,
        method=f"{method}; mode {mode}",
        frame=_whole(frame[~missing]),
        notes=notes,
        metadata={**meta, "practices": int(nearest["site_id"].nunique())},
    )


def _custom(db: Database, principal: Principal, set_id: int, footprint: str) -> Membership:
    label, method = FOOTPRINT_TYPES["custom"]
    with db.connection() as conn:
        found = store.footprint_set(conn, principal, set_id)
        if found is None:
            raise AnalysisInputError("footprint", f"no custom footprint set with id {set_id}")
        frame = store.lsoa_in_polygons(conn, principal, set_id=set_id, vintage=AREA_VINTAGE)
        names = store.footprint_names(conn, principal, set_id=set_id)
    return Membership(
        footprint=footprint,
        label=f"{label}: {found.name}",
        method=method,
        frame=_whole(frame),
        names=_names(names),
        metadata={
            "set_id": found.id,
            "set_name": found.name,
            "organisation": found.organisation,
            "file_name": found.file_name,
        },
    )


def membership(
    db: Database, principal: Principal, footprint: str, *, mode: Mode = "drive"
) -> Membership:
    """The LSOA 2021 → footprint assignment of type ``footprint`` (see the module docstring).

    Raises
    ------
    AnalysisInputError
        An unknown type, a custom set the caller cannot see (parameter ``footprint``), or
        nothing loaded to build the type from.
    app.services.sources.NoNetworkError
        ``commissioner`` with no data for ``mode``.
    """
    if footprint == "la":
        with db.connection() as conn:
            frame = store.lsoa_lad(conn, vintage=AREA_VINTAGE)
        label, method = FOOTPRINT_TYPES["la"]
        return Membership("la", label, method, _whole(frame))
    if footprint == "msoa":
        with db.connection() as conn:
            frame = store.lsoa_msoa(conn, vintage=AREA_VINTAGE)
        if frame.empty:
            raise AnalysisInputError(
                "footprint", "no MSOA 2021 boundaries are loaded: `locus load msoa21 ...`"
            )
        label, method = FOOTPRINT_TYPES["msoa"]
        return Membership("msoa", label, method, _whole(frame), names=_names(frame))
    if footprint == "ward":
        return _ward(db)
    if footprint == "commissioner":
        return _commissioner(db, principal, mode)
    custom = _CUSTOM.match(footprint)
    if custom:
        return _custom(db, principal, int(custom.group(1)), footprint)
    raise AnalysisInputError(
        "footprint",
        f"unknown footprint type {footprint!r}: one of la, msoa, ward, commissioner or "
        "custom-<id> (an uploaded set)",
    )


def footprint_types(db: Database, principal: Principal) -> dict[str, Any]:
    """The footprint types and the custom sets the caller may see."""
    with db.connection() as conn:
        sets = store.footprint_sets(conn, principal)
    return {
        "types": [
            {"footprint": k if k != "custom" else "custom-<id>", "label": lab, "method": m}
            for k, (lab, m) in FOOTPRINT_TYPES.items()
        ],
        "custom": [
            {
                "footprint": f"custom-{s.id}",
                "id": s.id,
                "name": s.name,
                "organisation": s.organisation,
                "restricted": s.restricted,
                "file_name": s.file_name,
                "features": s.features,
                "notes": s.notes,
                "created_at": s.created_at.isoformat(),
            }
            for s in sets
        ],
    }


def _areas(db: Database) -> pd.DataFrame:
    with db.connection() as conn:
        areas = area_table(conn, vintage=AREA_VINTAGE)
    if areas.empty:
        raise AnalysisInputError("footprint", "no LSOA 2021 areas are loaded")
    return areas.set_index("code")


def _age_columns(areas: pd.DataFrame) -> list[str]:
    return [c for c in areas.columns if str(c)[:1].isdigit()]


def _base(m: Membership, areas: pd.DataFrame) -> dict[str, Any]:
    unclaimed = areas.index.difference(pd.Index(m.frame["area_code"]))
    notes = list(m.notes)
    if len(unclaimed):
        people = float(areas.loc[unclaimed, "population"].sum())
        notes.append(
            f"{len(unclaimed)} LSOAs ({people:,.0f} people) belong to no footprint of this "
            f"type: counted in {fp.UNASSIGNED}"
        )
    return {
        "footprint": m.footprint,
        "label": m.label,
        "method": m.method,
        "area_vintage": AREA_VINTAGE,
        "total_areas": len(areas),
        "total_population": round(float(areas["population"].sum()), 1),
        "notes": notes,
    }


def row_head(m: Membership, code: str) -> dict[str, Any]:
    """The code, name and type-specific columns (ward: postcodes) of a footprint's row."""
    return {"code": code, "name": m.names.get(code), **m.extra.get(code, {})}


def footprint_population(
    db: Database, principal: Principal, footprint: str, *, mode: Mode = "drive"
) -> dict[str, Any]:
    """Population (all ages and by age band) of each footprint of type ``footprint``."""
    m = membership(db, principal, footprint, mode=mode)
    areas = _areas(db)
    ages = _age_columns(areas)
    sums = fp.sum_by_footprint(areas[["population", *ages]], m.frame)
    rows = [
        {
            **row_head(m, str(code)),
            "areas": round(float(r["areas"]), 3),
            "population": round(float(r["population"]), 1),
            "by_age": {a: round(float(r[a]), 1) for a in ages},
        }
        for code, r in sums.iterrows()
    ]
    answer: dict[str, Any] = clean(
        {
            **_base(m, areas),
            "footprints": rows,
            "metadata": {
                "population_source": "latest loaded population of each LSOA",
                **m.metadata,
            },
        }
    )
    return answer


def footprint_access(
    db: Database,
    principal: Principal,
    footprint: str,
    *,
    kind: str,
    mode: Mode,
    minutes: float,
) -> dict[str, Any]:
    """Per footprint, the population-weighted mean time to the nearest site of ``kind`` by
    ``mode`` (stored times), and the people within ``minutes``."""
    meta = stored_metadata(db, mode)
    m = membership(db, principal, footprint, mode=mode)
    areas = _areas(db)
    with db.connection() as conn:
        times = access_by_area(
            conn,
            principal,
            kind=kind,
            mode=mode,
            within_s=minutes * 60.0,
            area_vintage=AREA_VINTAGE,
        )
    seconds = times.set_index("code")["seconds"] if len(times) else pd.Series(dtype=float)
    if seconds.notna().sum() == 0:
        raise AnalysisInputError("kind", f"no stored {mode} times to sites of kind {kind!r}")
    table = fp.access_by_footprint(seconds, areas["population"], m.frame, within_minutes=minutes)
    rows = [
        {
            **row_head(m, str(code)),
            "areas": round(float(r["areas"]), 3),
            "population": round(float(r["population"]), 1),
            "mean_minutes": None
            if pd.isna(r["mean_minutes"])
            else round(float(r["mean_minutes"]), 2),
            "population_within": round(float(r["population_within"]), 1),
            "share_within": None
            if pd.isna(r["share_within"])
            else round(float(r["share_within"]), 4),
            "population_unreached": round(float(r["population_unreached"]), 1),
        }
        for code, r in table.iterrows()
    ]
    answer: dict[str, Any] = clean(
        {
            **_base(m, areas),
            "kind": kind,
            "mode": mode,
            "minutes": minutes,
            "measure": "population-weighted mean time from each LSOA's representative point to "
            f"its nearest {kind} by {mode}, over the people reached",
            "footprints": rows,
            "metadata": {**meta, **m.metadata},
        }
    )
    return answer


def footprint_catchments(
    db: Database, principal: Principal, footprint: str, *, kind: str, mode: Mode
) -> dict[str, Any]:
    """How footprints overlap the nearest-site catchments of the sites of ``kind`` by
    ``mode``: the people each (footprint, site) pair shares, as shares of both."""
    meta = stored_metadata(db, mode)
    m = membership(db, principal, footprint, mode=mode)
    areas = _areas(db)
    with db.connection() as conn:
        times = stored_times(
            conn, principal, mode=mode, kinds=[kind], active_only=True, area_vintage=AREA_VINTAGE
        )
        nearest = nearest_site(times)
        sites = store.site_organisations(conn, principal, nearest["site_id"].tolist())
    if nearest.empty:
        raise AnalysisInputError("kind", f"no stored {mode} times to sites of kind {kind!r}")
    catchment = pd.DataFrame(
        {
            "area_code": nearest["area_id"],
            "footprint": nearest["site_id"].astype(str),
            "weight": 1.0,
        }
    )
    pairs = fp.overlap(m.frame, catchment, areas["population"])
    labels = sites.assign(key=sites["id"].astype(str)).set_index("key")
    fp_totals = pairs.groupby("footprint")["population"].sum()
    site_totals = pairs.groupby("other")["population"].sum()

    def site(key: str) -> dict[str, Any]:
        if key == fp.UNASSIGNED:
            return {"site_id": None, "source_id": None, "site_name": "(no site reached)"}
        found = labels.loc[key] if key in labels.index else None
        return {
            "site_id": int(key),
            "source_id": None if found is None else found["source_id"],
            "site_name": None if found is None else found["name"],
        }

    answer: dict[str, Any] = clean(
        {
            **_base(m, areas),
            "kind": kind,
            "mode": mode,
            "footprints": [
                {**row_head(m, str(c)), "population": round(float(p), 1)}
                for c, p in fp_totals.items()
            ],
            "catchments": [
                {**site(str(k)), "population": round(float(p), 1)}
                for k, p in site_totals.sort_values(ascending=False).items()
            ],
            "overlaps": [
                {
                    "code": r.footprint,
                    "name": m.names.get(str(r.footprint)),
                    **site(str(r.other)),
                    "population": round(float(r.population), 1),
                    "share_of_footprint": round(float(r.share_of_footprint), 4),
                    "share_of_catchment": round(float(r.share_of_other), 4),
                }
                for r in _records(pairs)
            ],
            "catchment_method": "each LSOA belongs to its nearest site by stored travel time "
            "(representative point); people are counted once per (footprint, catchment) pair",
            "metadata": {**meta, **m.metadata},
        }
    )
    return answer
