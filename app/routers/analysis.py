"""Plain JSON endpoints for the questions estates teams ask (nearest, catchment, access).

Thin: parameters are validated here (ranges, the mode registry's modes, the one kind rule,
bands — errors name the parameter); the caller and the app's settings are passed on to
:mod:`app.services.analysis`, which works on the interactive database (statement timeout).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool

from app.dependencies import PrincipalDep, SettingsDep
from app.errors import InvalidParameter, NotFound, ServiceUnavailable
from app.schemas import analysis as schemas
from app.schemas.openapi import problems
from app.services import analysis
from app.services.areas import (
    AnalysisInputError,
    Origin,
    origin_from_lonlat,
    origin_from_postcode,
    postcode_lookup,
)
from app.services.sources import NoNetworkError
from config.settings import Settings
from spatial.kinds import KIND_PATTERN
from spatial.modes import MODES, Mode
from store.connection import Database, database

router = APIRouter(prefix="/analysis", tags=["analysis"])
postcode_router = APIRouter(tags=["analysis"])

MAX_NEAREST = 50
MAX_BANDS = 10
MAX_SITES = 100
DEFAULT_BANDS = "5,10,15,20,30,45,60"
#: Largest id a site can have (``sites.id`` is a PostgreSQL integer).
MAX_ID = 2**31 - 1
_NOT_FOUND = frozenset({"site_id", "postcode", "site_ids"})

ModeQuery = Annotated[Mode, Query(description=f"travel mode: {', '.join(MODES)}")]
KindQuery = Annotated[
    str,
    Query(
        pattern=KIND_PATTERN,
        description="site kind, e.g. gp_practice, pharmacy, hospital (see /analysis/kinds)",
    ),
]
Lon = Annotated[float | None, Query(ge=-180, le=180, description="WGS84 longitude")]
Lat = Annotated[float | None, Query(ge=-90, le=90, description="WGS84 latitude")]
Postcode = Annotated[str | None, Query(min_length=5, max_length=8, pattern=r"^[A-Za-z0-9 ]+$")]


def _db(settings: Settings) -> Database:
    return database(settings.database, purpose="interactive")


async def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a service function in the thread pool; its errors as problems naming the parameter."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except AnalysisInputError as exc:
        if exc.parameter in _NOT_FOUND:
            raise NotFound(str(exc), parameter=exc.parameter) from exc
        raise InvalidParameter(str(exc), parameter=exc.parameter) from exc
    except NoNetworkError as exc:
        raise ServiceUnavailable(str(exc), parameter="mode") from exc


async def _origin(
    db: Database, lon: float | None, lat: float | None, postcode: str | None
) -> Origin:
    if postcode:
        if lon is not None or lat is not None:
            raise InvalidParameter(
                "give either postcode or lon/lat, not both", parameter="postcode"
            )
        origin: Origin = await _run(origin_from_postcode, db, postcode)
        return origin
    if lon is None or lat is None:
        raise InvalidParameter(
            "a point is needed: lon and lat (WGS84) or postcode", parameter="lon"
        )
    point: Origin = await _run(origin_from_lonlat, lon, lat)
    return point


def _bands(value: str) -> list[int]:
    try:
        bands = sorted({int(v) for v in value.split(",") if v.strip()})
    except ValueError as exc:
        raise InvalidParameter(
            f"bands {value!r}: expected comma-separated whole minutes, e.g. 10,20,30",
            parameter="bands",
        ) from exc
    if not bands or len(bands) > MAX_BANDS or bands[0] < 1 or bands[-1] > 120:
        raise InvalidParameter(
            f"bands: 1 to {MAX_BANDS} values, each between 1 and 120 minutes", parameter="bands"
        )
    return bands


@router.get(
    "/modes",
    summary="Travel modes: the registry (label, data needed, speeds) and which are available",
    response_model=schemas.Modes,
    responses=problems(503),
)
async def modes(settings: SettingsDep) -> dict[str, Any]:
    """``modes``: names of the modes with data loaded; ``registry``: every mode with its label,
    what it needs, its speed rule, ``available`` and the loaded network's speeds."""
    result: dict[str, Any] = await _run(analysis.modes_registry, _db(settings))
    return result


@router.get(
    "/kinds",
    summary="Site kinds the caller can see, with labels and counts",
    response_model=schemas.Kinds,
    responses=problems(401, 503),
)
async def kinds(settings: SettingsDep, principal: PrincipalDep) -> dict[str, Any]:
    result: dict[str, Any] = await _run(analysis.site_kinds, _db(settings), principal)
    return result


@router.get(
    "/nearest",
    summary="Nearest sites of a kind to a point or postcode, by travel time",
    response_model=schemas.Nearest,
    response_model_exclude_unset=True,
    responses=problems(400, 404, 503),
)
async def nearest(
    settings: SettingsDep,
    principal: PrincipalDep,
    kind: KindQuery = "gp_practice",
    mode: ModeQuery = "drive",
    n: Annotated[int, Query(ge=1, le=MAX_NEAREST)] = 5,
    lon: Lon = None,
    lat: Lat = None,
    postcode: Postcode = None,
) -> dict[str, Any]:
    db = _db(settings)
    origin = await _origin(db, lon, lat, postcode)
    result: dict[str, Any] = await _run(
        analysis.nearest_sites, db, settings, principal, origin, kind=kind, mode=mode, n=n
    )
    return result


@router.get(
    "/catchment/{site_id}",
    summary="Catchment bands of a site by mode, with the population in each band",
    response_model=schemas.Catchment,
    response_model_exclude_unset=True,
    responses=problems(400, 404, 503),
)
async def catchment(
    settings: SettingsDep,
    principal: PrincipalDep,
    site_id: Annotated[int, Path(ge=1, le=MAX_ID, description="site id")],
    mode: ModeQuery = "drive",
    bands: Annotated[str, Query(description="minutes, comma separated")] = DEFAULT_BANDS,
) -> dict[str, Any]:
    result: dict[str, Any] = await _run(
        analysis.site_catchment,
        _db(settings),
        settings,
        principal,
        site_id,
        mode=mode,
        bands_min=_bands(bands),
    )
    return result


@router.get(
    "/access",
    summary="Time from every area to its nearest site of a kind, by mode",
    response_model=schemas.AccessMap,
    responses=problems(400, 503),
)
async def access(
    settings: SettingsDep,
    principal: PrincipalDep,
    kind: KindQuery = "gp_practice",
    mode: ModeQuery = "drive",
    minutes: Annotated[float, Query(gt=0, le=180)] = 15,
) -> dict[str, Any]:
    result: dict[str, Any] = await _run(
        analysis.access_map, _db(settings), principal, kind=kind, mode=mode, minutes=minutes
    )
    return result


@router.get(
    "/access-gaps",
    summary="Areas with the worst access weighted by need (IMD decile, share aged 65+)",
    response_model=schemas.AccessGaps,
    responses=problems(400, 503),
)
async def access_gaps(
    settings: SettingsDep,
    principal: PrincipalDep,
    kind: KindQuery = "gp_practice",
    mode: ModeQuery = "drive",
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> dict[str, Any]:
    result: dict[str, Any] = await _run(
        analysis.access_gaps, _db(settings), principal, kind=kind, mode=mode, limit=limit
    )
    return result


@router.get(
    "/floating-catchment",
    summary="Two-step floating catchment (2SFCA / E2SFCA): sites per 1,000 people per area",
    response_model=schemas.FloatingCatchment,
    responses=problems(400, 503),
)
async def floating_catchment(
    settings: SettingsDep,
    principal: PrincipalDep,
    kind: KindQuery = "gp_practice",
    mode: ModeQuery = "drive",
    minutes: Annotated[float, Query(gt=0, le=180)] = 30,
    enhanced: Annotated[bool, Query(description="E2SFCA distance decay")] = False,
) -> dict[str, Any]:
    result: dict[str, Any] = await _run(
        analysis.floating_catchment,
        _db(settings),
        principal,
        kind=kind,
        mode=mode,
        minutes=minutes,
        enhanced=enhanced,
    )
    return result


@router.get(
    "/population-within",
    summary="Population within T minutes of a point, a postcode or a set of sites",
    response_model=schemas.PopulationWithin,
    response_model_exclude_unset=True,
    responses=problems(400, 404, 503),
)
async def population_within(
    settings: SettingsDep,
    principal: PrincipalDep,
    minutes: Annotated[float, Query(gt=0, le=180)],
    mode: ModeQuery = "drive",
    lon: Lon = None,
    lat: Lat = None,
    postcode: Postcode = None,
    site_ids: Annotated[str | None, Query(pattern=r"^\d{1,9}(,\d{1,9})*$")] = None,
) -> dict[str, Any]:
    db = _db(settings)
    ids = [int(s) for s in site_ids.split(",")] if site_ids else None
    if ids and len(ids) > MAX_SITES:
        raise InvalidParameter(f"at most {MAX_SITES} site ids", parameter="site_ids")
    origin = None if ids else await _origin(db, lon, lat, postcode)
    result: dict[str, Any] = await _run(
        analysis.population_within,
        db,
        settings,
        principal,
        minutes=minutes,
        mode=mode,
        origin=origin,
        site_ids=ids,
    )
    return result


@postcode_router.get(
    "/postcodes/{postcode}",
    summary="Postcode lookup",
    response_model=schemas.PostcodeLocation,
    responses=problems(400, 404, 503),
)
async def lookup_postcode(settings: SettingsDep, postcode: str) -> dict[str, Any]:
    compact = postcode.replace(" ", "")
    if not (5 <= len(compact) <= 7) or not compact.isascii() or not compact.isalnum():
        raise InvalidParameter(f"{postcode!r} is not a UK postcode", parameter="postcode")
    result: dict[str, Any] = await _run(postcode_lookup, _db(settings), postcode)
    return result
