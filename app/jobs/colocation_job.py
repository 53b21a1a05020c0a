"""The ``colocation`` process: the co-location finder as a job, for big or network runs.

The same parameters (:class:`app.services.colocation.ColocationParams`, the one definition)
and results as ``GET /estate/colocation`` (all clusters, not a page), run in
the worker so that network runs over many sites (a site-to-site travel-time matrix) do not
hold an HTTP request. Downloads: ``f=csv`` (one row per cluster member with its cluster's
rank and figures).
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from app.jobs.registry import Process, ProcessError, RunContext
from app.reports import rows_csv
from app.services.colocation import ColocationParams, clusters_json, run_colocation
from app.services.estate_common import clean
from app.services.networks import NoNetworkError
from store.connection import database


def run_colocation_job(ctx: RunContext, inputs: ColocationParams) -> dict[str, Any]:
    """Run the finder for the job's organisation and return every cluster.

    The settings (which database) come from the runner's context (``ctx.settings``).
    """
    if ctx.settings is None:
        raise ProcessError("internal: the job runner passed no settings")
    db = database(ctx.settings.database, purpose="batch")
    ctx.progress(2, "loading sites and areas", force=True)
    try:
        result, sites, meta = run_colocation(
            db, ctx.settings, ctx.principal, inputs, progress=lambda p, m: ctx.progress(p, m)
        )
    except (ValueError, NoNetworkError) as exc:
        raise ProcessError(str(exc)) from None
    ctx.progress(95, "writing results", force=True)
    return {"clusters": clusters_json(result, sites), "metadata": clean(meta)}


async def export_csv(conn: AsyncConnection[Any], results: dict[str, Any]) -> tuple[bytes, str, str]:
    """One row per cluster member with its cluster's rank, score and combined figures
    (cells escaped against spreadsheet formulas: :func:`app.reports.rows_csv`)."""
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
    header = [f"cluster_{c}" for c in cluster_cols] + member_cols
    rows = (
        [c.get(k) for k in cluster_cols] + [m.get(k) for k in member_cols]
        for c in results.get("clusters", [])
        for m in c.get("members", [])
    )
    text = rows_csv(header, rows)
    return text.encode(), "text/csv; charset=utf-8", "colocation-members.csv"


COLOCATION = Process(
    id="colocation",
    title="Co-location finder",
    description=(
        "Clusters of buildings of two or more owners around a freehold host, within a "
        "distance or a network travel time, with combined floor area, running cost, freehold "
        "space, population within two bands, IMD profile, services and a weighted score "
        "(as GET /estate/colocation, every cluster). Needs role analyst."
    ),
    inputs=ColocationParams,
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
