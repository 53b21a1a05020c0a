"""Evaluating a stored scenario, its results as stored job results, reports and exports.

:class:`EvaluationParams` is THE inputs of the ``scenario-evaluation`` process;
:func:`evaluate` runs :func:`spatial.scenario.evaluate_scenario` on the sites the caller may
see and the stored travel times (plus times to new point sites computed on the mode's
:class:`~app.services.sources.TravelTimeSource`).
:func:`result_to_json` is what the ``scenario-evaluation`` process stores: the
:meth:`spatial.scenario.ScenarioResult.to_dict` summary plus ``metadata`` and the ``detail``
(per-area before/after, who loses and gains, estate sites) from which
:func:`result_from_json` rebuilds the result for the report, the GeoPackage, the CSVs and
``/scenarios/compare``.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.reports import scenario_layers, scenario_report, to_csv, to_geopackage
from app.services.estate_common import AREA_VINTAGE, clean, estate_areas, records
from app.services.register import cost_rate
from app.services.scenarios import (
    ScenarioInputError,
    baseline_sites,
    population_long,
    resolve_references,
)
from app.services.sources import NoNetworkError, TravelTimeSource
from app.services.traveltimes import stored_metadata, travel_time_source
from config.settings import Settings
from spatial.kinds import KIND_PATTERN
from spatial.modes import Mode
from spatial.scenario import (
    AccessSummary,
    EstateChange,
    ModeResult,
    OpenSite,
    Scenario,
    ScenarioError,
    ScenarioResult,
    evaluate_scenario,
)
from store import estate as estate_store
from store.access import Principal
from store.connection import Database
from store.traveltimes import stored_times

__all__ = [
    "EvaluationParams",
    "ExportFormat",
    "evaluate",
    "point_site_times",
    "render_export",
    "result_from_json",
    "result_to_json",
]

ExportFormat = Literal["html", "pdf", "gpkg", "csv"]
Progress = Callable[[float, str], None]
Kind = Annotated[str, Field(pattern=KIND_PATTERN)]


def _drive() -> list[Mode]:
    return ["drive"]


class EvaluationParams(BaseModel):
    """How to evaluate a stored scenario: the inputs of the ``scenario-evaluation`` process."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    scenario_id: int = Field(
        ..., ge=1, le=2**63 - 1, description="id of a stored scenario (/scenarios)"
    )
    kinds: list[Kind] = Field(
        default_factory=lambda: ["gp_practice"],
        min_length=1,
        max_length=20,
        description="site kinds providing the service whose access is measured",
    )
    modes: list[Mode] = Field(
        default_factory=_drive,
        min_length=1,
        max_length=4,
        description="modes",
    )
    bands: list[int] = Field(
        default_factory=lambda: [10, 20, 30],
        min_length=1,
        max_length=10,
        description="travel-time bands, whole minutes (1-120)",
    )
    threshold_min: float = Field(
        20.0, gt=0, le=180, description="access threshold, minutes (who loses / gains)"
    )
    cost_per_m2: float | None = Field(
        None,
        gt=0,
        le=10000,
        description="£/m²/year where a site has no running cost "
        "(default: ERIC floor-area-weighted rate)",
    )
    receipt_per_ha: float | None = Field(
        None, ge=0, le=1e9, description="£ per hectare of land released (estimated receipt)"
    )

    @field_validator("bands")
    @classmethod
    def _bands(cls, value: list[int]) -> list[int]:
        if any(b < 1 or b > 120 for b in value):
            raise ValueError("each band must be between 1 and 120 minutes")
        return sorted(set(value))


def point_site_times(
    source: TravelTimeSource, areas: pd.DataFrame, points: pd.DataFrame
) -> pd.DataFrame:
    """Area → new point site times on ``source`` (``from_id, to_id, mode, seconds``).

    ``areas``: ``code, x, y`` (representative points); ``points``: ``site_id, x, y``, all
    EPSG:27700 metres. Unreached pairs are left out, as in the stored times.
    """
    times = source.times(areas, points).seconds
    ii, jj = np.nonzero(np.isfinite(times))
    return pd.DataFrame(
        {
            "from_id": areas["code"].to_numpy()[ii],
            "to_id": points["site_id"].to_numpy()[jj],
            "mode": source.mode,
            "seconds": times[ii, jj],
        }
    )


def _stored_model(db: Database, mode: Mode) -> dict[str, Any]:
    """The model of ``mode``'s stored times (:func:`app.services.traveltimes.stored_metadata`);
    when its data is no longer loaded, the mode and why."""
    try:
        return stored_metadata(db, mode)
    except NoNetworkError as exc:
        return {"mode": mode, "detail": str(exc)}


def evaluate(
    db: Database,
    settings: Settings,
    principal: Principal,
    definition: Mapping[str, Any],
    params: EvaluationParams,
    *,
    progress: Progress | None = None,
) -> tuple[ScenarioResult, dict[str, Any]]:
    """Evaluate a stored scenario definition on stored travel times (plus new point sites,
    whose times are computed on :func:`app.services.traveltimes.travel_time_source` with
    ``settings``).

    Returns the result and metadata: cost rate used, data sources the caller may see and, per
    mode, the model of the times (``travel_times``: the stored times' network load and
    speeds or feed, and ``new_site_times`` for times computed now to new point sites).

    Raises
    ------
    ScenarioInputError
        When a reference is unknown, no visible site is of ``params.kinds``, a mode has no
        stored times (or no data to compute new sites' times on), or the scenario does not
        apply to the baseline.
    """
    scenario = Scenario.from_dict(definition)
    with db.connection() as conn:
        sites = estate_store.visible_sites(conn, principal)
        sources = estate_store.data_sources(conn, principal)
        times = [
            stored_times(conn, principal, mode=m, area_vintage=AREA_VINTAGE) for m in params.modes
        ]
    areas = estate_areas(db)
    rate = params.cost_per_m2 if params.cost_per_m2 is not None else cost_rate(db, principal)
    problems = resolve_references(scenario, sites)
    if problems:
        raise ScenarioInputError(problems)
    base = baseline_sites(sites, params.kinds)
    if not bool(base["active"].any()):
        raise ScenarioInputError([f"no visible sites of kind(s) {list(params.kinds)}"])
    visible_ids = set(base["site_id"])
    tt = pd.concat(times, ignore_index=True).astype({"to_id": str})
    tt = tt[tt["to_id"].isin(visible_ids)]
    new_points = [
        ch
        for ch in scenario.changes
        if isinstance(ch, OpenSite)
        and ch.at_site_id is None
        and ch.x is not None
        and ch.y is not None
        and str(ch.site_id) not in visible_ids
    ]
    models = {m: _stored_model(db, m) for m in params.modes}
    if new_points:
        pts = pd.DataFrame(
            {
                "site_id": [str(c.site_id) for c in new_points],
                "x": [float(c.x) for c in new_points if c.x is not None],
                "y": [float(c.y) for c in new_points if c.y is not None],
            }
        )
        for m in params.modes:
            if progress:
                progress(30, f"computing {m} times to {len(pts)} new site(s) on the network")
            try:
                source = travel_time_source(db, settings, m)
            except NoNetworkError as exc:
                raise ScenarioInputError([f"mode {m!r}: {exc}"]) from None
            models[m]["new_site_times"] = source.metadata
            tt = pd.concat([tt, point_site_times(source, areas, pts)], ignore_index=True)
    missing = [m for m in params.modes if not (tt["mode"] == m).any()]
    if missing:
        raise ScenarioInputError([f"no stored travel times for mode(s) {missing}"])
    if progress:
        progress(50, "evaluating the scenario against the baseline")
    try:
        result = evaluate_scenario(
            base,
            scenario,
            travel_times=tt[["from_id", "to_id", "mode", "seconds"]],
            population=population_long(areas),
            imd=pd.Series(
                pd.to_numeric(areas["imd_decile"], errors="coerce").to_numpy(),
                index=areas["code"].astype(str),
            ).dropna(),
            bands_min=tuple(params.bands),
            threshold_min=params.threshold_min,
            cost_per_m2=rate,
            receipt_per_ha=params.receipt_per_ha,
        )
    except ScenarioError as exc:
        raise ScenarioInputError(exc.problems) from None
    meta = {
        "cost_per_m2_gbp": rate,
        "cost_per_m2_source": "input"
        if params.cost_per_m2 is not None
        else ("ERIC (floor-area weighted)" if rate is not None else None),
        "kinds": list(params.kinds),
        "area_vintage": AREA_VINTAGE,
        "sources": [list(s) for s in sources],
        "travel_times": models,
    }
    return result, meta


def result_to_json(result: ScenarioResult, meta: Mapping[str, Any]) -> dict[str, Any]:
    """``result.to_dict()`` plus the detail needed to rebuild it for reports and comparison."""
    out: dict[str, Any] = clean(result.to_dict())
    out["metadata"] = clean(dict(meta))
    out["detail"] = {
        "modes": {
            m: {
                "baseline": clean(asdict(r.baseline)),
                "scenario": clean(asdict(r.scenario)),
                "areas": records(r.areas),
                "loses": records(r.loses),
                "gains": records(r.gains),
            }
            for m, r in result.modes.items()
        },
        "estate": clean(
            {k: v for k, v in asdict(result.estate).items() if k != "sites"}
            | {"sites": records(result.estate.sites)}
        ),
        "sites": records(
            result.sites.drop(
                columns=[c for c in ("geometry", "attributes") if c in result.sites.columns]
            )
        ),
    }
    return out


def _summary_from(d: Mapping[str, Any]) -> AccessSummary:
    def num(v: Any) -> float:
        return float("nan") if v is None else float(v)

    return AccessSummary(
        population=num(d["population"]),
        within={int(k): num(v) for k, v in d["within"].items()},
        mean_s=num(d["mean_s"]),
        p95_s=num(d["p95_s"]),
        unreachable=num(d["unreachable"]),
        within_threshold=num(d["within_threshold"]),
    )


def result_from_json(data: Mapping[str, Any]) -> ScenarioResult:
    """Rebuild a :class:`ScenarioResult` from :func:`result_to_json` output."""
    detail = data["detail"]
    modes = {}
    for m, d in detail["modes"].items():
        areas = pd.DataFrame(d["areas"])
        for c in ("baseline_s", "scenario_s", "change_s"):
            if c in areas.columns:
                areas[c] = pd.to_numeric(areas[c], errors="coerce").astype("float64")
        areas["baseline_s"] = areas["baseline_s"].fillna(np.inf)
        areas["scenario_s"] = areas["scenario_s"].fillna(np.inf)
        cols = ["area_code", "age_band", "imd_decile", "persons"]
        modes[m] = ModeResult(
            mode=m,
            baseline=_summary_from(d["baseline"]),
            scenario=_summary_from(d["scenario"]),
            areas=areas,
            loses=pd.DataFrame(d["loses"], columns=cols),
            gains=pd.DataFrame(d["gains"], columns=cols),
        )
    e = dict(detail["estate"])
    estate_sites = pd.DataFrame(e.pop("sites"))
    estate = EstateChange(**e, sites=estate_sites)
    return ScenarioResult(
        scenario=Scenario.from_dict(data["scenario"]),
        threshold_min=float(data["threshold_min"]),
        bands_min=tuple(int(b) for b in data["bands_min"]),
        modes=modes,
        estate=estate,
        sites=pd.DataFrame(detail["sites"]),
        notes=list(data.get("notes", [])),
    )


def render_export(
    results: Mapping[str, Any],
    areas: gpd.GeoDataFrame,
    sources: Sequence[tuple[str, str, str, str]],
    fmt: ExportFormat,
) -> tuple[bytes, str, str]:
    """A stored evaluation as a report (html, pdf) or export (gpkg, zip of csv).

    Returns ``(content, media type, file name)``; ``areas`` are the polygons of the areas in
    the results, ``sources`` the data sources recorded with them.
    """
    result = result_from_json(results)
    slug = "scenario-" + "".join(c if c.isalnum() else "-" for c in result.scenario.name)[:40]
    slug += f"-v{result.scenario.version}"
    if fmt in ("html", "pdf"):
        html, pdf = scenario_report(
            result,
            areas=areas,
            sources=sources,
            pdf_engine="auto" if fmt == "pdf" else "matplotlib",
        )
        if fmt == "html":
            return html.encode("utf-8"), "text/html; charset=utf-8", f"{slug}.html"
        return pdf, "application/pdf", f"{slug}.pdf"
    layers = scenario_layers(result, areas)
    with tempfile.TemporaryDirectory(prefix="locus-scenario-") as tmp:
        if fmt == "gpkg":
            path = to_geopackage(Path(tmp) / f"{slug}.gpkg", layers)
            return path.read_bytes(), "application/geopackage+sqlite3", f"{slug}.gpkg"
        files = to_csv(Path(tmp) / "csv", dict(layers))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in files:
                zf.write(p, arcname=p.name)
        return buf.getvalue(), "application/zip", f"{slug}-csv.zip"
