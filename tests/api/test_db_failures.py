"""A database that ends, loses or stalls the API's connections (issue 17), on the Rutland demo.

Before: after the server ended the API's idle connections the next requests got 503 until
the pool refilled (psycopg_pool's check loop waits 1, 2, 4 s between dead connections, past
the pool timeout), and failures mid-request on ``/analysis/nearest`` and
``/analysis/catchment`` were said to be plain-text 500s. Here nothing is mocked: connections
are ended with ``pg_terminate_backend`` from another session (by ``application_name``
``locus-interactive``, the API's), a request is stalled mid-query by holding a lock on
``sites`` until it is ended or times out, and an outage is a database that refuses
connections (``ALLOW_CONNECTIONS false``). Each route of :data:`PATHS` (features, both
analysis endpoints, a vector tile) must then answer 200 with the same body as before, or a
503 problem with ``Retry-After`` and no traceback, and 200 again afterwards.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack, ExitStack, contextmanager
from typing import Any

import psycopg
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine, text

from app.errors import install_handlers
from app.main import create_app
from config.settings import Settings
from store.connection import database
from tests.api._support import auth, two_org_keys, wait_for, worker
from tests.conftest import database_for, settings_for

PROBLEM = "application/problem+json"
TYPE = "https://locus.invalid/problems/"
OAKHAM = "C82010"
LON, LAT = -0.73, 52.671
LOST = "the database connection failed while answering this request; try again shortly"
NO_CONNECTION = "no database connection became available in time; try again shortly"


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The WebMercatorQuad column and row holding ``lon, lat`` at zoom ``z``."""
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def _settings(url: str, **database: Any) -> Settings:
    """Settings of these tests: no page/tile cache (every request reaches the database),
    small pools with a 2 s timeout (psycopg_pool's backoff alone would exceed it), and a
    statement timeout of their own, which gives them their own sync pools (keyed by it)."""
    settings = settings_for(url, tile_cache_mb=0)
    overrides = {
        "pool_min_size": 2,
        "pool_max_size": 4,
        "pool_timeout_s": 2.0,
        "statement_timeout_ms": 14_000,
        **database,
    }
    return settings.model_copy(update={"database": settings.database.model_copy(update=overrides)})


def _admin(url: str) -> str:
    """libpq URL of the maintenance database on the same server (survives the test one)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1).rsplit("/", 1)[0] + "/postgres"


def _dbname(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def _interactive_pids(url: str) -> set[int]:
    with psycopg.connect(_admin(url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s"
            " AND application_name = 'locus-interactive'",
            (_dbname(url),),
        ).fetchall()
    return {int(r[0]) for r in rows}


def _terminate(url: str, application: str = "locus-interactive") -> set[int]:
    """End every connection of ``application`` (the API's by default) on the database: their
    pids."""
    with psycopg.connect(_admin(url), autocommit=True) as conn:
        # In the select list, so it runs only on the rows the WHERE kept (a qual may be
        # evaluated in any order, before the filter on the database).
        rows = conn.execute(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
            " AND application_name = %s",
            (_dbname(url), application),
        ).fetchall()
    return {int(r[0]) for r in rows if r[1]}


@pytest.fixture(scope="module")
def paths(rutland_engine: Engine) -> dict[str, str]:
    """One request per kind of route: features page, the two analysis endpoints, a tile."""
    with rutland_engine.connect() as conn:
        oakham = conn.execute(
            text("SELECT id FROM sites WHERE source_id = :s AND kind = 'gp_practice'"),
            {"s": OAKHAM},
        ).scalar_one()
    x, y = _tile(LON, LAT, 12)
    return {
        "items": "/collections/sites/items?kind=gp_practice&limit=5",
        "nearest": f"/analysis/nearest?lon={LON}&lat={LAT}&mode=drive&kind=gp_practice&n=3",
        "catchment": f"/analysis/catchment/{oakham}?mode=drive&bands=10,20",
        "tile": f"/collections/sites/tiles/WebMercatorQuad/12/{x}/{y}",
    }


@pytest.fixture(scope="module")
def settings(rutland_db_url: str) -> Settings:
    return _settings(rutland_db_url)


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def baseline(client: TestClient, paths: dict[str, str]) -> dict[str, bytes]:
    """The healthy answers: 200 (the tile is not empty) and their bodies."""
    found = {}
    for name, path in paths.items():
        r = client.get(path)
        assert r.status_code == 200, (name, r.text)
        assert r.content, name
        found[name] = r.content
    return found


def _comparable(name: str, content: bytes) -> Any:
    """The answer to compare: a tile's bytes, JSON without the page's ``timeStamp``."""
    if name == "tile":
        return content
    doc = json.loads(content)
    doc.pop("timeStamp", None)
    return doc


def _same_answer(name: str, r: Response, baseline: dict[str, bytes]) -> None:
    assert r.status_code == 200, (name, r.text)
    assert _comparable(name, r.content) == _comparable(name, baseline[name]), name


def _assert_problem(r: Response, path: str, *, slug: str, title: str, detail: str) -> None:
    assert r.status_code == 503, (path, r.text)
    assert r.headers["content-type"] == PROBLEM, path
    assert r.headers["retry-after"] == "5", path
    assert r.json() == {
        "type": TYPE + slug,
        "title": title,
        "status": 503,
        "detail": detail,
        "instance": path.split("?")[0],
    }
    assert "Traceback" not in r.text
    assert "psycopg" not in r.text


# ----------------------------------------------------------------- idle connections ended
def _hold_every_connection(client: TestClient, settings: Settings) -> set[int]:
    """Take every connection of the API's async pool and of its sync interactive pool at
    once (so both are full), then give them back: their backend pids."""
    pool: AsyncConnectionPool[Any] = client.app.state.pool  # type: ignore[attr-defined]
    size = settings.database.pool_max_size

    async def hold_async() -> set[int]:
        async with AsyncExitStack() as stack:
            conns = [await stack.enter_async_context(pool.connection()) for _ in range(size)]
            return {c.info.backend_pid for c in conns}

    pids: set[int] = client.portal.call(hold_async)  # type: ignore[union-attr]
    db = database(settings.database, purpose="interactive")
    with ExitStack() as stack:
        conns = [stack.enter_context(db.connection()) for _ in range(size)]
        pids |= {c.info.backend_pid for c in conns}
    assert len(pids) == 2 * size
    return pids


def test_requests_right_after_the_idle_connections_are_ended_succeed(
    client: TestClient,
    settings: Settings,
    rutland_db_url: str,
    paths: dict[str, str],
    baseline: dict[str, bytes],
) -> None:
    held = _hold_every_connection(client, settings)
    ended = _terminate(rutland_db_url)
    assert held <= ended  # both full pools now hold only dead connections
    for name, path in paths.items():
        started = time.monotonic()
        r = client.get(path)
        # psycopg_pool's own check needed 0+1+2 s to discard three dead connections and
        # then timed out (2 s here): 503. Now each dead one is dropped without waiting.
        _same_answer(name, r, baseline)
        assert time.monotonic() - started < settings.database.pool_timeout_s, name
    assert not _interactive_pids(rutland_db_url) & ended  # replaced, not reused
    # every connection still pooled answers (a full pool again is all new connections)
    again = _hold_every_connection(client, settings)
    assert not again & ended


# ----------------------------------------------------------------- lost or stalled mid-query
@contextmanager
def _sites_locked(url: str) -> Iterator[None]:
    """Hold an exclusive lock on ``sites``: any statement reading it waits, mid-request."""
    with psycopg.connect(url.replace("+psycopg", "")) as conn, conn.transaction():
        conn.execute("LOCK TABLE sites IN ACCESS EXCLUSIVE MODE")
        yield


def _terminate_when_waiting(url: str, killed: list[int]) -> None:
    """End the API connection that waits for the lock on ``sites`` as soon as there is one."""
    deadline = time.monotonic() + 20
    with psycopg.connect(_admin(url), autocommit=True) as conn:
        while time.monotonic() < deadline:
            rows = conn.execute(
                "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND application_name = 'locus-interactive'"
                " AND wait_event_type = 'Lock'",
                (_dbname(url),),
            ).fetchall()
            if rows:
                killed.extend(int(r[0]) for r in rows if r[1])
                return
            time.sleep(0.02)


def test_a_connection_ended_mid_request_is_a_503_problem_and_the_next_request_succeeds(
    client: TestClient, rutland_db_url: str, paths: dict[str, str], baseline: dict[str, bytes]
) -> None:
    for name, path in paths.items():
        killed: list[int] = []
        with _sites_locked(rutland_db_url):
            killer = threading.Thread(target=_terminate_when_waiting, args=(rutland_db_url, killed))
            killer.start()
            r = client.get(path)
            killer.join()
        assert len(killed) == 1, name  # the request's own statement, waiting on the lock
        _assert_problem(
            r, path, slug="database-unavailable", title="Database unavailable", detail=LOST
        )
        _same_answer(name, client.get(path), baseline)


def test_a_statement_past_the_statement_timeout_is_a_503_query_timeout(
    rutland_db_url: str, paths: dict[str, str]
) -> None:
    settings = _settings(rutland_db_url, statement_timeout_ms=500)
    # A tile runs under its own budget, below the statement timeout (as Settings requires).
    settings = settings.model_copy(
        update={"tiles": settings.tiles.model_copy(update={"budget_ms": 400})}
    )
    with TestClient(create_app(settings)) as c, _sites_locked(rutland_db_url):
        for name, path in paths.items():
            tile = path.removeprefix("/collections/sites/tiles/WebMercatorQuad/")
            _assert_problem(
                c.get(path),
                path,
                slug="query-timeout",
                title="Query timeout",
                detail=(
                    f"tile {tile} took longer than its budget of 400 ms (LOCUS_TILE_BUDGET_MS);"
                    " ask for fewer layers, filter the layer, or retry"
                )
                if name == "tile"
                else "the query ran past the statement timeout; narrow the request or try "
                "again later",
            )


# ------------------------------------------------------------------------------- outage
@contextmanager
def _outage(url: str) -> Iterator[None]:
    """The database refuses new connections and every API connection is ended."""
    name = sql.Identifier(_dbname(url))
    with psycopg.connect(_admin(url), autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        try:
            _terminate(url)
            yield
        finally:
            conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))


def test_an_outage_is_503_problems_and_the_api_recovers_without_restart(
    client: TestClient, rutland_db_url: str, paths: dict[str, str], baseline: dict[str, bytes]
) -> None:
    with _outage(rutland_db_url):
        for path in paths.values():
            _assert_problem(
                client.get(path),
                path,
                slug="database-unavailable",
                title="Database unavailable",
                detail=NO_CONNECTION,
            )
        time.sleep(3)  # a longer outage: the pools' reconnection attempts back off meanwhile
        ready = client.get("/readyz")
        assert (ready.status_code, ready.headers["retry-after"]) == (503, "5")
    # Back within a few seconds: the pools retry for LOCUS_DATABASE_POOL_RECONNECT_TIMEOUT_S
    # (5 s), then connect on demand, so the wait never grows with the outage's length.
    started = time.monotonic()
    while (r := client.get(paths["items"])).status_code != 200:
        assert time.monotonic() - started < 15, r.text
    for name, path in paths.items():
        _same_answer(name, client.get(path), baseline)
    assert client.get("/readyz").json()["status"] == "ready"


# ------------------------------------------------------------------- failures in wrappers
def test_a_failure_while_deferring_a_job_is_a_503_and_no_job_is_left(
    client: TestClient, rutland_db_url: str, rutland_engine: Engine
) -> None:
    """procrastinate wraps the failure (``ConnectorException``); still a 503, and the job row
    inserted in the same transaction is rolled back."""
    key = two_org_keys(rutland_engine, org_prefix=f"dbf-{uuid.uuid4().hex[:6]}-")["a"]
    body = {"inputs": {"message": "lost", "delay_s": 0, "steps": 1}}

    def jobs() -> int:
        with rutland_engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM jobs")).scalar_one())

    before = jobs()
    killed: list[int] = []
    locked = "LOCK TABLE procrastinate_jobs IN ACCESS EXCLUSIVE MODE"
    with psycopg.connect(rutland_db_url.replace("+psycopg", "")) as conn, conn.transaction():
        conn.execute(locked)
        killer = threading.Thread(target=_terminate_when_waiting, args=(rutland_db_url, killed))
        killer.start()
        r = client.post("/processes/echo/execution", json=body, headers=auth(key))
        killer.join()
    assert len(killed) == 1
    _assert_problem(
        r,
        "/processes/echo/execution",
        slug="database-unavailable",
        title="Database unavailable",
        detail=LOST,
    )
    assert jobs() == before
    ok = client.post("/processes/echo/execution", json=body, headers=auth(key))
    assert ok.status_code == 201, ok.text
    assert jobs() == before + 1
    # no worker runs here: dismiss it so no later test's worker picks it up
    gone = client.delete(f"/jobs/{ok.json()['jobID']}", headers=auth(key))
    assert gone.status_code == 200, gone.text


def _lost_connection(url: str) -> None:
    """A real ``AdminShutdown``: the session ends its own backend."""
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")


def test_a_wrapped_database_failure_is_a_503_and_anything_else_a_500_problem(
    rutland_db_url: str,
) -> None:
    router = APIRouter()

    @router.get("/grouped")
    async def grouped() -> None:
        async def lose() -> None:
            await asyncio.to_thread(_lost_connection, rutland_db_url)

        async with asyncio.TaskGroup() as group:  # raises an ExceptionGroup
            group.create_task(lose())

    @router.get("/caused")
    async def caused() -> None:
        try:
            _lost_connection(rutland_db_url)
        except psycopg.OperationalError as exc:
            raise RuntimeError("while loading") from exc

    @router.get("/bug")
    async def bug() -> None:
        raise ZeroDivisionError("a bug")

    app = FastAPI()
    install_handlers(app)
    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as c:
        for path in ("/grouped", "/caused"):
            _assert_problem(
                c.get(path),
                path,
                slug="database-unavailable",
                title="Database unavailable",
                detail=LOST,
            )
        r = c.get("/bug")
        assert (r.status_code, r.headers["content-type"]) == (500, PROBLEM)
        assert r.json() == {
            "type": TYPE + "internal",
            "title": "Internal error",
            "status": 500,
            "detail": "an unexpected error occurred",
            "instance": "/bug",
        }


# ----------------------------------------------------------------------- jobs and loads
def test_the_batch_pool_of_jobs_and_loads_replaces_ended_connections(
    rutland_db_url: str,
) -> None:
    db = database_for(rutland_db_url)  # purpose "batch": jobs, loads, the worker's tasks
    with ExitStack() as stack:
        held = {
            stack.enter_context(db.connection()).info.backend_pid
            for _ in range(db.settings.pool_max_size)
        }
    assert held <= _terminate(rutland_db_url, "locus-batch")
    started = time.monotonic()
    with db.connection() as conn:
        count = conn.execute("SELECT count(*) FROM sites WHERE kind = 'gp_practice'").fetchone()
        assert conn.info.backend_pid not in held
    assert count is not None
    assert count[0] > 0
    assert time.monotonic() - started < 1.0  # no backoff per dead connection


def test_a_worker_whose_connections_are_ended_runs_the_next_job(
    client: TestClient, rutland_env: str, rutland_engine: Engine
) -> None:
    """A real worker process: its task pool (sync), its queue pool and its LISTEN connection
    (procrastinate's, async) are all ended between two jobs; the second job still runs."""
    key = two_org_keys(rutland_engine, org_prefix=f"dbw-{uuid.uuid4().hex[:6]}-")["a"]
    a = auth(key)

    def run(message: str) -> dict[str, Any]:
        body = {"inputs": {"message": message, "delay_s": 0.2, "steps": 2}}
        r = client.post("/processes/echo/execution", json=body, headers=a)
        assert r.status_code == 201, r.text
        job_id = r.json()["jobID"]
        wait_for(client, job_id, a, lambda s: s["status"] in ("successful", "failed"))
        done: dict[str, Any] = client.get(f"/jobs/{job_id}/results", headers=a).json()
        return done

    with worker() as proc:
        assert run("before") == {"message": "before", "attempt": 1, "steps": 2}
        assert len(_terminate(rutland_env, "locus-batch")) >= 3  # pools and LISTEN
        assert run("after") == {"message": "after", "attempt": 1, "steps": 2}
        assert proc.poll() is None  # the same worker, still running
