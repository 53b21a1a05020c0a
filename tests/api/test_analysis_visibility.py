"""A partner's restricted site is its own organisation's only, in every analysis endpoint.

Issue 12: organisation A's restricted GP site in Oakham (``lon=-0.73, lat=52.671``) came
first in ``/analysis/nearest`` for anonymous callers and for organisation B, in every mode.
Here the site is placed at exactly that point on the real Rutland demo data (road networks
for drive, walk and cycle): A sees it first; anonymous callers and B never see its name, id or
source id, in nearest, kinds, catchment or population-within. Transit is covered on the Isle
of Wight feed in ``test_transit_api.py`` with :func:`restricted_site`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.main import create_app
from spatial.crs import wgs84_to_bng
from tests.api._support import auth, two_org_keys
from tests.conftest import settings_for

LON, LAT = -0.73, 52.671
NAME = "Org A restricted surgery (visibility test)"
SOURCE_ID = "VIS-RESTRICTED-1"


@contextmanager
def restricted_site(
    engine: Engine, organisation: str, *, lon: float, lat: float, kind: str = "gp_practice"
) -> Iterator[int]:
    """A restricted active site of ``organisation`` at ``lon, lat`` (removed afterwards)."""
    x, y = wgs84_to_bng(lon, lat)
    with engine.begin() as conn:
        site_id = conn.execute(
            text(
                "INSERT INTO sites (source, source_id, name, kind, owner, owner_type, status, "
                "restricted, organisation, geom, load_id) VALUES ('estate_upload', :sid, "
                ":name, :kind, 'Org A', 'partner', 'active', true, :org, "
                "ST_SetSRID(ST_MakePoint(:x, :y), 27700), "
                "(SELECT max(id) FROM data_loads)) RETURNING id"
            ),
            {"sid": SOURCE_ID, "name": NAME, "kind": kind, "org": organisation, "x": x, "y": y},
        ).scalar_one()
    try:
        yield int(site_id)
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM sites WHERE id = :id"), {"id": site_id})


def mentions(doc: Any, site_id: int) -> bool:
    """True when a response names the site (its name, source id, or id as ``site_id``)."""
    if isinstance(doc, dict):
        if doc.get("site_id") == site_id:
            return True
        return any(mentions(v, site_id) for v in doc.values())
    if isinstance(doc, list):
        return any(mentions(v, site_id) for v in doc)
    return doc in (NAME, SOURCE_ID)


@pytest.fixture(scope="module")
def client(rutland_db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(rutland_db_url))) as c:
        yield c


@pytest.fixture(scope="module")
def keys(rutland_engine: Engine) -> dict[str, str]:
    return two_org_keys(rutland_engine, org_prefix="vis-")


@pytest.fixture(scope="module")
def site(rutland_engine: Engine) -> Iterator[int]:
    with restricted_site(rutland_engine, "vis-org-a", lon=LON, lat=LAT) as site_id:
        yield site_id


@pytest.mark.parametrize("mode", ["drive", "walk"])
def test_nearest_lists_a_restricted_site_for_its_owner_only(
    client: TestClient, keys: dict[str, str], site: int, mode: str
) -> None:
    params: dict[str, Any] = {"lon": LON, "lat": LAT, "kind": "gp_practice", "mode": mode, "n": 5}
    own = client.get("/analysis/nearest", params=params, headers=auth(keys["a"]))
    assert own.status_code == 200, own.text
    first = own.json()["results"][0]
    assert (first["site_id"], first["name"], first["source_id"]) == (site, NAME, SOURCE_ID)
    assert first["seconds"] < 60  # at the origin: only the access legs
    assert len(own.json()["results"]) == 5  # the four open practices follow
    for headers in ({}, auth(keys["b"])):
        other = client.get("/analysis/nearest", params=params, headers=headers)
        assert other.status_code == 200, other.text
        body = other.json()
        assert not mentions(body, site)
        # Exactly the open practices, Oakham's first.
        assert [r["source_id"] for r in body["results"]][:1] == ["C82010"]
        assert len(body["results"]) == 4
        # Results state the speeds of the network they were computed on.
        assert body["metadata"]["network_load_id"] == own.json()["metadata"]["network_load_id"]
        assert body["metadata"]["walk_speed_kmh"] == 4.8
        assert body["metadata"]["cycle_speed_kmh"] == 15.0


def test_kinds_count_a_restricted_site_for_its_owner_only(
    client: TestClient, keys: dict[str, str], site: int
) -> None:
    def gp_count(headers: dict[str, str]) -> int:
        body = client.get("/analysis/kinds", headers=headers).json()
        by_kind = {k["kind"]: k for k in body["kinds"]}
        assert by_kind["gp_practice"]["label"] == "GP practice"
        return int(by_kind["gp_practice"]["count"])

    anonymous = gp_count({})
    assert anonymous == 4
    assert gp_count(auth(keys["b"])) == anonymous
    assert gp_count(auth(keys["a"])) == anonymous + 1


def test_catchment_and_population_within_of_a_restricted_site(
    client: TestClient, keys: dict[str, str], site: int
) -> None:
    bands = {"mode": "drive", "bands": "10"}
    own = client.get(f"/analysis/catchment/{site}", params=bands, headers=auth(keys["a"]))
    assert own.status_code == 200, own.text
    assert own.json()["site"]["name"] == NAME
    within: dict[str, Any] = {"mode": "drive", "minutes": 10, "site_ids": str(site)}
    assert (
        client.get("/analysis/population-within", params=within, headers=auth(keys["a"]))
    ).status_code == 200
    for headers in ({}, auth(keys["b"])):
        r = client.get(f"/analysis/catchment/{site}", params=bands, headers=headers)
        assert (r.status_code, r.json()["parameter"]) == (404, "site_id")
        assert not mentions(r.json(), site)
        r = client.get("/analysis/population-within", params=within, headers=headers)
        assert (r.status_code, r.json()["parameter"]) == (404, "site_ids")


def test_modes_registry_states_the_loaded_network_speeds(client: TestClient) -> None:
    body = client.get("/analysis/modes").json()
    assert body["modes"] == ["drive", "walk", "cycle"]
    registry = {m["mode"]: m for m in body["registry"]}
    assert list(registry) == ["drive", "walk", "cycle", "transit"]
    assert (registry["walk"]["speed_kmh"], registry["cycle"]["speed_kmh"]) == (4.8, 15.0)
    assert registry["drive"]["speed_kmh"] is None  # varies by road class
    assert 20 < registry["drive"]["mean_speed_kmh"] < 110
    assert registry["transit"]["available"] is False
    assert registry["transit"]["needs"] == "GTFS feed"
    assert {m["label"] for m in registry.values()} >= {
        "Car",
        "Walking",
        "Cycling",
        "Public transport",
    }
    assert len({m["load_id"] for m in body["registry"] if m["available"]}) == 1


def test_stored_time_results_state_the_network_they_were_computed_on(client: TestClient) -> None:
    registry = {m["mode"]: m for m in client.get("/analysis/modes").json()["registry"]}
    for mode in ("drive", "walk", "cycle"):
        meta = client.get("/analysis/access", params={"mode": mode}).json()["metadata"]
        assert meta["mode"] == mode
        assert meta["network_load_id"] == registry[mode]["load_id"]
        assert (meta["walk_speed_kmh"], meta["cycle_speed_kmh"]) == (4.8, 15.0)
        assert meta["mean_speed_kmh"] == registry[mode]["mean_speed_kmh"]
        assert "locus compute" in meta["stored_times"]
