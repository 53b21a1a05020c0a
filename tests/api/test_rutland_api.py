"""The API over the full Rutland demo bundle (loaded by the shared ``rutland_db_url``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import settings_for

GP_CODES = {"C82010", "C82044", "C82077", "C82649"}


@pytest.fixture(scope="module")
def rutland_client(rutland_db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(rutland_db_url))) as client:
        yield client


def test_rutland_areas_population_and_imd(rutland_client: TestClient) -> None:
    lsoa21 = rutland_client.get(
        "/collections/areas/items", params={"vintage": 2021, "level": "lsoa", "limit": 100}
    ).json()
    assert lsoa21["numberReturned"] == 26
    assert sum(f["properties"]["population"] for f in lsoa21["features"]) == 41_043
    # IMD 2019 is on 2011 codes; the five split 2021 codes take their best-fit 2011 decile.
    best_fit = {
        f["properties"]["code"]: f["properties"]["imd_source_code"]
        for f in lsoa21["features"]
        if f["properties"]["imd_source_code"] != f["properties"]["code"]
    }
    assert best_fit == {
        "E01035102": "E01013801",
        "E01035103": "E01013801",
        "E01035104": "E01013801",
        "E01035105": "E01013802",
        "E01035106": "E01013802",
    }
    assert all(1 <= f["properties"]["imd_decile"] <= 10 for f in lsoa21["features"])
    lsoa11 = rutland_client.get(
        "/collections/areas/items", params={"vintage": 2011, "level": "lsoa", "limit": 100}
    ).json()
    assert lsoa11["numberReturned"] == 23
    deciles = [f["properties"]["imd_decile"] for f in lsoa11["features"]]
    assert all(isinstance(d, int) and 1 <= d <= 10 for d in deciles)


def test_rutland_gp_practices_served(rutland_client: TestClient) -> None:
    doc = rutland_client.get(
        "/collections/sites/items", params={"kind": "gp_practice", "limit": 100}
    ).json()
    codes = {f["properties"]["source_id"] for f in doc["features"]}
    assert codes >= GP_CODES
    for feature in doc["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert -0.83 < lon < -0.42
        assert 52.52 < lat < 52.77
