"""Broken inputs built from the real files: each gives a clear error naming the file, the row
and the reason, and leaves every table byte-for-byte as it was."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from config.settings import Settings
from etl.datasets import load_dataset
from etl.loading import LoadError, LoadSummary
from store.connection import Database

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


CASES: list[tuple[str, str, Callable[[Path, Path], Path], str]] = [
    (
        "census2021-age",
        "truncated gzip",
        _truncated_gzip,
        r"census_truncated\.csv\.gz: truncated or corrupted compressed file",
    ),
    (
        "census2021-age",
        "wrong column",
        _renamed_header,
        r"census_renamed\.csv: missing column\(s\) 'usual_residents'; the file has "
        r"'lsoa21_code', 'lsoa21_name', 'age_group', 'residents'",
    ),
    (
        "codepoint",
        "bad postcode",
        _bad_postcode,
        r"codepoint_2014_le\.csv: row \d+: postcode 'LE15 6N!' is not a valid UK postcode",
    ),
    (
        "lsoa11",
        "geometry outside the region",
        _outside_region,
        r"rutland_lsoa11\.geojson: row 5: feature 5 \(E01013791\): geometry lies outside "
        r"region E06000017",
    ),
    (
        "lsoa21",
        "cut-off GeoJSON",
        _cut_geojson,
        r"rutland_lsoa21\.geojson: not valid GeoJSON \(cut off or corrupted\?\)",
    ),
    (
        "imd2019",
        "truncated xlsx",
        _truncated_xlsx,
        r"imd2019_file1\.xlsx: truncated or corrupted workbook",
    ),
    (
        "gp-practices",
        "csv cut after a field",
        _cut_epraccur_line,
        r"epraccur\.csv: row 1575: column 13 \(status\): '' is not one of A, C, D, P",
    ),
    (
        "gp-practices",
        "truncated csv",
        _truncated_epraccur,
        r"epraccur\.csv: row 1575: file ends inside a quoted field \(truncated file\?\)",
    ),
]


@pytest.mark.parametrize(
    ("dataset", "make", "message"),
    [pytest.param(d, m, msg, id=label) for d, label, m, msg in CASES],
)
def test_bad_file_is_refused_and_nothing_changes(
    etl_settings: Settings,
    etl_db: Database,
    rutland: dict[str, LoadSummary],
    data_dir: Path,
    tmp_path: Path,
    dataset: str,
    make: Callable[[Path, Path], Path],
    message: str,
) -> None:
    path = make(data_dir, tmp_path)
    before = checksums(etl_db)
    with pytest.raises(LoadError) as info:
        load_dataset(etl_settings, dataset, path, region=RUTLAND)
    assert re.search(message, str(info.value)), str(info.value)
    assert "Traceback" not in str(info.value)
    assert checksums(etl_db) == before
