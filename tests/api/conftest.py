"""API test fixtures: a throwaway migrated PostGIS database holding a few real Rutland rows.

Until the shared ``tests/conftest.py`` offers a loaded database, this creates its own
(``locus_api_test_<random>`` through :func:`tests.conftest.scratch_database`, migrated to
head) and inserts, through one ``data_loads`` row:

- areas: LSOA 2021 and 2011 E01013787/88/89 (Rutland 005A, 001A, 001B) from the ONS
  boundary files; Census 2021 age bands for the 2021 codes; IMD 2019 deciles (6, 9, 7);
- sites: the four Rutland GP practices (ODS C82010, C82044, C82077, C82649, coordinates from
  ``gp_practices_geo.csv``), one restricted council building and one unlocated ERIC site;
- postcodes: five Oakham LE15 0 postcodes from Code-Point Open (BNG as published);
- network_edges: two edges (walk, drive) between the Oakham and Uppingham practices.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from config.settings import Settings
from store.features import ATTRIBUTION
from tests.conftest import scratch_database, settings_for

REPO = Path(__file__).resolve().parents[2]
LSOA_CODES = ("E01013787", "E01013788", "E01013789")
GP_CODES = ("C82010", "C82044", "C82077", "C82649")
_AGE_BANDS = {
    "Aged 15 years and under": (0, 15),
    "Aged 16 to 24 years": (16, 24),
    "Aged 25 to 34 years": (25, 34),
    "Aged 35 to 49 years": (35, 49),
    "Aged 50 to 64 years": (50, 64),
    "Aged 65 years and over": (65, None),
}


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _rows_starting(path: Path, prefixes: tuple[str, ...]) -> list[dict[str, str]]:
    """CSV rows (as dicts) of a gzipped file whose line starts with one of ``prefixes``."""
    with gzip.open(path, "rt", newline="") as fh:
        header = next(csv.reader([fh.readline()]))
        lines = [line for line in fh if line.startswith(prefixes)]
    return [dict(zip(header, row, strict=True)) for row in csv.reader(lines)]


def _seed(conn: psycopg.Connection, data_dir: Path) -> None:
    load_id = conn.execute(
        "INSERT INTO data_loads (dataset, region, file_name, sha256, rows_read, rows_loaded,"
        " started_at, finished_at, status, licence)"
        " VALUES ('api_test_fixture', 'E06000017', 'tests/api/conftest.py', 'n/a', 0, 0,"
        " now(), now(), 'active', %s) RETURNING id",
        (ATTRIBUTION,),
    ).fetchone()[0]  # type: ignore[index]

    for vintage, file_name, key in (
        (2021, "rutland_lsoa21.geojson", "LSOA21"),
        (2011, "rutland_lsoa11.geojson", "LSOA11"),
    ):
        doc = json.loads((data_dir / "rutland" / file_name).read_text())
        for feat in doc["features"]:
            props = feat["properties"]
            if props[f"{key}CD"] not in LSOA_CODES:
                continue
            conn.execute(
                "WITH g AS (SELECT ST_Multi(ST_Transform(ST_SetSRID("
                " ST_GeomFromGeoJSON(%s), 4326), 27700)) AS geom)"
                " INSERT INTO areas (code, name, level, vintage, lad_code, geom, rep_point,"
                " load_id) SELECT %s, %s, 'lsoa', %s, 'E06000017', geom,"
                " ST_PointOnSurface(geom), %s FROM g",
                (
                    json.dumps(feat["geometry"]),
                    props[f"{key}CD"],
                    props[f"{key}NM"],
                    vintage,
                    load_id,
                ),
            )

    census = data_dir / "england" / "census2021_usual_residents_lsoa21_6_age_bands.csv.gz"
    for row in _rows_starting(census, LSOA_CODES):
        if row["lsoa21_code"] in LSOA_CODES:
            lower, upper = _AGE_BANDS[row["age_group"]]
            conn.execute(
                "INSERT INTO population (area_code, vintage, source, sex, age_lower,"
                " age_upper, count, reference_date, load_id)"
                " VALUES (%s, 2021, 'census2021', 'all', %s, %s, %s, '2021-03-21', %s)",
                (row["lsoa21_code"], lower, upper, float(row["usual_residents"]), load_id),
            )

    iod = data_dir / "england" / "iod2019_all_domains_lsoa11.csv.gz"
    for row in _rows_starting(iod, LSOA_CODES):
        if row["lsoa11_code"] in LSOA_CODES:
            conn.execute(
                "INSERT INTO deprivation (area_code, vintage, domain, rank, decile, source,"
                " load_id) VALUES (%s, 2011, 'imd', %s, %s, 'iod2019', %s)",
                (
                    row["lsoa11_code"],
                    int(row["index_of_multiple_deprivation_imd_rank"]),
                    int(row["index_of_multiple_deprivation_imd_decile"]),
                    load_id,
                ),
            )

    with (data_dir / "england" / "gp_practices_geo.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["ODS_Code"] in GP_CODES:
                conn.execute(
                    "INSERT INTO sites (source, source_id, name, kind, owner, owner_type,"
                    " status, located_by, geom, load_id) VALUES ('ods_epraccur', %s, %s,"
                    " 'gp_practice', 'NHS Leicester, Leicestershire and Rutland ICB', 'gp',"
                    " 'active', %s, ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326),"
                    " 27700), %s)",
                    (
                        row["ODS_Code"],
                        row["Name"],
                        row["geo_match"],
                        float(row["LON"]),
                        float(row["LAT"]),
                        load_id,
                    ),
                )
    # A restricted partner asset (must never show to anonymous callers) and an ERIC site
    # that could not be located (null geometry: not a feature).
    conn.execute(
        "INSERT INTO sites (source, source_id, name, kind, owner, owner_type, status, tenure,"
        " gia_m2, restricted, organisation, geom, load_id) VALUES ('council_assets',"
        " 'RESTRICTED-1', 'Catmose (restricted test asset)', 'council_building',"
        " 'Rutland County Council', 'council', 'active', 'freehold', 5000, true, 'E06000017',"
        " ST_SetSRID(ST_MakePoint(486000, 308800), 27700), %s)",
        (load_id,),
    )
    conn.execute(
        "INSERT INTO sites (source, source_id, name, kind, owner, owner_type, status, load_id)"
        " VALUES ('eric', 'RT5PC', 'RUTLAND MEMORIAL HOSPITAL', 'community_hospital',"
        " 'Leicestershire Partnership NHS Trust', 'nhs_trust', 'active', %s)",
        (load_id,),
    )

    with (data_dir / "rutland" / "codepoint_2014_le.csv").open(newline="") as fh:
        rows = [r for r in csv.reader(fh) if r[0].startswith("LE150")][:5]
    for r in rows:
        conn.execute(
            "INSERT INTO postcodes (postcode, source, vintage, geom, load_id) VALUES (%s,"
            " 'codepoint_open', '2014-08', ST_SetSRID(ST_MakePoint(%s, %s), 27700), %s)",
            (r[0], float(r[2]), float(r[3]), load_id),
        )

    for mode, edge_id in (("walk", 1), ("drive", 1)):
        conn.execute(
            "INSERT INTO network_edges (mode, edge_id, source, target, length_m, cost_s,"
            " reverse_cost_s, highway, geom, load_id)"
            " SELECT %s, %s, 1, 2, ST_Length(g), ST_Length(g) / 1.33, ST_Length(g) / 1.33,"
            " 'unclassified', g, %s FROM (SELECT ST_MakeLine(a.geom, b.geom) AS g"
            " FROM sites a, sites b WHERE a.source_id = 'C82010' AND b.source_id = 'C82077') s",
            (mode, edge_id, load_id),
        )
    conn.execute("ANALYZE areas, population, deprivation, sites, postcodes, network_edges")


@pytest.fixture(scope="session")
def api_database_url(data_dir: Path) -> Iterator[str]:
    """SQLAlchemy URL of a throwaway, migrated and seeded database (dropped afterwards)."""
    with scratch_database("locus_api_test") as (url, _):
        with psycopg.connect(_libpq(url), autocommit=True) as conn:
            _seed(conn, data_dir)
        yield url


@pytest.fixture(scope="session")
def api_settings(api_database_url: str) -> Settings:
    """Settings pointing at the test database (default page size 10 as in the OGC examples)."""
    return settings_for(api_database_url, default_page_size=10, max_page_size=1000)


@pytest.fixture(scope="session")
def client(api_settings: Settings) -> Iterator[TestClient]:
    """A TestClient on ``create_app(api_settings)`` with its lifespan (pool) running."""
    with TestClient(create_app(api_settings)) as test_client:
        yield test_client
