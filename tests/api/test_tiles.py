"""Vector tiles (ST_AsMVT) and TileJSON against real Rutland rows."""

from __future__ import annotations

import math

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import GP_CODES

MVT = "application/vnd.mapbox-vector-tile"


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


# Zoom 8 tile 127/83 holds all of Rutland (lon -1.41..0, lat 52.48..53.33).
Z = 8
X, Y = _tile_of(-0.7, 52.66, Z)
assert (X, Y) == (127, 83)


def test_sites_tile_decodes_with_properties(client: TestClient) -> None:
    resp = client.get(f"/collections/sites/tiles/WebMercatorQuad/{Z}/{X}/{Y}")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == MVT
    layers = mapbox_vector_tile.decode(resp.content)
    assert list(layers) == ["sites"]
    features = layers["sites"]["features"]
    # The restricted council asset at Catmose lies in this tile but is not served.
    assert {f["properties"]["source_id"] for f in features} == set(GP_CODES)
    oakham = next(f for f in features if f["properties"]["source_id"] == "C82010")
    assert oakham["properties"]["name"] == "OAKHAM MEDICAL PRACTICE"
    assert oakham["properties"]["kind"] == "gp_practice"
    assert oakham["geometry"]["type"] == "Point"
    assert isinstance(oakham["id"], int)


def test_areas_tile_carries_choropleth_fields(client: TestClient) -> None:
    resp = client.get(f"/collections/areas/tiles/WebMercatorQuad/{Z}/{X}/{Y}")
    assert resp.status_code == 200
    features = mapbox_vector_tile.decode(resp.content)["areas"]["features"]
    by_key = {(f["properties"]["code"], f["properties"]["vintage"]): f for f in features}
    assert len(by_key) == 6  # 3 LSOA 2021 + the same 3 codes in 2011
    props = by_key[("E01013788", 2021)]["properties"]
    assert props["population"] == 3647
    assert props["pop_65_plus"] == 559
    assert props["imd_decile"] == 9
    assert by_key[("E01013788", 2021)]["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_empty_tiles_are_204(client: TestClient) -> None:
    # Far outside Great Britain: answered without the database.
    assert client.get("/collections/sites/tiles/WebMercatorQuad/10/0/0").status_code == 204
    # Inside the BNG area (Edinburgh) but no features there: an index probe, still empty.
    ex, ey = _tile_of(-3.19, 55.95, 12)
    resp = client.get(f"/collections/sites/tiles/WebMercatorQuad/12/{ex}/{ey}")
    assert resp.status_code == 204
    assert resp.content == b""
    # Below the network layer's minimum zoom.
    assert (
        client.get(f"/collections/network_edges/tiles/WebMercatorQuad/{Z}/{X}/{Y}").status_code
        == 204
    )


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("25/0/0", "z"),
        ("-1/0/0", "z"),
        ("3/8/0", "x"),
        ("3/0/8", "y"),
        ("3/0/-1", "y"),
        ("three/0/0", "z"),
    ],
)
def test_bad_tile_indices_are_400_problems(client: TestClient, path: str, parameter: str) -> None:
    resp = client.get(f"/collections/sites/tiles/WebMercatorQuad/{path}")
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["parameter"] == parameter


def test_collection_tilejson(client: TestClient) -> None:
    doc = client.get("/collections/areas/tiles/WebMercatorQuad/tilejson.json").json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"][0].endswith("/collections/areas/tiles/WebMercatorQuad/{z}/{x}/{y}")
    assert doc["minzoom"] == 0
    assert doc["maxzoom"] == 22
    west, south, east, north = doc["bounds"]
    assert -0.85 < west < east < -0.4
    assert 52.5 < south < north < 52.8
    (layer,) = doc["vector_layers"]
    assert layer["id"] == "areas"
    assert layer["fields"]["population"] == "Number"
    assert layer["fields"]["pop_65_plus"] == "Number"
    assert layer["fields"]["imd_decile"] == "Number"
    assert layer["fields"]["code"] == "String"
    assert "OpenStreetMap" in doc["attribution"]


def test_all_layers_tilejson_and_tile(client: TestClient) -> None:
    doc = client.get("/tiles/WebMercatorQuad/tilejson.json").json()
    assert [layer["id"] for layer in doc["vector_layers"]] == [
        "sites",
        "areas",
        "postcodes",
        "network_edges",
        "catchments",
        "hub_siting",
        "estate_assets",
    ]  # travel_times (a polygon per area and site) only when asked for
    assert doc["tiles"][0].endswith("/tiles/WebMercatorQuad/{z}/{x}/{y}")
    x, y = _tile_of(-0.731, 52.633, 11)  # midway along the Oakham-Uppingham edge
    resp = client.get(f"/tiles/WebMercatorQuad/11/{x}/{y}")
    assert resp.status_code == 200
    layers = mapbox_vector_tile.decode(resp.content)
    assert {"sites", "areas", "network_edges"} <= set(layers)
    some = client.get(f"/tiles/WebMercatorQuad/11/{x}/{y}", params={"collections": "areas"})
    assert set(mapbox_vector_tile.decode(some.content)) == {"areas"}
    bad = client.get(f"/tiles/WebMercatorQuad/11/{x}/{y}", params={"collections": "nope"})
    assert bad.status_code == 400
    assert bad.json()["parameter"] == "collections"
