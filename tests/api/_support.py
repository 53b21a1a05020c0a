"""Test helpers for the processes/auth API tests: a small app with the pool and routers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.errors import install_handlers
from app.jobs.tasks import execute_job
from app.routers.processes import router as processes_router
from config.settings import REPO_ROOT, Settings, load_settings
from store.connection import async_pool
from store.keys import create_api_key
from tests.conftest import database_for


def make_app(*extra: APIRouter, settings: Settings | None = None) -> FastAPI:
    """The processes router on an app with the same pool set-up as ``app.main``.

    ``settings`` default to the environment's (``LOCUS_DATABASE_URL`` of the test database).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = async_pool(app.state.settings.database, purpose="interactive")
        await pool.open(wait=True)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan)
    app.state.settings = settings or load_settings()
    install_handlers(app)
    app.include_router(processes_router)
    for router in extra:
        app.include_router(router)
    return app


@contextmanager
def client(*extra: APIRouter, settings: Settings | None = None) -> Iterator[TestClient]:
    """A TestClient with the lifespan (pool) running."""
    with TestClient(make_app(*extra, settings=settings)) as c:
        yield c


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def run_here(c: TestClient, job_id: str) -> str:
    """Run a submitted job in this process, as a worker would, with the app's settings;
    its final status."""
    settings: Settings = c.app.state.settings
    return execute_job(job_id, attempt=1, settings=settings)


def run_job_here(
    c: TestClient,
    process: str,
    inputs: dict[str, Any],
    headers: dict[str, str] | None = None,
    **body: Any,
) -> str:
    """Submit a job, run it in this process (as a worker would); its id once successful."""
    r = c.post(
        f"/processes/{process}/execution",
        json={"inputs": inputs, **body},
        headers=headers or {},
    )
    assert r.status_code == 201, r.text
    job_id: str = r.json()["jobID"]
    assert run_here(c, job_id) == "successful"
    return job_id


def two_org_keys(engine: Engine, org_prefix: str = "") -> dict[str, str]:
    """API keys: ``a`` (analyst), ``a_viewer`` of ``<prefix>org-a``; ``b`` (analyst) of ``-b``."""
    db = database_for(engine.url.render_as_string(hide_password=False))
    return {
        "a": create_api_key(db, f"{org_prefix}org-a", "analyst"),
        "a_viewer": create_api_key(db, f"{org_prefix}org-a", "viewer"),
        "b": create_api_key(db, f"{org_prefix}org-b", "analyst"),
    }


FAST_WORKER_ENV = {
    "LOCUS_JOBS_HEARTBEAT_INTERVAL_S": "0.3",
    "LOCUS_JOBS_STALLED_WORKER_TIMEOUT_S": "1",
    "LOCUS_JOBS_SWEEP_INTERVAL_S": "0.3",
    "LOCUS_JOBS_ABORT_POLL_INTERVAL_S": "0.2",
    "LOCUS_JOBS_PROGRESS_MIN_INTERVAL_S": "0",
}


@contextmanager
def worker(**env: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker process (``run_worker()``), stopped with SIGTERM (or already killed)."""
    full_env = {**os.environ, **FAST_WORKER_ENV, **env}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from app.jobs.worker import run_worker; run_worker()"],
        cwd=REPO_ROOT,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for(
    c: TestClient,
    job_id: str,
    headers: dict[str, str],
    done: Callable[[dict[str, Any]], bool],
    *,
    timeout_s: float = 60.0,
    seen: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Poll ``/jobs/{id}`` until ``done(status)``; fails the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        r = c.get(f"/jobs/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if seen is not None:
            seen.append(body)
        if done(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not reach the state in time: {body}")
        time.sleep(0.1)
