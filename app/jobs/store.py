"""Job records in PostgreSQL: the one source of truth for a job's status, progress and results.

The API (async psycopg, the app's pool) creates, reads and dismisses jobs; the worker (sync
psycopg) moves them through ``accepted → running → successful | failed``. Every worker-side
update is conditional on the state it expects (``WHERE status = 'running'``), so a job that
was dismissed meanwhile stays dismissed and a late write from a lost worker changes nothing.
Visibility of restricted jobs is :func:`app.auth.visible_sites_clause` on alias ``j``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, Connection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from store.access import Principal
from store.access import visible_rows as visible_sites_clause

STATUSES = ("accepted", "running", "successful", "failed", "dismissed")
FINAL = frozenset({"successful", "failed", "dismissed"})

_COLUMNS = (
    "id, process_id, status, progress, message, inputs, results, organisation, restricted, "
    "attempts, created_at, started_at, finished_at, updated_at, procrastinate_job_id"
)


@dataclass(frozen=True)
class JobRecord:
    """One row of ``jobs``."""

    id: uuid.UUID
    process_id: str
    status: str
    progress: int
    message: str
    inputs: dict[str, Any]
    results: dict[str, Any] | None
    organisation: str | None
    restricted: bool
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    procrastinate_job_id: int | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> JobRecord:
        return cls(**row)


def _visible(principal: Principal) -> tuple[sql.Composable, dict[str, Any]]:
    return visible_sites_clause(principal, alias="j")


# --------------------------------------------------------------------------- API side (async)
async def insert_job(
    conn: AsyncConnection[Any],
    *,
    job_id: uuid.UUID,
    process_id: str,
    inputs: dict[str, Any],
    principal: Principal,
    restricted: bool,
) -> None:
    """Insert an ``accepted`` job (call inside the transaction that defers its queue entry)."""
    await conn.execute(
        "INSERT INTO jobs (id, process_id, inputs, organisation, restricted, api_key_id, message) "
        "VALUES (%s, %s, %s, %s, %s, %s, 'queued')",
        (
            job_id,
            process_id,
            Jsonb(inputs),
            principal.organisation,
            restricted and principal.organisation is not None,
            principal.key_id,
        ),
    )


async def link_queue_job(conn: AsyncConnection[Any], job_id: uuid.UUID, queue_id: int) -> None:
    """Record the procrastinate job id of ``job_id``."""
    await conn.execute(
        "UPDATE jobs SET procrastinate_job_id = %s WHERE id = %s", (queue_id, job_id)
    )


async def get_job(
    conn: AsyncConnection[Any], job_id: uuid.UUID, principal: Principal, *, for_update: bool = False
) -> JobRecord | None:
    """The job if it exists and ``principal`` may see it (else None: existence is not leaked)."""
    clause, params = _visible(principal)
    query = sql.SQL("SELECT {cols} FROM jobs AS j WHERE j.id = {id} AND {vis}{lock}").format(
        cols=sql.SQL(_COLUMNS),
        id=sql.Placeholder("job_id"),
        vis=clause,
        lock=sql.SQL(" FOR UPDATE") if for_update else sql.SQL(""),
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, {**params, "job_id": job_id})
        row = await cur.fetchone()
    return JobRecord.from_row(row) if row else None


async def list_jobs(
    conn: AsyncConnection[Any],
    principal: Principal,
    *,
    limit: int,
    offset: int = 0,
    status: str | None = None,
    process_id: str | None = None,
) -> list[JobRecord]:
    """Jobs of the caller's organisation (anonymous: unrestricted jobs), newest first."""
    clause, params = _visible(principal)
    own = (
        sql.SQL("j.organisation = {}").format(sql.Placeholder("principal_org"))
        if principal.organisation is not None
        else sql.SQL("TRUE")
    )
    query = sql.SQL(
        "SELECT {cols} FROM jobs AS j WHERE {vis} AND {own} "
        "AND (CAST({st} AS text) IS NULL OR j.status = {st}) "
        "AND (CAST({pr} AS text) IS NULL OR j.process_id = {pr}) "
        "ORDER BY j.created_at DESC, j.id LIMIT {lim} OFFSET {off}"
    ).format(
        cols=sql.SQL(_COLUMNS),
        vis=clause,
        own=own,
        st=sql.Placeholder("status"),
        pr=sql.Placeholder("process_id"),
        lim=sql.Placeholder("limit"),
        off=sql.Placeholder("offset"),
    )
    values = {**params, "status": status, "process_id": process_id, "limit": limit}
    values["offset"] = offset
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, values)
        rows = await cur.fetchall()
    return [JobRecord.from_row(r) for r in rows]


async def dismiss_job(conn: AsyncConnection[Any], job_id: uuid.UUID, message: str) -> None:
    """Mark a job dismissed and drop its results."""
    await conn.execute(
        "UPDATE jobs SET status = 'dismissed', message = %s, results = NULL, "
        "finished_at = coalesce(finished_at, now()), updated_at = now() WHERE id = %s",
        (message, job_id),
    )


# --------------------------------------------------------------------------- worker side (sync)
def start_job(conn: Connection[Any], job_id: str, *, attempt: int) -> JobRecord | None:
    """Move a queued job to ``running`` (attempt ``attempt``); None if it may not run."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            sql.SQL(
                "UPDATE jobs SET status = 'running', progress = 0, attempts = %s, "
                "message = %s, started_at = now(), updated_at = now() "
                "WHERE id = %s AND status IN ('accepted', 'running') RETURNING {cols}"
            ).format(cols=sql.SQL(_COLUMNS)),
            (attempt, f"running (attempt {attempt})", job_id),
        )
        row = cur.fetchone()
    return JobRecord.from_row(row) if row else None


def set_progress(conn: Connection[Any], job_id: str, progress: int, message: str) -> bool:
    """Record progress of a running job; False when the job is no longer running."""
    cur = conn.execute(
        "UPDATE jobs SET progress = %s, message = %s, updated_at = now() "
        "WHERE id = %s AND status = 'running'",
        (max(0, min(100, int(progress))), message, job_id),
    )
    return cur.rowcount == 1


def complete_job(conn: Connection[Any], job_id: str, results: dict[str, Any], message: str) -> bool:
    """Store results and mark a running job successful; False if it was not running."""
    cur = conn.execute(
        "UPDATE jobs SET status = 'successful', progress = 100, message = %s, results = %s, "
        "finished_at = now(), updated_at = now() WHERE id = %s AND status = 'running'",
        (message, Jsonb(results), job_id),
    )
    return cur.rowcount == 1


def fail_job(conn: Connection[Any], job_id: str, message: str) -> bool:
    """Mark a queued or running job failed with the reason; False if it had already ended."""
    cur = conn.execute(
        "UPDATE jobs SET status = 'failed', message = %s, finished_at = now(), "
        "updated_at = now() WHERE id = %s AND status IN ('accepted', 'running')",
        (message, job_id),
    )
    return cur.rowcount == 1


def requeue_job(conn: Connection[Any], job_id: str, message: str) -> bool:
    """Put a running job back to ``accepted`` (its queue entry is being retried)."""
    cur = conn.execute(
        "UPDATE jobs SET status = 'accepted', progress = 0, message = %s, updated_at = now() "
        "WHERE id = %s AND status IN ('accepted', 'running')",
        (message, job_id),
    )
    return cur.rowcount == 1


def job_status(conn: Connection[Any], job_id: str) -> str | None:
    """The status of a job (None when there is no such job)."""
    row = conn.execute("SELECT status FROM jobs WHERE id = %s", (job_id,)).fetchone()
    return str(row[0]) if row else None


def fail_orphans(conn: Connection[Any]) -> list[str]:
    """Fail jobs still queued/running whose queue entry ended (or vanished) without a result.

    A task that ends always updates its job first, so this only finds jobs whose queue entry
    was finished, cancelled or deleted behind the job's back.
    """
    rows = conn.execute(
        """
        UPDATE jobs AS j SET status = 'failed', finished_at = now(), updated_at = now(),
               message = 'failed: the queue entry of this job ended ('
                         || coalesce(p.status::text, 'deleted') || ') without a result'
          FROM jobs AS j0 LEFT JOIN procrastinate_jobs AS p ON p.id = j0.procrastinate_job_id
         WHERE j.id = j0.id AND j.status IN ('accepted', 'running')
           AND j0.procrastinate_job_id IS NOT NULL
           AND (p.id IS NULL OR p.status IN ('succeeded', 'failed', 'cancelled', 'aborted'))
        RETURNING j.id
        """
    ).fetchall()
    return [str(r[0]) for r in rows]
