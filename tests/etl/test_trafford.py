"""Trafford (E08000009): boundaries without LAD properties, single-year-of-age and 5-year
population, the ONS postcode extract, the council asset register and the health listings."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import Settings
from etl.datasets import load_dataset
from etl.loading import LoadError, LoadSummary
from store.connection import Database
from tests.conftest import TRAFFORD, load_trafford

from .conftest import fetch


@pytest.fixture(scope="module")
def trafford(etl_settings: Settings, data_dir: Path) -> dict[str, LoadSummary]:
    return load_trafford(etl_settings, data_dir)


def test_trafford_areas_and_population(etl_db: Database, trafford: dict[str, LoadSummary]) -> None:
    assert trafford["lsoa21"].rows_loaded == {"areas": 139}
    assert trafford["midyear-sya"].rows_loaded == {"population": 139 * 2 * 91}
    assert trafford["census2021-5yr"].rows_loaded == {"population": 139 * 18}
    lad = [
        r[0] for r in fetch(etl_db, "SELECT DISTINCT lad_code FROM areas WHERE code LIKE 'E01006%'")
    ]
    per_source = dict(
        fetch(
            etl_db,
            "SELECT p.source, sum(p.count) FROM population p JOIN areas a ON "
            "a.code = p.area_code AND a.vintage = p.vintage WHERE a.lad_code = %(r)s "
            "GROUP BY 1",
            {"r": TRAFFORD},
        )
    )
    ((e01006074,),) = fetch(
        etl_db,
        "SELECT sum(count) FROM population WHERE area_code = 'E01006074' "
        "AND source = 'ons-midyear'",
    )
    assert lad == [TRAFFORD]  # from the region key: the Trafford files carry no LAD property
    assert e01006074 == 1634  # Persons, all ages, in the mid-2024 file
    assert per_source["ons-midyear"] > per_source["census2021"] > 230_000


def test_trafford_council_register_and_health_sites(
    etl_db: Database, trafford: dict[str, LoadSummary]
) -> None:
    council = trafford["council-assets"]
    assert council.rows_read == 608
    assert council.rows_rejected == 3
    kinds = dict(
        fetch(
            etl_db,
            "SELECT kind, count(*) FROM sites WHERE source = 'council-register' GROUP BY 1",
        )
    )
    located = dict(
        fetch(
            etl_db,
            "SELECT located_by, count(*) FROM sites WHERE source = 'council-register' GROUP BY 1",
        )
    )
    (town_hall,) = fetch(
        etl_db,
        "SELECT name, owner, owner_type, gia_m2, tenure, attributes->>'uprn' AS uprn, "
        "attributes->>'energy_rating' AS epc FROM sites "
        "WHERE source_id = 'TMBC0001/T0000003'",
    )
    (pharmacies,) = fetch(
        etl_db,
        "SELECT count(*) FILTER (WHERE located_by = 'postcode'), count(*) FROM sites "
        "WHERE source = 'trafford-pharmacy'",
    )
    assert sum(kinds.values()) == 605
    assert kinds["council_land"] > 0
    assert kinds["council_building"] > 0
    assert located["coordinates"] == 371
    assert located["postcode"] + located["unlocated"] == 234
    assert tuple(town_hall) == (
        "Altrincham Town Hall",
        "Trafford Council",
        "council",
        415.05,
        "Freehold / Owner Occupied",
        "100012797623",
        "E",
    )
    assert pharmacies[1] == 57
    assert pharmacies[0] >= 50


def test_regional_file_rows_outside_region_are_rejected(
    etl_settings: Settings,
    trafford: dict[str, LoadSummary],
    rutland: dict[str, LoadSummary],
    data_dir: Path,
) -> None:
    # The Trafford care homes are a regional file: loaded for Rutland, every row is outside.
    with pytest.raises(
        LoadError,
        match=r"trafford_care_homes\.csv: row 2: site 1-466088203: "
        r"point lies outside region E06000017",
    ):
        load_dataset(
            etl_settings,
            "trafford-care-homes",
            data_dir / "trafford" / "trafford_care_homes.csv",
            region="E06000017",
        )
