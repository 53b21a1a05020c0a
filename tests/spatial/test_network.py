"""spatial.network on the real Rutland extract: modes, rules, tables, caching and snapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from etl.osm import OsmExtract, read_osm
from spatial.network import Network, build_network, parse_maxspeed_kmh, snap_points


@pytest.fixture(scope="module")
def extract(data_dir: Path) -> OsmExtract:
    return read_osm(data_dir / "rutland" / "rutland_2022-07-20.osm.pbf")


@pytest.fixture(scope="module")
def drive(extract: OsmExtract) -> Network:
    return build_network(extract.ways, extract.nodes, mode="drive")


def test_maxspeed_parsing() -> None:
    assert parse_maxspeed_kmh("30 mph")[0] == pytest.approx(48.28032)
    assert parse_maxspeed_kmh("50") == (50.0, False)
    assert parse_maxspeed_kmh("GB:nsl_single") == (pytest.approx(96.56064), True)
    assert parse_maxspeed_kmh("national")[1] is True
    assert parse_maxspeed_kmh("20 mph;30 mph")[0] == pytest.approx(32.18688)
    assert parse_maxspeed_kmh("signals") == (None, False)
    assert parse_maxspeed_kmh(None) == (None, False)


def test_drive_network_shape(drive: Network) -> None:
    assert 5000 < drive.n_nodes < 8000
    assert drive.n_edges > drive.n_segments  # most roads two-way
    assert (drive.seg_fwd_s < 0).sum() > 0  # some one-way
    assert drive.metadata["drive_speeds_mph"]["motorway"] == 70.0
    assert drive.metadata["component"] == "largest strongly connected component"
    assert drive.indptr[-1] == drive.n_edges
    # geometry length equals the segment length and is at least the chord
    chord = np.hypot(
        drive.node_x[drive.seg_target] - drive.node_x[drive.seg_source],
        drive.node_y[drive.seg_target] - drive.node_y[drive.seg_source],
    )
    assert (drive.seg_length_m + 1e-6 >= chord).all()
    # seconds = length / speed, speeds between 5 and 70 mph
    secs = np.where(drive.seg_fwd_s >= 0, drive.seg_fwd_s, drive.seg_bwd_s)
    mph = drive.seg_length_m / secs * 3.6 / 1.609344
    assert mph.min() >= 4.99
    assert mph.max() <= 70.01
    assert not set(drive.seg_highway) & {"footway", "path", "cycleway", "track"}


def test_walk_and_cycle(extract: OsmExtract, drive: Network) -> None:
    walk = build_network(extract.ways, extract.nodes, mode="walk", walk_speed_kmh=5.0)
    assert (walk.seg_fwd_s >= 0).all()
    assert (walk.seg_bwd_s >= 0).all()
    assert np.allclose(walk.seg_fwd_s, walk.seg_length_m / (5.0 / 3.6))
    assert "footway" in set(walk.seg_highway)
    # trunk roads only where foot access is tagged: far fewer than in the drive graph
    assert (walk.seg_highway == "trunk").sum() < (drive.seg_highway == "trunk").sum() / 2
    cycle = build_network(extract.ways, extract.nodes, mode="cycle")
    assert cycle.metadata["cycle_speed_kmh"] == 15.0
    assert cycle.n_nodes > drive.n_nodes


def test_edges_frame_and_roundtrip(drive: Network, tmp_path: Path) -> None:
    e = drive.edges_frame()
    assert list(e.columns) == [
        "mode", "edge_id", "source", "target", "length_m", "cost_s", "reverse_cost_s",
        "osm_way_id", "highway", "geom",
    ]  # fmt: skip
    assert e.crs.to_epsg() == 27700
    assert len(e) == drive.n_segments
    assert ((e.cost_s >= 0) | (e.reverse_cost_s >= 0)).all()
    assert len(drive.nodes_frame()) == drive.n_nodes
    p = drive.save(tmp_path / "net.npz")
    back = Network.load(p)
    assert back.n_edges == drive.n_edges
    assert np.array_equal(back.weights, drive.weights)
    assert back.seg_geometry[10].equals(drive.seg_geometry[10])
    assert back.metadata["drive_speeds_mph"] == drive.metadata["drive_speeds_mph"]


def test_snapping_to_edges(drive: Network) -> None:
    s = 123
    g = drive.seg_geometry[s]
    mid = g.interpolate(0.5, normalized=True)
    # a point 30 m off the middle of segment s, and one 5 km off the county
    px = np.array([mid.x, 470_000.0])
    py = np.array([mid.y + 0.0, 250_000.0])
    sp = snap_points(drive, px, py, ids=["a", "far"], max_distance_m=1000)
    assert sp.segment[0] == s
    assert sp.fraction[0] == pytest.approx(0.5, abs=1e-6)
    assert sp.snap_distance_m[0] == pytest.approx(0.0, abs=1e-6)
    assert not sp.reachable[1]
    assert sp.segment[1] == -1
    assert sp.snap_distance_m[1] > 1000  # reported, never moved
    assert sp.access_s[1] == pytest.approx(sp.snap_distance_m[1] / (4.8 / 3.6))
    assert list(sp.to_frame()["reachable"]) == [True, False]
