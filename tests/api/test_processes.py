"""OGC API Processes and jobs on a real PostGIS with real worker processes.

Job mechanics use the ``echo`` process (a timed, progress-reporting diagnostic); hub siting
runs on a small synthetic instance whose optimum is worked out by hand below.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pandas as pd
import psycopg
import pytest
from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict

from app.jobs.processes import REGISTRY
from app.jobs.registry import Process, RunContext
from app.reports import render_pdf
from config.settings import load_settings
from store import results as store_results
from store.access import ANONYMOUS, Principal
from store.connection import close_databases, database
from store.keys import create_api_key
from tests.api._support import auth, client, run_here, wait_for, worker
from tests.conftest import database_for

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def keys(db_url: str) -> dict[str, str]:
    db = database_for(db_url)
    made = {
        "a_analyst": create_api_key(db, "org-a", "analyst"),
        "a_viewer": create_api_key(db, "org-a", "viewer"),
        "a_admin": create_api_key(db, "org-a", "admin"),
        "b_analyst": create_api_key(db, "org-b", "analyst"),
    }
    return made


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _queue_status(db_url: str, job_id: str) -> tuple[str, int]:
    with psycopg.connect(_libpq(db_url)) as conn:
        row = conn.execute(
            "SELECT p.status::text, p.attempts FROM jobs j "
            "JOIN procrastinate_jobs p ON p.id = j.procrastinate_job_id WHERE j.id = %s",
            (job_id,),
        ).fetchone()
    assert row is not None
    return str(row[0]), int(row[1])


def _submit(c: Any, key: str, inputs: dict[str, Any], process: str = "echo", **body: Any) -> str:
    r = c.post(
        f"/processes/{process}/execution",
        json={"inputs": inputs, **body},
        headers={**auth(key), "Prefer": "respond-async"},
    )
    assert r.status_code == 201, r.text
    job_id: str = r.json()["jobID"]
    assert r.headers["location"].endswith(f"/jobs/{job_id}")
    return job_id


# ------------------------------------------------------------------------------- catalogue
def test_process_list_and_description(db_url: str) -> None:
    with client() as c:
        listing = c.get("/processes").json()
        ids = {p["id"] for p in listing["processes"]}
        assert ids == {
            "hub-siting",
            "travel-times",
            "echo",
            "scenario-evaluation",
            "colocation",
            "catchments",
            "options-appraisal",
            "capacity-sizing",
        }
        hub = c.get("/processes/hub-siting").json()
        assert set(hub["inputs"]) == {
            "p",
            "mode",
            "objective",
            "minutes",
            "candidates",
            "keep",
            "exclude",
            "weights",
            "baseline",
        }
        assert hub["inputs"]["mode"]["schema"]["enum"] == ["drive", "walk", "cycle", "transit"]
        assert hub["inputs"]["objective"]["schema"]["enum"] == [
            "p-median",
            "mclp",
            "p-center",
            "lscp",
        ]
        assert hub["jobControlOptions"] == ["async-execute", "dismiss"]
        assert hub["x-locus-result-formats"] == ["json", "csv", "gpkg"]
        assert {"chosen", "assignment", "objective", "coverage"} <= set(hub["outputs"])
        missing = c.get("/processes/nope")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == PROBLEM
        assert missing.json()["parameter"] == "processId"


# ------------------------------------------------------------------------------- access
def test_execute_needs_analyst_and_valid_inputs(db_url: str, keys: dict[str, str]) -> None:
    with client() as c:
        anon = c.post("/processes/echo/execution", json={"inputs": {}})
        assert anon.status_code == 401
        assert anon.headers["content-type"] == PROBLEM
        viewer = c.post(
            "/processes/echo/execution", json={"inputs": {}}, headers=auth(keys["a_viewer"])
        )
        assert viewer.status_code == 403
        assert viewer.json()["title"] == "Forbidden"
        # travel-times recomputes shared data: admin only
        tt = c.post("/processes/travel-times/execution", json={}, headers=auth(keys["a_analyst"]))
        assert tt.status_code == 403
        bad = c.post(
            "/processes/echo/execution",
            json={"inputs": {"delay_s": 1000}},
            headers=auth(keys["a_analyst"]),
        )
        assert bad.status_code == 400
        assert bad.json()["parameter"] == "delay_s"
        extra = c.post(
            "/processes/echo/execution",
            json={"inputs": {"colour": "red"}},
            headers=auth(keys["a_analyst"]),
        )
        assert extra.json()["parameter"] == "colour"
        no_p = c.post(
            "/processes/hub-siting/execution",
            json={"inputs": {"mode": "drive"}},
            headers=auth(keys["a_analyst"]),
        )
        assert (no_p.status_code, no_p.json()["parameter"]) == (400, "p")
        bad_mode = c.post(
            "/processes/hub-siting/execution",
            json={"inputs": {"p": 2, "mode": "teleport"}},
            headers=auth(keys["a_analyst"]),
        )
        assert (bad_mode.status_code, bad_mode.json()["parameter"]) == (400, "mode")
        no_kind = c.post(
            "/processes/hub-siting/execution",
            json={"inputs": {"p": 1, "candidates": ["lighthouse"]}},
            headers=auth(keys["a_analyst"]),
        )
        assert (no_kind.status_code, no_kind.json()["parameter"]) == (400, "candidates")
        not_json = c.post(
            "/processes/echo/execution",
            content=b"{not json",
            headers={**auth(keys["a_analyst"]), "Content-Type": "application/json"},
        )
        assert (not_json.status_code, not_json.json()["parameter"]) == (400, "body")


def test_job_list_parameters_are_checked(db_url: str, keys: dict[str, str]) -> None:
    """Nothing the jobs table cannot hold reaches the database (a NUL byte was a 500)."""
    with client() as c:
        for params, name in (
            ({"processID": "\x00"}, "processID"),
            ({"processID": "echo\x00"}, "processID"),
            ({"status": "finished"}, "status"),
        ):
            r = c.get("/jobs", params=params, headers=auth(keys["a_analyst"]))
            assert (r.status_code, r.json()["parameter"]) == (400, name), params
            assert r.headers["content-type"] == PROBLEM
        ok = c.get("/jobs", params={"processID": "hub-siting", "status": "failed"})
        assert (ok.status_code, ok.json()["jobs"]) == (200, [])


def test_dismiss_queued_job(db_url: str, keys: dict[str, str]) -> None:
    a = auth(keys["a_analyst"])
    with client() as c:
        queued = _submit(c, keys["a_analyst"], {"message": "never"})
        gone = c.delete(f"/jobs/{queued}", headers=a)
        assert gone.status_code == 200
        assert gone.json()["status"] == "dismissed"
        assert _queue_status(db_url, queued)[0] == "cancelled"
        assert c.get(f"/jobs/{queued}", headers=a).json()["status"] == "dismissed"
        assert c.get(f"/jobs/{queued}/results", headers=a).status_code == 404


# ------------------------------------------------------------------------------- hub siting
#: Seconds from area (row) to GP site (column); s4 is org B's restricted site, 0 s from all.
TIMES = {
    "E01900001": (60, 600, 1200, 0),
    "E01900002": (300, 120, 900, 0),
    "E01900003": (900, 300, 240, 0),
    "E01900004": (1500, 700, 100, 0),
}
POPULATION = {"E01900001": 100, "E01900002": 200, "E01900003": 300, "E01900004": 400}


@pytest.fixture(scope="module")
def hub_data(db_url: str) -> Iterator[list[int]]:
    """Four 2021 areas with population and drive times to three GP sites (+ org B's)."""
    with psycopg.connect(_libpq(db_url), autocommit=True) as conn:
        load = conn.execute(
            "INSERT INTO data_loads (dataset, file_name, sha256, started_at, status, licence) "
            "VALUES ('hub_test', 'synthetic', 'n/a', now(), 'active', 'test') RETURNING id"
        ).fetchone()
        assert load is not None
        for i, code in enumerate(TIMES):
            x = 490000 + 1000 * i
            conn.execute(
                "INSERT INTO areas (code, name, level, vintage, geom, rep_point, load_id) "
                "VALUES (%s, %s, 'lsoa', 2021, ST_Multi(ST_MakeEnvelope(%s, 300000, %s, "
                "301000, 27700)), ST_SetSRID(ST_MakePoint(%s, 300500), 27700), %s)",
                (code, code, x, x + 1000, x + 500, load[0]),
            )
            conn.execute(
                "INSERT INTO population (area_code, vintage, source, age_lower, count, "
                "reference_date, load_id) VALUES (%s, 2021, 'census', 0, %s, '2021-03-21', %s)",
                (code, POPULATION[code], load[0]),
            )
        sites = []
        for j, (org, restricted) in enumerate(
            [(None, False), (None, False), (None, False), ("org-b", True)]
        ):
            row = conn.execute(
                "INSERT INTO sites (source, source_id, name, kind, organisation, restricted, "
                "geom, load_id) VALUES ('test', %s, %s, 'gp_practice', %s, %s, "
                "ST_SetSRID(ST_MakePoint(%s, 300500), 27700), %s) RETURNING id",
                (f"S{j}", f"Surgery {j + 1}", org, restricted, 490500 + 1000 * j, load[0]),
            ).fetchone()
            assert row is not None
            sites.append(int(row[0]))
        for code, row_times in TIMES.items():
            for sid, seconds in zip(sites, row_times, strict=True):
                conn.execute(
                    "INSERT INTO travel_times VALUES ('drive', %s, 2021, %s, %s, %s)",
                    (code, sid, seconds, load[0]),
                )
    yield sites
    # the pools execute_job used in this process
    close_databases(db_url)


def _run_inline(c: Any, key: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Submit through the API, run the job's task in this process, return the results."""
    job_id = _submit(c, key, inputs, process="hub-siting")
    assert run_here(c, job_id) == "successful"
    status = c.get(f"/jobs/{job_id}", headers=auth(key)).json()
    assert (status["status"], status["progress"]) == ("successful", 100)
    body: dict[str, Any] = c.get(f"/jobs/{job_id}/results", headers=auth(key)).json()
    body["jobID"] = job_id
    return body


def test_hub_siting_results_and_downloads(
    db_url: str, keys: dict[str, str], hub_data: list[int]
) -> None:
    s1, s2, s3, s4 = hub_data
    with client() as c:
        # p=1, population weights: sum w*t is 936000 (s1), 454000 (s2), 412000 (s3)
        res = _run_inline(c, keys["a_analyst"], {"p": 1, "candidates": ["gp_practice"]})
        assert [s["site_id"] for s in res["chosen"]] == [s3]
        assert res["chosen"][0]["name"] == "Surgery 3"
        assert res["objective"] == pytest.approx(412000.0)
        assert res["lower_bound"] == pytest.approx(412000.0)
        assert res["gap"] == pytest.approx(0.0)
        assert res["status"] == "optimal"
        assert {r["area_code"]: r["seconds"] for r in res["assignment"]} == {
            "E01900001": 1200.0,
            "E01900002": 900.0,
            "E01900003": 240.0,
            "E01900004": 100.0,
        }
        # before: s1..s3 all open, everyone within 10 min; after: only s3
        assert res["coverage"] == {
            "before": {"10": 1000.0, "20": 1000.0, "30": 1000.0},
            "after": {"10": 700.0, "20": 1000.0, "30": 1000.0},
        }
        assert res["demand_total"] == 1000.0
        # keeping s1, p=2: best partner is s3 (178000) not s2 (400000)
        kept = _run_inline(c, keys["a_analyst"], {"p": 2, "keep": [s1]})
        assert [s["site_id"] for s in kept["chosen"]] == [s1, s3]
        assert kept["objective"] == pytest.approx(178000.0)
        # MCLP within 10 min: s1 covers 300, s2 600, s3 700 people
        mclp = _run_inline(c, keys["a_analyst"], {"p": 1, "objective": "mclp", "minutes": 10})
        assert [s["site_id"] for s in mclp["chosen"]] == [s3]
        assert mclp["objective"] == pytest.approx(700.0)
        assert mclp["upper_bound"] == pytest.approx(700.0)
        # p-center: worst times 1500 (s1), 700 (s2), 1200 (s3)
        center = _run_inline(c, keys["a_analyst"], {"p": 1, "objective": "p-center"})
        assert [s["site_id"] for s in center["chosen"]] == [s2]
        assert center["objective"] == pytest.approx(700.0)
        # LSCP within 10 min: no single site covers all four areas, two do
        lscp = _run_inline(c, keys["a_analyst"], {"objective": "lscp", "minutes": 10})
        assert len(lscp["chosen"]) == 2
        assert lscp["objective"] == pytest.approx(2.0)
        # org A may not name org B's restricted site; org B's own job may use it
        hidden = c.post(
            "/processes/hub-siting/execution",
            json={"inputs": {"p": 1, "keep": [s4]}},
            headers=auth(keys["a_analyst"]),
        )
        assert (hidden.status_code, hidden.json()["parameter"]) == (400, "keep")
        theirs = _run_inline(c, keys["b_analyst"], {"p": 1})
        assert [s["site_id"] for s in theirs["chosen"]] == [s4]
        assert theirs["objective"] == pytest.approx(0.0)
        # org A cannot read org B's results
        assert (
            c.get(f"/jobs/{theirs['jobID']}/results", headers=auth(keys["a_analyst"])).status_code
            == 404
        )

        a = auth(keys["a_analyst"])
        csv_r = c.get(f"/jobs/{res['jobID']}/results?f=csv", headers=a)
        assert csv_r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(csv_r.text)))
        assert [(r["area_code"], int(r["site_id"]), float(r["minutes"])) for r in rows] == [
            ("E01900001", s3, 20.0),
            ("E01900002", s3, 15.0),
            ("E01900003", s3, 4.0),
            ("E01900004", s3, 1.67),
        ]
        gpkg = c.get(f"/jobs/{res['jobID']}/results?f=gpkg", headers=a)
        assert gpkg.headers["content-type"] == "application/geopackage+sqlite3"
        with tempfile.NamedTemporaryFile(suffix=".gpkg") as fh:
            fh.write(gpkg.content)
            fh.flush()
            db = sqlite3.connect(fh.name)
            layers = dict(db.execute("SELECT table_name, srs_id FROM gpkg_contents").fetchall())
            assert layers == {"chosen_sites": 4326, "assignment": 4326}
            assert db.execute("SELECT count(*) FROM assignment").fetchone() == (4,)
            assert db.execute("SELECT site_id, name FROM chosen_sites").fetchall() == [
                (s3, "Surgery 3")
            ]
            db.close()
        assert c.get(f"/jobs/{res['jobID']}/results?f=xlsx", headers=a).status_code == 406


def test_result_reads_apply_the_visibility_rule(db_url: str, hub_data: list[int]) -> None:
    """What hub siting reads: org B's restricted site s4 (and its times) only for org B."""
    s1, s2, s3, s4 = hub_data
    settings = load_settings()
    with database(settings.database, purpose="batch").connection() as conn:
        for principal, sites in (
            (ANONYMOUS, [s1, s2, s3]),
            (Principal("org-a", "analyst"), [s1, s2, s3]),
            (Principal("org-b", "viewer"), [s1, s2, s3, s4]),
        ):
            found = store_results.candidate_sites(conn, principal, ["gp_practice"])
            assert [int(i) for i in found["id"]] == sites
            times = store_results.site_travel_times(
                conn, principal, mode="drive", area_vintage=2021, site_ids=hub_data
            )
            assert sorted(set(times["to_id"])) == sites
            assert len(times) == 4 * len(sites)
            assert float(times.loc[times["to_id"] == s3, "seconds"].sum()) == 1200 + 900 + 240 + 100
        demand = store_results.demand_areas(conn, area_vintage=2021)
        assert dict(zip(demand["code"], demand["population"], strict=True)) == POPULATION


def test_jobs_are_queued_on_the_configured_queue(db_url: str, keys: dict[str, str]) -> None:
    settings = load_settings()
    settings = settings.model_copy(
        update={"jobs": settings.jobs.model_copy(update={"queue": "locus-other"})}
    )
    a = auth(keys["a_analyst"])
    with client(settings=settings) as c:
        job_id = _submit(c, keys["a_analyst"], {"message": "elsewhere"})
        with psycopg.connect(_libpq(db_url)) as conn:
            row = conn.execute(
                "SELECT p.queue_name FROM jobs j JOIN procrastinate_jobs p "
                "ON p.id = j.procrastinate_job_id WHERE j.id = %s",
                (job_id,),
            ).fetchone()
        assert row == ("locus-other",)
        # a worker configured with the same queue runs it
        with worker(LOCUS_JOBS_QUEUE="locus-other"):
            final = wait_for(c, job_id, a, lambda s: s["status"] == "successful")
        assert final["attempts"] == 1
        assert c.get(f"/jobs/{job_id}/results", headers=a).json()["message"] == "elsewhere"


# ------------------------------------------------------------------------------- result access
class _ReportInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = "Board report"


def _run_report(ctx: RunContext, inputs: _ReportInputs) -> dict[str, Any]:
    return {"title": inputs.title, "rows": [{"site": "Surgery 3", "minutes": 4.0}]}


async def _report_pdf(
    conn: AsyncConnection[Any], results: dict[str, Any]
) -> tuple[bytes, str, str]:
    table = pd.DataFrame(results["rows"])
    pdf = render_pdf(
        f"<h1>{results['title']}</h1>",
        title=results["title"],
        images=[],
        tables=[("rows", table)],
        sources=[],
        engine="matplotlib",
    )
    return pdf, "application/pdf", "report.pdf"


#: A process with a PDF download (the real one, scenario evaluation, needs the Rutland data):
#: the access rule of /jobs/{id}/results is the same for every process and format.
REPORT = Process(
    id="report-test",
    title="Report (test)",
    description="A PDF report of its inputs (tests only).",
    inputs=_ReportInputs,
    run=_run_report,
    outputs={"title": {"title": "Title", "schema": {"type": "string"}}},
    exports={"pdf": _report_pdf},
)


def test_restricted_results_are_the_owners_in_every_format(
    db_url: str, keys: dict[str, str], hub_data: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(REGISTRY, REPORT.id, REPORT)
    owner, other = auth(keys["a_analyst"]), auth(keys["b_analyst"])
    viewer = auth(keys["a_viewer"])
    with client() as c:
        hub = _submit(c, keys["a_analyst"], {"p": 1}, process="hub-siting")
        report = _submit(c, keys["a_analyst"], {"title": "Private board"}, process=REPORT.id)
        assert (run_here(c, hub), run_here(c, report)) == ("successful", "successful")
        expected = {
            hub: {
                "json": "application/json",
                "csv": "text/csv; charset=utf-8",
                "gpkg": "application/geopackage+sqlite3",
            },
            report: {"json": "application/json", "pdf": "application/pdf"},
        }
        for job_id, formats in expected.items():
            for f, media_type in formats.items():
                url = f"/jobs/{job_id}/results?f={f}"
                mine = c.get(url, headers=owner)
                assert (mine.status_code, mine.headers["content-type"]) == (200, media_type), f
                # a viewer of the owning organisation reads them too
                assert c.get(url, headers=viewer).status_code == 200, f
                # as if it did not exist: the same problem as for a job id nobody has
                absent = c.get(f"/jobs/{uuid.uuid4()}/results?f={f}", headers=owner).json()
                for who in ({}, other):
                    hidden = c.get(url, headers=who)
                    assert hidden.status_code == 404, (f, who)
                    assert hidden.headers["content-type"] == PROBLEM
                    problem = hidden.json()
                    assert (problem["type"], problem["title"]) == (absent["type"], "Not found")
                    assert "Surgery" not in hidden.text
                    assert "Private" not in hidden.text
            # a format the process does not offer: 406 for the owner, but still 404 for others
            # (the answer must not tell them the job exists)
            assert c.get(f"/jobs/{job_id}/results?f=xlsx", headers=owner).status_code == 406
            assert c.get(f"/jobs/{job_id}/results?f=xlsx", headers=other).status_code == 404
            assert c.get(f"/jobs/{job_id}/results?f=xlsx").status_code == 404
        pdf = c.get(f"/jobs/{report}/results?f=pdf", headers=owner)
        assert pdf.content.startswith(b"%PDF-")
        assert pdf.headers["content-disposition"] == 'attachment; filename="report.pdf"'


# ------------------------------------------------------------------------------- worker loss
def _queue_worker(db_url: str, job_id: str) -> int:
    """procrastinate's id of the worker running the job's queue entry."""
    with psycopg.connect(_libpq(db_url)) as conn:
        row = conn.execute(
            "SELECT p.worker_id FROM jobs j "
            "JOIN procrastinate_jobs p ON p.id = j.procrastinate_job_id WHERE j.id = %s",
            (job_id,),
        ).fetchone()
    assert row is not None
    assert row[0] is not None
    return int(row[0])


def _kill_mid_job(
    c: Any, db_url: str, key: str, max_attempts: str
) -> tuple[str, int, dict[str, Any]]:
    """Run an echo job on a worker, ``kill -9`` it mid-job, start another worker: the job id,
    the killed worker's queue id and the job's final status."""
    a = auth(key)
    job_id = _submit(c, key, {"message": "survivor", "delay_s": 2, "steps": 20})
    with worker(LOCUS_JOBS_MAX_ATTEMPTS=max_attempts) as first:
        wait_for(c, job_id, a, lambda s: s["status"] == "running" and s["progress"] > 0)
        lost = _queue_worker(db_url, job_id)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    stuck = c.get(f"/jobs/{job_id}", headers=a).json()
    assert stuck["status"] == "running"  # nobody is left to say otherwise...
    with worker(LOCUS_JOBS_MAX_ATTEMPTS=max_attempts):  # ...until a worker sweeps
        final = wait_for(
            c, job_id, a, lambda s: s["status"] in ("successful", "failed"), timeout_s=60
        )
    return job_id, lost, final


def test_killed_worker_job_is_retried(db_url: str, keys: dict[str, str]) -> None:
    with client() as c:
        job_id, _, final = _kill_mid_job(c, db_url, keys["a_analyst"], "2")
        assert final["status"] == "successful"
        assert final["attempts"] == 2
        results = c.get(f"/jobs/{job_id}/results", headers=auth(keys["a_analyst"])).json()
        assert results == {"message": "survivor", "attempt": 2, "steps": 20}
        assert _queue_status(db_url, job_id) == ("succeeded", 2)


def test_killed_worker_job_fails_with_reason(db_url: str, keys: dict[str, str]) -> None:
    with client() as c:
        job_id, lost, final = _kill_mid_job(c, db_url, keys["a_analyst"], "1")
        assert final["status"] == "failed"
        assert final["message"] == (
            f"failed: the worker running this job (queue worker {lost}) stopped without "
            "finishing (no heartbeat for over 1 s), after 1 attempt"
        )
        assert _queue_status(db_url, job_id)[0] == "failed"
        results = c.get(f"/jobs/{job_id}/results", headers=auth(keys["a_analyst"]))
        assert results.status_code == 404  # no results: the problem says why
        assert final["message"] in results.json()["detail"]


# ------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def shared_worker(db_url: str) -> Iterator[None]:
    """One worker for the tests below (they run last: earlier tests need an idle queue)."""
    with worker():
        yield


def test_job_runs_through_a_worker(db_url: str, keys: dict[str, str], shared_worker: None) -> None:
    a, b = auth(keys["a_analyst"]), auth(keys["b_analyst"])
    with client() as c:
        job_id = _submit(c, keys["a_analyst"], {"message": "hello", "delay_s": 1.5, "steps": 5})
        first = c.get(f"/jobs/{job_id}", headers=a).json()
        assert (first["progress"], first["processID"]) == (0, "echo")
        # not visible to another organisation, nor anonymously: 404, as if it did not exist
        assert c.get(f"/jobs/{job_id}", headers=b).status_code == 404
        assert c.get(f"/jobs/{job_id}").status_code == 404
        assert c.get(f"/jobs/{job_id}/results", headers=b).status_code == 404
        assert job_id not in {j["jobID"] for j in c.get("/jobs", headers=b).json()["jobs"]}
        early = c.get(f"/jobs/{job_id}/results", headers=a)
        assert (early.status_code, early.json()["title"]) == (404, "Result not ready")

        seen: list[dict[str, Any]] = []
        final = wait_for(c, job_id, a, lambda s: s["status"] == "successful", seen=seen)
        running = [s for s in seen if s["status"] == "running"]
        assert running, "the job was never seen running"
        assert all(0 <= s["progress"] < 100 for s in running)
        assert max(s["progress"] for s in running) > 0
        assert final["progress"] == 100
        assert final["attempts"] == 1
        assert any(link["href"].endswith(f"/jobs/{job_id}/results") for link in final["links"])
        assert c.get(f"/jobs/{job_id}/results", headers=a).json() == {
            "message": "hello",
            "attempt": 1,
            "steps": 5,
        }
        assert job_id in {j["jobID"] for j in c.get("/jobs", headers=a).json()["jobs"]}
        assert _queue_status(db_url, job_id) == ("succeeded", 1)
    # a new API process (new app, new pool) sees the same job: state lives in PostgreSQL
    with client() as c2:
        again = c2.get(f"/jobs/{job_id}", headers=a).json()
        assert (again["status"], again["progress"]) == ("successful", 100)


def test_failure_is_reported_and_public_jobs_are_readable(
    db_url: str, keys: dict[str, str], shared_worker: None
) -> None:
    a, b = auth(keys["a_analyst"]), auth(keys["b_analyst"])
    with client() as c:
        failing = _submit(c, keys["a_analyst"], {"fail": True, "steps": 1})
        public = _submit(c, keys["a_analyst"], {"message": "open"}, restricted=False)
        f = wait_for(c, failing, a, lambda s: s["status"] == "failed")
        wait_for(c, public, a, lambda s: s["status"] == "successful")
        assert f["message"] == "failed: failed on request (input 'fail' was true)"
        assert _queue_status(db_url, failing)[0] == "failed"
        # a public job of org A: org B and anonymous may read it, not dismiss it
        assert c.get(f"/jobs/{public}/results", headers=b).json()["message"] == "open"
        assert c.get(f"/jobs/{public}").json()["status"] == "successful"
        assert c.delete(f"/jobs/{public}", headers=b).status_code == 403
        assert c.delete(f"/jobs/{public}").status_code == 401


def test_dismiss_running_job(db_url: str, keys: dict[str, str], shared_worker: None) -> None:
    a = auth(keys["a_analyst"])
    with client() as c:
        other = _submit(c, keys["a_analyst"], {"delay_s": 30, "steps": 100})
        # another organisation cannot dismiss (nor learn that the job exists)
        assert c.delete(f"/jobs/{other}", headers=auth(keys["b_analyst"])).status_code == 404
        wait_for(c, other, a, lambda s: s["status"] == "running" and s["progress"] > 0)
        assert c.delete(f"/jobs/{other}", headers=a).json()["status"] == "dismissed"
        deadline = time.monotonic() + 20
        while _queue_status(db_url, other)[0] == "doing" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _queue_status(db_url, other)[0] == "aborted"
        final = c.get(f"/jobs/{other}", headers=a).json()
        assert final["status"] == "dismissed"
        assert final["progress"] < 50
        assert c.get(f"/jobs/{other}/results", headers=a).status_code == 404
