"""The result layers as OGC collections and tiles, on the real Rutland database.

``travel_times`` (stored area → site times), ``hub_siting`` (sites chosen by jobs),
``estate_assets`` (sites with estate figures) and ``catchments`` (stored bands): values are
checked against the base tables, and restricted rows of one organisation stay invisible to
another in items, counts, single features and tiles. Pages and tiles come through the response
cache, so the tests also show that a finished job or a new catchment changes what is served
without any data load.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Engine, text

from app.main import create_app
from tests.api._support import auth, run_job_here, two_org_keys
from tests.conftest import settings_for

Z = 8
X, Y = 127, 83  # the zoom-8 tile holding all of Rutland


@pytest.fixture(scope="module")
def client(rutland_env: str) -> Iterator[TestClient]:
    # rutland_env: the job task reads its database from the environment, as a worker does.
    settings = settings_for(rutland_env, anonymous_role="analyst")
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def keys(rutland_engine: Engine) -> dict[str, str]:
    return two_org_keys(rutland_engine, "results-")


def _site_id(engine: Engine, ods: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(text("SELECT id FROM sites WHERE source_id = :c"), {"c": ods}).scalar_one()
        )


def _tile_features(
    client: TestClient, layer: str, headers: dict[str, str] | None = None, **params: Any
) -> list[dict[str, Any]]:
    r = client.get(
        f"/collections/{layer}/tiles/WebMercatorQuad/{Z}/{X}/{Y}",
        params=params,
        headers=headers or {},
    )
    if r.status_code == 204:
        return []
    assert r.status_code == 200, r.text
    features: list[dict[str, Any]] = mapbox_vector_tile.decode(r.content)[layer]["features"]
    return features


def test_result_layers_are_listed_with_queryables(client: TestClient) -> None:
    ids = [c["id"] for c in client.get("/collections").json()["collections"]]
    assert {"catchments", "travel_times", "hub_siting", "estate_assets"} <= set(ids)
    q = client.get("/collections/travel_times/queryables").json()
    assert {"mode", "site_id", "area_code"} <= set(q["properties"])
    # The all-layers TileJSON leaves the travel-time layer out (one polygon per area and site).
    layers = [
        v["id"] for v in client.get("/tiles/WebMercatorQuad/tilejson.json").json()["vector_layers"]
    ]
    assert "travel_times" not in layers
    assert "catchments" in layers


def test_travel_times_of_one_site_match_the_stored_matrix(
    client: TestClient, rutland_engine: Engine
) -> None:
    oakham = _site_id(rutland_engine, "C82010")
    with rutland_engine.connect() as conn:
        stored = dict(
            conn.execute(
                text(
                    "SELECT area_code || '.' || area_vintage, seconds FROM travel_times "
                    "WHERE site_id = :s AND mode = 'drive'"
                ),
                {"s": oakham},
            ).all()
        )
    assert len(stored) >= 26
    doc = client.get(
        "/collections/travel_times/items",
        params={"site_id": oakham, "mode": "drive", "limit": 1000},
    ).json()
    assert doc["numberReturned"] == len(stored)
    for f in doc["features"]:
        p = f["properties"]
        assert p["site_id"] == oakham
        assert p["mode"] == "drive"
        assert p["site_name"] == "OAKHAM MEDICAL PRACTICE"
        assert p["seconds"] == pytest.approx(stored[f"{p['area_code']}.{p['area_vintage']}"])
        assert p["minutes"] == pytest.approx(round(p["seconds"] / 60.0, 1))
        assert f["id"] == f"drive.{oakham}.{p['area_vintage']}.{p['area_code']}"
        assert f["geometry"]["type"] == "MultiPolygon"
    # The Oakham practice's own LSOA is minutes away; one feature reads back by its id.
    nearest = min(doc["features"], key=lambda f: f["properties"]["seconds"])
    assert nearest["properties"]["minutes"] < 5
    one = client.get(f"/collections/travel_times/items/{nearest['id']}").json()
    assert one["properties"]["seconds"] == nearest["properties"]["seconds"]
    assert shape(one["geometry"]).contains(shape(one["geometry"]).representative_point())
    # bbox in BNG around Oakham keeps only areas that touch it.
    small = client.get(
        "/collections/travel_times/items",
        params={
            "site_id": oakham,
            "mode": "drive",
            "bbox": "485000,308000,486000,309000",
            "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/27700",
        },
    ).json()
    assert 0 < small["numberReturned"] < doc["numberReturned"]


def test_travel_time_tiles_take_property_filters(
    client: TestClient, rutland_engine: Engine
) -> None:
    oakham = _site_id(rutland_engine, "C82010")
    filtered = _tile_features(client, "travel_times", site_id=oakham, mode="drive")
    with rutland_engine.connect() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM travel_times WHERE site_id = :s AND mode = 'drive'"),
            {"s": oakham},
        ).scalar_one()
    assert len(filtered) == n
    assert {f["properties"]["site_id"] for f in filtered} == {oakham}
    assert all(
        math.isclose(f["properties"]["minutes"], round(f["properties"]["seconds"] / 60, 1))
        for f in filtered
    )
    walk = _tile_features(client, "travel_times", site_id=oakham, mode="walk")
    assert len(walk) == n
    assert {f["properties"]["mode"] for f in walk} == {"walk"}
    bad = client.get(
        f"/collections/travel_times/tiles/WebMercatorQuad/{Z}/{X}/{Y}", params={"seconds": "5"}
    )
    assert bad.status_code == 400
    assert bad.json()["parameter"] == "seconds"
    assert "filterable properties: mode, site_id" in bad.json()["detail"]
    bad = client.get(
        f"/collections/travel_times/tiles/WebMercatorQuad/{Z}/{X}/{Y}", params={"site_id": "x"}
    )
    assert bad.status_code == 400
    assert bad.json()["parameter"] == "site_id"


def test_estate_assets_carry_cost_per_square_metre(
    client: TestClient, rutland_engine: Engine
) -> None:
    with rutland_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT source_id, gia_m2, running_cost_gbp, backlog_gbp FROM sites"
                " WHERE geom IS NOT NULL AND NOT restricted AND (gia_m2 IS NOT NULL"
                " OR tenure IS NOT NULL OR land_ha IS NOT NULL"
                " OR running_cost_gbp IS NOT NULL OR backlog_gbp IS NOT NULL)"
            )
        ).all()
    doc = client.get("/collections/estate_assets/items", params={"limit": 100}).json()
    assert {f["properties"]["source_id"] for f in doc["features"]} == {r.source_id for r in rows}
    memorial = next(
        f["properties"] for f in doc["features"] if f["properties"]["source_id"] == "RT5PC"
    )
    row = next(r for r in rows if r.source_id == "RT5PC")
    assert memorial["gia_m2"] == pytest.approx(row.gia_m2)
    assert row.gia_m2 > 0
    assert memorial["cost_per_m2_gbp"] == pytest.approx(round(row.running_cost_gbp / row.gia_m2, 2))
    assert memorial["kind"] == "community_hospital"


def _submit_hub_siting(client: TestClient, headers: dict[str, str], restricted: bool) -> str:
    inputs = {"p": 2, "mode": "drive", "candidates": ["gp_practice"], "objective": "p-median"}
    return run_job_here(client, "hub-siting", inputs, headers, restricted=restricted)


def test_hub_siting_results_are_features_of_the_job(
    client: TestClient, rutland_engine: Engine
) -> None:
    before = client.get("/collections/hub_siting/items", params={"limit": 100}).json()
    job_id = _submit_hub_siting(client, {}, restricted=False)
    results = client.get(f"/jobs/{job_id}/results").json()
    # The cached page of the collection is not served stale: the finished job shows.
    after = client.get("/collections/hub_siting/items", params={"limit": 100}).json()
    assert after["numberReturned"] == before["numberReturned"] + 2
    doc = client.get("/collections/hub_siting/items", params={"job_id": job_id}).json()
    assert [f["properties"]["site_id"] for f in doc["features"]] == [
        c["site_id"] for c in results["chosen"]
    ]
    assert [f["properties"]["rank"] for f in doc["features"]] == [1, 2]
    assigned = [a for a in results["assignment"] if a["site_id"] is not None]
    assert sum(f["properties"]["areas_assigned"] for f in doc["features"]) == len(assigned)
    for f in doc["features"]:
        p = f["properties"]
        mine = [a for a in assigned if a["site_id"] == p["site_id"]]
        weight = sum(a["weight"] for a in mine)
        assert p["demand_assigned"] == pytest.approx(weight, abs=1e-3)
        mean = sum(a["weight"] * a["seconds"] for a in mine) / weight / 60
        assert p["mean_minutes"] == pytest.approx(mean, abs=0.01)
        assert p["max_minutes"] == pytest.approx(max(a["seconds"] for a in mine) / 60, abs=0.01)
        assert (p["objective"], p["mode"], p["p"], p["kept"]) == ("p-median", "drive", 2, False)
        chosen = next(c for c in results["chosen"] if c["site_id"] == p["site_id"])
        lon, lat = f["geometry"]["coordinates"]
        assert (lon, lat) == pytest.approx((chosen["lon"], chosen["lat"]), abs=1e-6)
        assert f["id"] == f"{job_id}.{p['rank']}"
    tile_ids = {
        f["properties"]["job_id"] for f in _tile_features(client, "hub_siting", job_id=job_id)
    }
    assert tile_ids == {job_id}


def test_restricted_results_stay_with_their_organisation(
    client: TestClient, rutland_engine: Engine, keys: dict[str, str]
) -> None:
    job_id = _submit_hub_siting(client, auth(keys["a"]), restricted=True)
    # A restricted site of organisation A with a stored catchment band and travel time.
    with rutland_engine.begin() as conn:
        load_id = conn.execute(text("SELECT max(id) FROM data_loads")).scalar_one()
        site = conn.execute(
            text(
                "INSERT INTO sites (source, source_id, name, kind, owner_type, organisation,"
                " restricted, gia_m2, geom, load_id) VALUES ('upload', 'results-test-1',"
                " 'Secret clinic', 'clinic', 'council', 'results-org-a', true, 250,"
                " ST_SetSRID(ST_MakePoint(486000, 308600), 27700), :l) RETURNING id"
            ),
            {"l": load_id},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO catchments (site_id, mode, band_min, population, network_load_id,"
                " geom) VALUES (:s, 'drive', 10, 1234, :l,"
                " ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(486000, 308600), 27700), 3000)))"
            ),
            {"s": site, "l": load_id},
        )
        conn.execute(
            text(
                "INSERT INTO travel_times (mode, area_code, area_vintage, site_id, seconds,"
                " network_load_id) SELECT 'drive', code, vintage, :s, 300, :l FROM areas"
                " WHERE vintage = 2021 AND level = 'lsoa'"
            ),
            {"s": site, "l": load_id},
        )
    try:
        checks = {
            "hub_siting": {"job_id": job_id},
            "catchments": {"site_id": site},
            "travel_times": {"site_id": site},
            "estate_assets": {"source": "upload"},
        }
        for layer, params in checks.items():
            for who in (None, keys["b"]):
                headers = auth(who) if who else {}
                items = client.get(
                    f"/collections/{layer}/items", params=params, headers=headers
                ).json()
                assert items["numberReturned"] == 0, (layer, who)
                hits = client.get(
                    f"/collections/{layer}/items",
                    params={**params, "resultType": "hits"},
                    headers=headers,
                ).json()
                assert hits["numberMatched"] == 0, (layer, who)
                assert _tile_features(client, layer, headers, **params) == [], (layer, who)
            mine = client.get(
                f"/collections/{layer}/items", params=params, headers=auth(keys["a"])
            ).json()
            assert mine["numberReturned"] > 0, layer
            assert (
                len(_tile_features(client, layer, auth(keys["a"]), **params))
                == mine["numberReturned"]
            )
        band = client.get(
            "/collections/catchments/items", params={"site_id": site}, headers=auth(keys["a"])
        ).json()
        p = band["features"][0]["properties"]
        assert (p["site_name"], p["band_min"], p["population"], p["mode"]) == (
            "Secret clinic",
            10,
            1234,
            "drive",
        )
        fid = band["features"][0]["id"]
        assert (
            client.get(f"/collections/catchments/items/{fid}", headers=auth(keys["b"])).status_code
            == 404
        )
        assert (
            client.get(f"/collections/catchments/items/{fid}", headers=auth(keys["a"])).status_code
            == 200
        )
        first = client.get(
            "/collections/hub_siting/items", params={"job_id": job_id}, headers=auth(keys["a"])
        ).json()
        fid = first["features"][0]["id"]
        assert client.get(f"/collections/hub_siting/items/{fid}").status_code == 404
    finally:
        with rutland_engine.begin() as conn:
            conn.execute(text("DELETE FROM sites WHERE id = :s"), {"s": site})
            conn.execute(text("DELETE FROM jobs WHERE id = :j"), {"j": job_id})
