"""The worker task: ``run_process(job_id)`` runs any registered process for a job row.

The task is synchronous (procrastinate runs it in a thread, so the worker's heartbeat and
abort polling carry on during CPU-bound solves). It owns the job row while it runs:

- ``accepted → running`` when it starts (a dismissed job is not started);
- progress reports go to the row (throttled); each report checks whether the job was
  dismissed (procrastinate's abort request, or the row no longer running) and stops the run;
- ``successful`` with results, or ``failed`` with the reason (a :class:`ProcessError`'s text,
  or the exception type and text for anything unexpected, also logged with its traceback).

Settings come from the worker: its entry point (:func:`app.jobs.worker.run_worker`) reads them
once and :func:`app.jobs.worker.run_worker_async` hands them to every task through
procrastinate's job context (``context.additional_context["settings"]``);
:func:`execute_job` takes them as an argument.

A worker that dies mid-run cannot do any of this; :mod:`app.jobs.worker` sweeps such jobs.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable

from procrastinate import JobContext
from procrastinate.exceptions import JobAborted

from app.jobs.processes import REGISTRY
from app.jobs.queue import DEFAULT_QUEUE, queue_app
from app.jobs.registry import JobDismissed, ProcessError, RunContext
from config.settings import Settings
from store import jobs as job_rows
from store.connection import database

__all__ = ["SETTINGS_KEY", "TASK_NAME", "execute_job", "run_process"]

log = logging.getLogger(__name__)

TASK_NAME = "locus.run_process"
#: Key of the worker's :class:`config.Settings` in procrastinate's ``additional_context``.
SETTINGS_KEY = "settings"


@queue_app.task(name=TASK_NAME, queue=DEFAULT_QUEUE, pass_context=True)
def run_process(context: JobContext, job_id: str) -> None:
    """Run the job ``job_id`` (a ``jobs.id``) in this worker, with the worker's settings."""
    settings = context.additional_context.get(SETTINGS_KEY)
    if not isinstance(settings, Settings):
        # Only a worker started by app.jobs.worker has them; anything else is a set-up error.
        raise RuntimeError("run_process needs a worker started by app.jobs.worker.run_worker")
    attempt = (context.job.attempts or 0) + 1
    # The sweep names a lost worker by this id: the log line maps it to a host and process.
    log.info(
        "job %s attempt %s on queue worker %s (%s, pid %s)",
        job_id,
        attempt,
        context.job.worker_id,
        socket.gethostname(),
        os.getpid(),
    )
    execute_job(job_id, attempt=attempt, settings=settings, should_abort=context.should_abort)


def _never() -> bool:
    return False


def execute_job(
    job_id: str,
    *,
    attempt: int,
    settings: Settings,
    should_abort: Callable[[], bool] = _never,
) -> str:
    """Run a job's process and record the outcome; returns the job's final status.

    Parameters
    ----------
    job_id : str
        The ``jobs.id`` to run.
    attempt : int
        Which run of the job this is (1 for the first).
    settings : config.Settings
        The worker's settings: the database, and ``settings.jobs`` for progress throttling
        and solver limits; handed on to the process in its :class:`RunContext`.
    should_abort : callable
        True once the job's queue entry was asked to abort (procrastinate's).

    Raises :class:`procrastinate.exceptions.JobAborted` when the job was dismissed while it
    ran, and re-raises a failure after recording it, so the queue entry ends in the matching
    state (aborted / failed).
    """
    db = database(settings.database, purpose="batch")
    with db.connection() as conn:
        record = job_rows.start_job(conn, job_id, attempt=attempt)
        if record is None:
            status = job_rows.job_status(conn, job_id)
            log.info("job %s not started: status %s", job_id, status)
            if status == "dismissed":
                raise JobAborted(f"job {job_id} was dismissed")
            return status or "missing"
        process = REGISTRY.get(record.process_id)
        if process is None:
            job_rows.fail_job(conn, job_id, f"failed: unknown process {record.process_id!r}")
            raise ProcessError(f"unknown process {record.process_id!r}")

        def report(percent: int, message: str) -> bool:
            return job_rows.set_progress(conn, job_id, percent, message)

        ctx = RunContext(
            job_id=job_id,
            attempt=attempt,
            organisation=record.organisation,
            settings=settings,
            db=db,
            report=report,
            should_abort=should_abort,
        )
        try:
            inputs = process.parse(record.inputs)
            results = process.run(ctx, inputs)
        except JobDismissed:
            log.info("job %s dismissed while running", job_id)
            raise JobAborted(f"job {job_id} was dismissed") from None
        except ProcessError as exc:
            job_rows.fail_job(conn, job_id, f"failed: {exc}")
            raise
        except Exception as exc:
            log.exception("job %s (%s) failed", job_id, record.process_id)
            job_rows.fail_job(conn, job_id, f"failed: {type(exc).__name__}: {exc}")
            raise
        if job_rows.complete_job(conn, job_id, results, "finished"):
            return "successful"
        return job_rows.job_status(conn, job_id) or "missing"
