"""Planning files: growth-rate and housing-site uploads, and the real GP list-size file.

Every bad row is named with its row and reason; good rows come out as the tables the
projection takes.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from etl.loading import LoadError, Region
from etl.readers.planning import read_growth_rates, read_housing_sites
from etl.readers.registrations import read_gp_registrations

REGISTRATIONS = "trafford/trafford_gp_patient_registrations.csv"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_growth_rates_are_read_with_blank_year_and_area_meaning_all(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "rates.csv",
        "age_band,rate,year,area_code\nall,0.01,,\n65+,0.025,2026,\n0-15,-0.004,,E01013787\n",
    )
    frame, rejects = read_growth_rates(path)
    assert rejects == []
    assert frame["area_code"].tolist() == [None, None, "E01013787"]
    assert frame["age_lower"].tolist() == [0, 65, 0]
    assert np.isnan(frame["age_upper"].iloc[0])
    assert frame["age_upper"].iloc[2] == 15
    assert np.isnan(frame["year"].iloc[0])
    assert frame["year"].iloc[1] == 2026
    assert frame["rate"].tolist() == [0.01, 0.025, -0.004]


def test_malformed_growth_rates_name_each_row_and_reason(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "rates.csv",
        "age_band,rate,year,area_code\n"
        "all,0.01,,\n"
        "sixty,0.01,,\n"
        "65+,abc,,\n"
        "65+,1.5,,\n"
        "0-15,0.01,20x6,\n"
        "0-15,0.01,,E99\n"
        "all,0.02,,\n",
    )
    frame, rejects = read_growth_rates(path)
    assert [(r.row, r.reason) for r in rejects] == [
        (3, "column 'age_band': age band 'sixty' is not like '0-15', '65+', '7' or 'all'"),
        (4, "column 'rate': 'abc' is not a number"),
        (
            5,
            "column 'rate': 1.5 is +150% a year; give a fraction between -0.5 and 0.5 "
            "(0.012 for +1.2 %)",
        ),
        (6, "column 'year': '20x6' is not a year (1900-2150)"),
        (7, "column 'area_code': 'E99' is not an LSOA code (E01...)"),
        (8, "the same area, age band and year as row 2"),
    ]
    assert len(frame) == 1
    with pytest.raises(LoadError, match="missing column"):
        read_growth_rates(_write(tmp_path, "r2.csv", "band,rate\nall,0.1\n"))


def test_housing_csv_one_row_per_site_and_year(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "sites.csv",
        "site_id,name,year,dwellings,easting,northing,persons_per_dwelling\n"
        "north,Oakham North,2025,60,486000,309500,2.3\n"
        "north,Oakham North,2026,40,486000,309500,2.3\n"
        "south,,2027,25,486500,308000,\n",
    )
    upload = read_housing_sites(path)
    assert upload.rejects == []
    assert upload.sites["site_id"].tolist() == ["north", "south"]
    assert upload.sites["geometry"].iloc[0].equals(shapely.Point(486000, 309500))
    assert upload.sites["persons_per_dwelling"].iloc[0] == 2.3
    assert np.isnan(upload.sites["persons_per_dwelling"].iloc[1])
    assert upload.completions.values.tolist() == [
        ["north", 2025, 60.0],
        ["north", 2026, 40.0],
        ["south", 2027, 25.0],
    ]


def test_malformed_housing_csv_names_each_row(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "sites.csv",
        "site_id,year,dwellings,easting,northing,persons_per_dwelling\n"
        "a,2025,60,486000,309500,\n"
        ",2025,10,486000,309500,\n"
        "b,twenty,10,486000,309500,\n"
        "c,2025,-3,486000,309500,\n"
        "d,2025,10,9999999,1,\n"
        "a,2026,10,486100,309500,\n"
        "e,2025,10,486000,309500,0\n",
    )
    upload = read_housing_sites(path)
    assert [(r.row, r.reason) for r in upload.rejects] == [
        (3, "column 'site_id' is empty"),
        (4, "column 'year': 'twenty' is not a year (1900-2150)"),
        (5, "column 'dwellings': '-3' is not a number >= 0"),
        (6, "columns 'easting'/'northing': not a position in Great Britain"),
        (7, "site 'a': a position other than row 2's"),
        (8, "column 'persons_per_dwelling': '0' is not a number above 0 (<= 20)"),
    ]


def test_housing_geojson_points_and_polygons(tmp_path: Path) -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"site_id": "p1", "dwellings": {"2026": 40, "2027": 60}},
                "geometry": {"type": "Point", "coordinates": [-0.73, 52.67]},
            },
            {
                "type": "Feature",
                "properties": {
                    "site_id": "poly",
                    "year": 2028,
                    "dwellings": 30,
                    "persons_per_dwelling": 2.5,
                    "age_profile": {"0-15": 0.3, "16-64": 0.6, "65+": 0.1},
                },
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [
                            [-0.72, 52.66],
                            [-0.71, 52.66],
                            [-0.71, 52.665],
                            [-0.72, 52.665],
                            [-0.72, 52.66],
                        ]
                    ],
                },
            },
            {
                "type": "Feature",
                "properties": {
                    "site_id": "bad",
                    "dwellings": {"soon": 5},
                    "age_profile": {"0-15": 0.5, "16+": 0.6},
                },
                "geometry": {"type": "LineString", "coordinates": [[-0.7, 52.6], [-0.6, 52.6]]},
            },
            {
                "type": "Feature",
                "properties": {"site_id": "p1", "dwellings": {"2026": 1}},
                "geometry": {"type": "Point", "coordinates": [40.0, 10.0]},
            },
        ],
    }
    path = _write(tmp_path, "sites.geojson", json.dumps(doc))
    upload = read_housing_sites(path)
    assert [(r.row, r.reason) for r in upload.rejects] == [
        (3, "a LineString: give a Point, Polygon or MultiPolygon"),
        (3, "dwellings: 'soon' is not a year (1900-2150)"),
        (3, "age_profile: the shares sum to 1.1, not 1"),
        (4, "site 'p1' repeats feature 1"),
        (4, "coordinates outside the UK (WGS84 lon/lat expected)"),
    ]
    assert upload.sites["site_id"].tolist() == ["p1", "poly"]
    point = upload.sites["geometry"].iloc[0]
    assert 480_000 < point.x < 490_000  # Oakham, in BNG
    assert 300_000 < point.y < 310_000
    assert upload.sites["geometry"].iloc[1].geom_type == "Polygon"
    assert upload.sites["age_profile"].tolist() == [None, {"0-15": 0.3, "16-64": 0.6, "65+": 0.1}]
    assert upload.completions.values.tolist() == [
        ["p1", 2026, 40.0],
        ["p1", 2027, 60.0],
        ["poly", 2028, 30.0],
    ]


def test_trafford_gp_list_sizes_read_from_the_real_file(data_dir: Path) -> None:
    path = data_dir / REGISTRATIONS
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    parsed = read_gp_registrations(path, Region(key="E08000009"))
    table = parsed.tables["gp_registrations"]
    assert parsed.rejects == []
    assert len(table) == len(rows) == 26
    assert table["registered_patients"].sum() == sum(float(r["registered_patients"]) for r in rows)
    park = table[table["practice_code"] == "P91003"].iloc[0]
    assert (park["practice_name"], park["postcode"], park["registered_patients"]) == (
        "Park Medical Practice",
        "WA15 7XR",
        7855.0,
    )
    assert park["attributes"]["ward_name"] == "Timperley Central"
    assert parsed.notes == ["list sizes name practices, not areas: region E08000009 not applied"]


def test_bad_list_sizes_are_rejected(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "lists.csv",
        "practice_code,practice_name,practice_postcode,registered_patients\n"
        "P91003,Park,WA15 7XR,7855\n"
        "not a code,X,WA15 7XR,10\n"
        "P91004,Altrincham,WA14 2DD,many\n"
        "P91003,Park again,WA15 7XR,1\n",
    )
    parsed = read_gp_registrations(path, Region(key=""))
    assert [(r.row, r.reason) for r in parsed.rejects] == [
        (3, "column 'practice_code': 'NOT A CODE' is not a valid ODS practice code"),
        (4, "column 'registered_patients': 'many' is not a number"),
        (5, "column 'practice_code': 'P91003' repeats row 2"),
    ]
