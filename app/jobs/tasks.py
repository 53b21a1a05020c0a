"""The worker task: ``run_process(job_id)`` runs any registered process for a job row.

The task is synchronous (procrastinate runs it in a thread, so the worker's heartbeat and
abort polling carry on during CPU-bound solves). It owns the job row while it runs:

- ``accepted → running`` when it starts (a dismissed job is not started);
- progress reports go to the row (throttled); each report checks whether the job was
  dismissed (procrastinate's abort request, or the row no longer running) and stops the run;
- ``successful`` with results, or ``failed`` with the reason (a :class:`ProcessError`'s text,
  or the exception type and text for anything unexpected, also logged with its traceback).

A worker that dies mid-run cannot do any of this; :mod:`app.jobs.worker` sweeps such jobs.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from procrastinate import JobContext
from procrastinate.exceptions import JobAborted

from app.jobs import store
from app.jobs.processes import REGISTRY
from app.jobs.queue import queue_app
from app.jobs.registry import JobDismissed, ProcessError, RunContext
from config.settings import get_settings

log = logging.getLogger(__name__)

TASK_NAME = "locus.run_process"


@queue_app.task(name=TASK_NAME, queue=get_settings().jobs.queue, pass_context=True)
def run_process(context: JobContext, job_id: str) -> None:
    """Run the job ``job_id`` (a ``jobs.id``) in this worker."""
    attempt = (context.job.attempts or 0) + 1
    execute_job(job_id, attempt=attempt, should_abort=context.should_abort)


def execute_job(job_id: str, *, attempt: int, should_abort: Any = lambda: False) -> str:
    """Run a job's process and record the outcome; returns the job's final status.

    Raises :class:`procrastinate.exceptions.JobAborted` when the job was dismissed while it
    ran, and re-raises a failure after recording it, so the queue entry ends in the matching
    state (aborted / failed).
    """
    from app.db import get_engine

    settings = get_settings()
    job_settings = get_settings().jobs
    with psycopg.connect(settings.database.libpq_url, autocommit=True) as conn:
        record = store.start_job(conn, job_id, attempt=attempt)
        if record is None:
            status = store.job_status(conn, job_id)
            log.info("job %s not started: status %s", job_id, status)
            if status == "dismissed":
                raise JobAborted(f"job {job_id} was dismissed")
            return status or "missing"
        process = REGISTRY.get(record.process_id)
        if process is None:
            store.fail_job(conn, job_id, f"failed: unknown process {record.process_id!r}")
            raise ProcessError(f"unknown process {record.process_id!r}")

        def report(percent: int, message: str) -> bool:
            return store.set_progress(conn, job_id, percent, message)

        ctx = RunContext(
            job_id=job_id,
            attempt=attempt,
            organisation=record.organisation,
            engine=get_engine(),
            report=report,
            should_abort=should_abort,
            min_interval_s=job_settings.progress_min_interval_s,
            settings=settings,
        )
        try:
            inputs = process.parse(record.inputs)
            results = process.run(ctx, inputs)
        except JobDismissed:
            log.info("job %s dismissed while running", job_id)
            raise JobAborted(f"job {job_id} was dismissed") from None
        except ProcessError as exc:
            store.fail_job(conn, job_id, f"failed: {exc}")
            raise
        except Exception as exc:
            log.exception("job %s (%s) failed", job_id, record.process_id)
            store.fail_job(conn, job_id, f"failed: {type(exc).__name__}: {exc}")
            raise
        if store.complete_job(conn, job_id, results, "finished"):
            return "successful"
        return store.job_status(conn, job_id) or "missing"
