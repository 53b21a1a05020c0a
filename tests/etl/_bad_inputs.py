"""Builders of broken input files, each made from a real file of ``../shared/data`` with one
defect (or a real file against a lowered bound), for the corpus in ``test_bad_files.py``.

A builder takes the data folder and a scratch folder and returns the path to load. Files the
ETL database already holds unchanged would be skipped as "the same file" before reading, so
a builder that keeps the content still writes new bytes (recompressed, a blank line added).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import openpyxl

from etl.readers.common import read_sheet

CENSUS = "england/census2021_usual_residents_lsoa21_6_age_bands.csv.gz"
LSOA21 = "rutland/rutland_lsoa21.geojson"
EPRACCUR = "england/epraccur.csv"
COUNCIL = "trafford/trafford_land_and_building_assets.csv"


def replaced(text: str, old: str, new: str) -> str:
    """``text`` with the first ``old`` replaced (which must be there: a builder that edits
    nothing would test nothing)."""
    assert old in text, old
    return text.replace(old, new, 1)


def census_text(data: Path) -> str:
    return gzip.decompress((data / CENSUS).read_bytes()).decode()


def write_gz(out: Path, text: str) -> Path:
    out.write_bytes(gzip.compress(text.encode(), compresslevel=1))
    return out


def edit_csv(src: Path, out: Path, row: int, column: str, value: str) -> Path:
    """A copy of a CSV with a header, cell (file line ``row``, ``column``) set to ``value``."""
    with src.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    rows[row - 1][rows[0].index(column)] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    out.write_text(buffer.getvalue())
    return out


def geojson(data: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((data / LSOA21).read_text())
    return doc


def write_json(out: Path, doc: Any) -> Path:
    out.write_text(json.dumps(doc))
    return out


# --- census (national CSV.gz) ----------------------------------------------------------------


def census_infinity(data: Path, tmp: Path) -> Path:
    text = replaced(
        census_text(data),
        "E01013787,Rutland 005A,Aged 15 years and under,161",
        "E01013787,Rutland 005A,Aged 15 years and under,Infinity",
    )
    return write_gz(tmp / "census_infinity.csv.gz", text)


def census_bomb(data: Path, tmp: Path) -> Path:
    """A few kB of gzip expanding to 400 MB of census-like rows (one member, repeated)."""
    block = "E01013787,Rutland 005A,Aged 15 years and under,161\n" * 20_000
    member = gzip.compress(block.encode(), compresslevel=9)
    out = tmp / "census_bomb.csv.gz"
    header = gzip.compress(b"lsoa21_code,lsoa21_name,age_group,usual_residents\n")
    out.write_bytes(header + member * 400)
    return out


def census_recompressed(data: Path, tmp: Path) -> Path:
    """The real table, recompressed (new bytes, same rows): for the bounds on reading."""
    return write_gz(tmp / "census_recompressed.csv.gz", census_text(data))


def census_wide(data: Path, tmp: Path) -> Path:
    lines = census_text(data).splitlines()[:4]
    extra = 600
    header = lines[0] + "".join(f",extra_{i}" for i in range(extra))
    body = [line + "," * extra for line in lines[1:]]
    out = tmp / "census_wide.csv"
    out.write_text("\n".join([header, *body]) + "\n")
    return out


def census_two_bands(data: Path, tmp: Path) -> Path:
    """Rutland's areas with 2 of their 6 age bands: two thirds of its rows would go."""
    kept = ("Aged 15 years and under", "Aged 65 years and over")
    lines = [
        line
        for line in census_text(data).splitlines()
        if ",Rutland " not in line or line.split(",")[2] in kept
    ]
    return write_gz(tmp / "census_two_bands.csv.gz", "\n".join(lines) + "\n")


# --- LSOA boundaries (GeoJSON) ---------------------------------------------------------------


def null_geometry(data: Path, tmp: Path) -> Path:
    doc = geojson(data)
    doc["features"][2]["geometry"] = None
    return write_json(tmp / "rutland_lsoa21.geojson", doc)


def nan_coordinates(data: Path, tmp: Path) -> Path:
    doc = geojson(data)
    ring = doc["features"][3]["geometry"]["coordinates"][0]
    while isinstance(ring[0][0], list):
        ring = ring[0]
    ring[1] = [float("nan"), ring[1][1]]
    return write_json(tmp / "rutland_lsoa21.geojson", doc)  # json writes NaN


def huge_coordinate(data: Path, tmp: Path) -> Path:
    text = (data / LSOA21).read_text()
    first = json.loads(text)["features"][0]["geometry"]["coordinates"][0]
    while isinstance(first[0][0], list):
        first = first[0]
    lon = repr(first[1][0])
    out = tmp / "rutland_lsoa21.geojson"
    out.write_text(replaced(text, lon, "1e400"))  # json reads it as Infinity
    return out


def not_a_feature(data: Path, tmp: Path) -> Path:
    doc = geojson(data)
    doc["features"][1] = 42
    return write_json(tmp / "rutland_lsoa21.geojson", doc)


def empty_geometry(data: Path, tmp: Path) -> Path:
    doc = geojson(data)
    doc["features"][4]["geometry"] = {"type": "Polygon", "coordinates": []}
    return write_json(tmp / "rutland_lsoa21.geojson", doc)


def deeply_nested(data: Path, tmp: Path) -> Path:
    out = tmp / "rutland_lsoa21.geojson"
    out.write_text('{"type": "FeatureCollection", "features": ' + "[" * 200_000)
    return out


def crs_without_properties(data: Path, tmp: Path) -> Path:
    doc = geojson(data)
    doc["crs"] = "EPSG:27700"
    return write_json(tmp / "rutland_lsoa21.geojson", doc)


def lsoa_copy(data: Path, tmp: Path) -> Path:
    """The real boundaries, re-serialised (new bytes, same features)."""
    return write_json(tmp / "rutland_lsoa21.geojson", geojson(data))


def ten_of_26_areas(data: Path, tmp: Path) -> Path:
    doc = geojson(data)
    doc["features"] = doc["features"][:10]
    return write_json(tmp / "rutland_lsoa21.geojson", doc)


# --- postcodes, ODS, population ----------------------------------------------------------------


def codepoint_blank_lines_and_infinite_easting(data: Path, tmp: Path) -> Path:
    """40 blank lines and separator-only lines at the top (skipped: no record) and one
    easting of 1e400 (refused): the only reject."""
    text = replaced(
        (data / "rutland" / "codepoint_2014_le.csv").read_text(),
        '"LE156NT",10,485466,',
        '"LE156NT",10,1e400,',
    )
    out = tmp / "codepoint_2014_le.csv"
    out.write_text("\n" * 30 + ",,,,,,,,,\n" * 5 + "  \n" * 5 + text + "\n\n")
    (tmp / "codepoint_column_headers.csv").write_text(
        (data / "rutland" / "codepoint_column_headers.csv").read_text()
    )
    return out


def onspd_minus_infinity(data: Path, tmp: Path) -> Path:
    return edit_csv(
        data / "trafford" / "trafford_postcodes.csv",
        tmp / "trafford_postcodes.csv",
        2,
        "lon",
        "-inf",
    )


def sape_1e999(data: Path, tmp: Path) -> Path:
    src = data / "england" / "pop_table_SAPE20DT1_mid2017_population_estimates.csv"
    out = tmp / "sape_mid2017.csv"
    out.write_text(replaced(src.read_text(), 'E01013787,"1,298"', 'E01013787,"1e999"'))
    return out


def pharmacy_infinite_lat(data: Path, tmp: Path) -> Path:
    src = data / "england" / "pharmacy_geo.csv"
    out = tmp / "pharmacy_geo.csv"
    out.write_text(replaced(src.read_text(), ',"UPRN",51.4643571,', ',"UPRN",inf,'))
    return out


def care_site_repeated(data: Path, tmp: Path) -> Path:
    """The first site (TAH83) listed twice."""
    lines = (data / "england" / "care_sites_geo.csv").read_text().splitlines()
    out = tmp / "care_sites_geo.csv"
    out.write_text("\n".join([lines[0], lines[1], lines[1], *lines[2:]]) + "\n")
    return out


def epraccur_latin1(data: Path, tmp: Path) -> Path:
    raw = (data / EPRACCUR).read_bytes()
    out = tmp / "epraccur.csv"
    out.write_bytes(raw.replace(b"EMPINGHAM MEDICAL CENTRE", b"EMPINGHAM M\xc9DICAL CENTRE", 1))
    return out


def epraccur_copy(data: Path, tmp: Path) -> Path:
    out = tmp / "epraccur.csv"
    out.write_bytes((data / EPRACCUR).read_bytes() + b"\n")
    return out


def epraccur_without_three_practices(data: Path, tmp: Path) -> Path:
    """Oakham, Empingham and Uppingham gone from the file: 3 of Rutland's 11 sites."""
    gone = (b'"C82010"', b'"C82044"', b'"C82077"')
    lines = (data / EPRACCUR).read_bytes().splitlines(keepends=True)
    out = tmp / "epraccur.csv"
    out.write_bytes(b"".join(line for line in lines if not line.startswith(gone)))
    (tmp / "gp_practices_geo.csv").write_bytes(
        (data / "england" / "gp_practices_geo.csv").read_bytes()
    )
    return out


# --- council register ------------------------------------------------------------------------


def council_cell(row: int, column: str, value: str) -> Any:
    def make(data: Path, tmp: Path) -> Path:
        return edit_csv(data / COUNCIL, tmp / "trafford_assets.csv", row, column, value)

    return make


def council_zipped(data: Path, tmp: Path) -> Path:
    out = tmp / "trafford_assets.csv"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(data / COUNCIL, "trafford_land_and_building_assets.csv")
    return out


# --- spreadsheets ------------------------------------------------------------------------------


def eric_xlsx(data: Path, tmp: Path, *, gifa: str) -> Path:
    """ERIC's two sheets as an ``.xlsx`` with the header rows and one trust's sites (RT5,
    Leicestershire Partnership), Rutland Memorial Hospital's floor area set to ``gifa``."""
    src = data / "england" / "eric_2016-17_trust_site_pfi.xls"
    book = openpyxl.Workbook(write_only=True)
    for name in ("Site Data", "PFI Data"):
        sheet = book.create_sheet(name)
        rows = read_sheet(src, name)
        header = next(i for i, r in enumerate(rows) if r and r[0] == "Organisation Code")
        code = rows[header].index("Site Code")
        if name == "Site Data":
            gifa_col = rows[header].index("Gross internal floor area (m²)")
            site = next(i for i, r in enumerate(rows) if r[code] == "RT5PC")
            rows[site][gifa_col] = gifa
        for r in rows[: header + 1] + [r for r in rows[header + 1 :] if r[0] == "RT5"]:
            sheet.append(r)
    out = tmp / "eric_sites.xlsx"
    book.save(out)
    return out


def eric_infinite_floor_area(data: Path, tmp: Path) -> Path:
    return eric_xlsx(data, tmp, gifa="1e400")


def imd_rezipped(data: Path, tmp: Path) -> Path:
    """IMD File 1 with its parts recompressed (new bytes, the same workbook)."""
    out = tmp / "imd2019_file1.xlsx"
    with (
        zipfile.ZipFile(data / "england" / "imd2019_file1.xlsx") as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst,
    ):
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    return out


def xlsx_bomb(data: Path, tmp: Path) -> Path:
    """A 40 kB "workbook" whose sheet expands to 40 MB."""
    out = tmp / "imd2019_file1.xlsx"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * 40_000_000)
    return out
