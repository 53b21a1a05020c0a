"""The analysis endpoints on the real Rutland demo bundle (network, areas, census, GP practices).

Each answer is checked against an independent computation: the stored travel-time matrix
queried directly, a direct call of the travel-time engine, the census totals.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Engine, text

from app.main import create_app
from app.services.networks import road_source
from spatial.traveltime import travel_time_array
from store.connection import database
from tests.conftest import settings_for

RUTLAND_POPULATION = 41_043
OAKHAM = "C82010"


@pytest.fixture(scope="module")
def client(rutland_db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(rutland_db_url))) as c:
        yield c


@pytest.fixture(scope="module")
def site_ids(rutland_engine: Engine) -> dict[str, int]:
    with rutland_engine.connect() as conn:
        rows = conn.execute(
            text("SELECT source_id, id FROM sites WHERE kind = 'gp_practice' AND status = 'active'")
        ).all()
    return {r.source_id: r.id for r in rows}


def _stored(engine: Engine, sql: str, **params: Any) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(text(sql), conn, params=params)


def test_oakham_60_minute_drive_catchment_holds_the_whole_county(
    client: TestClient, site_ids: dict[str, int]
) -> None:
    doc = client.get(f"/analysis/catchment/{site_ids[OAKHAM]}", params={"mode": "drive"}).json()
    bands = {f["properties"]["band_min"]: f for f in doc["features"]}
    assert sorted(bands) == [5, 10, 15, 20, 30, 45, 60]
    # Every Rutland LSOA is within an hour's drive of Oakham: the band holds the census total.
    assert bands[60]["properties"]["population"] == RUTLAND_POPULATION
    assert bands[60]["properties"]["areas"] == 26
    assert doc["total_population"] == RUTLAND_POPULATION
    # Nested: populations never shrink with the band; polygons contain the smaller ones.
    pops = [bands[b]["properties"]["population"] for b in sorted(bands)]
    assert pops == sorted(pops)
    assert pops[0] > 0
    geoms = [shape(bands[b]["geometry"]) for b in sorted(bands)]
    for inner, outer in itertools.pairwise(geoms):
        # Nested up to the 6-decimal (≈0.1 m) rounding of the GeoJSON coordinates.
        assert inner.difference(outer).area <= 1e-6 * inner.area
    site_point = shapely.Point(doc["site"]["lon"], doc["site"]["lat"])
    assert geoms[0].contains(site_point)
    # Age bands and IMD deciles partition each band's population.
    for f in doc["features"]:
        p = f["properties"]
        assert sum(p["by_age"].values()) == pytest.approx(p["population"])
        assert list(p["by_imd_decile"]) == [str(d) for d in range(1, 11)]
        assert sum(p["by_imd_decile"].values()) + p["imd_unknown"] == pytest.approx(p["population"])
    # Every Rutland LSOA 2021 has a decile (split 2011 codes take their best fit, 0009).
    assert bands[60]["properties"]["imd_unknown"] == 0
    assert list(bands[60]["properties"]["by_age"]) == [
        "0-15",
        "16-24",
        "25-34",
        "35-49",
        "50-64",
        "65+",
    ]
    assert "representative point" in doc["metadata"]["population_method"]


def test_catchment_band_population_matches_the_stored_matrix(
    client: TestClient, rutland_engine: Engine, site_ids: dict[str, int]
) -> None:
    uppingham = site_ids["C82077"]
    doc = client.get(
        f"/analysis/catchment/{uppingham}", params={"mode": "walk", "bands": "15,30"}
    ).json()
    times = _stored(
        rutland_engine,
        "SELECT t.area_code, t.seconds, sum(p.count) AS pop FROM travel_times t "
        "JOIN population p ON p.area_code = t.area_code WHERE t.site_id = :s AND t.mode = 'walk' "
        "AND t.area_vintage = 2021 GROUP BY 1, 2",
        s=uppingham,
    )
    for f in doc["features"]:
        band = f["properties"]["band_min"]
        expected = times.loc[times["seconds"] <= band * 60, "pop"].sum()
        assert f["properties"]["population"] == pytest.approx(expected)


def test_nearest_from_a_postcode_equals_the_engine(
    client: TestClient, rutland_engine: Engine, rutland_db_url: str, site_ids: dict[str, int]
) -> None:
    doc = client.get(
        "/analysis/nearest", params={"postcode": "le15 6aa", "mode": "drive", "n": 4}
    ).json()
    assert doc["origin"]["postcode"] == "LE15 6AA"
    assert doc["results"][0]["source_id"] == OAKHAM
    seconds = [r["seconds"] for r in doc["results"]]
    assert seconds == sorted(seconds)
    assert {r["source_id"] for r in doc["results"]} == set(site_ids)
    # Recompute directly with the engine from the stored postcode point.
    pc = client.get("/postcodes/LE156AA").json()
    settings = settings_for(rutland_db_url)
    drive = road_source(database(settings.database), settings, "drive")
    net = drive.network
    origin = drive.snap(pd.DataFrame({"x": [pc["easting"]], "y": [pc["northing"]]}))
    sites = _stored(
        rutland_engine,
        "SELECT id, ST_X(geom) AS x, ST_Y(geom) AS y FROM sites WHERE id = ANY(:ids)",
        ids=[r["site_id"] for r in doc["results"]],
    )
    direct = travel_time_array(net, origin, drive.snap(sites))[0]
    by_id = dict(zip(sites["id"], direct, strict=True))
    for r in doc["results"]:
        assert r["seconds"] == pytest.approx(by_id[r["site_id"]], abs=0.1)


def test_a_point_far_from_the_network_is_reported_unreachable(client: TestClient) -> None:
    doc = client.get("/analysis/nearest", params={"lon": 1.5, "lat": 52.6, "mode": "drive"}).json()
    assert doc["origin"]["reachable"] is False
    assert doc["origin"]["snap_distance_m"] > 1000
    assert doc["results"] == []
    assert "unreachable" in doc["detail"]


def test_access_map_is_the_minimum_of_the_stored_times(
    client: TestClient, rutland_engine: Engine
) -> None:
    doc = client.get("/analysis/access", params={"kind": "gp_practice", "mode": "cycle"}).json()
    stored = _stored(
        rutland_engine,
        "SELECT t.area_code, min(t.seconds) AS s FROM travel_times t JOIN sites s ON s.id = "
        "t.site_id JOIN areas a ON a.code = t.area_code AND a.vintage = 2021 AND a.level = 'lsoa' "
        "WHERE s.kind = 'gp_practice' AND t.mode = 'cycle' AND t.area_vintage = 2021 GROUP BY 1",
    ).set_index("area_code")["s"]
    assert len(doc["areas"]) == 26
    for row in doc["areas"]:
        assert row["seconds"] == pytest.approx(stored[row["code"]], abs=0.1)


def test_access_gaps_rank_need_and_poor_access(client: TestClient) -> None:
    doc = client.get("/analysis/access-gaps", params={"mode": "drive", "limit": 26}).json()
    scores = [r["score"] for r in doc["rows"]]
    assert len(scores) == 26
    assert scores == sorted(scores, reverse=True)
    assert [r["rank"] for r in doc["rows"]] == list(range(1, 27))
    top = doc["rows"][0]
    assert top["score"] == pytest.approx(top["need"] * top["poor_access"], abs=1e-3)


def test_population_within_of_sites_matches_the_matrix(
    client: TestClient, rutland_engine: Engine, site_ids: dict[str, int]
) -> None:
    ids = [site_ids[OAKHAM], site_ids["C82077"]]
    doc = client.get(
        "/analysis/population-within",
        params={"minutes": 10, "mode": "drive", "site_ids": ",".join(map(str, ids))},
    ).json()
    stored = _stored(
        rutland_engine,
        "SELECT t.area_code, min(t.seconds) AS s FROM travel_times t WHERE t.site_id = ANY(:ids) "
        "AND t.mode = 'drive' AND t.area_vintage = 2021 GROUP BY 1",
        ids=ids,
    )
    pops = _stored(
        rutland_engine,
        "SELECT area_code, sum(count) AS pop FROM population GROUP BY 1",
    ).set_index("area_code")["pop"]
    within = stored.loc[stored["s"] <= 600, "area_code"]
    assert doc["population"] == pytest.approx(float(pops.reindex(within).sum()))
    assert 0 < doc["population"] < RUTLAND_POPULATION
    assert doc["total_population"] == RUTLAND_POPULATION


def test_floating_catchment_supply_sums_to_the_sites(client: TestClient) -> None:
    doc = client.get("/analysis/floating-catchment", params={"minutes": 60}).json()
    # With every area reaching every practice within the hour, 2SFCA gives each area
    # 4 practices / county population per 1,000 people.
    expected = 4 / RUTLAND_POPULATION * 1000
    assert all(a["access"] == pytest.approx(expected, rel=1e-6) for a in doc["areas"])
    weighted = sum(a["access"] * a["population"] for a in doc["areas"]) / 1000
    assert weighted == pytest.approx(4.0, rel=1e-6)


@pytest.mark.parametrize(
    ("url", "params", "status", "parameter"),
    [
        ("/analysis/nearest", {"lon": -0.7, "lat": 52.6, "mode": "boat"}, 400, "mode"),
        ("/analysis/nearest", {"lon": -0.7}, 400, "lon"),
        ("/analysis/nearest", {"lon": -0.7, "lat": 52.6, "n": 500}, 400, "n"),
        # Outside the British National Grid's area of use: refused before it is projected.
        ("/analysis/nearest", {"lon": 85, "lat": 0}, 400, "lon"),
        ("/analysis/population-within", {"minutes": 5, "lon": 85, "lat": 0}, 400, "lon"),
        ("/analysis/catchment/1", {"bands": "10,abc"}, 400, "bands"),
        ("/analysis/catchment/999999", {}, 404, "site_id"),
        ("/analysis/population-within", {"minutes": 10, "postcode": "ZZ99 9ZZ"}, 404, "postcode"),
        ("/analysis/access", {"kind": "DROP TABLE", "mode": "drive"}, 400, "kind"),
        ("/postcodes/XX", {}, 400, "postcode"),
    ],
)
def test_bad_parameters_are_named_in_a_problem(
    client: TestClient, url: str, params: dict[str, Any], status: int, parameter: str
) -> None:
    r = client.get(url, params=params)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["parameter"] == parameter


def test_stored_matrix_covers_every_area_and_site(rutland_engine: Engine) -> None:
    counts = _stored(
        rutland_engine,
        "SELECT mode, count(DISTINCT area_code) AS areas, count(DISTINCT site_id) AS sites "
        "FROM travel_times WHERE area_vintage = 2021 GROUP BY mode",
    ).set_index("mode")
    located = int(
        _stored(
            rutland_engine,
            "SELECT count(*) AS n FROM sites WHERE geom IS NOT NULL AND status = 'active'",
        )["n"].iloc[0]
    )
    with rutland_engine.connect() as conn:
        summary = conn.execute(
            text(
                "SELECT summary FROM computations WHERE kind = 'area-site-travel-times' "
                "ORDER BY id DESC LIMIT 1"
            )
        ).scalar_one()
    for mode_summary in summary:
        mode = mode_summary["mode"]
        # 26 LSOAs and 5 MSOAs of 2021, all within the snap limit of every network.
        assert mode_summary["unreachable_areas"] == []
        assert counts.loc[mode, "areas"] == 31
        # Every located site, except those reported beyond the snap limit.
        assert counts.loc[mode, "sites"] == located - len(mode_summary["unreachable_sites"])
