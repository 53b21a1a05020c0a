"""Tiles over a large stored catchments set stay within their budget, limits and pool.

Issue 17: after three catchments jobs (856 bands, 11.1 million vertices) a zoom-10 tile ran
past the 15 s statement timeout and item requests queued behind tiles got 503. Here a
scratch database gets five sites (one restricted) and 90 synthetic bands of 12,841 vertices
(1.2 million) in one SQL statement (:mod:`bench.support.stored_catchments`), enough that a
tile read from the bands themselves runs past the tile budget; the migration 0012 triggers
build the tile parts. Then every zoom-10 and zoom-12 tile that holds a band is served as a
200 within the budget, the feature and byte limits and the ``Tile-Truncated`` header hold,
the generalised polygons cover what the bands cover, and a tile stuck on a lock neither
holds more than its one tile connection nor delays an items request.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import mapbox_vector_tile
import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from shapely.geometry import box, shape

from app.errors import RETRY_AFTER_S
from app.main import create_app
from app.services.tiles import DataVersion
from bench.support.stored_catchments import insert_catchments
from config.settings import Settings, TileSettings
from store.features import REGISTRY, WEB_MERCATOR_WIDTH
from tests.conftest import scratch_database, settings_for

MVT = "application/vnd.mapbox-vector-tile"
#: Band limits, minutes: 5 sites x 3 modes x 6 bands = 90 bands of 12,841 vertices.
BANDS = (5, 10, 20, 30, 45, 60)
PROBLEM = "application/problem+json"
BUDGET_MS = 1000
MAX_FEATURES = 40
MAX_BYTES = 96 * 1024
#: Rutland sites (BNG): four open, one restricted to organisation "org-b".
SITES = [
    ("GP1", 486000.0, 308800.0, False),
    ("GP2", 486600.0, 299900.0, False),
    ("GP3", 495100.0, 308300.0, False),
    ("GP4", 503600.0, 310900.0, False),
    ("RESTRICTED1", 490000.0, 305000.0, True),
]


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _settings(url: str, **tiles: Any) -> Settings:
    base = settings_for(url)
    limits = {
        "budget_ms": BUDGET_MS,
        "max_features": MAX_FEATURES,
        "max_bytes": MAX_BYTES,
        "concurrency": 1,
        "queue_timeout_s": 0.5,
        "version_ttl_s": 0,
        **tiles,
    }
    return base.model_copy(
        update={
            "tiles": base.tiles.model_copy(update=limits),
            # A small API pool: three tiles holding its connections would starve items.
            "database": base.database.model_copy(update={"pool_min_size": 1, "pool_max_size": 2}),
        }
    )


@pytest.fixture(scope="module")
def big_db() -> Iterator[tuple[str, dict[str, int]]]:
    """A scratch database with the sites and 90 stored bands (tile parts built)."""
    with scratch_database("locus_test_tiles") as (url, _):
        with psycopg.connect(_libpq(url), autocommit=True) as conn:
            load = conn.execute(
                "INSERT INTO data_loads (dataset, region, file_name, sha256, started_at,"
                " status, licence) VALUES ('tiles-test', 'E06000017', 'test', 'x', now(),"
                " 'active', 'OGL') RETURNING id"
            ).fetchone()
            assert load is not None
            for code, x, y, restricted in SITES:
                conn.execute(
                    "INSERT INTO sites (source, source_id, name, kind, status, restricted,"
                    " organisation, geom, load_id) VALUES ('test', %s, %s, 'gp_practice',"
                    " 'active', %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 27700), %s)",
                    (
                        code,
                        f"Site {code}",
                        restricted,
                        "org-b" if restricted else None,
                        x,
                        y,
                        load[0],
                    ),
                )
            bands, vertices = insert_catchments(conn, bands=BANDS)
            conn.execute("ANALYZE")
        yield url, {"bands": bands, "vertices": vertices}


@pytest.fixture(scope="module")
def client(big_db: tuple[str, dict[str, int]]) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(big_db[0]))) as c:
        yield c


def _conn(big_db: tuple[str, dict[str, int]]) -> psycopg.Connection[Any]:
    return psycopg.connect(_libpq(big_db[0]), autocommit=True)


def _tiles_with_bands(big_db: tuple[str, dict[str, int]], z: int) -> list[tuple[int, int]]:
    """The tiles of zoom ``z`` holding a band, those holding the most bands first."""
    with _conn(big_db) as conn:
        rows = conn.execute(
            "SELECT x, y FROM catchment_tile_parts WHERE z = %s GROUP BY x, y"
            " ORDER BY count(*) DESC, x, y",
            (z,),
        ).fetchall()
    return [(int(x), int(y)) for x, y in rows]


def test_the_set_is_as_large_as_a_real_one_and_its_parts_are_built(
    big_db: tuple[str, dict[str, int]],
) -> None:
    _, made = big_db
    assert made == {"bands": 90, "vertices": 90 * 12841}
    with _conn(big_db) as conn:
        raw = conn.execute("SELECT count(*), sum(ST_NPoints(geom)) FROM catchments").fetchone()
        assert raw == (90, 90 * 12841)
        by_zoom = dict(
            conn.execute(
                "SELECT z, count(DISTINCT catchment_id) FROM catchment_tile_parts GROUP BY z"
            ).fetchall()
        )
        # Every band has its pieces from zoom 7 to 14 (a 5-minute walk, 400 m across, is
        # less than a pixel below zoom 6 and left out there); none deeper.
        assert all(by_zoom[z] == 90 for z in range(7, 15))
        assert all(by_zoom.get(z, 0) <= by_zoom.get(z + 1, 0) for z in range(14))
        assert max(by_zoom) == 14
        at14 = conn.execute(
            "SELECT sum(npoints), max(npoints) FROM catchment_tile_parts WHERE z = 14"
        ).fetchone()
        at10 = conn.execute(
            "SELECT sum(npoints), max(npoints) FROM catchment_tile_parts WHERE z = 10"
        ).fetchone()
    assert at14 is not None
    assert at10 is not None
    # Generalised: a zoom-10 tile's piece of a band is a few hundred vertices, not 12,841.
    assert at10[1] < 2000 < 12841
    assert at10[0] < at14[0] < raw[1]


def test_parts_follow_the_bands_they_came_from(big_db: tuple[str, dict[str, int]]) -> None:
    with _conn(big_db) as conn, conn.transaction(force_rollback=True):
        band = conn.execute("SELECT min(id) FROM catchments").fetchone()
        assert band is not None
        before = conn.execute(
            "SELECT count(*) FROM catchment_tile_parts WHERE catchment_id = %s", band
        ).fetchone()
        # A new geometry (a 1 km square at the site) replaces the pieces...
        conn.execute(
            "UPDATE catchments SET geom = ST_Multi(ST_Envelope(ST_Buffer("
            "(SELECT s.geom FROM sites s WHERE s.id = catchments.site_id), 500)))"
            " WHERE id = %s",
            band,
        )
        after = conn.execute(
            "SELECT count(*), max(npoints) FROM catchment_tile_parts"
            " WHERE catchment_id = %s AND z = 14",
            band,
        ).fetchone()
        assert after is not None
        assert before is not None
        assert after[1] <= 9  # a square (cut at most by a tile edge), not a wobbly band
        assert after[0] < before[0]
        # ...and a population update leaves them as they are (no rebuild).
        xmin = conn.execute("SELECT xmin::text FROM catchment_tile_parts LIMIT 1").fetchone()
        conn.execute("UPDATE catchments SET population = population + 1 WHERE id <> %s", band)
        again = conn.execute("SELECT xmin::text FROM catchment_tile_parts LIMIT 1").fetchone()
        assert again == xmin
        # Deleting the band deletes its pieces.
        conn.execute("DELETE FROM catchments WHERE id = %s", band)
        gone = conn.execute(
            "SELECT count(*) FROM catchment_tile_parts WHERE catchment_id = %s", band
        ).fetchone()
        assert gone == (0,)


def test_a_tile_of_the_bands_themselves_would_run_past_the_budget(
    big_db: tuple[str, dict[str, int]],
) -> None:
    """What tiles did before migration 0012: read whole bands (the set is big enough)."""
    x, y = _tiles_with_bands(big_db, 10)[0]  # the zoom-10 tile holding every band
    raw_tile = (
        "SELECT ST_AsMVT(m.*, 'catchments') FROM (SELECT ST_AsMVTGeom("
        "ST_Transform(c.geom, 3857), ST_TileEnvelope(10, %(x)s, %(y)s)) AS g, c.id"
        " FROM catchments c WHERE ST_Transform(c.geom, 3857)"
        " && ST_TileEnvelope(10, %(x)s, %(y)s)) AS m"
    )
    with _conn(big_db) as conn, conn.transaction():
        conn.execute(f"SET LOCAL statement_timeout = {BUDGET_MS}")
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute(raw_tile, {"x": x, "y": y})


def _visible_bands_in(big_db: tuple[str, dict[str, int]], z: int, x: int, y: int) -> int:
    with _conn(big_db) as conn:
        row = conn.execute(
            "SELECT count(*) FROM catchment_tile_parts p JOIN catchments c ON c.id ="
            " p.catchment_id JOIN sites s ON s.id = c.site_id WHERE NOT s.restricted"
            " AND p.z = %s AND p.x = %s AND p.y = %s",
            (z, x, y),
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("z", [10, 12])
def test_every_tile_with_bands_is_served_within_the_limits(
    client: TestClient, big_db: tuple[str, dict[str, int]], z: int
) -> None:
    tiles = _tiles_with_bands(big_db, z)
    assert len(tiles) >= (4 if z == 10 else 30)
    truncated = 0
    for i, (x, y) in enumerate(tiles):
        # Every all-layer tile; the catchments layer alone for one tile in four.
        paths = [f"/tiles/WebMercatorQuad/{z}/{x}/{y}"]
        if i % 4 == 0:
            paths.append(f"/collections/catchments/tiles/WebMercatorQuad/{z}/{x}/{y}")
        for path in paths:
            r = client.get(path)
            # A 200 is a tile finished within the budget (past it the answer is a 503).
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
            assert r.headers["content-type"] == MVT
            assert len(r.content) <= MAX_BYTES
            layers = mapbox_vector_tile.decode(r.content)
            assert all(len(layer["features"]) <= MAX_FEATURES for layer in layers.values())
            features = layers["catchments"]["features"]
            assert features, path
            for f in features:
                assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
                assert f["geometry"]["coordinates"]
                assert f["properties"]["mode"] in ("walk", "cycle", "drive")
            assert not any(f["properties"]["site_name"] == "Site RESTRICTED1" for f in features)
            visible = _visible_bands_in(big_db, z, x, y)
            header = r.headers.get("tile-truncated")
            if header is None:
                assert len(features) == visible
                continue
            truncated += 1
            entry = next(e for e in header.split(", ") if e.startswith("catchments;"))
            kept, total = (int(v.split("=")[1]) for v in entry.split(";")[1:])
            assert total == visible > kept >= len(features)
            assert kept <= MAX_FEATURES
    # 72 visible bands overlap in the middle of Rutland: the limits had to drop some.
    assert truncated > 0


def _exact_areas(
    big_db: tuple[str, dict[str, int]], ids: list[int], z: int, x: int, y: int
) -> dict[int, float]:
    """Each band's area inside the tile, in tile units² (from its full geometry)."""
    unit = WEB_MERCATOR_WIDTH / 2**z / 4096
    with _conn(big_db) as conn:
        rows = conn.execute(
            "SELECT id, ST_Area(ST_Intersection(ST_Transform(geom, 3857),"
            " ST_TileEnvelope(%s, %s, %s))) FROM catchments WHERE id = ANY(%s)",
            (z, x, y, ids),
        ).fetchall()
    return {int(i): float(a) / unit**2 for i, a in rows}


@pytest.mark.parametrize("z", [12, 16])
def test_generalised_polygons_cover_what_the_bands_cover(
    client: TestClient, big_db: tuple[str, dict[str, int]], z: int
) -> None:
    """Each served polygon is the band within the simplification tolerance.

    ``ST_Simplify`` keeps every dropped vertex within the tolerance of the simplified
    boundary, so inside the tile a band's served area differs from its full geometry's by at
    most the served perimeter times the tolerance (8 tile units: a pixel of 512; zoom 16
    reads zoom-14 pieces, 32 of its units) plus a unit of grid snapping.
    """
    # The tile holding site GP1 (Oakham): every band of that site crosses it.
    lon, lat = -0.7233, 52.6697
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    r = client.get(f"/collections/catchments/tiles/WebMercatorQuad/{z}/{x}/{y}?site_id=1")
    assert r.status_code == 200, r.text
    features = mapbox_vector_tile.decode(r.content)["catchments"]["features"]
    assert len(features) == 18  # 3 modes x 6 bands of the site, under every limit
    inside = box(0, 0, 4096, 4096)
    served = {int(f["id"]): shape(f["geometry"]).intersection(inside) for f in features}
    exact = _exact_areas(big_db, list(served), z, x, y)
    tolerance = 8 * 2 ** max(0, z - 14) + 1
    for fid, polygon in served.items():
        assert abs(polygon.area - exact[fid]) <= polygon.length * tolerance, fid
    total_served = sum(p.area for p in served.values())
    total_exact = sum(exact.values())
    assert abs(total_served - total_exact) <= 0.03 * total_exact


def test_a_stuck_tile_holds_one_tile_connection_and_items_still_answer(
    client: TestClient, big_db: tuple[str, dict[str, int]]
) -> None:
    url = _libpq(big_db[0])
    tiles = _tiles_with_bands(big_db, 11)[:3]
    paths = [f"/collections/catchments/tiles/WebMercatorQuad/11/{x}/{y}" for x, y in tiles]
    locker = psycopg.connect(url)
    waiting: list[int] = []
    try:
        # The pieces are locked: a catchments tile blocks until its budget runs out.
        locker.execute("LOCK TABLE catchment_tile_parts IN ACCESS EXCLUSIVE MODE")
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = [pool.submit(client.get, p) for p in paths]
            with psycopg.connect(url, autocommit=True) as watcher:
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and not waiting:
                    waiting = [
                        r[0]
                        for r in watcher.execute(
                            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                            " AND wait_event_type = 'Lock' AND application_name ="
                            " 'locus-interactive'"
                        ).fetchall()
                    ]
                    time.sleep(0.02)
                # While the tile is stuck, an items request is answered in full...
                items = client.get("/collections/sites/items", params={"limit": 10})
                still = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                ).fetchone()
            answers = [f.result() for f in futures]
    finally:
        locker.close()
    assert len(waiting) == 1  # three tiles asked, one tile connection (LOCUS_TILE_CONCURRENCY)
    assert still == (1,)  # ...before the stuck tile gave up
    assert items.status_code == 200
    assert items.json()["numberReturned"] == 4
    budget = [a for a in answers if a.json().get("title") == "Query timeout"]
    busy = [a for a in answers if a.json().get("type", "").endswith("/tiles-busy")]
    assert len(budget) == 1
    assert len(busy) == 2
    for a in answers:
        assert a.status_code == 503
        assert a.headers["content-type"] == PROBLEM
        assert a.headers["retry-after"] == str(RETRY_AFTER_S)
    assert f"budget of {BUDGET_MS} ms (LOCUS_TILE_BUDGET_MS)" in budget[0].json()["detail"]
    assert "LOCUS_TILE_QUEUE_TIMEOUT_S" in busy[0].json()["detail"]
    # Failures are not cached: with the lock gone the same tile is served.
    again = client.get(paths[0])
    assert again.status_code == 200
    assert mapbox_vector_tile.decode(again.content)["catchments"]["features"]


def test_identical_renders_in_flight_are_shared(
    big_db: tuple[str, dict[str, int]],
) -> None:
    """Twenty clients asking for one new tile at once cost one render, not twenty."""
    settings = _settings(big_db[0], concurrency=2, queue_timeout_s=5.0)
    (x, y) = _tiles_with_bands(big_db, 13)[0]
    path = f"/collections/catchments/tiles/WebMercatorQuad/13/{x}/{y}"
    calls = 0
    lock = threading.Lock()
    with TestClient(create_app(settings)) as c:
        service = c.app.state.tiles  # type: ignore[attr-defined]
        render = service._render

        async def counted(*args: Any) -> Any:
            nonlocal calls
            with lock:
                calls += 1
            await asyncio.sleep(0.3)  # long enough for every request to arrive
            return await render(*args)

        service._render = counted
        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(lambda _: c.get(path), range(20)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert calls == 1


def test_data_version_is_read_at_most_once_per_ttl() -> None:
    reads = 0

    async def read() -> str:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.01)
        return f"v{reads}"

    async def scenario() -> list[str]:
        version = DataVersion(ttl_s=0.3)
        first = await asyncio.gather(*(version.get(read) for _ in range(10)))
        await asyncio.sleep(0.35)
        return [*first, await version.get(read)]

    got = asyncio.run(scenario())
    assert got == ["v1"] * 10 + ["v2"]
    assert reads == 2


def test_the_tile_budget_must_stay_below_the_statement_timeout() -> None:
    settings = settings_for("postgresql+psycopg://postgres@127.0.0.1:5432/none")
    with pytest.raises(ValidationError, match="LOCUS_TILE_BUDGET_MS must be below"):
        Settings(database=settings.database, tiles=TileSettings(budget_ms=15000))
    parts = REGISTRY["catchments"].tile_parts
    assert parts is not None
    assert parts.source_tile(12, 2040, 1340) == (12, 2040, 1340)
    assert parts.source_tile(16, 32643, 21447) == (14, 8160, 5361)
