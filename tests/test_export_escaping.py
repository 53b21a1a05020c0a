"""The one spreadsheet-formula rule of every export (:mod:`app.reports.export`), cell by cell.

OWASP "CSV injection": a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return (or with ``=``, ``+``, ``-``, ``@`` after leading whitespace) is prefixed with
``'``; numbers are never touched. The API-level checks on real exports are in
``tests/api/test_exports.py``.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from app.reports.export import (
    escape_formula,
    escape_frame,
    frame_csv,
    rows_csv,
    to_csv,
    to_geopackage,
)

PAYLOADS = {
    '=HYPERLINK("http://evil.example","x")': '\'=HYPERLINK("http://evil.example","x")',
    "+SUM(1,2)": "'+SUM(1,2)",
    "-2+3*cmd|' /C calc'!A0": "'-2+3*cmd|' /C calc'!A0",
    "@SUM(A1)": "'@SUM(A1)",
    "\t=1+1": "'\t=1+1",
    "\tplain after a tab": "'\tplain after a tab",
    "\r=1+1": "'\r=1+1",
    "  =1+1": "'  =1+1",
    " \t@SUM(A1)": "' \t@SUM(A1)",
    "\n-1+1": "'\n-1+1",
    "-2.5": "'-2.5",  # text that looks like a number is still text
}
HARMLESS = ("Oakham Medical Practice", "A-road depot", "x=1", "1+1", "", "café @ home", "'=1")


@pytest.mark.parametrize("value", list(PAYLOADS))
def test_formula_text_gets_a_leading_quote(value: str) -> None:
    assert escape_formula(value) == PAYLOADS[value]


@pytest.mark.parametrize("value", HARMLESS)
def test_ordinary_text_is_unchanged(value: str) -> None:
    assert escape_formula(value) == value


@pytest.mark.parametrize("value", [-2.5, -3, 0, np.float64(-1.25), np.int64(-7), None, True])
def test_numbers_and_missing_values_are_unchanged(value: object) -> None:
    assert escape_formula(value) is value


def test_escape_frame_escapes_text_cells_and_names_only() -> None:
    frame = pd.DataFrame(
        {
            "name": ["=1+1", "Town Hall", None],
            "=owner": ["-x", "@y", "fine"],
            "gia_m2": [-2.5, 10.0, np.nan],
            "mixed": [-1.0, "-1", "ok"],
            "kind": pd.Categorical(["+a", "b", "b"]),
        }
    )
    out = escape_frame(frame)
    assert list(out.columns) == ["name", "'=owner", "gia_m2", "mixed", "kind"]
    assert out["name"].tolist()[:2] == ["'=1+1", "Town Hall"]
    assert out["name"].isna().tolist() == [False, False, True]
    assert out["'=owner"].tolist() == ["'-x", "'@y", "fine"]
    assert out["gia_m2"].dtype == np.float64
    assert out["gia_m2"].tolist()[:2] == [-2.5, 10.0]
    assert out["mixed"].tolist() == [-1.0, "'-1", "ok"]
    assert out["kind"].tolist() == ["'+a", "b", "b"]
    # the input is not modified
    assert frame["name"].tolist()[0] == "=1+1"


def test_escape_frame_keeps_geometry() -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["@x"]}, geometry=[shapely.Point(-0.73, 52.67)], crs="EPSG:4326"
    )
    out = escape_frame(frame)
    assert isinstance(out, gpd.GeoDataFrame)
    assert out.crs == frame.crs
    assert out.geometry.iloc[0].equals(shapely.Point(-0.73, 52.67))
    assert out["name"].tolist() == ["'@x"]


def test_rows_csv_escapes_header_and_cells_and_keeps_numbers() -> None:
    text = rows_csv(["site", "=lon"], [["\r=cmd", -0.73], ["+1", 2]])
    # CRLF rows (RFC 4180), so the carriage return inside a cell is quoted, not a row break
    assert text == "site,'=lon\r\n\"'\r=cmd\",-0.73\r\n'+1,2\r\n"
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [["site", "'=lon"], ["'\r=cmd", "-0.73"], ["'+1", "2"]]


def test_frame_csv_round_trip() -> None:
    frame = pd.DataFrame({"A name v1": [1.5], "=B v1": [-2.0], "metric": ["-people"]})
    rows = list(csv.reader(io.StringIO(frame_csv(frame), newline="")))
    assert rows == [["A name v1", "'=B v1", "metric"], ["1.5", "-2.0", "'-people"]]


def test_to_csv_and_to_geopackage_escape_every_layer(tmp_path: Path) -> None:
    points = gpd.GeoDataFrame(
        {"name": ["\t=1+1", "Hall"], "owners": [["@a", "b"], ["c"]], "gia_m2": [-1.0, 2.0]},
        geometry=[shapely.Point(1, 2), shapely.Point(3, 4)],
        crs="EPSG:27700",
    )
    table = pd.DataFrame({"metric": ["+x"], "value": [-3.0]})
    files = to_csv(tmp_path / "csv", {"points": points, "table": table})
    assert [f.name for f in files] == ["points.csv", "table.csv", "ATTRIBUTION.txt"]
    rows = list(csv.reader(io.StringIO(files[0].read_bytes().decode("utf-8"), newline="")))
    assert rows[0] == ["name", "owners", "gia_m2", "geometry"]
    # the leading tab is kept (and escaped); a list becomes "; "-joined text, then escaped
    assert rows[1] == ["'\t=1+1", "'@a; b", "-1.0", "POINT (1 2)"]
    assert list(csv.reader(io.StringIO(files[1].read_bytes().decode("utf-8"), newline="")))[1] == [
        "'+x",
        "-3.0",
    ]
    gpkg = to_geopackage(tmp_path / "out.gpkg", {"points": points, "table": table})
    with sqlite3.connect(gpkg) as db:
        assert db.execute("SELECT name, owners, gia_m2 FROM points ORDER BY fid").fetchall() == [
            ("'\t=1+1", "'@a; b", -1.0),
            ("Hall", "c", 2.0),
        ]
        assert db.execute('SELECT metric, value FROM "table"').fetchall() == [("'+x", -3.0)]
