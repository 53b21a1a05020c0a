"""Small processes: ``echo`` (checks the queue end to end) and ``travel-times`` (recompute).

``echo`` is the OGC API Processes conformance-style diagnostic: it returns its inputs after an
optional delay with progress reports, or fails on request, so an operator (and the tests) can
prove that jobs are accepted, run by a worker, report progress, finish, fail and are dismissed
without touching real data.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.jobs.registry import Process, ProcessError, RunContext
from app.services.compute import refresh_computations
from store.sites import site_points


class EchoInputs(BaseModel):
    """Inputs of ``echo``."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field("", max_length=1000, description="text returned in the results")
    delay_s: float = Field(
        0.0, ge=0.0, le=60.0, description="seconds to work before answering (max 60)"
    )
    steps: int = Field(10, ge=1, le=100, description="progress reports during the delay")
    fail: bool = Field(False, description="fail on purpose (to check error reporting)")


def run_echo(ctx: RunContext, inputs: EchoInputs) -> dict[str, Any]:
    """Sleep ``delay_s`` in ``steps`` steps reporting progress, then echo the message."""
    ctx.progress(0, "started", force=True)
    step = inputs.delay_s / inputs.steps
    for i in range(inputs.steps):
        time.sleep(step)
        ctx.progress(100 * (i + 1) / inputs.steps * 0.99, f"step {i + 1} of {inputs.steps}")
    if inputs.fail:
        raise ProcessError("failed on request (input 'fail' was true)")
    return {"message": inputs.message, "attempt": ctx.attempt, "steps": inputs.steps}


ECHO = Process(
    id="echo",
    title="Echo",
    description=(
        "Returns its message after an optional delay, reporting progress: a diagnostic that "
        "the job queue and workers are running. Needs role analyst."
    ),
    inputs=EchoInputs,
    run=run_echo,
    outputs={
        "message": {"title": "The message", "schema": {"type": "string"}},
        "attempt": {"title": "Attempt that produced the result", "schema": {"type": "integer"}},
    },
    keywords=("diagnostic",),
)


class TravelTimesInputs(BaseModel):
    """``travel-times`` takes no inputs: it recomputes every mode's stored matrix."""

    model_config = ConfigDict(extra="forbid")


def run_travel_times(ctx: RunContext, inputs: TravelTimesInputs) -> dict[str, Any]:
    """Recompute the stored area → site travel times of every mode (forced)."""
    ctx.progress(5, "computing area → site travel times for every mode", force=True)
    started = time.perf_counter()
    summaries = refresh_computations(ctx.settings, force=True, db=ctx.db)
    if not summaries:
        raise ProcessError("no road network is loaded: nothing to compute")
    # The matrix covers every organisation's sites; the result names only those the caller
    # may see (an unreachable restricted site of another organisation stays unnamed).
    unreachable = sorted({i for s in summaries for i in s.unreachable_sites})
    with ctx.db.connection() as conn:
        visible = set(site_points(conn, ctx.principal, site_ids=unreachable)["id"].astype(int))
    return {
        "modes": [
            dataclasses.asdict(s)
            | {"unreachable_sites": [i for i in s.unreachable_sites if i in visible]}
            for s in summaries
        ],
        "seconds": round(time.perf_counter() - started, 3),
    }


TRAVEL_TIMES = Process(
    id="travel-times",
    title="Recompute stored travel times",
    description=(
        "Recomputes the stored area → site travel-time matrices for every mode on the loaded "
        "networks (the input of hub siting, access maps and catchments). Needs role admin."
    ),
    inputs=TravelTimesInputs,
    run=run_travel_times,
    outputs={
        "modes": {
            "title": "Per mode: areas, sites, pairs, unreachable areas and sites",
            "schema": {"type": "array", "items": {"type": "object"}},
        }
    },
    role="admin",
    keywords=("travel time", "matrix"),
)
