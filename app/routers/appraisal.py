"""Options appraisal: the criteria, a finished appraisal, re-ranking, and hub siting → scenario.

- ``GET /appraisals/criteria?modes=drive,walk&bands=10,20,30&threshold_min=20``: every
  criterion id (what weights and ranges name) with label, unit, direction and default weight.
- Run an appraisal with the ``options-appraisal`` process:
  ``POST /processes/options-appraisal/execution`` (inputs:
  :class:`app.services.appraisal.AppraisalParams`), then ``GET /jobs/{jobId}`` for progress.
- ``GET /appraisals/{jobId}``: the finished appraisal, typed (options, criteria, matrix,
  ranking, sensitivity, Monte Carlo); ``GET /jobs/{jobId}/results?f=html|pdf``: the
  consultation pack.
- ``POST /appraisals/{jobId}/rescore``: the ranking again with other weights or ranges (no
  re-evaluation: fast enough to follow a slider).
- ``POST /scenarios/from-hub-siting``: save a hub-siting job's result as a scenario (close
  today's sites not chosen, open the chosen candidate sites).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from app.auth import current_principal, require_role
from app.dependencies import ConnectionDep, SettingsDep
from app.errors import InvalidParameter, NotFound, problem
from app.links import base_url
from app.schemas import appraisal as schemas
from app.schemas.openapi import problems
from app.services import scenarios
from app.services.appraisal import hub_siting_scenario, rescore
from app.services.appraisal_criteria import CAPACITY_HINT, criteria_catalogue, default_weights
from app.services.appraisal_params import AppraisalInputError, RescoreRequest
from spatial.appraisal import NORMALISATION
from spatial.modes import MODES, is_mode
from store import jobs as job_store
from store.access import Principal
from store.connection import Database, database

router = APIRouter(tags=["appraisal"])

CallerDep = Annotated[Principal, Depends(current_principal)]
AnalystDep = Annotated[Principal, require_role("analyst")]
PROCESS_ID = "options-appraisal"


def get_database(settings: SettingsDep) -> Database:
    """The interactive :class:`~store.connection.Database` of the app's settings."""
    return database(settings.database, purpose="interactive")


DatabaseDep = Annotated[Database, Depends(get_database)]


def _job_uuid(job_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(job_id)
    except ValueError:
        raise NotFound(f"no appraisal job {job_id!r}", parameter="jobId") from None


async def _appraisal(conn: Any, job_id: str, principal: Principal) -> dict[str, Any]:
    job = await job_store.get_job(conn, _job_uuid(job_id), principal)
    if job is None or job.process_id != PROCESS_ID:
        raise NotFound(f"no options-appraisal job {job_id!r}", parameter="jobId")
    if job.status != "successful" or job.results is None:
        raise NotFound(f"appraisal job {job_id} is {job.status}: {job.message}", parameter="jobId")
    return job.results


@router.get(
    "/appraisals/criteria",
    summary="The criteria of an options appraisal (ids for weights and ranges)",
    response_model=schemas.CriteriaList,
    responses=problems(400),
)
async def criteria(
    modes: Annotated[
        str, Query(max_length=100, description=f"comma-separated modes: {', '.join(MODES)}")
    ] = "drive",
    bands: Annotated[
        str, Query(max_length=100, description="comma-separated bands, whole minutes (1-120)")
    ] = "10,20,30",
    threshold_min: Annotated[float, Query(gt=0, le=180, description="minutes")] = 20.0,
    capacity: Annotated[
        Literal["primary_care", "beds"] | None,
        Query(description="with the capacity input's service: the capacity criteria too"),
    ] = None,
    projection: Annotated[
        bool, Query(description="with capacity: a projection is given (the horizon criterion)")
    ] = False,
) -> dict[str, Any]:
    """Every criterion for these modes and bands (and capacity), with its default weight (0:
    not scored unless weighted)."""
    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    bad = [m for m in mode_list if not is_mode(m)]
    if bad or not mode_list:
        raise InvalidParameter(f"unknown mode(s) {bad}; use {', '.join(MODES)}", parameter="modes")
    try:
        band_list = sorted({int(b) for b in bands.split(",") if b.strip()})
    except ValueError:
        raise InvalidParameter("bands must be whole minutes", parameter="bands") from None
    if not band_list or any(b < 1 or b > 120 for b in band_list):
        raise InvalidParameter("each band must be between 1 and 120 minutes", parameter="bands")
    defaults = default_weights(mode_list, capacity_service=capacity, capacity_horizon=projection)
    return {
        "criteria": [
            {
                "id": c.id,
                "label": c.label,
                "unit": c.unit,
                "direction": c.direction,
                "group": c.group,
                "description": c.description,
                "weight": defaults.get(c.id, 0.0),
            }
            for c in criteria_catalogue(
                mode_list,
                band_list,
                threshold_min,
                capacity_service=capacity,
                capacity_horizon=projection,
            )
        ],
        "normalisation": NORMALISATION,
        "notes": [] if capacity else [CAPACITY_HINT],
    }


@router.get(
    "/appraisals/{jobId}",
    summary="A finished options appraisal",
    response_model=schemas.AppraisalResult,
    responses=problems(400, 401, 404, 503),
)
async def appraisal(
    jobId: str, request: Request, principal: CallerDep, conn: ConnectionDep
) -> dict[str, Any]:
    """Options, criteria, the matrix, scores and ranks, Pareto set, sensitivity, Monte Carlo
    and per-option detail (each option's full evaluation is in ``/jobs/{jobId}/results``)."""
    results = await _appraisal(conn, jobId, principal)
    base = base_url(request)
    body = {k: v for k, v in results.items() if k != "evaluations"}
    body["job_id"] = jobId
    body["links"] = [
        {"href": f"{base}/appraisals/{jobId}", "rel": "self", "type": "application/json"},
        {"href": f"{base}/jobs/{jobId}/results?f=html", "rel": "alternate",
         "type": "text/html", "title": "consultation pack (HTML)"},
        {"href": f"{base}/jobs/{jobId}/results?f=pdf", "rel": "alternate",
         "type": "application/pdf", "title": "consultation pack (PDF)"},
    ]  # fmt: skip
    return body


@router.post(
    "/appraisals/{jobId}/rescore",
    summary="Rank a finished appraisal again with other weights or ranges",
    response_model=schemas.Ranking,
    responses=problems(400, 401, 404, 503),
)
async def rescore_appraisal(
    jobId: str, body: RescoreRequest, principal: CallerDep, conn: ConnectionDep
) -> dict[str, Any]:
    """Scores, ranks, Pareto set, sensitivity (and Monte Carlo with ``uncertainty``) for the
    appraisal's matrix under ``weights``; nothing is stored."""
    results = await _appraisal(conn, jobId, principal)
    try:
        ranking: dict[str, Any] = await run_in_threadpool(
            rescore, results, body.weights, body.uncertainty
        )
    except AppraisalInputError as exc:
        raise InvalidParameter("; ".join(exc.problems), parameter=exc.parameter) from None
    return ranking


@router.post(
    "/scenarios/from-hub-siting",
    status_code=201,
    summary="Save a hub-siting result as a scenario",
    response_model=None,
    responses={
        201: {
            "model": scenarios.ScenarioRecord,
            "description": "the saved scenario",
            "headers": {
                "Location": {"description": "/scenarios/{id}", "schema": {"type": "string"}},
            },
        },
        **problems(400, 401, 403, 404, 503),
    },
)
async def scenario_from_hub_siting(
    request: Request,
    body: schemas.HubSitingScenarioRequest,
    principal: AnalystDep,
    conn: ConnectionDep,
    db: DatabaseDep,
) -> JSONResponse:
    """Close today's sites (the job's baseline sites) that were not chosen and open each
    chosen site that is not one of them (a new service in that building, ``hub-<site id>``).
    The scenario is saved as a new version of its name (default: "Hub siting: <objective>,
    <p> sites")."""
    job = await job_store.get_job(conn, body.job_id, principal)
    if job is None:
        raise NotFound(f"no job {body.job_id}", parameter="job_id")
    if job.process_id != "hub-siting" or job.status != "successful" or not job.results:
        raise InvalidParameter(
            f"job {body.job_id} is not a successful hub-siting job", parameter="job_id"
        )
    scenario, _ = hub_siting_scenario(
        job.results, job_id=str(body.job_id), name=body.name, description=body.description
    )
    request_body = scenarios.ScenarioRequest.model_validate(
        {**scenario.to_dict(), "restricted": body.restricted} | {"version": None}
    )
    try:
        checked = await run_in_threadpool(scenarios.check_scenario, db, principal, request_body)
    except scenarios.ScenarioInputError as exc:
        return problem(
            request,
            status=400,
            title="Invalid scenario",
            detail="; ".join(exc.problems),
            slug="invalid-scenario",
            parameter="job_id",
            problems=exc.problems,
        )
    record = await run_in_threadpool(
        scenarios.save_scenario, db, principal, checked, restricted=body.restricted
    )
    base = base_url(request)
    return JSONResponse(
        record.model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"{base}/scenarios/{record.id}"},
    )
