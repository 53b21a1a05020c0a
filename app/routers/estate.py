"""The estate register, asset uploads, the co-location finder and scenarios.

- ``GET /estate/sites``: every owner's sites with derived figures (cost and backlog per m²,
  pre-1948 share, utilisation flags); restricted sites only for their organisation.
- ``POST /estate/assets``: an organisation's own assets (multipart CSV or GeoPackage, analyst
  role with an organisation's key), validated like every load; rejected rows → 400 listing
  each row and reason.
- ``GET /estate/colocation``: ranked clusters of buildings of two or more owners, by distance
  (``method=distance&max_distance_m=``) or network time (``mode=walk|drive|cycle&minutes=``);
  weights ``w_<component>``. ``GET /estate/colocation/report?f=html|pdf|gpkg|csv`` exports.
  The parameters are :class:`app.services.colocation.ColocationParams` (also the inputs of
  the ``colocation`` process).
- ``POST /scenarios`` (analyst; body :class:`app.services.scenarios.ScenarioRequest`; a name
  already saved by the organisation gets version + 1), ``GET /scenarios``,
  ``GET /scenarios/{id}``, ``GET /scenarios/compare?a=<job>&b=<job>``; evaluation is the
  ``scenario-evaluation`` process (``/processes``).

Thin: parameters are checked here (errors name the parameter); the work is in
:mod:`app.services.register`, :mod:`app.services.colocation`, :mod:`app.services.scenarios`.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from app.auth import current_principal, require_role
from app.dependencies import ConnectionDep, SettingsDep
from app.errors import InvalidParameter, NotFound, ServiceUnavailable, Unauthenticated, problem
from app.links import base_url
from app.reports import frame_csv
from app.schemas import estate as schemas
from app.schemas.openapi import HTML, download, problems
from app.services import register, scenarios
from app.services.colocation import (
    ColocationParams,
    clusters_json,
    render_report,
    run_colocation,
)
from app.services.estate_common import records
from app.services.scenario_evaluation import result_from_json
from app.services.sources import NoNetworkError
from config.settings import Settings
from etl.loading import LoadError
from spatial.colocation import SCORE_COMPONENTS, ScoreWeights
from spatial.kinds import check_kind
from spatial.scenario import compare_scenarios
from store import jobs as job_store
from store.access import Principal
from store.connection import Database, database

router = APIRouter(tags=["estate"])

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_PAGE = 1000
# The caller (``app.auth``); typed as the data layer's Principal, which the services take.
CallerDep = Annotated[Principal, Depends(current_principal)]
AnalystDep = Annotated[Principal, require_role("analyst")]


def get_database(settings: SettingsDep) -> Database:
    """The interactive :class:`~store.connection.Database` of the app's settings."""
    return database(settings.database, purpose="interactive")


DatabaseDep = Annotated[Database, Depends(get_database)]


def _identifiers(value: str | None, parameter: str) -> tuple[str, ...]:
    """Comma-separated site kinds (or owner types, which follow the same rule), checked."""
    if not value:
        return ()
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    for item in items:
        try:
            check_kind(item, parameter=parameter)
        except ValueError as exc:
            raise InvalidParameter(str(exc), parameter=parameter) from None
    return items


# ------------------------------------------------------------------------------- register
@router.get(
    "/estate/sites",
    summary="The public estate register with derived figures",
    response_model=schemas.EstateRegister,
    responses=problems(400, 401, 503),
)
async def estate_sites(
    principal: CallerDep,
    db: DatabaseDep,
    owner_type: Annotated[
        str | None,
        Query(max_length=2000, description="comma-separated owner types, e.g. council,nhs_trust"),
    ] = None,
    kind: Annotated[
        str | None,
        Query(
            max_length=2000,
            description="comma-separated kinds, e.g. council_building,hospital",
        ),
    ] = None,
    flagged: Annotated[bool, Query(description="only sites with a utilisation flag")] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """Sites of every owner with cost per m², backlog per m², pre-1948 share and flags."""
    kinds = _identifiers(kind, "kind")
    owners = _identifiers(owner_type, "owner_type")
    result: dict[str, Any] = await run_in_threadpool(
        register.estate_register,
        db,
        principal,
        kinds=kinds or None,
        owner_types=owners or None,
        flagged_only=flagged,
        limit=limit,
        offset=offset,
    )
    return result


# ------------------------------------------------------------------------------- uploads
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@router.post(
    "/estate/assets",
    status_code=201,
    summary="Upload an organisation's own assets (CSV or GeoPackage)",
    description="Needs an analyst's API key of an organisation (the assets are its). Columns: "
    + "; ".join(f"{k}: {v}" for k, v in register.ASSET_COLUMNS.items())
    + ". The upload replaces the organisation's previous upload atomically; assets with the "
    "same asset_id (default: name and postcode) keep their site ids, and the response lists "
    "the assets added, removed and changed.",
    response_model=schemas.UploadResult,
    responses=problems(400, 401, 403, 503),
)
async def upload_assets(
    request: Request,
    principal: AnalystDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="a .csv or .gpkg file")],
    restricted: Annotated[
        bool, Form(description="visible only to your organisation (rows may override)")
    ] = False,
) -> JSONResponse:
    """Validate and load the file as dataset ``assets:<organisation>`` (one transaction)."""
    organisation = principal.organisation
    if organisation is None:
        # A keyless caller (a local demo may give it the analyst role) has no organisation
        # to own the assets.
        raise Unauthenticated(
            "uploading assets needs an API key of an organisation (the assets are its); "
            "send one in the Authorization or X-API-Key header",
            parameter="Authorization",
        )
    original = file.filename or "assets.csv"
    suffix = Path(original).suffix.lower()
    if suffix not in (".csv", ".gpkg"):
        raise InvalidParameter(f"file {original!r}: upload a .csv or .gpkg file", parameter="file")
    content = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise InvalidParameter("the file is larger than 50 MB", parameter="file")
    if not content:
        raise InvalidParameter("the file is empty", parameter="file")
    with tempfile.TemporaryDirectory(prefix="locus-assets-") as tmp:
        path = Path(tmp) / (_SAFE_NAME.sub("_", Path(original).stem)[:80] + suffix)
        path.write_bytes(content)
        try:
            # A load is batch work (it may wait for another load of the organisation).
            summary = await run_in_threadpool(
                register.upload_assets,
                database(settings.database, purpose="batch"),
                path,
                organisation=organisation,
                restricted=restricted,
                display_name=original,
            )
        except LoadError as exc:
            return problem(
                request,
                status=400,
                title="Rejected upload",
                detail=f"{original}: {len(exc.rejects)} problem(s); nothing was loaded",
                slug="rejected-upload",
                parameter="file",
                rejects=[{"row": r.row, "reason": r.reason} for r in exc.rejects],
            )
    body = {
        "dataset": summary.dataset,
        "status": summary.status,
        "load_id": summary.load_id,
        "rows_read": summary.rows_read,
        "rows_loaded": summary.rows_loaded.get("sites", 0),
        "superseded_loads": summary.superseded,
        "changes": {t: dataclasses.asdict(c) for t, c in summary.changes.items()},
        "organisation": organisation,
        "restricted": restricted,
        "notes": summary.notes,
    }
    return JSONResponse(body, status_code=201)


# ------------------------------------------------------------------------------- co-location
#: ColocationParams list fields → their comma-separated query parameter.
_LIST_QUERY = {"kinds": "kind", "owner_types": "owner_type", "host_tenures": "host_tenure"}
_LIST_FIELD = {q: f for f, q in _LIST_QUERY.items()}


def _query_parameter(error: ErrorDetails) -> str:
    """The query parameter a :class:`ColocationParams` validation error is about."""
    ctx = error.get("ctx") or {}
    if "parameter" in ctx:
        return str(ctx["parameter"])
    loc = error.get("loc", ())
    if not loc:
        return "query"
    if loc[0] == "weights":
        weight = ctx.get("weight", loc[1] if len(loc) > 1 else SCORE_COMPONENTS[0])
        return f"w_{weight}"
    return _LIST_QUERY.get(str(loc[0]), str(loc[0]))


def colocation_params(request: Request) -> ColocationParams:
    """:class:`ColocationParams` from the query: ``kind``, ``owner_type`` and ``host_tenure``
    comma-separated, a weight as ``w_<component>``, the rest by field name. Any problem is a
    400 naming the query parameter."""
    query = request.query_params
    raw: dict[str, Any] = {}
    weights: dict[str, str] = {}
    for name in dict.fromkeys(query.keys()):
        values = query.getlist(name)
        if name.startswith("w_"):
            weights[name.removeprefix("w_")] = values[-1]
        elif name in _LIST_FIELD:
            raw[_LIST_FIELD[name]] = [v.strip() for x in values for v in x.split(",") if v.strip()]
        elif name in ColocationParams.model_fields and name != "weights":
            raw[name] = values[-1]
    if weights:
        raw["weights"] = weights
    try:
        return ColocationParams.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        parameter = _query_parameter(first)
        raise InvalidParameter(f"{parameter}: {first['msg']}", parameter=parameter) from None


def _colocation_openapi() -> list[dict[str, Any]]:
    """The query parameters of :func:`colocation_params`, from the model's JSON schema."""
    props = ColocationParams.model_json_schema()["properties"]
    defaults = ScoreWeights().as_dict()
    out: list[dict[str, Any]] = []
    for field, prop in props.items():
        if field == "weights":
            out += [
                {
                    "name": f"w_{c}",
                    "in": "query",
                    "required": False,
                    "description": f"score weight of {c} (>= 0, default {defaults[c]:g})",
                    "schema": {"type": "number", "minimum": 0, "maximum": 1000},
                }
                for c in SCORE_COMPONENTS
            ]
            continue
        schema = {k: v for k, v in prop.items() if k not in ("title", "description")}
        description = str(prop.get("description", ""))
        if field in _LIST_QUERY:
            item = prop.get("items", {})
            rule = f", each matching {item['pattern']}" if "pattern" in item else ""
            description += f" (comma-separated{rule})"
            schema = {"type": "string", "maxLength": 2000}
        out.append(
            {
                "name": _LIST_QUERY.get(field, field),
                "in": "query",
                "required": False,
                "description": description,
                "schema": schema,
            }
        )
    return out


ColocationDep = Annotated[ColocationParams, Depends(colocation_params)]
_COLOCATION_QUERY = {"parameters": _colocation_openapi()}


async def _run_colocation(
    db: Database, settings: Settings, principal: Principal, params: ColocationParams
) -> Any:
    try:
        return await run_in_threadpool(run_colocation, db, settings, principal, params)
    except NoNetworkError as exc:
        raise ServiceUnavailable(str(exc)) from exc
    except ValueError as exc:
        raise InvalidParameter(str(exc), parameter="kind") from exc


@router.get(
    "/estate/colocation",
    summary="Co-location finder: clusters of buildings of two or more owners, ranked",
    openapi_extra=_COLOCATION_QUERY,
    response_model=schemas.Colocation,
    responses=problems(400, 401, 503),
)
async def colocation(
    principal: CallerDep,
    db: DatabaseDep,
    settings: SettingsDep,
    params: ColocationDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> dict[str, Any]:
    """Ranked clusters with members, combined figures, population, IMD and score parts."""
    result, sites, meta = await _run_colocation(db, settings, principal, params)
    return {
        "numberMatched": len(result.clusters),
        "clusters": clusters_json(result, sites, limit=limit),
        "metadata": meta,
    }


@router.get(
    "/estate/colocation/report",
    summary="Co-location report (html, pdf) or export (gpkg, csv as zip) of the top clusters",
    response_model=None,
    response_class=Response,
    openapi_extra=_COLOCATION_QUERY,
    responses={
        200: {
            "description": "the report (f=html, f=pdf) or the export (f=gpkg, f=csv: a zip)",
            "content": {
                **HTML,
                **download("application/pdf", "application/geopackage+sqlite3", "application/zip"),
            },
        },
        **problems(400, 401, 404, 503),
    },
)
async def colocation_report(
    principal: CallerDep,
    db: DatabaseDep,
    settings: SettingsDep,
    params: ColocationDep,
    f: Annotated[Literal["html", "pdf", "gpkg", "csv"], Query(description="format")] = "html",
    top: Annotated[int, Query(ge=1, le=50)] = 10,
) -> Response:
    """The same run as ``/estate/colocation``, rendered for a board paper or GIS."""
    result, sites, _meta = await _run_colocation(db, settings, principal, params)
    if result.clusters.empty:
        raise NotFound("no clusters for these parameters", parameter="max_distance_m")
    content, media, name = await run_in_threadpool(
        render_report, db, principal, result, sites, f, top
    )
    if f == "html":
        return HTMLResponse(content.decode("utf-8"))
    return Response(
        content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


# ------------------------------------------------------------------------------- scenarios
@router.post(
    "/scenarios",
    status_code=201,
    summary="Save a scenario (a new version of its name)",
    response_model=None,
    responses={
        201: {
            "model": scenarios.ScenarioRecord,
            "description": "the saved version",
            "headers": {
                "Location": {"description": "/scenarios/{id}", "schema": {"type": "string"}},
            },
        },
        **problems(400, 401, 403, 503),
    },
)
async def create_scenario(
    request: Request, principal: AnalystDep, db: DatabaseDep, body: scenarios.ScenarioRequest
) -> JSONResponse:
    """Change types: close_sites {site_ids}, open_site {site_id, name, at_site_id | x,y (BNG)
    | lon,lat, gia_m2, land_ha, running_cost_gbp}, move_service {from_site_id, to_site_id,
    release_building}, change_capacity {site_id, capacity}, grow_population {age_bands,
    factor, area_codes?}. Sites are named by id or by source id (e.g. an ODS code).
    """
    try:
        scenario = await run_in_threadpool(scenarios.check_scenario, db, principal, body)
    except scenarios.ScenarioInputError as exc:
        return problem(
            request,
            status=400,
            title="Invalid scenario",
            detail="; ".join(exc.problems),
            slug="invalid-scenario",
            parameter="changes",
            problems=exc.problems,
        )
    record = await run_in_threadpool(
        scenarios.save_scenario, db, principal, scenario, restricted=body.restricted
    )
    return JSONResponse(
        record.model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"{base_url(request)}/scenarios/{record.id}"},
    )


@router.get(
    "/scenarios",
    summary="Scenarios you can see (every version)",
    responses=problems(400, 401, 503),
)
async def list_scenarios(
    principal: CallerDep,
    db: DatabaseDep,
    name: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
    latest: Annotated[bool, Query(description="only the latest version of each name")] = False,
) -> scenarios.ScenarioList:
    rows = await run_in_threadpool(
        scenarios.list_scenarios, db, principal, name=name, latest_only=latest
    )
    return scenarios.ScenarioList(scenarios=rows)


@router.get(
    "/scenarios/compare",
    summary="Two evaluated scenarios (jobs) side by side",
    response_model=schemas.ScenarioComparison,
    responses={
        200: {"content": download("text/csv")},
        **problems(400, 401, 404, 503),
    },
)
async def compare(
    principal: CallerDep,
    conn: ConnectionDep,
    a: Annotated[str, Query(max_length=100, description="job id of a scenario-evaluation")],
    b: Annotated[str, Query(max_length=100, description="job id of another scenario-evaluation")],
    f: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    """Rows (mode, metric, baseline, A, B, difference); estate rows have mode ``estate``."""
    results = []
    for name, value in (("a", a), ("b", b)):
        try:
            job_id = uuid.UUID(value)
        except ValueError:
            raise InvalidParameter(f"{name}: {value!r} is not a job id", parameter=name) from None
        job = await job_store.get_job(conn, job_id, principal)
        if job is None:
            raise NotFound(f"no job {value!r}", parameter=name)
        if job.process_id != "scenario-evaluation" or job.status != "successful" or not job.results:
            raise InvalidParameter(
                f"{name}: job {value} is not a successful scenario-evaluation", parameter=name
            )
        results.append(job.results)
    ra, rb = (result_from_json(r) for r in results)
    try:
        table = compare_scenarios(ra, rb)
    except ValueError as exc:
        raise InvalidParameter(str(exc), parameter="b") from exc
    if f == "csv":
        return Response(
            frame_csv(table),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="scenario-comparison.csv"'},
        )
    cols = [c for c in table.columns if c not in ("mode", "metric", "baseline", "difference")]
    return JSONResponse(
        {
            "a": {"job": a, "scenario": cols[0]},
            "b": {"job": b, "scenario": cols[1]},
            "columns": list(table.columns),
            "rows": records(table),
        }
    )


@router.get(
    "/scenarios/{scenario_id}",
    summary="One scenario",
    responses=problems(400, 401, 404, 503),
)
async def scenario(
    principal: CallerDep,
    db: DatabaseDep,
    scenario_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)],
) -> scenarios.ScenarioRecord:
    row = await run_in_threadpool(scenarios.get_scenario, db, principal, scenario_id)
    if row is None:
        raise NotFound(f"no scenario {scenario_id}", parameter="scenario_id")
    return row
