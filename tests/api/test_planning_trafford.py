"""Projection trends on Trafford's real tables, and its real GP list sizes.

Trafford has the ONS mid-2024 LSOA 2021 estimates by single year of age, the Census 2021
5-year bands, and (filtered from the national file) the mid-2017 LSOA 2011 estimates: a
trend between two LSOA 2021 tables by age band, and one across the 2011 → 2021 boundary
change through best-fit groups, each checked against numbers computed here from the rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from app.main import create_app
from etl.datasets import load_dataset
from spatial.capacity import match_registrations
from store import estate, planning
from store.access import ANONYMOUS
from tests.api._support import auth, two_org_keys
from tests.conftest import TRAFFORD, database_for, load_trafford, scratch_database, settings_for

AREA = "E01006074"  # Trafford 025A


@pytest.fixture(scope="module")
def url(data_dir: Path) -> Iterator[str]:
    with scratch_database("locus_test_planning") as (url, _engine):
        settings = settings_for(url)
        load_trafford(
            settings,
            data_dir,
            only=("lsoa21", "lsoa11", "midyear-sya", "census2021-5yr", "trafford-gp"),
        )
        for name, path in (
            ("sape-mid2017", "england/pop_table_SAPE20DT1_mid2017_population_estimates.csv"),
            ("gp-registrations", "trafford/trafford_gp_patient_registrations.csv"),
        ):
            load_dataset(settings, name, data_dir / path, region=TRAFFORD)
        yield url


@pytest.fixture(scope="module")
def engine(url: str) -> Iterator[Engine]:
    e = create_engine(url)
    yield e
    e.dispose()


@pytest.fixture(scope="module")
def keys(engine: Engine) -> dict[str, str]:
    return two_org_keys(engine, "plantraf-")


@pytest.fixture(scope="module")
def client(url: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(url))) as c:
        yield c


def _people(engine: Engine, source: str, where: str = "true", **params: Any) -> float:
    with engine.connect() as conn:
        return float(
            conn.execute(
                text(f"SELECT sum(count) FROM population WHERE source = :s AND {where}"),
                {"s": source, **params},
            ).scalar_one()
        )


def _post(client: TestClient, key: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/planning/projections", json=body, headers=auth(key))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def _rows(client: TestClient, key: str, pid: int, year: int) -> dict[tuple[str, str], float]:
    r = client.get(f"/planning/projections/{pid}/areas", params={"year": year}, headers=auth(key))
    return {(x["area_code"], x["age_band"]): x["count"] for x in r.json()["rows"]}


def test_trend_by_age_band_between_census_2021_and_mid_2024(
    client: TestClient, keys: dict[str, str], engine: Engine
) -> None:
    body = {
        "name": "trafford trend",
        "horizons": [2030],
        "growth": {"type": "trend", "constrained": False},
    }
    raw = _post(client, keys["a"], body)
    growth = raw["metadata"]["growth"]
    assert raw["metadata"]["base"]["source"] == "ons-midyear"
    assert raw["base_year"] == 2024
    assert (growth["older"]["source"], growth["newer"]["source"]) == ("census2021", "ons-midyear")
    assert growth["years_between"] == pytest.approx(
        (dt.date(2024, 6, 30) - dt.date(2021, 3, 21)).days / 365.25, abs=1e-3
    )
    assert growth["bands"][:3] == ["0+", "0-4", "5-9"]
    assert growth["bands"][-1] == "85+"
    # By hand for one area and band (65-69): the census 5-year count, the mid-2024 single
    # years summed (both sexes), the annual rate, six years on from 2024.
    years = (dt.date(2024, 6, 30) - dt.date(2021, 3, 21)).days / 365.25
    older = _people(engine, "census2021", "area_code = :a AND age_lower = 65", a=AREA)
    newer = _people(engine, "ons-midyear", "area_code = :a AND age_lower BETWEEN 65 AND 69", a=AREA)
    rate = (newer / older) ** (1 / years) - 1
    base_67 = _people(engine, "ons-midyear", "area_code = :a AND age_lower = 67", a=AREA)
    rows = _rows(client, keys["a"], raw["id"], 2030)
    # (the areas endpoint rounds to 3 decimals)
    assert rows[(AREA, "67-67")] == pytest.approx(base_67 * (1 + rate) ** 6, abs=5e-4)

    constrained = _post(client, keys["a"], {**body, "growth": {"type": "trend"}})
    assert constrained["metadata"]["growth"]["constrained"] is True
    # Constrained: the 65-69 total over Trafford follows Trafford's own 65-69 trend.
    all_older = _people(engine, "census2021", "age_lower = 65 AND area_code LIKE 'E01%'")
    all_newer = _people(engine, "ons-midyear", "age_lower BETWEEN 65 AND 69")
    whole = (all_newer / all_older) ** (1 / years) - 1
    assert constrained["metadata"]["growth"]["control_rates"]["65-69"] == pytest.approx(
        whole, abs=1e-6
    )
    totals = {
        (t["year"], t["age_band"]): t["count"]
        for t in client.get(
            f"/planning/projections/{constrained['id']}", headers=auth(keys["a"])
        ).json()["totals"]
    }
    band_2024 = sum(totals[(2024, f"{a}-{a}")] for a in range(65, 70))
    band_2030 = sum(totals[(2030, f"{a}-{a}")] for a in range(65, 70))
    assert band_2030 == pytest.approx(band_2024 * (1 + whole) ** 6, abs=5e-3)  # 3 decimals


def test_trend_across_the_2011_to_2021_boundaries_by_best_fit(
    client: TestClient, keys: dict[str, str], engine: Engine
) -> None:
    body = {
        "name": "trafford since 2017",
        "horizons": [2031],
        "base": {"source": "census2021"},
        "growth": {"type": "trend", "older": {"source": "ons-sape-mid2017"}},
    }
    made = _post(client, keys["a"], body)
    growth = made["metadata"]["growth"]
    assert growth["older"]["area_vintage"] == 2011
    assert growth["newer"]["area_vintage"] == 2021
    assert growth["boundaries"].startswith("LSOA 2011 and 2021 compared through")
    assert growth["bands"] == ["0+"]
    sape = _people(engine, "ons-sape-mid2017")
    census = _people(engine, "census2021")
    years = (dt.date(2021, 3, 21) - dt.date(2017, 6, 30)).days / 365.25
    rate = (census / sape) ** (1 / years) - 1
    assert growth["overall_rate"] == pytest.approx(rate, abs=1e-6)
    totals = client.get(f"/planning/projections/{made['id']}", headers=auth(keys["a"])).json()[
        "totals"
    ]
    by_year: dict[int, float] = {}
    for t in totals:
        by_year[t["year"]] = by_year.get(t["year"], 0.0) + t["count"]
    assert by_year[2021] == pytest.approx(census, abs=0.02)  # totals have 3 decimals
    assert by_year[2031] == pytest.approx(census * (1 + rate) ** 10, abs=0.02)


def test_every_trafford_practice_gets_its_real_list_size(url: str) -> None:
    db = database_for(url)
    with db.connection() as conn:
        regs = planning.gp_registrations(conn)
        sites = estate.visible_sites(conn, ANONYMOUS, kinds=["gp_practice"])
    matched = match_registrations(sites, regs)
    assert len(regs) == 26
    assert sorted(matched["practice_code"]) == sorted(regs["practice_code"])
    assert set(matched["matched_by"]) == {"postcode_name"}
    park = sites.loc[sites["name"] == "Park Medical Practice", "id"].iloc[0]
    assert matched.set_index("site_id").at[park, "registered_patients"] == 7855.0
