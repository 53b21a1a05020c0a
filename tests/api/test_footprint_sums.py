"""Planning results added up by footprint, on the real Rutland bundle (``rutland_db_url``).

Projections are made through ``/planning/projections`` and a capacity-sizing job runs through
``/processes`` (in this process, as a worker would), as in ``test_planning.py``. The footprint
sums are checked against the projection's own totals and the job's own totals, and one MSOA's
need and capacity are recomputed here by hand from the census rows, the norms and the
practice's list size.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.main import create_app
from etl.datasets import load_dataset
from tests.api._support import auth, run_job_here, two_org_keys
from tests.conftest import settings_for

RUTLAND = "E06000017"
RUTLAND_PEOPLE = 41_043.0
OAKHAM = "C82010"
OAKHAM_LIST = 16_200.0
# Built-in norms (spatial.capacity.DEFAULT_NORMS).
PATIENTS_PER_GP, ROOMS_PER_GP, GIA_PER_1000 = 1800.0, 2.0, 90.0
BED_DAYS = {"0-15": 160, "16-24": 230, "25-34": 300, "35-49": 280, "50-64": 480, "65+": 1850}
TYPES = ["la", "msoa", "ward"]


@pytest.fixture(scope="module")
def client(rutland_env: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(rutland_env))) as c:
        yield c


@pytest.fixture(scope="module")
def keys(rutland_engine: Engine) -> dict[str, str]:
    return two_org_keys(rutland_engine, "fps-")


@pytest.fixture(scope="module")
def msoa_of(client: TestClient) -> dict[str, str]:
    """LSOA 2021 code → the name of its MSOA ("Rutland 001A" lies in "Rutland 001")."""
    doc = client.get(
        "/collections/areas/items", params={"vintage": 2021, "level": "lsoa", "limit": 100}
    ).json()
    return {f["properties"]["code"]: f["properties"]["name"][:-1] for f in doc["features"]}


@pytest.fixture(scope="module")
def census(rutland_engine: Engine) -> dict[tuple[str, str], float]:
    """Census 2021 people per (LSOA 2021, age band) of Rutland."""
    with rutland_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.area_code, p.age_lower, p.age_upper, p.count FROM population p "
                "JOIN areas a ON a.code = p.area_code AND a.vintage = 2021 "
                "WHERE a.lad_code = :lad AND p.source = 'census2021'"
            ),
            {"lad": RUTLAND},
        ).all()
    return {(c, f"{lo}+" if hi is None else f"{lo}-{hi}"): float(n) for c, lo, hi, n in rows}


def _people(census: dict[tuple[str, str], float], codes: set[str]) -> float:
    return sum(n for (a, _), n in census.items() if a in codes)


@pytest.fixture(scope="module")
def oakham(rutland_engine: Engine) -> tuple[int, set[str]]:
    """Oakham Medical Practice's site id and the LSOAs whose quickest practice by car it is."""
    with rutland_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT DISTINCT ON (t.area_code) t.area_code, s.source_id, s.id "
                "FROM travel_times t JOIN sites s ON s.id = t.site_id JOIN areas a ON a.code = "
                "t.area_code AND a.vintage = 2021 AND a.level = 'lsoa' WHERE t.mode = 'drive' "
                "AND t.area_vintage = 2021 AND s.kind = 'gp_practice' AND s.status = 'active' "
                "AND NOT s.restricted AND t.seconds < 'Infinity' "
                "ORDER BY t.area_code, t.seconds, t.site_id"
            )
        ).all()
    site = next(int(i) for _, code, i in rows if code == OAKHAM)
    return site, {str(a) for a, code, _ in rows if code == OAKHAM}


@pytest.fixture(scope="module")
def housing_lsoa(rutland_engine: Engine, oakham: tuple[int, set[str]]) -> tuple[str, float, float]:
    """An LSOA of Oakham practice's catchment and its representative point (BNG)."""
    code = sorted(oakham[1])[0]
    with rutland_engine.connect() as conn:
        x, y = conn.execute(
            text(
                "SELECT ST_X(rep_point), ST_Y(rep_point) FROM areas "
                "WHERE code = :c AND vintage = 2021"
            ),
            {"c": code},
        ).one()
    return code, float(x), float(y)


@pytest.fixture(scope="module")
def housing_projection(
    client: TestClient, keys: dict[str, str], housing_lsoa: tuple[str, float, float]
) -> int:
    """Zero growth plus 100 dwellings (2025) at 2.3 persons in ``housing_lsoa``."""
    _, x, y = housing_lsoa
    sites = (
        "site_id,year,dwellings,easting,northing,persons_per_dwelling\n"
        f"fps-1,2025,100,{x},{y},2.3\n"
    )
    definition = {"name": "fps housing", "horizons": [2030], "lad_codes": [RUTLAND]}
    r = client.post(
        "/planning/projections/upload",
        data={"definition": json.dumps(definition)},
        files={"housing_file": ("sites.csv", sites.encode(), "text/csv")},
        headers=auth(keys["a"]),
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


@pytest.fixture(scope="module")
def growth_projection(client: TestClient, keys: dict[str, str]) -> int:
    """1 % a year for every age, to 2030 and 2035."""
    body = {
        "name": "fps growth",
        "horizons": [2030, 2035],
        "lad_codes": [RUTLAND],
        "growth": {"type": "rates", "rates": [{"age_band": "all", "rate": 0.01}]},
    }
    r = client.post("/planning/projections", json=body, headers=auth(keys["a"]))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _get(client: TestClient, path: str, key: str | None = None, **params: Any) -> Any:
    r = client.get(path, params=params, headers=auth(key) if key else {})
    assert r.status_code == 200, r.text
    return r.json()


# ----------------------------------------------------------------------------- projection


@pytest.mark.parametrize("footprint", TYPES)
def test_projection_sums_equal_the_projection_totals_per_age_band(
    client: TestClient, keys: dict[str, str], growth_projection: int, footprint: str
) -> None:
    record = _get(client, f"/planning/projections/{growth_projection}", keys["a"])
    totals: dict[int, dict[str, float]] = defaultdict(dict)
    for t in record["totals"]:
        totals[t["year"]][t["age_band"]] = t["count"]
    doc = _get(
        client,
        f"/footprints/{footprint}/projection",
        keys["a"],
        projection_id=growth_projection,
        year=2035,
    )
    assert (doc["base_year"], doc["year"], doc["total_areas"]) == (2021, 2035, 26)
    assert doc["projection"]["horizon_years"] == [2030, 2035]
    rows = doc["footprints"]
    assert sum(r["areas"] for r in rows) == 26
    assert doc["total_population"] == pytest.approx(RUTLAND_PEOPLE * 1.01**14, abs=0.01)
    assert sum(r["population"] for r in rows) == pytest.approx(doc["total_population"], abs=0.01)
    assert sum(r["population_base"] for r in rows) == pytest.approx(RUTLAND_PEOPLE, abs=0.01)
    for year, key in ((2035, "by_age"), (2021, "by_age_base")):
        assert set(totals[year]) == set(doc[f"total_{key}"])
        for band, people in totals[year].items():
            assert doc[f"total_{key}"][band] == pytest.approx(people, abs=1e-3)
            assert sum(r[key][band] for r in rows) == pytest.approx(people, abs=0.01)
    for r in rows:
        assert r["change"] == pytest.approx(r["population"] - r["population_base"], abs=1e-3)
        assert r["population"] == pytest.approx(r["population_base"] * 1.01**14, abs=0.01)


@pytest.mark.parametrize("footprint", TYPES)
def test_a_housing_site_adds_230_people_to_exactly_the_footprint_holding_it(
    client: TestClient,
    keys: dict[str, str],
    housing_projection: int,
    housing_lsoa: tuple[str, float, float],
    msoa_of: dict[str, str],
    footprint: str,
) -> None:
    doc = _get(
        client, f"/footprints/{footprint}/projection", keys["a"], projection_id=housing_projection
    )
    assert doc["year"] == 2030  # the last horizon by default
    assert doc["total_population"] - doc["total_population_base"] == pytest.approx(230.0)
    assert doc["total_housing"] == pytest.approx(230.0)
    changed = [r for r in doc["footprints"] if abs(r["change"]) > 1e-6]
    assert len(changed) == 1
    (row,) = changed
    assert row["change"] == pytest.approx(230.0)
    assert row["housing"] == pytest.approx(230.0)
    assert all(r["housing"] == 0.0 for r in doc["footprints"] if r is not row)
    if footprint == "la":
        assert row["code"] == RUTLAND
    if footprint == "msoa":
        assert row["name"] == msoa_of[housing_lsoa[0]]


def test_projection_errors_name_the_parameter(
    client: TestClient, keys: dict[str, str], growth_projection: int
) -> None:
    r = client.get(
        "/footprints/la/projection",
        params={"projection_id": growth_projection, "year": 2025},
        headers=auth(keys["a"]),
    )
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["parameter"] == "year"
    assert r.json()["detail"] == (
        f"year 2025 is not a year of projection {growth_projection}: one of 2021, 2030, 2035"
    )
    # A restricted version of org A's projection reads as absent to org B and to anonymous
    # callers; so does one that does not exist.
    hidden = client.post(
        "/planning/projections",
        json={"name": "fps hidden", "horizons": [2030], "lad_codes": [RUTLAND], "restricted": True},
        headers=auth(keys["a"]),
    ).json()["id"]
    assert (
        client.get(
            "/footprints/msoa/projection", params={"projection_id": hidden}, headers=auth(keys["a"])
        ).status_code
        == 200
    )
    for pid, headers in ((hidden, auth(keys["b"])), (hidden, {}), (999_999_999, auth(keys["a"]))):
        r = client.get(
            "/footprints/msoa/projection", params={"projection_id": pid}, headers=headers
        )
        assert r.status_code == 404, r.text
        assert (r.json()["parameter"], r.json()["detail"]) == (
            "projection_id",
            f"no projection {pid}",
        )
    r = client.get("/footprints/county/projection", params={"projection_id": growth_projection})
    assert (r.status_code, r.json()["parameter"]) == (400, "footprint")
    r = client.get("/footprints/la/projection")
    assert (r.status_code, r.json()["parameter"]) == (400, "projection_id")


# ----------------------------------------------------------------------------- need


@pytest.fixture(scope="module")
def oakham_list(
    rutland_env: str, rutland_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[float]:
    """Oakham Medical Practice's list size, loaded as a gp-registrations file; removed after."""
    path = Path(tmp_path_factory.mktemp("fps-lists")) / "rutland_lists.csv"
    path.write_text(
        "practice_code,practice_name,practice_postcode,registered_patients\n"
        f"{OAKHAM},Oakham Medical Practice,LE15 6NP,{OAKHAM_LIST:.0f}\n",
        encoding="utf-8",
    )
    summary = load_dataset(settings_for(rutland_env), "gp-registrations", path, region=RUTLAND)
    try:
        yield OAKHAM_LIST
    finally:
        with rutland_engine.begin() as conn:
            conn.execute(
                text("DELETE FROM gp_registrations WHERE load_id = :i"), {"i": summary.load_id}
            )
            conn.execute(text("DELETE FROM data_loads WHERE id = :i"), {"i": summary.load_id})


@pytest.fixture(scope="module")
def primary_care_job(
    client: TestClient, keys: dict[str, str], housing_projection: int, oakham_list: float
) -> tuple[str, dict[str, Any]]:
    """A primary-care capacity-sizing job to the housing projection's 2030; its results."""
    inputs = {"service": "primary_care", "mode": "drive", "projection_id": housing_projection}
    job = run_job_here(client, "capacity-sizing", inputs, auth(keys["a"]))
    return job, _get(client, f"/jobs/{job}/results", keys["a"])


@pytest.mark.parametrize("footprint", [*TYPES, "commissioner"])
def test_need_sums_equal_the_capacity_jobs_totals(
    client: TestClient,
    keys: dict[str, str],
    primary_care_job: tuple[str, dict[str, Any]],
    oakham: tuple[int, set[str]],
    footprint: str,
) -> None:
    job, res = primary_care_job
    doc = _get(client, f"/footprints/{footprint}/need", keys["a"], job_id=job)
    summary = res["summary"]
    rows = doc["footprints"]
    assert (doc["now_year"], doc["horizon_year"], doc["service"]) == (2021, 2030, "primary_care")
    assert doc["need_measures"] == ["patients", "gp_fte", "clinical_rooms", "gia_m2"]
    assert doc["totals"]["need_now"] == summary["need_now"]
    for when in ("now", "horizon"):
        assert sum(r[f"population_{when}"] for r in rows) == pytest.approx(
            summary[f"population_{when}"], abs=0.01
        )
        for m, total in summary[f"need_{when}"].items():
            assert sum(r[f"need_{when}"][m] for r in rows) == pytest.approx(total, abs=0.01)
    # Only Oakham has a capacity figure (its list): all of it is attributed somewhere, and
    # the footprints' gaps add up to Oakham's.
    site = next(s for s in res["sites"] if s["site_id"] == oakham[0])
    assert doc["totals"]["capacity"]["patients"] == OAKHAM_LIST
    assert doc["unattributed_capacity"]["patients"] is None
    assert sum(r["capacity"]["patients"] or 0.0 for r in rows) == pytest.approx(
        OAKHAM_LIST, abs=0.01
    )
    for when in ("now", "horizon"):
        gaps = [
            r[f"gap_{when}"]["patients"] for r in rows if r[f"gap_{when}"]["patients"] is not None
        ]
        assert sum(gaps) == pytest.approx(site[f"gap_{when}"]["patients"], abs=0.01)
    assert all(r["capacity"]["gia_m2"] is None for r in rows)
    assert sum(r["areas"] for r in rows) == doc["total_areas"] == len(res["areas"]) == 26
    # Every LSOA of the footprints is in the job (the MSOA rows of the stored times are not).
    assert not any("not in the job's catchments" in n for n in doc["notes"])
    if footprint in ("la", "msoa"):  # every LSOA lies in one: nothing unassigned
        assert "(unassigned)" not in {r["code"] for r in rows}


def test_one_msoas_need_and_capacity_by_hand(
    client: TestClient,
    keys: dict[str, str],
    primary_care_job: tuple[str, dict[str, Any]],
    oakham: tuple[int, set[str]],
    housing_lsoa: tuple[str, float, float],
    msoa_of: dict[str, str],
    census: dict[tuple[str, str], float],
) -> None:
    job, _ = primary_care_job
    doc = _get(client, "/footprints/msoa/need", keys["a"], job_id=job)
    name = msoa_of[housing_lsoa[0]]
    (row,) = [r for r in doc["footprints"] if r["name"] == name]
    mine = {a for a, n in msoa_of.items() if n == name}
    now = _people(census, mine)
    later = now + 230.0
    assert row["population_now"] == pytest.approx(now)
    assert row["population_horizon"] == pytest.approx(later)
    assert row["need_horizon"] == pytest.approx(
        {
            "patients": later,
            "gp_fte": later / PATIENTS_PER_GP,
            "clinical_rooms": later / PATIENTS_PER_GP * ROOMS_PER_GP,
            "gia_m2": later / 1000 * GIA_PER_1000,
        },
        abs=1e-3,
    )
    # Oakham's list, apportioned by the share of its catchment's people now in this MSOA.
    site_id, catchment = oakham
    served = mine & catchment
    share = _people(census, served) / _people(census, catchment)
    assert row["capacity"]["patients"] == pytest.approx(OAKHAM_LIST * share, abs=1e-3)
    assert row["population_with_capacity"]["patients"] == pytest.approx(_people(census, served))
    gap = _people(census, served) + 230.0 - OAKHAM_LIST * share
    assert row["gap_horizon"]["patients"] == pytest.approx(gap, abs=1e-3)
    assert row["shortfall_horizon"] is (gap > 0)
    oak = next(s for s in row["sites"] if s["site_id"] == site_id)
    assert oak["source_id"] == OAKHAM
    assert oak["share_of_catchment"] == pytest.approx(share, abs=1e-6)
    assert "share of the catchment's people now" in doc["capacity_attribution"]


def test_bed_need_by_footprint_by_hand(
    client: TestClient,
    keys: dict[str, str],
    msoa_of: dict[str, str],
    census: dict[tuple[str, str], float],
) -> None:
    job = run_job_here(client, "capacity-sizing", {"service": "beds"}, auth(keys["a"]))
    res = _get(client, f"/jobs/{job}/results", keys["a"])
    doc = _get(client, "/footprints/msoa/need", keys["a"], job_id=job)
    assert doc["need_measures"] == ["bed_days", "beds", "admissions"]
    rows = doc["footprints"]
    for m, total in res["summary"]["need_now"].items():
        assert sum(r["need_now"][m] for r in rows) == pytest.approx(total, abs=0.01)
    # The census bands are the default norm bands: each MSOA's bed days by hand.
    reached = {a["area_code"] for a in res["areas"]}
    assert len(rows) == 5
    for row in rows:
        mine = {a for a, n in msoa_of.items() if n == row["name"]} & reached
        bed_days = sum(n * BED_DAYS[b] / 1000 for (a, b), n in census.items() if a in mine)
        assert row["need_now"]["bed_days"] == pytest.approx(bed_days, abs=1e-3)
        assert row["need_now"]["beds"] == pytest.approx(bed_days / 365 / 0.85, abs=1e-3)
        assert (row["capacity"], row["status"]) == ({"beds": None}, "capacity unknown")


def test_need_errors_name_the_job(
    client: TestClient,
    keys: dict[str, str],
    primary_care_job: tuple[str, dict[str, Any]],
) -> None:
    job, _ = primary_care_job
    missing = "00000000-0000-0000-0000-000000000000"
    for job_id, headers in ((missing, auth(keys["a"])), (job, auth(keys["b"])), (job, {})):
        r = client.get("/footprints/la/need", params={"job_id": job_id}, headers=headers)
        assert r.status_code == 404, r.text
        assert (r.json()["parameter"], r.json()["detail"]) == ("job_id", f"no job {job_id}")
    r = client.get("/footprints/la/need", params={"job_id": "not-a-job"}, headers=auth(keys["a"]))
    assert (r.status_code, r.json()["parameter"]) == (400, "job_id")
    echo = run_job_here(client, "echo", {"message": "hello"}, auth(keys["a"]))
    r = client.get("/footprints/la/need", params={"job_id": echo}, headers=auth(keys["a"]))
    assert (r.status_code, r.json()["parameter"]) == (400, "job_id")
    assert r.json()["detail"] == f"job {echo} is not a capacity-sizing job (process echo)"
    queued = client.post(
        "/processes/capacity-sizing/execution", json={"inputs": {}}, headers=auth(keys["a"])
    ).json()["jobID"]
    try:
        r = client.get("/footprints/la/need", params={"job_id": queued}, headers=auth(keys["a"]))
        assert (r.status_code, r.json()["parameter"]) == (400, "job_id")
        assert r.json()["detail"] == f"job {queued} is accepted: its results are not ready"
    finally:
        assert client.delete(f"/jobs/{queued}", headers=auth(keys["a"])).status_code == 200
    r = client.get("/footprints/ward/need", params={"job_id": job}, headers=auth(keys["a"]))
    assert r.status_code == 200
