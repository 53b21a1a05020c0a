"""Broken inputs built from the real files: each gives a clear error naming the file, the row
and the field (or the bound it exceeds), and leaves every table byte-for-byte as it was.

The corpus of issue 17: non-finite numbers in every kind of reader, GeoJSON features that are
null, empty or not features, bombs and files beyond the ``LOCUS_LOAD_*`` bounds, and loads
that would remove more than ``LOCUS_LOAD_MAX_SHRINK`` of a region's rows. The builders are in
:mod:`tests.etl._bad_inputs`; all cases share the one loaded ETL database.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from config.settings import Settings
from etl.datasets import load_dataset
from etl.loading import LoadError, LoadSummary
from store.connection import Database

from . import _bad_inputs as bad
from .conftest import RUTLAND
from .test_rutland_bundle import checksums

CENSUS = "england/census2021_usual_residents_lsoa21_6_age_bands.csv.gz"


def _truncated_gzip(data: Path, tmp: Path) -> Path:
    raw = (data / CENSUS).read_bytes()
    out = tmp / "census_truncated.csv.gz"
    out.write_bytes(raw[: len(raw) // 2])
    return out


def _renamed_header(data: Path, tmp: Path) -> Path:
    text = gzip.decompress((data / CENSUS).read_bytes()).decode()
    out = tmp / "census_renamed.csv"
    out.write_text(text.replace("usual_residents", "residents", 1))
    return out


def _bad_postcode(data: Path, tmp: Path) -> Path:
    text = (data / "rutland" / "codepoint_2014_le.csv").read_text()
    out = tmp / "codepoint_2014_le.csv"
    out.write_text(text.replace('"LE156NT"', '"LE15 6N!"'))
    (tmp / "codepoint_column_headers.csv").write_text(
        (data / "rutland" / "codepoint_column_headers.csv").read_text()
    )
    return out


def _outside_region(data: Path, tmp: Path) -> Path:
    doc = json.loads((data / "rutland" / "rutland_lsoa11.geojson").read_text())
    feature = doc["features"][4]

    def shift(coords: list) -> list:  # type: ignore[type-arg]
        if coords and isinstance(coords[0], float | int):
            return [coords[0] - 1.5, coords[1]]
        return [shift(c) for c in coords]

    feature["geometry"]["coordinates"] = shift(feature["geometry"]["coordinates"])
    out = tmp / "rutland_lsoa11.geojson"
    out.write_text(json.dumps(doc))
    return out


def _cut_geojson(data: Path, tmp: Path) -> Path:
    raw = (data / "rutland" / "rutland_lsoa21.geojson").read_bytes()
    out = tmp / "rutland_lsoa21.geojson"
    out.write_bytes(raw[: len(raw) * 2 // 3])
    return out


def _truncated_xlsx(data: Path, tmp: Path) -> Path:
    raw = (data / "england" / "imd2019_file1.xlsx").read_bytes()
    out = tmp / "imd2019_file1.xlsx"
    out.write_bytes(raw[: len(raw) - 5000])
    return out


def _truncated_epraccur(data: Path, tmp: Path) -> Path:
    raw = (data / "england" / "epraccur.csv").read_bytes()
    cut = raw.index(b'"C82077","THE UPPINGHAM SURGERY"') + 60
    out = tmp / "epraccur.csv"
    out.write_bytes(raw[:cut])
    return out


def _cut_epraccur_line(data: Path, tmp: Path) -> Path:
    raw = (data / "england" / "epraccur.csv").read_bytes()
    start = raw.index(b'"C82077","THE UPPINGHAM SURGERY"')
    cut = raw.index(b'"19740401"', start) + len(b'"19740401"')
    out = tmp / "epraccur.csv"
    out.write_bytes(raw[:cut] + b"\n")
    return out


class Case(NamedTuple):
    """One bad file: the dataset it is loaded as, a label, how to build it from the real
    files, the error expected (a regular expression), the region and any lowered bounds."""

    dataset: str
    label: str
    make: Callable[[Path, Path], Path]
    message: str
    region: str = RUTLAND
    limits: Mapping[str, Any] = {}


SHRINK = (
    r": more than LOCUS_LOAD_MAX_SHRINK=0\.1 \(10%\) allows\. Check the file is complete, or "
    r"load it with --allow-shrink"
)
GIFA = "Gross internal floor area \\(m²\\)"

CASES: list[Case] = [
    Case(
        "census2021-age",
        "truncated gzip",
        _truncated_gzip,
        r"census_truncated\.csv\.gz: truncated or corrupted compressed file",
    ),
    Case(
        "census2021-age",
        "wrong column",
        _renamed_header,
        r"census_renamed\.csv: missing column\(s\) 'usual_residents'; the file has "
        r"'lsoa21_code', 'lsoa21_name', 'age_group', 'residents'",
    ),
    Case(
        "codepoint",
        "bad postcode",
        _bad_postcode,
        r"codepoint_2014_le\.csv: row \d+: column 'PC': 'LE15 6N!' is not a valid UK postcode",
    ),
    Case(
        "lsoa11",
        "geometry outside the region",
        _outside_region,
        r"rutland_lsoa11\.geojson: row 5: feature 5 \(E01013791\): geometry lies outside "
        r"region E06000017",
    ),
    Case(
        "lsoa21",
        "cut-off GeoJSON",
        _cut_geojson,
        r"rutland_lsoa21\.geojson: not valid GeoJSON \(cut off or corrupted\?\)",
    ),
    Case(
        "imd2019",
        "truncated xlsx",
        _truncated_xlsx,
        r"imd2019_file1\.xlsx: truncated or corrupted workbook",
    ),
    Case(
        "gp-practices",
        "csv cut after a field",
        _cut_epraccur_line,
        r"epraccur\.csv: row 1575: column 13 \(status\): '' is not one of A, C, D, P",
    ),
    Case(
        "gp-practices",
        "truncated csv",
        _truncated_epraccur,
        r"epraccur\.csv: row 1575: file ends inside a quoted field \(truncated file\?\)",
    ),
    # --- non-finite numbers: refused in every numeric column, named by file, row and column
    Case(
        "council-assets",
        "register floor area 1e400",
        bad.council_cell(2, "BuildingSize", "1e400"),
        r"(?m)trafford_assets\.csv: row 2: column 'BuildingSize': '1e400' is not a finite number$",
    ),
    Case(
        "council-assets",
        "register land area nan",
        bad.council_cell(3, "LandArea", "nan"),
        r"(?m)trafford_assets\.csv: row 3: column 'LandArea': 'nan' is not a finite number$",
    ),
    Case(
        "council-assets",
        "register longitude inf",
        bad.council_cell(4, "GeoX", "inf"),
        r"(?m)trafford_assets\.csv: row 4: column 'GeoX': 'inf' is not a finite number$",
    ),
    Case(
        "council-assets",
        "register negative floor area",
        bad.council_cell(4, "BuildingSize", "-1047"),
        r"(?m)trafford_assets\.csv: row 4: column 'BuildingSize': '-1047' is negative$",
    ),
    Case(
        "census2021-age",
        "census count Infinity",
        bad.census_infinity,
        r"census_infinity\.csv\.gz: row 78578: column 'usual_residents': 'Infinity' is not a "
        r"finite number\Z",
    ),
    Case(
        "sape-mid2017",
        "population estimate 1e999",
        bad.sape_1e999,
        r"sape_mid2017\.csv: row 10091: column 'All Ages': '1e999' is not a finite number\Z",
    ),
    Case(
        "onspd",
        "postcode longitude -inf",
        bad.onspd_minus_infinity,
        r"trafford_postcodes\.csv: row 2: column 'lon': '-inf' is not a finite number\Z",
        region="",
    ),
    Case(
        "pharmacies",
        "pharmacy latitude inf",
        bad.pharmacy_infinite_lat,
        r"pharmacy_geo\.csv: row 2: column 'LAT': 'inf' is not a finite number\Z",
    ),
    Case(
        "eric-sites",
        "ERIC floor area 1e400",
        bad.eric_infinite_floor_area,
        rf"eric_sites\.xlsx: row \d+: column '{GIFA}': '1e400' is not a finite number\Z",
    ),
    Case(
        "codepoint",
        "blank lines skipped, easting 1e400 refused",
        bad.codepoint_blank_lines_and_infinite_easting,
        # 40 lines added above the record; the blank ones give no reject at all.
        r"codepoint_2014_le\.csv: row 5749: column 'EA': '1e400' is not a finite number\Z",
    ),
    # --- GeoJSON features: each problem named with the feature's number
    Case(
        "lsoa21",
        "null geometry",
        bad.null_geometry,
        r"rutland_lsoa21\.geojson: row 3: feature 3 \(E01013789\): geometry is null\Z",
    ),
    Case(
        "lsoa21",
        "NaN coordinate",
        bad.nan_coordinates,
        r"rutland_lsoa21\.geojson: row 4: feature 4 \(E01013790\): coordinates are not finite "
        r"numbers \(NaN or Infinity\)\Z",
    ),
    Case(
        "lsoa21",
        "coordinate 1e400",
        bad.huge_coordinate,
        r"rutland_lsoa21\.geojson: row 1: feature 1 \(E01013787\): coordinates are not finite "
        r"numbers",
    ),
    Case(
        "lsoa21",
        "feature that is not an object",
        bad.not_a_feature,
        r"rutland_lsoa21\.geojson: row 2: feature 2: not a GeoJSON Feature with properties\Z",
    ),
    Case(
        "lsoa21",
        "empty geometry",
        bad.empty_geometry,
        r"rutland_lsoa21\.geojson: row 5: feature 5 \(E01013791\): geometry is an empty "
        r"Polygon\Z",
    ),
    Case(
        "lsoa21",
        "nested too deeply",
        bad.deeply_nested,
        r"rutland_lsoa21\.geojson: not valid GeoJSON: arrays or objects nested too deeply",
    ),
    Case(
        "lsoa21",
        "crs member without properties",
        bad.crs_without_properties,
        r'rutland_lsoa21\.geojson: the "crs" member has no "properties" object naming the CRS',
    ),
    # --- other reader errors named in words
    Case(
        "gp-practices",
        "not UTF-8",
        bad.epraccur_latin1,
        r"epraccur\.csv: row 1546: byte 0xc9 at character 22 is not valid UTF-8 text "
        r"\(save the file as UTF-8\)",
    ),
    Case(
        "care-sites",
        "repeated ODS code",
        bad.care_site_repeated,
        r"care_sites_geo\.csv: row 3: column 'ODS_Code': 'TAH83' repeats row 2\Z",
    ),
    Case(
        "council-assets",
        "zip archive named .csv",
        bad.council_zipped,
        r"trafford_assets\.csv: the file is a zip archive: unpack it and load the file inside",
    ),
    # --- bounded reading: bombs and files beyond LOCUS_LOAD_* refused before they are read
    Case(
        "census2021-age",
        "gzip bomb",
        bad.census_bomb,
        r"census_bomb\.csv\.gz: the gzip file expands more than 100 times "
        r"\(LOCUS_LOAD_MAX_COMPRESSION_RATIO\): a gzip bomb, not a data file",
    ),
    Case(
        "imd2019",
        "xlsx bomb",
        bad.xlsx_bomb,
        r"imd2019_file1\.xlsx: the 0\.0 MB workbook expands to 40\.0 MB, more than 100 times "
        r"\(LOCUS_LOAD_MAX_COMPRESSION_RATIO\): a zip bomb, not a workbook",
    ),
    Case(
        "census2021-age",
        "uncompressed bytes over the bound",
        bad.census_recompressed,
        r"census_recompressed\.csv\.gz: the content is more than 5 MB uncompressed: "
        r"LOCUS_LOAD_MAX_UNCOMPRESSED_MB=5 is the limit",
        limits={"max_uncompressed_mb": 5},
    ),
    Case(
        "census2021-age",
        "rows over the bound",
        bad.census_recompressed,
        r"census_recompressed\.csv\.gz: more than 100,000 data rows: "
        r"LOCUS_LOAD_MAX_ROWS=100000 is the limit",
        limits={"max_rows": 100_000},
    ),
    Case(
        "census2021-age",
        "columns over the bound",
        bad.census_wide,
        r"census_wide\.csv: 604 columns, more than LOCUS_LOAD_MAX_COLUMNS=500 allows",
    ),
    Case(
        "imd2019",
        "sheet columns over the bound",
        bad.imd_rezipped,
        r"imd2019_file1\.xlsx: 6 columns, more than LOCUS_LOAD_MAX_COLUMNS=5 allows",
        limits={"max_columns": 5},
    ),
    Case(
        "imd2019",
        "sheet rows over the bound",
        bad.imd_rezipped,
        r"imd2019_file1\.xlsx: more than 30,000 rows in sheet 'IMD2019': "
        r"LOCUS_LOAD_MAX_ROWS=30000 is the limit",
        limits={"max_rows": 30_000},
    ),
    Case(
        "gp-practices",
        "file size over the bound",
        bad.epraccur_copy,
        r"epraccur\.csv: the file is 3\.4 MB, more than the 1 MB LOCUS_LOAD_MAX_FILE_MB allows",
        limits={"max_file_mb": 1},
    ),
    Case(
        "lsoa21",
        "features over the bound",
        bad.lsoa_copy,
        r"rutland_lsoa21\.geojson: more than 20 features: LOCUS_LOAD_MAX_ROWS=20 is the limit",
        limits={"max_rows": 20},
    ),
    # --- loads that would remove more than LOCUS_LOAD_MAX_SHRINK of the region's rows
    Case(
        "lsoa21",
        "10 of 26 areas",
        bad.ten_of_26_areas,
        r"rutland_lsoa21\.geojson: the load would remove 16 of the 26 rows of areas region "
        r"E06000017 holds \(62%\) \(E01013797 2021 Rutland 004C, .*, \.\.\.\)" + SHRINK,
    ),
    Case(
        "gp-practices",
        "three practices missing",
        bad.epraccur_without_three_practices,
        r"epraccur\.csv: the load would remove 3 of the 11 rows of sites region E06000017 holds "
        r"\(27%\) \(C82010 OAKHAM MEDICAL PRACTICE, C82044 EMPINGHAM MEDICAL CENTRE, "
        r"C82077 THE UPPINGHAM SURGERY\)" + SHRINK,
    ),
    Case(
        "census2021-age",
        "two of six age bands",
        bad.census_two_bands,
        r"census_two_bands\.csv\.gz: the load would remove 104 of the 156 rows of population "
        r"region E06000017 holds \(67%\)" + SHRINK,
    ),
]


def test_the_corpus_is_large_enough() -> None:
    """Issue 17: at least 30 bad files, besides the GTFS ones (tests/etl/test_gtfs_load.py)."""
    assert len(CASES) >= 30
    assert len({c.label for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.label) for c in CASES])
def test_bad_file_is_refused_and_nothing_changes(
    etl_settings: Settings,
    etl_db: Database,
    rutland: dict[str, LoadSummary],
    data_dir: Path,
    tmp_path: Path,
    case: Case,
) -> None:
    path = case.make(data_dir, tmp_path)
    settings = etl_settings.model_copy(
        update={"load": etl_settings.load.model_copy(update=dict(case.limits))}
    )
    before = checksums(etl_db)
    with pytest.raises(LoadError) as info:
        load_dataset(settings, case.dataset, path, region=case.region)
    assert re.search(case.message, str(info.value)), str(info.value)
    assert "Traceback" not in str(info.value)
    assert checksums(etl_db) == before
