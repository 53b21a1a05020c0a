"""Footprints: area results added up by local authority, MSOA, ward, NHS commissioner or an
uploaded polygon set, and how footprints overlap the catchments of practices.

- ``GET /footprints``: the footprint types (with how each assigns LSOAs) and the custom sets
  the caller may see;
- ``GET /footprints/{footprint}/population``: population by age band per footprint;
- ``GET /footprints/{footprint}/access?kind=&mode=&minutes=``: population-weighted mean time
  to the nearest site, people within ``minutes``;
- ``GET /footprints/{footprint}/catchments?kind=&mode=``: which share of each footprint's
  people falls in each site's nearest-site catchment (and of each catchment in each footprint);
- ``GET /footprints/{footprint}/projection?projection_id=&year=``: a stored projection's people
  per footprint in a year and in its base year;
- ``GET /footprints/{footprint}/need?job_id=``: a finished capacity-sizing job's people, need,
  attributed capacity today, gaps and shortfalls per footprint;
- ``POST /footprints/custom``: upload an organisation's polygons (GeoJSON or GeoPackage; an
  analyst's key); ``DELETE /footprints/custom/{set_id}``.

Thin: parameters are checked here, the work is :mod:`app.services.footprints` and
:mod:`app.services.footprint_sums`.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from app.auth import require_role
from app.dependencies import PrincipalDep, SettingsDep
from app.errors import InvalidParameter, NotFound, ServiceUnavailable, Unauthenticated, problem
from app.schemas import footprints as schemas
from app.schemas.openapi import problems
from app.services import footprint_sums, footprints
from app.services.areas import AnalysisInputError
from app.services.footprint_uploads import delete_footprints, upload_footprints
from app.services.sources import NoNetworkError
from config.settings import Settings
from etl.loading import LoadError
from spatial.kinds import KIND_PATTERN
from spatial.modes import MODES, Mode
from store.access import Principal
from store.connection import Database, database

router = APIRouter(prefix="/footprints", tags=["footprints"])

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
AnalystDep = Annotated[Principal, require_role("analyst")]

FootprintPath = Annotated[
    str,
    PathParam(
        pattern=r"^(la|msoa|ward|commissioner|custom-\d{1,9})$",
        description="la, msoa, ward, commissioner or custom-<id> (an uploaded set)",
    ),
]
ModeQuery = Annotated[
    Mode,
    Query(
        description=f"travel mode ({', '.join(MODES)}): of the catchments, access times and "
        "(footprint=commissioner) of the practices' catchments"
    ),
]
KindQuery = Annotated[
    str,
    Query(pattern=KIND_PATTERN, description="site kind, e.g. gp_practice (see /analysis/kinds)"),
]


def _db(settings: Settings) -> Database:
    return database(settings.database, purpose="interactive")


async def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except footprint_sums.NotVisible as exc:
        raise NotFound(str(exc), parameter=exc.parameter) from exc
    except AnalysisInputError as exc:
        if str(exc).startswith("no custom footprint set"):
            raise NotFound(str(exc), parameter=exc.parameter) from exc
        raise InvalidParameter(str(exc), parameter=exc.parameter) from exc
    except NoNetworkError as exc:
        raise ServiceUnavailable(str(exc), parameter="mode") from exc


@router.get(
    "",
    summary="Footprint types and the custom footprint sets you can see",
    response_model=schemas.FootprintTypes,
    responses=problems(401, 503),
)
async def footprint_types(settings: SettingsDep, principal: PrincipalDep) -> dict[str, Any]:
    result: dict[str, Any] = await _run(footprints.footprint_types, _db(settings), principal)
    return result


@router.get(
    "/{footprint}/population",
    summary="Population by age band per footprint (adds up to the regional total)",
    response_model=schemas.FootprintPopulation,
    responses=problems(400, 401, 404, 503),
)
async def population(
    settings: SettingsDep,
    principal: PrincipalDep,
    footprint: FootprintPath,
    mode: ModeQuery = "drive",
) -> dict[str, Any]:
    result: dict[str, Any] = await _run(
        footprints.footprint_population, _db(settings), principal, footprint, mode=mode
    )
    return result


@router.get(
    "/{footprint}/access",
    summary="Time to the nearest site per footprint (population-weighted mean)",
    response_model=schemas.FootprintAccess,
    responses=problems(400, 401, 404, 503),
)
async def access(
    settings: SettingsDep,
    principal: PrincipalDep,
    footprint: FootprintPath,
    kind: KindQuery = "gp_practice",
    mode: ModeQuery = "drive",
    minutes: Annotated[float, Query(gt=0, le=240, description="threshold, minutes")] = 15,
) -> dict[str, Any]:
    result: dict[str, Any] = await _run(
        footprints.footprint_access,
        _db(settings),
        principal,
        footprint,
        kind=kind,
        mode=mode,
        minutes=minutes,
    )
    return result


@router.get(
    "/{footprint}/catchments",
    summary="How footprints overlap site catchments: each footprint's people by nearest site",
    response_model=schemas.FootprintCatchments,
    responses=problems(400, 401, 404, 503),
)
async def catchments(
    settings: SettingsDep,
    principal: PrincipalDep,
    footprint: FootprintPath,
    kind: KindQuery = "gp_practice",
    mode: ModeQuery = "drive",
) -> dict[str, Any]:
    result: dict[str, Any] = await _run(
        footprints.footprint_catchments,
        _db(settings),
        principal,
        footprint,
        kind=kind,
        mode=mode,
    )
    return result


@router.get(
    "/{footprint}/projection",
    summary="A stored population projection's people per footprint (all ages and by age band)",
    response_model=schemas.FootprintProjection,
    responses=problems(400, 401, 404, 503),
)
async def projection(
    settings: SettingsDep,
    principal: PrincipalDep,
    footprint: FootprintPath,
    projection_id: Annotated[
        int, Query(ge=1, le=2**63 - 1, description="a projection you can see")
    ],
    year: Annotated[
        int | None,
        Query(ge=1900, le=2150, description="the base year or a horizon (default: the last)"),
    ] = None,
    mode: ModeQuery = "drive",
) -> dict[str, Any]:
    """Each row has the footprint's people in ``year`` and the base year, the change, and
    the people housing sites added; the rows (``(unassigned)`` included) add up to the
    projection's totals."""
    result: dict[str, Any] = await _run(
        footprint_sums.footprint_projection,
        _db(settings),
        principal,
        footprint,
        projection_id=projection_id,
        year=year,
        mode=mode,
    )
    return result


@router.get(
    "/{footprint}/need",
    summary="A capacity-sizing job's need, capacity today, gap and shortfalls per footprint",
    response_model=schemas.FootprintNeed,
    responses=problems(400, 401, 404, 503),
)
async def need(
    settings: SettingsDep,
    principal: PrincipalDep,
    footprint: FootprintPath,
    job_id: Annotated[uuid.UUID, Query(description="a successful capacity-sizing job you can see")],
) -> dict[str, Any]:
    """People and need (now and at the horizon) add up the job's areas; each site's capacity
    is apportioned to footprints by the share of its catchment's people now in each; the gap
    is the need of the people whose site has the figure minus that capacity. Commissioner
    footprints use the job's mode."""
    result: dict[str, Any] = await _run(
        footprint_sums.footprint_need, _db(settings), principal, footprint, job_id=str(job_id)
    )
    return result


@router.post(
    "/custom",
    status_code=201,
    summary="Upload your organisation's footprint polygons (GeoJSON or GeoPackage)",
    description="Needs an analyst's API key of an organisation (the set is its). Each "
    "feature is a Polygon or MultiPolygon (WGS84 or EPSG:27700) with a code (code_field, or "
    "a property 'code', 'id' or ending in CD; else its number) and a name (name_field, "
    "'name' or ending in NM). A file with any bad feature is refused with every reason and "
    "nothing is stored; an upload with the name of one of your sets replaces it.",
    response_model=schemas.FootprintUpload,
    responses=problems(400, 401, 403, 503),
)
async def upload(
    request: Request,
    principal: AnalystDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="a .geojson or .gpkg file")],
    name: Annotated[str, Form(min_length=1, max_length=100, pattern=r"^[^\x00]+$")],
    restricted: Annotated[bool, Form(description="visible only to your organisation")] = False,
    code_field: Annotated[str | None, Form(max_length=100, pattern=r"^[^\x00]+$")] = None,
    name_field: Annotated[str | None, Form(max_length=100, pattern=r"^[^\x00]+$")] = None,
) -> JSONResponse:
    organisation = principal.organisation
    if organisation is None:
        raise Unauthenticated(
            "uploading footprints needs an API key of an organisation (the set is its)",
            parameter="Authorization",
        )
    original = file.filename or "footprints.geojson"
    suffix = Path(original).suffix.lower()
    if suffix not in (".geojson", ".json", ".gpkg"):
        raise InvalidParameter(
            f"file {original!r}: upload a .geojson or .gpkg file", parameter="file"
        )
    content = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise InvalidParameter("the file is larger than 50 MB", parameter="file")
    if not content:
        raise InvalidParameter("the file is empty", parameter="file")
    with tempfile.TemporaryDirectory(prefix="locus-footprints-") as tmp:
        path = Path(tmp) / (_SAFE_NAME.sub("_", Path(original).stem)[:80] + suffix)
        path.write_bytes(content)
        try:
            body = await run_in_threadpool(
                upload_footprints,
                database(settings.database, purpose="batch"),
                path,
                name=name.strip(),
                organisation=organisation,
                restricted=restricted,
                display_name=original,
                code_field=code_field,
                name_field=name_field,
            )
        except LoadError as exc:
            rows = [{"row": r.row, "reason": r.reason} for r in exc.rejects if r.row is not None]
            whole = [r.reason for r in exc.rejects if r.row is None]
            return problem(
                request,
                status=400,
                title="Rejected upload",
                detail=f"{original}: "
                + ("; ".join(whole) if whole else f"{len(rows)} rejected feature(s)")
                + "; nothing was stored",
                slug="rejected-upload",
                parameter="file",
                rejects=rows or None,
            )
    return JSONResponse(body, status_code=201)


@router.delete(
    "/custom/{set_id}",
    status_code=204,
    summary="Delete one of your organisation's footprint sets",
    response_class=Response,
    responses=problems(401, 403, 404, 503),
)
async def delete(
    principal: AnalystDep,
    settings: SettingsDep,
    set_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
) -> Response:
    organisation = principal.organisation
    if organisation is None:
        raise Unauthenticated(
            "deleting footprints needs an API key of an organisation", parameter="Authorization"
        )

    deleted = await run_in_threadpool(
        delete_footprints, _db(settings), set_id=set_id, organisation=organisation
    )
    if not deleted:
        raise NotFound(f"no footprint set {set_id} of your organisation", parameter="set_id")
    return Response(status_code=204)
