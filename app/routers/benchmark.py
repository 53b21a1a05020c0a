"""The estate benchmark: NHS sites and trusts against every English peer of the same type.

- ``GET /estate/benchmark?level=site|trust&trust=&site=&type=&outliers=&limit=&offset=``:
  the KPIs (running cost, backlog by risk, energy cost per m²; pre-1948, empty and under-used
  shares), each with its percentile among the peers and an outlier flag; the peer groups'
  spread; the method; the national totals beside NHS Digital's published figures.
- ``GET /estate/benchmark/report?...&f=html|pdf``: the same answer as a report with a chart.

Open data (ERIC is published for every trust): no key needed. Thin: the work is
:mod:`app.services.benchmark`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from app.dependencies import SettingsDep
from app.errors import ServiceUnavailable
from app.reports.benchmark import benchmark_report
from app.schemas import benchmark as schemas
from app.schemas.openapi import HTML, download, problems
from app.services import benchmark
from store.connection import database

router = APIRouter(prefix="/estate", tags=["estate"])

MAX_CODES = 50
MAX_LIMIT = 2000

LevelQuery = Annotated[Literal["site", "trust"], Query(description="benchmark sites or trusts")]
Codes = Annotated[
    str | None,
    Query(
        max_length=500,
        pattern=r"^[A-Za-z0-9]{3,6}(,[A-Za-z0-9]{3,6})*$",
        description="comma-separated ODS codes",
    ),
]
TypeQuery = Annotated[
    str | None,
    Query(
        alias="type",
        max_length=100,
        pattern=r"^[^\x00]+$",
        description="only this peer group: an ERIC site type (level=site, e.g. '7. Community "
        "hospital (with inpatient beds)') or trust type (level=trust, e.g. 'COMMUNITY')",
    ),
]
OutliersQuery = Annotated[bool, Query(description="only rows with any KPI flagged")]


def _split(value: str | None) -> list[str] | None:
    return None if value is None else value.split(",")[:MAX_CODES]


async def _answer(
    settings: Any,
    level: str,
    trust: str | None,
    site: str | None,
    peer: str | None,
    outliers: bool,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    db = database(settings.database, purpose="interactive")

    def work() -> dict[str, Any]:
        table = benchmark.benchmark_table(
            db,
            level="site" if level == "site" else "trust",
            trusts=_split(trust),
            sites=_split(site) if level == "site" else None,
            peer=peer,
            outliers_only=outliers,
            limit=limit,
            offset=offset,
        )
        return benchmark.to_json(table, limit=limit, offset=offset)

    try:
        result: dict[str, Any] = await run_in_threadpool(work)
    except benchmark.BenchmarkUnavailable as exc:
        raise ServiceUnavailable(str(exc)) from exc
    return result


@router.get(
    "/benchmark",
    summary="Estate benchmark of NHS sites or trusts against all of England (ERIC 2016/17)",
    description="Running cost, backlog (all and by risk) and energy cost per m², and the "
    "shares of floor area built before 1948, empty and under-used; each with its percentile "
    "among the sites of the same ERIC site type (or trusts of the same trust type) and an "
    "outlier flag beyond the 5th/95th percentile. `site` applies to level=site only.",
    response_model=schemas.Benchmark,
    responses=problems(400, 503),
)
async def estate_benchmark(
    settings: SettingsDep,
    level: LevelQuery = "site",
    trust: Codes = None,
    site: Codes = None,
    peer: TypeQuery = None,
    outliers: OutliersQuery = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    return await _answer(settings, level, trust, site, peer, outliers, limit, offset)


@router.get(
    "/benchmark/report",
    summary="Estate benchmark report (html, pdf) with a percentile chart",
    response_model=None,
    response_class=Response,
    responses={
        200: {
            "description": "the report",
            "content": {**HTML, **download("application/pdf")},
        },
        **problems(400, 503),
    },
)
async def estate_benchmark_report(
    settings: SettingsDep,
    level: LevelQuery = "site",
    trust: Codes = None,
    site: Codes = None,
    peer: TypeQuery = None,
    outliers: OutliersQuery = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 30,
    f: Annotated[Literal["html", "pdf"], Query(description="format")] = "html",
) -> Response:
    answer = await _answer(settings, level, trust, site, peer, outliers, limit, 0)
    scope = ", ".join(x for x in (trust, site, peer) if x) or "all of England"
    title = f"Estate benchmark ({answer['level']}s): {scope}"
    html, pdf = await run_in_threadpool(benchmark_report, answer, title=title, pdf=f == "pdf")
    if f == "html":
        return HTMLResponse(html)
    assert pdf is not None  # asked for
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": 'attachment; filename="estate-benchmark.pdf"'},
    )
