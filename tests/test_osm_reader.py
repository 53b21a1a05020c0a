"""etl.osm.read_osm on the real extracts, and its errors for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from etl.osm import OsmReadError, read_osm


def test_rutland_extract(data_dir: Path) -> None:
    ex = read_osm(data_dir / "rutland" / "rutland_2022-07-20.osm.pbf")
    assert len(ex.ways) == 6665  # highway ways, as the data README states
    assert ex.ways["nodes"].map(len).min() >= 2
    refs = np.unique(np.concatenate(ex.ways["nodes"].tolist()))
    assert set(refs) == set(ex.nodes["osm_id"])
    # Rutland in British National Grid metres
    assert ex.nodes["x"].between(470_000, 515_000).all()
    assert ex.nodes["y"].between(285_000, 325_000).all()
    assert ex.health.crs.to_epsg() == 27700
    assert len(ex.health) == 20
    assert {"osm_id", "name", "amenity", "healthcare"} <= set(ex.health.columns)
    assert (ex.ways["highway"] == "residential").sum() > 100


def test_small_and_old_extracts(data_dir: Path) -> None:
    leeds = read_osm(data_dir / "fixtures" / "leeds_its_example.osm.pbf")
    assert len(leeds.ways) == 184
    old = read_osm(data_dir / "fixtures" / "rutland_2018-02-27.osm.pbf")
    assert len(old.ways) == 4461


def test_bbox_filter(data_dir: Path) -> None:
    ex = read_osm(
        data_dir / "rutland" / "rutland_2022-07-20.osm.pbf",
        bbox_wgs84=(-0.75, 52.65, -0.70, 52.69),  # Oakham
    )
    assert 0 < len(ex.ways) < 6665
    assert ex.nodes["lon"].between(-0.9, -0.6).all()


def test_truncated_missing_and_corrupt(data_dir: Path, tmp_path: Path) -> None:
    src = data_dir / "rutland" / "rutland_2022-07-20.osm.pbf"
    cut = tmp_path / "cut.osm.pbf"
    cut.write_bytes(src.read_bytes()[:100_000])
    with pytest.raises(OsmReadError, match=r"cut\.osm\.pbf.*EOF"):
        read_osm(cut)
    with pytest.raises(OsmReadError, match="not found"):
        read_osm(tmp_path / "missing.osm.pbf")
    junk = tmp_path / "junk.osm.pbf"
    junk.write_bytes(b"\x00\x00\x00\x0dnot a pbf file at all" * 10)
    with pytest.raises(OsmReadError, match="junk"):
        read_osm(junk)
    empty = tmp_path / "empty.osm.pbf"
    empty.write_bytes(b"")
    with pytest.raises(OsmReadError, match="empty"):
        read_osm(empty)
