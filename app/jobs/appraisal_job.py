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
from store import scenarios as scenario_store
from store.access import Principal
from store.traveltimes import has_travel_times

PROCESS_ID = "options-appraisal"


async def precheck(conn: AsyncConnection[Any], inputs: Any, principal: Principal) -> None:
    """Every option must exist and be visible; stored times for each mode; active sites of the
    kinds. Each problem is a 400 naming the input and every offending value."""
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
        "area, running cost, backlog, land, receipts): min-max normalised, weighted score and "
        "rank, Pareto set, the smallest weight change that changes the top option, and a "
        "Monte Carlo of the ranks over input ranges. Criterion ids: GET /appraisals/criteria. "
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
