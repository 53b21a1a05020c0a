"""`locus load osm-network`: a newer extract replaces the older network; a bad one changes
nothing; the network is built at the configured speeds, which the load records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import Engine

from app.services.networks import get_network
from config.settings import Settings
from etl.datasets import load_dataset
from etl.loading import LoadError
from etl.osm import read_osm
from spatial.modes import ROAD_MODES
from spatial.network import build_network
from store.connection import Database, close_databases, database
from store.loads import load_metadata, table_checksum
from tests.conftest import scratch_database, settings_for

from .conftest import fetch

OLD = "fixtures/rutland_2018-02-27.osm.pbf"
NEW = "rutland/rutland_2022-07-20.osm.pbf"
TABLES = ("network_nodes", "network_edges", "data_loads")


@pytest.fixture(scope="module")
def scratch() -> Iterator[tuple[str, Engine]]:
    with scratch_database("locus_test_net") as (url, eng):
        try:
            yield url, eng
        finally:
            close_databases(url)


@pytest.fixture(scope="module")
def settings(scratch: tuple[str, Engine]) -> Settings:
    return settings_for(scratch[0])


@pytest.fixture(scope="module")
def db(settings: Settings) -> Database:
    return database(settings.database, purpose="batch")


def _counts(db: Database) -> dict[tuple[str, str], int]:
    rows = fetch(
        db,
        "SELECT 'nodes', mode, count(*) FROM network_nodes GROUP BY mode UNION ALL "
        "SELECT 'edges', mode, count(*) FROM network_edges GROUP BY mode",
    )
    return {(r[0], r[1]): int(r[2]) for r in rows}


def test_2018_then_2022_leaves_exactly_the_2022_network(
    settings: Settings, db: Database, data_dir: Path
) -> None:
    old = load_dataset(settings, "osm-network", data_dir / OLD)
    assert old.status == "loaded"
    assert old.vintage == "2018-02-27"
    old_counts = _counts(db)
    old_drive = get_network(db, "drive", cache_dir=settings.paths.cache_dir)
    assert old_drive.metadata["network_load_id"] == old.load_id

    new = load_dataset(settings, "osm-network", data_dir / NEW)
    assert new.status == "loaded"
    assert new.superseded == [old.load_id]
    counts = _counts(db)
    assert counts != old_counts

    # Exactly the 2022 network: the same graphs as built directly from the 2022 file.
    extract = read_osm(data_dir / NEW)
    for mode in ROAD_MODES:
        net = build_network(extract.ways, extract.nodes, mode=mode)
        assert counts[("nodes", mode)] == net.n_nodes
        assert counts[("edges", mode)] == net.n_segments
    load_ids = {
        r[0]
        for r in fetch(
            db, "SELECT load_id FROM network_nodes UNION SELECT load_id FROM network_edges"
        )
    }
    loads = fetch(
        db,
        "SELECT id, status, vintage FROM data_loads WHERE dataset = 'osm-network' ORDER BY id",
    )
    assert load_ids == {new.load_id}
    assert [(r.id, r.status, r.vintage) for r in loads] == [
        (old.load_id, "superseded", "2018-02-27"),
        (new.load_id, "active", "2022-07-20"),
    ]
    # The cached routing graph follows the network load: rebuilt for the new one.
    drive = get_network(db, "drive", cache_dir=settings.paths.cache_dir)
    assert drive.metadata["network_load_id"] == new.load_id
    assert drive.n_nodes == counts[("nodes", "drive")]

    # The same file again changes nothing.
    again = load_dataset(settings, "osm-network", data_dir / NEW)
    assert (again.status, again.load_id) == ("unchanged", new.load_id)


def test_a_truncated_extract_changes_nothing(
    settings: Settings, db: Database, data_dir: Path, tmp_path: Path
) -> None:
    load_dataset(settings, "osm-network", data_dir / NEW)
    with db.connection() as conn:
        before = {t: table_checksum(conn, t) for t in TABLES}
    cut = tmp_path / "rutland_cut.osm.pbf"
    cut.write_bytes((data_dir / NEW).read_bytes()[:200_000])
    with pytest.raises(LoadError, match=r"rutland_cut\.osm\.pbf"):
        load_dataset(settings, "osm-network", cut)
    with db.connection() as conn:
        assert {t: table_checksum(conn, t) for t in TABLES} == before


def _edges(db: Database, mode: str, load_id: int) -> npt.NDArray[np.float64]:
    """``edge_id, length_m, cost_s, reverse_cost_s`` of one mode's edges, by edge id."""
    rows = fetch(
        db,
        "SELECT edge_id, length_m, cost_s, reverse_cost_s FROM network_edges "
        "WHERE mode = %(m)s AND load_id = %(l)s ORDER BY edge_id",
        {"m": mode, "l": load_id},
    )
    return np.asarray(rows, dtype=np.float64)


def test_walk_times_follow_the_configured_walking_speed(
    settings: Settings, db: Database, data_dir: Path
) -> None:
    """The real Rutland extract at 4.8 and at 6.0 km/h: seconds = length / speed on every
    walk edge, so the times differ by exactly 6.0 / 4.8; the load records the speed."""

    def at(walk_kmh: float) -> Settings:
        travel = settings.travel.model_copy(update={"walk_speed_kmh": walk_kmh})
        return settings.model_copy(update={"travel": travel})

    slow = load_dataset(at(4.8), "osm-network", data_dir / NEW)
    walk_slow, cycle_slow = _edges(db, "walk", slow.load_id), _edges(db, "cycle", slow.load_id)
    fast = load_dataset(at(6.0), "osm-network", data_dir / NEW)
    # The same file at another speed is a new load that replaces the network.
    assert fast.status == "loaded"
    assert fast.superseded == [slow.load_id]
    walk_fast, cycle_fast = _edges(db, "walk", fast.load_id), _edges(db, "cycle", fast.load_id)

    # The same graph (edges, lengths); only the times change.
    assert len(walk_slow) > 10_000
    np.testing.assert_array_equal(walk_fast[:, :2], walk_slow[:, :2])
    length = walk_slow[:, 1]
    for edges, kmh in ((walk_slow, 4.8), (walk_fast, 6.0)):
        assert (edges[:, 3] >= 0).all()  # walking goes both ways on every way
        np.testing.assert_allclose(edges[:, 2], length / (kmh / 3.6), rtol=1e-12)
        np.testing.assert_allclose(edges[:, 3], length / (kmh / 3.6), rtol=1e-12)
    np.testing.assert_allclose(walk_slow[:, 2] / walk_fast[:, 2], 6.0 / 4.8, rtol=1e-12)
    np.testing.assert_array_equal(cycle_fast, cycle_slow)  # the cycling speed did not change

    with db.connection() as conn:
        slow_meta = load_metadata(conn, slow.load_id)
        fast_meta = load_metadata(conn, fast.load_id)
    assert slow_meta["walk_speed_kmh"] == 4.8
    assert fast_meta["walk_speed_kmh"] == 6.0
    assert fast_meta["cycle_speed_kmh"] == settings.travel.cycle_speed_kmh
    assert fast_meta["networks"]["walk"]["walk_speed_kmh"] == 6.0
    assert fast.metadata["walk_speed_kmh"] == 6.0
    assert "built at walk 6 km/h" in "; ".join(fast.notes)

    # The same file at the same speed again changes nothing.
    again = load_dataset(at(6.0), "osm-network", data_dir / NEW)
    assert (again.status, again.load_id) == ("unchanged", fast.load_id)
