"""Job records (table ``jobs``): the one source of truth for a job's status, progress, results.

The API (async, on the app's pool) creates, reads, lists and dismisses jobs for a caller; the
worker (sync, on its batch :class:`store.connection.Database`) moves them through
``accepted → running → successful | failed``, and its sweep (async, in the worker's event loop)
requeues or fails the jobs of workers that died.

Every read for a caller filters rows through :func:`store.access.visible_rows` on alias ``j``:
a restricted job of another organisation is indistinguishable from one that does not exist.
Worker-side functions act on the one job the queue handed over, for no caller, so they take a
job id and no principal. Every worker-side update is conditional on the state it expects
(``WHERE status = 'running'``), so a job dismissed meanwhile stays dismissed and a late write
from a lost worker changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from psycopg import AsyncConnection, Connection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from store.access import Principal, visible_rows

__all__ = [
    "FINAL",
    "STATUSES",
    "JobRecord",
    "JobStatus",
    "complete_job",
    "dismiss_job",
    "fail_job",
    "fail_job_async",
    "fail_orphans",
    "get_job",
    "get_job_sync",
    "insert_job",
    "job_status",
    "job_status_async",
    "latest_current_job",
    "link_queue_job",
    "list_jobs",
    "requeue_job",
    "requeue_job_async",
    "set_progress",
    "start_job",
]

#: OGC API Processes job statuses.
JobStatus = Literal["accepted", "running", "successful", "failed", "dismissed"]
STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)
#: Statuses a job never leaves.
FINAL: frozenset[str] = frozenset({"successful", "failed", "dismissed"})

_COLUMNS = sql.SQL(
    "j.id, j.process_id, j.status, j.progress, j.message, j.inputs, j.results, j.organisation, "
    "j.restricted, j.attempts, j.created_at, j.started_at, j.finished_at, j.updated_at, "
    "j.procrastinate_job_id"
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
        """The record of a row selected with every column of ``jobs`` (as named)."""
        return cls(**row)


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
    """Insert an ``accepted`` job owned by ``principal``'s organisation.

    Call it inside the transaction that defers the job's queue entry, so both exist or neither.
    A job of a caller without an organisation cannot be restricted (nobody could read it).
    """
    await conn.execute(
        "INSERT INTO jobs (id, process_id, inputs, organisation, restricted, api_key_id, message) "
        "VALUES (%(id)s, %(process)s, %(inputs)s, %(org)s, %(restricted)s, %(key)s, 'queued')",
        {
            "id": job_id,
            "process": process_id,
            "inputs": Jsonb(inputs),
            "org": principal.organisation,
            "restricted": restricted and principal.organisation is not None,
            "key": principal.key_id,
        },
    )


async def link_queue_job(conn: AsyncConnection[Any], job_id: uuid.UUID, queue_id: int) -> None:
    """Record the procrastinate job id of ``job_id``."""
    await conn.execute(
        "UPDATE jobs SET procrastinate_job_id = %(queue_id)s WHERE id = %(id)s",
        {"queue_id": queue_id, "id": job_id},
    )


async def get_job(
    conn: AsyncConnection[Any], job_id: uuid.UUID, principal: Principal, *, for_update: bool = False
) -> JobRecord | None:
    """The job if it exists and ``principal`` may see it (else None: existence is not leaked).

    ``for_update`` locks the row until the end of the caller's transaction (dismissal).
    """
    visible, params = visible_rows(principal, alias="j")
    query = sql.SQL(
        "SELECT {cols} FROM jobs AS j WHERE j.id = %(job_id)s AND {visible}{lock}"
    ).format(
        cols=_COLUMNS,
        visible=visible,
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
    """Jobs of the caller's organisation (anonymous: unrestricted jobs), newest first.

    An authenticated caller lists its own organisation's jobs only, not other organisations'
    public ones (those stay readable by id).
    """
    visible, params = visible_rows(principal, alias="j")
    own = (
        sql.SQL("j.organisation = %(principal_org)s")
        if principal.organisation is not None
        else sql.SQL("TRUE")
    )
    query = sql.SQL(
        "SELECT {cols} FROM jobs AS j WHERE {visible} AND {own} "
        "AND (CAST(%(status)s AS text) IS NULL OR j.status = %(status)s) "
        "AND (CAST(%(process_id)s AS text) IS NULL OR j.process_id = %(process_id)s) "
        "ORDER BY j.created_at DESC, j.id LIMIT %(limit)s OFFSET %(offset)s"
    ).format(cols=_COLUMNS, visible=visible, own=own)
    values = {
        **params,
        "principal_org": principal.organisation,
        "status": status,
        "process_id": process_id,
        "limit": limit,
        "offset": offset,
    }
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, values)
        rows = await cur.fetchall()
    return [JobRecord.from_row(r) for r in rows]


async def dismiss_job(conn: AsyncConnection[Any], job_id: uuid.UUID, message: str) -> None:
    """Mark a job dismissed and drop its results (the caller checked it may)."""
    await conn.execute(
        "UPDATE jobs SET status = 'dismissed', message = %(message)s, results = NULL, "
        "finished_at = coalesce(finished_at, now()), updated_at = now() WHERE id = %(id)s",
        {"message": message, "id": job_id},
    )


# --------------------------------------------------------------------------- worker side (sync)
# Job ids here come from queue entries' arguments, so they are compared as text: a malformed
# id matches nothing instead of raising.
_FAIL = (
    "UPDATE jobs SET status = 'failed', message = %(message)s, finished_at = now(), "
    "updated_at = now() WHERE id::text = %(id)s AND status IN ('accepted', 'running')"
)
_REQUEUE = (
    "UPDATE jobs SET status = 'accepted', progress = 0, message = %(message)s, "
    "updated_at = now() WHERE id::text = %(id)s AND status IN ('accepted', 'running')"
)
_STATUS = "SELECT status FROM jobs WHERE id::text = %(id)s"


def start_job(conn: Connection[Any], job_id: str, *, attempt: int) -> JobRecord | None:
    """Move a queued job to ``running`` (attempt ``attempt``); None if it may not run."""
    query = sql.SQL(
        "UPDATE jobs AS j SET status = 'running', progress = 0, attempts = %(attempt)s, "
        "message = %(message)s, started_at = now(), updated_at = now() "
        "WHERE j.id = %(id)s AND j.status IN ('accepted', 'running') RETURNING {cols}"
    ).format(cols=_COLUMNS)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            query, {"attempt": attempt, "message": f"running (attempt {attempt})", "id": job_id}
        )
        row = cur.fetchone()
    return JobRecord.from_row(row) if row else None


def set_progress(conn: Connection[Any], job_id: str, progress: int, message: str) -> bool:
    """Record progress (clamped to 0–100) of a running job; False when it is no longer running."""
    cur = conn.execute(
        "UPDATE jobs SET progress = %(progress)s, message = %(message)s, updated_at = now() "
        "WHERE id = %(id)s AND status = 'running'",
        {"progress": max(0, min(100, int(progress))), "message": message, "id": job_id},
    )
    return cur.rowcount == 1


def complete_job(conn: Connection[Any], job_id: str, results: dict[str, Any], message: str) -> bool:
    """Store results and mark a running job successful; False if it was not running."""
    cur = conn.execute(
        "UPDATE jobs SET status = 'successful', progress = 100, message = %(message)s, "
        "results = %(results)s, finished_at = now(), updated_at = now() "
        "WHERE id = %(id)s AND status = 'running'",
        {"message": message, "results": Jsonb(results), "id": job_id},
    )
    return cur.rowcount == 1


def fail_job(conn: Connection[Any], job_id: str, message: str) -> bool:
    """Mark a queued or running job failed with the reason; False if it had already ended."""
    cur = conn.execute(_FAIL, {"message": message, "id": job_id})
    return cur.rowcount == 1


def requeue_job(conn: Connection[Any], job_id: str, message: str) -> bool:
    """Put a running job back to ``accepted`` (its queue entry is being retried)."""
    cur = conn.execute(_REQUEUE, {"message": message, "id": job_id})
    return cur.rowcount == 1


def job_status(conn: Connection[Any], job_id: str) -> str | None:
    """The status of a job (None when there is no such job)."""
    row = conn.execute(_STATUS, {"id": job_id}).fetchone()
    return str(row[0]) if row else None


# ------------------------------------------------------------ reads for a caller (sync, worker)
def get_job_sync(conn: Connection[Any], job_id: str, principal: Principal) -> JobRecord | None:
    """:func:`get_job` on a sync connection (a process reading another job's results for the
    organisation it runs for); a malformed id matches nothing."""
    visible, params = visible_rows(principal, alias="j")
    query = sql.SQL(
        "SELECT {cols} FROM jobs AS j WHERE j.id::text = %(job_id)s AND {visible}"
    ).format(cols=_COLUMNS, visible=visible)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, {**params, "job_id": str(job_id)})
        row = cur.fetchone()
    return JobRecord.from_row(row) if row else None


def latest_current_job(
    conn: Connection[Any], principal: Principal, *, process_id: str, inputs: dict[str, Any]
) -> JobRecord | None:
    """The newest successful job of ``process_id`` with exactly ``inputs`` (JSON equality)
    that ``principal`` may see and that finished after the newest data load and the newest
    computation (``computations``): a result still current for the loaded data."""
    visible, params = visible_rows(principal, alias="j")
    query = sql.SQL(
        "SELECT {cols} FROM jobs AS j WHERE j.process_id = %(process)s "
        "AND j.status = 'successful' AND j.results IS NOT NULL AND j.inputs = %(inputs)s "
        "AND {visible} AND j.finished_at > greatest("
        "(SELECT max(coalesce(d.finished_at, d.started_at)) FROM data_loads AS d), "
        "(SELECT max(c.finished_at) FROM computations AS c), '-infinity'::timestamptz) "
        "ORDER BY j.finished_at DESC LIMIT 1"
    ).format(cols=_COLUMNS, visible=visible)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, {**params, "process": process_id, "inputs": Jsonb(inputs)})
        row = cur.fetchone()
    return JobRecord.from_row(row) if row else None


# ------------------------------------------------------------------ worker sweep (async, its loop)
async def job_status_async(conn: AsyncConnection[Any], job_id: str) -> str | None:
    """:func:`job_status` on an async connection."""
    cur = await conn.execute(_STATUS, {"id": job_id})
    row = await cur.fetchone()
    return str(row[0]) if row else None


async def requeue_job_async(conn: AsyncConnection[Any], job_id: str, message: str) -> bool:
    """:func:`requeue_job` on an async connection."""
    cur = await conn.execute(_REQUEUE, {"message": message, "id": job_id})
    return cur.rowcount == 1


async def fail_job_async(conn: AsyncConnection[Any], job_id: str, message: str) -> bool:
    """:func:`fail_job` on an async connection."""
    cur = await conn.execute(_FAIL, {"message": message, "id": job_id})
    return cur.rowcount == 1


async def fail_orphans(conn: AsyncConnection[Any]) -> list[str]:
    """Fail jobs still queued/running whose queue entry ended (or vanished) without a result.

    A task that ends always updates its job first, so this only finds jobs whose queue entry
    was finished, cancelled or deleted behind the job's back. Returns their ids.
    """
    cur = await conn.execute(
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
    )
    return [str(r[0]) for r in await cur.fetchall()]
