"""Shared helpers for the file readers: safe CSV/JSON/spreadsheet opening, code patterns,
coordinate transforms and region filtering.

Everything that can go wrong with an input file is turned into a :class:`~etl.loading.LoadError`
naming the file (and the row where there is one) — a reader never lets a raw traceback from
pandas, gzip, zipfile or json reach the user.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import python_calamine
import shapely
from shapely.geometry.base import BaseGeometry

from etl.loading import LoadError, Region, Reject
from etl.readers.limits import (
    check_columns,
    check_rows,
    check_size,
    check_zip_members,
    open_content,
)
from spatial.crs import wgs84_to_bng

#: LSOA (E01/W01), MSOA (E02/W02) and local authority codes.
LSOA_RE = re.compile(r"^[EW]01\d{6}$")
MSOA_RE = re.compile(r"^[EW]02\d{6}$")
LAD_RE = re.compile(r"^[EWSN]\d{8}$")
#: ODS organisation codes are 3 to 6 upper-case letters and digits (A81001, FA123, RT5PC).
ODS_RE = re.compile(r"^[A-Z0-9]{3,6}$")
#: A full UK postcode (normalised: upper case, one space before the inward code).
POSTCODE_RE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}$")
#: An outward code alone ("M31"), as some registers publish for unaddressed land.
OUTWARD_RE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")

# Great Britain in British National Grid (metres) and in WGS84 (degrees), generous.
BNG_BOUNDS = (0.0, 0.0, 700_000.0, 1_300_000.0)
UK_LONLAT_BOUNDS = (-9.0, 49.0, 2.5, 61.0)

READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    gzip.BadGzipFile,
    zlib.error,
    zipfile.BadZipFile,
    UnicodeDecodeError,
    ValueError,
    KeyError,
    pd.errors.ParserError,
    pd.errors.EmptyDataError,
)


class Progress(Protocol):
    """Progress callback: ``completed`` units (rows) so far of ``total`` (None when unknown)."""

    def __call__(self, completed: int, total: int | None) -> None: ...


def report(progress: Progress | None, completed: int, total: int | None) -> None:
    """Call ``progress`` when one is given."""
    if progress is not None:
        progress(completed, total)


def require_file(path: Path) -> None:
    """A missing, empty or too large file is a :class:`LoadError` naming the path."""
    if not path.is_file():
        raise LoadError(path, f"file not found: {path}")
    if path.stat().st_size == 0:
        raise LoadError(path, "file is empty")
    check_size(path)


def describe_error(exc: BaseException) -> str:
    """A one-line, user-facing reason for a read failure."""
    if isinstance(exc, EOFError | gzip.BadGzipFile | zlib.error):
        return f"truncated or corrupted compressed file ({exc})"
    if isinstance(exc, zipfile.BadZipFile):
        return f"truncated or corrupted spreadsheet ({exc})"
    if isinstance(exc, UnicodeDecodeError):
        return f"not valid UTF-8 text at byte {exc.start}"
    if isinstance(exc, pd.errors.ParserError):
        return f"malformed CSV ({str(exc).strip()})"
    if isinstance(exc, pd.errors.EmptyDataError):
        return "no data in file"
    return f"cannot read file ({type(exc).__name__}: {exc})"


def read_csv(
    path: Path,
    *,
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
    chunksize: int = 50_000,
    encoding: str = "utf-8-sig",
) -> pd.DataFrame:
    """Read a CSV (plain or gzip) as strings, with a ``_row`` column of file line numbers.

    With ``names`` the file has no header row and line 1 is the first data row; otherwise
    line 1 is the header and data start on line 2. Empty cells are ``""``; lines with no
    value at all (blank, or separators only) carry no record and are skipped. Reading is
    bounded (:mod:`etl.readers.limits`): content bytes, rows and columns.
    """
    require_file(path)
    line, fields = _first_record(path, encoding)
    if names is not None and len(fields) != len(names):
        raise LoadError(
            path,
            f"expected {len(names)} columns (no header row), found {len(fields)} on line {line}",
        )
    # Data start on line 1 of a headerless file, else on the line after the header (blank
    # lines above it are skipped).
    first = 1 if names is not None else line + 1
    frames: list[pd.DataFrame] = []
    done = 0
    try:
        with open_content(path) as handle:
            reader = pd.read_csv(
                handle,
                header=None if names is not None else 0,
                names=list(names) if names is not None else None,
                skiprows=None if names is not None else line - 1,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=False,
                encoding=encoding,
                chunksize=chunksize,
                on_bad_lines="error",
            )
            with reader:
                for chunk in reader:
                    if not frames:
                        check_columns(path, chunk.shape[1])
                    chunk.insert(0, "_row", np.arange(done, done + len(chunk)) + first)
                    done += len(chunk)
                    check_rows(path, done)
                    frames.append(_without_blank_lines(chunk))
                    report(progress, done, None)
    except pd.errors.ParserError as exc:
        raise LoadError(path, [_parser_reject(exc)]) from exc
    except UnicodeDecodeError as exc:
        raise LoadError(path, [_undecodable(path, encoding)]) from exc
    except READ_ERRORS as exc:
        raise LoadError(path, describe_error(exc)) from exc
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not len(frame):
        raise LoadError(path, "no data rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.fillna("")


def _first_record(path: Path, encoding: str) -> tuple[int, list[str]]:
    """The line number and fields of the first line holding a value (the header row, or a
    headerless file's first record)."""
    try:
        with open_content(path) as handle:
            text = io.TextIOWrapper(handle, encoding=encoding, newline="")
            reader = csv.reader(text)
            for fields in reader:
                if any(f.strip() for f in fields):
                    return reader.line_num, fields
    except UnicodeDecodeError as exc:
        raise LoadError(path, [_undecodable(path, encoding)]) from exc
    except csv.Error as exc:
        raise LoadError(path, f"malformed CSV ({exc})") from exc
    raise LoadError(path, "no data rows")


def _without_blank_lines(chunk: pd.DataFrame) -> pd.DataFrame:
    """The chunk without lines that hold no value: blank, whitespace only, or separators
    only (``,,,``)."""
    values = chunk.drop(columns="_row")
    if values.empty:
        return chunk
    # Whole-column comparisons first (fast); only lines whose other fields are all empty can
    # be a line of whitespace, so only their first field is stripped.
    rest_empty = (values.iloc[:, 1:] == "").all(axis=1)
    first = values.iloc[:, 0]
    blank = rest_empty & (first == "")
    maybe_space = rest_empty & ~blank
    if maybe_space.any():
        blank[maybe_space] = first[maybe_space].str.strip() == ""
    return chunk[~blank.to_numpy(dtype=bool)] if blank.any() else chunk


def _undecodable(path: Path, encoding: str) -> Reject:
    """The first line that is not valid text in ``encoding``, as a reject with its number."""
    with open_content(path) as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError as exc:
                return Reject(
                    number,
                    f"byte {line[exc.start]:#04x} at character {exc.start + 1} is not valid "
                    "UTF-8 text (save the file as UTF-8)",
                )
    return Reject(None, "not valid UTF-8 text (save the file as UTF-8)")


def _parser_reject(exc: pd.errors.ParserError) -> Reject:
    """A pandas tokenizer error as a reject with the file's 1-based line number."""
    message = str(exc).strip()
    if m := re.search(r"EOF inside string starting at row (\d+)", message):
        return Reject(int(m.group(1)) + 1, "file ends inside a quoted field (truncated file?)")
    if m := re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message):
        return Reject(int(m.group(2)), f"expected {m.group(1)} fields, found {m.group(3)}")
    return Reject(None, f"malformed CSV ({message})")


def require_columns(path: Path, frame: pd.DataFrame, required: Iterable[str]) -> None:
    """Refuse a file lacking any of ``required`` columns, naming the missing and found ones."""
    present = [c for c in frame.columns if c != "_row"]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise LoadError(
            path,
            f"missing column(s) {', '.join(repr(m) for m in missing)}; "
            f"the file has {', '.join(repr(p) for p in present[:40])}",
        )


def normalise_postcode(value: Any) -> str:
    """Upper case with exactly one space before the 3-character inward code ('' if blank)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    compact = re.sub(r"\s+", "", str(value)).upper()
    if len(compact) > 3 and compact[-3].isdigit():
        return f"{compact[:-3]} {compact[-3:]}"
    return compact


def to_number(series: pd.Series) -> pd.Series:
    """Strings such as ``"1,632"`` or ``" 12.5 "`` as floats; unparseable ones become NaN, and
    so do non-finite ones (``inf``, ``nan``, ``1e400``): no reader stores them.
    :func:`bad_numbers` names the cells that were not blank."""
    cleaned = series.astype(str).str.replace(",", "", regex=False).str.strip()
    values = pd.to_numeric(cleaned, errors="coerce")
    return values.where(np.isfinite(values))


def number_problem(text: str) -> str:
    """Why a non-blank cell is not a usable number: ``'1e400' is not a finite number``."""
    try:
        value = float(text.replace(",", "").strip())
    except ValueError:
        return f"{text!r} is not a number"
    if not math.isfinite(value):
        return f"{text!r} is not a finite number"
    return f"{text!r} is not a number"


def bad_numbers(
    frame: pd.DataFrame, column: str, values: pd.Series, *, allow_blank: bool = False
) -> list[Reject]:
    """Rejects for cells of ``column`` that are not finite numbers (blank allowed when asked):
    ``column 'gia_m2': '1e400' is not a finite number``."""
    raw = frame[column].astype(str).str.strip()
    bad = values.isna() & ~(allow_blank & (raw == ""))
    return [
        Reject(int(r), f"column {column!r}: {number_problem(v)}")
        for r, v in zip(frame.loc[bad, "_row"], raw[bad], strict=True)
    ]


def negative_numbers(frame: pd.DataFrame, column: str, values: pd.Series) -> list[Reject]:
    """Rejects for cells of ``column`` below zero (areas, costs, counts)."""
    negative = values < 0
    return [
        Reject(int(r), f"column {column!r}: {v!r} is negative")
        for r, v in zip(
            frame.loc[negative, "_row"], frame.loc[negative, column].str.strip(), strict=True
        )
    ]


def bad_codes(
    frame: pd.DataFrame, column: str, pattern: re.Pattern[str], what: str
) -> list[Reject]:
    """Rejects for cells of ``column`` not matching ``pattern``."""
    values = frame[column].astype(str).str.strip()
    bad = ~values.str.match(pattern)
    return [
        Reject(int(r), f"column {column!r}: {v!r} is not a valid {what}")
        for r, v in zip(frame.loc[bad, "_row"], values[bad], strict=True)
    ]


def lonlat_points(lon: pd.Series, lat: pd.Series) -> np.ndarray[Any, Any]:
    """WGS84 lon/lat (floats, NaN allowed) as shapely points in EPSG:27700 (None where NaN)."""
    x, y = wgs84_to_bng(lon.to_numpy(dtype=float), lat.to_numpy(dtype=float))
    points = np.asarray(shapely.points(np.column_stack([x, y])), dtype=object)
    missing = lon.isna().to_numpy() | lat.isna().to_numpy()
    points[missing] = None
    return points


def bad_lonlat(frame: pd.DataFrame, lon: pd.Series, lat: pd.Series) -> pd.Series:
    """Mask of rows whose present coordinates lie outside the UK (wrong CRS or typo)."""
    present = lon.notna() & lat.notna()
    minx, miny, maxx, maxy = UK_LONLAT_BOUNDS
    inside = lon.between(minx, maxx) & lat.between(miny, maxy)
    return present & ~inside


def bad_bng(easting: pd.Series, northing: pd.Series) -> pd.Series:
    """Mask of rows whose BNG coordinates lie outside Great Britain."""
    minx, miny, maxx, maxy = BNG_BOUNDS
    return ~(easting.between(minx, maxx) & northing.between(miny, maxy))


def region_note(region: Region, dropped: int, what: str) -> list[str]:
    """The note recording how many rows a national file lost to the region filter."""
    if not region.key or dropped == 0:
        return []
    return [f"{dropped} {what} outside region {region.key} left out"]


def require_area_codes(path: Path, region: Region) -> None:
    """A table keyed by area code can only be filtered once the region's areas are loaded."""
    if region.key and not region.area_codes:
        raise LoadError(
            path,
            f"region {region.key} has no areas loaded: load its LSOA boundaries first",
        )


def split_points(
    region: Region, geoms: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Masks (inside, located) for point geometries against the region (None = unlocated)."""
    located = ~shapely.is_missing(geoms)
    inside = np.zeros(len(geoms), dtype=bool)
    if located.any():
        inside[located] = region.contains(geoms[located])
    return inside, located


def outside_rejects(rows: Iterable[int], region: Region, what: str = "point") -> list[Reject]:
    """Rejects for rows of a regional file lying outside the region."""
    return [Reject(int(r), f"{what} lies outside region {region.key}") for r in rows]


def guarded(path: Path, func: Callable[[], Any]) -> Any:
    """Run ``func`` turning read errors into a :class:`LoadError` naming ``path``."""
    try:
        return func()
    except LoadError:
        raise
    except READ_ERRORS as exc:
        raise LoadError(path, describe_error(exc)) from exc


def read_sheet(path: Path, sheet: str) -> list[list[Any]]:
    """All rows of one worksheet of an ``.xlsx`` or old ``.xls`` workbook (calamine).

    A truncated or corrupted workbook, or a missing sheet, is a :class:`LoadError`.
    """
    require_file(path)
    check_zip_members(path)
    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error classes for every corruption
        raise LoadError(path, f"truncated or corrupted workbook ({exc})") from exc
    if sheet not in book.sheet_names:
        raise LoadError(path, f"missing sheet {sheet!r}; the workbook has {book.sheet_names}")
    try:
        worksheet = book.get_sheet_by_name(sheet)
        check_rows(path, worksheet.height, f"rows in sheet {sheet!r}")
        check_columns(path, worksheet.width)
        return [list(r) for r in worksheet.to_python(skip_empty_area=False)]
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError(path, f"sheet {sheet!r}: truncated or corrupted ({exc})") from exc


def sheet_frame(path: Path, rows: list[list[Any]], header_row: int) -> pd.DataFrame:
    """Rows of a sheet as a string frame; ``header_row`` is 1-based, ``_row`` the sheet row."""
    if len(rows) < header_row:
        raise LoadError(path, f"no header row {header_row}")
    header = [str(h).strip() for h in rows[header_row - 1]]
    body = [
        ["" if v is None or v == "" else _cell(v) for v in r[: len(header)]]
        + [""] * (len(header) - len(r))
        for r in rows[header_row:]
    ]
    frame = pd.DataFrame(body, columns=header, dtype=str)
    frame.insert(0, "_row", range(header_row + 1, header_row + 1 + len(frame)))
    blank = (frame.drop(columns="_row") == "").all(axis=1)
    return frame[~blank].reset_index(drop=True)


def _cell(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- sites -------------------------------------------------------------------------------

SITE_COLUMNS: tuple[str, ...] = (
    "source",
    "source_id",
    "name",
    "kind",
    "owner",
    "owner_type",
    "status",
    "opened_on",
    "closed_on",
    "tenure",
    "gia_m2",
    "land_ha",
    "running_cost_gbp",
    "backlog_gbp",
    "postcode",
    "located_by",
    "organisation",
    "restricted",
    "attributes",
    "geom",
)


def sites_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every ``sites`` column present (None / defaults where not given)."""
    out = frame.copy()
    for col in SITE_COLUMNS:
        if col not in out.columns:
            if col == "status":
                out[col] = "active"
            elif col == "restricted":
                out[col] = False
            elif col == "attributes":
                out[col] = pd.Series([{} for _ in range(len(out))], index=out.index, dtype=object)
            else:
                out[col] = None
    out["attributes"] = pd.Series(
        [_clean_attributes(a) for a in out["attributes"]], index=out.index, dtype=object
    )
    for col in ("postcode", "owner", "organisation", "tenure", "located_by"):
        out[col] = pd.Series(
            [v if isinstance(v, str) and v else None for v in out[col]],
            index=out.index,
            dtype=object,
        )
    geoms = np.array(
        [g if isinstance(g, BaseGeometry) else None for g in out["geom"]], dtype=object
    )
    out["geom"] = geoms
    out["located_by"] = np.where(shapely.is_missing(geoms), "unlocated", out["located_by"])
    keep = ["_row", *SITE_COLUMNS] if "_row" in out.columns else list(SITE_COLUMNS)
    extra = [c for c in out.columns if c.startswith("_") and c not in keep]
    return out[keep + extra].reset_index(drop=True)


def _clean_attributes(attrs: Any) -> dict[str, Any]:
    """JSON-safe attributes: no NaN/None values, numpy scalars as Python numbers."""
    if not isinstance(attrs, dict):
        return {}
    clean: dict[str, Any] = {}
    for key, value in attrs.items():
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            continue
        clean[key] = value.item() if isinstance(value, np.generic) else value
    return clean


def duplicate_rejects(frame: pd.DataFrame, column: str, field: str | None = None) -> list[Reject]:
    """Rejects for repeated values of ``column`` (the first occurrence is kept); ``field``
    names it as the user knows it (default ``column '<column>'``)."""
    name = field or f"column {column!r}"
    dup = frame[column].duplicated(keep="first") & (frame[column] != "")
    first = frame.drop_duplicates(column).set_index(column)["_row"]
    return [
        Reject(int(r), f"{name}: {v!r} repeats row {int(first[v])}")
        for r, v in frame.loc[dup, ["_row", column]].itertuples(index=False)
    ]


def filter_sites(
    frame: pd.DataFrame, region: Region, *, national: bool, keep_outside: bool = False
) -> tuple[pd.DataFrame, list[Reject], list[str]]:
    """Apply the region to located sites: a national file drops the ones outside (noted), a
    regional file rejects them — or, for an owner's register (``keep_outside``), keeps them
    flagged ``attributes.outside_region``. Unlocated sites stay for
    :func:`etl.datasets.locate_sites`."""
    if not region.key or not len(frame):
        return frame, [], []
    inside, located = split_points(region, frame["geom"].to_numpy(dtype=object))
    outside = located & ~inside
    if keep_outside:
        return mark_outside(frame, outside, region)
    if national:
        return frame[~outside], [], region_note(region, int(outside.sum()), "sites")
    rejects = [
        Reject(int(r), f"site {sid}: point lies outside region {region.key}")
        for r, sid in frame.loc[outside, ["_row", "source_id"]].itertuples(index=False)
    ]
    return frame[~outside], rejects, []


def mark_outside(
    frame: pd.DataFrame, outside: np.ndarray[Any, Any], region: Region
) -> tuple[pd.DataFrame, list[Reject], list[str]]:
    """Keep sites outside the region, flagged in their attributes and listed in a note."""
    if not outside.any():
        return frame, [], []
    frame = frame.copy()
    frame["attributes"] = pd.Series(
        [
            {**attrs, "outside_region": True} if out else attrs
            for attrs, out in zip(frame["attributes"], outside, strict=True)
        ],
        index=frame.index,
        dtype=object,
    )
    listed = ", ".join(
        f"{sid} {name}"
        for sid, name in frame.loc[outside, ["source_id", "name"]].itertuples(index=False)
    )
    note = (
        f"{int(outside.sum())} sites outside region {region.key} kept (owned elsewhere): {listed}"
    )
    return frame, [], [note]


def parse_dates(values: pd.Series, fmt: str) -> pd.Series:
    """Dates in ``fmt``; blank → NaT; unparseable → NaT too (check with :func:`bad_dates`)."""
    return pd.to_datetime(values.str.strip(), format=fmt, errors="coerce")


def bad_dates(frame: pd.DataFrame, column: str, parsed: pd.Series, fmt: str) -> list[Reject]:
    """Rejects for non-blank cells of ``column`` that are not dates in ``fmt``."""
    raw = frame[column].astype(str).str.strip()
    bad = parsed.isna() & (raw != "")
    return [
        Reject(int(r), f"column {column!r}: {v!r} is not a date ({fmt})")
        for r, v in zip(frame.loc[bad, "_row"], raw[bad], strict=True)
    ]


def as_dates(parsed: pd.Series) -> list[Any]:
    """Timestamps as ``datetime.date`` objects (None for NaT), for the loader."""
    return [None if pd.isna(v) else v.date() for v in parsed]


def ints_or_none(values: Any) -> np.ndarray[Any, Any]:
    """Integers as Python ``int``, missing values as None, in an object array (a float column
    would COPY ``15.0`` into an integer column)."""
    return np.array([None if v is None or pd.isna(v) else int(v) for v in values], dtype=object)
