"""The ``options-appraisal`` process: N options compared on access, equity, travel and estate.

Inputs are :class:`app.services.appraisal.AppraisalParams`: the options (the baseline, saved
scenarios by id, hub-siting jobs by id), how access is measured (kinds, modes, bands,
threshold, rates; as in ``scenario-evaluation``), the weights per criterion
(``GET /appraisals/criteria`` lists the ids) and optional ranges for a Monte Carlo of the
ranks. Unknown options, criteria or bad weights are a 400 naming the input before the job is
queued. The job evaluates each option (reusing a current scenario-evaluation job when there
is one), reports progress per option, and stores the matrix, ranking, sensitivity and every
option's evaluation. Downloads: ``f=html`` and ``f=pdf``, the consultation pack.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from starlette.concurrency import run_in_threadpool

from app.errors import InvalidParameter
from app.jobs.registry import Exporter, Process, ProcessError, RunContext
from app.services.appraisal import render_pack, run_appraisal
from app.services.appraisal_params import AppraisalInputError, AppraisalParams
from app.services.estate_common import AREA_VINTAGE
from store import estate as estate_store
from store import jobs as job_store
from store import planning as planning_store
from store import scenarios as scenario_store
from store.access import Principal
from store.traveltimes import has_travel_times

PROCESS_ID = "options-appraisal"


async def precheck(conn: AsyncConnection[Any], inputs: Any, principal: Principal) -> None:
    """Every option must exist and be visible; stored times for each mode; active sites of the
    kinds; the capacity input's norm set and projection visible and its horizon one of the
    projection's years. Each problem is a 400 naming the input and every offending value."""
    assert isinstance(inputs, AppraisalParams)
    unknown = [
        sid
        for sid in inputs.scenario_ids
        if not await scenario_store.scenario_visible(conn, principal, sid)
    ]
    if unknown:
        raise InvalidParameter(
            f"unknown scenario id(s) {unknown} (or not visible to you); see /scenarios",
            parameter="scenario_ids",
        )
    bad: list[str] = []
    for job_id in inputs.hub_siting_jobs:
        job = await job_store.get_job(conn, job_id, principal)
        if job is None or job.process_id != "hub-siting" or job.status != "successful":
            bad.append(str(job_id))
    if bad:
        raise InvalidParameter(
            f"hub-siting job(s) {bad} do not exist, are not visible to you, are not hub-siting "
            "jobs or have not finished successfully",
            parameter="hub_siting_jobs",
        )
    for mode in inputs.modes:
        if not await has_travel_times(conn, mode=mode, area_vintage=AREA_VINTAGE):
            raise InvalidParameter(f"no stored {mode} travel times", parameter="modes")
    if not await estate_store.has_active_sites(conn, principal, inputs.kinds):
        raise InvalidParameter(f"no active sites of kind(s) {inputs.kinds}", parameter="kinds")
    capacity = inputs.capacity
    if capacity is None:
        return
    if capacity.norms_id is not None and not await planning_store.named_visible(
        conn, "planning_norms", principal, capacity.norms_id
    ):
        raise InvalidParameter(
            f"capacity.norms_id: no norm set {capacity.norms_id} (or not visible to you); see "
            "/planning/norms",
            parameter="capacity",
        )
    if capacity.projection_id is not None:
        years = await planning_store.projection_years(conn, principal, capacity.projection_id)
        if years is None:
            raise InvalidParameter(
                f"capacity.projection_id: no projection {capacity.projection_id} (or not "
                "visible to you)",
                parameter="capacity",
            )
        if capacity.horizon_year is not None and capacity.horizon_year not in years:
            raise InvalidParameter(
                f"capacity.horizon_year: projection {capacity.projection_id} has years "
                f"{years}, not {capacity.horizon_year}",
                parameter="capacity",
            )


def run_options_appraisal(ctx: RunContext, inputs: AppraisalParams) -> dict[str, Any]:
    """Evaluate the options and rank them (:func:`app.services.appraisal.run_appraisal`)."""
    ctx.progress(1, "gathering the options", force=True)
    try:
        results = run_appraisal(
            ctx.db,
            ctx.settings,
            ctx.principal,
            inputs,
            progress=lambda p, m: ctx.progress(p, m, force=True),
        )
    except AppraisalInputError as exc:
        raise ProcessError(f"{exc.parameter}: {'; '.join(exc.problems)}") from None
    ctx.progress(98, "writing results", force=True)
    return results


def _exporter(fmt: str) -> Exporter:
    async def export(conn: AsyncConnection[Any], results: dict[str, Any]) -> tuple[bytes, str, str]:
        codes = sorted(
            {
                a["area_code"]
                for e in results.get("evaluations", {}).values()
                if e
                for m in e["detail"]["modes"].values()
                for a in m["areas"]
            }
        )
        areas = await estate_store.area_polygons_async(conn, vintage=AREA_VINTAGE, codes=codes)
        content: tuple[bytes, str, str] = await run_in_threadpool(
            render_pack, results, areas, "pdf" if fmt == "pdf" else "html"
        )
        return content

    export.__name__ = f"export_{fmt}"
    return export


OPTIONS_APPRAISAL = Process(
    id=PROCESS_ID,
    title="Options appraisal",
    description=(
        "Compares options (the baseline, saved scenarios, hub-siting results) on access "
        "(mean and 95th percentile time, share within the threshold and bands, per mode), "
        "equity (who loses access by IMD decile and age band, concentration index of travel "
        "time by deprivation), patient travel (person-km and CO2e a year) and estate (floor "
        "area, running cost, backlog, land, receipts), and with the capacity input the "
        "capacity shortfall now and at a projection's horizon (GP FTE or beds): min-max "
        "normalised, weighted score and rank, Pareto set, the smallest weight change that "
        "changes the top option, and a Monte Carlo of the ranks over input ranges. "
        "Criterion ids: GET /appraisals/criteria. "
        "Downloads: f=html, f=pdf (the consultation pack). Re-rank with other weights: "
        "POST /appraisals/{jobId}/rescore. Needs role analyst."
    ),
    inputs=AppraisalParams,
    run=run_options_appraisal,
    outputs={
        "options": {
            "title": "The options",
            "schema": {"type": "array", "items": {"type": "object"}},
        },
        "criteria": {
            "title": "Criteria (id, label, unit, direction, group, weight)",
            "schema": {"type": "array", "items": {"type": "object"}},
        },
        "matrix": {
            "title": "Criteria values by option",
            "schema": {"type": "array", "items": {"type": "object"}},
        },
        "ranking": {
            "title": "Scores, ranks, Pareto, sensitivity and Monte Carlo",
            "schema": {"type": "object"},
        },
        "details": {
            "title": "Per option: by IMD decile and age band",
            "schema": {"type": "object"},
        },
        "evaluations": {"title": "Each option's evaluation", "schema": {"type": "object"}},
    },
    role="analyst",
    keywords=("appraisal", "options", "scenario", "equity", "carbon"),
    precheck=precheck,
    exports={"html": _exporter("html"), "pdf": _exporter("pdf")},
)
