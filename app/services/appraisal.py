"""Options appraisal: evaluate N options alike, build the criteria matrix, rank, test the ranking.

:class:`~app.services.appraisal_params.AppraisalParams` is THE inputs of the
``options-appraisal`` process. Options are

- ``baseline``: today's sites of ``kinds`` (an empty scenario);
- ``scenario:<id>``: a saved scenario (``/scenarios``). A scenario-evaluation job with the
  same settings that finished after the newest data load and computation is reused; else the
  scenario is evaluated inside this job;
- ``hub-siting:<job id>``: a successful ``hub-siting`` job, turned into a scenario by
  :func:`hub_siting_scenario` (close today's sites that were not chosen, open the chosen
  candidate sites that do not serve today) and evaluated here.

Every option is evaluated with the same kinds, modes, bands, threshold and rates
(:func:`app.services.scenario_evaluation.evaluate`), its criteria values are read by
:func:`app.services.appraisal_criteria.option_measures`, and
:func:`spatial.appraisal.appraise` scores, ranks, marks the Pareto set and measures the
weight sensitivity; with ``uncertainty`` the ranks are also drawn by Monte Carlo.
:func:`rescore` re-ranks a finished appraisal with other weights or ranges without
re-evaluating anything (what the workbench calls while weights are dragged).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from app.reports import Source
from app.reports.consultation import consultation_pack
from app.services.appraisal_capacity import capacity_basis, option_capacity
from app.services.appraisal_criteria import CAPACITY_HINT, option_measures
from app.services.appraisal_params import (
    AppraisalInputError,
    AppraisalParams,
    Uncertainty,
    weights_problems,
)
from app.services.estate_common import AREA_VINTAGE, clean, estate_areas
from app.services.scenario_evaluation import evaluate, result_from_json, result_to_json
from app.services.scenarios import ScenarioInputError, get_scenario, population_long
from config.settings import Settings
from spatial.appraisal import Appraisal, Criterion, appraise, monte_carlo
from spatial.burden import EMISSION_FACTORS, VISIT_RATE_SOURCE
from spatial.scenario import CloseSites, OpenSite, Scenario, ScenarioResult
from store import estate as estate_store
from store import jobs as job_store
from store.access import Principal
from store.connection import Database

__all__ = [
    "AppraisalInputError",
    "AppraisalParams",
    "Uncertainty",
    "hub_siting_scenario",
    "render_pack",
    "rescore",
    "run_appraisal",
]

Progress = Callable[[float, str], None]


# ------------------------------------------------------------------------------ hub siting
def hub_siting_scenario(
    results: Mapping[str, Any],
    *,
    job_id: str,
    name: str | None = None,
    description: str | None = None,
    serving: set[str] | None = None,
) -> tuple[Scenario, list[str]]:
    """A hub-siting result as a scenario, and notes on what was left out.

    Closes the job's baseline sites (``parameters.baseline_sites``: today's sites of its
    baseline kinds among the candidates) that were not chosen; opens each chosen site that is
    not one of them as a new service ``hub-<site id>`` in that building (``at_site_id``: its
    stored travel times, no floor area added). With ``serving`` (the site ids serving under
    the appraisal's kinds) only serving sites are closed and only non-serving ones opened.
    """
    params = results.get("parameters", {})
    chosen = [c for c in results.get("chosen", []) if c.get("site_id") is not None]
    chosen_ids = {str(c["site_id"]) for c in chosen}
    baseline = [str(s) for s in params.get("baseline_sites", [])]
    notes: list[str] = []
    close = [s for s in baseline if s not in chosen_ids]
    opened = [c for c in chosen if str(c["site_id"]) not in set(baseline)]
    if serving is not None:
        skipped = [s for s in close if s not in serving]
        if skipped:
            notes.append(f"sites {skipped} are not serving under the appraisal's kinds: not closed")
        close = [s for s in close if s in serving]
        already = [str(c["site_id"]) for c in opened if str(c["site_id"]) in serving]
        if already:
            notes.append(f"chosen sites {already} already serve: not opened again")
        opened = [c for c in opened if str(c["site_id"]) not in serving]
    changes: list[Any] = []
    if close:
        changes.append(CloseSites(site_ids=close))
    for c in opened:
        changes.append(
            OpenSite(
                site_id=f"hub-{c['site_id']}",
                name=f"Hub at {c.get('name') or c['site_id']}",
                at_site_id=str(c["site_id"]),
                kind=c.get("kind"),
            )
        )
    objective = params.get("objective", "hub siting")
    p = params.get("p")
    default_name = f"Hub siting: {objective}" + (f", {p} sites" if p else "")
    text = description or (
        f"From hub-siting job {job_id}: {len(chosen)} site(s) chosen "
        f"({', '.join(str(c.get('name')) for c in chosen[:10])}); {len(close)} closed, "
        f"{len(opened)} opened."
    )
    scenario = Scenario(name=name or default_name, changes=changes, description=text[:5000])
    return scenario, notes


# ------------------------------------------------------------------------------ the job
@dataclass
class _Option:
    id: str
    label: str
    kind: str
    definition: dict[str, Any]
    scenario_id: int | None = None
    job: str | None = None
    provenance: str = ""
    result: ScenarioResult | None = None
    evaluation: dict[str, Any] | None = None


def _gather_options(
    db: Database, principal: Principal, params: AppraisalParams, serving: set[str]
) -> tuple[list[_Option], list[str]]:
    options: list[_Option] = []
    notes: list[str] = []
    if params.include_baseline:
        options.append(
            _Option(
                "baseline",
                "Baseline (no change)",
                "baseline",
                {"name": "Baseline", "description": "today's sites", "changes": []},
            )
        )
    missing: list[int] = []
    for sid in params.scenario_ids:
        record = get_scenario(db, principal, sid)
        if record is None:
            missing.append(sid)
            continue
        options.append(
            _Option(
                f"scenario:{sid}",
                f"{record.name} (version {record.version})",
                "scenario",
                record.definition,
                scenario_id=sid,
            )
        )
    if missing:
        raise AppraisalInputError("scenario_ids", [f"no scenario(s) {missing} (or not visible)"])
    bad_jobs: list[str] = []
    with db.connection() as conn:
        for job_id in params.hub_siting_jobs:
            job = job_store.get_job_sync(conn, str(job_id), principal)
            if job is None or job.process_id != "hub-siting" or job.status != "successful":
                bad_jobs.append(str(job_id))
                continue
            scenario, more = hub_siting_scenario(
                job.results or {}, job_id=str(job_id), serving=serving
            )
            notes += [f"hub-siting:{job_id}: {n}" for n in more]
            options.append(
                _Option(
                    f"hub-siting:{job_id}",
                    scenario.name,
                    "hub-siting",
                    scenario.to_dict(),
                    job=str(job_id),
                )
            )
    if bad_jobs:
        raise AppraisalInputError(
            "hub_siting_jobs", [f"jobs {bad_jobs} are not successful hub-siting jobs you can see"]
        )
    return options, notes


def _evaluate(
    db: Database,
    settings: Settings,
    principal: Principal,
    params: AppraisalParams,
    option: _Option,
) -> None:
    inputs = params.evaluation(option.scenario_id or 1)  # evaluate() reads no scenario_id
    if option.scenario_id is not None:
        with db.connection() as conn:
            job = job_store.latest_current_job(
                conn,
                principal,
                process_id="scenario-evaluation",
                inputs=inputs.model_dump(mode="json"),
            )
        if job is not None and job.results is not None:
            option.result = result_from_json(job.results)
            option.evaluation = job.results
            option.provenance = f"scenario-evaluation job {job.id}"
            return
    try:
        result, meta = evaluate(db, settings, principal, option.definition, inputs)
    except ScenarioInputError as exc:
        raise AppraisalInputError(
            option.id, [f"{option.label}: {p}" for p in exc.problems]
        ) from None
    option.result = result
    option.evaluation = result_to_json(result, {**meta, "scenario_id": option.scenario_id})
    option.provenance = "evaluated in this appraisal"


def run_appraisal(
    db: Database,
    settings: Settings,
    principal: Principal,
    params: AppraisalParams,
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Evaluate every option, build the matrix, rank; the results JSON of the process.

    Raises
    ------
    AppraisalInputError
        An option is not there (or not visible), does not apply to today's sites, or the
        weights leave nothing to score.
    """

    def report(pct: float, msg: str) -> None:
        if progress:
            progress(pct, msg)

    with db.connection() as conn:
        sites = estate_store.visible_sites(conn, principal)
    serving = set(sites.loc[sites["kind"].isin(params.kinds), "id"].astype(str))
    backlog = dict(zip(sites["id"].astype(str), sites["backlog_gbp"], strict=True))
    options, notes = _gather_options(db, principal, params, serving)
    for k, option in enumerate(options):
        report(
            5 + 75 * k / len(options),
            f"evaluating option {k + 1} of {len(options)}: {option.label}",
        )
        _evaluate(db, settings, principal, params, option)
    report(82, "building the criteria matrix")
    areas = estate_areas(db)
    age_bands = sorted(set(population_long(areas)["age_band"].astype(str)))
    first = options[0].evaluation or {}
    rate = params.receipt_per_ha
    measures = {}
    for option in options:
        assert option.result is not None
        measures[option.id] = option_measures(
            option.result,
            "baseline" if option.kind == "baseline" else "scenario",
            area_points=areas[["code", "x", "y"]],
            backlog=backlog,
            age_bands=age_bands,
            visits_per_person_year=params.visits_per_person_year,
            route_factor=params.route_factor,
            receipt_rate=rate,
        )
    capacity_assumptions: dict[str, Any] | None = None
    if params.capacity is not None:
        report(85, "sizing each option's catchments against capacity")
        mode = params.modes[0]
        assert options[0].result is not None
        region = set(options[0].result.modes[mode].areas["area_code"].astype(str))
        basis = capacity_basis(
            db,
            principal,
            params.capacity,
            mode=mode,
            kinds=list(params.kinds),
            region=region,
            sites=sites,
        )
        capacity_assumptions = basis.assumptions
        for option in options:
            assert option.result is not None
            values, detail, more = option_capacity(
                basis, option.result, baseline=option.kind == "baseline", label=option.label
            )
            measures[option.id].values |= values
            measures[option.id].capacity = detail
            notes += more
    else:
        notes.append(CAPACITY_HINT)
    catalogue = params.catalogue()
    matrix = pd.DataFrame(
        [[measures[o.id].values.get(c.id, np.nan) for c in catalogue] for o in options],
        index=[o.id for o in options],
        columns=[c.id for c in catalogue],
    )
    dropped = [c.id for c in catalogue if not np.isfinite(matrix[c.id].to_numpy()).any()]
    criteria = [c for c in catalogue if c.id not in dropped]
    if dropped:
        notes.append(f"criteria without a value for any option, left out: {dropped}")
    matrix = matrix[[c.id for c in criteria]]
    weights = params.weights if params.weights is not None else params.default_weights()
    report(90, "scoring, ranking and testing the ranking")
    ranking = _rank(matrix, criteria, weights, params.uncertainty, dropped)
    meta = first.get("metadata", {})
    labels = {o.id: o.label for o in options}
    out: dict[str, Any] = clean(
        {
            "title": params.title,
            "options": [
                {
                    "id": o.id,
                    "label": o.label,
                    "kind": o.kind,
                    "scenario_id": o.scenario_id,
                    "hub_siting_job": o.job,
                    "evaluation": o.provenance,
                    "changes": len(o.definition.get("changes", [])),
                    "description": o.definition.get("description", ""),
                }
                for o in options
            ],
            "criteria": [
                {**_criterion_json(c), "weight": ranking["weights"].get(c.id, 0.0)}
                for c in criteria
            ],
            "dropped_criteria": dropped,
            "matrix": [
                {"option": o, "label": labels[o], "values": dict(matrix.loc[o].items())}
                for o in matrix.index
            ],
            "ranking": ranking,
            "details": {
                o.id: {
                    "modes": measures[o.id].modes,
                    "estate": measures[o.id].estate,
                    **({"capacity": measures[o.id].capacity} if measures[o.id].capacity else {}),
                }
                for o in options
            },
            "assumptions": {
                "visits_per_person_year": params.visits_per_person_year,
                "visit_rate_source": VISIT_RATE_SOURCE,
                "route_factor": params.route_factor,
                "emission_factors": [
                    {
                        "mode": f.mode,
                        "kg_co2e_per_km": f.kg_co2e_per_km,
                        "basis": f.basis,
                        "source": f.source,
                        "year": f.year,
                    }
                    for m, f in EMISSION_FACTORS.items()
                    if m in params.modes
                ],
                "threshold_min": params.threshold_min,
                "bands_min": params.bands,
                "kinds": params.kinds,
                "receipt_per_ha": params.receipt_per_ha,
                "cost_per_m2_gbp": meta.get("cost_per_m2_gbp"),
                "cost_per_m2_source": meta.get("cost_per_m2_source"),
                "capacity": capacity_assumptions,
            },
            "notes": notes,
            "metadata": {
                "area_vintage": AREA_VINTAGE,
                "sources": meta.get("sources", []),
                "travel_times": meta.get("travel_times", {}),
            },
            "evaluations": {o.id: o.evaluation for o in options},
        }
    )
    return out


def _criterion_json(c: Criterion) -> dict[str, Any]:
    return {
        "id": c.id,
        "label": c.label,
        "unit": c.unit,
        "direction": c.direction,
        "group": c.group,
        "description": c.description,
    }


def _rank(
    matrix: pd.DataFrame,
    criteria: list[Criterion],
    weights: Mapping[str, float],
    uncertainty: Uncertainty | None,
    dropped: Sequence[str],
) -> dict[str, Any]:
    """:func:`spatial.appraisal.appraise` with weights on dropped criteria left out (noted)
    and the Monte Carlo over ``uncertainty``'s ranges."""
    notes: list[str] = []
    ids = [c.id for c in criteria]
    ignored = {k: v for k, v in weights.items() if k in set(dropped)}
    if any(v > 0 for v in ignored.values()):
        notes.append(f"weights on criteria left out (no values) ignored: {sorted(ignored)}")
    usable = {k: v for k, v in weights.items() if k not in ignored}
    problems = weights_problems(usable, ids)
    if problems:
        raise AppraisalInputError("weights", problems)
    result: Appraisal = appraise(matrix, criteria, usable)
    if uncertainty is not None:
        low, high, more = _ranges(matrix, uncertainty)
        notes += more
        point = matrix.clip(lower=low, upper=high)
        result.monte_carlo = monte_carlo(
            point.to_numpy(dtype=np.float64),
            low.to_numpy(dtype=np.float64),
            high.to_numpy(dtype=np.float64),
            [c.direction for c in criteria],
            result.weights,
            draws=uncertainty.draws,
            seed=uncertainty.seed,
            distribution=uncertainty.distribution,
        )
    result.notes = notes
    out = result.to_dict()
    out["flip_rule"] = (
        "weight sensitivity: one criterion's weight moves, the others are rescaled "
        "proportionally to keep the sum 1; increase_to/decrease_to is the weight at which "
        "another option's score equals the top option's"
    )
    return out


def _ranges(
    matrix: pd.DataFrame, uncertainty: Uncertainty
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    low, high = matrix.copy(), matrix.copy()
    notes: list[str] = []
    for cid, r in uncertainty.criteria.items():
        if cid not in matrix.columns:
            notes.append(f"range on criterion {cid!r} ignored (left out: no values)")
            continue
        size = matrix[cid].abs()
        low[cid] = matrix[cid] - size * r.minus_pct / 100.0
        high[cid] = matrix[cid] + size * r.plus_pct / 100.0
    for v in uncertainty.values:
        if v.option not in matrix.index or v.criterion not in matrix.columns:
            notes.append(f"range of {v.option} on {v.criterion} ignored (not in the matrix)")
            continue
        low.loc[v.option, v.criterion] = v.low
        high.loc[v.option, v.criterion] = v.high
        value = float(matrix.at[v.option, v.criterion])  # type: ignore[arg-type]
        if np.isfinite(value) and not v.low <= value <= v.high:
            notes.append(
                f"{v.option} on {v.criterion}: computed value {value:g} is outside the given "
                f"range [{v.low:g}, {v.high:g}]; the draws use the range"
            )
    return low, high, notes


def rescore(
    results: Mapping[str, Any],
    weights: Mapping[str, float] | None,
    uncertainty: Uncertainty | None,
) -> dict[str, Any]:
    """Rank a finished appraisal again with other weights and/or ranges (no re-evaluation).

    ``weights`` None keeps the appraisal's own weights.

    Raises
    ------
    AppraisalInputError
        Naming ``weights`` (unknown criteria, negative or non-finite, all zero) or
        ``uncertainty`` (unknown criteria or options).
    """
    criteria = [
        Criterion(c["id"], c["label"], c["unit"], c["direction"], c["group"], c["description"])
        for c in results["criteria"]
    ]
    ids = [c.id for c in criteria]
    dropped = list(results.get("dropped_criteria", []))
    matrix = pd.DataFrame(
        [[_value(row["values"].get(c)) for c in ids] for row in results["matrix"]],
        index=[row["option"] for row in results["matrix"]],
        columns=ids,
    )
    if weights is None:
        weights = results["ranking"]["weights"]
    unknown = [k for k in weights if k not in set(ids) | set(dropped)]
    if unknown:
        raise AppraisalInputError("weights", [f"unknown criteria {sorted(unknown)}; known: {ids}"])
    if uncertainty is not None:
        problems = [
            f"unknown criterion {c!r}"
            for c in uncertainty.criteria
            if c not in set(ids) | set(dropped)
        ]
        problems += [
            f"values[{i}]: option {v.option!r} is not one of {list(matrix.index)}"
            for i, v in enumerate(uncertainty.values)
            if v.option not in matrix.index
        ]
        problems += [
            f"values[{i}]: unknown criterion {v.criterion!r}"
            for i, v in enumerate(uncertainty.values)
            if v.criterion not in set(ids) | set(dropped)
        ]
        if problems:
            raise AppraisalInputError("uncertainty", problems)
    return _rank(matrix, criteria, weights, uncertainty, dropped)


def _value(v: Any) -> float:
    return float("nan") if v is None else float(v)


# ------------------------------------------------------------------------------ the pack
def render_pack(
    results: Mapping[str, Any],
    areas: gpd.GeoDataFrame,
    fmt: Literal["html", "pdf"],
    *,
    pdf_engine: str = "auto",
) -> tuple[bytes, str, str]:
    """The consultation pack of a finished appraisal as ``(content, media type, file name)``.

    ``areas`` are the polygons (``area_code``) of the areas in the evaluations.
    """
    evaluations = {
        o: result_from_json(e) for o, e in results.get("evaluations", {}).items() if e is not None
    }
    sources: list[Source] = [
        (str(a), str(b), str(c), str(d))
        for a, b, c, d in results.get("metadata", {}).get("sources", [])
    ]
    html, pdf = consultation_pack(
        results,
        evaluations,
        areas=areas,
        sources=sources,
        pdf_engine=pdf_engine if fmt == "pdf" else "none",
    )
    slug = "".join(c if c.isalnum() else "-" for c in str(results.get("title", "appraisal")))[:40]
    if fmt == "html":
        return html.encode("utf-8"), "text/html; charset=utf-8", f"{slug}-consultation-pack.html"
    assert pdf is not None
    return pdf, "application/pdf", f"{slug}-consultation-pack.pdf"
