"""Planning norm sets and capacity sizing of site catchments.

Norm sets: the built-in :data:`spatial.capacity.DEFAULT_NORMS` (listed first, ``id`` null)
and the sets users save, versioned per organisation like scenarios.

Capacity sizing (the ``capacity-sizing`` process): every LSOA 2021 area is assigned to its
quickest site of the service's kinds by the stored area → site times of the mode (the
nearest-site catchment; the stored rows of other levels, MSOAs, are left out); the people of
each catchment, now (the projection's base year, or the latest loaded population) and at the
horizon (a stored projection), become need through the norms (:mod:`spatial.capacity`) and
are set against today's capacity. The result keeps each area's people and need (a site's need
is the sum of its areas'), which the footprint sums read (``/footprints/{footprint}/need``).
Today's capacity:

- registered patients: the loaded list sizes (dataset ``gp-registrations``) matched to the
  practice by ODS code, else by name and postcode;
- floor area: the site's ``gia_m2`` (ERIC, the council register or an organisation's asset
  upload);
- GP FTE, clinical rooms, beds: an asset upload's ``gp_fte``, ``clinical_rooms``, ``beds``
  columns (kept in the site's attributes).

A figure that is not loaded stays unknown (null) and is never guessed; a site with no figure
at all is flagged "capacity unknown".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from app.schemas.planning import (
    CapacityArea,
    CapacityParams,
    CapacityResult,
    CapacitySite,
    NormList,
    NormSetRecord,
    NormSetRequest,
    default_norm_set,
)
from app.services.areas import age_label
from app.services.estate_common import AREA_VINTAGE, clean, lonlat
from app.services.traveltimes import stored_metadata
from spatial.capacity import (
    CAPACITY_MEASURES,
    DEFAULT_NORMS,
    NEED_MEASURES,
    Norms,
    capacity_gaps,
    catchment_population,
    match_registrations,
    need_table,
)
from store import estate as estate_store
from store import planning as store
from store.access import Principal
from store.areas import population_by_age
from store.connection import Database
from store.traveltimes import stored_times
from store.versions import lock_next_version

__all__ = [
    "CapacityInputError",
    "capacity_population",
    "get_norms",
    "list_norms",
    "resolve_norms",
    "save_norms",
    "site_capacity",
    "size_capacity",
]

TABLE: store.Table = "planning_norms"
#: Site attributes (asset upload columns) read as today's capacity.
ATTRIBUTE_CAPACITY = {"gp_fte": "gp_fte", "clinical_rooms": "clinical_rooms", "beds": "beds"}
CATCHMENT_METHOD = (
    "nearest-site catchments: each LSOA 2021 counts wholly at its quickest site of the kinds "
    "by the stored area → site travel times of the mode (representative point)"
)
GAP_RULE = (
    "gap = need − today's capacity (positive: a shortfall), for each measure whose capacity "
    "is loaded; need in patients is the catchment's residents, capacity in patients the "
    "practice's registered list"
)


class CapacityInputError(ValueError):
    """Capacity sizing cannot run as asked; ``parameter`` names the input."""

    def __init__(self, detail: str, parameter: str) -> None:
        super().__init__(detail)
        self.parameter = parameter


# ----------------------------------------------------------------------------- norm sets


def _builtin() -> NormSetRecord:
    return NormSetRecord(
        id=None,
        name=str(DEFAULT_NORMS["name"]),
        version=1,
        builtin=True,
        organisation=None,
        restricted=False,
        description=str(DEFAULT_NORMS["description"]),
        created_at=None,
        definition=default_norm_set().model_dump(mode="json"),
    )


def _norm_record(row: store.NamedRow) -> NormSetRecord:
    return NormSetRecord(
        id=row.id,
        name=row.name,
        version=row.version,
        builtin=False,
        organisation=row.organisation,
        restricted=row.restricted,
        description=row.description,
        created_at=row.created_at,
        definition=clean(row.definition),
    )


def list_norms(
    db: Database, principal: Principal, *, name: str | None = None, latest_only: bool = False
) -> NormList:
    """The built-in set (unless another ``name`` is asked for), then the stored ones."""
    with db.connection() as conn:
        rows = store.list_named(conn, TABLE, principal, name=name, latest_only=latest_only)
    builtin = [_builtin()] if name in (None, DEFAULT_NORMS["name"]) else []
    return NormList(norms=builtin + [_norm_record(r) for r in rows])


def get_norms(db: Database, principal: Principal, norms_id: int | None) -> NormSetRecord | None:
    """A stored set the caller may see (None: not visible), or the built-in one for None."""
    if norms_id is None:
        return _builtin()
    with db.connection() as conn:
        row = store.get_named(conn, TABLE, principal, norms_id)
    return _norm_record(row) if row else None


def save_norms(db: Database, principal: Principal, request: NormSetRequest) -> NormSetRecord:
    """Store ``request`` as the next version of its name for the caller's organisation."""
    definition = request.model_dump(mode="json", include={"primary_care", "beds"})
    with db.transaction() as conn:
        version = lock_next_version(conn, TABLE, principal.organisation, request.name)
        row = store.insert_named(
            conn,
            TABLE,
            principal,
            name=request.name,
            version=version,
            description=request.description,
            definition=definition,
            restricted=request.restricted,
        )
    return _norm_record(row)


def resolve_norms(
    db: Database, principal: Principal, norms_id: int | None
) -> tuple[NormSetRecord, Norms]:
    """The norm set ``norms_id`` (None: built-in) and its numbers."""
    record = get_norms(db, principal, norms_id)
    if record is None:
        raise CapacityInputError(f"no norm set {norms_id}", "norms_id")
    return record, Norms.from_definition(record.definition)


# ----------------------------------------------------------------------------- population


def capacity_population(
    db: Database, principal: Principal, params: CapacityParams, region: set[str]
) -> tuple[pd.DataFrame, int, int, dict[str, Any] | None]:
    """People per area, age band and year; the now and horizon years; the projection (or,
    without one, the latest table of each area of ``region``, the areas the stored times
    cover, and the dates of those tables)."""
    if params.projection_id is None:
        if params.horizon_year is not None:
            raise CapacityInputError(
                "a horizon year needs a projection (projection_id)", "horizon_year"
            )
        with db.connection() as conn:
            latest = population_by_age(conn, vintage=AREA_VINTAGE)
        latest = latest[latest["area_code"].isin(region)]
        if latest.empty:
            raise CapacityInputError(
                "no population is loaded for the areas the stored travel times cover", "mode"
            )
        year = int(max(d.year for d in latest["reference_date"]))
        rows = latest.rename(columns={"n": "count"}).assign(year=year)
        rows["age_upper"] = pd.to_numeric(rows["age_upper"]).astype(float)
        tables = rows.groupby(["source", "reference_date"])["area_code"].nunique().reset_index()
        dated = {
            f"{s} {d.isoformat()}": int(n) for s, d, n in tables.itertuples(index=False, name=None)
        }
        return rows, year, year, {"latest_tables": dated}
    with db.connection() as conn:
        row = store.get_named(conn, "population_projections", principal, params.projection_id)
        if row is None:
            raise CapacityInputError(f"no projection {params.projection_id}", "projection_id")
        base_year = int(row.extra["base_year"])
        horizons = [int(y) for y in row.extra["horizon_years"]]
        horizon = params.horizon_year or max(horizons)
        if horizon not in [base_year, *horizons]:
            raise CapacityInputError(
                f"projection {row.id} has years {[base_year, *horizons]}, not {horizon}",
                "horizon_year",
            )
        rows = store.projection_rows(conn, principal, row.id, years=[base_year, horizon])
    meta = {
        "id": row.id,
        "name": row.name,
        "version": row.version,
        "base_year": base_year,
        "base": row.extra["metadata"].get("base"),
        "growth": (row.extra["metadata"].get("growth") or {}).get("type"),
    }
    return rows, base_year, horizon, meta


# ----------------------------------------------------------------------------- capacity today


def _attribute(attrs: Any, key: str) -> float:
    if not isinstance(attrs, dict) or key not in attrs:
        return np.nan
    try:
        value = float(attrs[key])
    except (TypeError, ValueError):
        return np.nan
    return value if np.isfinite(value) and value >= 0 else np.nan


def site_capacity(
    db: Database, sites: pd.DataFrame, service: str
) -> tuple[pd.DataFrame, list[dict[str, str]], dict[str, Any]]:
    """Today's capacity per site (NaN: unknown), where each figure came from, and a note on
    the list sizes matched."""
    cap = pd.DataFrame({"site_id": sites["id"].astype(int).to_numpy()})
    sources: list[dict[str, str]] = [{} for _ in range(len(sites))]
    notes: dict[str, Any] = {}
    for measure in CAPACITY_MEASURES[service]:
        cap[measure] = np.nan
    if service == "primary_care":
        with db.connection() as conn:
            regs = store.gp_registrations(conn)
        matched = match_registrations(sites, regs)
        by_site = matched.set_index("site_id")
        cap["patients"] = cap["site_id"].map(by_site["registered_patients"]).astype(float)
        files = dict(zip(regs["practice_code"], regs["file_name"], strict=True))
        for i, sid in enumerate(cap["site_id"]):
            if sid in by_site.index:
                code = str(by_site.at[sid, "practice_code"])
                sources[i]["patients"] = (
                    f"registered list of {code} ({files.get(code, 'gp-registrations')}; matched "
                    f"by {by_site.at[sid, 'matched_by']!s})"
                )
        notes = {
            "list_sizes_loaded": len(regs),
            "list_sizes_matched": len(matched),
        }
        gia = sites["gia_m2"].to_numpy(dtype=float)
        cap["gia_m2"] = np.where(gia > 0, gia, np.nan)
        for i, (value, source) in enumerate(zip(cap["gia_m2"], sites["source"], strict=True)):
            if not np.isnan(value):
                sources[i]["gia_m2"] = f"gross internal floor area of the site ({source})"
    for measure in CAPACITY_MEASURES[service]:
        if measure not in ATTRIBUTE_CAPACITY:
            continue
        values = [_attribute(a, ATTRIBUTE_CAPACITY[measure]) for a in sites["attributes"]]
        cap[measure] = values
        for i, v in enumerate(values):
            if not np.isnan(v):
                sources[i][measure] = f"site attribute {ATTRIBUTE_CAPACITY[measure]!r} (upload)"
    return cap, sources, notes


# ----------------------------------------------------------------------------- sizing


def _measures(
    row: dict[str, Any], prefix: str, names: tuple[str, ...], suffix: str = ""
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in names:
        value = row.get(f"{prefix}{m}{suffix}")
        out[m] = None if value is None or pd.isna(value) else round(float(value), 3)
    return out


def _norm_values(record: NormSetRecord) -> dict[str, Any]:
    d = record.definition
    pc = {k: v["value"] for k, v in d["primary_care"].items()}
    beds = d["beds"]
    return {
        "id": record.id,
        "name": record.name,
        "version": record.version,
        "builtin": record.builtin,
        "primary_care": pc,
        "beds": {
            "bed_days_per_1000": {r["age_band"]: r["value"] for r in beds["bed_days_per_1000"]},
            "target_occupancy": beds["target_occupancy"]["value"],
            "average_length_of_stay_days": beds["average_length_of_stay_days"]["value"],
        },
    }


def _area_need(
    need: pd.DataFrame, year: int, measures: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """Area code → measure → need in ``year`` (6 decimals: sums over areas stay exact to the
    site totals' 3)."""
    rows = need[need["year"] == year].set_index("area_code")[list(measures)]
    return {
        str(code): {str(m): round(float(v), 6) for m, v in values.items()}
        for code, values in rows.to_dict(orient="index").items()
    }


def size_capacity(
    db: Database,
    principal: Principal,
    params: CapacityParams,
    *,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, Any]:
    """Size every catchment of the service's sites (see the module docstring).

    Returns
    -------
    dict
        A :class:`app.schemas.planning.CapacityResult` as JSON.

    Raises
    ------
    CapacityInputError
        Unknown norm set or projection, a horizon the projection lacks, no stored times.
    """

    def report(percent: float, message: str) -> None:
        if progress is not None:
            progress(percent, message)

    record, norms = resolve_norms(db, principal, params.norms_id)
    kinds = params.site_kinds
    report(10, f"assigning areas to their quickest {', '.join(kinds)} by {params.mode}")
    with db.connection() as conn:
        times = stored_times(
            conn,
            principal,
            mode=params.mode,
            kinds=kinds,
            active_only=True,
            area_vintage=AREA_VINTAGE,
        )
        sites = estate_store.visible_sites(conn, principal, kinds=kinds, located_only=True)
        sources = estate_store.data_sources(conn, principal)
        lsoas = set(store.lsoa_codes(conn, vintage=AREA_VINTAGE))
    # Catchments are of LSOAs: the stored times also hold other levels (MSOAs), no people's.
    times = times[times["from_id"].astype(str).isin(lsoas)]
    region = set(times["from_id"].astype(str))
    times = times[np.isfinite(times["seconds"].to_numpy(dtype=float))]
    if times.empty:
        raise CapacityInputError(
            f"no stored {params.mode} travel times to active sites of kind(s) {kinds}: run "
            "`locus compute` after loading the network and sites",
            "kinds",
        )
    sites = sites[sites["id"].astype(int).isin(set(times["to_id"].astype(int)))].reset_index(
        drop=True
    )
    report(30, "reading the population")
    population, now_year, horizon_year, projection = capacity_population(
        db, principal, params, region
    )
    catchments = catchment_population(times, population)
    if catchments.people.empty:
        raise CapacityInputError(
            f"projection {params.projection_id} has no area the stored {params.mode} times "
            f"reach a site of kind(s) {kinds} from",
            "projection_id",
        )
    report(60, "sizing need against today's capacity")
    need = need_table(catchments.people, service=params.service, norms=norms)
    # The same need per area (it adds up to the sites'): footprint sums read it.
    reached = population[population["area_code"].isin(catchments.assignment["area_id"])]
    area_need = need_table(reached, service=params.service, norms=norms, key="area_code")
    capacity, cap_sources, cap_notes = site_capacity(db, sites, params.service)
    gaps = capacity_gaps(
        need, capacity, service=params.service, now_year=now_year, horizon_year=horizon_year
    )
    assignment = catchments.assignment
    per_area = population.groupby(["area_code", "year"])["count"].sum().unstack("year")
    lon, lat = lonlat(sites["x"], sites["y"])
    need_names, cap_names = NEED_MEASURES[params.service], CAPACITY_MEASURES[params.service]
    rows = [{str(k): v for k, v in r.items()} for r in gaps.to_dict(orient="records")]
    site_models = []
    for i, row in enumerate(rows):
        site = sites.iloc[i]
        site_models.append(
            CapacitySite(
                site_id=int(site["id"]),
                source_id=site["source_id"],
                name=site["name"],
                kind=str(site["kind"]),
                lon=float(lon[i]),
                lat=float(lat[i]),
                areas=int((assignment["site_id"] == int(site["id"])).sum()),
                population_now=round(float(row["population_now"]), 3),
                population_horizon=round(float(row["population_horizon"]), 3),
                need_now=_measures(row, "need_", need_names, "_now"),
                need_horizon=_measures(row, "need_", need_names, "_horizon"),
                capacity=_measures(row, "capacity_", cap_names),
                capacity_sources=cap_sources[i],
                gap_now=_measures(row, "gap_", cap_names, "_now"),
                gap_horizon=_measures(row, "gap_", cap_names, "_horizon"),
                shortfall_now=row["shortfall_now"],
                shortfall_horizon=row["shortfall_horizon"],
                status=str(row["status"]),
            )
        )
    now_people = per_area[now_year].to_dict()
    later_people = per_area[horizon_year].to_dict()
    need_now = _area_need(area_need, now_year, need_names)
    need_later = _area_need(area_need, horizon_year, need_names)
    zero = dict.fromkeys(need_names, 0.0)
    areas = [
        CapacityArea(
            area_code=str(code),
            site_id=int(site_id),
            seconds=round(float(seconds), 1),
            population_now=round(float(now_people.get(code, 0.0)), 3),
            population_horizon=round(float(later_people.get(code, 0.0)), 3),
            need_now=need_now.get(code, zero),
            need_horizon=need_later.get(code, zero),
        )
        for code, site_id, seconds in assignment[["area_id", "site_id", "seconds"]].itertuples(
            index=False, name=None
        )
    ]
    unassigned = catchments.unassigned
    statuses = gaps["status"].value_counts().to_dict()
    bands = population[["age_lower", "age_upper"]].drop_duplicates().sort_values("age_lower")
    result = CapacityResult(
        service=params.service,
        mode=params.mode,
        kinds=kinds,
        now_year=now_year,
        horizon_year=horizon_year,
        projection=clean(projection) if params.projection_id is not None else None,
        norms=clean(_norm_values(record)),
        sites=site_models,
        areas=areas,
        unassigned={
            "now": round(float(unassigned.get(now_year, 0.0)), 3),
            "horizon": round(float(unassigned.get(horizon_year, 0.0)), 3),
        },
        summary={
            "sites": len(site_models),
            "statuses": {str(k): int(v) for k, v in statuses.items()},
            "population_now": round(float(gaps["population_now"].sum()), 3),
            "population_horizon": round(float(gaps["population_horizon"].sum()), 3),
            "need_now": {m: round(float(gaps[f"need_{m}_now"].sum()), 3) for m in need_names},
            "need_horizon": {
                m: round(float(gaps[f"need_{m}_horizon"].sum()), 3) for m in need_names
            },
        },
        metadata=clean(
            {
                "catchments": CATCHMENT_METHOD,
                "gap": GAP_RULE,
                "travel_times": stored_metadata(db, params.mode),
                "population": "projection rows"
                if params.projection_id is not None
                else {
                    "rule": "each LSOA 2021's latest loaded population table, counted as of "
                    "the newest table's year",
                    **(projection or {}),
                },
                "age_bands": [
                    age_label(int(lo), None if pd.isna(hi) else int(hi))
                    for lo, hi in bands.itertuples(index=False, name=None)
                ],
                "capacity": cap_notes,
                "norm_sources": record.definition,
                "sources": [list(s) for s in sources],
            }
        ),
    )
    report(95, "writing results")
    return result.model_dump(mode="json")
