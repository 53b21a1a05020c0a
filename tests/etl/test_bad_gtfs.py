"""Bad GTFS feeds built from the real Isle of Wight feed: each is refused by ``locus load gtfs``
with an error naming the member, the row and the field, and leaves every table as it was.

The feeds are the real zip with one member edited (or a zip bomb grown from one real row).
The database has the Isle of Wight and Rutland LSOAs (so both regions have an outline) and
the real feed loaded for the island, so "unchanged" covers a live feed, not empty tables.
"""

from __future__ import annotations

import io
import re
import struct
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from config.settings import Settings
from etl.datasets import load_dataset
from etl.gtfs_archive import Budget, GtfsError, GtfsLimits, read_bounded
from etl.loading import LoadError, LoadSummary
from store.connection import Database, close_databases, database
from tests.conftest import scratch_database, settings_for

from .conftest import RUTLAND
from .test_rutland_bundle import checksums

IOW = "E06000046"
FEED = "isle_of_wight/iow-bus-gtfs.zip"
#: Rutland as a WGS84 bbox (a ``--region`` given as minlon,minlat,maxlon,maxlat).
RUTLAND_BBOX = "-0.82,52.52,-0.43,52.76"
ST_HEADER = b'"trip_id","arrival_time","departure_time","stop_id","stop_sequence","timepoint"\r\n'
ST_ROW = b'9956,"09:30:00","09:30:00","2300105","1",0\r\n'

Edit = Callable[[bytes], bytes]


@pytest.fixture(scope="module")
def gtfs_scratch() -> Iterator[tuple[str, Engine]]:
    with scratch_database("locus_test_badgtfs") as (url, engine):
        try:
            yield url, engine
        finally:
            close_databases(url)


@pytest.fixture(scope="module")
def settings(gtfs_scratch: tuple[str, Engine]) -> Settings:
    return settings_for(gtfs_scratch[0])


@pytest.fixture(scope="module")
def db(settings: Settings) -> Database:
    return database(settings.database, purpose="batch")


@pytest.fixture(scope="module")
def loaded(settings: Settings, data_dir: Path) -> LoadSummary:
    """Both regions' LSOAs and the real feed (for the island), loaded once."""
    load_dataset(settings, "lsoa21", data_dir / "isle_of_wight/iow_lsoa21.geojson", region=IOW)
    load_dataset(settings, "lsoa21", data_dir / "rutland/rutland_lsoa21.geojson", region=RUTLAND)
    return load_dataset(settings, "gtfs", data_dir / FEED, region=IOW)


def limited(settings: Settings, **limits: float) -> Settings:
    """``settings`` with other ``gtfs_max_*`` limits (as ``LOCUS_TRANSIT_GTFS_MAX_*`` would)."""
    return settings.model_copy(update={"transit": settings.transit.model_copy(update=limits)})


def edited(data_dir: Path, dest: Path, edits: dict[str, Edit | None]) -> Path:
    """The real feed with ``edits`` applied to the named members (None drops a member); a
    zip comment makes even an unedited copy other bytes than the loaded feed."""
    with (
        zipfile.ZipFile(data_dir / FEED) as zin,
        zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zout,
    ):
        zout.comment = b"edited copy for test_bad_gtfs"
        for info in zin.infolist():
            if info.filename in edits:
                edit = edits[info.filename]
                if edit is not None:
                    zout.writestr(info.filename, edit(zin.read(info)))
            else:
                zout.writestr(info, zin.read(info))
    return dest


def line(n: int, new: bytes) -> Edit:
    """Replace line ``n`` of a member (1-based, header = 1)."""

    def edit(raw: bytes) -> bytes:
        lines = raw.split(b"\r\n")
        lines[n - 1] = new
        return b"\r\n".join(lines)

    return edit


def bomb(data_dir: Path, dest: Path, expanded_mb: int, *, lie: int | None = None) -> Path:
    """The real feed whose stop_times.txt is one real row repeated to ``expanded_mb`` MB.

    ``lie``: write that uncompressed size into the central directory instead of the truth.
    """
    block = ST_ROW * 25_000
    with (
        zipfile.ZipFile(data_dir / FEED) as zin,
        zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zout,
    ):
        for info in zin.infolist():
            if info.filename != "stop_times.txt":
                zout.writestr(info, zin.read(info))
                continue
            with zout.open("stop_times.txt", "w") as out:
                out.write(ST_HEADER)
                for _ in range(expanded_mb * (1 << 20) // len(block)):
                    out.write(block)
    if lie is not None:
        _declare_size(dest, "stop_times.txt", lie)
    return dest


def _declare_size(path: Path, member: str, size: int) -> None:
    """Overwrite ``member``'s uncompressed size in the zip's central directory."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        pos = zf.start_dir
    while data[pos : pos + 4] == b"PK\x01\x02":
        n_name, n_extra, n_comment = struct.unpack_from("<HHH", data, pos + 28)
        if data[pos + 46 : pos + 46 + n_name].decode() == member:
            struct.pack_into("<I", data, pos + 24, size)
        pos += 46 + n_name + n_extra + n_comment
    path.write_bytes(bytes(data))


def repeated(times: int) -> Edit:
    """stop_times.txt's rows repeated (a big member of real, moderately compressible text)."""

    def edit(raw: bytes) -> bytes:
        head, body = raw.split(b"\r\n", 1)
        return head + b"\r\n" + body * times

    return edit


def wide_stops(raw: bytes) -> bytes:
    """stops.txt with 100 more (empty) columns: 105 in all."""
    header, *rows = [ln for ln in raw.split(b"\r\n") if ln]
    names = b"".join(b",x%d" % i for i in range(100))
    return b"\r\n".join([header + names, *(row + b"," * 100 for row in rows)]) + b"\r\n"


def header_only(raw: bytes) -> bytes:
    """The header row alone."""
    return raw.split(b"\r\n", 1)[0] + b"\r\n"


def drop_column(col: bytes) -> Edit:
    """The member without column ``col`` (no quoted commas in the real stops.txt)."""

    def edit(raw: bytes) -> bytes:
        rows = [ln.split(b",") for ln in raw.split(b"\r\n") if ln]
        i = rows[0].index(b'"' + col + b'"')
        return b"\r\n".join(b",".join(r[:i] + r[i + 1 :]) for r in rows) + b"\r\n"

    return edit


def shifted_north(degrees: float) -> Edit:
    """Every stop moved ``degrees`` north (the island's stops land in the Midlands)."""

    def edit(raw: bytes) -> bytes:
        def move(m: re.Match[bytes]) -> bytes:
            return b'"%.5f"\r\n' % (float(m.group(1)) + degrees)

        return re.sub(rb'"(-?\d+\.\d+)"\r\n', move, raw)

    return edit


# (label, builder of the bad zip from (data dir, tmp dir), settings overrides, message regex)
Case = tuple[str, Callable[[Path, Path], Path], dict[str, float], str]


def _edits(edits: dict[str, Edit | None]) -> Callable[[Path, Path], Path]:
    return lambda data, tmp: edited(data, tmp / "iow-bad.zip", edits)


CASES: list[Case] = [
    (
        "beyond the file size limit",
        _edits({"stop_times.txt": repeated(12)}),
        {"gtfs_max_file_mb": 1},
        r"iow-bad\.zip: stop_times\.txt: 1\.5 MB uncompressed, more than the limit of 1\.0 MB "
        r"per file \(LOCUS_TRANSIT_GTFS_MAX_FILE_MB\)",
    ),
    (
        "beyond the total size limit",
        _edits({}),
        {"gtfs_max_total_mb": 0.1},
        r"iow-bad\.zip: the feed's files expand to 150\.4 KB in total \(largest stop_times\.txt, "
        r"127\.4 KB\), more than the limit of 102\.4 KB \(LOCUS_TRANSIT_GTFS_MAX_TOTAL_MB\)",
    ),
    (
        "compression ratio",
        _edits({"stop_times.txt": repeated(12)}),
        {"gtfs_max_ratio": 5},
        r"iow-bad\.zip: stop_times\.txt: compressed \d+ to 1 \(1\.5 MB from \d+\.\d KB\), more "
        r"than the limit of 5 to 1 \(LOCUS_TRANSIT_GTFS_MAX_RATIO\): a zip bomb\?",
    ),
    (
        "too many rows",
        _edits({}),
        {"gtfs_max_rows": 1000},
        r"iow-bad\.zip: stop_times\.txt: more than 1,000 rows, the limit per file "
        r"\(LOCUS_TRANSIT_GTFS_MAX_ROWS\)",
    ),
    (
        "too many columns",
        _edits({"stops.txt": wide_stops}),
        {},
        r"iow-bad\.zip: stops\.txt row 1: 105 columns in the header, more than the limit of 64 "
        r"\(LOCUS_TRANSIT_GTFS_MAX_COLUMNS\)",
    ),
    (
        "stop time past 48:00",
        _edits({"stop_times.txt": line(3, b'9956,"999:59:59","999:59:59","230000000913","34",1')}),
        {},
        r"iow-bad\.zip: stop_times\.txt row 3: arrival_time '999:59:59' is not before 48:00:00",
    ),
    (
        "stop time with 61 minutes",
        _edits({"stop_times.txt": line(3, b'9956,"09:61:00","09:30:34","230000000913","34",1')}),
        {},
        r"iow-bad\.zip: stop_times\.txt row 3: malformed arrival_time '09:61:00' "
        r"\(expected H:MM:SS\)",
    ),
    (
        "times going backwards along a trip",
        _edits({"stop_times.txt": line(4, b'9956,"09:30:00","09:30:00","230000054","35",1')}),
        {},
        r"iow-bad\.zip: stop_times\.txt row 4: times out of order in trip '9956': arrival "
        r"09:30:00 before the previous stop's departure 09:30:34 \(row 3\)",
    ),
    (
        "departure before arrival",
        _edits({"stop_times.txt": line(4, b'9956,"09:32:34","09:31:00","230000054","35",1')}),
        {},
        r"iow-bad\.zip: stop_times\.txt row 4: departure_time 09:31:00 before its arrival_time "
        r"09:32:34",
    ),
    (
        "missing required file",
        _edits({"trips.txt": None}),
        {},
        r"iow-bad\.zip: missing required file trips\.txt",
    ),
    (
        "missing required column",
        _edits({"stops.txt": drop_column(b"stop_lat")}),
        {},
        r"iow-bad\.zip: stops\.txt: missing required column\(s\) stop_lat",
    ),
    (
        "stop time of an unknown stop",
        _edits({"stop_times.txt": line(3, b'9956,"09:30:34","09:30:34","NO_SUCH_STOP","34",1')}),
        {},
        r"iow-bad\.zip: stop_times\.txt row 3: unknown stop_id 'NO_SUCH_STOP' "
        r"\(not in stops\.txt\)",
    ),
    (
        "stop time of an unknown trip",
        _edits({"stop_times.txt": line(3, b'77777,"09:30:34","09:30:34","230000000913","34",1')}),
        {},
        r"iow-bad\.zip: stop_times\.txt row 3: unknown trip_id '77777' \(not in trips\.txt\)",
    ),
    (
        "latitude not a number",
        _edits({"stops.txt": line(2, b'"230000003100","iowawtm","Shanklin","-1.179534","N50"')}),
        {},
        r"iow-bad\.zip: stops\.txt row 2: stop_lat 'N50' is not a number",
    ),
    (
        "latitude out of range",
        _edits({"stops.txt": line(2, b'"230000003100","iowawtm","Shanklin","-1.179534","95.1"')}),
        {},
        r"iow-bad\.zip: stops\.txt row 2: stop_lat '95\.1' is out of range -90\.\.90",
    ),
    (
        "infinite longitude",
        _edits({"stops.txt": line(2, b'"230000003100","iowawtm","Shanklin","1e400","50.63"')}),
        {},
        r"iow-bad\.zip: stops\.txt row 2: stop_lon '1e400' is not a finite number",
    ),
    (
        "stop outside Great Britain",
        _edits({"stops.txt": line(2, b'"230000003100","iowawtm","Shanklin","151.2","-33.9"')}),
        {},
        r"iow-bad\.zip: stops\.txt row 2: stop_lat '-33\.9', stop_lon '151\.2' lie outside "
        r"Great Britain",
    ),
    (
        "duplicate stop_id",
        _edits(
            {"stops.txt": line(3, b'"230000003100","iowdatd","Carter Avenue","-1.1875","50.6"')}
        ),
        {},
        r"iow-bad\.zip: stops\.txt row 3: duplicate stop_id '230000003100'",
    ),
    (
        "stop_times with no rows",
        _edits({"stop_times.txt": header_only}),
        {},
        r"iow-bad\.zip: stop_times\.txt: no rows",
    ),
    (
        "empty stop_times file",
        _edits({"stop_times.txt": lambda _: b""}),
        {},
        r"iow-bad\.zip: stop_times\.txt: empty file \(no header row\)",
    ),
    (
        "calendar with a bad date",
        _edits({"calendar.txt": line(2, b'22,0,0,1,0,0,0,0,"20180231","20500101"')}),
        {},
        r"iow-bad\.zip: calendar\.txt row 2: bad start_date '20180231' \(expected YYYYMMDD\)",
    ),
    (
        "calendar ending before it starts",
        _edits({"calendar.txt": line(2, b'22,0,0,1,0,0,0,0,"20180508","20170101"')}),
        {},
        r"iow-bad\.zip: calendar\.txt row 2: service '22' ends \(2017-01-01\) before it starts",
    ),
    (
        "bytes that are not UTF-8",
        _edits({"stops.txt": line(4, b'"230000003670","iowdgat","Blythe \xe9ay","-1.19","50.63"')}),
        {},
        r"iow-bad\.zip: stops\.txt row 4: not UTF-8 text \(byte 0xe9 at byte 34 of the line",
    ),
    (
        "feed wholly outside its region",
        _edits({"stops.txt": shifted_north(1.9)}),
        {},
        r"iow-bad\.zip: stops\.txt: none of the feed's 315 located stops lies in region "
        r"E06000046 \(stops: longitude -1\.654\.\.-1\.135, latitude 52\.526\.\.52\.685; region: "
        r"longitude -1\.\d+\.\.-1\.\d+, latitude 50\.\d+\.\.50\.\d+\); a feed wholly outside the "
        r"region is refused \(--allow-outside-region loads it anyway\)",
    ),
]


@pytest.mark.parametrize(
    ("make", "limits", "message"),
    [pytest.param(make, limits, msg, id=label) for label, make, limits, msg in CASES],
)
def test_bad_feed_is_refused_and_nothing_changes(
    settings: Settings,
    db: Database,
    loaded: LoadSummary,
    data_dir: Path,
    tmp_path: Path,
    make: Callable[[Path, Path], Path],
    limits: dict[str, float],
    message: str,
) -> None:
    path = make(data_dir, tmp_path)
    before = checksums(db)
    with pytest.raises(LoadError) as info:
        load_dataset(limited(settings, **limits), "gtfs", path, region=IOW)
    assert re.search(message, str(info.value)), str(info.value)
    assert "Traceback" not in str(info.value)
    assert checksums(db) == before


def test_the_real_feed_partly_outside_its_region_loads(loaded: LoadSummary) -> None:
    # Six stops are on the mainland (Lymington ferry, Sway): a feed crossing the edge is fine.
    assert loaded.status == "loaded"
    assert loaded.rows_loaded["transit_stops"] == 315
    assert "6 stops lie outside region E06000046 (kept: trips cross it)" in loaded.notes


def test_zip_bomb_at_the_default_limits_is_refused_before_decompressing(
    settings: Settings, db: Database, loaded: LoadSummary, data_dir: Path, tmp_path: Path
) -> None:
    path = bomb(data_dir, tmp_path / "iow-bomb.zip", 300)
    assert path.stat().st_size < 1 << 20  # under a megabyte on disk
    before = checksums(db)
    started = time.perf_counter()
    with pytest.raises(LoadError) as info:
        load_dataset(settings, "gtfs", path, region=IOW)
    elapsed = time.perf_counter() - started
    message = str(info.value)
    assert re.search(
        r"iow-bomb\.zip: stop_times\.txt: \d{3}\.\d MB uncompressed, more than the limit of "
        r"256\.0 MB per file \(LOCUS_TRANSIT_GTFS_MAX_FILE_MB\)",
        message,
    ), message
    assert re.search(
        r"iow-bomb\.zip: stop_times\.txt: compressed \d{3,4} to 1 \(\d{3}\.\d MB from "
        r"\d+\.\d KB\), more than the limit of 100 to 1 \(LOCUS_TRANSIT_GTFS_MAX_RATIO\): "
        r"a zip bomb\?",
        message,
    ), message
    # Headers checked before any byte is inflated: a load of the real feed takes longer.
    assert elapsed < 5.0
    assert checksums(db) == before


def test_zip_bomb_whose_header_lies_is_stopped_while_reading(
    settings: Settings, db: Database, loaded: LoadSummary, data_dir: Path, tmp_path: Path
) -> None:
    # 40 MB of stop times declared as 1,000 bytes: past every header check.
    path = bomb(data_dir, tmp_path / "iow-liar.zip", 40, lie=1000)
    before = checksums(db)
    started = time.perf_counter()
    with pytest.raises(LoadError) as info:
        load_dataset(limited(settings, gtfs_max_file_mb=1), "gtfs", path, region=IOW)
    assert re.search(
        r"iow-liar\.zip: corrupt or truncated zip \(Bad CRC-32 for file "
        r"'stop_times\.txt'\)",
        str(info.value),
    ), str(info.value)
    assert time.perf_counter() - started < 5.0
    assert checksums(db) == before


class Endless(io.BytesIO):
    """A stream that never ends (what a member whose headers lie could inflate to)."""

    served = 0

    def read(self, n: int | None = -1) -> bytes:
        size = n if n is not None and n > 0 else 1 << 20
        self.served += size
        return ST_ROW * (size // len(ST_ROW))


@pytest.mark.parametrize(
    ("limits", "packed", "message"),
    [
        (
            {"gtfs_max_file_mb": 3},
            None,
            r"^stop_times\.txt: 4\.0 MB read so far \(declared 1\.0 KB\), more than the limit "
            r"of 3\.0 MB per file \(LOCUS_TRANSIT_GTFS_MAX_FILE_MB\); reading stopped$",
        ),
        (
            {"gtfs_max_total_mb": 2},
            None,
            r"^stop_times\.txt: 2\.0 MB read so far \(declared 1\.0 KB\), with the files before "
            r"it 3\.0 MB, more than the limit of 2\.0 MB in total "
            r"\(LOCUS_TRANSIT_GTFS_MAX_TOTAL_MB\); reading stopped$",
        ),
        (
            {},
            20 * 1024,
            r"^stop_times\.txt: 2\.0 MB read so far \(declared 1\.0 KB\), more than 100 times "
            r"the 20\.0 KB it was compressed to \(LOCUS_TRANSIT_GTFS_MAX_RATIO\): a zip bomb\?; "
            r"reading stopped$",
        ),
        (
            {"gtfs_max_rows": 30_000},
            None,
            r"^stop_times\.txt: more than 30,000 rows, the limit per file "
            r"\(LOCUS_TRANSIT_GTFS_MAX_ROWS\)$",
        ),
    ],
    ids=["file size", "total size", "ratio", "rows"],
)
def test_member_whose_header_lies_is_counted_while_reading(
    settings: Settings, limits: dict[str, float], packed: int | None, message: str
) -> None:
    """Headers only say what a member should hold; the count stops an endless one."""
    gtfs_limits = GtfsLimits.from_settings(limited(settings, **limits).transit)
    budget = Budget(gtfs_limits)
    budget.used = 1 << 20  # another member read before this one
    stream = Endless()
    with pytest.raises(GtfsError) as info:
        read_bounded(
            Path("iow.zip"), "stop_times.txt", stream, declared=1024, packed=packed, budget=budget
        )
    [problem] = info.value.problems
    assert re.search(message, problem), problem
    assert stream.served <= 4 << 20  # stopped at the first chunk past the limit


@pytest.mark.parametrize("region", [RUTLAND, RUTLAND_BBOX], ids=["lad code", "bbox"])
def test_feed_wholly_outside_region_is_refused(
    settings: Settings,
    db: Database,
    loaded: LoadSummary,
    data_dir: Path,
    tmp_path: Path,
    region: str,
) -> None:
    before = checksums(db)
    with pytest.raises(LoadError) as info:
        load_dataset(settings, "gtfs", data_dir / FEED, region=region)
    assert re.search(
        rf"iow-bus-gtfs\.zip: stops\.txt: none of the feed's 315 located stops lies in region "
        rf"{re.escape(region)} \(stops: longitude -1\.654\.\.-1\.135, latitude "
        r"50\.626\.\.50\.785; region: longitude -0\.\d+\.\.-0\.\d+, latitude 52\.\d+\.\.52\.\d+\)",
        str(info.value),
    ), str(info.value)
    assert checksums(db) == before


def test_feed_outside_region_loads_when_asked(
    settings: Settings, db: Database, loaded: LoadSummary, data_dir: Path, tmp_path: Path
) -> None:
    # A copy (other bytes) so the refused loads above never see it as already loaded.
    path = edited(data_dir, tmp_path / "iow-for-rutland.zip", {})
    summary = load_dataset(settings, "gtfs", path, region=RUTLAND, allow_outside_region=True)
    assert summary.status == "loaded"
    assert summary.rows_loaded["transit_stops"] == 315
    assert (
        "no stop lies in region E06000017: loaded as asked (--allow-outside-region)"
        in summary.notes
    )
