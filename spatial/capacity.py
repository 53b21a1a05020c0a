"""Capacity sizing: people in each site's catchment → what they need → the gap to today.

Pure arithmetic on tables. Planning norms turn people into need; every number of a norm set
carries its unit, its source and its basis (``published``: a figure from the cited source;
``derived``: computed from cited data as the source says; ``assumption``: a Locus default
with the reasoning stated — replace it with a local figure). :data:`DEFAULT_NORMS` is the
built-in set; users save their own (same shape) and they are stored and versioned.

Primary care (:func:`primary_care_need`)
    patients = residents of the catchment (one registration per resident);
    GP FTE = patients / patients per GP FTE; clinical rooms = GP FTE × rooms per GP FTE;
    floor area (GIA, m²) = patients / 1,000 × GIA per 1,000 patients.

Beds (:func:`bed_need`)
    bed days a year = Σ over age bands of people × bed days per 1,000 / 1,000;
    beds = bed days / 365 / target occupancy; admissions a year = bed days / average length
    of stay. A population band takes the rate of the narrowest norm band containing it;
    a band straddling norm bands takes the mean of their rates over its single years of age
    (an open band counted to age 90).

Catchments are nearest-site (:func:`spatial.catchment.nearest_site` on stored area → site
times): each area's people count wholly at the quickest site. The gap is need minus today's
capacity (positive: a shortfall) for each measure whose capacity is known
(:func:`capacity_gaps`).

The shortfall of a whole set of catchments (:func:`catchment_shortfall`, the options
appraisal's capacity criteria) is in one :data:`HEADLINE_MEASURE` per service: the sum over
sites whose capacity is known of max(0, need − capacity); sites whose capacity is unknown are
counted apart, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from spatial.catchment import nearest_site
from spatial.projection import band_contains, parse_age_band

__all__ = [
    "CAPACITY_MEASURES",
    "DEFAULT_NORMS",
    "HEADLINE_MEASURE",
    "NEED_MEASURES",
    "BedNorms",
    "CatchmentShortfall",
    "Catchments",
    "Norms",
    "PrimaryCareNorms",
    "Service",
    "bed_need",
    "bed_rates",
    "capacity_gaps",
    "catchment_population",
    "catchment_shortfall",
    "gp_fte_capacity",
    "match_registrations",
    "need_table",
    "primary_care_need",
    "shortfall_flags",
]

Service = Literal["primary_care", "beds"]

#: Measures a service's need is expressed in, and those today's capacity can be compared on.
NEED_MEASURES: dict[str, tuple[str, ...]] = {
    "primary_care": ("patients", "gp_fte", "clinical_rooms", "gia_m2"),
    "beds": ("bed_days", "beds", "admissions"),
}
CAPACITY_MEASURES: dict[str, tuple[str, ...]] = {
    "primary_care": ("patients", "gp_fte", "clinical_rooms", "gia_m2"),
    "beds": ("beds",),
}
#: The one measure a service's shortfall is summed in (:func:`catchment_shortfall`).
HEADLINE_MEASURE: dict[str, str] = {"primary_care": "gp_fte", "beds": "beds"}

_HUDU = (
    "HUDU Planning Contributions Model (NHS London Healthy Urban Development Unit): one "
    "full-time equivalent GP per 1,800 registered patients, the ratio the model and NHS "
    "section 106 requests for primary care use"
)
_BED_CALIBRATION = (
    "Locus default, calibrated: the age gradient (more bed days with age) is an assumption, "
    "scaled so that England's Census 2021 usual residents (56,489,608 in the six bands) use "
    "about 32.9 million bed days a year, the order of NHS England's general and acute beds "
    "(about 100,000, KH03 bed availability and occupancy) at 90 % occupancy "
    "(100,000 × 0.9 × 365). Replace with your Hospital Episode Statistics bed days by age."
)

#: The built-in planning norms (a stored norm set has the same shape).
DEFAULT_NORMS: dict[str, Any] = {
    "name": "locus-default",
    "description": (
        "Locus's default planning norms. Every value says its source and basis; replace the "
        "assumptions with local figures by saving your own norm set. Bed-day rates are on "
        "the Census 2021 age bands; a set with finer bands above 65 is more accurate for "
        "single-year populations."
    ),
    "primary_care": {
        "patients_per_gp_fte": {
            "value": 1800.0,
            "unit": "registered patients per full-time equivalent GP",
            "basis": "published",
            "source": _HUDU,
        },
        "clinical_rooms_per_gp_fte": {
            "value": 2.0,
            "unit": "clinical (consulting or treatment) rooms per GP FTE",
            "basis": "assumption",
            "source": (
                "Locus assumption: a full-time GP uses about one room (most of the ten "
                "morning and afternoon sessions of a week) and the nurses and other direct "
                "patient care staff working alongside each GP about another. HBN 11-01 "
                "(NHS England, Facilities for primary and community care services, 2013) sets "
                "the generic consulting/examination room these rooms are."
            ),
        },
        "gia_m2_per_1000_patients": {
            "value": 90.0,
            "unit": "m² gross internal floor area per 1,000 registered patients",
            "basis": "derived",
            "source": (
                "One real building in the shared data: Partington Healthy Living Centre "
                "(Trafford Council land and building assets register, 2023-09: 935 m²) houses "
                "Partington Central Surgery (3,835) and Partington Family Practice (6,683 "
                "registered patients; NHS Digital, Patients registered at a GP practice, "
                "January 2026): 89 m² per 1,000 patients, rounded to 90. One building only: "
                "replace with your estates strategy's space standard."
            ),
        },
    },
    "beds": {
        "bed_days_per_1000": [
            {"age_band": "0-15", "value": 160.0, "basis": "assumption", "source": _BED_CALIBRATION},
            {
                "age_band": "16-24",
                "value": 230.0,
                "basis": "assumption",
                "source": _BED_CALIBRATION,
            },
            {
                "age_band": "25-34",
                "value": 300.0,
                "basis": "assumption",
                "source": _BED_CALIBRATION,
            },
            {
                "age_band": "35-49",
                "value": 280.0,
                "basis": "assumption",
                "source": _BED_CALIBRATION,
            },
            {
                "age_band": "50-64",
                "value": 480.0,
                "basis": "assumption",
                "source": _BED_CALIBRATION,
            },
            {"age_band": "65+", "value": 1850.0, "basis": "assumption", "source": _BED_CALIBRATION},
        ],
        "target_occupancy": {
            "value": 0.85,
            "unit": "share of beds occupied on average (0-1)",
            "basis": "published",
            "source": (
                "Bagust A, Place M, Posnett JW. Dynamics of bed use in accommodating emergency "
                "admissions: stochastic simulation model. BMJ 1999;319:155-158 (bed crises "
                "become regular above about 85 % average occupancy)"
            ),
        },
        "average_length_of_stay_days": {
            "value": 4.5,
            "unit": "days per admission",
            "basis": "assumption",
            "source": (
                "Locus assumption for general and acute stays, used only to express bed days "
                "as admissions a year; replace with your trust's Hospital Episode Statistics"
            ),
        },
    },
}


@dataclass(frozen=True)
class PrimaryCareNorms:
    """Primary care norms: patients per GP FTE, rooms per GP FTE, GIA m² per 1,000 patients."""

    patients_per_gp_fte: float
    clinical_rooms_per_gp_fte: float
    gia_m2_per_1000_patients: float


@dataclass(frozen=True)
class BedNorms:
    """Bed norms: ``rates`` (``age_lower, age_upper, bed_days_per_1000``), target occupancy
    (0-1) and average length of stay (days)."""

    rates: pd.DataFrame
    target_occupancy: float
    average_length_of_stay_days: float


@dataclass(frozen=True)
class Norms:
    """A norm set's numbers (the sources stay in its definition)."""

    primary_care: PrimaryCareNorms
    beds: BedNorms

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any]) -> Norms:
        """The numbers of a norm set in the :data:`DEFAULT_NORMS` shape."""
        pc = definition["primary_care"]
        beds = definition["beds"]
        bands = [parse_age_band(r["age_band"]) for r in beds["bed_days_per_1000"]]
        rates = pd.DataFrame(
            {
                "age_lower": [b[0] for b in bands],
                "age_upper": [np.nan if b[1] is None else float(b[1]) for b in bands],
                "bed_days_per_1000": [float(r["value"]) for r in beds["bed_days_per_1000"]],
            }
        )
        return cls(
            primary_care=PrimaryCareNorms(
                patients_per_gp_fte=float(pc["patients_per_gp_fte"]["value"]),
                clinical_rooms_per_gp_fte=float(pc["clinical_rooms_per_gp_fte"]["value"]),
                gia_m2_per_1000_patients=float(pc["gia_m2_per_1000_patients"]["value"]),
            ),
            beds=BedNorms(
                rates=rates,
                target_occupancy=float(beds["target_occupancy"]["value"]),
                average_length_of_stay_days=float(beds["average_length_of_stay_days"]["value"]),
            ),
        )


# ----------------------------------------------------------------------------- need


def primary_care_need(people: Any, norms: PrimaryCareNorms) -> dict[str, npt.NDArray[np.float64]]:
    """Primary care need of ``people`` (residents, one number or an array).

    Returns
    -------
    dict
        ``patients`` (people), ``gp_fte`` (full-time equivalent GPs), ``clinical_rooms``
        (rooms) and ``gia_m2`` (m² gross internal floor area), arrays like ``people``.
    """
    patients = np.asarray(people, dtype=float)
    gp_fte = patients / norms.patients_per_gp_fte
    return {
        "patients": patients,
        "gp_fte": gp_fte,
        "clinical_rooms": gp_fte * norms.clinical_rooms_per_gp_fte,
        "gia_m2": patients / 1000.0 * norms.gia_m2_per_1000_patients,
    }


def bed_rates(bands: pd.DataFrame, norms: BedNorms) -> npt.NDArray[np.float64]:
    """Bed days per 1,000 people a year for each population band (``age_lower,
    age_upper``): the narrowest norm band containing it, else the mean over its single years
    of age (to 90 for an open band) of the norm rates covering each year.

    Raises
    ------
    ValueError
        When some single year of a band has no norm rate.
    """
    r = norms.rates
    out = np.empty(len(bands))
    for i, (lo, hi) in enumerate(bands[["age_lower", "age_upper"]].itertuples(index=False)):
        inside = band_contains(r["age_lower"], r["age_upper"], lo, hi)
        if inside.any():
            width = np.where(
                r["age_upper"].isna(), np.inf, r["age_upper"].to_numpy(dtype=float)
            ) - r["age_lower"].to_numpy(dtype=float)
            out[i] = float(r["bed_days_per_1000"].to_numpy()[inside][np.argmin(width[inside])])
            continue
        top = 90 if hi is None or pd.isna(hi) else int(hi)
        ages = np.arange(int(lo), max(top, int(lo)) + 1)
        per_year = []
        for age in ages:
            covering = band_contains(r["age_lower"], r["age_upper"], age, age)
            if not covering.any():
                raise ValueError(f"no bed-day rate covers age {age}")
            per_year.append(float(r["bed_days_per_1000"].to_numpy()[covering][0]))
        out[i] = float(np.mean(per_year))
    return out


def bed_need(
    population: pd.DataFrame, norms: BedNorms, *, by: Sequence[str] = ("site_id", "year")
) -> pd.DataFrame:
    """Bed need of the people in ``population`` (``age_lower, age_upper, count`` and the
    ``by`` columns), per ``by`` group: ``bed_days`` a year, ``beds`` and ``admissions`` a
    year (indexed by the groups)."""
    bands = population[["age_lower", "age_upper"]].drop_duplicates().reset_index(drop=True)
    bands["rate"] = bed_rates(bands, norms)
    merged = population.merge(bands, on=["age_lower", "age_upper"], how="left")
    merged["bed_days"] = merged["count"] * merged["rate"] / 1000.0
    out = merged.groupby(list(by))[["bed_days"]].sum()
    out["beds"] = out["bed_days"] / 365.0 / norms.target_occupancy
    out["admissions"] = out["bed_days"] / norms.average_length_of_stay_days
    return out


# ----------------------------------------------------------------------------- catchments


@dataclass(frozen=True)
class Catchments:
    """People of each nearest-site catchment: ``people`` (``site_id, age_lower, age_upper,
    year, count``), the area → site ``assignment`` (``area_id, site_id, seconds``) and the
    people per year of areas reaching no site (``unassigned``)."""

    people: pd.DataFrame
    assignment: pd.DataFrame
    unassigned: dict[int, float]


def catchment_population(times: pd.DataFrame, population: pd.DataFrame) -> Catchments:
    """People of each nearest-site catchment by age band and year.

    Parameters
    ----------
    times : pandas.DataFrame
        Long ``from_id`` (area code), ``to_id`` (site id), ``seconds``.
    population : pandas.DataFrame
        ``area_code, age_lower, age_upper, year, count``.

    Returns
    -------
    Catchments
    """
    assignment = nearest_site(times)
    site_of = assignment.set_index("area_id")["site_id"]
    pop = population.assign(site_id=population["area_code"].map(site_of))
    assigned = pop[pop["site_id"].notna()]
    out = (
        assigned.groupby(["site_id", "age_lower", "year"], as_index=False)
        .agg(age_upper=("age_upper", "first"), count=("count", "sum"))
        .astype({"site_id": "int64"})
    )
    lost = pop[pop["site_id"].isna()].groupby("year")["count"].sum()
    return Catchments(
        people=out[["site_id", "age_lower", "age_upper", "year", "count"]],
        assignment=assignment,
        unassigned={
            int(y): float(c) for y, c in zip(lost.index.tolist(), lost.tolist(), strict=True)
        },
    )


def need_table(
    catchments: pd.DataFrame, *, service: Service, norms: Norms, key: str = "site_id"
) -> pd.DataFrame:
    """Need per ``key`` (a site: :attr:`Catchments.people`; or an area: ``area_code`` of
    projection rows) and year. Need is linear in people, so the need of a catchment is the sum
    of the need of its areas.

    Returns
    -------
    pandas.DataFrame
        ``<key>, year, population`` and the :data:`NEED_MEASURES` of ``service``.
    """
    keys = [key, "year"]
    people = catchments.groupby(keys)["count"].sum()
    if service == "primary_care":
        need = pd.DataFrame(
            primary_care_need(people.to_numpy(), norms.primary_care), index=people.index
        )
    else:
        need = bed_need(catchments, norms.beds, by=keys).reindex(people.index)
    need.insert(0, "population", people)
    return need.reset_index()


def capacity_gaps(
    need: pd.DataFrame,
    capacity: pd.DataFrame,
    *,
    service: Service,
    now_year: int,
    horizon_year: int,
) -> pd.DataFrame:
    """Today's capacity against need now and at the horizon, per site.

    Parameters
    ----------
    need : pandas.DataFrame
        :func:`need_table` rows (``site_id, year, population`` and the measures).
    capacity : pandas.DataFrame
        ``site_id`` and a column per :data:`CAPACITY_MEASURES` measure (NaN: unknown).
    service : {"primary_care", "beds"}
    now_year, horizon_year : int
        The years of ``need`` compared.

    Returns
    -------
    pandas.DataFrame
        One row per site of ``capacity``: ``need_<m>_now``, ``need_<m>_horizon`` for every
        need measure, ``capacity_<m>`` and ``gap_<m>_now``, ``gap_<m>_horizon`` (need − capacity,
        positive = shortfall) for every capacity measure, ``shortfall_now``,
        ``shortfall_horizon`` (True/False; None when no capacity is known) and ``status``.
    """
    measures = NEED_MEASURES[service]
    comparable = CAPACITY_MEASURES[service]
    now = need[need["year"] == now_year].set_index("site_id")
    later = need[need["year"] == horizon_year].set_index("site_id")
    out = capacity[["site_id"]].copy()
    ids = out["site_id"]
    out["population_now"] = ids.map(now["population"]).fillna(0.0).to_numpy()
    out["population_horizon"] = ids.map(later["population"]).fillna(0.0).to_numpy()
    for m in measures:
        out[f"need_{m}_now"] = ids.map(now[m]).fillna(0.0).to_numpy()
        out[f"need_{m}_horizon"] = ids.map(later[m]).fillna(0.0).to_numpy()
    for m in comparable:
        cap = pd.to_numeric(capacity[m], errors="coerce").to_numpy(dtype=float)
        out[f"capacity_{m}"] = cap
        out[f"gap_{m}_now"] = out[f"need_{m}_now"].to_numpy() - cap
        out[f"gap_{m}_horizon"] = out[f"need_{m}_horizon"].to_numpy() - cap
    flags = shortfall_flags(
        {m: out[f"gap_{m}_now"].to_numpy() for m in comparable},
        {m: out[f"gap_{m}_horizon"].to_numpy() for m in comparable},
        horizon_year=horizon_year,
    )
    out["shortfall_now"], out["shortfall_horizon"], out["status"] = flags
    return out


def shortfall_flags(
    gap_now: Mapping[str, npt.NDArray[np.float64]],
    gap_horizon: Mapping[str, npt.NDArray[np.float64]],
    *,
    horizon_year: int,
) -> tuple[list[bool | None], list[bool | None], npt.NDArray[np.str_]]:
    """The shortfall rule, for sites or footprints alike.

    Parameters
    ----------
    gap_now, gap_horizon : mapping of measure → array
        Need − today's capacity per row (NaN: that capacity is unknown).
    horizon_year : int
        Named in the status of a shortfall that comes only at the horizon.

    Returns
    -------
    tuple
        ``shortfall_now`` and ``shortfall_horizon`` (True when any known measure's gap is
        positive; None when no capacity of the row is known) and ``status`` ("capacity
        unknown", "shortfall now", "shortfall by <year>" or "sufficient").
    """
    n = len(next(iter(gap_now.values()))) if gap_now else 0
    known = np.zeros(n, dtype=bool)
    short_now = np.zeros(n, dtype=bool)
    short_later = np.zeros(n, dtype=bool)
    for m, now in gap_now.items():
        now = np.asarray(now, dtype=float)
        later = np.asarray(gap_horizon[m], dtype=float)
        has = ~np.isnan(now)
        known |= has
        short_now |= has & (np.nan_to_num(now) > 1e-9)
        short_later |= has & (np.nan_to_num(later) > 1e-9)
    status = np.select(
        [~known, short_now, short_later],
        ["capacity unknown", "shortfall now", f"shortfall by {horizon_year}"],
        default="sufficient",
    )
    return (
        [bool(s) if k else None for s, k in zip(short_now, known, strict=True)],
        [bool(s) if k else None for s, k in zip(short_later, known, strict=True)],
        status,
    )


# ----------------------------------------------------------------------------- shortfall


def gp_fte_capacity(capacity: pd.DataFrame, norms: PrimaryCareNorms) -> npt.NDArray[np.float64]:
    """Each site's GP FTE capacity: its ``gp_fte`` figure where known, else its registered
    list (``patients``) ÷ patients per GP FTE (the list's GP FTE equivalent); NaN when
    neither is known."""
    fte = pd.to_numeric(capacity["gp_fte"], errors="coerce").to_numpy(dtype=float)
    listed = pd.to_numeric(capacity["patients"], errors="coerce").to_numpy(dtype=float)
    return np.where(np.isnan(fte), listed / norms.patients_per_gp_fte, fte)


@dataclass(frozen=True)
class CatchmentShortfall:
    """Shortfall of a set of catchments in the service's :data:`HEADLINE_MEASURE`.

    ``sites``: :func:`capacity_gaps` rows of every site serving somebody; ``now`` and
    ``horizon``: Σ max(0, need − capacity) over sites with a known capacity; ``unknown``:
    the serving sites whose capacity is unknown (left out of the sums); ``unassigned``: people
    per year in areas that reach no site."""

    measure: str
    sites: pd.DataFrame
    now: float
    horizon: float
    unknown: list[str]
    unassigned: dict[int, float]


def catchment_shortfall(
    site_of: Mapping[str, Any],
    population: pd.DataFrame,
    capacity: Mapping[str, float],
    *,
    service: Service,
    norms: Norms,
    now_year: int,
    horizon_year: int,
) -> CatchmentShortfall:
    """Need of each site's catchment against its capacity, summed as a shortfall.

    Parameters
    ----------
    site_of : mapping
        Area code → the site (id as text) serving it; None/NaN: the area reaches no site.
    population : pandas.DataFrame
        ``area_code, age_lower, age_upper, year, count``.
    capacity : mapping
        Site id → capacity in the :data:`HEADLINE_MEASURE` of ``service`` (missing or NaN:
        unknown).
    service : {"primary_care", "beds"}
    norms : Norms
    now_year, horizon_year : int
        The years of ``population`` compared (the same year twice without a projection).
    """
    measure = HEADLINE_MEASURE[service]
    codes = population["area_code"].astype(str)
    site = codes.map(lambda c: site_of.get(c))
    pop = population.assign(site_id=site.where(site.notna(), None))
    assigned = pop[pop["site_id"].notna()].astype({"site_id": str})
    lost = pop[pop["site_id"].isna()].groupby("year")["count"].sum()
    need = need_table(assigned, service=service, norms=norms)
    ids = sorted(set(assigned["site_id"]))
    cap = pd.DataFrame({"site_id": ids})
    for m in CAPACITY_MEASURES[service]:
        cap[m] = np.nan
    cap[measure] = [float(capacity.get(s, np.nan)) for s in ids]
    gaps = capacity_gaps(need, cap, service=service, now_year=now_year, horizon_year=horizon_year)
    known = gaps[f"capacity_{measure}"].notna().to_numpy()

    def total(col: str) -> float:
        return float(np.clip(gaps[col].to_numpy(dtype=float)[known], 0.0, None).sum())

    return CatchmentShortfall(
        measure=measure,
        sites=gaps,
        now=total(f"gap_{measure}_now"),
        horizon=total(f"gap_{measure}_horizon"),
        unknown=[str(s) for s, k in zip(gaps["site_id"], known, strict=True) if not k],
        unassigned={
            int(y): float(c) for y, c in zip(lost.index.tolist(), lost.tolist(), strict=True)
        },
    )


# ----------------------------------------------------------------------------- list sizes


def _name_key(name: Any) -> str:
    # Local to spatial (which imports no etl): lower case, & as and, letters and digits.
    words = re.sub(r"[^a-z0-9 ]+", " ", str(name).lower().replace("&", " and ")).split()
    return " ".join(w for w in words if w not in {"the", "nhs"})


def match_registrations(sites: pd.DataFrame, registrations: pd.DataFrame) -> pd.DataFrame:
    """Registered list sizes matched to sites.

    Parameters
    ----------
    sites : pandas.DataFrame
        ``id, source_id, name, postcode`` (GP practice sites).
    registrations : pandas.DataFrame
        ``practice_code, practice_name, postcode, registered_patients``.

    Returns
    -------
    pandas.DataFrame
        ``site_id, practice_code, registered_patients, matched_by`` — by ODS code (the
        site's source id), else by the same name at the same postcode, else as the only
        unmatched practice and site at a postcode; each site and practice at most once.
    """
    out: list[tuple[int, str, float, str]] = []
    used_sites: set[int] = set()
    used_codes: set[str] = set()
    site_rows: list[dict[str, Any]] = [
        {"id": int(i), "code": str(c).upper(), "key": _name_key(n), "pc": _postcode_key(p)}
        for i, c, n, p in zip(
            sites["id"], sites["source_id"], sites["name"], sites["postcode"], strict=True
        )
    ]
    reg_rows: list[dict[str, Any]] = [
        {"code": str(c), "key": _name_key(n), "pc": _postcode_key(p), "n": float(v)}
        for c, n, p, v in zip(
            registrations["practice_code"],
            registrations["practice_name"],
            registrations["postcode"],
            registrations["registered_patients"],
            strict=True,
        )
    ]

    def take(site: int, reg: dict[str, Any], how: str) -> None:
        out.append((site, reg["code"], reg["n"], how))
        used_sites.add(site)
        used_codes.add(reg["code"])

    by_code = {s["code"]: s["id"] for s in site_rows}
    for r in reg_rows:
        sid = by_code.get(r["code"].upper())
        if sid is not None and sid not in used_sites:
            take(sid, r, "ods_code")
    for r in reg_rows:
        if r["code"] in used_codes:
            continue
        hits = [
            s["id"]
            for s in site_rows
            if s["id"] not in used_sites and s["pc"] == r["pc"] and s["key"] == r["key"]
        ]
        if len(hits) == 1 and r["pc"]:
            take(hits[0], r, "postcode_name")
    left = [r for r in reg_rows if r["code"] not in used_codes]
    for r in left:
        same = [x for x in left if x["pc"] == r["pc"]]
        hits = [s["id"] for s in site_rows if s["id"] not in used_sites and s["pc"] == r["pc"]]
        if len(hits) == 1 and len(same) == 1 and r["pc"]:
            take(hits[0], r, "postcode")
    return pd.DataFrame(
        out, columns=["site_id", "practice_code", "registered_patients", "matched_by"]
    )


def _postcode_key(value: Any) -> str:
    return "".join(str(value or "").split()).upper() if isinstance(value, str) else ""
