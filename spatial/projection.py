"""Population projection per area and age band: growth rates, a trend, housing growth.

Pure arithmetic on long tables (``area_code, age_lower, age_upper, count``; ``age_upper`` NaN
for an open band such as 65+), so the rules are testable without a database and the service
only fetches and stores. Three sources of change, which combine:

Growth rates (:func:`resolve_rates`, :func:`apply_rates`)
    Annual rates (0.012 = +1.2 % a year) by age band and calendar year, optionally for one
    area. The population of year ``Y`` is the base times ``Π (1 + r_y)`` over the years
    after the base year up to ``Y``, so a rate of 0 projects the base exactly. A rate's band
    applies to every base band inside it ("all" is 0+). When several rates apply, the most
    specific wins: one for the area before one for every area, then the narrowest band, then
    one for the year before one for every year. A base band and year without any rate is an
    error (nothing is assumed).

Trend between two vintages (:func:`trend_rates`, :func:`vintage_groups`)
    The constant annual rate ``(N / O) ** (1 / years) - 1`` between an older count ``O`` and
    a newer count ``N`` of the same areas. Areas of different boundary vintages (LSOA 2011
    and 2021) are compared as *groups*: the connected sets of the best-fit pairs (each area
    paired with the other vintage's area holding its representative point), so a split or a
    merge is compared as a whole. Age bands are the coarsest bands both vintages can be
    summed to (their common lower ages); a band with no older people takes the group's
    all-ages rate. The rates become area-specific growth rates of every year. Compounded,
    the fastest-growing small areas (a new estate: +11 % a year in Rutland 2017-2021) soon
    dominate, so by default the projection is *constrained* (:func:`constrain`): each age
    band's total over all projected areas follows that band's trend over all of them, and
    areas share it in proportion to their own trends.

Housing growth (:mod:`spatial.housing`)
    Development sites (points or polygons, EPSG:27700) add ``dwellings × persons per
    dwelling`` people from the year the dwellings are completed (completions after the base
    year only: earlier ones are in the base population). A point adds to the area containing
    it; a polygon is apportioned to the areas it overlaps by share of its area (a part
    outside every loaded area is reported as unplaced, not added). New residents follow the
    site's age profile, else the current age profile of the area they move into. Housing
    people are added after growth (they are not themselves grown).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "MAX_HORIZON_YEARS",
    "Projection",
    "ProjectionError",
    "apply_rates",
    "band_contains",
    "band_label",
    "constrain",
    "parse_age_band",
    "project",
    "resolve_rates",
    "trend_rates",
    "vintage_groups",
]

#: The furthest a projection looks ahead of its base year, years.
MAX_HORIZON_YEARS = 50
#: Stand-in for the open upper end of a band (65+) in comparisons.
_OPEN = 200

_BAND = re.compile(r"^\s*(\d{1,3})\s*(?:-\s*(\d{1,3})|(\+))?\s*$")


class ProjectionError(ValueError):
    """Inputs a projection cannot be made from; ``problems`` lists each, naming the item."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def parse_age_band(label: str) -> tuple[int, int | None]:
    """An age band label as ``(lower, upper)``, ``upper`` None when open-ended.

    ``"0-15"`` → (0, 15); ``"65+"`` → (65, None); ``"7"`` → (7, 7); ``"all"`` → (0, None).

    Raises
    ------
    ValueError
        When the label is none of these, or the upper age is below the lower.
    """
    text = str(label).strip().lower()
    if text in ("all", "all ages", "0+"):
        return 0, None
    m = _BAND.match(text)
    if m is None:
        raise ValueError(f"age band {label!r} is not like '0-15', '65+', '7' or 'all'")
    lower = int(m.group(1))
    if m.group(3):
        return lower, None
    upper = int(m.group(2)) if m.group(2) is not None else lower
    if upper < lower:
        raise ValueError(f"age band {label!r}: the upper age is below the lower")
    return lower, upper


def band_label(lower: float, upper: float | None) -> str:
    """``0-15`` / ``65+`` for messages (stored labels come from the service)."""
    if upper is None or pd.isna(upper) or upper >= _OPEN:
        return f"{int(lower)}+"
    return f"{int(lower)}-{int(upper)}"


def _upper(values: Any) -> npt.NDArray[np.float64]:
    """Upper ages as floats, the open end as :data:`_OPEN`."""
    out = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
    return np.where(np.isnan(out), float(_OPEN), out)


def band_contains(
    outer_lower: Any, outer_upper: Any, inner_lower: Any, inner_upper: Any
) -> npt.NDArray[np.bool_]:
    """Whether each inner band lies within the outer band (upper NaN/None = open)."""
    return np.asarray(
        (np.asarray(outer_lower, dtype=float) <= np.asarray(inner_lower, dtype=float))
        & (_upper(np.atleast_1d(inner_upper)) <= _upper(np.atleast_1d(outer_upper))),
        dtype=bool,
    )


# ----------------------------------------------------------------------------- growth rates


def _best_rates(keys: pd.DataFrame, rates: pd.DataFrame) -> pd.Series:
    """For each key (``_k, area_code, _lo, _hi``) the rate of the most specific rate row
    (``_area`` '' = every area, ``_lo``, ``_hi``, ``_spec_year``, ``rate``) containing it."""
    parts = []
    generic = rates[rates["_area"] == ""]
    if len(generic):
        bands = keys[["_lo", "_hi"]].drop_duplicates()
        cross = bands.merge(generic[["_rlo", "_rhi", "_spec_year", "rate"]], how="cross").assign(
            _spec_area=False
        )
        cross = cross[(cross["_rlo"] <= cross["_lo"]) & (cross["_hi"] <= cross["_rhi"])]
        parts.append(keys[["_k", "_lo", "_hi"]].merge(cross, on=["_lo", "_hi"]))
    specific = rates[rates["_area"] != ""]
    if len(specific):
        m = keys[["_k", "area_code", "_lo", "_hi"]].merge(
            specific[["_area", "_rlo", "_rhi", "_spec_year", "rate"]],
            left_on="area_code",
            right_on="_area",
        )
        m = m[(m["_rlo"] <= m["_lo"]) & (m["_hi"] <= m["_rhi"])].assign(_spec_area=True)
        parts.append(m)
    if not parts:
        return pd.Series(dtype=float)
    found = pd.concat(parts, ignore_index=True)
    found["_width"] = found["_rhi"] - found["_rlo"]
    found = found.sort_values(
        ["_k", "_spec_area", "_width", "_spec_year"],
        ascending=[True, False, True, False],
        kind="mergesort",
    ).drop_duplicates("_k")
    return found.set_index("_k")["rate"]


def resolve_rates(
    keys: pd.DataFrame, rates: pd.DataFrame, *, years: Sequence[int]
) -> npt.NDArray[np.float64]:
    """The annual growth rate of each base row in each year.

    Parameters
    ----------
    keys : pandas.DataFrame
        ``area_code, age_lower, age_upper`` (one row per base row).
    rates : pandas.DataFrame
        ``area_code`` (None: every area), ``age_lower``, ``age_upper`` (NaN: open), ``year``
        (NaN: every year) and ``rate`` (fraction per year).
    years : sequence of int
        Calendar years, ascending.

    Returns
    -------
    numpy.ndarray
        ``len(keys) × len(years)`` rates (fraction per year).

    Raises
    ------
    ProjectionError
        Listing the age bands (and first year) of the base that no rate covers.
    """
    k = pd.DataFrame(
        {
            "_k": np.arange(len(keys)),
            "area_code": keys["area_code"].astype(str).to_numpy(),
            "_lo": keys["age_lower"].to_numpy(dtype=float),
            "_hi": _upper(keys["age_upper"].to_numpy()),
        }
    )
    year_col = pd.to_numeric(rates["year"], errors="coerce")
    r = pd.DataFrame(
        {
            "_area": rates["area_code"].fillna("").astype(str).to_numpy(),
            "_rlo": rates["age_lower"].to_numpy(dtype=float),
            "_rhi": _upper(rates["age_upper"].to_numpy()),
            "_year": year_col.fillna(0).astype(int).to_numpy(),
            "_spec_year": year_col.notna().to_numpy(),
            "rate": rates["rate"].to_numpy(dtype=float),
        }
    )
    out = np.full((len(k), len(years)), np.nan)
    generic = _best_rates(k, r[r["_year"] == 0])
    specific_years = set(r.loc[r["_year"] != 0, "_year"].tolist())
    for j, year in enumerate(years):
        found = _best_rates(k, r[r["_year"].isin([0, year])]) if year in specific_years else generic
        out[found.index.to_numpy(dtype=int), j] = found.to_numpy(dtype=float)
    missing = np.isnan(out)
    if missing.any():
        problems = []
        rows, cols = np.nonzero(missing)
        seen: set[tuple[float, float]] = set()
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            band = (float(k["_lo"].iloc[i]), float(k["_hi"].iloc[i]))
            if band in seen:
                continue
            seen.add(band)
            problems.append(
                f"no growth rate for age band {band_label(*band)} in {years[j]} (e.g. area "
                f"{k['area_code'].iloc[i]}): give a rate for a band containing it, for that "
                "year or for every year"
            )
            if len(problems) >= 10:
                break
        raise ProjectionError(problems)
    return out


def _check_years(base_year: int, years: Sequence[int]) -> list[int]:
    horizons = sorted({int(y) for y in years})
    bad = [y for y in horizons if y < base_year or y > base_year + MAX_HORIZON_YEARS]
    if bad:
        raise ProjectionError(
            [
                f"horizon year {y} is outside {base_year} (the base year) to "
                f"{base_year + MAX_HORIZON_YEARS}"
                for y in bad
            ]
        )
    return horizons


def apply_rates(
    base: pd.DataFrame, rates: pd.DataFrame, *, base_year: int, years: Sequence[int]
) -> pd.DataFrame:
    """Project ``base`` with annual growth ``rates`` to each of ``years``.

    Parameters
    ----------
    base : pandas.DataFrame
        ``area_code, age_lower, age_upper, count`` (people in the base year).
    rates : pandas.DataFrame
        As :func:`resolve_rates` takes them.
    base_year : int
        The calendar year of the base population.
    years : sequence of int
        Horizon years (>= ``base_year``).

    Returns
    -------
    pandas.DataFrame
        ``area_code, age_lower, age_upper, year, count`` for the base year and each horizon
        year: ``count = base × Π_{base_year < y <= year} (1 + r_y)`` (people).
    """
    horizons = _check_years(base_year, years)
    span = list(range(base_year + 1, max(horizons) + 1))
    base = base.reset_index(drop=True)
    factors: npt.NDArray[np.float64] = np.ones((len(base), 0))
    if span:
        r = resolve_rates(base, rates, years=span)
        factors = np.asarray(np.cumprod(1.0 + r, axis=1), dtype=float)
    frames = [base.assign(year=base_year)]
    for y in horizons:
        if y == base_year:
            continue
        frames.append(base.assign(year=y, count=base["count"].to_numpy() * factors[:, y - span[0]]))
    out = pd.concat(frames, ignore_index=True)
    return out[["area_code", "age_lower", "age_upper", "year", "count"]]


# ----------------------------------------------------------------------------- trend


def vintage_groups(pairs: pd.DataFrame) -> tuple[dict[str, int], dict[str, int]]:
    """Connected groups of areas of two boundary vintages from best-fit pairs.

    Parameters
    ----------
    pairs : pandas.DataFrame
        ``older, newer``: an older area code and a newer one paired with it (either holds
        the other's representative point). Codes may repeat across the two vintages.

    Returns
    -------
    (dict, dict)
        Group number of each older code and of each newer code; two areas of one group are
        compared only as the group's total.
    """
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(node: tuple[str, str]) -> tuple[str, str]:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for older, newer in pairs[["older", "newer"]].itertuples(index=False):
        a, b = find(("o", str(older))), find(("n", str(newer)))
        if a != b:
            parent[max(a, b)] = min(a, b)
    roots: dict[tuple[str, str], int] = {}
    older_group: dict[str, int] = {}
    newer_group: dict[str, int] = {}
    for node in sorted(parent):
        number = roots.setdefault(find(node), len(roots))
        (older_group if node[0] == "o" else newer_group)[node[1]] = number
    return older_group, newer_group


def _common_lowers(*frames: pd.DataFrame) -> npt.NDArray[np.int64]:
    sets = [set(f["age_lower"].astype(int).tolist()) for f in frames]
    common = set.intersection(*sets) | {0}
    return np.array(sorted(common), dtype=np.int64)


def trend_rates(
    older: pd.DataFrame,
    newer: pd.DataFrame,
    *,
    years_between: float,
    older_group: Mapping[str, int] | None = None,
    newer_group: Mapping[str, int] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Constant annual growth between two vintages, per area group and common age band.

    Parameters
    ----------
    older, newer : pandas.DataFrame
        ``area_code, age_lower, age_upper, count`` of each vintage (people).
    years_between : float
        Time between the two reference dates, years (> 0).
    older_group, newer_group : mapping, optional
        Area code → group (:func:`vintage_groups`); by default each code is its own group
        (same boundaries).

    Returns
    -------
    (pandas.DataFrame, list of str)
        ``group, age_lower, age_upper, older, newer, rate`` (rate: fraction per year) with one
        all-ages row per group (``age_lower`` 0, ``age_upper`` NaN) first, and notes on the
        groups whose rate could not be measured (no older people: rate 0).
    """
    if years_between <= 0:
        raise ProjectionError(["the two vintages must be at different dates"])
    og = older_group or {c: i for i, c in enumerate(sorted(set(older["area_code"])))}
    ng = newer_group or og
    lowers = _common_lowers(older, newer)
    uppers = np.append(lowers[1:] - 1, np.nan).astype(float)

    def grouped(frame: pd.DataFrame, groups: Mapping[str, int]) -> pd.DataFrame:
        g = frame["area_code"].map(groups)
        band = np.searchsorted(lowers, frame["age_lower"].to_numpy(dtype=np.int64), side="right")
        return pd.DataFrame(
            {"group": g.to_numpy(), "band": band - 1, "count": frame["count"].to_numpy()}
        ).dropna(subset=["group"])

    o = grouped(older, og).groupby(["group", "band"])["count"].sum()
    n = grouped(newer, ng).groupby(["group", "band"])["count"].sum()
    table = pd.concat({"older": o, "newer": n}, axis=1).fillna(0.0).reset_index()
    total = table.groupby("group")[["older", "newer"]].sum().reset_index()
    notes: list[str] = []

    def rate(o_: pd.Series, n_: pd.Series) -> npt.NDArray[np.float64]:
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.power(n_.to_numpy() / o_.to_numpy(), 1.0 / years_between) - 1.0
        return np.where(o_.to_numpy() > 0, value, np.nan)

    total["rate"] = rate(total["older"], total["newer"])
    unmeasured = total["rate"].isna()
    if unmeasured.any():
        notes.append(
            f"{int(unmeasured.sum())} area group(s) had no people in the older vintage: "
            "their trend is taken as 0"
        )
    total["rate"] = total["rate"].fillna(0.0)
    table["rate"] = rate(table["older"], table["newer"])
    table["rate"] = table["rate"].fillna(table["group"].map(total.set_index("group")["rate"]))
    table["age_lower"] = lowers[table["band"].to_numpy(dtype=int)]
    table["age_upper"] = uppers[table["band"].to_numpy(dtype=int)]
    total["age_lower"] = 0
    total["age_upper"] = np.nan
    cols = ["group", "age_lower", "age_upper", "older", "newer", "rate"]
    # With no common band but 0+ (an all-ages vintage) the band rows repeat the totals.
    table = table[~((table["age_lower"] == 0) & table["age_upper"].isna())]
    out = pd.concat([total[cols], table[cols]], ignore_index=True)
    out["group"] = out["group"].astype(int)
    return out, notes


# ----------------------------------------------------------------------------- together


@dataclass
class Projection:
    """Projected people: ``rows`` (``area_code, age_lower, age_upper, year, count, housing``,
    the base year included; ``housing`` is the part of ``count`` housing sites added) and
    ``notes`` saying how it was made."""

    rows: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    housing: dict[str, Any] = field(default_factory=dict)


def constrain(
    grown: pd.DataFrame, base: pd.DataFrame, controls: pd.DataFrame, *, base_year: int
) -> pd.DataFrame:
    """Scale projected rows so each base age band's total over all areas follows its
    control rate: ``Σ_areas count(b, Y) = Σ_areas base(b) × (1 + R_b) ** (Y − base_year)``.

    ``controls`` (``age_lower, age_upper, rate``) are annual rates over the whole projected
    area; a base band takes the narrowest control band containing it. Areas keep their
    shares of each band from their own rates.
    """
    bands = base[["age_lower", "age_upper"]].drop_duplicates().reset_index(drop=True)
    keys = bands.assign(area_code="*")
    rates = controls.assign(area_code=None, year=np.nan)
    band_rate = resolve_rates(keys, rates, years=[base_year + 1])[:, 0]
    bands["_rate"] = band_rate
    start = base.groupby("age_lower")["count"].sum()
    growth = 1.0 + bands.set_index("age_lower")["_rate"]
    out = grown.copy()
    for year in sorted(set(out["year"].astype(int).tolist()) - {base_year}):
        rows = out[out["year"] == year]
        now = rows.groupby("age_lower")["count"].sum()
        target = growth.pow(float(year - base_year)) * start
        scale = (target / now.replace(0, np.nan)).fillna(1.0)
        out.loc[rows.index, "count"] = rows["count"] * rows["age_lower"].map(scale).to_numpy()
    return out


def project(
    base: pd.DataFrame,
    *,
    base_year: int,
    years: Sequence[int],
    rates: pd.DataFrame | None = None,
    additions: pd.DataFrame | None = None,
    controls: pd.DataFrame | None = None,
) -> Projection:
    """The base grown by ``rates`` (none: unchanged) plus housing ``additions``.

    Parameters
    ----------
    base : pandas.DataFrame
        ``area_code, age_lower, age_upper, count``.
    base_year, years : int, sequence of int
        As :func:`apply_rates`.
    rates : pandas.DataFrame, optional
        Growth rates (:func:`resolve_rates`); None keeps every band as it is.
    additions : pandas.DataFrame, optional
        Housing people (:func:`housing_additions`).
    controls : pandas.DataFrame, optional
        Band totals over all areas follow these rates (:func:`constrain`) before housing is
        added.

    Returns
    -------
    Projection
    """
    horizons = _check_years(base_year, years)
    if rates is None:
        rates = pd.DataFrame(
            {"area_code": [None], "age_lower": [0], "age_upper": [np.nan], "year": [np.nan]}
        ).assign(rate=0.0)
    grown = apply_rates(base, rates, base_year=base_year, years=horizons)
    if controls is not None:
        grown = constrain(grown, base, controls, base_year=base_year)
    grown["housing"] = 0.0
    if additions is not None and len(additions):
        add = additions.rename(columns={"count": "housing"})
        keys = ["area_code", "age_lower", "year"]
        grown = grown.merge(
            add[[*keys, "age_upper", "housing"]], on=keys, how="outer", suffixes=("", "_h")
        )
        grown["age_upper"] = grown["age_upper"].fillna(grown.pop("age_upper_h"))
        grown["housing"] = grown.pop("housing_h").fillna(0.0) + grown["housing"].fillna(0.0)
        grown["count"] = grown["count"].fillna(0.0) + grown["housing"]
    grown["age_upper"] = pd.to_numeric(grown["age_upper"], errors="coerce").astype(float)
    grown = grown.sort_values(["area_code", "age_lower", "year"], kind="mergesort")
    return Projection(rows=grown.reset_index(drop=True))
