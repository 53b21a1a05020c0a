"""The worker process: ``run_worker()`` runs jobs from the queue until stopped (SIGINT/SIGTERM).

A worker killed mid-job (``kill -9``, out of memory, machine restart) cannot update its job.
procrastinate records a heartbeat per worker; a worker silent for longer than
``LOCUS_JOBS_STALLED_WORKER_TIMEOUT_S`` is gone, and its running jobs are *stalled*. Every
worker sweeps on start and then every ``LOCUS_JOBS_SWEEP_INTERVAL_S`` seconds:

- a stalled job that was dismissed is finished as aborted;
- one with attempts left (``LOCUS_JOBS_MAX_ATTEMPTS``, default 2) is queued again and its
  job row goes back to ``accepted`` with a message saying why;
- otherwise it is failed, the job row says which worker stopped (procrastinate's worker id,
  which the task logs with host and pid when an attempt starts) and after how many attempts;
- job rows still queued/running whose queue entry ended without a result are failed.

So no job stays "running" once its worker is gone, as long as one worker runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass

import procrastinate
import psycopg
from procrastinate.jobs import Job, Status

from app.jobs.queue import connected_app
from app.jobs.tasks import SETTINGS_KEY
from config.settings import Settings, get_settings
from store import jobs as job_rows
from store.connection import connection_kwargs

__all__ = ["SweepAction", "run_worker", "run_worker_async", "sweep_stalled_jobs"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepAction:
    """What the sweep did to one job."""

    job_id: str
    queue_job_id: int
    action: str  # "retried" | "failed" | "aborted" | "orphan-failed"


def _named(job: Job) -> str:
    # procrastinate's worker id, as the task logged it when the attempt started (it is gone
    # from the queue entry only if another worker pruned the dead one before this sweep).
    return "" if job.worker_id is None else f" (queue worker {job.worker_id})"


async def sweep_stalled_jobs(app: procrastinate.App, settings: Settings) -> list[SweepAction]:
    """Retry or fail the jobs of dead workers; fail job rows whose queue entry vanished."""
    js = settings.jobs
    stalled = await app.job_manager.get_stalled_jobs(
        queue=js.queue, seconds_since_heartbeat=js.stalled_worker_timeout_s
    )
    actions: list[SweepAction] = []
    async with await psycopg.AsyncConnection.connect(
        settings.database.libpq_url, **connection_kwargs(settings.database, purpose="batch")
    ) as aconn:
        for job in stalled:
            assert job.id is not None
            job_id = str(job.task_kwargs.get("job_id", ""))
            attempt = job.attempts + 1  # the attempt that was running when the worker died
            status = await job_rows.job_status_async(aconn, job_id)
            if status == "dismissed":
                await app.job_manager.finish_job_by_id_async(job.id, Status.ABORTED, False)
                actions.append(SweepAction(job_id, job.id, "aborted"))
            elif attempt < js.max_attempts:
                message = (
                    f"queued again: the worker running attempt {attempt}{_named(job)} stopped "
                    f"(no heartbeat for over {js.stalled_worker_timeout_s:g} s)"
                )
                # the queue entry first: the job row never claims a state the queue lacks
                await app.job_manager.retry_job_by_id_async(
                    job.id, retry_at=dt.datetime.now(dt.UTC)
                )
                await job_rows.requeue_job_async(aconn, job_id, message)
                actions.append(SweepAction(job_id, job.id, "retried"))
            else:
                message = (
                    f"failed: the worker running this job{_named(job)} stopped without "
                    f"finishing (no heartbeat for over {js.stalled_worker_timeout_s:g} s), "
                    f"after {attempt} attempt{'s' if attempt > 1 else ''}"
                )
                await app.job_manager.finish_job_by_id_async(job.id, Status.FAILED, False)
                await job_rows.fail_job_async(aconn, job_id, message)
                actions.append(SweepAction(job_id, job.id, "failed"))
        for job_id in await job_rows.fail_orphans(aconn):
            actions.append(SweepAction(job_id, 0, "orphan-failed"))
    for a in actions:
        log.warning("sweep: job %s (queue id %s) %s", a.job_id, a.queue_job_id, a.action)
    return actions


async def _sweep_forever(app: procrastinate.App, settings: Settings) -> None:
    while True:
        await asyncio.sleep(settings.jobs.sweep_interval_s)
        try:
            await sweep_stalled_jobs(app, settings)
        except Exception:  # a failed sweep must not stop the worker; the next one retries
            log.exception("sweep of stalled jobs failed")


async def run_worker_async(
    settings: Settings,
    *,
    wait: bool = True,
    install_signal_handlers: bool = True,
    name: str = "locus-worker",
) -> None:
    """Run the worker (see :func:`run_worker`) in the running event loop.

    Every task gets ``settings`` (procrastinate's ``additional_context``, read by
    :func:`app.jobs.tasks.run_process`).
    """
    js = settings.jobs
    app = connected_app(settings)
    async with app.open_async():
        await sweep_stalled_jobs(app, settings)
        sweeper = asyncio.create_task(_sweep_forever(app, settings), name="locus-sweep")
        try:
            await app.run_worker_async(
                queues=[js.queue],
                name=name,
                concurrency=js.concurrency,
                wait=wait,
                install_signal_handlers=install_signal_handlers,
                update_heartbeat_interval=js.heartbeat_interval_s,
                stalled_worker_timeout=js.stalled_worker_timeout_s,
                abort_job_polling_interval=js.abort_poll_interval_s,
                additional_context={SETTINGS_KEY: settings},
            )
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper


def run_worker(settings: Settings | None = None, *, wait: bool = True) -> None:
    """Run jobs until SIGINT/SIGTERM (``wait=False``: until the queue is empty).

    The worker process's entry point (``locus worker``): ``settings`` default to
    :func:`config.settings.get_settings`, read here once and passed to every job. On SIGTERM
    the running job finishes first (procrastinate's graceful shutdown).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(run_worker_async(settings or get_settings(), wait=wait))
