"""Public transport end to end on the real Isle of Wight bundle (GTFS, no road network).

A throwaway database of its own gets the bundle through :func:`app.demo.load_demo` (as
``locus demo --bundle isle-of-wight`` does), which computes the stored transit times; the
tests check them against direct calls of :func:`spatial.transit.transit_travel_time_matrix`
on the feed read from the file.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.demo import ISLE_OF_WIGHT_BUNDLE, load_demo
from app.main import create_app
from spatial.crs import bng_to_wgs84
from spatial.transit import transit_travel_time_matrix
from store.connection import close_databases
from store.keys import create_api_key
from tests.api._support import auth, two_org_keys
from tests.api.test_analysis_visibility import mentions, restricted_site
from tests.conftest import (
    database_env,
    database_for,
    gtfs_timetable,
    scratch_database,
    settings_for,
)

PROBLEM = "application/problem+json"
IOW_CENSUS_TOTAL = 140_463  # the 89 IoW LSOAs in the Census 2021 table
WINDOW: dict[str, Any] = {"window_start_s": 7 * 3600, "window_end_s": 10 * 3600, "step_s": 60}
WALK: dict[str, Any] = {
    "max_walk_m": 1000.0,
    "walk_speed_m_s": round(4.8 / 3.6, 6),
    "detour_factor": 1.3,
}


@pytest.fixture(scope="module")
def iow(data_dir: Path) -> Iterator[tuple[str, Engine]]:
    with scratch_database("locus_test_transit") as (url, engine), database_env(url):
        try:
            load_demo(settings_for(url), data_dir=data_dir, bundle=ISLE_OF_WIGHT_BUNDLE)
            yield url, engine
        finally:
            close_databases(url)
            close_databases(url)


@pytest.fixture(scope="module")
def api(iow: tuple[str, Engine]) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(iow[0]))) as c:
        yield c


@pytest.fixture(scope="module")
def timetable(data_dir: Path) -> Any:
    return gtfs_timetable(data_dir / "isle_of_wight" / "iow-bus-gtfs.zip", dt.date(2018, 5, 8))


def _frame(engine: Engine, sql: str, **params: Any) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(text(sql), conn, params=params)


def test_bundle_and_stored_times(iow: tuple[str, Engine], timetable: Any) -> None:
    _, engine = iow
    areas = _frame(engine, "SELECT code, ST_X(rep_point) AS x, ST_Y(rep_point) AS y FROM areas")
    rejected = _frame(engine, "SELECT rows_rejected FROM data_loads WHERE dataset = 'lsoa21'")[
        "rows_rejected"
    ].sum()
    # All 89 LSOAs, E01017290 (nested parts) repaired by union rather than rejected.
    assert (len(areas), rejected) == (89, 0)
    stored = _frame(engine, "SELECT * FROM travel_times WHERE mode = 'transit'")
    assert len(stored) > 200
    comp = _frame(
        engine, "SELECT parameters FROM computations WHERE kind = :k", k="transit-travel-times"
    )
    params = comp["parameters"].iloc[-1]
    assert params["service_date"] == "2018-05-08"
    assert (params["window_start"], params["window_end"], params["percentile"]) == (
        "07:00",
        "10:00",
        50.0,
    )
    assert params["walk"] == "straight-line x detour factor"
    assert params["algorithm"].startswith("rRAPTOR")

    # The stored time of an area -> GP pair equals a direct call on the feed read from the file.
    gps = _frame(
        engine,
        "SELECT id, ST_X(geom) AS x, ST_Y(geom) AS y FROM sites "
        "WHERE kind = 'gp_practice' AND status = 'active' ORDER BY id",
    )
    direct = transit_travel_time_matrix(
        timetable,
        areas.rename(columns={"code": "id"}),
        gps,
        **WINDOW,
        percentiles=(50,),
        max_transfers=8,
        transfer_slack_s=60,
        **WALK,
    )
    direct = direct[np.isfinite(direct["seconds"])]
    gp_stored = stored[stored["site_id"].isin(gps["id"])]
    merged = gp_stored.merge(
        direct, left_on=["area_code", "site_id"], right_on=["from_id", "to_id"], how="outer"
    )
    assert len(merged) == len(gp_stored) == len(direct) > 50
    assert np.array_equal(merged["seconds_x"].to_numpy(), merged["seconds_y"].to_numpy())
    # A bus journey among them (longer than any 1 km walk): Argyll House from a Ryde area.
    assert (gp_stored["seconds"] > 1000 / WALK["walk_speed_m_s"]).sum() > 20


def test_catchment_bands_nest_and_reconcile(iow: tuple[str, Engine], api: TestClient) -> None:
    _, engine = iow
    site = _frame(engine, "SELECT id FROM sites WHERE source_id = 'J84008'")["id"].iloc[0]
    r = api.get(
        f"/analysis/catchment/{site}", params={"mode": "transit", "bands": "15,30,45,60,90"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    bands = [f["properties"]["band_min"] for f in body["features"]]
    assert bands == [90, 60, 45, 30, 15]
    pops = [f["properties"]["population"] for f in body["features"]]
    assert pops == sorted(pops, reverse=True)
    assert pops[0] > pops[-1] > 0
    shapes = [shapely.geometry.shape(f["geometry"]) for f in body["features"]]
    for outer, inner in itertools.pairwise(shapes):
        assert outer.buffer(1e-6).contains(inner)
    assert body["features"][1]["properties"]["stops_reached"] >= 37  # buses by 60 min
    census = _frame(engine, "SELECT sum(count) AS n FROM population")["n"].iloc[0]
    assert body["total_population"] == pytest.approx(census)
    assert census <= IOW_CENSUS_TOTAL
    stored = _frame(
        engine,
        "SELECT t.seconds, sum(p.count) AS n FROM travel_times t JOIN population p "
        "ON p.area_code = t.area_code WHERE t.mode = 'transit' AND t.site_id = :s GROUP BY 1",
        s=int(site),
    )
    for band, pop in zip(bands, pops, strict=True):
        assert pop == pytest.approx(stored.loc[stored["seconds"] <= band * 60, "n"].sum())
        by_age = body["features"][bands.index(band)]["properties"]["by_age"]
        assert sum(by_age.values()) == pytest.approx(pop)
    meta = body["metadata"]
    assert (meta["window_start"], meta["window_end"], meta["percentile"]) == (
        "07:00",
        "10:00",
        50.0,
    )
    assert meta["detour_factor"] == 1.3


def test_nearest_by_transit_from_a_postcode(
    iow: tuple[str, Engine], api: TestClient, timetable: Any
) -> None:
    _, engine = iow
    r = api.get(
        "/analysis/nearest",
        params={"postcode": "PO33 2FB", "mode": "transit", "kind": "gp_practice", "n": 3},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    pc = _frame(
        engine, "SELECT ST_X(geom) AS x, ST_Y(geom) AS y FROM postcodes WHERE postcode = 'PO33 2FB'"
    )
    gps = _frame(
        engine,
        "SELECT id, source_id, ST_X(geom) AS x, ST_Y(geom) AS y FROM sites "
        "WHERE kind = 'gp_practice' AND status = 'active' ORDER BY id",
    )
    direct = transit_travel_time_matrix(
        timetable,
        pd.DataFrame({"id": [0], "x": pc["x"], "y": pc["y"]}),
        gps[["id", "x", "y"]],
        **WINDOW,
        max_transfers=8,
        transfer_slack_s=60,
        **WALK,
    ).sort_values(["seconds", "to_id"], kind="stable")
    want = direct[np.isfinite(direct["seconds"])].head(3)
    assert [x["site_id"] for x in body["results"]] == want["to_id"].tolist()
    assert [x["seconds"] for x in body["results"]] == want["seconds"].tolist()
    first = body["results"][0]
    # Argyll House, Ryde: 495 s on foot (the closed Garfield Road surgery was 1688 s by bus).
    assert (first["source_id"], first["seconds"]) == ("J84008", 495.0)
    assert body["metadata"]["service_date"] == "2018-05-08"
    assert body["metadata"]["departures"] == 180

    within = api.get(
        "/analysis/population-within",
        params={"postcode": "PO33 2FB", "mode": "transit", "minutes": 45},
    ).json()
    assert 0 < within["population"] <= within["total_population"] <= IOW_CENSUS_TOTAL
    assert within["metadata"]["percentile"] == 50.0
    access = api.get(
        "/analysis/access", params={"mode": "transit", "kind": "gp_practice", "minutes": 30}
    ).json()
    times = _frame(
        engine,
        "SELECT area_code, min(seconds) AS s FROM travel_times t JOIN sites s ON s.id = t.site_id "
        "WHERE mode = 'transit' AND kind = 'gp_practice' GROUP BY 1",
    ).set_index("area_code")["s"]
    got = {a["code"]: a["seconds"] for a in access["areas"] if a["seconds"] is not None}
    assert got == pytest.approx(times.round(1).to_dict())
    assert access["metadata"]["window_start"] == "07:00"


def test_nearest_by_transit_lists_a_restricted_site_for_its_owner_only(
    iow: tuple[str, Engine], api: TestClient
) -> None:
    _, engine = iow
    keys = two_org_keys(engine, org_prefix="iow-vis-")
    pc = _frame(
        engine, "SELECT ST_X(geom) AS x, ST_Y(geom) AS y FROM postcodes WHERE postcode = 'PO33 2FB'"
    )
    lon, lat = bng_to_wgs84(float(pc["x"].iloc[0]), float(pc["y"].iloc[0]))
    params: dict[str, Any] = {
        "postcode": "PO33 2FB",
        "mode": "transit",
        "kind": "gp_practice",
        "n": 3,
    }
    with restricted_site(engine, "iow-vis-org-a", lon=lon, lat=lat) as site:
        own = api.get("/analysis/nearest", params=params, headers=auth(keys["a"]))
        assert own.status_code == 200, own.text
        first = own.json()["results"][0]
        assert first["site_id"] == site
        assert first["seconds"] < 60
        for headers in ({}, auth(keys["b"])):
            other = api.get("/analysis/nearest", params=params, headers=headers)
            assert other.status_code == 200, other.text
            assert not mentions(other.json(), site)
            # Argyll House, Ryde, as without the restricted site.
            assert other.json()["results"][0]["source_id"] == "J84008"


def test_unsupported_modes_are_problems(api: TestClient) -> None:
    r = api.get("/analysis/nearest", params={"postcode": "PO33 2FB", "mode": "drive"})
    assert (r.status_code, r.headers["content-type"], r.json()["parameter"]) == (
        503,
        PROBLEM,
        "mode",
    )
    assert "road network" in r.json()["detail"]
    r = api.get("/analysis/nearest", params={"postcode": "PO33 2FB", "mode": "bus"})
    assert (r.status_code, r.json()["parameter"]) == (400, "mode")


def test_hub_siting_by_transit(iow: tuple[str, Engine]) -> None:
    from app.jobs.tasks import execute_job
    from tests.api._support import auth, client

    _, engine = iow
    key = create_api_key(database_for(iow[0]), "org-iow", "analyst")
    with client() as c:
        r = c.post(
            "/processes/hub-siting/execution",
            json={"inputs": {"p": 2, "mode": "transit", "candidates": ["gp_practice"]}},
            headers={**auth(key), "Prefer": "respond-async"},
        )
        assert r.status_code == 201, r.text
        job_id = r.json()["jobID"]
        assert execute_job(job_id, attempt=1, settings=c.app.state.settings) == "successful"
        res = c.get(f"/jobs/{job_id}/results", headers=auth(key)).json()
    assert len(res["chosen"]) == 2
    assert res["parameters"]["mode"] == "transit"
    assert res["metadata"]["window_start"] == "07:00"
    stored = _frame(
        engine,
        "SELECT area_code, site_id, seconds FROM travel_times t JOIN sites s ON s.id = t.site_id "
        "WHERE mode = 'transit' AND kind = 'gp_practice'",
    )
    chosen = {s["site_id"] for s in res["chosen"]}
    best = stored[stored["site_id"].isin(chosen)].groupby("area_code")["seconds"].min()
    got = {a["area_code"]: a["seconds"] for a in res["assignment"] if a["seconds"] is not None}
    assert len(got) > 10
    assert got == pytest.approx(best.to_dict())
    json.dumps(res)
