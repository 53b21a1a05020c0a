"""Population projections: build one from a request, save it as a version, read it back.

A projection starts from a base population of LSOA 2021 areas (each area's latest loaded
table, or the table named in ``base``; one reference date, whose calendar year is the base
year) and applies one growth method (:mod:`spatial.projection`): none, the user's rates, or
the trend between two loaded tables; housing sites then add people (:mod:`spatial.housing`).
The growth steps are :mod:`app.services.planning_growth`. The rows of every year
(base year included) are stored with the version, so a capacity result always refers to
numbers that do not move when newer data is loaded. ``metadata`` says what each step used:
the base table, the two tables a trend compared and how their boundaries were matched, the
persons per dwelling and age profile defaults with their sources, where each site's people
went.

Uploads (a growth-rate CSV, a housing CSV or GeoJSON) become the same request
(:mod:`app.services.planning_uploads`), so a saved definition can always be re-run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from app.schemas.planning import (
    PopulationVintage,
    PopulationVintages,
    ProjectionAreaRow,
    ProjectionAreas,
    ProjectionRecord,
    ProjectionRequest,
    ProjectionTotal,
    RatesGrowth,
    ScenarioGrowth,
    TrendGrowth,
)
from app.services.areas import age_label
from app.services.estate_common import AREA_VINTAGE, clean
from app.services.planning_growth import (
    GROWTH_METHOD,
    ProjectionInputError,
    housing,
    rates_frame,
    scenario_rates,
    table_of,
    trend,
)
from app.services.scenarios import get_scenario
from spatial.projection import Projection, ProjectionError, project
from store import planning as store
from store.access import Principal
from store.areas import population_by_age
from store.connection import Database
from store.versions import lock_next_version

__all__ = [
    "ProjectionInputError",
    "build_projection",
    "get_projection",
    "list_projections",
    "population_vintages",
    "projection_areas",
    "save_projection",
]

TABLE: store.Table = "population_projections"
# ----------------------------------------------------------------------------- vintages


def population_vintages(db: Database) -> PopulationVintages:
    """Every loaded population table (a projection's possible base and trend ends)."""
    with db.connection() as conn:
        frame = store.population_vintages(conn)
    return PopulationVintages(
        vintages=[
            PopulationVintage(
                source=str(r["source"]),
                reference_date=r["reference_date"],
                area_vintage=int(r["area_vintage"]),
                areas=int(r["areas"]),
                people=round(float(r["people"]), 1),
                bands=int(r["bands"]),
                sexes=[str(s) for s in r["sexes"]],
            )
            for r in frame.to_dict(orient="records")
        ]
    )


# ----------------------------------------------------------------------------- base


def _base(
    conn: Any, request: ProjectionRequest, vintages: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, Any]]:
    codes = store.lsoa_codes(conn, vintage=AREA_VINTAGE, lad_codes=request.lad_codes)
    if not codes:
        raise ProjectionInputError(
            [
                f"no LSOA {AREA_VINTAGE} areas are loaded"
                + (f" in {', '.join(request.lad_codes)}" if request.lad_codes else "")
            ],
            "lad_codes",
        )
    if request.base is not None:
        table = table_of(vintages, request.base, "base")
        if table["area_vintage"] != AREA_VINTAGE:
            raise ProjectionInputError(
                [
                    f"base {table['source']}: its areas are LSOA {table['area_vintage']}; a base "
                    f"must be on LSOA {AREA_VINTAGE} (compare older tables with a trend)"
                ],
                "base",
            )
        base = store.population_rows(
            conn,
            source=table["source"],
            reference_date=table["reference_date"],
            area_vintage=AREA_VINTAGE,
        )
        base = base.assign(source=table["source"], reference_date=table["reference_date"])
    else:
        base = population_by_age(conn, vintage=AREA_VINTAGE).rename(columns={"n": "count"})
    base = base[base["area_code"].isin(codes)]
    if base.empty:
        raise ProjectionInputError(["no population is loaded for these areas"], "base")
    counted = base.groupby(["source", "reference_date"])["area_code"].nunique().reset_index()
    tables: list[tuple[str, dt.date, int]] = [
        (str(s), d, int(n)) for s, d, n in counted.itertuples(index=False, name=None)
    ]
    if len(tables) > 1:
        listed = "; ".join(f"{s} {d}: {n} areas" for s, d, n in tables)
        raise ProjectionInputError(
            [
                f"the areas' latest population tables differ ({listed}): choose one table as "
                "'base', or the local authorities ('lad_codes') whose areas share one"
            ],
            "base",
        )
    source, date, areas = tables[0]
    meta = {
        "source": str(source),
        "reference_date": date.isoformat(),
        "base_year": int(date.year),
        "area_vintage": AREA_VINTAGE,
        "areas": int(areas),
        "areas_without_population": len(codes) - int(areas),
        "people": round(float(base["count"].sum()), 1),
    }
    cols = ["area_code", "age_lower", "age_upper", "count"]
    out = base[cols].astype({"age_lower": "int64", "count": "float64"}).reset_index(drop=True)
    out["age_upper"] = pd.to_numeric(out["age_upper"]).astype(float)
    return out, meta


# ----------------------------------------------------------------------------- building


def build_projection(
    db: Database, request: ProjectionRequest, principal: Principal
) -> tuple[Projection, dict[str, Any]]:
    """The projection of ``request`` for ``principal`` (whose scenarios it may read) and its
    metadata (nothing is stored).

    Raises
    ------
    ProjectionInputError
        Naming the request member and every problem (unknown tables or areas, rates that do
        not cover a band, sites outside every area, horizons out of range...).
    """
    with db.connection() as conn:
        vintages = store.population_vintages(conn)
        base, base_meta = _base(conn, request, vintages)
        base_year = int(base_meta["base_year"])
        growth: dict[str, Any] = {
            "type": request.growth.type,
            "method": GROWTH_METHOD[request.growth.type],
        }
        rates = controls = None
        if isinstance(request.growth, RatesGrowth):
            rates = rates_frame(request.growth.rates, base)
            growth["rates"] = len(rates)
        elif isinstance(request.growth, ScenarioGrowth):
            scenario_id = request.growth.scenario_id
            scenario = get_scenario(db, principal, scenario_id)
            if scenario is None:
                raise ProjectionInputError(
                    [f"scenario {scenario_id} is not a saved scenario you can see"],
                    "growth.scenario_id",
                )
            given = scenario_rates(
                scenario.definition.get("changes", []),
                base_year,
                max(request.horizons),
                scenario_id,
            )
            rates = rates_frame(given, base)
            growth.update(
                {
                    "scenario": {
                        "id": scenario.id,
                        "name": scenario.name,
                        "version": scenario.version,
                    }
                }
            )
            growth["rates"] = len(rates)
        elif isinstance(request.growth, TrendGrowth):
            rates, controls, trend_meta = trend(conn, request.growth, base, base_meta, vintages)
            growth.update(trend_meta)
        additions, housing_meta = (None, None)
        if request.housing:
            additions, housing_meta = housing(conn, request, base, base_year)
    try:
        result = project(
            base,
            base_year=base_year,
            years=request.horizons,
            rates=rates,
            additions=additions,
            controls=controls,
        )
    except ProjectionError as exc:
        parameter = "horizons" if any("horizon" in p for p in exc.problems) else "growth"
        raise ProjectionInputError(exc.problems, parameter) from None
    result.rows["area_vintage"] = AREA_VINTAGE
    meta = {"base": base_meta, "growth": growth, "housing": housing_meta}
    return result, clean(meta)


def save_projection(
    db: Database, principal: Principal, request: ProjectionRequest
) -> ProjectionRecord:
    """Build ``request`` and store it as the next version of its name; the saved record."""
    result, meta = build_projection(db, request, principal)
    definition = request.model_dump(mode="json", exclude={"restricted"})
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
            metadata=meta,
            base_year=int(meta["base"]["base_year"]),
            horizon_years=list(request.horizons),
        )
        store.write_projection_rows(conn, row.id, result.rows)
    return _record(row)


# ----------------------------------------------------------------------------- reading


def _record(row: store.NamedRow, totals: list[ProjectionTotal] | None = None) -> ProjectionRecord:
    return ProjectionRecord(
        id=row.id,
        name=row.name,
        version=row.version,
        organisation=row.organisation,
        restricted=row.restricted,
        description=row.description,
        created_at=row.created_at,
        base_year=int(row.extra["base_year"]),
        horizon_years=list(row.extra["horizon_years"]),
        definition=clean(row.definition),
        metadata=clean(row.extra["metadata"]),
        totals=totals,
    )


def _label(lower: Any, upper: Any) -> str:
    return age_label(int(lower), None if pd.isna(upper) else int(upper))


def list_projections(
    db: Database, principal: Principal, *, name: str | None = None, latest_only: bool = False
) -> list[ProjectionRecord]:
    """Projections the caller may see (without totals)."""
    with db.connection() as conn:
        rows = store.list_named(conn, TABLE, principal, name=name, latest_only=latest_only)
    return [_record(r) for r in rows]


def get_projection(
    db: Database, principal: Principal, projection_id: int
) -> ProjectionRecord | None:
    """One visible projection with its totals per year and age band (None otherwise)."""
    with db.connection() as conn:
        row = store.get_named(conn, TABLE, principal, projection_id)
        if row is None:
            return None
        totals = store.projection_totals(conn, principal, projection_id)
    return _record(
        row,
        [
            ProjectionTotal(
                year=int(t["year"]),
                age_band=_label(t["age_lower"], t["age_upper"]),
                count=round(float(t["count"]), 3),
                housing=round(float(t["housing"]), 3),
            )
            for t in totals.to_dict(orient="records")
        ],
    )


def projection_areas(
    db: Database, principal: Principal, projection_id: int, *, year: int | None = None
) -> ProjectionAreas | None:
    """The rows of a visible projection (of one year when given), None when not visible."""
    with db.connection() as conn:
        if store.get_named(conn, TABLE, principal, projection_id) is None:
            return None
        rows = store.projection_rows(
            conn, principal, projection_id, years=None if year is None else [year]
        )
    return ProjectionAreas(
        projection_id=projection_id,
        rows=[
            ProjectionAreaRow(
                area_code=str(r["area_code"]),
                age_band=_label(r["age_lower"], r["age_upper"]),
                year=int(r["year"]),
                count=round(float(r["count"]), 3),
                housing=round(float(r["housing"]), 3),
            )
            for r in rows.to_dict(orient="records")
        ],
    )
