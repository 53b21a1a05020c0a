"""Estate reconfiguration scenarios: a versioned list of changes, evaluated against a baseline.

A :class:`Scenario` is plain data (JSON round-trip with :meth:`Scenario.to_json` /
:meth:`Scenario.from_json`) so the API can store and version it. :func:`evaluate_scenario`
applies it to a baseline set of service sites and a precomputed long travel-time matrix
(area → site, per mode) and reports, per mode, access before and after, who loses or gains
access within a threshold, and the estate released.

Definitions used throughout (stated here once, repeated in reports):

* An area's travel time is the time from its population-weighted point to its **nearest
  active site** (minimum over sites of ``seconds`` for that mode); an area with no row to any
  active site is *unreachable*.
* Baseline = baseline sites × current population; scenario = scenario sites × scenario
  population (after any population growth changes).
* Population within a band: persons in areas whose nearest-site time is ``<= band`` minutes.
* Mean and 95th percentile travel time are **population weighted** over persons in reachable
  areas (each area's time counted once per resident); the 95th percentile is the smallest
  area time ``t`` such that at least 95 % of those persons have a time ``<= t`` (no
  interpolation). Unreachable persons are reported separately.
* People who **lose** access: residents (scenario population) of areas whose nearest-site time
  is within the threshold in the baseline and beyond it in the scenario; **gain** is the
  reverse. Reported by age band and IMD decile.
* Floor area, running cost and land **released** come from closed sites (and moved services
  with ``release_building``); running cost is the site's own figure or, when missing,
  floor area × ``cost_per_m2`` (an ERIC or user rate, £/m²/year). Receipt = land released
  (ha) × ``receipt_per_ha`` (£/ha).

Hand-written: this is bookkeeping over a matrix (pandas pivots and group-bys); the value is in
the exact, documented definitions, which no library provides.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import shapely

__all__ = [
    "AccessSummary",
    "ChangeCapacity",
    "CloseSites",
    "EstateChange",
    "GrowPopulation",
    "ModeResult",
    "MoveService",
    "OpenSite",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "compare_scenarios",
    "evaluate_scenario",
    "validate_scenario",
]


class ScenarioError(ValueError):
    """A scenario is malformed or refers to something that does not exist.

    ``problems`` lists one message per problem, each naming the change (``change 2
    (close_sites)``) and the offending value.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


# --------------------------------------------------------------------------- changes


@dataclass
class CloseSites:
    """Close sites: they stop serving; their floor area, running cost and land are released."""

    site_ids: list[str]
    type: ClassVar[str] = "close_sites"


@dataclass
class OpenSite:
    """Open a site, at an existing building (``at_site_id``) or at a point (``x``, ``y``).

    ``site_id`` is the new site's id; its travel times are read from the matrix under
    ``site_id`` or, if absent there, under ``at_site_id`` (same building). ``x``/``y`` are
    EPSG:27700 metres. ``gia_m2``, ``land_ha`` and ``running_cost_gbp`` are *additional*
    floor area (m²), land (ha) and running cost (£/year) the opening brings (0 for a service
    moving into space that is already in the estate).
    """

    site_id: str
    name: str = ""
    at_site_id: str | None = None
    x: float | None = None
    y: float | None = None
    kind: str | None = None
    gia_m2: float = 0.0
    land_ha: float = 0.0
    running_cost_gbp: float | None = None
    capacity: float | None = None
    type: ClassVar[str] = "open_site"


@dataclass
class MoveService:
    """Move a service from one site to another (existing or opened earlier in the scenario).

    The origin stops serving; with ``release_building`` its floor area, cost and land count
    as released. The destination starts serving (times from the matrix under its id).
    """

    from_site_id: str
    to_site_id: str
    release_building: bool = True
    type: ClassVar[str] = "move_service"


@dataclass
class ChangeCapacity:
    """Set a site's capacity (e.g. GP sessions, rooms); capacity <= 0 means it stops serving."""

    site_id: str
    capacity: float
    type: ClassVar[str] = "change_capacity"


@dataclass
class GrowPopulation:
    """Multiply the population of some age bands by ``factor`` (1.3 = +30 %).

    ``age_bands`` are labels exactly as in the population table; ``area_codes`` limits the
    growth to some areas (all areas when omitted).
    """

    age_bands: list[str]
    factor: float
    area_codes: list[str] | None = None
    type: ClassVar[str] = "grow_population"


Change = CloseSites | OpenSite | MoveService | ChangeCapacity | GrowPopulation
_CHANGE_TYPES: dict[str, type[Any]] = {
    c.type: c for c in (CloseSites, OpenSite, MoveService, ChangeCapacity, GrowPopulation)
}


def _change_label(i: int, change: Any) -> str:
    return f"change {i} ({getattr(change, 'type', type(change).__name__)})"


@dataclass
class Scenario:
    """A named, versioned list of changes to the baseline (applied in order)."""

    name: str
    version: int = 1
    changes: list[Change] = field(default_factory=list)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; each change carries its ``type``."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "changes": [{"type": c.type, **asdict(c)} for c in self.changes],
        }

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        """Build from :meth:`to_dict` output; errors name the change and the bad field."""
        problems: list[str] = []
        if not isinstance(data.get("name"), str) or not data["name"].strip():
            problems.append("scenario name must be a non-empty string")
        version = data.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            problems.append("scenario version must be a positive integer")
        changes: list[Change] = []
        raw_changes = data.get("changes", [])
        if not isinstance(raw_changes, list):
            raise ScenarioError([*problems, "changes must be a list"])
        for i, raw in enumerate(raw_changes, start=1):
            if not isinstance(raw, Mapping):
                problems.append(f"change {i}: must be an object")
                continue
            kind = raw.get("type")
            cls_ = _CHANGE_TYPES.get(str(kind))
            if cls_ is None:
                problems.append(
                    f"change {i}: unknown type {kind!r}; known: {sorted(_CHANGE_TYPES)}"
                )
                continue
            names = {f.name for f in fields(cls_)}
            extra = sorted(set(raw) - names - {"type"})
            if extra:
                problems.append(f"change {i} ({kind}): unknown field(s) {extra}")
                continue
            try:
                changes.append(cls_(**{k: v for k, v in raw.items() if k != "type"}))
            except TypeError as exc:
                problems.append(f"change {i} ({kind}): {exc}")
        if problems:
            raise ScenarioError(problems)
        return cls(
            name=str(data["name"]),
            version=int(version),
            changes=changes,
            description=str(data.get("description", "")),
        )

    @classmethod
    def from_json(cls, text: str) -> Scenario:
        """Parse JSON text written by :meth:`to_json`."""
        return cls.from_dict(json.loads(text))


# --------------------------------------------------------------------------- results


@dataclass
class AccessSummary:
    """Access for one state (baseline or scenario) and mode.

    Attributes
    ----------
    population : float
        Persons in all areas.
    within : dict of int to float
        Band (minutes) → persons whose nearest site is within it.
    mean_s, p95_s : float
        Population-weighted mean and 95th percentile nearest-site time (seconds) over
        reachable persons (NaN if nobody is reachable).
    unreachable : float
        Persons in areas with no time to any active site.
    within_threshold : float
        Persons within the threshold.
    """

    population: float
    within: dict[int, float]
    mean_s: float
    p95_s: float
    unreachable: float
    within_threshold: float


@dataclass
class ModeResult:
    """Baseline and scenario access for one mode, and who loses or gains.

    ``areas`` has one row per area: ``area_code``, ``imd_decile``, ``population_baseline``,
    ``population_scenario``, ``baseline_s``, ``scenario_s`` (inf if unreachable),
    ``baseline_site``, ``scenario_site`` (nearest site ids), ``change_s`` and ``status``
    (``"loses"``, ``"gains"``, ``"unchanged"`` with respect to the threshold).
    ``loses``/``gains`` are long tables ``area_code, age_band, imd_decile, persons``.
    """

    mode: str
    baseline: AccessSummary
    scenario: AccessSummary
    areas: pd.DataFrame
    loses: pd.DataFrame
    gains: pd.DataFrame

    def by_age(self, which: str = "loses") -> pd.Series:
        """Persons losing (or gaining) access by age band."""
        table = self.loses if which == "loses" else self.gains
        return table.groupby("age_band", sort=False)["persons"].sum()

    def by_imd(self, which: str = "loses") -> pd.Series:
        """Persons losing (or gaining) access by IMD decile (1 = most deprived)."""
        table = self.loses if which == "loses" else self.gains
        return table.groupby("imd_decile")["persons"].sum().sort_index()


@dataclass
class EstateChange:
    """Estate released and added by the scenario (m², £/year, ha, £).

    ``sites`` lists every closed/opened site with its figures and how its running cost was
    obtained (``"site figure"``, ``"floor area × £/m²"`` or ``"unknown"``).
    """

    floor_area_released_m2: float
    floor_area_added_m2: float
    running_cost_released_gbp: float
    running_cost_added_gbp: float
    land_released_ha: float
    land_added_ha: float
    receipt_per_ha_gbp: float | None
    receipt_gbp: float | None
    cost_per_m2_gbp: float | None
    sites: pd.DataFrame


@dataclass
class ScenarioResult:
    """Everything :func:`evaluate_scenario` reports; ``modes`` maps mode → :class:`ModeResult`."""

    scenario: Scenario
    threshold_min: float
    bands_min: tuple[int, ...]
    modes: dict[str, ModeResult]
    estate: EstateChange
    sites: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def summary_table(self) -> pd.DataFrame:
        """Tidy before/after table: one row per (mode, metric), columns baseline, scenario,
        change. Times in minutes, populations in persons."""
        rows: list[dict[str, Any]] = []
        for mode, res in self.modes.items():
            b, s = res.baseline, res.scenario
            metrics: list[tuple[str, float, float]] = [
                ("population", b.population, s.population),
                *[(f"within {m} min", b.within[m], s.within[m]) for m in self.bands_min],
                (
                    f"within threshold ({self.threshold_min:g} min)",
                    b.within_threshold,
                    s.within_threshold,
                ),
                ("mean travel time (min)", b.mean_s / 60.0, s.mean_s / 60.0),
                ("95th percentile travel time (min)", b.p95_s / 60.0, s.p95_s / 60.0),
                ("unreachable", b.unreachable, s.unreachable),
            ]
            for name, bv, sv in metrics:
                rows.append(
                    {
                        "mode": mode,
                        "metric": name,
                        "baseline": bv,
                        "scenario": sv,
                        "change": sv - bv,
                    }
                )
            rows.append(
                {
                    "mode": mode,
                    "metric": "people losing access",
                    "baseline": 0.0,
                    "scenario": float(res.loses["persons"].sum()),
                    "change": float(res.loses["persons"].sum()),
                }
            )
            rows.append(
                {
                    "mode": mode,
                    "metric": "people gaining access",
                    "baseline": 0.0,
                    "scenario": float(res.gains["persons"].sum()),
                    "change": float(res.gains["persons"].sum()),
                }
            )
        return pd.DataFrame(rows)

    def estate_table(self) -> pd.DataFrame:
        """Estate released/added as a two-column table (metric, value with unit in name)."""
        e = self.estate
        items: list[tuple[str, float | None]] = [
            ("floor area released (m²)", e.floor_area_released_m2),
            ("floor area added (m²)", e.floor_area_added_m2),
            ("net floor area released (m²)", e.floor_area_released_m2 - e.floor_area_added_m2),
            ("running cost released (£/year)", e.running_cost_released_gbp),
            ("running cost added (£/year)", e.running_cost_added_gbp),
            (
                "net running cost released (£/year)",
                e.running_cost_released_gbp - e.running_cost_added_gbp,
            ),
            ("land released (ha)", e.land_released_ha),
            ("land added (ha)", e.land_added_ha),
            ("receipt rate (£/ha)", e.receipt_per_ha_gbp),
            ("estimated receipt (£)", e.receipt_gbp),
        ]
        return pd.DataFrame(items, columns=["metric", "value"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (for the API job result)."""

        def clean(v: Any) -> Any:
            if isinstance(v, float) and not math.isfinite(v):
                return None
            return v

        return {
            "scenario": self.scenario.to_dict(),
            "threshold_min": self.threshold_min,
            "bands_min": list(self.bands_min),
            "summary": [
                {k: clean(v) for k, v in r.items()}
                for r in self.summary_table().to_dict(orient="records")
            ],
            "estate": [
                {k: clean(v) for k, v in r.items()}
                for r in self.estate_table().to_dict(orient="records")
            ],
            "loses": {
                m: {
                    "by_age": {str(k): float(v) for k, v in r.by_age("loses").items()},
                    "by_imd": {str(k): float(v) for k, v in r.by_imd("loses").items()},
                }
                for m, r in self.modes.items()
            },
            "gains": {
                m: {
                    "by_age": {str(k): float(v) for k, v in r.by_age("gains").items()},
                    "by_imd": {str(k): float(v) for k, v in r.by_imd("gains").items()},
                }
                for m, r in self.modes.items()
            },
            "notes": self.notes,
        }


# --------------------------------------------------------------------------- evaluation


def _prepare_travel_times(travel_times: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("from_id", "to_id", "seconds") if c not in travel_times.columns]
    if missing:
        raise ValueError(f"travel_times is missing columns {missing}")
    tt = travel_times.copy()
    if "mode" not in tt.columns:
        tt["mode"] = "all"
    tt = tt.astype({"from_id": str, "to_id": str, "mode": str})
    tt["seconds"] = pd.to_numeric(tt["seconds"], errors="coerce").astype("float64")
    return tt[tt["seconds"].notna()]


def _sites_frame(baseline_sites: pd.DataFrame) -> pd.DataFrame:
    if "site_id" not in baseline_sites.columns:
        raise ValueError("baseline_sites needs a site_id column")
    s = pd.DataFrame(baseline_sites).copy()
    s["site_id"] = s["site_id"].astype(str)
    if s["site_id"].duplicated().any():
        raise ValueError("baseline_sites site_id values must be unique")
    for col in ("gia_m2", "running_cost_gbp", "land_ha", "capacity"):
        s[col] = pd.to_numeric(s[col], errors="coerce") if col in s.columns else np.nan
    if "name" not in s.columns:
        s["name"] = s["site_id"]
    if "active" not in s.columns:
        s["active"] = True
    if "x" not in s.columns or "y" not in s.columns:
        if "geometry" in s.columns:
            points = np.asarray(s["geometry"], dtype=object)
            s["x"] = shapely.get_x(points)
            s["y"] = shapely.get_y(points)
        else:
            s["x"], s["y"] = np.nan, np.nan
    return s


def validate_scenario(
    scenario: Scenario,
    baseline_sites: pd.DataFrame,
    *,
    travel_times: pd.DataFrame | None = None,
    population: pd.DataFrame | None = None,
) -> None:
    """Check that every change refers to sites, age bands and areas that exist.

    Parameters
    ----------
    scenario : Scenario
    baseline_sites : pandas.DataFrame
        Column ``site_id`` (and optionally ``active``: buildings in the estate that do not
        provide the service in the baseline have ``active = False``).
    travel_times : pandas.DataFrame, optional
        When given, every site that serves after the scenario must have times to it (to_id).
    population : pandas.DataFrame, optional
        When given, ``GrowPopulation`` age bands and areas must exist in it.

    Raises
    ------
    ScenarioError
        Listing each problem with the change number (1-based) and type.
    """
    sites = _sites_frame(baseline_sites)
    known = set(sites["site_id"])
    serving = set(sites.loc[sites["active"].astype(bool), "site_id"])
    problems: list[str] = []
    tt_ids: set[str] | None = None
    if travel_times is not None:
        tt_ids = set(_prepare_travel_times(travel_times)["to_id"])
    bands = set(population["age_band"].astype(str)) if population is not None else None
    areas = set(population["area_code"].astype(str)) if population is not None else None

    def need_site(i: int, ch: Any, sid: str, role: str) -> bool:
        if sid not in known:
            what = f"{role} site id" if role else "site id"
            problems.append(f"{_change_label(i, ch)}: unknown {what} {sid!r}")
            return False
        return True

    if not scenario.name.strip():
        problems.append("scenario name must not be empty")
    for i, ch in enumerate(scenario.changes, start=1):
        label = _change_label(i, ch)
        if isinstance(ch, CloseSites):
            if not ch.site_ids:
                problems.append(f"{label}: no site ids given")
            for sid in map(str, ch.site_ids):
                if need_site(i, ch, sid, "") and sid not in serving:
                    problems.append(f"{label}: site {sid!r} is not serving (already closed?)")
                serving.discard(sid)
        elif isinstance(ch, OpenSite):
            sid = str(ch.site_id)
            if sid in serving:
                problems.append(f"{label}: site id {sid!r} is already serving")
            at_point = ch.x is not None and ch.y is not None
            if ch.at_site_id is None and not at_point and sid not in known:
                problems.append(f"{label}: give at_site_id (an existing building) or x and y")
            if ch.at_site_id is not None:
                need_site(i, ch, str(ch.at_site_id), "at_site_id")
            if ch.gia_m2 < 0 or ch.land_ha < 0:
                problems.append(f"{label}: gia_m2 and land_ha must be >= 0")
            if tt_ids is not None and sid not in tt_ids and str(ch.at_site_id) not in tt_ids:
                problems.append(f"{label}: no travel times to site {sid!r} in the matrix")
            known.add(sid)
            serving.add(sid)
        elif isinstance(ch, MoveService):
            src, dst = str(ch.from_site_id), str(ch.to_site_id)
            if need_site(i, ch, src, "from") and src not in serving:
                problems.append(f"{label}: from site {src!r} is not serving")
            if need_site(i, ch, dst, "to") and tt_ids is not None and dst not in tt_ids:
                problems.append(f"{label}: no travel times to site {dst!r} in the matrix")
            serving.discard(src)
            serving.add(dst)
        elif isinstance(ch, ChangeCapacity):
            sid = str(ch.site_id)
            if need_site(i, ch, sid, "") and not math.isfinite(float(ch.capacity)):
                problems.append(f"{label}: capacity must be a finite number")
            if float(ch.capacity) <= 0:
                serving.discard(sid)
        elif isinstance(ch, GrowPopulation):
            if not ch.factor > 0 or not math.isfinite(float(ch.factor)):
                problems.append(f"{label}: factor must be a positive number, got {ch.factor!r}")
            if not ch.age_bands:
                problems.append(f"{label}: no age bands given")
            if bands is not None:
                bad = [b for b in ch.age_bands if b not in bands]
                if bad:
                    problems.append(f"{label}: unknown age band(s) {bad}; known: {sorted(bands)}")
            if areas is not None and ch.area_codes:
                bad = [a for a in map(str, ch.area_codes) if a not in areas]
                if bad:
                    problems.append(f"{label}: unknown area code(s) {bad[:5]}")
        else:
            problems.append(f"{label}: unsupported change {type(ch).__name__}")
    if tt_ids is not None:
        for sid in sorted(serving - tt_ids):
            if sid in set(sites["site_id"]):
                problems.append(f"baseline site {sid!r} has no travel times in the matrix")
    if problems:
        raise ScenarioError(problems)


def _weighted_p(times: np.ndarray, weights: np.ndarray, q: float) -> float:
    ok = np.isfinite(times) & (weights > 0)
    if not ok.any():
        return float("nan")
    t, w = times[ok], weights[ok]
    order = np.argsort(t, kind="stable")
    t, w = t[order], w[order]
    cum = np.cumsum(w)
    k = int(np.searchsorted(cum, q * cum[-1] - 1e-9 * cum[-1], side="left"))
    return float(t[min(k, len(t) - 1)])


def _summary(
    times: np.ndarray, pop: np.ndarray, bands_min: Sequence[int], threshold_min: float
) -> AccessSummary:
    finite = np.isfinite(times)
    reach = pop[finite].sum()
    mean = float((times[finite] * pop[finite]).sum() / reach) if reach > 0 else float("nan")
    return AccessSummary(
        population=float(pop.sum()),
        within={int(b): float(pop[times <= b * 60.0].sum()) for b in bands_min},
        mean_s=mean,
        p95_s=_weighted_p(times, pop, 0.95),
        unreachable=float(pop[~finite].sum()),
        within_threshold=float(pop[times <= threshold_min * 60.0].sum()),
    )


def _nearest(matrix: pd.DataFrame, site_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    cols = [c for c in site_ids if c in matrix.columns]
    if not cols:
        n = len(matrix.index)
        return np.full(n, np.inf), np.full(n, None, dtype=object)
    sub = matrix[cols].to_numpy(dtype="float64")
    filled = np.where(np.isnan(sub), np.inf, sub)
    j = np.argmin(filled, axis=1)
    t = filled[np.arange(len(j)), j]
    ids = np.array(cols, dtype=object)[j]
    ids[~np.isfinite(t)] = None
    return t, ids


def evaluate_scenario(
    baseline_sites: pd.DataFrame,
    scenario: Scenario,
    *,
    travel_times: pd.DataFrame,
    population: pd.DataFrame,
    imd: Mapping[str, int] | pd.Series | None = None,
    bands_min: Sequence[int] = (10, 20, 30),
    threshold_min: float = 20.0,
    cost_per_m2: float | None = None,
    receipt_per_ha: float | None = None,
) -> ScenarioResult:
    """Evaluate a scenario against the baseline (definitions in the module docstring).

    Parameters
    ----------
    baseline_sites : pandas.DataFrame
        Service sites: ``site_id``, optional ``name``, ``active`` (default True; False for
        buildings that could host a service but do not yet), ``gia_m2`` (m²),
        ``running_cost_gbp`` (£/year), ``land_ha`` (ha), ``capacity``, and ``x``/``y`` or a
        point ``geometry`` (EPSG:27700) for maps.
    scenario : Scenario
        Validated here with :func:`validate_scenario`.
    travel_times : pandas.DataFrame
        Long matrix ``from_id`` (area code), ``to_id`` (site id), ``seconds`` and optionally
        ``mode``; must cover every site serving in the baseline or the scenario.
    population : pandas.DataFrame
        Long table ``area_code``, ``age_band``, ``count`` (persons).
    imd : mapping or pandas.Series, optional
        Area code → IMD decile (1 = most deprived); missing areas get decile 0 ("unknown").
    bands_min : sequence of int, default (10, 20, 30)
        Travel-time bands, minutes.
    threshold_min : float, default 20.0
        Access threshold, minutes, for who loses or gains access.
    cost_per_m2 : float, optional
        £/m²/year for sites without a running cost (ERIC rate or user input).
    receipt_per_ha : float, optional
        £ per hectare of land released, for the estimated receipt.

    Returns
    -------
    ScenarioResult
    """
    tt = _prepare_travel_times(travel_times)
    pop = population[["area_code", "age_band", "count"]].copy()
    pop = pop.astype({"area_code": str, "age_band": str})
    pop["count"] = pd.to_numeric(pop["count"], errors="raise").astype("float64")
    validate_scenario(scenario, baseline_sites, travel_times=tt, population=pop)
    if threshold_min <= 0 or any(b <= 0 for b in bands_min):
        raise ValueError("threshold_min and bands_min must be positive (minutes)")

    sites = _sites_frame(baseline_sites)
    sites["status"] = np.where(sites["active"].astype(bool), "kept", "not serving")
    serving = list(sites.loc[sites["active"].astype(bool), "site_id"])
    base_serving = list(serving)
    alias: dict[str, str] = {}  # new site id -> building whose times it uses
    released: list[dict[str, Any]] = []
    added: list[dict[str, Any]] = []
    scen_pop = pop.copy()

    def site_row(sid: str) -> pd.Series:
        return sites.loc[sites["site_id"] == sid].iloc[0]

    def release(sid: str, reason: str) -> None:
        r = site_row(sid)
        released.append(
            {
                "site_id": sid,
                "name": r["name"],
                "change": reason,
                "gia_m2": r["gia_m2"],
                "running_cost_gbp": r["running_cost_gbp"],
                "land_ha": r["land_ha"],
            }
        )

    for ch in scenario.changes:
        if isinstance(ch, CloseSites):
            for sid in map(str, ch.site_ids):
                serving.remove(sid)
                sites.loc[sites["site_id"] == sid, "status"] = "closed"
                release(sid, "closed")
        elif isinstance(ch, OpenSite):
            sid = str(ch.site_id)
            if sid not in set(tt["to_id"]) and ch.at_site_id is not None:
                alias[sid] = str(ch.at_site_id)
            x, y = ch.x, ch.y
            if ch.at_site_id is not None and (x is None or y is None):
                host = site_row(str(ch.at_site_id))
                x, y = host["x"], host["y"]
            new: dict[str, Any] = {
                "site_id": sid,
                "name": ch.name or sid,
                "active": True,
                "gia_m2": ch.gia_m2,
                "running_cost_gbp": ch.running_cost_gbp,
                "land_ha": ch.land_ha,
                "capacity": ch.capacity,
                "x": x,
                "y": y,
                "status": "opened",
            }
            if sid in set(sites["site_id"]):
                for k, v in new.items():
                    if k != "site_id" and v is not None:
                        sites.loc[sites["site_id"] == sid, k] = v
            else:
                sites = pd.concat([sites, pd.DataFrame([new])], ignore_index=True)
            serving.append(sid)
            added.append(
                {
                    "site_id": sid,
                    "name": new["name"],
                    "change": "opened",
                    "gia_m2": ch.gia_m2,
                    "running_cost_gbp": ch.running_cost_gbp,
                    "land_ha": ch.land_ha,
                }
            )
        elif isinstance(ch, MoveService):
            src, dst = str(ch.from_site_id), str(ch.to_site_id)
            serving.remove(src)
            sites.loc[sites["site_id"] == src, "status"] = "closed (service moved)"
            if ch.release_building:
                release(src, f"service moved to {dst}")
            if dst not in serving:
                serving.append(dst)
                sites.loc[sites["site_id"] == dst, "status"] = "opened (service moved in)"
        elif isinstance(ch, ChangeCapacity):
            sid = str(ch.site_id)
            sites.loc[sites["site_id"] == sid, "capacity"] = float(ch.capacity)
            if float(ch.capacity) <= 0 and sid in serving:
                serving.remove(sid)
                sites.loc[sites["site_id"] == sid, "status"] = "capacity 0"
        elif isinstance(ch, GrowPopulation):
            mask = scen_pop["age_band"].isin(list(ch.age_bands))
            if ch.area_codes:
                mask &= scen_pop["area_code"].isin([str(a) for a in ch.area_codes])
            scen_pop.loc[mask, "count"] = scen_pop.loc[mask, "count"] * float(ch.factor)

    # Times for aliased new sites come from their building.
    if alias:
        extra = []
        for new_id, host_id in alias.items():
            rows = tt[tt["to_id"] == host_id].copy()
            rows["to_id"] = new_id
            extra.append(rows)
        tt = pd.concat([tt, *extra], ignore_index=True)

    area_codes = sorted(set(pop["area_code"]))
    imd_map = pd.Series(dict(imd) if imd is not None else {}, dtype="float64")
    imd_map.index = imd_map.index.astype(str)
    deciles = pd.Series(area_codes).map(imd_map).fillna(0).astype(int).to_numpy()
    pop_b = pop.groupby("area_code")["count"].sum().reindex(area_codes).fillna(0.0).to_numpy()
    pop_s = scen_pop.groupby("area_code")["count"].sum().reindex(area_codes).fillna(0.0)
    pop_s_arr = pop_s.to_numpy()
    threshold_s = float(threshold_min) * 60.0

    modes: dict[str, ModeResult] = {}
    for mode, g in tt.groupby("mode", sort=True):
        matrix = g.pivot_table(index="from_id", columns="to_id", values="seconds", aggfunc="min")
        matrix = matrix.reindex(area_codes)
        tb, sb = _nearest(matrix, base_serving)
        ts, ss = _nearest(matrix, serving)
        lose = (tb <= threshold_s) & ~(ts <= threshold_s)
        gain = ~(tb <= threshold_s) & (ts <= threshold_s)
        areas = pd.DataFrame(
            {
                "area_code": area_codes,
                "imd_decile": deciles,
                "population_baseline": pop_b,
                "population_scenario": pop_s_arr,
                "baseline_s": tb,
                "scenario_s": ts,
                "baseline_site": sb,
                "scenario_site": ss,
                "change_s": ts - tb,
                "status": np.where(lose, "loses", np.where(gain, "gains", "unchanged")),
            }
        )

        def people(mask: np.ndarray, areas: pd.DataFrame = areas) -> pd.DataFrame:
            codes = set(areas.loc[mask, "area_code"])
            t = scen_pop[scen_pop["area_code"].isin(codes)].copy()
            t["imd_decile"] = t["area_code"].map(imd_map).fillna(0).astype(int)
            return t.rename(columns={"count": "persons"})[
                ["area_code", "age_band", "imd_decile", "persons"]
            ].reset_index(drop=True)

        modes[str(mode)] = ModeResult(
            mode=str(mode),
            baseline=_summary(tb, pop_b, bands_min, threshold_min),
            scenario=_summary(ts, pop_s_arr, bands_min, threshold_min),
            areas=areas,
            loses=people(lose),
            gains=people(gain),
        )

    estate = _estate_change(released, added, cost_per_m2, receipt_per_ha)
    notes = [
        "travel time = time from each area's population-weighted point to its nearest serving "
        "site; mean and 95th percentile are population weighted over reachable persons",
        f"loses/gains access: nearest-site time crosses {threshold_min:g} min "
        "(counted in scenario population)",
    ]
    if cost_per_m2 is not None:
        notes.append(f"running cost where missing = floor area × £{cost_per_m2:,.2f}/m²/year")
    return ScenarioResult(
        scenario=scenario,
        threshold_min=float(threshold_min),
        bands_min=tuple(int(b) for b in bands_min),
        modes=modes,
        estate=estate,
        sites=sites.reset_index(drop=True),
        notes=notes,
    )


def _cost(row: Mapping[str, Any], cost_per_m2: float | None) -> tuple[float, str]:
    cost = row.get("running_cost_gbp")
    if cost is not None and not pd.isna(cost):
        return float(cost), "site figure"
    gia = row.get("gia_m2")
    if cost_per_m2 is not None and gia is not None and not pd.isna(gia):
        return float(gia) * float(cost_per_m2), "floor area × £/m²"
    return 0.0, "unknown"


def _estate_change(
    released: list[dict[str, Any]],
    added: list[dict[str, Any]],
    cost_per_m2: float | None,
    receipt_per_ha: float | None,
) -> EstateChange:
    rows = []
    for direction, items in (("released", released), ("added", added)):
        for r in items:
            cost, how = _cost(r, cost_per_m2)
            rows.append(
                {**r, "direction": direction, "running_cost_gbp": cost, "running_cost_method": how}
            )
    table = pd.DataFrame(
        rows,
        columns=[
            "site_id",
            "name",
            "change",
            "direction",
            "gia_m2",
            "running_cost_gbp",
            "running_cost_method",
            "land_ha",
        ],
    )
    for col in ("gia_m2", "running_cost_gbp", "land_ha"):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype("float64")
    rel = table[table["direction"] == "released"]
    add = table[table["direction"] == "added"]
    land = float(rel["land_ha"].sum())
    return EstateChange(
        floor_area_released_m2=float(rel["gia_m2"].sum()),
        floor_area_added_m2=float(add["gia_m2"].sum()),
        running_cost_released_gbp=float(rel["running_cost_gbp"].sum()),
        running_cost_added_gbp=float(add["running_cost_gbp"].sum()),
        land_released_ha=land,
        land_added_ha=float(add["land_ha"].sum()),
        receipt_per_ha_gbp=receipt_per_ha,
        receipt_gbp=None if receipt_per_ha is None else land * float(receipt_per_ha),
        cost_per_m2_gbp=cost_per_m2,
        sites=table,
    )


def compare_scenarios(a: ScenarioResult, b: ScenarioResult) -> pd.DataFrame:
    """Two evaluated scenarios side by side.

    Parameters
    ----------
    a, b : ScenarioResult
        Results over the same baseline (same areas, modes and bands).

    Returns
    -------
    pandas.DataFrame
        Columns ``mode``, ``metric``, ``baseline``, ``<a name v<version>>``,
        ``<b name v<version>>`` and ``difference`` (b − a). Estate rows have mode ``"estate"``.
        Times in minutes, populations in persons, money in £.
    """
    if a.bands_min != b.bands_min or a.threshold_min != b.threshold_min:
        raise ValueError("scenarios were evaluated with different bands or thresholds")
    name_a = f"{a.scenario.name} v{a.scenario.version}"
    name_b = f"{b.scenario.name} v{b.scenario.version}"
    if name_a == name_b:
        name_a, name_b = f"A: {name_a}", f"B: {name_b}"
    ta = a.summary_table().rename(columns={"scenario": name_a})
    tb = b.summary_table().rename(columns={"scenario": name_b})
    merged = ta[["mode", "metric", "baseline", name_a]].merge(
        tb[["mode", "metric", name_b]], on=["mode", "metric"], how="outer", sort=False
    )
    ea = a.estate_table().rename(columns={"value": name_a})
    eb = b.estate_table().rename(columns={"value": name_b})
    est = ea.merge(eb, on="metric", how="outer", sort=False)
    est.insert(0, "mode", "estate")
    est.insert(2, "baseline", np.nan)
    out = pd.concat([merged, est], ignore_index=True)
    out[name_a] = pd.to_numeric(out[name_a], errors="coerce")
    out[name_b] = pd.to_numeric(out[name_b], errors="coerce")
    out["difference"] = out[name_b] - out[name_a]
    return out
