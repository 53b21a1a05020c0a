"""The Rutland demo bundle loaded from the real files into PostGIS (issue 2 "Must show")."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import Settings
from etl.datasets import DATASETS, load_dataset
from etl.loading import LoadError, LoadSummary, Region
from store.connection import Database
from store.load_merge import GEOMETRY_COLUMNS
from store.loads import table_checksum

from .conftest import RUTLAND, fetch

ALL_TABLES = [*GEOMETRY_COLUMNS, "data_loads"]


def checksums(db: Database) -> dict[str, str]:
    with db.connection() as conn:
        return {t: table_checksum(conn, t) for t in ALL_TABLES}


def test_bundle_loads_cleanly(rutland: dict[str, LoadSummary]) -> None:
    assert all(s.status == "loaded" and s.rows_rejected == 0 for s in rutland.values())
    assert rutland["lsoa21"].rows_loaded == {"areas": 26}
    assert rutland["lsoa11"].rows_loaded == {"areas": 23}
    assert rutland["census2021-age"].rows_loaded == {"population": 26 * 6}
    assert rutland["imd2019"].rows_loaded == {"deprivation": 23}
    assert "213876 rows outside region E06000017 left out" in rutland["census2021-age"].notes


def test_lsoa21_population_sums_to_census_total(
    etl_db: Database, rutland: dict[str, LoadSummary]
) -> None:
    ((n_areas, total, bands),) = fetch(
        etl_db,
        "SELECT count(DISTINCT a.code), sum(p.count), count(DISTINCT (p.age_lower, "
        "p.age_upper)) FROM areas a JOIN population p ON p.area_code = a.code "
        "AND p.vintage = a.vintage WHERE a.vintage = 2021 AND a.level = 'lsoa' "
        "AND a.lad_code = %(r)s AND p.source = 'census2021'",
        {"r": RUTLAND},
    )
    lower_upper = fetch(etl_db, "SELECT DISTINCT age_lower, age_upper FROM population ORDER BY 1")
    assert n_areas == 26
    assert total == 41_043
    assert bands == 6
    assert [tuple(r) for r in lower_upper] == [
        (0, 15),
        (16, 24),
        (25, 34),
        (35, 49),
        (50, 64),
        (65, None),
    ]


def test_every_lsoa11_has_an_imd_decile(etl_db: Database, rutland: dict[str, LoadSummary]) -> None:
    rows = fetch(
        etl_db,
        "SELECT a.code, d.decile, d.rank FROM areas a LEFT JOIN deprivation d "
        "ON d.area_code = a.code AND d.domain = 'imd' WHERE a.vintage = 2011",
    )
    assert len(rows) == 23
    assert all(r.decile is not None and 1 <= r.decile <= 10 for r in rows)
    # E01013787 (Rutland 005A): IMD 2019 rank 19,612, decile 6 in the MHCLG file.
    assert {r.code: (r.rank, r.decile) for r in rows}["E01013787"] == (19612, 6)


def test_active_gp_practices_located_inside_the_county(
    etl_db: Database, rutland: dict[str, LoadSummary]
) -> None:
    rows = fetch(
        etl_db,
        "SELECT s.source_id, s.located_by, ST_Within(s.geom, (SELECT ST_Union(geom) "
        "FROM areas WHERE vintage = 2021 AND lad_code = %(r)s)) AS inside FROM sites s "
        "WHERE s.source = 'ods-epraccur' AND s.kind = 'gp_practice' "
        "AND s.status = 'active' ORDER BY 1",
        {"r": RUTLAND},
    )
    assert [r.source_id for r in rows] == ["C82010", "C82044", "C82077", "C82649"]
    assert all(r.inside for r in rows)
    assert {r.located_by for r in rows} == {"ods_geo:UPRN"}


def test_eric_rutland_memorial_hospital_located_by_osm_name(
    etl_db: Database, rutland: dict[str, LoadSummary]
) -> None:
    (row,) = fetch(
        etl_db,
        "SELECT name, kind, owner, located_by, gia_m2, backlog_gbp, running_cost_gbp, "
        "attributes->>'site_type' AS site_type, ST_X(geom) AS x, ST_Y(geom) AS y "
        "FROM sites WHERE source = 'eric' AND source_id = 'RT5PC'",
    )
    assert row.name == "RUTLAND MEMORIAL HOSPITAL"
    assert row.kind == "community_hospital"
    assert row.owner == "LEICESTERSHIRE PARTNERSHIP NHS TRUST"
    assert row.located_by == "osm_name"
    assert row.gia_m2 > 0
    assert row.running_cost_gbp > 0
    assert row.site_type == "7. Community hospital (with inpatient beds)"
    # Oakham, Cold Overton Road: within 1 km of the OSM way's centroid (EPSG:27700 metres).
    assert 485_000 < row.x < 487_500
    assert 308_000 < row.y < 310_000
    notes = " ".join(rutland["eric-sites"].notes)
    assert "172 trust AGGREGATE rows skipped" in notes
    assert "1040 sites could not be located" in notes


def test_pharmacies_and_postcodes(etl_db: Database, rutland: dict[str, LoadSummary]) -> None:
    assert rutland["pharmacies"].rows_loaded == {"sites": 5}
    assert rutland["codepoint"].rows_loaded == {"postcodes": 1026}
    (oakham,) = fetch(
        etl_db, "SELECT ST_X(geom), ST_Y(geom) FROM postcodes WHERE postcode = 'LE15 6NT'"
    )
    assert tuple(oakham) == (485466.0, 308867.0)  # as in the Code-Point file


def test_loading_the_same_files_again_changes_nothing(
    etl_settings: Settings, etl_db: Database, rutland: dict[str, LoadSummary], data_dir: Path
) -> None:
    before = checksums(etl_db)
    for name, rel in (
        ("lsoa21", "rutland/rutland_lsoa21.geojson"),
        ("census2021-age", "england/census2021_usual_residents_lsoa21_6_age_bands.csv.gz"),
        ("gp-practices", "england/epraccur.csv"),
    ):
        summary = load_dataset(etl_settings, name, data_dir / rel, region=RUTLAND)
        assert summary.status == "unchanged"
        assert summary.load_id == rutland[name].load_id
    assert checksums(etl_db) == before


def _site_ids(db: Database) -> dict[str, int]:
    rows = fetch(db, "SELECT source_id, id FROM sites WHERE source = 'ods-epraccur'")
    return {str(code): int(i) for code, i in rows}


def test_newer_epraccur_replaces_older_and_keeps_both_records(
    etl_settings: Settings,
    etl_db: Database,
    rutland: dict[str, LoadSummary],
    data_dir: Path,
    tmp_path: Path,
) -> None:
    """A newer file: one practice renamed, one moved, one gone; the others keep their ids.

    Stored results that name a site by id (a travel time, a catchment) survive for the
    practices that stay; the moved practice loses its catchment; the change report lists it all.
    """
    original = data_dir / "england" / "epraccur.csv"
    newer = tmp_path / "epraccur.csv"
    newer.write_bytes(
        b"".join(
            line.replace(b'"C82044","EMPINGHAM MEDICAL CENTRE"', b'"C82044","EMPINGHAM SURGERY"')
            for line in original.read_bytes().splitlines(keepends=True)
            if not line.startswith(b'"C82649"')
        )
    )
    geo = (data_dir / "england" / "gp_practices_geo.csv").read_bytes()
    (tmp_path / "gp_practices_geo.csv").write_bytes(
        geo.replace(b"52.6718736,-0.7384595", b"52.6728736,-0.7384595")  # Oakham, 111 m north
    )
    ids_before = _site_ids(etl_db)
    uppingham, oakham = ids_before["C82077"], ids_before["C82010"]
    with etl_db.transaction() as conn:
        for site in (uppingham, oakham):
            conn.execute(
                "INSERT INTO travel_times (mode, area_code, area_vintage, site_id, seconds,"
                " network_load_id) VALUES ('drive', 'E01013787', 2021, %(s)s, 600, %(l)s)",
                {"s": site, "l": rutland["lsoa21"].load_id},
            )
            conn.execute(
                "INSERT INTO catchments (site_id, mode, band_min, population,"
                " network_load_id, geom) SELECT %(s)s, 'drive', 10, 1000, %(l)s,"
                " ST_Multi(ST_Buffer(geom, 2000)) FROM sites WHERE id = %(s)s",
                {"s": site, "l": rutland["lsoa21"].load_id},
            )
    summary = load_dataset(etl_settings, "gp-practices", newer, region=RUTLAND)
    try:
        assert summary.status == "loaded"
        assert summary.superseded == [rutland["gp-practices"].load_id]
        loads = fetch(
            etl_db,
            "SELECT id, status FROM data_loads WHERE dataset = 'gp-practices' "
            "AND region = %(r)s ORDER BY id",
            {"r": RUTLAND},
        )
        ((name,),) = fetch(etl_db, "SELECT name FROM sites WHERE source_id = 'C82044'")
        kept = [
            r.site_id
            for r in fetch(
                etl_db,
                "SELECT site_id FROM travel_times WHERE site_id = ANY(%(s)s) ORDER BY 1",
                {"s": [uppingham, oakham]},
            )
        ]
        catchment_sites = [
            r.site_id
            for r in fetch(
                etl_db,
                "SELECT site_id FROM catchments WHERE site_id = ANY(%(s)s)",
                {"s": [uppingham, oakham]},
            )
        ]
        ((recorded,),) = fetch(
            etl_db, "SELECT changes FROM data_loads WHERE id = %(i)s", {"i": summary.load_id}
        )
        assert list(kept) == sorted([uppingham, oakham])
        # Oakham moved: its catchment described the old place; Uppingham's is kept.
        assert list(catchment_sites) == [uppingham]
        assert [tuple(r) for r in loads] == [
            (rutland["gp-practices"].load_id, "superseded"),
            (summary.load_id, "active"),
        ]
        assert name == "EMPINGHAM SURGERY"
        ids_after = _site_ids(etl_db)
        assert set(ids_before) - set(ids_after) == {"C82649"}
        assert all(ids_after[code] == i for code, i in ids_before.items() if code != "C82649")
        changes = summary.changes["sites"]
        # The out-of-hours centre and the minor-injuries unit share Oakham's building (UPRN):
        # they moved with it. A practice's owner is the practice itself.
        assert (changes.added, changes.removed, changes.changed) == (0, 1, 4)
        assert changes.unchanged == len(ids_before) - 5
        assert changes.examples["removed"] == ["C82649 MARKET OVERTON & SOMERBY SURGERIES"]
        assert changes.examples["changed"] == [
            "C82010 OAKHAM MEDICAL PRACTICE (geom)",
            "C82044 EMPINGHAM SURGERY (name, owner)",
            "Y04976 OAKHAM URGENT CARE CENTRE (NDUC) OOH (geom)",
            "Y05202 OAKHAM MI (geom)",
        ]
        assert recorded["sites"]["removed"] == 1
        assert recorded["sites"]["examples"]["changed"] == changes.examples["changed"]
        assert changes.describe() == "+0 added, -1 removed, ~4 changed, 6 unchanged"
    finally:
        # Back to the published files (a third load, superseding the edited copy).
        again = load_dataset(etl_settings, "gp-practices", original, region=RUTLAND)
        assert again.superseded == [summary.load_id]
        back = again.changes["sites"]
        assert (back.added, back.removed, back.changed) == (1, 0, 4)
        assert back.examples["added"] == ["C82649 MARKET OVERTON & SOMERBY SURGERIES"]
        ids_back = _site_ids(etl_db)
        assert ids_back["C82010"] == oakham
        assert ids_back["C82649"] != ids_before["C82649"]  # a new row: the old one was removed


def test_rows_held_by_another_regions_load_are_refused_unchanged(
    etl_settings: Settings, etl_db: Database, rutland: dict[str, LoadSummary], data_dir: Path
) -> None:
    """Oakham's pharmacies loaded again for a bbox around the town are already held by the
    county's load: the load is refused with the constraint named, and nothing changes."""
    before = checksums(etl_db)
    with pytest.raises(
        LoadError,
        match=r"pharmacy_geo\.csv: rows clash with another active load .*uq_sites_source_id",
    ):
        load_dataset(
            etl_settings,
            "pharmacies",
            data_dir / "england" / "pharmacy_geo.csv",
            region="-0.80,52.62,-0.65,52.72",
        )
    assert checksums(etl_db) == before


def test_registry_errors(etl_settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown dataset 'lsoa'; known datasets: .*lsoa21"):
        load_dataset(etl_settings, "lsoa", tmp_path / "x.geojson")
    with pytest.raises(LoadError, match=r"missing\.csv: file not found"):
        load_dataset(etl_settings, "gp-practices", tmp_path / "missing.csv")
    assert {"lsoa21", "lsoa11", "census2021-age", "imd2019", "gp-practices", "eric-sites"} <= set(
        DATASETS
    )


def test_progress_is_reported(rutland: dict[str, LoadSummary], data_dir: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    DATASETS["sape-mid2017"].read(
        data_dir / "england" / "pop_table_SAPE20DT1_mid2017_population_estimates.csv",
        Region(key=""),
        lambda done, total: calls.append((done, total)),
    )
    assert calls[-1][0] == 35_101
