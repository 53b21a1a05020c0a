"""The ``scenario-evaluation`` process: a stored scenario against the baseline, by mode.

Inputs (:class:`app.services.scenario_evaluation.EvaluationParams`) name a stored scenario
(``/scenarios``) and how to measure access: the service's site kinds (``gp_practice`` by
default: those sites are the baseline; every other visible building can host an opened or
moved service), modes, time bands, the threshold for who loses or gains access, the £/m² for
buildings without a running cost (default: the ERIC floor-area-weighted rate) and a £/ha for
the estimated land receipt.

Times are the stored area → site travel times (2021 areas); a site opened at a point that is
not a building in the register gets its area → site times computed on the network on the fly.
Results are :meth:`spatial.scenario.ScenarioResult.to_dict` plus ``metadata`` and ``detail``
(per-area before/after, who loses and gains, estate sites) from which the report, the
GeoPackage, the CSVs and ``/scenarios/compare`` are rebuilt.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from starlette.concurrency import run_in_threadpool

from app.errors import InvalidParameter
from app.jobs.registry import Exporter, Process, ProcessError, RunContext
from app.services import scenarios
from app.services.estate_common import AREA_VINTAGE
from app.services.scenario_evaluation import (
    EvaluationParams,
    ExportFormat,
    evaluate,
    render_export,
    result_to_json,
)
from store import estate as estate_store
from store import scenarios as scenario_store
from store.access import Principal
from store.connection import database
from store.traveltimes import has_travel_times


async def precheck(conn: AsyncConnection[Any], inputs: Any, principal: Principal) -> None:
    """The scenario must be visible; stored times must exist for each mode; the caller must
    see active sites of the kinds."""
    assert isinstance(inputs, EvaluationParams)
    if not await scenario_store.scenario_visible(conn, principal, inputs.scenario_id):
        raise InvalidParameter(f"no scenario {inputs.scenario_id}", parameter="scenario_id")
    for mode in inputs.modes:
        if not await has_travel_times(conn, mode=mode, area_vintage=AREA_VINTAGE):
            raise InvalidParameter(f"no stored {mode} travel times", parameter="modes")
    if not await estate_store.has_active_sites(conn, principal, inputs.kinds):
        raise InvalidParameter(f"no active sites of kind(s) {inputs.kinds}", parameter="kinds")


def run_scenario_evaluation(ctx: RunContext, inputs: EvaluationParams) -> dict[str, Any]:
    """Load the scenario, evaluate it and return the JSON results.

    The settings (which database) come from the runner's context (``ctx.settings``).
    """
    if ctx.settings is None:
        raise ProcessError("internal: the job runner passed no settings")
    db = database(ctx.settings.database, purpose="batch")
    ctx.progress(2, f"loading scenario {inputs.scenario_id}", force=True)
    record = scenarios.get_scenario(db, ctx.principal, inputs.scenario_id)
    if record is None:
        raise ProcessError(f"scenario {inputs.scenario_id} does not exist (or is not visible)")
    try:
        result, meta = evaluate(
            db,
            ctx.settings,
            ctx.principal,
            record.definition,
            inputs,
            progress=lambda p, m: ctx.progress(p, m),
        )
    except scenarios.ScenarioInputError as exc:
        raise ProcessError("; ".join(exc.problems)) from None
    ctx.progress(95, "writing results", force=True)
    return result_to_json(result, {**meta, "scenario_id": record.id})


# ------------------------------------------------------------------------------- downloads
async def redact(
    conn: AsyncConnection[Any], results: dict[str, Any], principal: Principal
) -> dict[str, Any]:
    """The results less the recorded data sources ``principal`` may not see.

    The evaluation recorded the sources its organisation could see, which may include that
    organisation's restricted upload; a public job's report, downloads and JSON list only
    the sources of the caller (:func:`store.estate.hidden_datasets`).
    """
    meta = results.get("metadata") or {}
    sources = meta.get("sources") or []
    if not sources:
        return results
    hidden = await estate_store.hidden_datasets(conn, principal)
    kept = [s for s in sources if str(s[0]) not in hidden]
    if len(kept) == len(sources):
        return results
    return {**results, "metadata": {**meta, "sources": kept}}


def _exporter(fmt: ExportFormat) -> Exporter:
    async def export(conn: AsyncConnection[Any], results: dict[str, Any]) -> tuple[bytes, str, str]:
        codes = sorted(
            {a["area_code"] for m in results["detail"]["modes"].values() for a in m["areas"]}
        )
        areas = await estate_store.area_polygons_async(conn, vintage=AREA_VINTAGE, codes=codes)
        # The sources the evaluation recorded, less those the caller may not see (redact).
        sources = [tuple(s) for s in results.get("metadata", {}).get("sources", [])]
        content: tuple[bytes, str, str] = await run_in_threadpool(
            render_export, results, areas, sources, fmt
        )
        return content

    export.__name__ = f"export_{fmt}"
    return export


SCENARIO_EVALUATION = Process(
    id="scenario-evaluation",
    title="Scenario evaluation",
    description=(
        "Evaluates a stored scenario (/scenarios) against the baseline on the stored travel "
        "times: per mode, population within each band, population-weighted mean and 95th "
        "percentile time to the nearest site, the people who lose or gain access within the "
        "threshold by age band and IMD decile, floor area, running cost and land released and "
        "an estimated receipt. Downloads: f=html or f=pdf (report), f=gpkg, f=csv (zip). "
        "Needs role analyst."
    ),
    inputs=EvaluationParams,
    run=run_scenario_evaluation,
    outputs={
        "summary": {
            "title": "Before/after table (mode, metric, baseline, scenario, change)",
            "schema": {"type": "array", "items": {"type": "object"}},
        },
        "estate": {
            "title": "Estate released and added",
            "schema": {"type": "array", "items": {"type": "object"}},
        },
        "loses": {"title": "People losing access by age and IMD", "schema": {"type": "object"}},
        "gains": {"title": "People gaining access by age and IMD", "schema": {"type": "object"}},
        "detail": {"title": "Per-area before/after and estate sites", "schema": {"type": "object"}},
    },
    role="analyst",
    keywords=("scenario", "access", "estate"),
    precheck=precheck,
    redact=redact,
    exports={
        "html": _exporter("html"),
        "pdf": _exporter("pdf"),
        "gpkg": _exporter("gpkg"),
        "csv": _exporter("csv"),
    },
)
