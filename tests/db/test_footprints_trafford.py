"""Ward and local authority footprints on the real Trafford files: the ONS Postcode Directory
extract gives every postcode's ward and LSOA 2021, so each LSOA's ward is the one holding most
of its postcodes, recomputed here independently with pandas from the CSV. Also: a postcode
file loaded before the readers kept ward codes is read again (not skipped as unchanged), the
rows keeping their ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from app.services.footprints import footprint_population, membership
from etl.datasets import load_dataset
from store.access import ANONYMOUS
from store.connection import Database
from tests.conftest import TRAFFORD, database_for, load_trafford, scratch_database, settings_for


@pytest.fixture(scope="module")
def trafford_url(data_dir: Path) -> Iterator[str]:
    with scratch_database("locus_fp_trafford") as (url, _):
        load_trafford(settings_for(url), data_dir, only={"lsoa21", "census2021-5yr", "onspd"})
        yield url


@pytest.fixture(scope="module")
def db(trafford_url: str) -> Database:
    return database_for(trafford_url, purpose="interactive")


def test_each_lsoa_goes_to_the_ward_holding_most_of_its_postcodes(
    db: Database, data_dir: Path
) -> None:
    csv = pd.read_csv(data_dir / "trafford" / "trafford_postcodes.csv", dtype=str)
    counts = csv.groupby(["lsoa_code", "ward_code"]).size().rename("n").reset_index()
    counts = counts.sort_values(["lsoa_code", "n", "ward_code"], ascending=[True, False, True])
    expected = counts.drop_duplicates("lsoa_code").set_index("lsoa_code")["ward_code"]
    m = membership(db, ANONYMOUS, "ward")
    got = m.frame.set_index("area_code")["footprint"]
    assert len(got) == 139
    assert got.to_dict() == expected.to_dict()
    names = csv.drop_duplicates("ward_code").set_index("ward_code")["ward_name"]
    assert m.names == names[names.index.isin(got.unique())].to_dict()


def test_ward_and_local_authority_sums_equal_trafford(db: Database) -> None:
    la = footprint_population(db, ANONYMOUS, "la")
    wards = footprint_population(db, ANONYMOUS, "ward")
    total = la["total_population"]
    assert total > 200_000
    assert [(r["code"], r["population"]) for r in la["footprints"]] == [(TRAFFORD, total)]
    assert sum(r["population"] for r in wards["footprints"]) == total
    assert sum(r["areas"] for r in wards["footprints"]) == 139
    assert all(r["code"].startswith("E05") for r in wards["footprints"])
    # The extract's file name carries no date, so its vintage is unknown.
    assert wards["metadata"]["postcode_sources"] == "onspd unknown"
    altrincham = next(r for r in wards["footprints"] if r["name"] == "Altrincham")
    assert altrincham["population"] > 0


def test_a_postcode_load_from_before_ward_codes_is_read_again(
    trafford_url: str, data_dir: Path
) -> None:
    db = database_for(trafford_url)
    with db.transaction() as conn:
        ids = dict(conn.execute("SELECT postcode, id FROM postcodes").fetchall())
        # As a database loaded before migration 0012 holds it.
        conn.execute("UPDATE postcodes SET ward_code = NULL, ward_name = NULL, lad_code = NULL")
        conn.execute("UPDATE data_loads SET metadata = '{}' WHERE dataset = 'onspd'")
    summary = load_dataset(
        settings_for(trafford_url),
        "onspd",
        data_dir / "trafford" / "trafford_postcodes.csv",
        region=TRAFFORD,
    )
    assert summary.status == "loaded"
    assert summary.metadata["postcode_admin_codes"] is True
    with db.connection() as conn:
        after = dict(conn.execute("SELECT postcode, id FROM postcodes").fetchall())
        missing = conn.execute(
            "SELECT count(*) FROM postcodes WHERE ward_code IS NULL OR lad_code IS NULL"
        ).fetchone()
    assert after == ids
    assert missing is not None
    assert missing[0] == 0
    again = load_dataset(
        settings_for(trafford_url),
        "onspd",
        data_dir / "trafford" / "trafford_postcodes.csv",
        region=TRAFFORD,
    )
    assert again.status == "unchanged"
