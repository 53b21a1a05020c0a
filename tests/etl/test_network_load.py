"""`locus load osm-network`: a newer extract replaces the older network; a bad one changes
nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from app.services.networks import get_network
from etl.datasets import load_dataset
from etl.loading import LoadError, table_checksum
from etl.osm import read_osm
from spatial.network import build_network
from tests.conftest import scratch_database

OLD = "fixtures/rutland_2018-02-27.osm.pbf"
NEW = "rutland/rutland_2022-07-20.osm.pbf"
TABLES = ("network_nodes", "network_edges", "data_loads")


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with scratch_database("locus_test_net") as (_, eng):
        yield eng


def _counts(engine: Engine) -> dict[tuple[str, str], int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT 'nodes', mode, count(*) FROM network_nodes GROUP BY mode UNION ALL "
                "SELECT 'edges', mode, count(*) FROM network_edges GROUP BY mode"
            )
        ).all()
    return {(r[0], r[1]): int(r[2]) for r in rows}


def test_2018_then_2022_leaves_exactly_the_2022_network(engine: Engine, data_dir: Path) -> None:
    old = load_dataset(engine, "osm-network", data_dir / OLD)
    assert old.status == "loaded"
    assert old.vintage == "2018-02-27"
    old_counts = _counts(engine)
    old_drive = get_network(engine, "drive")
    assert old_drive.metadata["network_load_id"] == old.load_id

    new = load_dataset(engine, "osm-network", data_dir / NEW)
    assert new.status == "loaded"
    assert new.superseded == [old.load_id]
    counts = _counts(engine)
    assert counts != old_counts

    # Exactly the 2022 network: the same graphs as built directly from the 2022 file.
    extract = read_osm(data_dir / NEW)
    for mode in ("drive", "walk", "cycle"):
        net = build_network(extract.ways, extract.nodes, mode=mode)
        assert counts[("nodes", mode)] == net.n_nodes
        assert counts[("edges", mode)] == net.n_segments
    with engine.connect() as conn:
        load_ids = set(
            conn.execute(
                text("SELECT load_id FROM network_nodes UNION SELECT load_id FROM network_edges")
            ).scalars()
        )
        loads = conn.execute(
            text(
                "SELECT id, status, vintage FROM data_loads WHERE dataset = 'osm-network' "
                "ORDER BY id"
            )
        ).all()
    assert load_ids == {new.load_id}
    assert [(r.id, r.status, r.vintage) for r in loads] == [
        (old.load_id, "superseded", "2018-02-27"),
        (new.load_id, "active", "2022-07-20"),
    ]
    # The cached routing graph follows the network load: rebuilt for the new one.
    drive = get_network(engine, "drive")
    assert drive.metadata["network_load_id"] == new.load_id
    assert drive.n_nodes == counts[("nodes", "drive")]

    # The same file again changes nothing.
    again = load_dataset(engine, "osm-network", data_dir / NEW)
    assert (again.status, again.load_id) == ("unchanged", new.load_id)


def test_a_truncated_extract_changes_nothing(
    engine: Engine, data_dir: Path, tmp_path: Path
) -> None:
    load_dataset(engine, "osm-network", data_dir / NEW)
    with engine.connect() as conn:
        before = {t: table_checksum(conn, t) for t in TABLES}
    cut = tmp_path / "rutland_cut.osm.pbf"
    cut.write_bytes((data_dir / NEW).read_bytes()[:200_000])
    with pytest.raises(LoadError, match=r"rutland_cut\.osm\.pbf"):
        load_dataset(engine, "osm-network", cut)
    with engine.connect() as conn:
        assert {t: table_checksum(conn, t) for t in TABLES} == before
