"""The estate register, asset uploads, the co-location finder and scenarios.

- ``GET /estate/sites``: every owner's sites with derived figures (cost and backlog per m²,
  pre-1948 share, utilisation flags); restricted sites only for their organisation.
- ``POST /estate/assets``: an organisation's own assets (multipart CSV or GeoPackage, analyst
  role), validated like every load; rejected rows → 400 listing each row and reason.
- ``GET /estate/colocation``: ranked clusters of buildings of two or more owners, by distance
  (``method=distance&max_distance_m=``) or network time (``mode=walk|drive|cycle&minutes=``);
  weights ``w_<component>``. ``GET /estate/colocation/report?f=html|pdf|gpkg|csv`` exports.
- ``POST /scenarios`` (analyst; a name already saved by the organisation gets version + 1),
  ``GET /scenarios``, ``GET /scenarios/{id}``, ``GET /scenarios/compare?a=<job>&b=<job>``;
  evaluation is the ``scenario-evaluation`` process (``/processes``).

Thin: parameters are checked here (errors name the parameter); the work is in
:mod:`app.services.estate`.
"""

from __future__ import annotations

import dataclasses
import io
import re
import tempfile
import uuid
import zipfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response

from app.auth import Principal, require_role
from app.db import engine_for
from app.dependencies import ConnectionDep, PrincipalDep
from app.errors import InvalidParameter, NotFound, ServiceUnavailable, problem
from app.services import estate as svc
from app.services.networks import NoNetworkError
from etl.loading import LoadError

router = APIRouter(tags=["estate"])

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_PAGE = 1000
_KIND = r"^[a-z][a-z0-9_]{1,62}$"
_WEIGHTS = (
    "owners",
    "host_space",
    "running_cost",
    "floor_area",
    "population",
    "deprivation",
    "services",
)
AnalystDep = Annotated[Principal, require_role("analyst")]


def _engine(request: Request) -> Any:
    return engine_for(request.app.state.settings.database.url)


def _list(value: str | None, parameter: str, pattern: str = _KIND) -> tuple[str, ...]:
    if not value:
        return ()
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    for item in items:
        if not re.match(pattern, item):
            raise InvalidParameter(
                f"{parameter}: {item!r} is not a valid value", parameter=parameter
            )
    return items


# ------------------------------------------------------------------------------- register
@router.get("/estate/sites", summary="The public estate register with derived figures")
async def estate_sites(
    request: Request,
    principal: PrincipalDep,
    owner_type: Annotated[
        str | None, Query(description="comma-separated owner types, e.g. council,nhs_trust")
    ] = None,
    kind: Annotated[
        str | None, Query(description="comma-separated kinds, e.g. council_building,hospital")
    ] = None,
    flagged: Annotated[bool, Query(description="only sites with a utilisation flag")] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """Sites of every owner with cost per m², backlog per m², pre-1948 share and flags."""
    kinds = _list(kind, "kind")
    owners = _list(owner_type, "owner_type")
    result: dict[str, Any] = await run_in_threadpool(
        svc.estate_register,
        _engine(request),
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
    description="Columns: "
    + "; ".join(f"{k}: {v}" for k, v in svc.ASSET_COLUMNS.items())
    + ". The upload replaces the organisation's previous upload atomically; assets with the "
    "same asset_id (default: name and postcode) keep their site ids, and the response lists "
    "the assets added, removed and changed.",
)
async def upload_assets(
    request: Request,
    principal: AnalystDep,
    file: Annotated[UploadFile, File(description="a .csv or .gpkg file")],
    restricted: Annotated[
        bool, Form(description="visible only to your organisation (rows may override)")
    ] = False,
) -> JSONResponse:
    """Validate and load the file as dataset ``assets:<organisation>`` (one transaction)."""
    assert principal.organisation is not None
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
            summary = await run_in_threadpool(
                svc.upload_assets,
                _engine(request),
                path,
                organisation=principal.organisation,
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
        "organisation": principal.organisation,
        "restricted": restricted,
        "notes": summary.notes,
    }
    return JSONResponse(body, status_code=201)


# ------------------------------------------------------------------------------- co-location
def _colocation_params(
    request: Request,
    method: str | None,
    max_distance_m: float,
    mode: str | None,
    minutes: float,
    kind: str | None,
    owner_type: str | None,
    host_tenure: str,
    min_owners: int,
    cost_per_m2: float | None,
) -> svc.ColocationParams:
    weights: dict[str, float] = {}
    for name, raw in request.query_params.items():
        if not name.startswith("w_"):
            continue
        comp = name.removeprefix("w_")
        if comp not in _WEIGHTS:
            raise InvalidParameter(
                f"unknown weight {name!r}; use w_ + one of {', '.join(_WEIGHTS)}", parameter=name
            )
        try:
            value = float(raw)
        except ValueError:
            raise InvalidParameter(f"{name} must be a number", parameter=name) from None
        if not 0 <= value <= 1000:
            raise InvalidParameter(f"{name} must be between 0 and 1000", parameter=name)
        weights[comp] = value
    if weights and not any(weights.get(c, 1.0) > 0 for c in _WEIGHTS):
        raise InvalidParameter("at least one weight must be positive", parameter="w_owners")
    chosen = method or ("network" if mode else "distance")
    if chosen not in ("distance", "network"):
        raise InvalidParameter("method must be distance or network", parameter="method")
    if chosen == "distance" and mode:
        raise InvalidParameter("mode is for method=network", parameter="mode")
    tenures = tuple(t.strip().lower() for t in host_tenure.split(",") if t.strip())
    if not tenures:
        raise InvalidParameter("give at least one host tenure", parameter="host_tenure")
    return svc.ColocationParams(
        method=chosen,
        max_distance_m=max_distance_m,
        mode=mode or "walk",
        minutes=minutes,
        kinds=_list(kind, "kind"),
        owner_types=_list(owner_type, "owner_type"),
        weights=weights,
        host_tenures=tenures,
        min_owners=min_owners,
        cost_per_m2=cost_per_m2,
    )


Method = Annotated[
    Literal["distance", "network"] | None,
    Query(description="distance (straight line) or network (travel time); default from mode"),
]
MaxDistance = Annotated[
    float, Query(gt=0, le=5000, description="co-location distance, metres (method=distance)")
]
ModeQ = Annotated[
    Literal["walk", "drive", "cycle"] | None, Query(description="travel mode (method=network)")
]
Minutes = Annotated[float, Query(gt=0, le=60, description="co-location time, minutes")]
KindQ = Annotated[str | None, Query(description="comma-separated site kinds considered")]
OwnerQ = Annotated[str | None, Query(description="comma-separated owner types considered")]
HostQ = Annotated[str, Query(max_length=200, description="tenures that can host (comma-separated)")]
MinOwners = Annotated[int, Query(ge=2, le=20)]
CostQ = Annotated[
    float | None,
    Query(
        gt=0,
        le=10000,
        description="£/m²/year for buildings without a running cost "
        "(default: the ERIC floor-area-weighted rate when ERIC is loaded)",
    ),
]


async def _run_colocation(
    request: Request, principal: Principal, params: svc.ColocationParams
) -> Any:
    try:
        return await run_in_threadpool(svc.run_colocation, _engine(request), principal, params)
    except NoNetworkError as exc:
        raise ServiceUnavailable(str(exc)) from exc
    except ValueError as exc:
        raise InvalidParameter(str(exc), parameter="method") from exc


@router.get(
    "/estate/colocation",
    summary="Co-location finder: clusters of buildings of two or more owners, ranked",
    description="Weights: w_owners, w_host_space, w_running_cost, w_floor_area, "
    "w_population, w_deprivation, w_services (>= 0).",
)
async def colocation(
    request: Request,
    principal: PrincipalDep,
    method: Method = None,
    max_distance_m: MaxDistance = 400.0,
    mode: ModeQ = None,
    minutes: Minutes = 10.0,
    kind: KindQ = None,
    owner_type: OwnerQ = None,
    host_tenure: HostQ = "freehold",
    min_owners: MinOwners = 2,
    cost_per_m2: CostQ = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> dict[str, Any]:
    """Ranked clusters with members, combined figures, population, IMD and score parts."""
    params = _colocation_params(
        request, method, max_distance_m, mode, minutes, kind, owner_type, host_tenure,
        min_owners, cost_per_m2,
    )  # fmt: skip
    result, sites, meta = await _run_colocation(request, principal, params)
    return {
        "numberMatched": len(result.clusters),
        "clusters": svc.clusters_json(result, sites, limit=limit),
        "metadata": meta,
    }


@router.get(
    "/estate/colocation/report",
    summary="Co-location report (html, pdf) or export (gpkg, csv as zip) of the top clusters",
    response_model=None,
)
async def colocation_report(
    request: Request,
    principal: PrincipalDep,
    f: Annotated[Literal["html", "pdf", "gpkg", "csv"], Query(description="format")] = "html",
    top: Annotated[int, Query(ge=1, le=50)] = 10,
    method: Method = None,
    max_distance_m: MaxDistance = 400.0,
    mode: ModeQ = None,
    minutes: Minutes = 10.0,
    kind: KindQ = None,
    owner_type: OwnerQ = None,
    host_tenure: HostQ = "freehold",
    min_owners: MinOwners = 2,
    cost_per_m2: CostQ = None,
) -> Response:
    """The same run as ``/estate/colocation``, rendered for a board paper or GIS."""
    params = _colocation_params(
        request, method, max_distance_m, mode, minutes, kind, owner_type, host_tenure,
        min_owners, cost_per_m2,
    )  # fmt: skip
    result, sites, _meta = await _run_colocation(request, principal, params)
    if result.clusters.empty:
        raise NotFound("no clusters for these parameters", parameter="max_distance_m")
    content, media, name = await run_in_threadpool(
        _render_clusters, _engine(request), result, sites, f, top
    )
    if f == "html":
        return HTMLResponse(content.decode("utf-8"))
    return Response(
        content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _render_clusters(
    engine: Any, result: Any, sites: Any, fmt: str, top: int
) -> tuple[bytes, str, str]:
    from app.reports import cluster_layers, cluster_report, to_csv, to_geopackage

    with engine.connect() as conn:
        sources = svc.data_sources(conn)
        areas = svc.area_polygons(conn)
    if fmt in ("html", "pdf"):
        html, pdf = cluster_report(
            result,
            sites=sites,
            areas=areas if not areas.empty else None,
            sources=sources,
            top_n=top,
            pdf_engine="auto" if fmt == "pdf" else "matplotlib",
        )
        if fmt == "html":
            return html.encode("utf-8"), "text/html", "colocation.html"
        return pdf, "application/pdf", "colocation.pdf"
    keep = set(result.clusters.head(top)["cluster_id"])
    trimmed = type(result)(
        clusters=result.clusters[result.clusters["cluster_id"].isin(keep)],
        members=result.members[result.members["cluster_id"].isin(keep)],
        method=result.method,
        threshold=result.threshold,
        threshold_unit=result.threshold_unit,
        population_bands=result.population_bands,
        weights=result.weights,
        notes=result.notes,
    )
    layers = cluster_layers(trimmed, sites.drop(columns=["db_id"]))
    with tempfile.TemporaryDirectory(prefix="locus-coloc-") as tmp:
        if fmt == "gpkg":
            path = to_geopackage(Path(tmp) / "colocation.gpkg", layers)
            return path.read_bytes(), "application/geopackage+sqlite3", "colocation.gpkg"
        files = to_csv(Path(tmp) / "csv", dict(layers))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in files:
                zf.write(p, arcname=p.name)
        return buf.getvalue(), "application/zip", "colocation-csv.zip"


# ------------------------------------------------------------------------------- scenarios
@router.post("/scenarios", status_code=201, summary="Save a scenario (a new version of its name)")
async def create_scenario(request: Request, principal: AnalystDep) -> JSONResponse:
    """Body: ``{"name", "description"?, "changes": [...], "restricted"?: false}``.

    Change types: close_sites {site_ids}, open_site {site_id, name, at_site_id | x,y (BNG) |
    lon,lat, gia_m2, land_ha, running_cost_gbp}, move_service {from_site_id, to_site_id,
    release_building}, change_capacity {site_id, capacity}, grow_population {age_bands,
    factor, area_codes?}. Sites are named by id or by source id (e.g. an ODS code).
    """
    try:
        body = await request.json()
    except ValueError:
        raise InvalidParameter("the request body is not valid JSON", parameter="body") from None
    if not isinstance(body, dict):
        raise InvalidParameter("the request body must be a JSON object", parameter="body")
    unknown = sorted(set(body) - {"name", "description", "changes", "restricted", "version"})
    if unknown:
        raise InvalidParameter(f"unknown member(s) {unknown}", parameter=unknown[0])
    restricted = body.pop("restricted", False)
    if not isinstance(restricted, bool):
        raise InvalidParameter("'restricted' must be true or false", parameter="restricted")
    body.pop("version", None)
    engine = _engine(request)
    try:
        scenario = await run_in_threadpool(svc.check_scenario, engine, principal, body)
    except svc.ScenarioInputError as exc:
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
        svc.save_scenario, engine, principal, scenario, restricted=restricted
    )
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        record, status_code=201, headers={"Location": f"{base}/scenarios/{record['id']}"}
    )


@router.get("/scenarios", summary="Scenarios you can see (every version)")
async def scenarios(
    request: Request,
    principal: PrincipalDep,
    name: Annotated[str | None, Query(max_length=200)] = None,
    latest: Annotated[bool, Query(description="only the latest version of each name")] = False,
) -> dict[str, Any]:
    rows = await run_in_threadpool(
        svc.list_scenarios, _engine(request), principal, name=name, latest_only=latest
    )
    return {"scenarios": rows}


@router.get("/scenarios/compare", summary="Two evaluated scenarios (jobs) side by side")
async def compare(
    principal: PrincipalDep,
    conn: ConnectionDep,
    a: Annotated[str, Query(description="job id of a scenario-evaluation")],
    b: Annotated[str, Query(description="job id of another scenario-evaluation")],
    f: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    """Rows (mode, metric, baseline, A, B, difference); estate rows have mode ``estate``."""
    from app.jobs import store
    from spatial.scenario import compare_scenarios

    results = []
    for name, value in (("a", a), ("b", b)):
        try:
            job_id = uuid.UUID(value)
        except ValueError:
            raise InvalidParameter(f"{name}: {value!r} is not a job id", parameter=name) from None
        job = await store.get_job(conn, job_id, principal)
        if job is None:
            raise NotFound(f"no job {value!r}", parameter=name)
        if job.process_id != "scenario-evaluation" or job.status != "successful" or not job.results:
            raise InvalidParameter(
                f"{name}: job {value} is not a successful scenario-evaluation", parameter=name
            )
        results.append(job.results)
    ra, rb = (svc.result_from_json(r) for r in results)
    try:
        table = compare_scenarios(ra, rb)
    except ValueError as exc:
        raise InvalidParameter(str(exc), parameter="b") from exc
    if f == "csv":
        return Response(
            table.to_csv(index=False),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="scenario-comparison.csv"'},
        )
    cols = [c for c in table.columns if c not in ("mode", "metric", "baseline", "difference")]
    return JSONResponse(
        {
            "a": {"job": a, "scenario": cols[0]},
            "b": {"job": b, "scenario": cols[1]},
            "columns": list(table.columns),
            "rows": svc.records(table),
        }
    )


@router.get("/scenarios/{scenario_id}", summary="One scenario")
async def scenario(request: Request, principal: PrincipalDep, scenario_id: int) -> dict[str, Any]:
    row = await run_in_threadpool(svc.get_scenario, _engine(request), principal, scenario_id)
    if row is None:
        raise NotFound(f"no scenario {scenario_id}", parameter="scenario_id")
    result: dict[str, Any] = row
    return result
