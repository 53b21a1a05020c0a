"""Footprints over the real Rutland demo bundle (``rutland_db_url``): every footprint type adds
up to Rutland's 41,043 residents; MSOA sums and access means checked against the areas and
stored times read through other endpoints; custom polygon uploads (the real MSOA boundary file
as an organisation's footprints), their visibility, and malformed uploads refused with the
reason while nothing stored changes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.main import create_app
from store.loads import table_checksum
from tests.api._support import auth, two_org_keys
from tests.conftest import database_for, settings_for

RUTLAND_PEOPLE = 41_043.0
RUTLAND_LSOAS = 26


@pytest.fixture(scope="module")
def client(rutland_db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(rutland_db_url))) as c:
        yield c


@pytest.fixture(scope="module")
def keys(rutland_engine: Engine) -> dict[str, str]:
    return two_org_keys(rutland_engine, "fp-")


@pytest.fixture(scope="module")
def lsoas(client: TestClient) -> list[dict[str, Any]]:
    doc = client.get(
        "/collections/areas/items", params={"vintage": 2021, "level": "lsoa", "limit": 100}
    ).json()
    return [f["properties"] for f in doc["features"]]


def _population(client: TestClient, footprint: str, **params: Any) -> dict[str, Any]:
    r = client.get(f"/footprints/{footprint}/population", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.mark.parametrize("footprint", ["la", "msoa", "ward", "commissioner"])
def test_every_footprint_type_adds_up_to_the_regional_total(
    client: TestClient, footprint: str
) -> None:
    doc = _population(client, footprint)
    assert doc["total_population"] == RUTLAND_PEOPLE
    assert doc["total_areas"] == RUTLAND_LSOAS
    rows = doc["footprints"]
    assert sum(r["population"] for r in rows) == RUTLAND_PEOPLE
    # Each LSOA counted once: the LSOA counts add up to 26.
    assert sum(r["areas"] for r in rows) == RUTLAND_LSOAS
    la = _population(client, "la")["footprints"][0]["by_age"]
    for band, people in la.items():
        assert sum(r["by_age"][band] for r in rows) == pytest.approx(people)


def test_local_authority_commissioner_and_msoa_values(
    client: TestClient, lsoas: list[dict[str, Any]]
) -> None:
    (la,) = _population(client, "la")["footprints"]
    assert (la["code"], la["population"], la["areas"]) == ("E06000017", RUTLAND_PEOPLE, 26)
    assert la["by_age"]["65+"] == 10_385.0
    # Every Rutland practice's commissioner is 03W (Leicester, Leicestershire and Rutland).
    (comm,) = _population(client, "commissioner", mode="drive")["footprints"]
    assert (comm["code"], comm["population"]) == ("03W", RUTLAND_PEOPLE)
    # LSOA "Rutland 001A" lies in MSOA "Rutland 001": sum the LSOAs by name here.
    by_name: dict[str, float] = defaultdict(float)
    for a in lsoas:
        by_name[a["name"][:-1]] += a["population"]
    msoa = _population(client, "msoa")
    assert {r["name"]: r["population"] for r in msoa["footprints"]} == dict(by_name)
    assert len(msoa["footprints"]) == 5
    assert all(r["code"].startswith("E02") for r in msoa["footprints"])


def test_wards_from_postcodes(client: TestClient) -> None:
    doc = _population(client, "ward")
    assert doc["metadata"]["postcode_sources"] == "codepoint-open 2014"
    rows = {r["code"]: r for r in doc["footprints"]}
    # Code-Point's LE area: LSOAs whose postcodes are all PE9 (Stamford) have no ward here.
    unassigned = rows.pop("(unassigned)")
    assert 0 < unassigned["population"] < RUTLAND_PEOPLE / 5
    assert any("belong to no footprint of this type" in n for n in doc["notes"])
    assert all(code.startswith("E05") for code in rows)
    assert all(r["postcodes"] > 0 and 0.5 <= r["postcode_share"] <= 1.0 for r in rows.values())


def test_access_mean_is_population_weighted_from_the_stored_times(
    client: TestClient, lsoas: list[dict[str, Any]]
) -> None:
    doc = client.get(
        "/footprints/msoa/access", params={"mode": "drive", "kind": "gp_practice", "minutes": 10}
    ).json()
    times = client.get(
        "/analysis/access", params={"mode": "drive", "kind": "gp_practice", "minutes": 10}
    ).json()
    seconds = {a["code"]: a["seconds"] for a in times["areas"]}
    people: dict[str, float] = defaultdict(float)
    person_s: dict[str, float] = defaultdict(float)
    within: dict[str, float] = defaultdict(float)
    for a in lsoas:
        msoa = a["name"][:-1]
        people[msoa] += a["population"]
        person_s[msoa] += a["population"] * seconds[a["code"]]
        within[msoa] += a["population"] if seconds[a["code"]] <= 600 else 0.0
    assert len(doc["footprints"]) == 5
    for row in doc["footprints"]:
        name = row["name"]
        assert row["mean_minutes"] == pytest.approx(person_s[name] / people[name] / 60, abs=0.01)
        assert row["population_within"] == within[name]
        assert row["population_unreached"] == 0.0
    assert doc["metadata"]["network_vintage"] == "2022-07-20"


def test_footprints_overlap_practice_catchments(client: TestClient) -> None:
    la = client.get("/footprints/la/catchments", params={"mode": "drive"}).json()
    msoa = client.get("/footprints/msoa/catchments", params={"mode": "drive"}).json()
    catchments = {c["source_id"]: c["population"] for c in la["catchments"]}
    assert set(catchments) == {"C82010", "C82044", "C82077", "C82649"}
    assert sum(catchments.values()) == RUTLAND_PEOPLE
    # Rutland is one local authority: each catchment lies wholly in it, and the LA's shares
    # are the catchments' shares of its people.
    for o in la["overlaps"]:
        assert o["code"] == "E06000017"
        assert o["share_of_catchment"] == 1.0
        assert o["share_of_footprint"] == pytest.approx(o["population"] / RUTLAND_PEOPLE, abs=1e-4)
    # Across MSOAs, each practice's people add up to its catchment, each MSOA's to its total.
    per_site: dict[str, float] = defaultdict(float)
    share: dict[str, float] = defaultdict(float)
    for o in msoa["overlaps"]:
        per_site[o["source_id"]] += o["population"]
        share[o["code"]] += o["share_of_footprint"]
    assert dict(per_site) == catchments
    assert all(s == pytest.approx(1.0, abs=1e-3) for s in share.values())


def test_unknown_footprint_and_missing_set(client: TestClient) -> None:
    r = client.get("/footprints/county/population")
    assert r.status_code == 400
    assert r.json()["parameter"] == "footprint"
    r = client.get("/footprints/custom-999999/population")
    assert r.status_code == 404
    assert r.json()["detail"] == "no custom footprint set with id 999999"


# ------------------------------------------------------------------------------ uploads


def _checksums(url: str) -> tuple[str, str]:
    with database_for(url).connection() as conn:
        return table_checksum(conn, "footprint_sets"), table_checksum(conn, "footprint_polygons")


def _upload(
    client: TestClient, key: str, name: str, filename: str, content: bytes, **form: Any
) -> Any:
    return client.post(
        "/footprints/custom",
        headers=auth(key),
        files={"file": (filename, content, "application/geo+json")},
        data={"name": name, **form},
    )


def test_custom_polygons_uploaded_and_visible_to_their_organisation(
    client: TestClient, keys: dict[str, str], data_dir: Path
) -> None:
    content = (data_dir / "rutland" / "rutland_msoa21.geojson").read_bytes()
    r = _upload(
        client, keys["a"], "PCN areas", "rutland_msoa21.geojson", content, restricted="true"
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["features"] == 5
    assert (body["code_field"], body["name_field"]) == ("MSOA21CD", "MSOA21NM")
    assert body["organisation"] == "fp-org-a"
    assert body["restricted"] is True
    footprint = body["footprint"]
    try:
        mine = client.get(f"/footprints/{footprint}/population", headers=auth(keys["a"])).json()
        msoa = _population(client, "msoa")
        assert {r["code"]: r["population"] for r in mine["footprints"]} == {
            r["code"]: r["population"] for r in msoa["footprints"]
        }
        assert mine["label"] == "Custom polygons: PCN areas"
        listed = client.get("/footprints", headers=auth(keys["a"])).json()["custom"]
        assert [s["footprint"] for s in listed] == [footprint]
        # Another organisation and anonymous callers cannot see a restricted set.
        for headers in (auth(keys["b"]), {}):
            r = client.get(f"/footprints/{footprint}/population", headers=headers)
            assert r.status_code == 404
            assert client.get("/footprints", headers=headers).json()["custom"] == []
        assert (
            client.delete(f"/footprints/custom/{body['id']}", headers=auth(keys["b"])).status_code
            == 404
        )
    finally:
        assert (
            client.delete(f"/footprints/custom/{body['id']}", headers=auth(keys["a"])).status_code
            == 204
        )
    assert (
        client.get(f"/footprints/{footprint}/population", headers=auth(keys["a"])).status_code
        == 404
    )


def _feature(code: str, geometry: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"code": code, "name": f"Area {code}"},
        "geometry": geometry,
    }


SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[-0.75, 52.65], [-0.70, 52.65], [-0.70, 52.68], [-0.75, 52.68], [-0.75, 52.65]]
    ],
}
BOWTIE = {  # crossing edges: half its area cancels, so it cannot be repaired
    "type": "Polygon",
    "coordinates": [
        [[-0.75, 52.60], [-0.70, 52.62], [-0.70, 52.60], [-0.75, 52.62], [-0.75, 52.60]]
    ],
}


def test_malformed_uploads_are_refused_with_the_reason_and_nothing_changes(
    client: TestClient, keys: dict[str, str], rutland_db_url: str
) -> None:
    good = json.dumps({"type": "FeatureCollection", "features": [_feature("P1", SQUARE)]})
    r = _upload(client, keys["a"], "Kept", "kept.geojson", good.encode())
    assert r.status_code == 201, r.text
    kept = r.json()["id"]
    try:
        before = _checksums(rutland_db_url)
        bad_features = {
            "type": "FeatureCollection",
            "features": [
                _feature("P1", SQUARE),
                _feature("P2", {"type": "Point", "coordinates": [-0.72, 52.66]}),
                _feature("P1", SQUARE),
                _feature("P4", None),
                _feature(
                    "P5",
                    {
                        "type": "Polygon",
                        "coordinates": [[[500.0, 52.6], [501, 52.6], [501, 53], [500.0, 52.6]]],
                    },
                ),
                _feature("P6", BOWTIE),
            ],
        }
        # Same name as the stored set: a refused upload must not replace it.
        r = _upload(client, keys["a"], "Kept", "bad.geojson", json.dumps(bad_features).encode())
        assert r.status_code == 400
        problem = r.json()
        assert problem["parameter"] == "file"
        assert problem["detail"] == "bad.geojson: 5 rejected feature(s); nothing was stored"
        assert problem["rejects"] == [
            {"row": 2, "reason": "feature 2: geometry is Point, expected Polygon or MultiPolygon"},
            {"row": 3, "reason": "feature 3: code 'P1' repeats feature 1"},
            {"row": 4, "reason": "feature 4: has no geometry"},
            {
                "row": 5,
                "reason": "feature 5: coordinates outside Great Britain for EPSG:4326 (wrong CRS?)",
            },
            {
                "row": 6,
                "reason": "feature 6: invalid polygon (Self-intersection[-0.725 52.61]) that "
                "cannot be repaired",
            },
        ]
        cut = good[: len(good) // 2].encode()
        r = _upload(client, keys["a"], "Cut", "cut.geojson", cut)
        assert r.status_code == 400
        assert "not valid GeoJSON (cut off or corrupted?)" in r.json()["detail"]
        crs = json.dumps(
            {
                "type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": "EPSG:3857"}},
                "features": [_feature("P1", SQUARE)],
            }
        )
        r = _upload(client, keys["a"], "Mercator", "m.geojson", crs.encode())
        assert r.status_code == 400
        assert "unsupported CRS 'EPSG:3857'" in r.json()["detail"]
        r = _upload(client, keys["a"], "Field", "f.geojson", good.encode(), code_field="PCN_CODE")
        assert r.status_code == 400
        assert "code_field 'PCN_CODE' is not a property of the features" in r.json()["detail"]
        r = _upload(client, keys["a"], "Text", "notes.txt", b"hello")
        assert (r.status_code, r.json()["parameter"]) == (400, "file")
        r = _upload(client, keys["a_viewer"], "Viewer", "v.geojson", good.encode())
        assert r.status_code == 403
        r = client.post(
            "/footprints/custom",
            files={"file": ("a.geojson", good.encode(), "application/geo+json")},
            data={"name": "Anon"},
        )
        assert r.status_code == 401
        assert _checksums(rutland_db_url) == before
        listed = client.get("/footprints", headers=auth(keys["a"])).json()["custom"]
        assert [(s["id"], s["name"], s["features"]) for s in listed] == [(kept, "Kept", 1)]
    finally:
        client.delete(f"/footprints/custom/{kept}", headers=auth(keys["a"]))


@pytest.mark.filterwarnings("ignore:'crs' was not provided:UserWarning")
def test_geopackage_upload_and_one_without_a_crs(
    client: TestClient, keys: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    msoas = gpd.read_file(data_dir / "rutland" / "rutland_msoa21.geojson").to_crs(27700)
    good = tmp_path / "msoa.gpkg"
    msoas[["MSOA21CD", "MSOA21NM", "geometry"]].to_file(good, driver="GPKG")
    r = _upload(client, keys["b"], "From GeoPackage", "msoa.gpkg", good.read_bytes())
    assert r.status_code == 201, r.text
    body = r.json()
    try:
        assert (body["features"], body["code_field"], body["restricted"]) == (5, "MSOA21CD", False)
        # Open (not restricted): anyone may add up by it.
        doc = client.get(f"/footprints/{body['footprint']}/population").json()
        assert sum(f["population"] for f in doc["footprints"]) == RUTLAND_PEOPLE
        assert {f["name"] for f in doc["footprints"]} == set(msoas["MSOA21NM"])
    finally:
        client.delete(f"/footprints/custom/{body['id']}", headers=auth(keys["b"]))
    no_crs = tmp_path / "nocrs.gpkg"
    msoas[["MSOA21CD", "geometry"]].set_crs(None, allow_override=True).to_file(
        no_crs, driver="GPKG"
    )
    r = _upload(client, keys["b"], "No CRS", "nocrs.gpkg", no_crs.read_bytes())
    assert r.status_code == 400
    assert r.json()["detail"] == ("nocrs.gpkg: the GeoPackage layer has no CRS; nothing was stored")
