"""``locus load gtfs``: the real Isle of Wight feed loads, a broken copy is refused unchanged.

Runs in a throwaway database of its own (no areas needed: a GTFS load stands alone).
"""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from app.services import transit
from config.settings import Settings
from etl.datasets import load_dataset
from etl.gtfs_load import TABLES
from etl.loading import LoadError
from store.connection import Database, close_databases, database
from store.loads import table_checksum
from tests.conftest import gtfs_timetable, scratch_database, settings_for

from .conftest import fetch

IOW = "E06000046"
FEED = "isle_of_wight/iow-bus-gtfs.zip"


@pytest.fixture(scope="module")
def gtfs_scratch() -> Iterator[tuple[str, Engine]]:
    with scratch_database("locus_test_gtfs") as (url, engine):
        try:
            yield url, engine
        finally:
            close_databases(url)


@pytest.fixture(scope="module")
def gtfs_settings(gtfs_scratch: tuple[str, Engine]) -> Settings:
    return settings_for(gtfs_scratch[0])


@pytest.fixture(scope="module")
def gtfs_db(gtfs_settings: Settings) -> Database:
    return database(gtfs_settings.database, purpose="batch")


def _checksums(db: Database) -> dict[str, str]:
    with db.connection() as conn:
        return {t: table_checksum(conn, t) for t in (*TABLES, "data_loads")}


def test_no_feed_is_a_clear_error(gtfs_db: Database, gtfs_settings: Settings) -> None:
    with pytest.raises(transit.NoFeedError, match="locus load gtfs"):
        transit.require_feed(gtfs_db, gtfs_settings)


def test_real_feed_loads_and_rebuilds_the_timetable(
    gtfs_settings: Settings, gtfs_db: Database, data_dir: Path
) -> None:
    summary = load_dataset(gtfs_settings, "gtfs", data_dir / FEED, region=IOW)
    assert summary.status == "loaded"
    assert summary.vintage == "2018-05-07/2050-01-01"
    assert summary.rows_loaded == {
        "transit_feeds": 1,
        "transit_stops": 315,
        "gtfs_routes": 8,
        "gtfs_trips": 97,
        "gtfs_stop_times": 2608,
        "gtfs_calendar": 11,
        "gtfs_calendar_dates": 0,
    }
    (feed,) = fetch(gtfs_db, "SELECT start_date, end_date, publisher, agencies FROM transit_feeds")
    ((vintage,),) = fetch(
        gtfs_db, "SELECT vintage FROM data_loads WHERE id = %(i)s", {"i": summary.load_id}
    )
    assert (feed.start_date, feed.end_date) == (dt.date(2018, 5, 7), dt.date(2050, 1, 1))
    assert vintage == "2018-05-07/2050-01-01"
    assert {a["agency_name"] for a in feed.agencies} == {"more Bus", "Southern Vectis", "FYTBus"}

    # Default service date: first Tuesday on or after 2018-05-07 (a Monday).
    active = transit.require_feed(gtfs_db, gtfs_settings)
    assert active.service_date == dt.date(2018, 5, 8)
    _, from_db = transit.get_timetable(gtfs_db, gtfs_settings, active)
    from_file = gtfs_timetable(data_dir / FEED, active.service_date)
    assert from_db.n_trips == from_file.n_trips == 24
    assert from_db.n_patterns == from_file.n_patterns
    assert sorted(from_db.trip_ids) == sorted(from_file.trip_ids)
    for name in ("arrival_s", "departure_s"):
        assert np.array_equal(np.sort(getattr(from_db, name)), np.sort(getattr(from_file, name)))
    assert np.allclose(np.sort(from_db.stop_x), np.sort(from_file.stop_x))

    again = load_dataset(gtfs_settings, "gtfs", data_dir / FEED, region=IOW)
    assert (again.status, again.load_id) == ("unchanged", summary.load_id)


def _broken_copy(src: Path, dest: Path) -> Path:
    """The real feed with stop_times.txt line 3 pointing at a stop that does not exist."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("stop_times.txt"):
                lines = data.decode("utf-8-sig").splitlines()
                header = lines[0].split(",")
                col = [h.strip().strip('"') for h in header].index("stop_id")
                cells = lines[2].split(",")
                cells[col] = '"NO_SUCH_STOP"'
                lines[2] = ",".join(cells)
                data = ("\n".join(lines) + "\n").encode()
            zout.writestr(info, data)
    return dest


def test_broken_feed_is_refused_and_changes_nothing(
    gtfs_settings: Settings, gtfs_db: Database, data_dir: Path, tmp_path: Path
) -> None:
    load_dataset(gtfs_settings, "gtfs", data_dir / FEED, region=IOW)  # the good feed is in place
    before = _checksums(gtfs_db)
    broken = _broken_copy(data_dir / FEED, tmp_path / "iow-broken.zip")
    with pytest.raises(LoadError) as err:
        load_dataset(gtfs_settings, "gtfs", broken, region=IOW)
    message = str(err.value)
    assert "iow-broken.zip: stop_times.txt row 3: unknown stop_id 'NO_SUCH_STOP'" in message
    assert len(err.value.rejects) == 1
    assert _checksums(gtfs_db) == before

    truncated = tmp_path / "truncated.zip"
    shutil.copy(data_dir / FEED, truncated)
    truncated.write_bytes(truncated.read_bytes()[:5000])
    with pytest.raises(LoadError, match=r"truncated\.zip"):
        load_dataset(gtfs_settings, "gtfs", truncated, region=IOW)
    assert _checksums(gtfs_db) == before
