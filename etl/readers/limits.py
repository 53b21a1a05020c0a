"""Bounded reading: every input file is refused with a named error before it can exhaust memory.

The bounds are ``settings.load`` (:class:`config.settings.LoadSettings`, ``LOCUS_LOAD_*``):
size on disk, bytes of content read (after decompression: a gzip bomb stops at the limit, or
earlier at the compression-ratio check), rows and columns. Each error states the limit and
the setting that raises it.

Readers share one signature, ``(path, region, progress)``, with the GTFS and road-network
readers, so the bounds are not an argument: :func:`etl.datasets.load_dataset` sets the load's
bounds around the read with :func:`read_limits`, and the reading helpers look them up with
:func:`current_limits` (the documented defaults when no load set them, e.g. an upload).
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import BinaryIO

from config.settings import LoadSettings
from etl.loading import LoadError

__all__ = [
    "check_columns",
    "check_rows",
    "check_size",
    "check_zip_members",
    "current_limits",
    "open_content",
    "read_content",
    "read_limits",
]

MB = 1_000_000
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"

# The defaults as documented, never the environment: a process's settings come from its
# entry point (which sets them with read_limits).
_DEFAULTS = LoadSettings.model_construct()
_CURRENT: ContextVar[LoadSettings] = ContextVar("locus_read_limits", default=_DEFAULTS)


@contextmanager
def read_limits(limits: LoadSettings) -> Iterator[LoadSettings]:
    """Read with ``limits`` inside the block (one load; per thread and task)."""
    token = _CURRENT.set(limits)
    try:
        yield limits
    finally:
        _CURRENT.reset(token)


def current_limits() -> LoadSettings:
    """The bounds of the read in progress."""
    return _CURRENT.get()


def _mb(n_bytes: float) -> str:
    return f"{n_bytes / MB:,.1f} MB"


def check_size(path: Path) -> None:
    """Refuse a file larger on disk than ``LOCUS_LOAD_MAX_FILE_MB``."""
    limits = current_limits()
    size = path.stat().st_size
    if size > limits.max_file_mb * MB:
        raise LoadError(
            path,
            f"the file is {_mb(size)}, more than the {limits.max_file_mb:g} MB "
            "LOCUS_LOAD_MAX_FILE_MB allows",
        )


def check_rows(path: Path, count: int, what: str = "data rows") -> None:
    """Refuse more than ``LOCUS_LOAD_MAX_ROWS`` rows (``what``: rows, features...)."""
    limit = current_limits().max_rows
    if count > limit:
        raise LoadError(
            path, f"more than {limit:,} {what}: LOCUS_LOAD_MAX_ROWS={limit} is the limit"
        )


def check_columns(path: Path, count: int) -> None:
    """Refuse a table wider than ``LOCUS_LOAD_MAX_COLUMNS``."""
    limit = current_limits().max_columns
    if count > limit:
        raise LoadError(
            path,
            f"{count:,} columns, more than LOCUS_LOAD_MAX_COLUMNS={limit} allows",
        )


class _Bounded(io.RawIOBase):
    """A readable stream counting the bytes it yields; past a bound it raises LoadError.

    ``compressed`` is the file under a decompressing ``raw``: the ratio is measured against
    the compressed bytes consumed so far, so a bomb is stopped early in its expansion.
    """

    def __init__(self, raw: BinaryIO, path: Path, *, compressed: BinaryIO | None) -> None:
        self._raw = raw
        self._path = path
        self._compressed = compressed
        self._count = 0
        limits = current_limits()
        self._max = limits.max_uncompressed_mb * MB
        self._ratio = limits.max_compression_ratio
        self._ratio_after = limits.ratio_check_after_mb * MB
        self._limits = limits

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        self._count += n
        self._check()
        return int(n)

    def _check(self) -> None:
        if self._count > self._max:
            packed = " uncompressed" if self._compressed is not None else ""
            limit = self._limits.max_uncompressed_mb
            raise LoadError(
                self._path,
                f"the content is more than {limit:g} MB{packed}: "
                f"LOCUS_LOAD_MAX_UNCOMPRESSED_MB={limit:g} is the limit",
            )
        if (
            self._compressed is not None
            and self._count > self._ratio_after
            and self._count > self._ratio * max(self._compressed.tell(), 1)
        ):
            raise LoadError(
                self._path,
                f"the gzip file expands more than {self._ratio:g} times "
                "(LOCUS_LOAD_MAX_COMPRESSION_RATIO): a gzip bomb, not a data file",
            )


def _magic(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(4)


@contextmanager
def open_content(path: Path) -> Iterator[BinaryIO]:
    """The bytes of a plain or gzip-compressed file (by its first bytes, whatever its name),
    bounded by ``LOCUS_LOAD_MAX_UNCOMPRESSED_MB`` and the compression ratio.

    A zip archive is refused (unpack it first): a CSV inside could be any of its members.
    """
    check_size(path)
    magic = _magic(path)
    if magic.startswith(ZIP_MAGIC):
        raise LoadError(path, "the file is a zip archive: unpack it and load the file inside")
    with ExitStack() as stack:
        raw = stack.enter_context(path.open("rb"))
        source: BinaryIO = raw
        compressed: BinaryIO | None = None
        if magic.startswith(GZIP_MAGIC):
            source = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))  # type: ignore[assignment]
            compressed = raw
        bounded = _Bounded(source, path, compressed=compressed)
        yield stack.enter_context(io.BufferedReader(bounded, buffer_size=1 << 20))


def read_content(path: Path) -> bytes:
    """All the bytes of a plain or gzip file, within the bounds of :func:`open_content`."""
    with open_content(path) as handle:
        return handle.read()


def check_zip_members(path: Path) -> None:
    """An ``.xlsx`` (a zip): refuse members that expand beyond the bounds, before reading.

    Not a zip (an old ``.xls``): nothing to check beyond its size on disk.
    """
    check_size(path)
    if not zipfile.is_zipfile(path):
        return
    limits = current_limits()
    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise LoadError(path, f"truncated or corrupted workbook ({exc})") from exc
    if expanded > limits.max_uncompressed_mb * MB:
        raise LoadError(
            path,
            f"the workbook expands to {_mb(expanded)}, more than the "
            f"{limits.max_uncompressed_mb:g} MB LOCUS_LOAD_MAX_UNCOMPRESSED_MB allows",
        )
    size = path.stat().st_size
    if expanded > limits.ratio_check_after_mb * MB and expanded > (
        limits.max_compression_ratio * size
    ):
        raise LoadError(
            path,
            f"the {_mb(size)} workbook expands to {_mb(expanded)}, more than "
            f"{limits.max_compression_ratio:g} times (LOCUS_LOAD_MAX_COMPRESSION_RATIO): "
            "a zip bomb, not a workbook",
        )
