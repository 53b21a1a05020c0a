"""Job queue settings, read from ``LOCUS_JOBS_*`` environment variables (one class per concern).

The heartbeat and stalled-worker timings decide how fast a job whose worker died is noticed:
a worker writes a heartbeat every ``heartbeat_interval_s``; one silent for longer than
``stalled_worker_timeout_s`` is considered gone and its running jobs are swept (retried while
attempts remain, else failed with the reason) by any live worker every ``sweep_interval_s``.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class JobSettings(BaseSettings):
    """``LOCUS_JOBS_`` settings, e.g. ``LOCUS_JOBS_MAX_ATTEMPTS=1`` to never retry."""

    model_config = SettingsConfigDict(env_prefix="LOCUS_JOBS_", extra="ignore")

    #: procrastinate queue the processes run on.
    queue: str = "locus"
    #: Runs of a job, counting the first, before a worker loss makes it fail.
    max_attempts: int = 2
    #: Jobs run at once by one worker process (CPU-bound solves: keep it small).
    concurrency: int = 1
    heartbeat_interval_s: float = 5.0
    stalled_worker_timeout_s: float = 30.0
    sweep_interval_s: float = 10.0
    #: How often a worker checks for dismissed (abort-requested) jobs.
    abort_poll_interval_s: float = 1.0
    #: Seconds between progress writes to the jobs table (first and last always written).
    progress_min_interval_s: float = 0.5
    #: Wall-clock limit handed to the solvers (seconds).
    solver_time_limit_s: float = 300.0

    @model_validator(mode="after")
    def _timings_consistent(self) -> JobSettings:
        if self.max_attempts < 1:
            raise ValueError("LOCUS_JOBS_MAX_ATTEMPTS must be at least 1")
        if self.stalled_worker_timeout_s <= self.heartbeat_interval_s:
            raise ValueError(
                "LOCUS_JOBS_STALLED_WORKER_TIMEOUT_S must exceed LOCUS_JOBS_HEARTBEAT_INTERVAL_S"
            )
        return self


@lru_cache
def get_job_settings() -> JobSettings:
    """The process-wide job settings (cached; ``get_job_settings.cache_clear()`` in tests)."""
    return JobSettings()
