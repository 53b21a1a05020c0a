"""The ``colocation`` process: the co-location finder as a job, for big or network runs.

Same parameters and results as ``GET /estate/colocation`` (all clusters, not a page), run in
the worker so that network runs over many sites (a site-to-site travel-time matrix) do not
hold an HTTP request. Downloads: ``f=csv`` (one row per cluster member with its cluster's
rank and figures).
"""

from __future__ import annotations

import csv
import io
from typing import Any, Literal

from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict, Field

from app.jobs.registry import Process, ProcessError, RunContext


class ColocationInputs(BaseModel):
    """Inputs of ``colocation``."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["distance", "network"] = Field("distance", description="distance | network")
    max_distance_m: float = Field(400.0, gt=0, le=5000, description="metres (distance)")
    mode: Literal["walk", "drive", "cycle"] = Field("walk", description="mode (network)")
    minutes: float = Field(10.0, gt=0, le=60, description="co-location time (network)")
    kinds: list[str] = Field(default_factory=list, max_length=40, description="site kinds")
    owner_types: list[str] = Field(default_factory=list, max_length=40)
    weights: dict[str, float] = Field(
        default_factory=dict, description="score weights by component (owners, host_space, ...)"
    )
    host_tenures: list[str] = Field(default_factory=lambda: ["freehold"], min_length=1)
    min_owners: int = Field(2, ge=2, le=20)
    cost_per_m2: float | None = Field(None, gt=0, le=10000)


def run_colocation_job(ctx: RunContext, inputs: ColocationInputs) -> dict[str, Any]:
    """Run the finder for the job's organisation and return every cluster."""
    from app.services import estate as svc
    from app.services.networks import NoNetworkError

    ctx.progress(2, "loading sites and areas", force=True)
    params = svc.ColocationParams(
        method=inputs.method,
        max_distance_m=inputs.max_distance_m,
        mode=inputs.mode,
        minutes=inputs.minutes,
        kinds=tuple(inputs.kinds),
        owner_types=tuple(inputs.owner_types),
        weights=inputs.weights,
        host_tenures=tuple(t.lower() for t in inputs.host_tenures),
        min_owners=inputs.min_owners,
        cost_per_m2=inputs.cost_per_m2,
    )
    try:
        result, sites, meta = svc.run_colocation(
            ctx.engine, ctx.principal, params, progress=lambda p, m: ctx.progress(p, m)
        )
    except (ValueError, NoNetworkError) as exc:
        raise ProcessError(str(exc)) from None
    ctx.progress(95, "writing results", force=True)
    return {"clusters": svc.clusters_json(result, sites), "metadata": svc.clean(meta)}


async def export_csv(conn: AsyncConnection[Any], results: dict[str, Any]) -> tuple[bytes, str, str]:
    """One row per cluster member with its cluster's rank, score and combined figures."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    cluster_cols = [
        "rank",
        "seed_name",
        "n_owners",
        "combined_gia_m2",
        "combined_running_cost_gbp",
        "freehold_gia_m2",
        "score",
    ]
    member_cols = ["site_id", "source_id", "name", "owner", "owner_type", "kind", "tenure"]
    member_cols += ["gia_m2", "running_cost_gbp", "separation", "is_seed", "lon", "lat"]
    writer.writerow([f"cluster_{c}" for c in cluster_cols] + member_cols)
    for c in results.get("clusters", []):
        for m in c.get("members", []):
            writer.writerow([c.get(k) for k in cluster_cols] + [m.get(k) for k in member_cols])
    return out.getvalue().encode(), "text/csv; charset=utf-8", "colocation-members.csv"


COLOCATION = Process(
    id="colocation",
    title="Co-location finder",
    description=(
        "Clusters of buildings of two or more owners around a freehold host, within a "
        "distance or a network travel time, with combined floor area, running cost, freehold "
        "space, population within two bands, IMD profile, services and a weighted score "
        "(as GET /estate/colocation, every cluster). Needs role analyst."
    ),
    inputs=ColocationInputs,
    run=run_colocation_job,
    outputs={
        "clusters": {
            "title": "Ranked clusters with members",
            "schema": {"type": "array", "items": {"type": "object"}},
        },
        "metadata": {"title": "Method, weights, cost rate", "schema": {"type": "object"}},
    },
    role="analyst",
    keywords=("co-location", "One Public Estate"),
    exports={"csv": export_csv},
)
