"""Reading a GTFS feed's files within bounds, so a zip bomb cannot exhaust time or memory.

A 319 KB zip whose stop_times.txt expands to 300 MB used to be decompressed and parsed whole
(minutes, gigabytes). :func:`read_members` refuses it up front from the sizes the zip's central
directory declares (per file, in total, and the compression ratio), and then counts each
member as it decompresses in chunks, because headers can lie: reading stops at the first
chunk past a limit (size, total, ratio, rows, header columns). The limits come from
``LOCUS_TRANSIT_GTFS_MAX_*`` (:class:`config.settings.TransitSettings`), and each error names
the member, the value and the setting to change.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from config.settings import TransitSettings

__all__ = ["MAX_PROBLEMS", "Budget", "GtfsError", "GtfsLimits", "read_bounded", "read_members"]

MAX_PROBLEMS = 50
MB = 1 << 20
#: Members this small are not held to the compression-ratio limit (a few repeated lines
#: compress far and cannot hurt).
RATIO_FLOOR_BYTES = 1 * MB
#: Bytes decompressed per read while counting a member against the limits.
CHUNK_BYTES = 1 * MB


@dataclass(frozen=True)
class GtfsLimits:
    """Bounds on reading a feed, so that a zip bomb or an absurd file is refused in seconds
    with little memory (see :class:`config.settings.TransitSettings`, ``gtfs_max_*``).

    Attributes
    ----------
    max_file_bytes, max_total_bytes : int
        Uncompressed bytes of one member, and of every member read together.
    max_ratio : float
        Uncompressed to compressed bytes of one member (not applied below
        :data:`RATIO_FLOOR_BYTES`).
    max_rows, max_columns : int
        Data rows (header not counted) and header columns of one file.
    """

    max_file_bytes: int
    max_total_bytes: int
    max_ratio: float
    max_rows: int
    max_columns: int

    @classmethod
    def from_settings(cls, transit: TransitSettings) -> GtfsLimits:
        """The limits configured by ``LOCUS_TRANSIT_GTFS_MAX_*``."""
        return cls(
            max_file_bytes=int(transit.gtfs_max_file_mb * MB),
            max_total_bytes=int(transit.gtfs_max_total_mb * MB),
            max_ratio=transit.gtfs_max_ratio,
            max_rows=transit.gtfs_max_rows,
            max_columns=transit.gtfs_max_columns,
        )


class GtfsError(ValueError):
    """A GTFS feed that cannot be read or fails validation.

    Attributes
    ----------
    path : str
        The feed path as given.
    problems : list of str
        Every defect found, each ``"<file> row <line>: <problem>"`` (or ``"<file>: ..."``).
    """

    def __init__(self, path: str | Path, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = list(problems)
        shown = "\n  ".join(self.problems[:MAX_PROBLEMS])
        more = len(self.problems) - MAX_PROBLEMS
        tail = f"\n  ... and {more} more" if more > 0 else ""
        n = len(self.problems)
        super().__init__(
            f"invalid GTFS feed {self.path}: {n} problem{'s' if n != 1 else ''}:\n  {shown}{tail}"
        )


def _size(n_bytes: float) -> str:
    """A size as people read it: KB below a megabyte, MB above."""
    if n_bytes < MB:
        return f"{n_bytes / 1024:,.1f} KB"
    return f"{n_bytes / MB:,.1f} MB"


class Budget:
    """Bytes decompressed so far over the whole feed, against the limits."""

    def __init__(self, limits: GtfsLimits) -> None:
        self.limits = limits
        self.used = 0


def _check_declared(
    path: Path, sizes: dict[str, tuple[int, int | None]], limits: GtfsLimits
) -> None:
    """Refuse from the sizes a zip's headers (or a folder's files) declare, before reading.

    ``sizes`` maps member name to (uncompressed size, compressed size or None for a folder).
    """
    problems: list[str] = []
    for name, (size, packed) in sizes.items():
        if size > limits.max_file_bytes:
            problems.append(
                f"{name}: {_size(size)} uncompressed, more than the limit of "
                f"{_size(limits.max_file_bytes)} per file (LOCUS_TRANSIT_GTFS_MAX_FILE_MB)"
            )
        if packed is not None and size > max(RATIO_FLOOR_BYTES, limits.max_ratio * packed):
            problems.append(
                f"{name}: compressed {size / max(packed, 1):,.0f} to 1 ({_size(size)} from "
                f"{_size(packed)}), more than the limit of {limits.max_ratio:g} to 1 "
                "(LOCUS_TRANSIT_GTFS_MAX_RATIO): a zip bomb?"
            )
    total = sum(size for size, _ in sizes.values())
    if total > limits.max_total_bytes:
        largest = max(sizes, key=lambda n: sizes[n][0])
        problems.append(
            f"the feed's files expand to {_size(total)} in total (largest {largest}, "
            f"{_size(sizes[largest][0])}), more than the limit of {_size(limits.max_total_bytes)} "
            "(LOCUS_TRANSIT_GTFS_MAX_TOTAL_MB)"
        )
    if problems:
        raise GtfsError(path, problems)


def _check_header(path: Path, name: str, first: bytes, limits: GtfsLimits) -> None:
    """Refuse a header row with more columns than the limit (seen in the first chunk)."""
    line = first.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    n = len(next(csv.reader([line]), []))
    if n > limits.max_columns:
        raise GtfsError(
            path,
            [
                f"{name} row 1: {n} columns in the header, more than the limit of "
                f"{limits.max_columns} (LOCUS_TRANSIT_GTFS_MAX_COLUMNS)"
            ],
        )


def read_bounded(
    path: Path,
    name: str,
    stream: IO[bytes],
    *,
    declared: int,
    packed: int | None,
    budget: Budget,
) -> bytearray:
    """A member's bytes, read in chunks and counted as they come.

    ``declared`` is the size the zip's header (or the file system) gave, ``packed`` the
    compressed bytes it came from (None for a plain file); ``budget`` counts the bytes of the
    feed's members read so far. Whatever the headers said, reading stops at the first chunk
    past a limit (size, total, ratio, rows, header columns) with a :class:`GtfsError`.
    """
    limits = budget.limits
    ratio_cap = (
        max(RATIO_FLOOR_BYTES, limits.max_ratio * packed) if packed is not None else math.inf
    )
    out = bytearray()
    newlines = 0
    while chunk := stream.read(CHUNK_BYTES):
        if not out:
            _check_header(path, name, chunk, limits)
        out += chunk
        size = len(out)
        newlines += chunk.count(b"\n")
        problem = None
        if size > limits.max_file_bytes:
            problem = (
                f"more than the limit of {_size(limits.max_file_bytes)} per file "
                "(LOCUS_TRANSIT_GTFS_MAX_FILE_MB)"
            )
        elif budget.used + size > limits.max_total_bytes:
            problem = (
                f"with the files before it {_size(budget.used + size)}, more than the limit "
                f"of {_size(limits.max_total_bytes)} in total (LOCUS_TRANSIT_GTFS_MAX_TOTAL_MB)"
            )
        elif size > ratio_cap:
            problem = (
                f"more than {limits.max_ratio:g} times the {_size(packed or 0)} it was "
                "compressed to (LOCUS_TRANSIT_GTFS_MAX_RATIO): a zip bomb?"
            )
        elif newlines > limits.max_rows + 1:
            raise GtfsError(
                path,
                [
                    f"{name}: more than {limits.max_rows:,} rows, the limit per file "
                    "(LOCUS_TRANSIT_GTFS_MAX_ROWS)"
                ],
            )
        if problem is not None:
            raise GtfsError(
                path,
                [
                    f"{name}: {_size(size)} read so far (declared {_size(declared)}), {problem}; "
                    "reading stopped"
                ],
            )
    budget.used += len(out)
    return out


def read_members(
    path: Path, wanted: set[str], limits: GtfsLimits
) -> tuple[dict[str, bytes | bytearray], dt.datetime | None]:
    """Raw bytes of each ``wanted`` member of a zip (at any folder depth) or folder, keyed by
    base name, read within ``limits``, and the latest modification time of those files.

    Raises
    ------
    GtfsError
        A missing path, not a zip, a corrupt or truncated zip, a name twice, or any limit
        passed (each problem naming the member and the setting).
    """
    if not path.exists():
        raise GtfsError(path, [f"{path}: no such file or folder"])
    out: dict[str, bytes | bytearray] = {}
    budget = Budget(limits)
    if path.is_dir():
        files = {n: path / n for n in sorted(wanted) if (path / n).is_file()}
        sizes = {n: f.stat().st_size for n, f in files.items()}
        _check_declared(path, {n: (s, None) for n, s in sizes.items()}, limits)
        for name, file in files.items():
            with file.open("rb") as stream:
                out[name] = read_bounded(
                    path, name, stream, declared=sizes[name], packed=None, budget=budget
                )
        modified = [dt.datetime.fromtimestamp(f.stat().st_mtime) for f in files.values()]
        return out, max(modified) if modified else None
    if not zipfile.is_zipfile(path):
        raise GtfsError(path, [f"{path.name}: not a zip file (truncated or not GTFS)"])
    archive_bytes = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as zf:
            members: dict[str, zipfile.ZipInfo] = {}
            for info in zf.infolist():
                base = info.filename.rsplit("/", 1)[-1]
                if base not in wanted or info.is_dir():
                    continue
                if base in members:
                    raise GtfsError(path, [f"{path.name}: {base} appears twice in the zip"])
                members[base] = info
            # A member cannot hold more compressed bytes than the archive has.
            packed = {b: min(i.compress_size, archive_bytes) for b, i in members.items()}
            _check_declared(path, {b: (i.file_size, packed[b]) for b, i in members.items()}, limits)
            for base, info in members.items():
                with zf.open(info) as stream:
                    out[base] = read_bounded(
                        path,
                        base,
                        stream,
                        declared=info.file_size,
                        packed=packed[base],
                        budget=budget,
                    )
            stamps = [dt.datetime(*i.date_time) for i in members.values()]
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise GtfsError(path, [f"{path.name}: corrupt or truncated zip ({exc})"]) from exc
    except (NotImplementedError, RuntimeError) as exc:  # unknown compression, encrypted
        raise GtfsError(path, [f"{path.name}: cannot read the zip ({exc})"]) from exc
    return out, max(stamps) if stamps else None
