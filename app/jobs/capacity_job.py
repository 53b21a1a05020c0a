"""The ``capacity-sizing`` process: need against today's capacity in every site's catchment.

Inputs are :class:`app.schemas.planning.CapacityParams`: the service (primary care or
beds), the site kinds, the mode whose stored times draw the nearest-site catchments, a
stored projection and horizon year (none: need now only) and a stored norm set (none: the
built-in one). The work is :func:`app.services.planning_capacity.size_capacity`; results
are a :class:`app.schemas.planning.CapacityResult`. Downloads: ``f=csv`` (one row per site),
``f=html`` and ``f=pdf`` (the report, :mod:`app.reports.planning`).
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from starlette.concurrency import run_in_threadpool

from app.errors import InvalidParameter
from app.jobs.registry import Exporter, Process, ProcessError, RunContext
from app.reports.planning import capacity_csv, capacity_report
from app.schemas.planning import CapacityParams, CapacityResult
from app.services.estate_common import AREA_VINTAGE
from app.services.planning_capacity import CapacityInputError, size_capacity
from store import planning as planning_store
from store.access import Principal
from store.traveltimes import has_travel_times


async def precheck(conn: AsyncConnection[Any], inputs: Any, principal: Principal) -> None:
    """The projection and norm set must be visible; stored times must exist for the mode."""
    assert isinstance(inputs, CapacityParams)
    if inputs.projection_id is not None and not await planning_store.named_visible(
        conn, "population_projections", principal, inputs.projection_id
    ):
        raise InvalidParameter(f"no projection {inputs.projection_id}", parameter="projection_id")
    if inputs.norms_id is not None and not await planning_store.named_visible(
        conn, "planning_norms", principal, inputs.norms_id
    ):
        raise InvalidParameter(f"no norm set {inputs.norms_id}", parameter="norms_id")
    if not await has_travel_times(conn, mode=inputs.mode, area_vintage=AREA_VINTAGE):
        raise InvalidParameter(
            f"no stored {inputs.mode} travel times: load a network and run `locus compute`",
            parameter="mode",
        )


def run_capacity(ctx: RunContext, inputs: CapacityParams) -> dict[str, Any]:
    """Size the catchments for the job's organisation."""
    ctx.progress(2, "reading the norms", force=True)
    try:
        return size_capacity(
            ctx.db, ctx.principal, inputs, progress=lambda p, m: ctx.progress(p, m)
        )
    except CapacityInputError as exc:
        raise ProcessError(f"{exc.parameter}: {exc}") from None


def _exporter(fmt: str) -> Exporter:
    async def export(conn: AsyncConnection[Any], results: dict[str, Any]) -> tuple[bytes, str, str]:
        result = CapacityResult.model_validate(results)
        if fmt == "csv":
            return capacity_csv(result), "text/csv; charset=utf-8", "capacity.csv"
        html, pdf = await run_in_threadpool(capacity_report, result)
        if fmt == "html":
            return html.encode("utf-8"), "text/html; charset=utf-8", "capacity.html"
        return pdf, "application/pdf", "capacity.pdf"

    export.__name__ = f"export_{fmt}"
    return export


_SCHEMA = CapacityResult.model_json_schema()

CAPACITY_SIZING = Process(
    id="capacity-sizing",
    title="Capacity sizing",
    description=(
        "Need against today's capacity in every site's nearest-site catchment (stored travel "
        "times of a mode): people now and at a projection's horizon, turned into GP FTE, "
        "clinical rooms and floor area (primary care) or bed days, beds and admissions (beds) "
        "through a norm set whose every number cites its source; today's capacity from the "
        "loaded list sizes, floor areas and uploads; the gap and shortfalls flagged. "
        "Downloads: f=csv, f=html, f=pdf. Needs role analyst."
    ),
    inputs=CapacityParams,
    run=run_capacity,
    outputs={
        name: {"title": prop.get("title", name), "schema": {"type": prop.get("type", "object")}}
        for name, prop in _SCHEMA["properties"].items()
    },
    role="analyst",
    keywords=("planning", "capacity", "population", "norms"),
    precheck=precheck,
    exports={f: _exporter(f) for f in ("csv", "html", "pdf")},
)
