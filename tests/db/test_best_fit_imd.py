"""Best-fit IMD 2019 deciles for LSOA 2021 areas (migration 0009), on the real Rutland files.

IMD 2019 is published on LSOA 2011 codes. Rutland has 26 LSOA 2021 and 23 LSOA 2011 areas;
two 2011 LSOAs were split in 2021 (E01013801 into three, E01013802 into two), so five 2021
codes (6,746 of the county's 41,043 people) have no IMD row of their own. Each must take the
decile of the LSOA 2011 area containing its representative point. The expected answer is
computed here independently, with shapely and pyproj, from the published boundary files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import numpy as np
import pyproj
import pytest
import shapely
from alembic import command
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Connection, Engine, create_engine, text

from app.demo import RUTLAND, RUTLAND_BUNDLE
from app.main import create_app
from etl.datasets import load_dataset
from store.admin import alembic_config, create_database, drop_database
from tests.conftest import scratch_database, scratch_database_url, settings_for

RUTLAND_POPULATION = 41_043
#: 2021 code -> (LSOA 2011 it lies in, that LSOA's IMD 2019 decile in the MHCLG file).
SPLIT_CODES = {
    "E01035102": ("E01013801", 6),
    "E01035103": ("E01013801", 6),
    "E01035104": ("E01013801", 6),
    "E01035105": ("E01013802", 10),
    "E01035106": ("E01013802", 10),
}
_TO_BNG = pyproj.Transformer.from_crs(4326, 27700, always_xy=True)


def _boundaries(path: Path, key: str) -> dict[str, Any]:
    """Polygons of an ONS boundary file by code, projected to EPSG:27700 here (not by etl/)."""
    doc = json.loads(path.read_text())

    def to_bng(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        x, y = _TO_BNG.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return {
        f["properties"][f"{key}CD"]: shapely.transform(shape(f["geometry"]), to_bng)
        for f in doc["features"]
    }


def _areas(conn: Connection, vintage: int) -> dict[str, Any]:
    rows = conn.execute(
        text(
            "SELECT code, imd_decile, imd_source_code, population, ST_X(rep_point) AS x, "
            "ST_Y(rep_point) AS y FROM areas_features WHERE level = 'lsoa' AND vintage = :v"
        ),
        {"v": vintage},
    ).all()
    return {r.code: r for r in rows}


def _imd(conn: Connection) -> dict[str, int]:
    return dict(
        conn.execute(text("SELECT area_code, decile FROM deprivation WHERE domain = 'imd'")).all()
    )


def _best_fit(conn: Connection) -> dict[str, tuple[str | None, int | None]]:
    """The split codes' stored ``(imd_source_code, imd_decile)``."""
    rows = conn.execute(
        text(
            "SELECT code, imd_source_code, imd_decile FROM areas "
            "WHERE vintage = 2021 AND code = ANY(:c)"
        ),
        {"c": list(SPLIT_CODES)},
    ).all()
    return {r.code: (r.imd_source_code, r.imd_decile) for r in rows}


def _best_fit_of(engine: Engine) -> dict[str, tuple[str | None, int | None]]:
    with engine.connect() as conn:
        return _best_fit(conn)


NONE = dict.fromkeys(SPLIT_CODES, (None, None))


def test_every_rutland_lsoa21_has_the_decile_of_its_best_fit_lsoa11(
    rutland_engine: Engine, data_dir: Path
) -> None:
    lsoa21 = _boundaries(data_dir / "rutland" / "rutland_lsoa21.geojson", "LSOA21")
    lsoa11 = _boundaries(data_dir / "rutland" / "rutland_lsoa11.geojson", "LSOA11")
    assert (len(lsoa21), len(lsoa11)) == (26, 23)
    with rutland_engine.connect() as conn:
        areas = _areas(conn, 2021)
        imd = _imd(conn)
    assert set(areas) == set(lsoa21)
    assert all(a.imd_decile is not None and 1 <= a.imd_decile <= 10 for a in areas.values())

    changed = sorted(set(lsoa21) - set(lsoa11))
    assert changed == sorted(SPLIT_CODES)
    assert sum(areas[c].population for c in changed) == 6_746
    for code in changed:
        polygon = lsoa21[code]
        # The 2011 polygon holding shapely's representative point of the 2021 polygon, the
        # one holding the representative point the database stored, and the one holding
        # most of the 2021 polygon's area must all be the same LSOA 2011.
        own = [c for c, g in lsoa11.items() if g.contains(polygon.representative_point())]
        stored = [
            c for c, g in lsoa11.items() if g.contains(shapely.Point(areas[code].x, areas[code].y))
        ]
        shares = {c: polygon.intersection(g).area / polygon.area for c, g in lsoa11.items()}
        most = max(shares, key=shares.__getitem__)
        assert own == stored == [most], code
        assert shares[most] > 0.99, (code, shares[most])
        assert areas[code].imd_source_code == most
        assert areas[code].imd_decile == imd[most]
        assert (most, imd[most]) == SPLIT_CODES[code]
    for code in set(lsoa21) & set(lsoa11):
        assert areas[code].imd_source_code == code
        assert areas[code].imd_decile == imd[code]


def test_lsoa11_areas_keep_their_own_decile_and_msoas_have_none(rutland_engine: Engine) -> None:
    with rutland_engine.connect() as conn:
        lsoa11 = _areas(conn, 2011)
        imd = _imd(conn)
        msoa = conn.execute(
            text(
                "SELECT count(*), count(imd_decile), count(imd_source_code) FROM areas_features "
                "WHERE level = 'msoa'"
            )
        ).one()
    assert len(lsoa11) == 23
    assert {c: (a.imd_source_code, a.imd_decile) for c, a in lsoa11.items()} == {
        c: (c, imd[c]) for c in lsoa11
    }
    assert tuple(msoa) == (5, 0, 0)


@pytest.fixture(scope="module")
def client(rutland_db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(rutland_db_url))) as c:
        yield c


def test_areas_collection_and_tiles_carry_imd_source_code(client: TestClient) -> None:
    doc = client.get(
        "/collections/areas/items", params={"imd_source_code": "E01013801", "limit": 100}
    ).json()
    got = {(f["properties"]["code"], f["properties"]["vintage"]) for f in doc["features"]}
    assert got == {
        ("E01013801", 2011),
        ("E01035102", 2021),
        ("E01035103", 2021),
        ("E01035104", 2021),
    }
    assert {f["properties"]["imd_decile"] for f in doc["features"]} == {6}
    described = client.get("/collections/areas").json()["description"]
    assert "best-fit LSOA 2011" in described
    schema = client.get("/collections/areas/schema").json()["properties"]["properties"]
    assert schema["properties"]["imd_source_code"]["type"] == "string"

    # Zoom 8 tile 127/83 holds all of Rutland.
    resp = client.get("/collections/areas/tiles/WebMercatorQuad/8/127/83")
    assert resp.status_code == 200
    features = mapbox_vector_tile.decode(resp.content)["areas"]["features"]
    props = {
        f["properties"]["code"]: f["properties"]
        for f in features
        if f["properties"]["vintage"] == 2021 and f["properties"]["level"] == "lsoa"
    }
    assert len(props) == 26
    assert {c: (props[c]["imd_source_code"], props[c]["imd_decile"]) for c in SPLIT_CODES} == (
        SPLIT_CODES
    )


def test_county_catchment_has_no_unknown_imd(client: TestClient, rutland_engine: Engine) -> None:
    with rutland_engine.connect() as conn:
        oakham = conn.execute(
            text("SELECT id FROM sites WHERE source_id = 'C82010' AND kind = 'gp_practice'")
        ).scalar_one()
        by_decile: dict[int, float] = dict(
            conn.execute(
                text(
                    "SELECT imd_decile, sum(population) FROM areas_features WHERE vintage = 2021 "
                    "AND level = 'lsoa' GROUP BY 1"
                )
            ).all()
        )
    doc = client.get(f"/analysis/catchment/{oakham}", params={"mode": "drive"}).json()
    county = next(f["properties"] for f in doc["features"] if f["properties"]["band_min"] == 60)
    assert county["areas"] == 26
    assert county["population"] == RUTLAND_POPULATION
    assert county["imd_unknown"] == 0
    # Every area has a decile: the deciles partition the county as the stored areas do.
    assert None not in by_decile
    assert sum(by_decile.values()) == RUTLAND_POPULATION
    assert county["by_imd_decile"] == {
        str(d): pytest.approx(float(by_decile.get(d, 0))) for d in range(1, 11)
    }


def _load(url: str, data_dir: Path, *names: str) -> None:
    """Load datasets of the Rutland demo bundle, in the order given."""
    files = {item.dataset: item.path for item in RUTLAND_BUNDLE}
    for name in names:
        summary = load_dataset(settings_for(url), name, data_dir / files[name], region=RUTLAND)
        assert summary.status == "loaded", name


def test_best_fit_follows_any_load_order_and_later_changes(data_dir: Path) -> None:
    with scratch_database("locus_test_bestfit") as (url, engine):
        # 2021 boundaries and IMD first: no 2011 polygons yet, so no best fit.
        _load(url, data_dir, "lsoa21", "imd2019")
        assert _best_fit_of(engine) == NONE
        with engine.connect() as conn:
            exact = {c: (a.imd_source_code, a.imd_decile) for c, a in _areas(conn, 2021).items()}
        assert sum(v != (None, None) for v in exact.values()) == 21

        # LSOA 2011 boundaries last: the statement trigger on areas fills the five in.
        _load(url, data_dir, "lsoa11")
        assert _best_fit_of(engine) == SPLIT_CODES

        with engine.begin() as conn:
            # IMD rows change: the split areas follow their source's decile ...
            conn.execute(text("UPDATE deprivation SET decile = 2 WHERE area_code = 'E01013801'"))
        assert {c: f for c, f in _best_fit_of(engine).items() if f[0] == "E01013801"} == {
            c: ("E01013801", 2) for c, (src, _) in SPLIT_CODES.items() if src == "E01013801"
        }
        with engine.begin() as conn:
            conn.execute(text("UPDATE deprivation SET decile = 6 WHERE area_code = 'E01013801'"))
            # ... 2011 polygons move away and back (UPDATE OF geom) ...
            conn.execute(
                text("UPDATE areas SET geom = ST_Translate(geom, 50000, 0) WHERE vintage = 2011")
            )
            assert _best_fit(conn) == NONE
            conn.execute(
                text("UPDATE areas SET geom = ST_Translate(geom, -50000, 0) WHERE vintage = 2011")
            )
        assert _best_fit_of(engine) == SPLIT_CODES

        # ... and the LSOA 2011 areas are deleted: back to no decile, exact ones unchanged.
        with engine.begin() as conn:
            deleted = conn.execute(
                text("DELETE FROM areas WHERE level = 'lsoa' AND vintage = 2011")
            ).rowcount
        assert deleted == 23
        assert _best_fit_of(engine) == NONE
        with engine.connect() as conn:
            after = {c: (a.imd_source_code, a.imd_decile) for c, a in _areas(conn, 2021).items()}
        assert after == exact


#: Definitions of every function, trigger, view (with comment), index and areas column.
_SCHEMA_SQL = {
    "functions": "SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid) FROM pg_proc p "
    "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' "
    "AND p.proname LIKE 'locus%' ORDER BY 1",
    "triggers": "SELECT tgrelid::regclass::text || '.' || tgname, pg_get_triggerdef(oid) "
    "FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1",
    "views": "SELECT viewname, definition || coalesce(obj_description(to_regclass(viewname)), '') "
    "FROM pg_views WHERE schemaname = 'public' ORDER BY 1",
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
    "columns": "SELECT column_name, data_type || coalesce(generation_expression, '') "
    "FROM information_schema.columns WHERE table_name = 'areas' ORDER BY ordinal_position",
}


def _schema(engine: Engine) -> dict[str, list[tuple[str, str]]]:
    with engine.connect() as conn:
        return {k: [tuple(r) for r in conn.execute(text(q)).all()] for k, q in _SCHEMA_SQL.items()}


def test_downgrade_restores_0008_exactly_and_upgrade_recomputes(data_dir: Path) -> None:
    reference_url = scratch_database_url("locus_test_0008")
    reference_settings = settings_for(reference_url).database
    create_database(reference_settings)
    reference = create_engine(reference_url)
    try:
        command.upgrade(alembic_config(reference_settings), "0008")
        at_0008 = _schema(reference)
    finally:
        reference.dispose()
        drop_database(reference_settings)
    assert "locus_area_imd(text,text,integer,geometry)" not in dict(at_0008["functions"])

    with scratch_database("locus_test_bestfit_down") as (url, engine):
        _load(url, data_dir, "lsoa21", "lsoa11", "imd2019")
        assert _best_fit_of(engine) == SPLIT_CODES
        with engine.connect() as conn:
            before = {c: a.imd_decile for c, a in _areas(conn, 2021).items()}
        command.downgrade(alembic_config(settings_for(url).database), "0008")
        assert _schema(engine) == at_0008
        with engine.connect() as conn:
            down: dict[str, int | None] = dict(
                conn.execute(
                    text(
                        "SELECT code, imd_decile FROM areas_features "
                        "WHERE level = 'lsoa' AND vintage = 2021"
                    )
                ).all()
            )
        # Deciles by own code only again: the five split codes lose theirs, nothing else moves.
        assert down == {c: (None if c in SPLIT_CODES else d) for c, d in before.items()}
        command.upgrade(alembic_config(settings_for(url).database), "head")
        assert _best_fit_of(engine) == SPLIT_CODES
