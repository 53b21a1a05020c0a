"""GTFS reader and validator on the real Isle of Wight feed, and on copies of it with one
defect each (built by copying the real zip's members into a temporary zip)."""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from etl.gtfs import GtfsError, GtfsFeed, feed_vintage, read_gtfs

Edit = Callable[[list[str]], list[str]] | None  # lines in, lines out; None drops the file


@pytest.fixture(scope="module")
def gtfs_zip(data_dir: Path) -> Path:
    return data_dir / "isle_of_wight" / "iow-bus-gtfs.zip"


@pytest.fixture(scope="module")
def feed(gtfs_zip: Path) -> GtfsFeed:
    return read_gtfs(gtfs_zip)


def broken(src: Path, dst: Path, edits: dict[str, Edit]) -> Path:
    """Copy the feed's members into ``dst``, applying ``edits`` per member name."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            text = zin.read(name).decode("utf-8")
            if name in edits:
                edit = edits[name]
                if edit is None:
                    continue
                text = "\n".join(edit(text.splitlines())) + "\n"
            zout.writestr(name, text)
        for name, edit in edits.items():
            if name not in zin.namelist() and edit is not None:
                zout.writestr(name, "\n".join(edit([])) + "\n")
    return dst


def set_line(n: int, new: str) -> Callable[[list[str]], list[str]]:
    """Replace line ``n`` (1-based, header = 1)."""

    def edit(lines: list[str]) -> list[str]:
        return [*lines[: n - 1], new, *lines[n:]]

    return edit


def problems_of(path: Path) -> list[str]:
    with pytest.raises(GtfsError) as info:
        read_gtfs(path)
    assert isinstance(info.value, ValueError)
    return info.value.problems


def test_real_feed(feed: GtfsFeed) -> None:
    assert (len(feed.agency), len(feed.stops), len(feed.routes)) == (3, 315, 8)
    assert (len(feed.trips), len(feed.stop_times)) == (97, 2608)
    assert (len(feed.calendar), len(feed.calendar_dates)) == (11, 0)
    first = feed.stop_times[feed.stop_times.trip_id == "9956"].iloc[0]
    assert (first.stop_id, first.arrival_s, first.departure_s) == ("2300105", 34200, 34200)
    assert feed.stop_times["arrival_s"].max() == 17 * 3600 + 48 * 60
    assert not feed.stop_times["interpolated"].any()
    # Shanklin Bus Station in British National Grid (about 458,124 E, 81,649 N).
    shanklin = feed.stops.set_index("stop_id").loc["230000003100"]
    assert shanklin.x == pytest.approx(458124.0, abs=1.0)
    assert shanklin.y == pytest.approx(81649.1, abs=1.0)
    island = feed.stops[feed.stops.stop_id.str.startswith("2300")]
    assert island.x.between(425_000, 465_000).all()
    assert island.y.between(75_000, 97_000).all()
    assert feed.calendar["tuesday"].sum() == 2 + 1  # services 25, 14, 12


def test_vintage(feed: GtfsFeed, gtfs_zip: Path, tmp_path: Path) -> None:
    v = feed_vintage(feed)
    assert v == feed.vintage
    assert (v.start_date, v.end_date, v.source) == (
        dt.date(2018, 5, 7),
        dt.date(2050, 1, 1),
        "calendar",
    )
    assert v.files_modified == dt.datetime(2019, 5, 1, 10, 30, 20)
    assert v.publisher == "more Bus; Southern Vectis; FYTBus"
    info = [
        "feed_publisher_name,feed_publisher_url,feed_lang,feed_start_date,feed_end_date,feed_version",
        "Traveline,http://example.org,en,20190501,20190630,2019-05",
    ]
    path = broken(gtfs_zip, tmp_path / "info.zip", {"feed_info.txt": lambda _: info})
    v = read_gtfs(path).vintage
    assert (v.start_date, v.end_date, v.source) == (
        dt.date(2019, 5, 1),
        dt.date(2019, 6, 30),
        "feed_info",
    )
    assert (v.feed_version, v.publisher) == ("2019-05", "Traveline")


def test_folder_and_subfolder(gtfs_zip: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(gtfs_zip) as zf:
        zf.extractall(tmp_path / "dir")
        nested = tmp_path / "nested.zip"
        with zipfile.ZipFile(nested, "w") as out:
            for name in zf.namelist():
                out.writestr(f"gtfs/{name}", zf.read(name))
    assert len(read_gtfs(tmp_path / "dir").stop_times) == 2608
    assert len(read_gtfs(nested).trips) == 97


def test_not_a_zip_and_truncated(gtfs_zip: Path, tmp_path: Path) -> None:
    text = tmp_path / "feed.zip"
    text.write_text("route_id,service_id\n")
    assert problems_of(text) == ["feed.zip: not a zip file (truncated or not GTFS)"]
    data = gtfs_zip.read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[: len(data) // 2])
    [msg] = problems_of(cut)
    assert msg.startswith("cut.zip: ")
    assert "truncated" in msg or "corrupt" in msg
    with pytest.raises(GtfsError, match="no such file"):
        read_gtfs(tmp_path / "absent.zip")


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        (["stops.txt"], ["missing required file stops.txt"]),
        (["stop_times.txt"], ["missing required file stop_times.txt"]),
        (
            ["calendar.txt", "calendar_dates.txt"],
            ["missing required file calendar.txt or calendar_dates.txt"],
        ),
    ],
)
def test_missing_files(
    gtfs_zip: Path, tmp_path: Path, drop: list[str], expected: list[str]
) -> None:
    path = broken(gtfs_zip, tmp_path / "f.zip", dict.fromkeys(drop))
    assert problems_of(path) == expected


def test_calendar_dates_alone_is_enough(gtfs_zip: Path, tmp_path: Path) -> None:
    rows = ["service_id,date,exception_type"] + [
        f"{s},20190514,1" for s in (8, 9, 10, 11, 12, 14, 19, 21, 22, 25, 26)
    ]
    path = broken(
        gtfs_zip, tmp_path / "f.zip", {"calendar.txt": None, "calendar_dates.txt": lambda _: rows}
    )
    feed = read_gtfs(path)
    assert len(feed.calendar) == 0
    assert len(feed.calendar_dates) == 11
    assert (feed.vintage.start_date, feed.vintage.end_date) == (dt.date(2019, 5, 14),) * 2


def test_missing_column(gtfs_zip: Path, tmp_path: Path) -> None:
    def no_lat(lines: list[str]) -> list[str]:
        return [",".join(line.split(",")[:4]) for line in lines]

    path = broken(gtfs_zip, tmp_path / "f.zip", {"stops.txt": no_lat})
    assert problems_of(path) == ["stops.txt: missing required column(s) stop_lat"]
    # Every file is checked: both missing columns are reported.
    path = broken(
        gtfs_zip,
        tmp_path / "g.zip",
        {
            "stops.txt": no_lat,
            "trips.txt": lambda lines: [",".join(ln.split(",")[::2]) for ln in lines],
        },
    )
    assert problems_of(path) == [
        "stops.txt: missing required column(s) stop_lat",
        "trips.txt: missing required column(s) service_id",
    ]


def test_unknown_references(gtfs_zip: Path, tmp_path: Path) -> None:
    path = broken(
        gtfs_zip,
        tmp_path / "f.zip",
        {
            "stop_times.txt": set_line(3, '9956,"09:30:34","09:30:34","999999","34",1'),
            "trips.txt": set_line(2, "999,26,9956"),
        },
    )
    assert problems_of(path) == [
        "trips.txt row 2: unknown route_id '999' (not in routes.txt)",
        "stop_times.txt row 3: unknown stop_id '999999' (not in stops.txt)",
    ]
    path = broken(
        gtfs_zip,
        tmp_path / "g.zip",
        {
            "stop_times.txt": set_line(3, '12345,"09:30:34","09:30:34","230000000913","34",1'),
            "trips.txt": set_line(3, "352,77,9957"),
        },
    )
    assert problems_of(path) == [
        "trips.txt row 3: unknown service_id '77' (not in calendar.txt/calendar_dates.txt)",
        "stop_times.txt row 3: unknown trip_id '12345' (not in trips.txt)",
    ]


def test_times_out_of_order(gtfs_zip: Path, tmp_path: Path) -> None:
    # Line 4 (stop 35 of trip 9956) arrives before line 3 (stop 34) departs at 09:30:34.
    path = broken(
        gtfs_zip,
        tmp_path / "f.zip",
        {"stop_times.txt": set_line(4, '9956,"09:30:00","09:32:34","230000054","35",1')},
    )
    assert problems_of(path) == [
        "stop_times.txt row 4: times out of order in trip '9956': arrival 09:30:00 before "
        "the previous stop's departure 09:30:34 (row 3)"
    ]
    path = broken(
        gtfs_zip,
        tmp_path / "g.zip",
        {"stop_times.txt": set_line(4, '9956,"09:32:34","09:31:00","230000054","35",1')},
    )
    assert problems_of(path) == [
        "stop_times.txt row 4: departure_time 09:31:00 before its arrival_time 09:32:34"
    ]


def test_malformed_times(gtfs_zip: Path, tmp_path: Path) -> None:
    path = broken(
        gtfs_zip,
        tmp_path / "f.zip",
        {"stop_times.txt": set_line(4, '9956,"9:3O:00","09:32:34","230000054","35",1')},
    )
    assert problems_of(path) == [
        "stop_times.txt row 4: malformed arrival_time '9:3O:00' (expected H:MM:SS)"
    ]
    path = broken(
        gtfs_zip,
        tmp_path / "g.zip",
        {"stop_times.txt": set_line(2, '9956,"","","2300105","1",0')},
    )
    assert problems_of(path) == ["stop_times.txt row 2: first/last stop of a trip has no time"]


def test_untimed_stop_is_interpolated(gtfs_zip: Path, tmp_path: Path) -> None:
    # Stop 35 of trip 9956 lies between 09:30:34 (row 3) and 09:33:47 (row 5).
    path = broken(
        gtfs_zip,
        tmp_path / "f.zip",
        {"stop_times.txt": set_line(4, '9956,"","","230000054","35",1')},
    )
    st = read_gtfs(path).stop_times
    row = st[(st.trip_id == "9956") & (st.stop_sequence == 35)].iloc[0]
    assert bool(row.interpolated)
    assert row.arrival_s == row.departure_s == int(np.round((34234 + 34427) / 2))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '22,0,0,1,0,0,0,0,"20180508","20180501"',
            "calendar.txt row 2: service '22' ends (2018-05-01) before it starts (2018-05-08)",
        ),
        (
            '22,0,0,1,0,0,0,0,"20181340","20500101"',
            "calendar.txt row 2: bad start_date '20181340' (expected YYYYMMDD)",
        ),
        (
            '22,0,0,1,0,0,0,0,"2018-05-08","20500101"',
            "calendar.txt row 2: bad start_date '2018-05-08' (expected YYYYMMDD)",
        ),
        (
            '22,0,0,0,0,0,0,0,"20180508","20500101"',
            "calendar.txt row 2: service '22' runs on no day (all weekday flags 0 and no dates "
            "added in calendar_dates.txt)",
        ),
        (
            '22,0,0,2,0,0,0,0,"20180508","20500101"',
            "calendar.txt row 2: bad wednesday '2' (expected one of [0, 1])",
        ),
    ],
)
def test_calendar_problems(gtfs_zip: Path, tmp_path: Path, line: str, expected: str) -> None:
    path = broken(gtfs_zip, tmp_path / "f.zip", {"calendar.txt": set_line(2, line)})
    assert problems_of(path) == [expected]


def test_message_names_file_and_row(gtfs_zip: Path, tmp_path: Path) -> None:
    path = broken(
        gtfs_zip,
        tmp_path / "f.zip",
        {"stop_times.txt": set_line(10, '9956,"09:44:50","09:44:50","nowhere","41",1')},
    )
    with pytest.raises(GtfsError) as info:
        read_gtfs(path)
    text = str(info.value)
    assert text.startswith(f"invalid GTFS feed {path}: 1 problem:")
    assert "stop_times.txt row 10: unknown stop_id 'nowhere' (not in stops.txt)" in text
