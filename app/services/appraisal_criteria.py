"""The criteria of the options appraisal and each option's values on them.

:func:`criteria_catalogue` is THE list of criteria for a set of modes and bands (ids such as
``mean_time_min:drive``, with unit and direction); the request's weights and ranges are
checked against it and :func:`option_measures` fills one row of the matrix from an evaluated
scenario (:class:`spatial.scenario.ScenarioResult`), either its baseline or its scenario side.

Groups and definitions (per mode ``m`` unless stated):

- **access**: ``mean_time_min:m``, ``p95_time_min:m`` (population-weighted mean and 95th
  percentile time to the nearest serving site, minutes, as in :mod:`spatial.scenario`),
  ``share_within_threshold:m`` and ``share_within_<b>_min:m`` (% of the population within the
  threshold / band);
- **equity**: ``losing_access:m`` (people whose nearest site moves beyond the threshold),
  ``losing_access_deprived:m`` (of whom in IMD deciles 1-2), ``losing_access_65plus:m`` (of
  whom in age bands starting at 65 or over), ``concentration_index:m`` (absolute value of the
  concentration index of travel time by IMD rank, :func:`spatial.burden.concentration_index`;
  0 = no gradient);
- **travel burden**: ``person_km_per_year:m`` and ``co2e_t_per_year:m``
  (:mod:`spatial.burden`: every visit made by mode ``m``, route distance estimated as the
  straight line × the route factor);
- **estate** (one per option): ``net_floor_area_released_m2``, ``running_cost_saved_gbp``
  (£/year; released minus added), ``backlog_avoided_gbp`` (maintenance backlog of the sites
  released, from the register), ``land_released_ha`` (net) and ``capital_receipt_gbp`` (land
  released × the receipt rate; only with ``receipt_per_ha``).

- **capacity** (one per option, only with the ``capacity`` input):
  ``capacity_shortfall_now`` and, with a projection, ``capacity_shortfall_horizon``: every
  area's people assigned to its nearest serving site under the option (the first mode's
  nearest site), need by the norm set, summed as Σ max(0, need − capacity) over the sites
  whose capacity is known (:func:`spatial.capacity.catchment_shortfall`); in GP FTE for
  primary care, beds for beds (:mod:`app.services.appraisal_capacity`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from spatial.appraisal import Criterion
from spatial.burden import co2e_kg, concentration_index, person_km_per_year, route_distance_km
from spatial.modes import mode_spec
from spatial.scenario import ScenarioResult

__all__ = [
    "CAPACITY_HINT",
    "CAPACITY_UNITS",
    "OptionMeasures",
    "Side",
    "criteria_catalogue",
    "default_weights",
    "option_measures",
]

Side = Literal["baseline", "scenario"]
DEPRIVED_DECILES = (1, 2)
OLDER_FROM_AGE = 65
#: The unit of each service's capacity shortfall (:data:`spatial.capacity.HEADLINE_MEASURE`).
CAPACITY_UNITS = {"primary_care": "GP FTE", "beds": "beds"}
CAPACITY_HINT = (
    "capacity shortfall: not asked for; give the capacity input (service, optionally norms_id, "
    "projection_id, horizon_year) to add capacity_shortfall_now and, with a projection, "
    "capacity_shortfall_horizon"
)
_ESTATE: tuple[tuple[str, str, str, str], ...] = (
    ("net_floor_area_released_m2", "Net floor area released", "m²", "floor area of sites "
     "closed or vacated minus floor area added"),
    ("running_cost_saved_gbp", "Running cost saved", "£/year", "running cost of sites "
     "released minus running cost added (site figure, else floor area × £/m²)"),
    ("backlog_avoided_gbp", "Maintenance backlog avoided", "£", "backlog maintenance of the "
     "sites released (register figure; 0 where unknown)"),
    ("land_released_ha", "Net land released", "ha", "land of sites released minus land added"),
    ("capital_receipt_gbp", "Capital receipt", "£", "land released × the receipt rate"),
)  # fmt: skip


def criteria_catalogue(
    modes: Sequence[str],
    bands: Sequence[int],
    threshold_min: float,
    *,
    capacity_service: str | None = None,
    capacity_horizon: bool = False,
) -> list[Criterion]:
    """Every criterion for ``modes`` and ``bands`` (minutes), in matrix column order; with
    ``capacity_service`` the capacity shortfall now (and at the horizon with
    ``capacity_horizon``, i.e. a projection)."""
    out: list[Criterion] = []
    for m in modes:
        label = mode_spec(m).label
        out += [
            Criterion(
                f"mean_time_min:{m}",
                f"Mean travel time, {label}",
                "min",
                "lower",
                "access",
                "population-weighted mean time to the nearest serving site",
            ),
            Criterion(
                f"p95_time_min:{m}",
                f"95th percentile travel time, {label}",
                "min",
                "lower",
                "access",
                "time within which 95% of reachable residents are",
            ),
            Criterion(
                f"share_within_threshold:{m}",
                f"Share within the threshold ({threshold_min:g} min), {label}",
                "%",
                "higher",
                "access",
                "residents whose nearest serving site is within the threshold",
            ),
            *[
                Criterion(
                    f"share_within_{b}_min:{m}",
                    f"Share within {b} min, {label}",
                    "%",
                    "higher",
                    "access",
                    f"residents whose nearest serving site is within {b} minutes",
                )
                for b in bands
            ],
            Criterion(
                f"losing_access:{m}",
                f"People losing access, {label}",
                "persons",
                "lower",
                "equity",
                f"residents whose nearest site moves beyond {threshold_min:g} minutes",
            ),
            Criterion(
                f"losing_access_deprived:{m}",
                f"People losing access in IMD deciles 1-2, {label}",
                "persons",
                "lower",
                "equity",
                "of those losing access, residents of the 20% most deprived areas of England",
            ),
            Criterion(
                f"losing_access_65plus:{m}",
                f"People aged 65+ losing access, {label}",
                "persons",
                "lower",
                "equity",
                "of those losing access, residents aged 65 and over",
            ),
            Criterion(
                f"concentration_index:{m}",
                f"Inequality of travel time by deprivation (|C|), {label}",
                "index",
                "lower",
                "equity",
                "absolute concentration index of travel time by IMD rank (0 = no gradient)",
            ),
            Criterion(
                f"person_km_per_year:{m}",
                f"Patient travel, {label}",
                "person-km/year",
                "lower",
                "travel burden",
                "residents × visits a year × 2 × route distance to the nearest site",
            ),
            Criterion(
                f"co2e_t_per_year:{m}",
                f"Patient travel emissions, {label}",
                "t CO2e/year",
                "lower",
                "travel burden",
                "patient travel × the mode's emission factor (DESNZ 2023)",
            ),
        ]
    out += [Criterion(cid, lbl, unit, "higher", "estate", desc) for cid, lbl, unit, desc in _ESTATE]
    if capacity_service is not None:
        out += _capacity_criteria(modes[0], capacity_service, capacity_horizon)
    return out


def _capacity_criteria(mode: str, service: str, horizon: bool) -> list[Criterion]:
    unit = CAPACITY_UNITS[service]
    what = (
        "GP FTE (a practice's GP FTE figure, else its registered list ÷ the norm set's "
        "patients per GP FTE)"
        if service == "primary_care"
        else "beds (a site's beds figure)"
    )
    rule = (
        f"each area's people at its nearest serving site under the option ({mode_spec(mode).label}"
        f", the first mode), need by the norm set, Σ max(0, need − capacity) in {what} over the "
        "sites whose capacity is known"
    )
    out = [
        Criterion(
            "capacity_shortfall_now",
            f"Capacity shortfall now ({unit})",
            unit,
            "lower",
            "capacity",
            rule + "; people now",
        )
    ]
    if horizon:
        out.append(
            Criterion(
                "capacity_shortfall_horizon",
                f"Capacity shortfall at the horizon ({unit})",
                unit,
                "lower",
                "capacity",
                rule + "; people at the projection's horizon, against today's capacity",
            )
        )
    return out


def default_weights(
    modes: Sequence[str], *, capacity_service: str | None = None, capacity_horizon: bool = False
) -> dict[str, float]:
    """Equal weights on the headline criteria (each mode's mean time, share within the
    threshold, people losing access in deciles 1-2, concentration index and CO2e; running
    cost saved and net floor area released; with capacity, the shortfall at the horizon, or
    now without a projection); every other criterion 0."""
    weights = {
        f"{name}:{m}": 1.0
        for m in modes
        for name in (
            "mean_time_min",
            "share_within_threshold",
            "losing_access_deprived",
            "concentration_index",
            "co2e_t_per_year",
        )
    }
    weights |= {"running_cost_saved_gbp": 1.0, "net_floor_area_released_m2": 1.0}
    if capacity_service is not None:
        weights["capacity_shortfall_horizon" if capacity_horizon else "capacity_shortfall_now"] = (
            1.0
        )
    return weights


@dataclass
class OptionMeasures:
    """One option's row of the matrix (``values``: criterion id → value, NaN if unknown) and
    the detail the report shows (``modes``: per mode, by IMD decile and age band)."""

    values: dict[str, float]
    modes: dict[str, dict[str, Any]] = field(default_factory=dict)
    estate: dict[str, float | None] = field(default_factory=dict)
    capacity: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _first_age(label: str) -> int | None:
    found = re.search(r"\d+", str(label))
    return int(found.group()) if found else None


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


def _mean_by_decile(times: np.ndarray, pop: np.ndarray, deciles: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {}
    for d in range(1, 11):
        ok = (deciles == d) & np.isfinite(times) & (pop > 0)
        if ok.any():
            out[str(d)] = float(np.sum(times[ok] * pop[ok]) / np.sum(pop[ok]) / 60.0)
    return out


def option_measures(
    result: ScenarioResult,
    side: Side,
    *,
    area_points: pd.DataFrame,
    backlog: Mapping[str, float],
    age_bands: Sequence[str],
    visits_per_person_year: float,
    route_factor: float,
    receipt_rate: float | None,
) -> OptionMeasures:
    """The criteria values of ``result``'s ``side`` (definitions in the module docstring).

    Parameters
    ----------
    result : ScenarioResult
        An evaluation; ``side="baseline"`` reads its baseline (no estate change),
        ``"scenario"`` its scenario.
    area_points : pandas.DataFrame
        ``code, x, y``: each area's representative point (EPSG:27700), for distances.
    backlog : mapping
        Site id → maintenance backlog (£) from the register.
    age_bands : sequence of str
        The population's age band labels; without one starting at 65 or over,
        ``losing_access_65plus`` is unknown (NaN).
    visits_per_person_year, route_factor : float
        Travel burden assumptions (:mod:`spatial.burden`).
    receipt_rate : float or None
        £/ha; None leaves ``capital_receipt_gbp`` unknown (NaN).
    """
    values: dict[str, float] = {}
    details: dict[str, dict[str, Any]] = {}
    col = "scenario" if side == "scenario" else "baseline"
    sites = result.sites.assign(site_id=result.sites["site_id"].astype(str)).drop_duplicates(
        "site_id", keep="last"
    )
    site_xy = sites.set_index("site_id")[["x", "y"]].apply(pd.to_numeric, errors="coerce")
    points = area_points.assign(code=area_points["code"].astype(str)).set_index("code")[["x", "y"]]
    ages = {str(b): _first_age(b) for b in age_bands}
    older_bands = {b for b, a in ages.items() if a is not None and a >= OLDER_FROM_AGE}
    for m, res in result.modes.items():
        summary = res.scenario if side == "scenario" else res.baseline
        areas = res.areas
        times = areas[f"{col}_s"].to_numpy(dtype=np.float64)
        pop = areas[f"population_{col}"].to_numpy(dtype=np.float64)
        deciles = pd.to_numeric(areas["imd_decile"], errors="coerce").fillna(0).to_numpy()
        total = summary.population

        def share(n: float, total: float = total) -> float:
            return 100.0 * n / total if total > 0 else float("nan")

        loses = res.loses if side == "scenario" else res.loses.iloc[0:0]
        deprived = loses[loses["imd_decile"].isin(DEPRIVED_DECILES)]["persons"].sum()
        older = loses[loses["age_band"].astype(str).isin(older_bands)]["persons"].sum()
        ranked = deciles > 0
        c_index = concentration_index(times[ranked], pop[ranked], deciles[ranked])
        site_ids = areas[f"{col}_site"].astype(object).where(areas[f"{col}_site"].notna(), None)
        to = site_xy.reindex([str(s) if s is not None else "" for s in site_ids])
        at = points.reindex(areas["area_code"].astype(str))
        dist = route_distance_km(at["x"], at["y"], to["x"], to["y"], route_factor=route_factor)
        pkm = person_km_per_year(pop, dist, visits_per_person_year=visits_per_person_year)
        co2e_t = co2e_kg(pkm, m) / 1000.0
        values |= {
            f"mean_time_min:{m}": summary.mean_s / 60.0,
            f"p95_time_min:{m}": summary.p95_s / 60.0,
            f"share_within_threshold:{m}": share(summary.within_threshold),
            **{f"share_within_{b}_min:{m}": share(n) for b, n in summary.within.items()},
            f"losing_access:{m}": float(loses["persons"].sum()),
            f"losing_access_deprived:{m}": float(deprived),
            f"losing_access_65plus:{m}": float(older) if older_bands else float("nan"),
            f"concentration_index:{m}": abs(c_index),
            f"person_km_per_year:{m}": pkm,
            f"co2e_t_per_year:{m}": co2e_t,
        }
        details[m] = {
            "population": total,
            "unreachable": summary.unreachable,
            "concentration_index": c_index,
            "mean_time_by_imd": _mean_by_decile(times, pop, deciles),
            "losing_by_age": {str(k): float(v) for k, v in res.by_age("loses").items()}
            if side == "scenario"
            else {},
            "losing_by_imd": {str(k): float(v) for k, v in res.by_imd("loses").items()}
            if side == "scenario"
            else {},
            "gaining": float(res.gains["persons"].sum()) if side == "scenario" else 0.0,
            "areas_without_distance": int((~np.isfinite(dist) & (pop > 0)).sum()),
        }
    estate = _estate(result, side, backlog, receipt_rate)
    values |= {k: (float("nan") if v is None else float(v)) for k, v in estate.items()}
    return OptionMeasures(values=values, modes=details, estate=estate)


def _estate(
    result: ScenarioResult, side: Side, backlog: Mapping[str, float], receipt_rate: float | None
) -> dict[str, float | None]:
    if side == "baseline":
        return {
            "net_floor_area_released_m2": 0.0,
            "running_cost_saved_gbp": 0.0,
            "backlog_avoided_gbp": 0.0,
            "land_released_ha": 0.0,
            "capital_receipt_gbp": None if receipt_rate is None else 0.0,
        }
    e = result.estate
    released = e.sites[e.sites["direction"] == "released"]
    avoided = sum(_num(backlog.get(str(s), 0.0)) for s in released["site_id"])
    return {
        "net_floor_area_released_m2": _num(e.floor_area_released_m2) - _num(e.floor_area_added_m2),
        "running_cost_saved_gbp": _num(e.running_cost_released_gbp)
        - _num(e.running_cost_added_gbp),
        "backlog_avoided_gbp": float(np.nan_to_num(avoided)),
        "land_released_ha": _num(e.land_released_ha) - _num(e.land_added_ha),
        "capital_receipt_gbp": None if e.receipt_gbp is None else _num(e.receipt_gbp),
    }
