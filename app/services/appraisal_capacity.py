"""The capacity criteria of an options appraisal: each option's shortfall now and at the horizon.

Asked for with the appraisal's ``capacity`` input
(:class:`app.services.appraisal_params.CapacityCriteria`). The pieces are the planning
core's, not a second copy: people per area and year as the ``capacity-sizing`` process reads
them (:func:`app.services.planning_capacity.capacity_population`: a projection's base year and
horizon, else the latest loaded population), the norm set
(:func:`app.services.planning_capacity.resolve_norms`), today's capacity of each site
(:func:`app.services.planning_capacity.site_capacity`) and the need and shortfall rule
(:func:`spatial.capacity.catchment_shortfall`).

Per option, each area counts wholly at its nearest serving site under the option, as the
option's evaluation found it for the first mode (baseline side for the baseline, scenario
side otherwise). A site's capacity is, in the service's headline measure (GP FTE: a
practice's ``gp_fte`` figure, else its registered list ÷ the norm set's patients per GP FTE;
beds: the ``beds`` figure):

- the figure the scenario gives (``open_site``/``change_capacity`` ``capacity``, read in that
  measure), else
- for a site serving today, today's figure; a closed site serves nobody;
- a site the scenario opens (or moves a service into) has a capacity only if the scenario
  gives one; otherwise it is unknown.

Sites of unknown capacity are left out of the sum and counted in the notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from app.schemas.planning import CapacityParams
from app.services.appraisal_criteria import CAPACITY_UNITS
from app.services.appraisal_params import AppraisalInputError, CapacityCriteria
from app.services.planning_capacity import (
    CapacityInputError,
    capacity_population,
    resolve_norms,
    site_capacity,
)
from spatial.capacity import HEADLINE_MEASURE, Norms, catchment_shortfall, gp_fte_capacity
from spatial.modes import Mode
from spatial.scenario import GrowPopulation, ScenarioResult
from store.access import Principal
from store.connection import Database

__all__ = ["CapacityBasis", "capacity_basis", "option_capacity"]


@dataclass
class CapacityBasis:
    """What every option's capacity criteria share: norms, people, today's capacity."""

    service: str
    mode: str
    norms: Norms
    population: pd.DataFrame
    now_year: int
    horizon_year: int
    horizon: bool
    today: dict[str, float]
    assumptions: dict[str, Any] = field(default_factory=dict)


def capacity_basis(
    db: Database,
    principal: Principal,
    capacity: CapacityCriteria,
    *,
    mode: Mode,
    kinds: list[str],
    region: set[str],
    sites: pd.DataFrame,
) -> CapacityBasis:
    """Norms, people of ``region`` (area codes) and today's capacity of ``sites`` of ``kinds``.

    Raises
    ------
    AppraisalInputError
        Naming ``capacity``: an unknown norm set or projection, a year the projection lacks,
        no population for the areas.
    """
    params = CapacityParams(
        service=capacity.service,
        kinds=kinds,
        mode=mode,
        projection_id=capacity.projection_id,
        horizon_year=capacity.horizon_year,
        norms_id=capacity.norms_id,
    )
    try:
        record, norms = resolve_norms(db, principal, capacity.norms_id)
        population, now_year, horizon_year, projection = capacity_population(
            db, principal, params, region
        )
    except CapacityInputError as exc:
        raise AppraisalInputError("capacity", [f"{exc.parameter}: {exc}"]) from None
    serving = sites[sites["kind"].isin(kinds)].reset_index(drop=True)
    cap, sources, cap_notes = site_capacity(db, serving, capacity.service)
    measure = HEADLINE_MEASURE[capacity.service]
    if capacity.service == "primary_care":
        values = gp_fte_capacity(cap, norms.primary_care)
    else:
        values = pd.to_numeric(cap[measure], errors="coerce").to_numpy(dtype=float)
    today = {
        str(sid): float(v) for sid, v in zip(cap["site_id"], values, strict=True) if np.isfinite(v)
    }
    return CapacityBasis(
        service=capacity.service,
        mode=mode,
        norms=norms,
        population=population,
        now_year=now_year,
        horizon_year=horizon_year,
        horizon=capacity.projection_id is not None,
        today=today,
        assumptions={
            "service": capacity.service,
            "measure": measure,
            "unit": CAPACITY_UNITS[capacity.service],
            "mode": mode,
            "norms": {"id": record.id, "name": record.name, "version": record.version},
            "now_year": now_year,
            "horizon_year": horizon_year if capacity.projection_id is not None else None,
            "projection": projection if capacity.projection_id is not None else None,
            "sites_with_capacity_today": len(today),
            "capacity_sources": {
                str(sid): s for sid, s in zip(cap["site_id"], sources, strict=True) if s
            },
            "list_sizes": cap_notes,
        },
    )


def _site_or_none(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return None
    return str(value)


def option_capacity(
    basis: CapacityBasis, result: ScenarioResult, *, baseline: bool, label: str
) -> tuple[dict[str, float], dict[str, Any], list[str]]:
    """One option's capacity criteria values, its per-site detail and its notes.

    ``baseline`` reads the evaluation's baseline side (today's sites), else its scenario
    side; ``label`` names the option in the notes.
    """
    areas = result.modes[basis.mode].areas
    column = "baseline_site" if baseline else "scenario_site"
    site_of = {
        str(a): _site_or_none(s) for a, s in zip(areas["area_code"], areas[column], strict=True)
    }
    sites = result.sites.assign(site_id=result.sites["site_id"].astype(str))
    given = pd.to_numeric(
        sites["capacity"] if "capacity" in sites else pd.Series(np.nan, index=sites.index),
        errors="coerce",
    )
    capacity: dict[str, float] = {}
    from_scenario: list[str] = []
    for sid, status, cap in zip(sites["site_id"], sites["status"].astype(str), given, strict=True):
        if not baseline and np.isfinite(cap):
            capacity[sid] = float(cap)
            from_scenario.append(sid)
        elif not baseline and status.startswith("opened"):
            continue  # opened without a capacity: unknown
        elif sid in basis.today:
            capacity[sid] = basis.today[sid]
    short = catchment_shortfall(
        site_of,
        basis.population,
        capacity,
        service=basis.service,  # type: ignore[arg-type]
        norms=basis.norms,
        now_year=basis.now_year,
        horizon_year=basis.horizon_year,
    )
    values = {"capacity_shortfall_now": short.now}
    if basis.horizon:
        values["capacity_shortfall_horizon"] = short.horizon
    names = dict(zip(sites["site_id"], sites["name"].astype(str), strict=True))
    m = short.measure
    detail = {
        "measure": m,
        "unit": CAPACITY_UNITS[basis.service],
        "shortfall_now": short.now,
        "shortfall_horizon": short.horizon if basis.horizon else None,
        "sites_unknown_capacity": len(short.unknown),
        "capacity_from_scenario": from_scenario,
        "unassigned": {str(y): v for y, v in short.unassigned.items()},
        "sites": [
            {
                "site_id": str(r["site_id"]),
                "name": names.get(str(r["site_id"])),
                "population_now": float(r["population_now"]),
                "population_horizon": float(r["population_horizon"]),
                "need_now": float(r[f"need_{m}_now"]),
                "need_horizon": float(r[f"need_{m}_horizon"]),
                "capacity": None if pd.isna(r[f"capacity_{m}"]) else float(r[f"capacity_{m}"]),
                "gap_now": None if pd.isna(r[f"gap_{m}_now"]) else float(r[f"gap_{m}_now"]),
                "gap_horizon": None
                if pd.isna(r[f"gap_{m}_horizon"])
                else float(r[f"gap_{m}_horizon"]),
            }
            for r in short.sites.to_dict(orient="records")
        ],
    }
    notes: list[str] = []
    if short.unknown:
        shown = ", ".join(str(names.get(s, s)) for s in short.unknown[:10])
        more = "" if len(short.unknown) <= 10 else f" and {len(short.unknown) - 10} more"
        notes.append(
            f"{label}: {len(short.unknown)} serving site(s) of unknown capacity left out of the "
            f"capacity shortfall ({shown}{more})"
        )
    if not baseline and any(isinstance(c, GrowPopulation) for c in result.scenario.changes):
        notes.append(
            f"{label}: the scenario's population growth is not applied to the capacity "
            "criteria (their people are the loaded population or the projection)"
        )
    return values, detail, notes
