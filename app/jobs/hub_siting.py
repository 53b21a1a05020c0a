"""The ``hub-siting`` process: where should ``p`` hubs go among today's sites of some kinds?

Demand points are the 2021 areas (LSOAs) with stored travel times (``travel_times``, area
vintage 2021) to the candidate sites; candidates are the active, located sites of the chosen
kinds that the job's organisation may see. Demand weights:

- ``population``: the area's population (latest source, all ages; view ``areas_features``);
- ``pop_65_plus``: people aged 65 and over;
- ``need``: population × (1 + (10 − IMD decile) / 9): weight 2 in the most deprived decile,
  1 in the least deprived, 1 where no decile is known (IMD 2019 is on 2011 LSOA codes; a 2021
  area whose code changed takes the decile of its best-fit 2011 LSOA, ``imd_source_code``).

Objectives (models from :mod:`spatial.allocation`): ``p-median`` (minimise weighted travel
time), ``mclp`` (maximise weight within ``minutes``), ``p-center`` (minimise the worst time),
``lscp`` (fewest sites covering everyone within ``minutes``; ``p`` unused). Areas with no
stored time to any candidate cannot be served by any choice and are left out (listed in the
results). Coverage is reported within 10, 20 and 30 minutes before (every current candidate
site open) and after (only the chosen sites).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from app.errors import InvalidParameter
from app.jobs.registry import Process, ProcessError, RunContext, SiteKind
from app.reports import escape_frame, rows_csv
from app.services.traveltimes import stored_metadata
from spatial import allocation
from spatial.crs import WGS84
from spatial.modes import Mode
from store import results as store
from store.access import Principal
from store.traveltimes import has_travel_times

AREA_VINTAGE = 2021
COVERAGE_BANDS_MIN = (10, 20, 30)
MAX_IDS = 5000

#: objective → model class name in ``spatial.allocation``.
MODELS = {"p-median": "PMedian", "mclp": "MCLP", "p-center": "PCenter", "lscp": "LSCP"}
COVERING = frozenset({"mclp", "lscp"})


class HubSitingInputs(BaseModel):
    """Inputs of ``hub-siting`` (schema published at ``/processes/hub-siting``)."""

    model_config = ConfigDict(extra="forbid")

    p: int | None = Field(
        None, ge=1, le=200, description="number of sites to open (kept sites count); not lscp"
    )
    mode: Mode = Field(
        "drive", description="travel mode (transit: stored GTFS times, window median)"
    )
    objective: Literal["p-median", "mclp", "p-center", "lscp"] = Field(
        "p-median", description="p-median | mclp | p-center | lscp"
    )
    minutes: float = Field(
        20.0, gt=0, le=180, description="coverage threshold in minutes (mclp, lscp)"
    )
    candidates: list[SiteKind] = Field(
        default_factory=lambda: ["gp_practice"],
        min_length=1,
        max_length=20,
        description="site kinds that may host a hub, e.g. gp_practice, council_building",
    )
    keep: list[int] = Field(
        default_factory=list, max_length=MAX_IDS, description="site ids that must stay open"
    )
    exclude: list[int] = Field(
        default_factory=list, max_length=MAX_IDS, description="site ids that may not be chosen"
    )
    weights: Literal["population", "pop_65_plus", "need"] = Field(
        "population",
        description="demand weight: population | pop_65_plus | need (IMD-weighted population)",
    )
    baseline: list[SiteKind] | None = Field(
        None,
        max_length=20,
        description=(
            "site kinds that make up today's service, for the 'before' coverage (default: "
            "the gp_practice candidates when there are any, else every candidate)"
        ),
    )


def _check_static(inputs: HubSitingInputs) -> None:
    # Each kind is checked by SiteKind (spatial.kinds.KIND_PATTERN); these rules span inputs.
    both = sorted(set(inputs.keep) & set(inputs.exclude))
    if both:
        raise InvalidParameter(f"sites {both[:10]} are both kept and excluded", parameter="keep")
    if inputs.objective != "lscp":
        if inputs.p is None:
            raise InvalidParameter(f"objective {inputs.objective} needs p", parameter="p")
        if inputs.p < len(set(inputs.keep)):
            raise InvalidParameter(
                f"p={inputs.p} is smaller than the {len(set(inputs.keep))} kept sites",
                parameter="p",
            )


async def precheck(conn: AsyncConnection[Any], inputs: Any, principal: Principal) -> None:
    """Check the inputs against the data the caller can see (400 naming the input)."""
    assert isinstance(inputs, HubSitingInputs)
    _check_static(inputs)
    kinds = await store.candidate_site_kinds(conn, principal, inputs.candidates)
    ids = set(kinds)
    missing_kinds = sorted(set(inputs.candidates) - set(kinds.values()))
    if missing_kinds:
        raise InvalidParameter(
            f"no active located sites of kind(s) {missing_kinds}", parameter="candidates"
        )
    for name in ("keep", "exclude"):
        unknown = sorted(set(getattr(inputs, name)) - ids)
        if unknown:
            raise InvalidParameter(
                f"site ids {unknown[:10]} are not candidate sites of kinds {inputs.candidates}",
                parameter=name,
            )
    available = len(ids - set(inputs.exclude))
    if inputs.p is not None and inputs.objective != "lscp" and inputs.p > available:
        raise InvalidParameter(
            f"p={inputs.p} exceeds the {available} candidate sites available", parameter="p"
        )
    if not await has_travel_times(conn, mode=inputs.mode, area_vintage=AREA_VINTAGE):
        raise InvalidParameter(
            f"no stored {inputs.mode} travel times: run the travel-times process first",
            parameter="mode",
        )


def _demand_weights(areas: pd.DataFrame, how: str) -> pd.Series[float]:
    population = areas["population"].astype(float)
    if how == "population":
        w = population
    elif how == "pop_65_plus":
        if areas["pop_65_plus"].isna().all():
            raise ProcessError("the loaded population has no 65+ age bands: use weights=population")
        w = areas["pop_65_plus"].astype(float)
    else:
        decile = areas["imd_decile"].astype(float)
        w = population * (1.0 + (10.0 - decile.fillna(10.0)) / 9.0)
    return pd.Series(w.fillna(0.0).to_numpy(), index=areas["code"].to_numpy(), dtype=float)


def _model_class(objective: str) -> Any:
    cls = getattr(allocation, MODELS[objective], None)
    if cls is None:
        raise ProcessError(f"objective {objective!r} is not available in this installation")
    return cls


def _model_options(objective: str, minutes: float) -> dict[str, Any]:
    if objective in COVERING:
        return {"service_radius": minutes * 60.0}
    return {}


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def run_hub_siting(ctx: RunContext, inputs: HubSitingInputs) -> dict[str, Any]:
    """Load times, weights and candidates; solve; report choice, assignment and coverage."""
    ctx.progress(1, "loading candidate sites, population and travel times", force=True)
    with ctx.db.connection() as conn:
        sites = store.candidate_sites(conn, ctx.principal, inputs.candidates)
        areas = store.demand_areas(conn, area_vintage=AREA_VINTAGE)
        times = store.site_travel_times(
            conn,
            ctx.principal,
            mode=inputs.mode,
            area_vintage=AREA_VINTAGE,
            site_ids=[int(i) for i in sites["id"]],
        )
    if sites.empty:
        raise ProcessError(f"no candidate sites of kinds {inputs.candidates}")
    candidate_ids = [int(i) for i in sites["id"]]
    if times.empty:
        raise ProcessError(f"no stored {inputs.mode} travel times to the candidate sites")
    weights = _demand_weights(areas, inputs.weights)
    reachable = set(times["from_id"])
    unreachable = sorted(c for c in weights.index if c not in reachable)
    weights = weights[[c in reachable for c in weights.index]]
    if weights.empty or float(weights.sum()) <= 0:
        raise ProcessError("no demand: no area with population has travel times to candidates")
    ctx.progress(
        10,
        f"building {inputs.objective} model: {len(weights)} areas × "
        f"{len(candidate_ids)} candidate sites",
        force=True,
    )

    baseline_kinds = inputs.baseline or (
        ["gp_practice"] if "gp_practice" in set(sites["kind"]) else sorted(set(sites["kind"]))
    )
    existing = [int(i) for i in sites.loc[sites["kind"].isin(baseline_kinds), "id"]]
    cls = _model_class(inputs.objective)
    model = cls.from_travel_times(
        times,
        weights,
        inputs.p if inputs.objective != "lscp" else None,
        sites=candidate_ids,
        keep=sorted(set(inputs.keep)),
        exclude=sorted(set(inputs.exclude)),
        bands=tuple(60.0 * b for b in COVERAGE_BANDS_MIN),
        existing=existing,
        **_model_options(inputs.objective, inputs.minutes),
    )
    limit = ctx.settings.jobs.solver_time_limit_s

    def on_progress(report: Any) -> None:
        share = min(1.0, float(report.elapsed_s) / limit) if limit else 0.0
        gap = report.gap
        gap_text = f", gap {100 * gap:.2f}%" if gap is not None and math.isfinite(gap) else ""
        ctx.progress(15 + 80 * share, f"solving ({report.stage}{gap_text})")

    ctx.progress(15, "solving", force=True)
    model.solve(time_limit_s=limit, progress=on_progress)
    ctx.progress(96, "writing results", force=True)
    results = _results(model, inputs, sites, weights, unreachable, existing)
    if inputs.mode == "transit":  # state the window, percentile and walk model used
        results["metadata"] = stored_metadata(ctx.db, "transit")
    return results


def _results(
    model: Any,
    inputs: HubSitingInputs,
    sites: pd.DataFrame,
    weights: pd.Series[float],
    unreachable: list[str],
    existing: list[int],
) -> dict[str, Any]:
    by_id: dict[int, dict[str, Any]] = {
        int(r["id"]): {str(k): v for k, v in r.items()} for r in sites.to_dict(orient="records")
    }
    chosen = []
    for sid in model.sites:
        row = by_id[int(sid)]
        chosen.append(
            {
                "site_id": int(sid),
                "name": str(row["name"]),
                "kind": str(row["kind"]),
                "lon": round(float(row["lon"]), 6),
                "lat": round(float(row["lat"]), 6),
                "kept": int(sid) in set(inputs.keep),
            }
        )
    names = {int(i): str(n) for i, n in zip(sites["id"], sites["name"], strict=True)}
    assignment = []
    costs = model.assigned_cost
    for code, sid in model.assignment.items():
        seconds = float(costs.loc[code])
        assignment.append(
            {
                "area_code": str(code),
                "site_id": int(sid) if sid is not None else None,
                "site_name": names.get(int(sid)) if sid is not None else None,
                "seconds": round(seconds, 1) if math.isfinite(seconds) else None,
                "weight": round(float(weights.loc[code]), 3),
            }
        )
    coverage: dict[str, dict[str, float]] = {"before": {}, "after": {}}
    for row in model.coverage.itertuples(index=False):
        band = str(round(float(row.band) / 60.0))
        coverage["before"][band] = round(float(row.before), 3)
        coverage["after"][band] = round(float(row.after), 3)
    bound = _finite(model.bound)
    status = model.status
    return {
        "chosen": chosen,
        "assignment": assignment,
        "objective": _finite(model.objective),
        "lower_bound": bound if getattr(model, "sense", "min") == "min" else None,
        "upper_bound": bound if getattr(model, "sense", "min") == "max" else None,
        "gap": _finite(model.gap),
        "status": getattr(status, "value", str(status)),
        "runtime_s": round(float(model.runtime_s), 3),
        "coverage": coverage,
        "demand_total": round(float(weights.sum()), 3),
        "unreachable_areas": unreachable,
        "parameters": {
            **inputs.model_dump(),
            "area_vintage": AREA_VINTAGE,
            "candidate_sites": len(sites),
            "baseline_sites": existing,
            "demand_areas": len(weights),
            "objective_units": "weighted seconds" if inputs.objective == "p-median" else "",
        },
    }


# ----------------------------------------------------------------------------- downloads
async def export_csv(conn: AsyncConnection[Any], results: dict[str, Any]) -> tuple[bytes, str, str]:
    """The assignment table: one row per area with its site and travel time (cells escaped
    against spreadsheet formulas: :func:`app.reports.rows_csv`)."""

    def row(r: dict[str, Any]) -> list[Any]:
        seconds = r.get("seconds")
        minutes = round(seconds / 60.0, 2) if seconds is not None else ""
        return [
            r["area_code"],
            r["site_id"],
            r.get("site_name") or "",
            seconds,
            minutes,
            r.get("weight", ""),
        ]

    text = rows_csv(
        ["area_code", "site_id", "site_name", "seconds", "minutes", "weight"],
        (row(r) for r in results.get("assignment", [])),
    )
    return text.encode(), "text/csv; charset=utf-8", "hub-siting-assignment.csv"


async def export_gpkg(
    conn: AsyncConnection[Any], results: dict[str, Any]
) -> tuple[bytes, str, str]:
    """A GeoPackage with layers ``chosen_sites`` (points) and ``assignment`` (area polygons)."""
    codes = [r["area_code"] for r in results.get("assignment", [])]
    shapes = await store.area_shapes(conn, codes, area_vintage=AREA_VINTAGE, srid=WGS84)
    return await run_in_threadpool(_write_gpkg, results, shapes)


def _write_gpkg(results: dict[str, Any], shapes: dict[str, bytes]) -> tuple[bytes, str, str]:
    chosen = pd.DataFrame(results.get("chosen", []))
    points = gpd.GeoDataFrame(
        chosen.drop(columns=["lon", "lat"], errors="ignore"),
        geometry=gpd.points_from_xy(chosen.get("lon", []), chosen.get("lat", [])),
        crs=WGS84,
    )
    assignment = pd.DataFrame(
        [r for r in results.get("assignment", []) if r["area_code"] in shapes]
    )
    if assignment.empty:
        assignment = pd.DataFrame(columns=["area_code", "site_id", "site_name", "seconds"])
    geoms: Any = (
        shapely.from_wkb(np.asarray([shapes[c] for c in assignment["area_code"]], dtype=object))
        if len(assignment)
        else []
    )
    polygons = gpd.GeoDataFrame(assignment, geometry=list(geoms), crs=WGS84)
    with tempfile.TemporaryDirectory(prefix="locus-gpkg-") as tmp:
        path = Path(tmp) / "hub-siting.gpkg"
        # Text attributes escaped as in every export (GeoPackages end up in spreadsheets).
        escape_frame(points).to_file(path, layer="chosen_sites", driver="GPKG", engine="pyogrio")
        escape_frame(polygons).to_file(path, layer="assignment", driver="GPKG", engine="pyogrio")
        content = path.read_bytes()
    return content, "application/geopackage+sqlite3", "hub-siting.gpkg"


HUB_SITING = Process(
    id="hub-siting",
    title="Hub siting (location-allocation)",
    description=(
        "Chooses p hub sites among today's sites of the given kinds (p-median, MCLP, p-center "
        "or LSCP) on the stored travel times of 2021 areas, weighting demand by population, "
        "people aged 65+ or IMD-weighted need (population × (1 + (10 − IMD decile) / 9)). "
        "Results: chosen sites, the assignment of every area, objective, bound, gap, solver "
        "status and the population within 10/20/30 minutes before and after. Needs role "
        "analyst; restricted sites count only for their own organisation."
    ),
    inputs=HubSitingInputs,
    run=run_hub_siting,
    outputs={
        "chosen": {
            "title": "Chosen sites (site_id, name, kind, lon, lat)",
            "schema": {"type": "array", "items": {"type": "object"}},
        },
        "assignment": {
            "title": "Area → site assignment with seconds",
            "schema": {"type": "array", "items": {"type": "object"}},
        },
        "objective": {"title": "Objective value", "schema": {"type": "number"}},
        "lower_bound": {"title": "Proven lower bound", "schema": {"type": "number"}},
        "gap": {"title": "Relative optimality gap", "schema": {"type": "number"}},
        "status": {"title": "Solver status", "schema": {"type": "string"}},
        "coverage": {
            "title": "Weight within 10/20/30 min before and after",
            "schema": {"type": "object"},
        },
    },
    role="analyst",
    keywords=("location-allocation", "p-median", "MCLP", "hubs"),
    precheck=precheck,
    exports={"csv": export_csv, "gpkg": export_gpkg},
)
