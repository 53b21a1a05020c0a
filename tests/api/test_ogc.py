"""OGC API Features Part 1 + 2 against a real PostGIS holding real Rutland rows."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import GP_CODES

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
BNG = "http://www.opengis.net/def/crs/EPSG/0/27700"
ATTRIBUTION = (
    "© OpenStreetMap contributors, ODbL 1.0; Contains public sector information licensed "
    "under the Open Government Licence v3.0; Contains OS data © Crown copyright and database "
    "right"
)
# gp_practices_geo.csv LON/LAT of the Oakham Medical Practice.
OAKHAM = (-0.7384595, 52.6718736)


def _rels(doc: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {link["rel"]: link for link in doc["links"]}


def _problem(resp: Any, status: int, parameter: str | None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body.get("parameter") == parameter
    return body


def test_landing_page_links_and_attribution(client: TestClient) -> None:
    resp = client.get("/")
    assert resp.status_code == 200
    doc = resp.json()
    rels = _rels(doc)
    assert rels["service-desc"]["href"].endswith("/api")
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert rels["service-doc"]["href"].endswith("/api.html")
    assert rels["http://www.opengis.net/def/rel/ogc/1.0/conformance"]["href"].endswith(
        "/conformance"
    )
    assert rels["http://www.opengis.net/def/rel/ogc/1.0/data"]["href"].endswith("/collections")
    assert doc["attribution"] == ATTRIBUTION


def test_conformance_classes(client: TestClient) -> None:
    classes = client.get("/conformance").json()["conformsTo"]
    for suffix in ("core", "geojson", "html", "oas30"):
        assert f"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{suffix}" in classes
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in classes


def test_collections_metadata(client: TestClient) -> None:
    doc = client.get("/collections").json()
    ids = [c["id"] for c in doc["collections"]]
    assert ids == [
        "sites",
        "areas",
        "postcodes",
        "network_edges",
        "catchments",
        "travel_times",
        "hub_siting",
        "estate_assets",
    ]
    sites = client.get("/collections/sites").json()
    assert sites["crs"] == [CRS84, BNG]
    assert sites["storageCrs"] == BNG
    assert sites["attribution"] == ATTRIBUTION
    assert sites["extent"]["spatial"]["crs"] == CRS84
    west, south, east, north = sites["extent"]["spatial"]["bbox"][0]
    # The four practices span Uppingham (south) to Market Overton (north); the restricted
    # asset at Catmose lies inside that box anyway, the null-geometry site adds nothing.
    assert west == pytest.approx(-0.7384595, abs=1e-4)
    assert east == pytest.approx(-0.5935496, abs=1e-4)
    assert south == pytest.approx(52.5949695, abs=1e-4)
    assert north == pytest.approx(52.7402803, abs=1e-4)
    rels = {(link["rel"], link["type"]) for link in sites["links"]}
    assert ("items", "application/geo+json") in rels


def test_sites_items_exclude_restricted_and_unlocated(client: TestClient) -> None:
    resp = client.get("/collections/sites/items")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/geo+json"
    assert resp.headers["content-crs"] == f"<{CRS84}>"
    doc = resp.json()
    assert doc["type"] == "FeatureCollection"
    assert doc["numberReturned"] == 4
    assert doc["numberMatched"] == 4
    assert {f["properties"]["source_id"] for f in doc["features"]} == set(GP_CODES)
    oakham = next(f for f in doc["features"] if f["properties"]["source_id"] == "C82010")
    assert oakham["properties"]["name"] == "OAKHAM MEDICAL PRACTICE"
    assert oakham["properties"]["kind"] == "gp_practice"
    assert oakham["geometry"]["type"] == "Point"
    assert oakham["geometry"]["coordinates"] == pytest.approx(list(OAKHAM), abs=1e-6)
    assert set(oakham["properties"]) == {
        "source_id", "source", "kind", "name", "owner", "owner_type", "status", "tenure",
        "gia_m2", "land_ha", "running_cost_gbp", "backlog_gbp", "postcode",
    }  # fmt: skip


def test_paging_with_keyset_next_links(client: TestClient) -> None:
    first = client.get("/collections/sites/items", params={"limit": 2}).json()
    assert first["numberReturned"] == 2
    assert "numberMatched" not in first
    nxt = _rels(first)["next"]
    assert nxt["type"] == "application/geo+json"
    assert "after=" in nxt["href"]
    second = client.get(nxt["href"]).json()
    assert second["numberReturned"] == 2
    assert "next" not in _rels(second)
    ids = [f["id"] for f in first["features"] + second["features"]]
    assert ids == sorted(ids)
    assert len(set(ids)) == 4
    offset = client.get("/collections/sites/items", params={"offset": 3}).json()
    assert [f["id"] for f in offset["features"]] == ids[3:]
    assert offset["numberMatched"] == 4
    beyond = client.get("/collections/sites/items", params={"offset": 10}).json()
    assert beyond["numberReturned"] == 0
    assert "numberMatched" not in beyond


def test_property_filters(client: TestClient) -> None:
    def count(**params: str) -> int:
        resp = client.get("/collections/sites/items", params=params)
        assert resp.status_code == 200, resp.text
        return int(resp.json()["numberReturned"])

    assert count(kind="gp_practice") == 4
    assert count(kind="pharmacy") == 0
    assert count(kind="gp_practice,pharmacy") == 4
    assert count(status="closed") == 0
    assert count(owner_type="gp", source="ods_epraccur") == 4
    assert count(kind="council_building") == 0  # restricted: invisible, not merely filtered
    body = _problem(client.get("/collections/sites/items?colour=red"), 400, "colour")
    assert "kind" in body["detail"]
    hits = client.get("/collections/sites/items", params={"resultType": "hits"}).json()
    assert hits["numberMatched"] == 4
    assert hits["features"] == []


def test_bbox_in_crs84_and_bng(client: TestClient) -> None:
    oakham_box = "-0.76,52.66,-0.72,52.68"
    doc = client.get("/collections/sites/items", params={"bbox": oakham_box}).json()
    assert [f["properties"]["source_id"] for f in doc["features"]] == ["C82010"]
    # The same practice in BNG: Oakham is near E 486,000 N 308,900.
    point = client.get("/collections/sites/items", params={"crs": BNG, "bbox": oakham_box}).json()[
        "features"
    ][0]["geometry"]["coordinates"]
    box = f"{point[0] - 50},{point[1] - 50},{point[0] + 50},{point[1] + 50}"
    doc = client.get("/collections/sites/items", params={"bbox": box, "bbox-crs": BNG}).json()
    assert [f["properties"]["source_id"] for f in doc["features"]] == ["C82010"]
    outside = client.get("/collections/sites/items", params={"bbox": "10,40,11,41"}).json()
    assert outside["numberReturned"] == 0


def test_crs_27700_output(client: TestClient) -> None:
    resp = client.get("/collections/sites/items", params={"crs": BNG})
    assert resp.headers["content-crs"] == f"<{BNG}>"
    for feature in resp.json()["features"]:
        easting, northing = feature["geometry"]["coordinates"]
        assert 480_000 < easting < 500_000
        assert 295_000 < northing < 320_000
    areas = client.get("/collections/areas/items", params={"crs": BNG, "vintage": 2021}).json()
    for feature in areas["features"]:
        ring = feature["geometry"]["coordinates"][0][0]
        assert all(470_000 < x < 500_000 and 290_000 < y < 325_000 for x, y in ring)


def test_areas_population_and_imd(client: TestClient) -> None:
    doc = client.get("/collections/areas/items", params={"vintage": 2021}).json()
    assert doc["numberReturned"] == 3
    props = {f["properties"]["code"]: f["properties"] for f in doc["features"]}
    # Census 2021 usual residents (6 age bands) and IMD 2019 deciles for these LSOAs.
    assert props["E01013787"]["population"] == 1280
    assert props["E01013787"]["pop_65_plus"] == 382
    assert props["E01013788"]["population"] == 3647
    assert props["E01013788"]["pop_65_plus"] == 559
    assert props["E01013789"]["population"] == 1367
    assert props["E01013789"]["pop_65_plus"] == 455
    assert {c: p["imd_decile"] for c, p in props.items()} == {
        "E01013787": 6,
        "E01013788": 9,
        "E01013789": 7,
    }
    assert props["E01013787"]["name"] == "Rutland 005A"
    deciles = client.get("/collections/areas/items", params={"imd_decile": "9"}).json()
    assert {f["properties"]["vintage"] for f in deciles["features"]} == {2011, 2021}


def test_feature_by_id_and_not_found(client: TestClient) -> None:
    doc = client.get("/collections/sites/items", params={"kind": "gp_practice"}).json()
    fid = next(f["id"] for f in doc["features"] if f["properties"]["source_id"] == "C82077")
    resp = client.get(f"/collections/sites/items/{fid}")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/geo+json"
    feature = resp.json()
    assert feature["id"] == fid
    assert feature["properties"]["name"] == "THE UPPINGHAM SURGERY"
    assert _rels(feature)["collection"]["href"].endswith("/collections/sites")
    bng = client.get(f"/collections/sites/items/{fid}", params={"crs": BNG})
    assert bng.headers["content-crs"] == f"<{BNG}>"
    assert 480_000 < bng.json()["geometry"]["coordinates"][0] < 500_000
    _problem(client.get("/collections/sites/items/999999"), 404, "featureId")
    _problem(client.get("/collections/sites/items/not-a-number"), 404, "featureId")
    _problem(client.get("/collections/nowhere/items"), 404, "collectionId")
    _problem(client.get("/no/such/path"), 404, None)


def test_restricted_site_not_readable_by_id(client: TestClient, api_database_url: str) -> None:
    import psycopg

    url = api_database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT id FROM sites WHERE source_id = 'RESTRICTED-1'").fetchone()
    assert row is not None
    _problem(client.get(f"/collections/sites/items/{row[0]}"), 404, "featureId")


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "-0.5,52.6,-0.7,52.7"}, "bbox"),  # minx > maxx
        ({"bbox": "-0.7,52.7,-0.5,52.6"}, "bbox"),  # miny > maxy
        ({"bbox": "-0.7,95,-0.5,96"}, "bbox"),  # latitude out of range
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"bbox": "0,0,1,1", "bbox-crs": "EPSG:9999"}, "bbox-crs"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"crs": "http://www.opengis.net/def/crs/EPSG/0/3857"}, "crs"),
        ({"after": "x"}, "after"),
        ({"vintage": "twenty"}, "vintage"),
        ({"datetime": "yesterday"}, "datetime"),
    ],
)
def test_bad_parameters_are_400_problems(
    client: TestClient, params: dict[str, str], parameter: str
) -> None:
    collection = "areas" if parameter == "vintage" else "sites"
    _problem(client.get(f"/collections/{collection}/items", params=params), 400, parameter)


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/collections/sites/items?kind=%00", "kind"),
        ("/collections/sites/items?kind=gp_practice,%00", "kind"),
        ("/collections/sites/items?name=%00", "name"),
        ("/collections/sites/items?after=1%00", "after"),
        ("/collections/sites/items?bbox-crs=%00", "bbox-crs"),
        ("/collections/areas/items?code=E01013787&code=%00", "code"),
        ("/collections/sites/items?ki%00nd=gp_practice", "ki\x00nd"),
        ("/collections/sites/items/%00", "featureId"),
        ("/collections/hub_siting/items/job%00.1", "featureId"),
        ("/collections/network_edges/items/walk%00.1", "featureId"),
        ("/collections/%00/items", "collectionId"),
        ("/collections/travel_times/tiles/WebMercatorQuad/12/2039/1355?mode=%00", "mode"),
        ("/tiles/WebMercatorQuad/12/2039/1355?collections=sites%00", "collections"),
        ("/jobs?processID=%00", "processID"),
        ("/assets/%00.js", "path"),
    ],
)
def test_nul_bytes_in_parameters_are_400_problems(
    client: TestClient, path: str, parameter: str
) -> None:
    # PostgreSQL text cannot hold NUL: refused before any route or statement sees it.
    body = _problem(client.get(path), 400, parameter)
    assert "NUL" in body["detail"]


def test_queryables_schema(client: TestClient) -> None:
    resp = client.get("/collections/sites/queryables")
    assert resp.headers["content-type"] == "application/schema+json"
    schema = resp.json()
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"source", "kind", "owner_type", "status", "geometry"}
    assert schema["properties"]["kind"]["type"] == "string"
    assert schema["properties"]["geometry"]["$ref"] == "https://geojson.org/schema/Point.json"


def test_html_and_openapi(client: TestClient) -> None:
    html = client.get("/collections/sites/items", params={"f": "html"})
    assert html.headers["content-type"].startswith("text/html")
    assert "OAKHAM MEDICAL PRACTICE" in html.text
    assert "Crown copyright" in html.text
    browser = client.get("/collections", headers={"accept": "text/html,*/*"})
    assert browser.headers["content-type"].startswith("text/html")
    assert "network_edges" in browser.text
    _problem(client.get("/collections", params={"f": "xml"}), 406, "f")
    api = client.get("/api").json()
    assert "/collections/{collectionId}/items" in api["paths"]
    assert "/collections/{collectionId}/tiles/WebMercatorQuad/{z}/{x}/{y}" in api["paths"]
    assert client.get("/api.html").status_code == 200


def test_network_edges_composite_ids(client: TestClient) -> None:
    doc = client.get("/collections/network_edges/items", params={"mode": "walk"}).json()
    assert [f["id"] for f in doc["features"]] == ["walk.1"]
    edge = client.get("/collections/network_edges/items/walk.1").json()
    assert edge["properties"]["mode"] == "walk"
    # Straight line Oakham practice -> Uppingham surgery: about 8.6 km.
    assert 8_000 < edge["properties"]["length_m"] < 9_500
    both = client.get("/collections/network_edges/items", params={"limit": 1}).json()
    after = client.get(_rels(both)["next"]["href"]).json()
    assert [both["features"][0]["id"], after["features"][0]["id"]] == ["drive.1", "walk.1"]
    postcodes = client.get("/collections/postcodes/items").json()
    assert postcodes["numberReturned"] == 5
    assert all(f["properties"]["postcode"].startswith("LE150") for f in postcodes["features"])


def test_feature_schema_types(client: TestClient) -> None:
    resp = client.get("/collections/areas/schema")
    assert resp.headers["content-type"] == "application/schema+json"
    props = resp.json()["properties"]["properties"]["properties"]
    assert props["population"]["type"] == "number"
    assert props["imd_decile"]["type"] == "integer"
    assert props["code"]["type"] == "string"
    links = client.get("/collections/areas").json()["links"]
    assert any(link["rel"] == "describedby" and link["href"].endswith("/schema") for link in links)


def test_items_pages_are_cached_per_data_version(client: TestClient, api_database_url: str) -> None:
    params = {"kind": "gp_practice", "limit": 100}
    first = client.get("/collections/sites/items", params=params).json()
    again = client.get("/collections/sites/items", params={**params, "f": "json"}).json()
    assert again["features"] == first["features"]
    with psycopg.connect(api_database_url.replace("+psycopg", ""), autocommit=True) as conn:
        with conn.transaction():
            load = conn.execute(
                "INSERT INTO data_loads (dataset, region, file_name, sha256, started_at, status,"
                " licence) VALUES ('cache-test', '', 'x.csv', 'x', now(), 'active', 'OGL')"
                " RETURNING id"
            ).fetchone()
            assert load is not None
            conn.execute(
                "INSERT INTO sites (source, source_id, name, kind, geom, load_id) VALUES "
                "('test', 'CACHE1', 'Cache Test Surgery', 'gp_practice', "
                "ST_SetSRID(ST_MakePoint(486000, 309000), 27700), %s)",
                (load[0],),
            )
        try:
            # A new load is a new data version: the page is rebuilt, not served stale.
            after = client.get("/collections/sites/items", params=params).json()
            assert after["numberReturned"] == first["numberReturned"] + 1
            assert "CACHE1" in {f["properties"]["source_id"] for f in after["features"]}
        finally:
            with conn.transaction():
                conn.execute("DELETE FROM sites WHERE source_id = 'CACHE1'")
                conn.execute("DELETE FROM data_loads WHERE id = %s", (load[0],))
