"""Plain JSON endpoints for the questions estates teams ask (nearest, catchment, access).

Thin: parameters are validated here (ranges, modes, kinds, bands — errors name the
parameter), the work is in :mod:`app.services.analysis`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from app.db import engine_for
from app.errors import InvalidParameter, NotFound, ServiceUnavailable
from app.services import analysis
from app.services.networks import NoNetworkError

router = APIRouter(prefix="/analysis", tags=["analysis"])
postcode_router = APIRouter(tags=["analysis"])

Mode = Literal["drive", "walk", "cycle", "transit"]
MAX_NEAREST = 50
MAX_BANDS = 10
MAX_SITES = 100
DEFAULT_BANDS = "5,10,15,20,30,45,60"

ModeQuery = Annotated[Mode, Query(description="travel mode")]
KindQuery = Annotated[
    str,
    Query(
        min_length=2,
        max_length=40,
        pattern=r"^[a-z_]+$",
        description="site kind, e.g. gp_practice, pharmacy, hospital, council_building",
    ),
]


def _engine(request: Request) -> Any:
    return engine_for(request.app.state.settings.database.url)


async def _run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except analysis.AnalysisInputError as exc:
        if exc.parameter in ("site_id", "postcode", "site_ids"):
            raise NotFound(str(exc), parameter=exc.parameter) from exc
        raise InvalidParameter(str(exc), parameter=exc.parameter) from exc
    except NoNetworkError as exc:
        raise ServiceUnavailable(str(exc), parameter="mode") from exc


def _origin(
    engine: Any, lon: float | None, lat: float | None, postcode: str | None
) -> analysis.Origin:
    if postcode:
        if lon is not None or lat is not None:
            raise InvalidParameter(
                "give either postcode or lon/lat, not both", parameter="postcode"
            )
        with engine.connect() as conn:
            try:
                return analysis.origin_from_postcode(conn, postcode)
            except analysis.AnalysisInputError as exc:
                raise NotFound(str(exc), parameter="postcode") from exc
    if lon is None or lat is None:
        raise InvalidParameter(
            "a point is needed: lon and lat (WGS84) or postcode", parameter="lon"
        )
    return analysis.origin_from_lonlat(lon, lat)


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


Lon = Annotated[float | None, Query(ge=-180, le=180, description="WGS84 longitude")]
Lat = Annotated[float | None, Query(ge=-90, le=90, description="WGS84 latitude")]
Postcode = Annotated[str | None, Query(min_length=5, max_length=8, pattern=r"^[A-Za-z0-9 ]+$")]


@router.get("/modes", summary="Travel modes with data loaded (road networks, a GTFS feed)")
async def modes(request: Request) -> dict[str, Any]:
    return {"modes": await _run(analysis.available_modes, _engine(request))}


@router.get("/nearest", summary="Nearest sites of a kind to a point or postcode, by travel time")
async def nearest(
    request: Request,
    kind: KindQuery = "gp_practice",
    mode: ModeQuery = "drive",
    n: Annotated[int, Query(ge=1, le=MAX_NEAREST)] = 5,
    lon: Lon = None,
    lat: Lat = None,
    postcode: Postcode = None,
) -> dict[str, Any]:
    engine = _engine(request)
    origin = await run_in_threadpool(_origin, engine, lon, lat, postcode)
    result: dict[str, Any] = await _run(
        analysis.nearest_sites, engine, origin, kind=kind, mode=mode, n=n
    )
    return result


@router.get(
    "/catchment/{site_id}",
    summary="Catchment bands of a site by mode, with the population in each band",
)
async def catchment(
    request: Request,
    site_id: int,
    mode: ModeQuery = "drive",
    bands: Annotated[str, Query(description="minutes, comma separated")] = DEFAULT_BANDS,
) -> dict[str, Any]:
    result: dict[str, Any] = await _run(
        analysis.site_catchment, _engine(request), site_id, mode=mode, bands_min=_bands(bands)
    )
    return result


@router.get("/access", summary="Time from every area to its nearest site of a kind, by mode")
async def access(
    request: Request,
    kind: KindQuery = "gp_practice",
    mode: ModeQuery = "drive",
    minutes: Annotated[float, Query(gt=0, le=180)] = 15,
) -> dict[str, Any]:
    result: dict[str, Any] = await _run(
        analysis.access_map, _engine(request), kind=kind, mode=mode, minutes=minutes
    )
    return result


@router.get(
    "/access-gaps",
    summary="Areas with the worst access weighted by need (IMD decile, share aged 65+)",
)
async def access_gaps(
    request: Request,
    kind: KindQuery = "gp_practice",
    mode: ModeQuery = "drive",
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> dict[str, Any]:
    result: dict[str, Any] = await _run(
        analysis.access_gaps, _engine(request), kind=kind, mode=mode, limit=limit
    )
    return result


@router.get(
    "/floating-catchment",
    summary="Two-step floating catchment (2SFCA / E2SFCA): sites per 1,000 people per area",
)
async def floating_catchment(
    request: Request,
    kind: KindQuery = "gp_practice",
    mode: ModeQuery = "drive",
    minutes: Annotated[float, Query(gt=0, le=180)] = 30,
    enhanced: Annotated[bool, Query(description="E2SFCA distance decay")] = False,
) -> dict[str, Any]:
    result: dict[str, Any] = await _run(
        analysis.floating_catchment,
        _engine(request),
        kind=kind,
        mode=mode,
        minutes=minutes,
        enhanced=enhanced,
    )
    return result


@router.get(
    "/population-within",
    summary="Population within T minutes of a point, a postcode or a set of sites",
)
async def population_within(
    request: Request,
    minutes: Annotated[float, Query(gt=0, le=180)],
    mode: ModeQuery = "drive",
    lon: Lon = None,
    lat: Lat = None,
    postcode: Postcode = None,
    site_ids: Annotated[str | None, Query(pattern=r"^\d+(,\d+)*$")] = None,
) -> dict[str, Any]:
    engine = _engine(request)
    ids = [int(s) for s in site_ids.split(",")] if site_ids else None
    if ids and len(ids) > MAX_SITES:
        raise InvalidParameter(f"at most {MAX_SITES} site ids", parameter="site_ids")
    origin = None
    if not ids:
        origin = await run_in_threadpool(_origin, engine, lon, lat, postcode)
    result: dict[str, Any] = await _run(
        analysis.population_within, engine, minutes=minutes, mode=mode, origin=origin, site_ids=ids
    )
    return result


@postcode_router.get("/postcodes/{postcode}", summary="Postcode lookup")
async def postcode_lookup(request: Request, postcode: str) -> dict[str, Any]:
    if not (5 <= len(postcode.replace(" ", "")) <= 7) or not postcode.replace(" ", "").isalnum():
        raise InvalidParameter(f"{postcode!r} is not a UK postcode", parameter="postcode")
    engine = _engine(request)

    def lookup() -> dict[str, Any]:
        with engine.connect() as conn:
            return analysis.postcode_lookup(conn, postcode)

    result: dict[str, Any] = await _run(lookup)
    return result
