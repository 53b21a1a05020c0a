"""Planning: population projections, planning norm sets; capacity sizing is a process.

- ``GET /planning/population-vintages``: the loaded population tables a projection can start
  from or take a trend between.
- ``POST /planning/projections`` (analyst; JSON :class:`~app.schemas.planning.
  ProjectionRequest`) and ``POST /planning/projections/upload`` (analyst; multipart:
  ``definition`` JSON text, optional ``growth_file`` CSV and ``housing_file`` CSV or
  GeoJSON): build and save a projection (a name the organisation already has gets version
  + 1). A bad request is a 400 listing every problem; a bad file a 400 listing every rejected
  row with its file and reason; nothing is stored then.
- ``GET /planning/projections``, ``GET /planning/projections/{id}`` (with totals per year
  and age band), ``GET /planning/projections/{id}/areas?year=&f=json|csv``.
- ``GET /planning/norms`` (the built-in set, then the stored ones), ``GET
  /planning/norms/default``, ``GET /planning/norms/{id}``, ``POST /planning/norms``
  (analyst; :class:`~app.schemas.planning.NormSetRequest`).
- Capacity sizing: ``POST /processes/capacity-sizing/execution``
  (:class:`~app.schemas.planning.CapacityParams`; results
  :class:`~app.schemas.planning.CapacityResult`, ``f=csv|html|pdf``).

Thin: the work is in :mod:`app.services.planning`, :mod:`app.services.planning_uploads` and
:mod:`app.services.planning_capacity`.
"""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from app.auth import current_principal, require_role
from app.dependencies import SettingsDep
from app.errors import InvalidParameter, NotFound, problem
from app.links import base_url
from app.schemas import planning as schemas
from app.schemas.openapi import download, problems
from app.services import planning, planning_capacity, planning_uploads
from store.access import Principal
from store.connection import Database, database

router = APIRouter(tags=["planning"])

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
CallerDep = Annotated[Principal, Depends(current_principal)]
AnalystDep = Annotated[Principal, require_role("analyst")]
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def get_database(settings: SettingsDep) -> Database:
    """The interactive :class:`~store.connection.Database` of the app's settings."""
    return database(settings.database, purpose="interactive")


DatabaseDep = Annotated[Database, Depends(get_database)]


def _created(request: Request, body: dict[str, Any], path: str) -> JSONResponse:
    base = base_url(request)
    return JSONResponse(body, status_code=201, headers={"Location": f"{base}{path}"})


def _invalid(request: Request, exc: planning.ProjectionInputError) -> JSONResponse:
    return problem(
        request,
        status=400,
        title="Invalid projection",
        detail="; ".join(exc.problems),
        slug="invalid-projection",
        parameter=exc.parameter,
        problems=exc.problems,
    )


_CREATED_PROJECTION = {
    201: {
        "model": schemas.ProjectionRecord,
        "description": "the saved version",
        "headers": {
            "Location": {"description": "/planning/projections/{id}", "schema": {"type": "string"}}
        },
    },
    **problems(400, 401, 403, 503),
}


# ----------------------------------------------------------------------------- vintages


@router.get(
    "/planning/population-vintages",
    summary="Loaded population tables (bases and trend ends of projections)",
    responses=problems(401, 503),
)
async def population_vintages(principal: CallerDep, db: DatabaseDep) -> schemas.PopulationVintages:
    return await run_in_threadpool(planning.population_vintages, db)


# ----------------------------------------------------------------------------- projections


async def _save(
    request: Request, db: Database, principal: Principal, body: schemas.ProjectionRequest
) -> JSONResponse:
    # Building reads every area's population: batch work, without the API's statement timeout.
    try:
        record = await run_in_threadpool(
            planning.save_projection,
            database(request.app.state.settings.database, purpose="batch"),
            principal,
            body,
        )
    except planning.ProjectionInputError as exc:
        return _invalid(request, exc)
    return _created(request, record.model_dump(mode="json"), f"/planning/projections/{record.id}")


@router.post(
    "/planning/projections",
    status_code=201,
    summary="Make and save a population projection (a new version of its name)",
    response_model=None,
    responses=_CREATED_PROJECTION,
)
async def create_projection(
    request: Request, principal: AnalystDep, db: DatabaseDep, body: schemas.ProjectionRequest
) -> JSONResponse:
    """Growth: ``none``, ``rates`` (annual rates by age band, year and area) or ``trend``
    (between two loaded tables); housing sites add ``dwellings × persons per dwelling``
    (default 2.36, ONS 2021) to the LSOA(s) they fall in."""
    return await _save(request, db, principal, body)


async def _stage(
    upload: UploadFile, folder: Path, allowed: tuple[str, ...], field: str
) -> tuple[Path, str]:
    original = upload.filename or f"{field}{allowed[0]}"
    suffix = Path(original).suffix.lower()
    if suffix not in allowed:
        raise InvalidParameter(
            f"{field} {original!r}: upload a {' or '.join(allowed)} file", parameter=field
        )
    content = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise InvalidParameter(f"{field}: the file is larger than 50 MB", parameter=field)
    if not content:
        raise InvalidParameter(f"{field}: the file is empty", parameter=field)
    path = folder / (field + "_" + _SAFE_NAME.sub("_", Path(original).stem)[:80] + suffix)
    path.write_bytes(content)
    return path, original


@router.post(
    "/planning/projections/upload",
    status_code=201,
    summary="Make and save a projection from uploaded growth rates and/or housing sites",
    response_model=None,
    responses=_CREATED_PROJECTION,
)
async def upload_projection(
    request: Request,
    principal: AnalystDep,
    db: DatabaseDep,
    definition: Annotated[
        str,
        Form(
            max_length=1_000_000,
            description="the projection as JSON (ProjectionRequest) without what the files give",
        ),
    ],
    growth_file: Annotated[
        UploadFile | None,
        File(description="CSV: age_band, rate (fraction a year), optional year, area_code"),
    ] = None,
    housing_file: Annotated[
        UploadFile | None,
        File(
            description="CSV (site_id, year, dwellings, easting/northing or lon/lat, optional "
            "name, persons_per_dwelling) or GeoJSON (Point/Polygon features with site_id and "
            "dwellings {year: n})"
        ),
    ] = None,
) -> JSONResponse:
    """Every rejected row of every file is listed (``rejects``: file, row, reason) and
    nothing is saved."""
    if growth_file is None and housing_file is None:
        raise InvalidParameter(
            "upload growth_file or housing_file (or POST JSON to /planning/projections)",
            parameter="growth_file",
        )
    with tempfile.TemporaryDirectory(prefix="locus-planning-") as tmp:
        folder = Path(tmp)
        growth = (
            await _stage(growth_file, folder, (".csv",), "growth_file") if growth_file else None
        )
        housing = (
            await _stage(housing_file, folder, (".csv", ".geojson", ".json"), "housing_file")
            if housing_file
            else None
        )
        try:
            body = await run_in_threadpool(
                planning_uploads.request_from_uploads,
                definition,
                growth_file=growth,
                housing_file=housing,
            )
        except planning_uploads.UploadRejected as exc:
            return problem(
                request,
                status=400,
                title="Rejected upload",
                detail=f"{len(exc.rejects)} problem(s); nothing was saved: {exc}"[:2000],
                slug="rejected-upload",
                parameter=exc.parameter,
                rejects=exc.rejects,
            )
        except ValidationError as exc:
            parameter, message = planning_uploads.validation_problem(exc)
            raise InvalidParameter(message, parameter=parameter) from None
        except ValueError as exc:
            raise InvalidParameter(str(exc), parameter="definition") from None
    return await _save(request, db, principal, body)


@router.get(
    "/planning/projections",
    summary="Projections you can see (every version)",
    responses=problems(400, 401, 503),
)
async def list_projections(
    principal: CallerDep,
    db: DatabaseDep,
    name: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
    latest: Annotated[bool, Query(description="only the latest version of each name")] = False,
) -> schemas.ProjectionList:
    rows = await run_in_threadpool(
        planning.list_projections, db, principal, name=name, latest_only=latest
    )
    return schemas.ProjectionList(projections=rows)


ProjectionId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]


@router.get(
    "/planning/projections/{projection_id}",
    summary="One projection with its totals per year and age band",
    responses=problems(400, 401, 404, 503),
)
async def projection(
    principal: CallerDep, db: DatabaseDep, projection_id: ProjectionId
) -> schemas.ProjectionRecord:
    found = await run_in_threadpool(planning.get_projection, db, principal, projection_id)
    if found is None:
        raise NotFound(f"no projection {projection_id}", parameter="projection_id")
    return found


@router.get(
    "/planning/projections/{projection_id}/areas",
    summary="A projection's people per area, age band and year",
    response_model=schemas.ProjectionAreas,
    responses={200: {"content": download("text/csv")}, **problems(400, 401, 404, 503)},
)
async def projection_areas(
    principal: CallerDep,
    db: DatabaseDep,
    projection_id: ProjectionId,
    year: Annotated[int | None, Query(ge=1900, le=2150)] = None,
    f: Annotated[Literal["json", "csv"], Query(description="format")] = "json",
) -> Response:
    found = await run_in_threadpool(
        planning.projection_areas, db, principal, projection_id, year=year
    )
    if found is None:
        raise NotFound(f"no projection {projection_id}", parameter="projection_id")
    if f == "csv":
        buf = io.StringIO()
        buf.write("area_code,age_band,year,count,housing\n")
        for r in found.rows:
            buf.write(f"{r.area_code},{r.age_band},{r.year},{r.count},{r.housing}\n")
        return Response(
            buf.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="projection-{projection_id}.csv"'
            },
        )
    return JSONResponse(found.model_dump(mode="json"))


# ----------------------------------------------------------------------------- norms


@router.get(
    "/planning/norms",
    summary="Planning norm sets: the built-in one, then those you can see",
    responses=problems(400, 401, 503),
)
async def list_norms(
    principal: CallerDep,
    db: DatabaseDep,
    name: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
    latest: Annotated[bool, Query(description="only the latest version of each name")] = False,
) -> schemas.NormList:
    return await run_in_threadpool(
        planning_capacity.list_norms, db, principal, name=name, latest_only=latest
    )


@router.get(
    "/planning/norms/default",
    summary="The built-in planning norm set, each number with its source",
    responses=problems(401, 503),
)
async def default_norms(principal: CallerDep, db: DatabaseDep) -> schemas.NormSetRecord:
    found = await run_in_threadpool(planning_capacity.get_norms, db, principal, None)
    assert found is not None
    return found


@router.get(
    "/planning/norms/{norms_id}",
    summary="One stored planning norm set",
    responses=problems(400, 401, 404, 503),
)
async def norms(
    principal: CallerDep, db: DatabaseDep, norms_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)]
) -> schemas.NormSetRecord:
    found = await run_in_threadpool(planning_capacity.get_norms, db, principal, norms_id)
    if found is None:
        raise NotFound(f"no norm set {norms_id}", parameter="norms_id")
    return found


@router.post(
    "/planning/norms",
    status_code=201,
    summary="Save a planning norm set (a new version of its name)",
    response_model=None,
    responses={
        201: {
            "model": schemas.NormSetRecord,
            "description": "the saved version",
            "headers": {
                "Location": {"description": "/planning/norms/{id}", "schema": {"type": "string"}}
            },
        },
        **problems(400, 401, 403, 503),
    },
)
async def create_norms(
    request: Request, principal: AnalystDep, db: DatabaseDep, body: schemas.NormSetRequest
) -> JSONResponse:
    """Every number needs a ``source`` (and says its ``basis``: published, derived or
    assumption); bed-day rates must cover every age."""
    record = await run_in_threadpool(planning_capacity.save_norms, db, principal, body)
    return _created(request, record.model_dump(mode="json"), f"/planning/norms/{record.id}")
