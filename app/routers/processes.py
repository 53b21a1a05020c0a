"""OGC API Processes: ``/processes``, async execution, ``/jobs`` status, results, dismissal.

Every process runs asynchronously in a worker (``locus worker``): ``POST
/processes/{id}/execution`` answers 201 with ``Location: /jobs/{jobID}`` and the status
document whether or not ``Prefer: respond-async`` was sent (all processes here are long).

Access: executing needs the process's role (analyst; travel-times needs admin), anonymous
callers get 401 and lower roles 403. A job belongs to the caller's organisation and is
restricted to it by default (``"restricted": false`` in the execute body makes it public);
a restricted job of another organisation is a 404, exactly like a job that does not exist.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from app.dependencies import ConnectionDep, PrincipalDep, SettingsDep
from app.errors import Forbidden, InvalidParameter, NotAcceptable, NotFound, Unauthenticated
from app.jobs.processes import REGISTRY
from app.jobs.queue import queue_app
from app.jobs.registry import Process
from app.jobs.tasks import run_process
from app.links import base_url, request_url
from app.schemas.openapi import download, json_body, problems
from app.schemas.processes import (
    ExecuteRequest,
    JobList,
    JobResults,
    JobStatus,
    ProcessDescription,
    ProcessList,
)
from store import jobs as job_rows

router = APIRouter(tags=["processes"])

MAX_JOBS_PAGE = 100
#: What a process id may look like (``hub-siting``): anything else cannot match a job.
_PROCESS_ID = r"^[a-z][a-z0-9-]{0,99}$"
_OGC_REL = "http://www.opengis.net/def/rel/ogc/1.0/"


class NoSuchProcess(NotFound):
    """No process with this id."""

    slug = "no-such-process"


class NoSuchJob(NotFound):
    """No job with this id (or not visible to the caller)."""

    slug = "no-such-job"


class ResultNotReady(NotFound):
    """The job has no results (yet, or any more)."""

    title = "Result not ready"
    slug = "result-not-ready"


def _get_process(process_id: str) -> Process:
    process = REGISTRY.get(process_id)
    if process is None:
        raise NoSuchProcess(f"no process {process_id!r}; see /processes", parameter="processId")
    return process


def _summary(process: Process, base: str) -> dict[str, Any]:
    return {
        "id": process.id,
        "title": process.title,
        "description": process.description,
        "version": process.version,
        "keywords": list(process.keywords),
        "jobControlOptions": ["async-execute", "dismiss"],
        "outputTransmission": ["value"],
        "x-locus-required-role": process.role,
        "x-locus-result-formats": ["json", *process.exports],
        "links": [
            {
                "href": f"{base}/processes/{process.id}",
                "rel": "self",
                "type": "application/json",
                "title": "process description",
            },
            {
                "href": f"{base}/processes/{process.id}/execution",
                "rel": _OGC_REL + "execute",
                "type": "application/json",
                "title": "execute (asynchronously)",
            },
        ],
    }


def _status(job: job_rows.JobRecord, base: str) -> dict[str, Any]:
    href = f"{base}/jobs/{job.id}"
    links = [
        {"href": href, "rel": "self", "type": "application/json", "title": "job status"},
        {
            "href": f"{base}/processes/{job.process_id}",
            "rel": "up",
            "type": "application/json",
            "title": "the process",
        },
    ]
    if job.status == "successful":
        links.append(
            {
                "href": f"{href}/results",
                "rel": _OGC_REL + "results",
                "type": "application/json",
                "title": "results",
            }
        )
        process = REGISTRY.get(job.process_id)
        for fmt in process.exports if process else ():
            links.append(
                {"href": f"{href}/results?f={fmt}", "rel": "alternate", "title": f"results ({fmt})"}
            )

    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "jobID": str(job.id),
        "processID": job.process_id,
        "type": "process",
        "status": job.status,
        "message": job.message,
        "progress": job.progress,
        "created": iso(job.created_at),
        "started": iso(job.started_at),
        "finished": iso(job.finished_at),
        "updated": iso(job.updated_at),
        "attempts": job.attempts,
        "restricted": job.restricted,
        "links": links,
    }


def _job_uuid(job_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(job_id)
    except ValueError:
        raise NoSuchJob(f"no job {job_id!r}", parameter="jobId") from None


@router.get(
    "/processes",
    summary="List the processes",
    response_model=ProcessList,
    response_model_exclude_unset=True,
)
async def list_processes(request: Request) -> dict[str, Any]:
    """The processes offered (OGC API Processes ``/processes``)."""
    base = base_url(request)
    return {
        "processes": [_summary(p, base) for p in REGISTRY.values()],
        "links": [{"href": f"{base}/processes", "rel": "self", "type": "application/json"}],
    }


@router.get(
    "/processes/{processId}",
    summary="Describe a process",
    response_model=ProcessDescription,
    response_model_exclude_unset=True,
    responses=problems(404),
)
async def describe_process(processId: str, request: Request) -> dict[str, Any]:
    """A process description: its inputs (JSON Schema per input) and outputs."""
    process = _get_process(processId)
    body = _summary(process, base_url(request))
    body["inputs"] = process.describe_inputs()
    body["outputs"] = process.outputs
    return body


@router.post(
    "/processes/{processId}/execution",
    status_code=201,
    summary="Execute a process (asynchronously)",
    response_model=JobStatus,
    responses={
        201: {
            "description": "job accepted",
            "headers": {
                "Location": {"description": "/jobs/{jobID}", "schema": {"type": "string"}},
            },
        },
        **problems(400, 401, 403, 404, 503),
    },
    openapi_extra=json_body(ExecuteRequest),
)
async def execute(
    processId: str,
    request: Request,
    principal: PrincipalDep,
    conn: ConnectionDep,
    settings: SettingsDep,
) -> JSONResponse:
    """Validate the inputs, queue a job and answer 201 with its status and ``Location``.

    Body: ``{"inputs": {...}, "restricted": true}``; ``restricted`` (default true) keeps the
    job and its results visible to the caller's organisation only.
    """
    process = _get_process(processId)
    if not principal.authenticated:
        raise Unauthenticated(f"executing {process.id} needs an API key with role {process.role}")
    if not principal.has_role(process.role):
        raise Forbidden(
            f"executing {process.id} needs role {process.role}; key has {principal.role}"
        )
    try:
        body = await request.json() if await request.body() else {}
    except ValueError:
        raise InvalidParameter("the request body is not valid JSON", parameter="body") from None
    if not isinstance(body, dict):
        raise InvalidParameter("the request body must be a JSON object", parameter="body")
    unknown = sorted(set(body) - {"inputs", "outputs", "response", "subscriber", "restricted"})
    if unknown:
        raise InvalidParameter(f"unknown member(s) {unknown} in the body", parameter=unknown[0])
    restricted = body.get("restricted", True)
    if not isinstance(restricted, bool):
        raise InvalidParameter("'restricted' must be true or false", parameter="restricted")
    inputs = process.parse(body.get("inputs"))
    if process.precheck is not None:
        await process.precheck(conn, inputs, principal)

    job_id = uuid.uuid4()
    async with conn.transaction():
        await job_rows.insert_job(
            conn,
            job_id=job_id,
            process_id=process.id,
            inputs=inputs.model_dump(mode="json"),
            principal=principal,
            restricted=restricted,
        )
        queue_id = await run_process.configure(
            connection=conn, queue=settings.jobs.queue
        ).defer_async(job_id=str(job_id))
        await job_rows.link_queue_job(conn, job_id, queue_id)
    job = await job_rows.get_job(conn, job_id, principal)
    assert job is not None
    base = base_url(request)
    headers = {"Location": f"{base}/jobs/{job_id}"}
    if "respond-async" in request.headers.get("prefer", ""):
        headers["Preference-Applied"] = "respond-async"
    return JSONResponse(_status(job, base), status_code=201, headers=headers)


@router.get(
    "/jobs",
    summary="List jobs",
    response_model=JobList,
    response_model_exclude_unset=True,
    responses=problems(400, 401, 503),
)
async def list_jobs(
    request: Request,
    principal: PrincipalDep,
    conn: ConnectionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_JOBS_PAGE)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    status: Annotated[job_rows.JobStatus | None, Query()] = None,
    processID: Annotated[
        str | None,
        Query(max_length=100, pattern=_PROCESS_ID, description="only jobs of this process"),
    ] = None,
) -> dict[str, Any]:
    """The caller's organisation's jobs, newest first (anonymous: public jobs)."""
    jobs = await job_rows.list_jobs(
        conn, principal, limit=limit, offset=offset, status=status, process_id=processID
    )
    base = base_url(request)
    links = [{"href": str(request_url(request)), "rel": "self", "type": "application/json"}]
    if len(jobs) == limit:
        links.append(
            {
                "href": str(request_url(request).include_query_params(offset=offset + limit)),
                "rel": "next",
                "type": "application/json",
            }
        )
    return {"jobs": [_status(j, base) for j in jobs], "links": links}


@router.get(
    "/jobs/{jobId}",
    summary="Status of a job",
    response_model=JobStatus,
    response_model_exclude_unset=True,
    responses=problems(401, 404, 503),
)
async def job_status(
    jobId: str, request: Request, principal: PrincipalDep, conn: ConnectionDep
) -> dict[str, Any]:
    """Status, progress and message of a job, with links to its results when done."""
    job = await job_rows.get_job(conn, _job_uuid(jobId), principal)
    if job is None:
        raise NoSuchJob(f"no job {jobId!r}", parameter="jobId")
    return _status(job, base_url(request))


@router.get(
    "/jobs/{jobId}/results",
    summary="Results of a job",
    response_model=JobResults,
    responses={
        200: {
            "description": "the outputs (JSON), or a download in a format of the process",
            "content": download(
                "text/csv",
                "text/html",
                "application/pdf",
                "application/geopackage+sqlite3",
                "application/zip",
            ),
        },
        **problems(400, 401, 404, 406, 503),
    },
)
async def job_results(
    jobId: str,
    principal: PrincipalDep,
    conn: ConnectionDep,
    f: Annotated[str, Query(description="json, or a download format of the process")] = "json",
) -> Response:
    """The results as JSON, or a download (``f=csv``, ``f=gpkg`` for hub-siting)."""
    job = await job_rows.get_job(conn, _job_uuid(jobId), principal)
    if job is None:
        raise NoSuchJob(f"no job {jobId!r}", parameter="jobId")
    process = REGISTRY.get(job.process_id)
    formats = ["json", *(process.exports if process else ())]
    if f not in formats:
        raise NotAcceptable(f"format {f!r} not offered; use one of {formats}", parameter="f")
    if job.status != "successful" or job.results is None:
        raise ResultNotReady(
            f"job {jobId} is {job.status}: {job.message}" if job.message else f"job is {job.status}"
        )
    results = job.results
    if process is not None and process.redact is not None:
        results = await process.redact(conn, results, principal)
    if f == "json":
        return JSONResponse(results)
    assert process is not None
    content, media_type, filename = await process.exports[f](conn, results)
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.delete(
    "/jobs/{jobId}",
    summary="Dismiss a job",
    response_model=JobStatus,
    response_model_exclude_unset=True,
    responses=problems(401, 403, 404, 503),
)
async def dismiss(
    jobId: str, request: Request, principal: PrincipalDep, conn: ConnectionDep
) -> dict[str, Any]:
    """Cancel a queued job or abort a running one; its status becomes ``dismissed``."""
    job_uuid = _job_uuid(jobId)
    if not principal.authenticated:
        raise Unauthenticated("dismissing a job needs an API key with role analyst")
    async with conn.transaction():
        job = await job_rows.get_job(conn, job_uuid, principal, for_update=True)
        if job is None:
            raise NoSuchJob(f"no job {jobId!r}", parameter="jobId")
        if job.organisation != principal.organisation or not principal.has_role("analyst"):
            raise Forbidden("only an analyst of the job's organisation can dismiss it")
        if job.status != "dismissed":
            if job.procrastinate_job_id is not None and job.status in ("accepted", "running"):
                await queue_app.job_manager.cancel_job_by_id_async(
                    job.procrastinate_job_id, abort=True, connection=conn
                )
            await job_rows.dismiss_job(conn, job_uuid, f"dismissed (was {job.status})")
    job = await job_rows.get_job(conn, job_uuid, principal)
    assert job is not None
    return _status(job, base_url(request))
