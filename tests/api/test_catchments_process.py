"""The ``catchments`` process on the real Rutland data: bands computed and stored.

Jobs are submitted through the API with API keys of two organisations and executed by the job
task in-process (as in ``test_hub_siting_rutland``), one of them by a real worker process. The
stored rows are checked in PostGIS (nesting, the site inside its band, the network load) and
against ``GET /analysis/catchment/{site_id}`` (same populations, same polygons) and the stored
travel-time matrix.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.main import create_app
from tests.api._support import auth, run_job_here, two_org_keys, wait_for, worker
from tests.api.test_hub_siting_rutland import _frame
from tests.conftest import settings_for

GP_PRACTICES = ("C82010", "C82044", "C82077", "C82649")
OAKHAM = "C82010"
BANDS = [10, 20]
RESTRICTED_SOURCE_ID = "CATCHMENTS-TEST-ORG-B"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def api(rutland_env: str) -> Iterator[TestClient]:
    # rutland_env: the job task (and a worker process) read the database from the environment.
    with TestClient(create_app(settings_for(rutland_env))) as c:
        yield c


@pytest.fixture(scope="module")
def keys(rutland_engine: Engine) -> dict[str, str]:
    return two_org_keys(rutland_engine, org_prefix="catchments-")


@pytest.fixture(scope="module")
def gp_ids(rutland_engine: Engine) -> dict[str, int]:
    found = _frame(
        rutland_engine,
        "SELECT source_id, id FROM sites WHERE kind = 'gp_practice' AND status = 'active' "
        "AND geom IS NOT NULL AND NOT restricted",
    )
    ids = {str(r.source_id): int(r.id) for r in found.itertuples()}
    assert sorted(ids) == sorted(GP_PRACTICES)
    return ids


@pytest.fixture(scope="module")
def restricted_site(
    rutland_engine: Engine, gp_ids: dict[str, int], keys: dict[str, str]
) -> Iterator[int]:
    """A restricted GP practice of ``catchments-org-b``, at Oakham's surgery (no stored times).

    Removed at the end with its catchments, as are the bands the tests store for the four
    practices, so the shared Rutland database is left as it was.
    """
    with rutland_engine.begin() as conn:
        site_id = conn.execute(
            text(
                "INSERT INTO sites (source, source_id, name, kind, status, organisation, "
                "restricted, geom, load_id) SELECT 'test', :sid, 'Org B private surgery', "
                "'gp_practice', 'active', 'catchments-org-b', true, geom, load_id FROM sites "
                "WHERE id = :oakham RETURNING id"
            ),
            {"sid": RESTRICTED_SOURCE_ID, "oakham": gp_ids[OAKHAM]},
        ).scalar_one()
    try:
        yield int(site_id)
    finally:
        with rutland_engine.begin() as conn:
            conn.execute(
                text("DELETE FROM catchments WHERE site_id = ANY(:s)"),
                {"s": [*gp_ids.values(), site_id]},
            )
            conn.execute(text("DELETE FROM sites WHERE id = :s"), {"s": site_id})


def _submit(api: TestClient, key: str, inputs: dict[str, Any]) -> str:
    r = api.post("/processes/catchments/execution", json={"inputs": inputs}, headers=auth(key))
    assert r.status_code == 201, r.text
    job_id: str = r.json()["jobID"]
    return job_id


def _run(api: TestClient, key: str, inputs: dict[str, Any]) -> dict[str, Any]:
    job_id = run_job_here(api, "catchments", inputs, auth(key))
    body: dict[str, Any] = api.get(f"/jobs/{job_id}/results", headers=auth(key)).json()
    return body


def _stored(engine: Engine, site_ids: list[int], mode: str = "drive") -> pd.DataFrame:
    return _frame(
        engine,
        "SELECT id, site_id, mode, band_min, population, network_load_id, "
        "ST_GeometryType(geom) AS type, ST_SRID(geom) AS srid FROM catchments "
        "WHERE site_id = ANY(:s) AND mode = :m ORDER BY site_id, band_min",
        s=site_ids,
        m=mode,
    )


def test_drive_bands_of_the_four_practices_are_stored(
    api: TestClient,
    keys: dict[str, str],
    rutland_engine: Engine,
    gp_ids: dict[str, int],
    restricted_site: int,
) -> None:
    ids = sorted(gp_ids.values())
    # By kind (the default, gp_practice) for org A: org B's restricted practice is not used.
    res = _run(api, keys["a"], {"modes": ["drive"], "bands": BANDS})
    assert res["modes"]["drive"]["sites"] == 4
    assert res["modes"]["drive"]["bands_written"] == 8
    assert res["modes"]["drive"]["population_times"] == {"stored": 4, "computed_now": 0}
    assert (res["sites"], res["rows_written"], res["skipped"]) == (4, 8, [])
    assert res["summary"]["collection"] == "catchments"
    assert res["summary"]["site_ids"] == ids
    assert res["seconds"] > 0

    rows = _stored(rutland_engine, [*ids, restricted_site])
    assert len(rows) == 8
    assert sorted(set(rows["site_id"])) == ids
    assert set(rows["band_min"]) == set(BANDS)
    assert set(rows["type"]) == {"ST_MultiPolygon"}
    assert set(rows["srid"]) == {27700}
    load = _frame(
        rutland_engine,
        "SELECT max(id) AS id FROM data_loads WHERE dataset = 'osm-network' AND status = 'active'",
    )["id"].iloc[0]
    assert set(rows["network_load_id"]) == {int(load)} == {res["modes"]["drive"]["network_load_id"]}

    # Nested bands (within 0.5 m), and each practice inside its own 10-minute band.
    checks = _frame(
        rutland_engine,
        "SELECT s.id, ST_Covers(ST_Buffer(b20.geom, 0.5), b10.geom) AS nested, "
        "ST_Covers(b10.geom, s.geom) AS site_inside, ST_Area(b10.geom) AS a10, "
        "ST_Area(b20.geom) AS a20 FROM sites s "
        "JOIN catchments b10 ON b10.site_id = s.id AND b10.mode = 'drive' AND b10.band_min = 10 "
        "JOIN catchments b20 ON b20.site_id = s.id AND b20.mode = 'drive' AND b20.band_min = 20 "
        "WHERE s.id = ANY(:s)",
        s=ids,
    )
    assert len(checks) == 4
    assert checks["nested"].all()
    assert checks["site_inside"].all()
    assert (checks["a20"] > checks["a10"]).all()
    assert (checks["a10"] > 1e6).all()

    # The stored population is the endpoint's, and the stored matrix's, for every band.
    times = _frame(
        rutland_engine,
        "SELECT t.site_id, t.seconds, a.population FROM travel_times t JOIN areas_features a "
        "ON a.code = t.area_code AND a.vintage = 2021 AND a.level = 'lsoa' "
        "WHERE t.mode = 'drive' AND t.area_vintage = 2021",
    )
    for site_id in ids:
        doc = api.get(
            f"/analysis/catchment/{site_id}", params={"mode": "drive", "bands": "10,20"}
        ).json()
        served = {f["properties"]["band_min"]: f for f in doc["features"]}
        mine = rows[rows["site_id"] == site_id].set_index("band_min")
        site_times = times[times["site_id"] == site_id]
        for band in BANDS:
            population = float(mine.loc[band, "population"])
            assert population == served[band]["properties"]["population"]
            expected = site_times.loc[site_times["seconds"] <= band * 60, "population"].sum()
            assert population == pytest.approx(expected)
        # The same polygon: the endpoint's (WGS84, 6 decimals ≈ 0.1 m) back in EPSG:27700
        # differs from the stored one by rounding only (symmetric difference < 0.1% of area).
        for band in BANDS:
            with rutland_engine.connect() as conn:
                share = conn.execute(
                    text(
                        "WITH g AS (SELECT geom, ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON(:g), "
                        "4326), 27700) AS served FROM catchments WHERE site_id = :s "
                        "AND mode = 'drive' AND band_min = :b) "
                        "SELECT ST_Area(ST_SymDifference(geom, served)) / ST_Area(geom) FROM g"
                    ),
                    {"g": json.dumps(served[band]["geometry"]), "s": site_id, "b": band},
                ).scalar_one()
            assert share < 5e-4
    oakham = rows[rows["site_id"] == gp_ids[OAKHAM]].set_index("band_min")["population"]
    assert oakham.loc[20] > oakham.loc[10] > 0

    # Served as the OGC collection 'catchments' (the results link to it).
    link = res["summary"]["links"][0]
    assert link["href"] == "/collections/catchments/items?mode=drive"
    items = api.get(
        link["href"], params={"site_id": gp_ids[OAKHAM]}, headers=auth(keys["a"])
    ).json()
    served_pop = {
        f["properties"]["band_min"]: f["properties"]["population"] for f in items["features"]
    }
    assert served_pop == oakham.to_dict()


def test_a_rerun_replaces_the_rows_of_its_sites_and_modes_only(
    api: TestClient,
    keys: dict[str, str],
    rutland_engine: Engine,
    gp_ids: dict[str, int],
    restricted_site: int,
) -> None:
    ids = sorted(gp_ids.values())
    inputs = {"site_ids": ids, "modes": ["drive"], "bands": BANDS}
    first = _run(api, keys["a"], inputs)
    before = _stored(rutland_engine, ids)
    # A walk band of Oakham: another mode, untouched by a drive run.
    walk = _run(api, keys["a"], {"site_ids": [gp_ids[OAKHAM]], "modes": ["walk"], "bands": [15]})
    assert walk["rows_written"] == 1
    walk_row = _stored(rutland_engine, [gp_ids[OAKHAM]], mode="walk")
    assert list(walk_row["band_min"]) == [15]

    # The rerun goes through a real worker process (the registry as the worker loads it).
    job_id = _submit(api, keys["a"], inputs)
    with worker():
        final = wait_for(
            api, job_id, auth(keys["a"]), lambda s: s["status"] in ("successful", "failed")
        )
    assert final["status"] == "successful", final
    again = api.get(f"/jobs/{job_id}/results", headers=auth(keys["a"])).json()
    assert (again["rows_written"], again["rows_removed"]) == (8, first["rows_written"])
    after = _stored(rutland_engine, ids)
    assert len(after) == 8  # replaced, not added
    assert not set(after["id"]) & set(before["id"])
    keep = ["site_id", "band_min", "population", "network_load_id"]
    assert after[keep].reset_index(drop=True).equals(before[keep].reset_index(drop=True))
    assert _stored(rutland_engine, [gp_ids[OAKHAM]], mode="walk")["id"].tolist() == list(
        walk_row["id"]
    )


def test_restricted_sites_are_used_only_by_their_organisation(
    api: TestClient,
    keys: dict[str, str],
    rutland_engine: Engine,
    gp_ids: dict[str, int],
    restricted_site: int,
) -> None:
    # Org A cannot name org B's restricted site: the same answer as for a missing id.
    for site_id in (restricted_site, 999_999):
        r = api.post(
            "/processes/catchments/execution",
            json={"inputs": {"site_ids": [gp_ids[OAKHAM], site_id], "bands": BANDS}},
            headers=auth(keys["a"]),
        )
        assert (r.status_code, r.headers["content-type"]) == (400, PROBLEM), r.text
        assert r.json()["parameter"] == "site_ids"
        assert f"site id(s) {site_id}:" in r.json()["detail"]
        assert "may see" in r.json()["detail"]

    # Org B can: it has no stored times, so they are computed now on the same network. It
    # stands at Oakham's surgery, so its bands are Oakham's (stored times, same network).
    # Org B's second site, 100 km east (off the network extract), is beyond the snap limit:
    # skipped, and the band it had stored (from older data) is removed.
    with rutland_engine.begin() as conn:
        far = conn.execute(
            text(
                "INSERT INTO sites (source, source_id, name, kind, status, organisation, "
                "restricted, geom, load_id) SELECT 'test', :sid, 'Org B island clinic', "
                "'clinic', 'active', 'catchments-org-b', true, "
                "ST_Translate(geom, 100000, 0), load_id FROM sites WHERE id = :r RETURNING id"
            ),
            {"sid": RESTRICTED_SOURCE_ID + "-FAR", "r": restricted_site},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO catchments (site_id, mode, band_min, population, network_load_id, "
                "geom) SELECT :s, 'drive', 10, 1, network_load_id, geom FROM catchments "
                "WHERE site_id = :o AND mode = 'drive' AND band_min = 10"
            ),
            {"s": far, "o": gp_ids[OAKHAM]},
        )
    try:
        res = _run(api, keys["b"], {"site_ids": [restricted_site, far], "bands": BANDS})
        assert _stored(rutland_engine, [far]).empty
    finally:
        with rutland_engine.begin() as conn:
            conn.execute(text("DELETE FROM sites WHERE id = :s"), {"s": far})
    assert res["modes"]["drive"]["population_times"] == {"stored": 0, "computed_now": 2}
    assert (res["modes"]["drive"]["sites"], res["rows_written"], res["rows_removed"]) == (1, 2, 1)
    [skip] = res["skipped"]
    assert (skip["site_id"], skip["mode"]) == (far, "drive")
    assert "beyond the 1000 m snap limit" in skip["reason"]
    mine = _stored(rutland_engine, [restricted_site]).set_index("band_min")
    oakham = _stored(rutland_engine, [gp_ids[OAKHAM]]).set_index("band_min")
    assert len(mine) == 2
    assert mine["population"].to_dict() == oakham["population"].to_dict()
    with rutland_engine.connect() as conn:
        same = conn.execute(
            text(
                "SELECT bool_and(ST_Equals(m.geom, o.geom)) FROM catchments m JOIN catchments o "
                "ON o.site_id = :o AND o.mode = m.mode AND o.band_min = m.band_min "
                "WHERE m.site_id = :m AND m.mode = 'drive'"
            ),
            {"o": gp_ids[OAKHAM], "m": restricted_site},
        ).scalar_one()
    assert same is True
    # Through the collection, org B's bands are org B's alone.
    for key, expected in ((keys["a"], 0), (keys["b"], 2)):
        items = api.get(
            "/collections/catchments/items", params={"site_id": restricted_site}, headers=auth(key)
        ).json()
        assert items["numberReturned"] == expected


@pytest.mark.parametrize(
    ("inputs", "parameter", "words"),
    [
        ({"bands": [10, 0]}, "bands", "greater than or equal to 1"),
        ({"bands": [10, 121]}, "bands", "less than or equal to 120"),
        ({"bands": list(range(1, 10))}, "bands", "at most 8"),
        ({"bands": "10,20"}, "bands", "valid list"),
        ({"modes": ["bus"]}, "modes", "'drive', 'walk', 'cycle' or 'transit'"),
        ({"modes": ["transit"]}, "modes", "GTFS"),
        ({"kinds": ["no_such_kind"]}, "kinds", "no active, located sites of kind(s)"),
        ({"kinds": ["DROP TABLE"]}, "kinds", "is not a kind name"),
        ({"site_ids": [1], "kinds": ["gp_practice"]}, "kinds", "not both"),
        ({"site_ids": []}, "site_ids", "at least 1"),
        ({"sites": [1]}, "sites", "extra inputs are not permitted"),
    ],
)
def test_bad_inputs_are_named_in_a_problem(
    api: TestClient, keys: dict[str, str], inputs: dict[str, Any], parameter: str, words: str
) -> None:
    r = api.post(
        "/processes/catchments/execution", json={"inputs": inputs}, headers=auth(keys["a"])
    )
    assert (r.status_code, r.headers["content-type"]) == (400, PROBLEM), r.text
    assert r.json()["parameter"] == parameter
    assert words.lower() in r.json()["detail"].lower()


def test_description_and_role(api: TestClient, keys: dict[str, str]) -> None:
    doc = api.get("/processes/catchments").json()
    assert doc["title"] == "Recompute stored catchments"
    assert "collection 'catchments'" in doc["description"]
    assert set(doc["inputs"]) == {"site_ids", "kinds", "modes", "bands"}
    assert doc["inputs"]["bands"]["schema"]["maxItems"] == 8
    r = api.post(
        "/processes/catchments/execution", json={"inputs": {}}, headers=auth(keys["a_viewer"])
    )
    assert r.status_code == 403
