"""Scenarios on the real Rutland bundle: store, version, evaluate as a job, export, compare.

The must-show check: closing Uppingham Surgery (ODS C82077) by car reports exactly the people
whose nearest GP practice moves beyond the threshold, recomputed here straight from the
stored ``travel_times`` rows and the areas' population.
"""

from __future__ import annotations

import io
import math
import shutil
import sqlite3
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from sqlalchemy import Engine, text

from app.jobs.tasks import execute_job
from app.main import create_app
from app.services.scenarios import ScenarioChange
from etl.readers import eric
from spatial.scenario import ChangeCapacity, CloseSites, GrowPopulation, MoveService, OpenSite
from tests.api._support import auth, two_org_keys, wait_for, worker
from tests.conftest import settings_for

PROBLEM = "application/problem+json"
CLOSED = "C82077"  # Uppingham Surgery


@pytest.fixture(scope="module")
def keys(rutland_engine: Engine) -> dict[str, str]:
    return two_org_keys(rutland_engine, "scen-")


@pytest.fixture(scope="module")
def client(rutland_env: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(rutland_env))) as c:
        yield c


def _network_load(engine: Engine) -> int:
    """The active road network load of the Rutland database."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT id FROM data_loads WHERE dataset = 'osm-network' "
                    "AND status = 'active' ORDER BY id DESC LIMIT 1"
                )
            ).scalar_one()
        )


def _practice_times(engine: Engine) -> dict[str, dict[str, float]]:
    """area code → {ODS code: drive seconds} from the stored matrix."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.area_code, s.source_id, t.seconds FROM travel_times t "
                "JOIN sites s ON s.id = t.site_id WHERE t.mode = 'drive' "
                "AND t.area_vintage = 2021 AND s.kind = 'gp_practice' AND s.status = 'active' "
                "AND NOT s.restricted"
            )
        ).all()
    out: dict[str, dict[str, float]] = {}
    for code, ods, seconds in rows:
        out.setdefault(str(code), {})[str(ods)] = float(seconds)
    return out


@pytest.fixture(scope="module")
def threshold_min(rutland_engine: Engine) -> float:
    """The smallest whole minute within which every area now served by C82077 is reached."""
    times = _practice_times(rutland_engine)
    served = [min(t.values()) for t in times.values() if min(t, key=lambda k: t[k]) == CLOSED]
    assert served, "no area has Uppingham as its nearest practice"
    return float(math.ceil(max(served) / 60.0))


def _save(client: TestClient, key: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/scenarios", json=body, headers=auth(key))
    assert r.status_code == 201, r.text
    saved: dict[str, Any] = r.json()
    return saved


def _evaluate_in_process(client: TestClient, key: str, inputs: dict[str, Any]) -> str:
    r = client.post(
        "/processes/scenario-evaluation/execution",
        json={"inputs": inputs},
        headers={**auth(key), "Prefer": "respond-async"},
    )
    assert r.status_code == 201, r.text
    job_id: str = r.json()["jobID"]
    assert execute_job(job_id, attempt=1, settings=client.app.state.settings) == "successful"
    return job_id


# ------------------------------------------------------------------------------- storage
def test_scenarios_are_validated_versioned_and_private(
    client: TestClient, keys: dict[str, str], rutland_engine: Engine
) -> None:
    body = {"name": "Close Uppingham", "changes": [{"type": "close_sites", "site_ids": [CLOSED]}]}
    assert client.post("/scenarios", json=body).status_code == 401
    assert client.post("/scenarios", json=body, headers=auth(keys["a_viewer"])).status_code == 403
    first = _save(client, keys["a"], {**body, "restricted": True})
    second = _save(client, keys["a"], {**body, "restricted": True, "description": "v2"})
    assert (first["version"], second["version"]) == (1, 2)
    with rutland_engine.connect() as conn:
        site_id = conn.execute(
            text("SELECT id FROM sites WHERE source_id = :c AND kind = 'gp_practice'"),
            {"c": CLOSED},
        ).scalar_one()
    # references are stored as site ids
    assert second["definition"]["changes"][0]["site_ids"] == [str(site_id)]
    listed = client.get(
        "/scenarios", params={"name": "Close Uppingham"}, headers=auth(keys["a"])
    ).json()
    assert [s["version"] for s in listed["scenarios"]] == [2, 1]
    assert client.get(f"/scenarios/{first['id']}", headers=auth(keys["a"])).status_code == 200
    # restricted: another organisation and anonymous see nothing
    assert client.get(f"/scenarios/{first['id']}", headers=auth(keys["b"])).status_code == 404
    assert client.get(f"/scenarios/{first['id']}").status_code == 404
    assert client.get("/scenarios", params={"name": "Close Uppingham"}).json()["scenarios"] == []

    bad = client.post(
        "/scenarios",
        json={
            "name": "Broken",
            "changes": [
                {"type": "close_sites", "site_ids": [CLOSED]},
                {"type": "move_service", "from_site_id": "NOPE1", "to_site_id": CLOSED},
                {"type": "grow_population", "age_bands": ["90-99"], "factor": 1.2},
            ],
        },
        headers=auth(keys["a"]),
    )
    assert bad.status_code == 400
    assert bad.headers["content-type"] == PROBLEM
    problems = bad.json()["problems"]
    assert any(p.startswith("change 2 (move_service)") and "NOPE1" in p for p in problems)
    unknown = client.post(
        "/scenarios",
        json={"name": "X", "changes": [{"type": "demolish", "site_ids": ["1"]}]},
        headers=auth(keys["a"]),
    )
    assert unknown.status_code == 400
    assert "change 1" in unknown.json()["detail"]


# ------------------------------------------------------------------------------- evaluation
@pytest.fixture(scope="module")
def closing_job(
    client: TestClient, keys: dict[str, str], threshold_min: float
) -> tuple[str, dict[str, Any]]:
    saved = _save(
        client,
        keys["a"],
        {
            "name": "Close Uppingham (evaluated)",
            "changes": [{"type": "close_sites", "site_ids": [CLOSED]}],
        },
    )
    job_id = _evaluate_in_process(
        client,
        keys["a"],
        {
            "scenario_id": saved["id"],
            "modes": ["drive"],
            "bands": [5, 10, 20],
            "threshold_min": threshold_min,
            "receipt_per_ha": 500_000,
        },
    )
    r = client.get(f"/jobs/{job_id}/results", headers=auth(keys["a"]))
    assert r.status_code == 200, r.text
    return job_id, r.json()


def test_closing_uppingham_loses_exactly_the_people_pushed_beyond_the_threshold(
    closing_job: tuple[str, dict[str, Any]], rutland_engine: Engine, threshold_min: float
) -> None:
    _, results = closing_job
    times = _practice_times(rutland_engine)
    limit = threshold_min * 60.0
    losing = sorted(
        code
        for code, t in times.items()
        if min(t.values()) <= limit
        and min((v for k, v in t.items() if k != CLOSED), default=math.inf) > limit
    )
    with rutland_engine.connect() as conn:
        pops = dict(
            conn.execute(
                text(
                    "SELECT code, population FROM areas_features WHERE vintage = 2021 "
                    "AND code = ANY(:c)"
                ),
                {"c": losing},
            ).all()
        )
    expected = sum(float(v) for v in pops.values())
    assert losing, "the threshold should leave someone beyond it"
    areas = results["detail"]["modes"]["drive"]["areas"]
    reported = sorted(a["area_code"] for a in areas if a["status"] == "loses")
    assert reported == losing
    lose_row = next(
        r
        for r in results["summary"]
        if r["mode"] == "drive" and r["metric"] == "people losing access"
    )
    assert lose_row["scenario"] == pytest.approx(expected)
    assert sum(results["loses"]["drive"]["by_age"].values()) == pytest.approx(expected)
    assert sum(results["loses"]["drive"]["by_imd"].values()) == pytest.approx(expected)
    # nobody gains from a closure
    assert sum(results["gains"]["drive"]["by_age"].values()) == 0
    # every area's baseline time is its stored minimum
    for a in areas:
        assert a["baseline_s"] == pytest.approx(min(times[a["area_code"]].values()))
    assert results["metadata"]["scenario_id"] > 0
    # The result states the model its stored times were computed on (network load, speeds).
    model = results["metadata"]["travel_times"]["drive"]
    assert model["mode"] == "drive"
    assert model["network_load_id"] == _network_load(rutland_engine)
    assert model["walk_speed_kmh"] > 0
    assert "new_site_times" not in model
    estate = {r["metric"]: r["value"] for r in results["estate"]}
    assert estate["receipt rate (£/ha)"] == 500_000


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_scenario_exports_pdf_gpkg_csv(
    client: TestClient,
    keys: dict[str, str],
    closing_job: tuple[str, dict[str, Any]],
    tmp_path: Path,
) -> None:
    job_id, results = closing_job
    pdf = client.get(f"/jobs/{job_id}/results", params={"f": "pdf"}, headers=auth(keys["a"]))
    assert pdf.status_code == 200, pdf.text[:300]
    assert pdf.headers["content-type"] == "application/pdf"
    path = tmp_path / "scenario.pdf"
    path.write_bytes(pdf.content)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(tmp_path / "p")], check=True)
    assert len(list(tmp_path.glob("p-*.png"))) >= 2
    words = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Close Uppingham" in words
    assert "loses access" in words.replace("\n", " ").lower()
    # other organisations cannot download it (restricted job)
    assert (
        client.get(f"/jobs/{job_id}/results", params={"f": "pdf"}, headers=auth(keys["b"]))
    ).status_code == 404
    gpkg = client.get(f"/jobs/{job_id}/results", params={"f": "gpkg"}, headers=auth(keys["a"]))
    assert gpkg.status_code == 200
    gp = tmp_path / "s.gpkg"
    gp.write_bytes(gpkg.content)
    with sqlite3.connect(gp) as db:
        layers = {r[0] for r in db.execute("SELECT table_name FROM gpkg_contents")}
        n_areas = db.execute("SELECT count(*) FROM areas_drive").fetchone()[0]
    assert {"areas_drive", "sites", "summary", "estate", "attribution"} <= layers
    assert n_areas == len(results["detail"]["modes"]["drive"]["areas"])
    csvs = client.get(f"/jobs/{job_id}/results", params={"f": "csv"}, headers=auth(keys["a"]))
    names = zipfile.ZipFile(io.BytesIO(csvs.content)).namelist()
    assert {"summary.csv", "estate.csv", "ATTRIBUTION.txt"} <= set(names)


def test_new_hub_at_a_point_through_the_worker_and_compare(
    client: TestClient,
    keys: dict[str, str],
    closing_job: tuple[str, dict[str, Any]],
    threshold_min: float,
    rutland_engine: Engine,
) -> None:
    saved = _save(
        client,
        keys["a"],
        {
            "name": "Uppingham moves to a new hub",
            "changes": [
                {"type": "close_sites", "site_ids": [CLOSED]},
                {
                    "type": "open_site",
                    "site_id": "new-hub",
                    "name": "New hub on the A47",
                    "lon": -0.7005,
                    "lat": 52.6050,
                    "gia_m2": 900,
                },
            ],
        },
    )
    r = client.post(
        "/processes/scenario-evaluation/execution",
        json={
            "inputs": {
                "scenario_id": saved["id"],
                "modes": ["drive"],
                "bands": [5, 10, 20],
                "threshold_min": threshold_min,
                "receipt_per_ha": 500_000,
            }
        },
        headers={**auth(keys["a"]), "Prefer": "respond-async"},
    )
    assert r.status_code == 201, r.text
    job_id = r.json()["jobID"]
    with worker():
        status = wait_for(
            client,
            job_id,
            auth(keys["a"]),
            lambda s: s["status"] in ("successful", "failed"),
            timeout_s=60,
        )
    assert status["status"] == "successful", status
    res = client.get(f"/jobs/{job_id}/results", headers=auth(keys["a"])).json()
    sites = {s["site_id"]: s for s in res["detail"]["sites"]}
    assert sites["new-hub"]["status"] == "opened"
    areas = res["detail"]["modes"]["drive"]["areas"]
    assert any(a["scenario_site"] == "new-hub" for a in areas)
    estate = {e["metric"]: e["value"] for e in res["estate"]}
    assert estate["floor area added (m²)"] == 900
    # The new hub's times were computed now, on the active drive network, and say so.
    computed = res["metadata"]["travel_times"]["drive"]["new_site_times"]
    assert computed["mode"] == "drive"
    assert computed["network_load_id"] == _network_load(rutland_engine)

    first_id, first = closing_job
    cmp = client.get(
        "/scenarios/compare", params={"a": first_id, "b": job_id}, headers=auth(keys["a"])
    )
    assert cmp.status_code == 200, cmp.text
    body = cmp.json()
    rows = {(r["mode"], r["metric"]): r for r in body["rows"]}
    col_a, col_b = body["a"]["scenario"], body["b"]["scenario"]
    lose_a = next(x["scenario"] for x in first["summary"] if x["metric"] == "people losing access")
    lose_b = next(x["scenario"] for x in res["summary"] if x["metric"] == "people losing access")
    row = rows[("drive", "people losing access")]
    assert (row[col_a], row[col_b]) == (pytest.approx(lose_a), pytest.approx(lose_b))
    assert row["difference"] == pytest.approx(lose_b - lose_a)
    assert lose_b <= lose_a  # the new hub can only help
    bad = client.get(
        "/scenarios/compare", params={"a": first_id, "b": "nope"}, headers=auth(keys["a"])
    )
    assert bad.status_code == 400
    assert bad.json()["parameter"] == "b"


# ------------------------------------------------------------------------------- typed body
def test_post_scenarios_declares_its_request_body(client: TestClient) -> None:
    spec = client.get("/api").json()
    body = spec["paths"]["/scenarios"]["post"]["requestBody"]
    assert body["required"] is True
    ref = body["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert schema["required"] == ["name"]
    assert {"name", "description", "changes", "restricted"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False
    one = spec["paths"]["/scenarios/{scenario_id}"]["get"]["responses"]["200"]
    assert one["content"]["application/json"]["schema"]["$ref"].endswith("/ScenarioRecord")
    saved = spec["paths"]["/scenarios"]["post"]["responses"]["201"]
    assert saved["content"]["application/json"]["schema"]["$ref"].endswith("/ScenarioRecord")
    changes = schema["properties"]["changes"]["items"]
    assert set(changes["discriminator"]["mapping"]) == {
        "close_sites",
        "open_site",
        "move_service",
        "change_capacity",
        "grow_population",
    }


def test_request_changes_mirror_the_scenario_model() -> None:
    """The request's change types carry exactly the fields of :mod:`spatial.scenario`'s
    changes (plus ``type``, and ``lon``/``lat`` for a WGS84 position)."""
    adapter = TypeAdapter(ScenarioChange)
    mapping = adapter.json_schema()["discriminator"]["mapping"]
    defs = adapter.json_schema()["$defs"]
    spatial_changes = {
        "close_sites": CloseSites,
        "open_site": OpenSite,
        "move_service": MoveService,
        "change_capacity": ChangeCapacity,
        "grow_population": GrowPopulation,
    }
    for name, cls in spatial_changes.items():
        props = set(defs[mapping[name].rsplit("/", 1)[-1]]["properties"])
        expected = {f.name for f in fields(cls)} | {"type"}
        assert props - {"lon", "lat"} == expected, name


def test_bad_scenario_bodies_are_400_naming_the_member(
    client: TestClient, keys: dict[str, str]
) -> None:
    headers = auth(keys["a"])
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"changes": []}, "name", "Field required"),
        ({"name": "  "}, "name", "empty"),
        ({"name": "X\u0000"}, "name", "NUL character"),
        ({"name": "X", "colour": "red"}, "colour", "Extra inputs"),
        ({"name": "X", "changes": "close everything"}, "changes", "list"),
        (
            {"name": "X", "changes": [{"type": "close_sites"}]},
            "changes",
            "change 1 (close_sites): site_ids: Field required",
        ),
        (
            {
                "name": "X",
                "changes": [
                    {"type": "close_sites", "site_ids": [CLOSED]},
                    {"type": "open_site", "site_id": "n", "lon": -0.7, "x": 480000},
                ],
            },
            "changes",
            "change 2 (open_site)",
        ),
    ]
    for body, parameter, words in cases:
        r = client.post("/scenarios", json=body, headers=headers)
        assert r.status_code == 400, (body, r.text)
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["parameter"] == parameter, r.json()
        assert words in r.json()["detail"], r.json()
    # NaN is valid Python JSON but cannot be stored: refused, naming the member.
    nan = client.post(
        "/scenarios",
        content=b'{"name": "X", "changes": [{"type": "grow_population", "age_bands": ["65+"], '
        b'"factor": NaN}]}',
        headers={**headers, "content-type": "application/json"},
    )
    assert nan.status_code == 400, nan.text
    assert nan.json()["parameter"] == "changes[0].factor"
    assert "NaN" in nan.json()["detail"], nan.json()
    # Numbers are accepted as site ids; a WGS84 point is stored in British National Grid.
    saved = _save(
        client,
        keys["a"],
        {
            "name": "Typed body",
            "changes": [
                {
                    "type": "open_site",
                    "site_id": "hub",
                    "lon": -0.7005,
                    "lat": 52.6050,
                    "gia_m2": 900,
                }
            ],
            "restricted": True,
        },
    )
    change = saved["definition"]["changes"][0]
    assert "lon" not in change
    assert change["x"] == pytest.approx(488_101, abs=2)
    assert change["y"] == pytest.approx(301_594, abs=2)
    assert saved["restricted"] is True


def test_stored_eric_running_cost_is_the_documented_sum(
    rutland_engine: Engine, data_dir: Path
) -> None:
    """Rutland Memorial Hospital's stored running cost is the sum of the ERIC columns the
    reader documents (:data:`etl.readers.eric.RUNNING_COSTS`), read here from the sheet."""
    sheet = pd.read_excel(
        data_dir / "england" / "eric_2016-17_trust_site_pfi.xls",
        sheet_name="Site Data",
        engine="calamine",
        header=1,
    ).set_index("Site Code")
    documented = sum(float(sheet.loc["RT5PC", c]) for c in eric.RUNNING_COSTS)
    with rutland_engine.connect() as conn:
        stored = conn.execute(
            text("SELECT running_cost_gbp FROM sites WHERE source = 'eric' AND source_id = 'RT5PC'")
        ).scalar_one()
    assert documented == pytest.approx(797292.0)
    assert float(stored) == pytest.approx(documented)
