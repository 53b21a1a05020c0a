"""Patient travel burden, its carbon, and how unequally travel time falls by deprivation.

Three measures an options appraisal needs beyond "how many people are within 20 minutes":

**Travel burden** (person-km per year), for one mode::

    person_km = sum over areas of population × visits_per_person_year × 2 × distance_km

``2 ×`` is the return journey; ``distance_km`` the distance from the area's representative
point to its nearest serving site. Where no network distance is stored the caller passes the
straight line times a **route factor** (:func:`route_distance_km`; default
:data:`DEFAULT_ROUTE_FACTOR` = 1.3, within the range of road circuity factors reported by
Ballou, Rahardja & Sakai 2002, *Transportation Research Part A* 36(9): 843-848). The default
visit rate is :data:`DEFAULT_VISITS_PER_PERSON_YEAR` (GP practice consultations, source in
:data:`VISIT_RATE_SOURCE`); it is a parameter because it differs by service.

**CO2e** (kg) = person-km × the mode's factor (:data:`EMISSION_FACTORS`, kg CO2e per km, from
the UK government's *Greenhouse gas reporting: conversion factors 2023*, DESNZ). Car trips
use the per-vehicle-km factor of an average car of unknown fuel, i.e. one patient per car
(no shared lifts, no escorts); public transport uses the average local bus factor per
passenger-km; walking and cycling count 0 (no tailpipe emissions; vehicle life cycle not
counted). Direct (tank-to-wheel) factors, excluding well-to-tank.

**Concentration index** of travel time by deprivation (Kakwani, Wagstaff & van Doorslaer
1997, *Journal of Econometrics* 77(1): 87-103; O'Donnell, van Doorslaer, Wagstaff & Lindelow
2008, *Analyzing Health Equity Using Household Survey Data*, World Bank, ch. 8), the weighted
"convenient covariance" form::

    C = (2 / mu) × sum_i w_i (h_i - mu) (R_i - 1/2)

with population weights ``w_i`` normalised to sum to 1, ``mu`` the weighted mean of travel
time ``h``, and ``R_i`` the fractional rank in the deprivation distribution, **most deprived
first** (IMD decile 1 first): ``R_i`` = the population share ranked before ``i``'s group
plus half its group's share (areas in the same decile share one rank). C lies in (-1, 1); 0
means travel time is unrelated to deprivation rank; **negative** means longer times are
concentrated among the more deprived, positive among the less deprived.

Hand-written: a few weighted sums; the value is in the stated definitions and cited factors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_ROUTE_FACTOR",
    "DEFAULT_VISITS_PER_PERSON_YEAR",
    "EMISSION_FACTORS",
    "VISIT_RATE_SOURCE",
    "EmissionFactor",
    "co2e_kg",
    "concentration_index",
    "person_km_per_year",
    "route_distance_km",
]

FloatArray = npt.NDArray[np.float64]

_DESNZ_2023 = (
    "DESNZ, Greenhouse gas reporting: conversion factors 2023 (condensed set), "
    "https://www.gov.uk/government/publications/greenhouse-gas-reporting-conversion-factors-2023"
)


@dataclass(frozen=True)
class EmissionFactor:
    """kg CO2e per km of one travel mode, what the km counts, and where the figure is from."""

    mode: str
    kg_co2e_per_km: float
    basis: str
    source: str
    year: int


#: kg CO2e per km by mode (the modes of :mod:`spatial.modes`); see the module docstring.
EMISSION_FACTORS: dict[str, EmissionFactor] = {
    "drive": EmissionFactor(
        "drive",
        0.16844,
        "per vehicle-km, one patient per car: passenger vehicles, cars (by size), "
        "average car, unknown fuel",
        _DESNZ_2023,
        2023,
    ),
    "transit": EmissionFactor(
        "transit",
        0.10215,
        "per passenger-km: business travel (land), bus, average local bus",
        _DESNZ_2023,
        2023,
    ),
    "walk": EmissionFactor("walk", 0.0, "no tailpipe emissions", "by definition", 2023),
    "cycle": EmissionFactor("cycle", 0.0, "no tailpipe emissions", "by definition", 2023),
}

#: Consultations per person per year (GP and practice-nurse, face to face and by telephone).
DEFAULT_VISITS_PER_PERSON_YEAR = 5.16
VISIT_RATE_SOURCE = (
    "Hobbs FDR et al., Clinical workload in UK primary care: a retrospective analysis of 100 "
    "million consultations in England, 2007-14, The Lancet 2016; 387: 2323-2330 (crude "
    "consultation rate 2013-14, all GP and nurse consultations including telephone ones, so "
    "an upper bound for journeys)"
)
#: Road distance / straight-line distance.
DEFAULT_ROUTE_FACTOR = 1.3


def route_distance_km(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    to_x: npt.ArrayLike,
    to_y: npt.ArrayLike,
    *,
    route_factor: float = DEFAULT_ROUTE_FACTOR,
) -> FloatArray:
    """Estimated route distance (km): straight line between EPSG:27700 points (metres) × the
    route factor. NaN where a coordinate is missing."""
    if not np.isfinite(route_factor) or route_factor < 1.0:
        raise ValueError(f"route_factor must be a finite number >= 1, got {route_factor!r}")
    dx = np.asarray(to_x, dtype=np.float64) - np.asarray(x, dtype=np.float64)
    dy = np.asarray(to_y, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    return np.asarray(np.hypot(dx, dy) / 1000.0 * route_factor, dtype=np.float64)


def person_km_per_year(
    population: npt.ArrayLike,
    distance_km: npt.ArrayLike,
    *,
    visits_per_person_year: float = DEFAULT_VISITS_PER_PERSON_YEAR,
) -> float:
    """Person-km per year: sum of population × visits × 2 × one-way distance (km).

    Areas with a missing (NaN) or infinite distance (no serving site) are left out.
    """
    if not np.isfinite(visits_per_person_year) or visits_per_person_year < 0:
        raise ValueError(
            f"visits_per_person_year must be a finite number >= 0, got {visits_per_person_year!r}"
        )
    pop = np.asarray(population, dtype=np.float64)
    d = np.asarray(distance_km, dtype=np.float64)
    ok = np.isfinite(d) & np.isfinite(pop)
    return float(np.sum(pop[ok] * d[ok]) * 2.0 * visits_per_person_year)


def co2e_kg(
    person_km: float,
    mode: str,
    *,
    factors: dict[str, EmissionFactor] | None = None,
) -> float:
    """kg CO2e of ``person_km`` travelled by ``mode`` (factor × distance).

    Raises
    ------
    ValueError
        When no factor is known for ``mode``.
    """
    table = EMISSION_FACTORS if factors is None else factors
    if mode not in table:
        raise ValueError(f"no emission factor for mode {mode!r}; known: {sorted(table)}")
    return float(person_km) * table[mode].kg_co2e_per_km


def concentration_index(
    values: npt.ArrayLike, weights: npt.ArrayLike, rank_by: npt.ArrayLike
) -> float:
    """Weighted concentration index of ``values`` ranked by ``rank_by`` ascending.

    Parameters
    ----------
    values : array_like
        The variable whose distribution is measured (travel time, any unit: C is unit-free).
    weights : array_like
        Population of each row (persons).
    rank_by : array_like
        Deprivation rank, lowest first = most deprived (IMD decile 1-10); equal values share
        one fractional rank.

    Returns
    -------
    float
        C (module docstring); NaN when no row has a finite value, a positive weight and a
        finite rank, or the weighted mean is 0.
    """
    h = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    r = np.asarray(rank_by, dtype=np.float64)
    ok = np.isfinite(h) & np.isfinite(w) & (w > 0) & np.isfinite(r)
    h, w, r = h[ok], w[ok], r[ok]
    if w.size == 0 or w.sum() <= 0:
        return float("nan")
    w = w / w.sum()
    mu = float(np.sum(w * h))
    if mu == 0:
        return float("nan")
    groups, inverse = np.unique(r, return_inverse=True)
    share = np.bincount(inverse, weights=w, minlength=groups.size)
    before = np.concatenate([[0.0], np.cumsum(share)[:-1]])
    frac = (before + share / 2.0)[inverse]
    return float(2.0 / mu * np.sum(w * (h - mu) * (frac - 0.5)))
