"""Planning results added up by footprint: a stored projection's people, and a capacity-sizing
job's need against today's capacity.

Both read stored results, never recompute them, so a footprint sum always refers to the same
numbers as the projection or job it came from. Each LSOA is given to a footprint by
:func:`app.services.footprints.membership` (the one assignment rule) and the per-LSOA figures
are summed by :func:`spatial.footprints.sum_by_footprint` (the one aggregation rule); LSOAs no
footprint claims are counted in ``(unassigned)``, so the rows add up to the totals.

Capacity is attributed as :func:`spatial.footprints.capacity_by_footprint` says: each site's
capacity today is apportioned to the LSOAs of its catchment by their share of the catchment's
people now; a footprint's capacity is the sum over its LSOAs. Need comes from the per-area
need the job stored (a site's need is the sum of its areas').
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import ValidationError

from app.schemas.planning import CapacityResult
from app.services.areas import AnalysisInputError, age_label
from app.services.estate_common import AREA_VINTAGE, clean
from app.services.footprints import Membership, membership, row_head
from spatial import footprints as fp
from spatial.capacity import CAPACITY_MEASURES, NEED_MEASURES
from spatial.modes import MODES, Mode
from store import jobs as job_store
from store import planning as planning_store
from store.access import Principal
from store.connection import Database

__all__ = [
    "CAPACITY_ATTRIBUTION",
    "NotVisible",
    "footprint_need",
    "footprint_projection",
]

CAPACITY_PROCESS = "capacity-sizing"
CAPACITY_ATTRIBUTION = (
    "each site's capacity today is apportioned to the LSOAs of its nearest-site catchment by "
    "their share of the catchment's people now (the job's areas), and a footprint's capacity "
    "is the sum over its LSOAs; a site whose catchment holds nobody now is unattributed"
)
FOOTPRINT_GAP_RULE = (
    "gap = need of the people whose site has the capacity figure − the capacity attributed "
    "to the footprint (positive: a shortfall); footprint gaps add up to the sites' gaps. "
    "Flags as for sites: a shortfall when any known measure's gap is positive"
)


class NotVisible(LookupError):
    """The projection or job does not exist or the caller may not see it (a 404)."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(detail)
        self.parameter = parameter


def _notes(m: Membership, codes: pd.Index, people: pd.Series, what: str) -> list[str]:
    """The membership's notes, and how many of ``codes`` (with ``people``) no footprint
    claims or which footprints' LSOAs ``what`` leaves out."""
    notes = list(m.notes)
    claimed = pd.Index(m.frame["area_code"])
    unclaimed = codes.difference(claimed)
    if len(unclaimed):
        notes.append(
            f"{len(unclaimed)} LSOAs of the {what} ({float(people.reindex(unclaimed).sum()):,.0f}"
            f" people) belong to no footprint of this type: counted in {fp.UNASSIGNED}"
        )
    outside = claimed.unique().difference(codes)
    if len(outside):
        notes.append(f"{len(outside)} LSOAs of these footprints are not in the {what}: not counted")
    return notes


def _head(m: Membership) -> dict[str, Any]:
    return {"footprint": m.footprint, "label": m.label, "method": m.method}


# ----------------------------------------------------------------------------- projection


def _wide(rows: pd.DataFrame, year: int, bands: list[str]) -> pd.DataFrame:
    chosen = rows[rows["year"] == year]
    wide = chosen.pivot_table(index="area_code", columns="band", values="count", aggfunc="sum")
    return wide.reindex(columns=bands).fillna(0.0)


def footprint_projection(
    db: Database,
    principal: Principal,
    footprint: str,
    *,
    projection_id: int,
    year: int | None = None,
    mode: Mode = "drive",
) -> dict[str, Any]:
    """People of a visible projection per footprint in ``year`` (default: its last horizon)
    and in its base year, all ages and by age band.

    Raises
    ------
    NotVisible
        No projection ``projection_id`` the caller may see.
    AnalysisInputError
        ``year`` is not one of the projection's years; or as :func:`membership`.
    """
    with db.connection() as conn:
        row = planning_store.get_named(conn, "population_projections", principal, projection_id)
        if row is None:
            raise NotVisible("projection_id", f"no projection {projection_id}")
        base_year = int(row.extra["base_year"])
        years = [base_year, *(int(y) for y in row.extra["horizon_years"])]
        year = max(years) if year is None else year
        if year not in years:
            raise AnalysisInputError(
                "year",
                f"year {year} is not a year of projection {projection_id}: one of "
                f"{', '.join(str(y) for y in years)}",
            )
        rows = planning_store.projection_rows(
            conn, principal, projection_id, years=sorted({base_year, year})
        )
    m = membership(db, principal, footprint, mode=mode)
    rows = rows.assign(
        band=[
            age_label(int(lo), None if pd.isna(hi) else int(hi))
            for lo, hi in zip(rows["age_lower"], rows["age_upper"], strict=True)
        ]
    )
    bands = rows.drop_duplicates("band").sort_values("age_lower")["band"].tolist()
    later, base = _wide(rows, year, bands), _wide(rows, base_year, bands)
    codes = later.index.union(base.index)
    later, base = later.reindex(codes, fill_value=0.0), base.reindex(codes, fill_value=0.0)
    housing = rows[rows["year"] == year].groupby("area_code")["housing"].sum()
    values = pd.concat(
        [
            pd.DataFrame(
                {
                    "population": later.sum(axis=1),
                    "population_base": base.sum(axis=1),
                    "housing": housing.reindex(codes, fill_value=0.0),
                },
                index=codes,
            ),
            later.add_prefix("y:"),
            base.add_prefix("b:"),
        ],
        axis=1,
    )
    sums = fp.sum_by_footprint(values, m.frame)

    def r3(x: Any) -> float:
        return round(float(x), 3)

    footprints = [
        {
            **row_head(m, str(code)),
            "areas": r3(r["areas"]),
            "population_base": r3(r["population_base"]),
            "population": r3(r["population"]),
            "change": r3(r["population"] - r["population_base"]),
            "housing": r3(r["housing"]),
            "by_age_base": {b: r3(r[f"b:{b}"]) for b in bands},
            "by_age": {b: r3(r[f"y:{b}"]) for b in bands},
        }
        for code, r in sums.iterrows()
    ]
    answer: dict[str, Any] = clean(
        {
            **_head(m),
            "area_vintage": AREA_VINTAGE,
            "projection": {
                "id": row.id,
                "name": row.name,
                "version": row.version,
                "base_year": base_year,
                "horizon_years": years[1:],
            },
            "base_year": base_year,
            "year": year,
            "total_areas": len(codes),
            "total_population_base": r3(values["population_base"].sum()),
            "total_population": r3(values["population"].sum()),
            "total_housing": r3(values["housing"].sum()),
            "total_by_age_base": {b: r3(base[b].sum()) for b in bands},
            "total_by_age": {b: r3(later[b].sum()) for b in bands},
            "footprints": footprints,
            "notes": _notes(m, codes, values["population"], "projection"),
            "metadata": {"projection_id": row.id, **m.metadata},
        }
    )
    return answer


# ----------------------------------------------------------------------------- need


def _capacity_result(db: Database, principal: Principal, job_id: str) -> CapacityResult:
    with db.connection() as conn:
        job = job_store.get_job_sync(conn, job_id, principal)
    if job is None:
        raise NotVisible("job_id", f"no job {job_id}")
    if job.process_id != CAPACITY_PROCESS:
        raise AnalysisInputError(
            "job_id", f"job {job_id} is not a {CAPACITY_PROCESS} job (process {job.process_id})"
        )
    if job.status != "successful" or job.results is None:
        raise AnalysisInputError(
            "job_id", f"job {job_id} is {job.status}: its results are not ready"
        )
    try:
        result = CapacityResult.model_validate(job.results)
    except ValidationError:
        raise AnalysisInputError(
            "job_id", f"job {job_id}'s results are not a capacity-sizing result"
        ) from None
    if any(a.need_now is None or a.need_horizon is None for a in result.areas):
        raise AnalysisInputError(
            "job_id",
            f"job {job_id} was run before capacity sizing kept need per area: run "
            f"{CAPACITY_PROCESS} again to add it up by footprint",
        )
    return result


def _dict(row: pd.Series, prefix: str, measures: tuple[str, ...], suffix: str = "") -> Any:
    return {m: row[f"{prefix}{m}{suffix}"] for m in measures}


def footprint_need(
    db: Database, principal: Principal, footprint: str, *, job_id: str
) -> dict[str, Any]:
    """A finished capacity-sizing job's people, need, capacity today, gaps and shortfalls
    per footprint (commissioner footprints: practices' catchments by the job's mode).

    Raises
    ------
    NotVisible
        No job ``job_id`` the caller may see.
    AnalysisInputError
        Not a successful capacity-sizing job with need per area; or as :func:`membership`.
    """
    result = _capacity_result(db, principal, job_id)
    need_names, cap_names = NEED_MEASURES[result.service], CAPACITY_MEASURES[result.service]
    mode: Mode = next(md for md in MODES if md == result.mode)
    m = membership(db, principal, footprint, mode=mode)
    areas = pd.DataFrame(
        [
            {
                "area_code": a.area_code,
                "site_id": a.site_id,
                "population_now": a.population_now,
                "population_horizon": a.population_horizon,
                **{f"need_{k}_now": v for k, v in (a.need_now or {}).items()},
                **{f"need_{k}_horizon": v for k, v in (a.need_horizon or {}).items()},
            }
            for a in result.areas
        ],
        columns=[
            "area_code",
            "site_id",
            "population_now",
            "population_horizon",
            *(f"need_{k}_{w}" for k in need_names for w in ("now", "horizon")),
        ],
    ).set_index("area_code")
    sites = {s.site_id: s for s in result.sites}
    capacity = pd.DataFrame(
        [{mm: s.capacity.get(mm) for mm in cap_names} for s in result.sites],
        index=pd.Index([s.site_id for s in result.sites], name="site_id"),
        columns=list(cap_names),
        dtype="float64",
    )
    sized = fp.capacity_by_footprint(
        areas.fillna(0.0),
        capacity,
        m.frame,
        need_measures=need_names,
        capacity_measures=cap_names,
        horizon_year=result.horizon_year,
    )

    def site_rows(code: str) -> list[dict[str, Any]]:
        out = []
        mine: list[Any] = list(
            sized.pairs[sized.pairs["footprint"] == code].itertuples(index=False)
        )
        for p in mine:
            sid = int(str(p.other))
            s = sites.get(sid)
            out.append(
                {
                    "site_id": sid,
                    "source_id": None if s is None else s.source_id,
                    "name": None if s is None else s.name,
                    "status": None if s is None else s.status,
                    "population_now": round(float(p.population), 3),
                    "share_of_catchment": round(float(p.share_of_other), 6),
                    "share_of_footprint": round(float(p.share_of_footprint), 6),
                }
            )
        return out

    rows = []
    for code, r in sized.table.iterrows():
        rounded = r.map(lambda v: round(float(v), 3) if isinstance(v, float) else v)
        rows.append(
            {
                **row_head(m, str(code)),
                "areas": rounded["areas"],
                "population_now": rounded["population_now"],
                "population_horizon": rounded["population_horizon"],
                "need_now": _dict(rounded, "need_", need_names, "_now"),
                "need_horizon": _dict(rounded, "need_", need_names, "_horizon"),
                "capacity": _dict(rounded, "capacity_", cap_names),
                "population_with_capacity": _dict(rounded, "population_with_capacity_", cap_names),
                "gap_now": _dict(rounded, "gap_", cap_names, "_now"),
                "gap_horizon": _dict(rounded, "gap_", cap_names, "_horizon"),
                "shortfall_now": r["shortfall_now"],
                "shortfall_horizon": r["shortfall_horizon"],
                "status": str(r["status"]),
                "sites": site_rows(str(code)),
            }
        )
    summary = result.summary
    known_capacity = {
        mm: (None if capacity[mm].isna().all() else round(float(capacity[mm].sum()), 3))
        for mm in cap_names
    }
    answer: dict[str, Any] = clean(
        {
            **_head(m),
            "area_vintage": AREA_VINTAGE,
            "job_id": job_id,
            "service": result.service,
            "mode": result.mode,
            "kinds": result.kinds,
            "now_year": result.now_year,
            "horizon_year": result.horizon_year,
            "projection": result.projection,
            "norms": result.norms,
            "need_measures": list(need_names),
            "capacity_measures": list(cap_names),
            "total_areas": len(areas),
            "totals": {
                "population_now": summary.get("population_now"),
                "population_horizon": summary.get("population_horizon"),
                "need_now": summary.get("need_now"),
                "need_horizon": summary.get("need_horizon"),
                "capacity": known_capacity,
            },
            "outside_catchments": result.unassigned,
            "unattributed_capacity": {
                mm: round(v, 3) if pd.notna(v) else None for mm, v in sized.unattributed.items()
            },
            "unattributed_sites": sized.unattributed_sites,
            "capacity_attribution": CAPACITY_ATTRIBUTION,
            "gap_rule": FOOTPRINT_GAP_RULE,
            "footprints": rows,
            "notes": _notes(m, areas.index, areas["population_now"], "job's catchments"),
            "metadata": {"job_id": job_id, **m.metadata},
        }
    )
    return answer
