"""Planning on the real Rutland bundle: projections, uploads, norm sets, capacity sizing.

Projections are made through the API (JSON and multipart uploads) and checked against the
Census 2021 rows they start from; the capacity-sizing job runs through ``/processes`` (in
this process, as a worker would) and one practice's need is recomputed here by hand from
the stored ``travel_times`` rows, the census counts and the norms.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.main import create_app
from etl.datasets import load_dataset
from spatial.crs import bng_to_wgs84
from tests.api._support import auth, run_job_here, two_org_keys
from tests.conftest import settings_for

PROBLEM = "application/problem+json"
RUTLAND = "E06000017"
OAKHAM = "C82010"


@pytest.fixture(scope="module")
def keys(rutland_engine: Engine) -> dict[str, str]:
    return two_org_keys(rutland_engine, "plan-")


@pytest.fixture(scope="module")
def client(rutland_env: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(rutland_env))) as c:
        yield c


def _scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def _census(engine: Engine) -> dict[tuple[str, str], float]:
    """Census 2021 people per (LSOA 2021, age band label) of Rutland."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.area_code, p.age_lower, p.age_upper, p.count FROM population p "
                "JOIN areas a ON a.code = p.area_code AND a.vintage = 2021 "
                "WHERE a.lad_code = :lad AND p.source = 'census2021'"
            ),
            {"lad": RUTLAND},
        ).all()
    return {(code, f"{lo}+" if hi is None else f"{lo}-{hi}"): float(n) for code, lo, hi, n in rows}


def _areas(client: TestClient, key: str, projection_id: int, year: int) -> dict[str, float]:
    r = client.get(
        f"/planning/projections/{projection_id}/areas", params={"year": year}, headers=auth(key)
    )
    assert r.status_code == 200, r.text
    out: dict[str, float] = {}
    for row in r.json()["rows"]:
        out[row["area_code"]] = out.get(row["area_code"], 0.0) + row["count"]
    return out


def _nearest_practice(engine: Engine) -> dict[str, int]:
    """Each Rutland LSOA 2021 → its quickest open GP practice by car (stored times; the
    stored MSOA rows are no catchment's)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT DISTINCT ON (t.area_code) t.area_code, t.site_id FROM travel_times t "
                "JOIN sites s ON s.id = t.site_id JOIN areas a ON a.code = t.area_code AND "
                "a.vintage = 2021 AND a.level = 'lsoa' WHERE t.mode = 'drive' AND t.area_vintage "
                "= 2021 AND s.kind = 'gp_practice' AND s.status = 'active' AND NOT s.restricted "
                "AND t.seconds < 'Infinity' ORDER BY t.area_code, t.seconds, t.site_id"
            )
        ).all()
    return {str(a): int(s) for a, s in rows}


# ----------------------------------------------------------------------------- projections


def test_zero_growth_projects_todays_population_and_versions_by_name(
    client: TestClient, keys: dict[str, str], rutland_engine: Engine
) -> None:
    body = {"name": "rutland flat", "horizons": [2030, 2035], "lad_codes": [RUTLAND]}
    r = client.post("/planning/projections", json=body, headers=auth(keys["a"]))
    assert r.status_code == 201, r.text
    first = r.json()
    assert r.headers["location"].endswith(f"/planning/projections/{first['id']}")
    assert (first["version"], first["base_year"], first["horizon_years"]) == (1, 2021, [2030, 2035])
    assert first["metadata"]["base"]["source"] == "census2021"
    assert first["metadata"]["base"]["reference_date"] == "2021-03-21"
    assert first["metadata"]["growth"]["type"] == "none"

    census = _census(rutland_engine)
    got = client.get(f"/planning/projections/{first['id']}", headers=auth(keys["a"])).json()
    totals = {(t["year"], t["age_band"]): t["count"] for t in got["totals"]}
    for band in {b for _, b in census}:
        want = sum(n for (_, b), n in census.items() if b == band)
        assert totals[(2021, band)] == totals[(2030, band)] == totals[(2035, band)] == want
    by_area = _areas(client, keys["a"], first["id"], 2035)
    assert by_area == pytest.approx(
        {c: sum(n for (a, _), n in census.items() if a == c) for c, _ in census}
    )
    assert sum(by_area.values()) == 41043.0

    again = client.post(
        "/planning/projections", json={**body, "restricted": True}, headers=auth(keys["a"])
    )
    assert again.status_code == 201
    assert again.json()["version"] == 2
    # Org B: sees the open version only; the restricted one reads as absent.
    listed = client.get(
        "/planning/projections", params={"name": "rutland flat"}, headers=auth(keys["b"])
    )
    assert [p["version"] for p in listed.json()["projections"]] == [1]
    hidden = client.get(f"/planning/projections/{again.json()['id']}", headers=auth(keys["b"]))
    assert hidden.status_code == 404
    assert hidden.json()["parameter"] == "projection_id"
    assert client.post("/planning/projections", json=body).status_code == 401


def test_rates_compound_and_a_trend_needs_an_older_table(
    client: TestClient, keys: dict[str, str], rutland_engine: Engine
) -> None:
    body = {
        "name": "rutland one percent",
        "horizons": [2030],
        "lad_codes": [RUTLAND],
        "growth": {"type": "rates", "rates": [{"age_band": "all", "rate": 0.01}]},
    }
    r = client.post("/planning/projections", json=body, headers=auth(keys["a"]))
    assert r.status_code == 201, r.text
    areas = _areas(client, keys["a"], r.json()["id"], 2030)
    assert sum(areas.values()) == pytest.approx(41043 * 1.01**9)

    only_65 = {**body, "growth": {"type": "rates", "rates": [{"age_band": "65+", "rate": 0.01}]}}
    r = client.post("/planning/projections", json=only_65, headers=auth(keys["a"]))
    assert r.status_code == 400
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["parameter"] == "growth"
    assert r.json()["problems"][0].startswith("no growth rate for age band 0-15 in 2022")

    # The demo bundle loads only Census 2021: no older table to take a trend from.
    trend = {**body, "growth": {"type": "trend"}}
    r = client.post("/planning/projections", json=trend, headers=auth(keys["a"]))
    assert r.status_code == 400
    assert r.json()["parameter"] == "growth.older"
    assert "no population table older than census2021 2021-03-21" in r.json()["detail"]
    vintages = client.get("/planning/population-vintages").json()["vintages"]
    assert [(v["source"], v["reference_date"], v["areas"]) for v in vintages] == [
        ("census2021", "2021-03-21", 26)
    ]


@pytest.fixture(scope="module")
def housing_site(rutland_engine: Engine) -> tuple[str, float, float]:
    """An LSOA in Oakham practice's car catchment and its representative point (BNG)."""
    nearest = _nearest_practice(rutland_engine)
    oakham = _scalar(rutland_engine, "SELECT id FROM sites WHERE source_id = :c", c=OAKHAM)
    code = sorted(a for a, s in nearest.items() if s == oakham)[0]
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
    client: TestClient, keys: dict[str, str], housing_site: tuple[str, float, float]
) -> dict[str, Any]:
    """Zero growth plus one site of 100 dwellings (2025) at 2.3 persons, uploaded as CSV."""
    _, x, y = housing_site
    csv_text = (
        "site_id,name,year,dwellings,easting,northing,persons_per_dwelling\n"
        f"oak-1,Oakham extension,2025,100,{x},{y},2.3\n"
    )
    definition = {"name": "rutland housing", "horizons": [2030], "lad_codes": [RUTLAND]}
    r = client.post(
        "/planning/projections/upload",
        data={"definition": json.dumps(definition)},
        files={"housing_file": ("sites.csv", csv_text.encode(), "text/csv")},
        headers=auth(keys["a"]),
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_housing_site_adds_230_people_to_its_area_and_nowhere_else(
    client: TestClient,
    keys: dict[str, str],
    housing_projection: dict[str, Any],
    housing_site: tuple[str, float, float],
) -> None:
    code = housing_site[0]
    pid = housing_projection["id"]
    before, after = _areas(client, keys["a"], pid, 2021), _areas(client, keys["a"], pid, 2030)
    changed = {c: round(after[c] - before[c], 9) for c in before if after[c] != before[c]}
    assert changed == {code: 230.0}
    housing = housing_projection["metadata"]["housing"]
    assert housing["placement"] == {"oak-1": [{"area_code": code, "share": 1.0}]}
    assert housing["people_by_site"]["oak-1"]["2030"] == pytest.approx(230.0)
    assert housing["persons_per_dwelling_source"].startswith("ONS")
    site = housing_projection["definition"]["housing"][0]
    assert (site["site_id"], site["dwellings"], site["persons_per_dwelling"]) == (
        "oak-1",
        {"2025": 100.0},
        2.3,
    )


def test_malformed_uploads_are_refused_with_rows_and_nothing_is_stored(
    client: TestClient, keys: dict[str, str], rutland_engine: Engine
) -> None:
    count = (
        "SELECT (SELECT count(*) FROM population_projections) * 1000000 "
        "+ (SELECT count(*) FROM population_projection_rows)"
    )
    before = _scalar(rutland_engine, count)
    definition = json.dumps({"name": "bad", "horizons": [2030], "lad_codes": [RUTLAND]})
    growth = "age_band,rate,year\nall,0.01,\n65+,lots,\n0-15,0.01,2O30\n"
    housing = (
        "site_id,year,dwellings,easting,northing\n"
        "a,2025,100,486000,308000\nb,2025,-1,486000,308000\n"
    )
    r = client.post(
        "/planning/projections/upload",
        data={"definition": definition},
        files={
            "growth_file": ("rates.csv", growth.encode(), "text/csv"),
            "housing_file": ("sites.csv", housing.encode(), "text/csv"),
        },
        headers=auth(keys["a"]),
    )
    assert r.status_code == 400
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["parameter"] == "growth_file"
    assert [(x["file"], x["row"], x["reason"]) for x in body["rejects"]] == [
        ("rates.csv", 3, "column 'rate': 'lots' is not a number"),
        ("rates.csv", 4, "column 'year': '2O30' is not a year (1900-2150)"),
        ("sites.csv", 3, "column 'dwellings': '-1' is not a number >= 0"),
    ]
    # A site outside every loaded area: refused by the projection, naming it.
    outside = "site_id,year,dwellings,easting,northing\nfar,2025,10,530000,180000\n"
    r = client.post(
        "/planning/projections/upload",
        data={"definition": definition},
        files={"housing_file": ("far.csv", outside.encode(), "text/csv")},
        headers=auth(keys["a"]),
    )
    assert r.status_code == 400
    assert r.json()["parameter"] == "housing"
    assert r.json()["problems"] == ["site far: the point lies in no loaded area"]
    r = client.post(
        "/planning/projections/upload",
        data={"definition": "{not json"},
        files={"housing_file": ("far.csv", outside.encode(), "text/csv")},
        headers=auth(keys["a"]),
    )
    assert (r.status_code, r.json()["parameter"]) == (400, "definition")
    r = client.post(
        "/planning/projections/upload",
        data={"definition": definition},
        files={"growth_file": ("rates.csv", b"age_band,growth\nall,0.01\n", "text/csv")},
        headers=auth(keys["a"]),
    )
    assert r.status_code == 400
    [whole] = r.json()["rejects"]
    assert (whole["file"], whole["row"]) == ("rates.csv", 0)
    assert whole["reason"].startswith("missing column(s) 'rate'")
    assert _scalar(rutland_engine, count) == before


# ----------------------------------------------------------------------------- norms


def _custom_norms(default: dict[str, Any], patients_per_gp: float) -> dict[str, Any]:
    norms = json.loads(json.dumps(default))
    norms["primary_care"]["patients_per_gp_fte"] = {
        "value": patients_per_gp,
        "unit": "registered patients per GP FTE",
        "basis": "assumption",
        "source": "ICB workforce plan 2025 (test)",
    }
    return norms


def test_norm_sets_are_listed_saved_versioned_and_checked(
    client: TestClient, keys: dict[str, str]
) -> None:
    default = client.get("/planning/norms/default").json()
    assert (default["id"], default["builtin"], default["name"]) == (None, True, "locus-default")
    assert default["definition"]["primary_care"]["patients_per_gp_fte"]["value"] == 1800.0
    body = {"name": "icb norms", **_custom_norms(default["definition"], 2000.0)}
    r = client.post("/planning/norms", json=body, headers=auth(keys["a"]))
    assert r.status_code == 201, r.text
    saved = r.json()
    assert (saved["version"], saved["builtin"]) == (1, False)
    assert client.post("/planning/norms", json=body, headers=auth(keys["a"])).json()["version"] == 2
    listed = client.get("/planning/norms", headers=auth(keys["a"])).json()["norms"]
    assert listed[0]["builtin"] is True
    assert [n["version"] for n in listed if n["name"] == "icb norms"] == [2, 1]
    got = client.get(f"/planning/norms/{saved['id']}", headers=auth(keys["b"])).json()
    assert got["definition"]["primary_care"]["patients_per_gp_fte"]["value"] == 2000.0

    no_source = json.loads(json.dumps(body))
    no_source["primary_care"]["clinical_rooms_per_gp_fte"]["source"] = ""
    r = client.post("/planning/norms", json=no_source, headers=auth(keys["a"]))
    assert r.status_code == 400
    assert r.json()["parameter"] == "primary_care"
    assert "at least 1 character" in r.json()["detail"]
    gap = json.loads(json.dumps(body))
    gap["beds"]["bed_days_per_1000"] = [
        r for r in gap["beds"]["bed_days_per_1000"] if r["age_band"] != "16-24"
    ]
    r = client.post("/planning/norms", json=gap, headers=auth(keys["a"]))
    assert r.status_code == 400
    assert "leaves out age 16" in r.json()["detail"]


# ----------------------------------------------------------------------------- capacity


@pytest.fixture(scope="module")
def oakham_list(
    rutland_env: str, rutland_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[float]:
    """A list size for Oakham Medical Practice, loaded as a gp-registrations file (the real
    file covers Trafford only); removed at the end so the shared database is as it was."""
    path = Path(tmp_path_factory.mktemp("lists")) / "rutland_lists.csv"
    path.write_text(
        "practice_code,practice_name,practice_postcode,registered_patients\n"
        f"{OAKHAM},Oakham Medical Practice,LE15 6NP,16200\n",
        encoding="utf-8",
    )
    summary = load_dataset(settings_for(rutland_env), "gp-registrations", path, region=RUTLAND)
    try:
        yield 16200.0
    finally:
        with rutland_engine.begin() as conn:
            conn.execute(
                text("DELETE FROM gp_registrations WHERE load_id = :i"), {"i": summary.load_id}
            )
            conn.execute(text("DELETE FROM data_loads WHERE id = :i"), {"i": summary.load_id})


def test_capacity_sizing_job_matches_a_hand_computation(
    client: TestClient,
    keys: dict[str, str],
    rutland_engine: Engine,
    housing_projection: dict[str, Any],
    housing_site: tuple[str, float, float],
    oakham_list: float,
) -> None:
    inputs = {"service": "primary_care", "mode": "drive", "projection_id": housing_projection["id"]}
    job = run_job_here(client, "capacity-sizing", inputs, auth(keys["a"]))
    res = client.get(f"/jobs/{job}/results", headers=auth(keys["a"])).json()
    assert (res["now_year"], res["horizon_year"], res["kinds"]) == (2021, 2030, ["gp_practice"])
    assert res["norms"]["builtin"] is True

    # By hand: the areas whose quickest practice by car is Oakham, their census people.
    nearest = _nearest_practice(rutland_engine)
    oakham = _scalar(rutland_engine, "SELECT id FROM sites WHERE source_id = :c", c=OAKHAM)
    census = _census(rutland_engine)
    mine = {a for a, s in nearest.items() if s == oakham}
    people = sum(n for (a, _), n in census.items() if a in mine)
    site = next(s for s in res["sites"] if s["site_id"] == oakham)
    assert site["areas"] == len(mine)
    assert site["population_now"] == pytest.approx(people)
    assert site["population_horizon"] == pytest.approx(people + 230)
    later = people + 230
    assert site["need_horizon"] == pytest.approx(
        {
            "patients": later,
            "gp_fte": later / 1800,
            "clinical_rooms": later / 1800 * 2,
            "gia_m2": later / 1000 * 90,
        },
        abs=1e-3,
    )
    assert site["capacity"]["patients"] == oakham_list
    assert site["capacity"]["gia_m2"] is None
    assert site["capacity_sources"]["patients"].startswith(f"registered list of {OAKHAM}")
    assert site["gap_horizon"]["patients"] == pytest.approx(later - oakham_list, abs=1e-3)
    # 16,149 people now, 16,379 with the housing: enough today, short by 2030.
    assert people < oakham_list < later
    assert site["gap_now"]["patients"] == pytest.approx(people - oakham_list, abs=1e-3)
    assert (site["shortfall_now"], site["shortfall_horizon"]) == (False, True)
    assert site["status"] == "shortfall by 2030"
    others = [s for s in res["sites"] if s["site_id"] != oakham]
    assert {s["status"] for s in others} == {"capacity unknown"}
    assert sum(s["population_now"] for s in res["sites"]) + res["unassigned"][
        "now"
    ] == pytest.approx(41043)
    assert len(res["areas"]) == len(nearest)

    # The same with a saved norm set of 2,000 patients per GP.
    default = client.get("/planning/norms/default").json()["definition"]
    saved = client.post(
        "/planning/norms",
        json={"name": "two thousand", **_custom_norms(default, 2000.0)},
        headers=auth(keys["a"]),
    ).json()
    job2 = run_job_here(
        client, "capacity-sizing", {**inputs, "norms_id": saved["id"]}, auth(keys["a"])
    )
    res2 = client.get(f"/jobs/{job2}/results", headers=auth(keys["a"])).json()
    site2 = next(s for s in res2["sites"] if s["site_id"] == oakham)
    assert site2["need_horizon"]["gp_fte"] == pytest.approx(later / 2000, abs=1e-3)

    # Downloads: the CSV row and the report name the norms' sources.
    csv_text = client.get(f"/jobs/{job}/results", params={"f": "csv"}, headers=auth(keys["a"])).text
    header, *lines = csv_text.splitlines()
    assert "need_gp_fte_2030" in header.split(",")
    assert any(line.startswith(f"{oakham},{OAKHAM},") for line in lines)
    html = client.get(f"/jobs/{job}/results", params={"f": "html"}, headers=auth(keys["a"])).text
    assert "Capacity sizing" in html
    assert "HUDU Planning Contributions Model" in html


def test_capacity_inputs_are_checked_at_submission(
    client: TestClient, keys: dict[str, str]
) -> None:
    for inputs, parameter in (
        ({"projection_id": 999999}, "projection_id"),
        ({"norms_id": 999999}, "norms_id"),
        ({"mode": "transit"}, "mode"),
        ({"service": "dentistry"}, "service"),
    ):
        r = client.post(
            "/processes/capacity-sizing/execution", json={"inputs": inputs}, headers=auth(keys["a"])
        )
        assert r.status_code == 400, (inputs, r.text)
        assert r.json()["parameter"] == parameter


def test_capacity_now_only_and_bed_need_by_hand(
    client: TestClient, keys: dict[str, str], rutland_engine: Engine
) -> None:
    job = run_job_here(client, "capacity-sizing", {}, auth(keys["a"]))
    res = client.get(f"/jobs/{job}/results", headers=auth(keys["a"])).json()
    assert (res["now_year"], res["horizon_year"], res["projection"]) == (2021, 2021, None)
    assert res["metadata"]["population"]["latest_tables"] == {"census2021 2021-03-21": 26}
    people = sum(s["population_now"] for s in res["sites"]) + res["unassigned"]["now"]
    assert people == pytest.approx(41043)

    job = run_job_here(client, "capacity-sizing", {"service": "beds"}, auth(keys["a"]))
    beds = client.get(f"/jobs/{job}/results", headers=auth(keys["a"])).json()
    assert beds["kinds"] == ["hospital", "community_hospital"]
    # The census bands are the default norm bands: bed days by hand, for everyone reached.
    rates = {"0-15": 160, "16-24": 230, "25-34": 300, "35-49": 280, "50-64": 480, "65+": 1850}
    reached = set(_nearest_practice(rutland_engine))  # areas with any drive time
    census = _census(rutland_engine)
    bed_days = sum(n * rates[b] / 1000 for (a, b), n in census.items() if a in reached)
    assert beds["unassigned"]["now"] == 0.0
    assert beds["summary"]["need_now"]["bed_days"] == pytest.approx(bed_days, abs=1e-2)
    assert beds["summary"]["need_now"]["beds"] == pytest.approx(bed_days / 365 / 0.85, abs=1e-2)
    assert {s["status"] for s in beds["sites"]} == {"capacity unknown"}


def test_a_polygon_site_is_apportioned_by_area_at_the_default_household_size(
    client: TestClient, keys: dict[str, str], rutland_engine: Engine
) -> None:
    # A 400 m square on the boundary of two neighbouring Rutland LSOAs (BNG).
    with rutland_engine.connect() as conn:
        x, y = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(ST_Intersection("
                "a.geom, b.geom)) AS p FROM areas a JOIN areas b ON a.code < b.code "
                "AND a.vintage = 2021 AND b.vintage = 2021 AND a.level = 'lsoa' "
                "AND b.level = 'lsoa' AND ST_Touches(a.geom, b.geom) "
                "ORDER BY a.code, b.code LIMIT 1) s"
            )
        ).one()
        square = f"ST_MakeEnvelope({x - 200}, {y - 200}, {x + 200}, {y + 200}, 27700)"
        shares = dict(
            conn.execute(
                text(
                    f"SELECT code, ST_Area(ST_Intersection(geom, {square})) / 160000.0 "
                    f"FROM areas WHERE vintage = 2021 AND level = 'lsoa' "
                    f"AND ST_Intersects(geom, {square})"
                )
            ).all()
        )
    corners = [(x - 200, y - 200), (x + 200, y - 200), (x + 200, y + 200), (x - 200, y + 200)]
    lon, lat = bng_to_wgs84([c[0] for c in corners], [c[1] for c in corners])
    ring = [[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"site_id": "edge", "dwellings": {"2027": 50}},
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
            }
        ],
    }
    definition = {"name": "rutland edge", "horizons": [2030], "lad_codes": [RUTLAND]}
    r = client.post(
        "/planning/projections/upload",
        data={"definition": json.dumps(definition)},
        files={"housing_file": ("edge.geojson", json.dumps(doc).encode(), "application/geo+json")},
        headers=auth(keys["a"]),
    )
    assert r.status_code == 201, r.text
    housing = r.json()["metadata"]["housing"]
    placed = {p["area_code"]: p["share"] for p in housing["placement"]["edge"]}
    assert len(placed) >= 2
    assert placed == pytest.approx({str(k): float(v) for k, v in shares.items()}, abs=1e-4)
    assert housing["persons_per_dwelling_default"] == 2.36
    pid = r.json()["id"]
    before, after = _areas(client, keys["a"], pid, 2021), _areas(client, keys["a"], pid, 2030)
    added = {c: after[c] - before[c] for c in before if after[c] != before[c]}
    assert sum(added.values()) == pytest.approx(50 * 2.36, abs=1e-2)
    assert added == pytest.approx({c: 50 * 2.36 * s for c, s in placed.items()}, abs=1e-2)


def test_a_scenarios_population_growth_is_reached_at_the_last_horizon(
    client: TestClient, keys: dict[str, str], rutland_engine: Engine
) -> None:
    census = _census(rutland_engine)
    area = sorted({a for a, _ in census})[0]
    scenario = client.post(
        "/scenarios",
        json={
            "name": "Rutland: 65+ up half in one area",
            "restricted": True,
            "changes": [
                {"type": "grow_population", "age_bands": ["65+"], "factor": 1.2},
                {
                    "type": "grow_population",
                    "age_bands": ["65+"],
                    "factor": 1.25,
                    "area_codes": [area],
                },
            ],
        },
        headers=auth(keys["a"]),
    )
    assert scenario.status_code == 201, scenario.text
    sid = scenario.json()["id"]
    body = {
        "name": "rutland from a scenario",
        "horizons": [2026, 2031],
        "lad_codes": [RUTLAND],
        "growth": {"type": "scenario", "scenario_id": sid},
    }
    r = client.post("/planning/projections", json=body, headers=auth(keys["a"]))
    assert r.status_code == 201, r.text
    meta = r.json()["metadata"]["growth"]
    assert (meta["type"], meta["scenario"]["id"]) == ("scenario", sid)
    got = client.get(
        f"/planning/projections/{r.json()['id']}/areas",
        params={"year": 2031},
        headers=auth(keys["a"]),
    )
    rows = {(row["area_code"], row["age_band"]): row["count"] for row in got.json()["rows"]}
    # By the last horizon: 65+ × 1.2 everywhere, × 1.2 × 1.25 = 1.5 in the named area; the
    # other bands unchanged.
    for (code, band), people in census.items():
        factor = 1.0 if band != "65+" else (1.5 if code == area else 1.2)
        assert rows[(code, band)] == pytest.approx(people * factor), (code, band)

    # Org B cannot read org A's restricted scenario; a scenario without growth is named.
    hidden = client.post("/planning/projections", json=body, headers=auth(keys["b"]))
    assert hidden.status_code == 400
    assert hidden.json()["parameter"] == "growth.scenario_id"
    assert f"scenario {sid} is not a saved scenario you can see" in hidden.json()["detail"]
    plain = client.post(
        "/scenarios",
        json={"name": "Rutland: no growth", "changes": []},
        headers=auth(keys["a"]),
    ).json()["id"]
    r = client.post(
        "/planning/projections",
        json={**body, "growth": {"type": "scenario", "scenario_id": plain}},
        headers=auth(keys["a"]),
    )
    assert r.status_code == 400
    assert r.json()["detail"] == f"scenario {plain} has no grow_population change"
