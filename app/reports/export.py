"""GeoPackage and CSV exports of scenario and cluster results, with the attributions.

Every tabular export of the API goes through this module, because its cells are text that
the caller chose (asset names from uploads, scenario names, owners) and spreadsheets execute
a cell that looks like a formula. :func:`escape_formula` is the one rule (OWASP "CSV
injection"): a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return, or with ``=``, ``+``, ``-``, ``@`` after leading whitespace, gets a leading single
quote, which spreadsheets show as text. Numbers are written as numbers (``-2.5`` stays
``-2.5``); only text is ever changed. :func:`escape_frame`, :func:`frame_csv`,
:func:`rows_csv`, :func:`to_csv` and :func:`to_geopackage` apply it, so a new export calls
one of them rather than ``csv.writer`` or ``DataFrame.to_csv``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import pandas as pd
import pyogrio

from app.reports._charts import ATTRIBUTION

__all__ = [
    "ATTRIBUTION",
    "escape_formula",
    "escape_frame",
    "frame_csv",
    "rows_csv",
    "to_csv",
    "to_geopackage",
]

#: Characters that make a spreadsheet read a cell as a formula (or drop to one once trimmed).
_FORMULA_START = ("=", "+", "-", "@")
_CONTROL_START = ("\t", "\r")

F = TypeVar("F", pd.DataFrame, gpd.GeoDataFrame)
#: RFC 4180 line ends: Python's csv writer quotes a cell holding a character of the line
#: terminator, so with CRLF a carriage return or line feed inside a cell is always quoted
#: (with "\n" alone a bare "\r" would be written unquoted and split the row).
_LINE_END = "\r\n"


def escape_formula(value: Any) -> Any:
    """``value`` safe to open in a spreadsheet: text that would be read as a formula gets a
    leading ``'``; anything that is not text (numbers, None, NaN) is returned unchanged.

    >>> escape_formula("=HYPERLINK(\\"http://x\\")"), escape_formula("\\t@SUM(A1)")
    ('\\'=HYPERLINK("http://x")', "'\\t@SUM(A1)")
    >>> escape_formula("  -2+3"), escape_formula("Oakham - North"), escape_formula(-2.5)
    ("'  -2+3", 'Oakham - North', -2.5)
    """
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(_CONTROL_START) or value.lstrip().startswith(_FORMULA_START):
        return "'" + value
    return value


def escape_frame(frame: F) -> F:
    """A copy of ``frame`` with :func:`escape_formula` applied to every text cell and column
    name (the geometry column aside); numeric columns are untouched."""
    out = frame.copy()
    geometry = out.geometry.name if isinstance(out, gpd.GeoDataFrame) else None
    for col in out.columns:
        if col == geometry:
            continue
        series = out[col]
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
            out[col] = series.map(escape_formula)
    renamed = {c: escape_formula(c) for c in out.columns if c != geometry}
    return out.rename(columns={k: v for k, v in renamed.items() if k != v})


def frame_csv(frame: pd.DataFrame) -> str:
    """``frame`` as CSV text (no index), every cell escaped (:func:`escape_frame`)."""
    text: str = escape_frame(pd.DataFrame(frame)).to_csv(index=False, lineterminator=_LINE_END)
    return text


def rows_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A header and rows as CSV text, every cell escaped (:func:`escape_formula`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=_LINE_END)
    writer.writerow([escape_formula(h) for h in header])
    for row in rows:
        writer.writerow([escape_formula(v) for v in row])
    return out.getvalue()


def _plain(frame: F) -> F:
    """Lists/dicts in cells become ``"; "``-joined text (GeoPackage and CSV cannot hold them)."""
    out = frame.copy()
    for col in out.columns:
        if col == "geometry":
            continue
        if out[col].map(lambda v: isinstance(v, list | tuple | set | dict)).any():
            out[col] = (
                out[col]
                .map(lambda v: "; ".join(map(str, v)) if isinstance(v, list | tuple | set) else v)
                .astype(str)
            )
    return out


def to_geopackage(path: str | Path, layers: dict[str, gpd.GeoDataFrame | pd.DataFrame]) -> Path:
    """Write layers (GeoDataFrames; plain DataFrames become attribute tables) to one GeoPackage.

    Text attributes are escaped like CSV cells (:func:`escape_formula`): GeoPackage layers are
    routinely exported from QGIS or ogr2ogr to CSV or XLSX and opened in a spreadsheet. An
    ``attribution`` table with the required licence statements is always added. Existing
    files are replaced. Returns the path.
    """
    path = Path(path)
    if path.exists():
        path.unlink()
    all_layers: dict[str, gpd.GeoDataFrame | pd.DataFrame] = dict(layers)
    all_layers["attribution"] = pd.DataFrame({"attribution": ATTRIBUTION.split("; ")})
    for name, frame in all_layers.items():
        pyogrio.write_dataframe(escape_frame(_plain(frame)), path, layer=name, driver="GPKG")
    return path


def to_csv(directory: str | Path, tables: dict[str, pd.DataFrame]) -> list[Path]:
    """Write each table as ``<name>.csv`` (geometry as WKT) plus ``ATTRIBUTION.txt``; every
    text cell escaped (:func:`escape_formula`)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in tables.items():
        out = _plain(frame)
        if isinstance(out, gpd.GeoDataFrame):
            wkt = out.geometry.to_wkt()
            out = pd.DataFrame(out.drop(columns=out.geometry.name)).assign(geometry=wkt)
        target = directory / f"{name}.csv"
        target.write_bytes(frame_csv(out).encode("utf-8"))
        written.append(target)
    note = directory / "ATTRIBUTION.txt"
    note.write_text(ATTRIBUTION.replace("; ", "\n") + "\n", encoding="utf-8")
    written.append(note)
    return written
