"""GDAL's OGC API Features driver (Debian gdal-bin) against a live uvicorn server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyogrio
import pytest

from tests.api.conftest import GP_CODES, REPO


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(api_database_url: str) -> Iterator[str]:
    """uvicorn serving ``app.main:app`` on a free loopback port against the test database."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # Links are built on the configured base URL (never on Host): the address served here.
    env = {**os.environ, "LOCUS_DATABASE_URL": api_database_url, "LOCUS_BASE_URL": url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=REPO,
        env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"uvicorn did not become ready (exit code {proc.poll()})")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_ogrinfo_lists_layers_and_summarises_sites(live_server: str) -> None:
    listing = _run("ogrinfo", "-ro", f"OAPIF:{live_server}")
    for name in ("sites", "areas", "postcodes", "network_edges"):
        assert f": {name} " in listing or f": {name}\n" in listing, listing
    summary = _run("ogrinfo", "-ro", "-so", f"OAPIF:{live_server}", "sites")
    assert "Layer name: sites" in summary
    assert "Feature Count: 4" in summary
    assert "source_id: String" in summary
    assert "gia_m2: Real" in summary


def test_ogr2ogr_to_geopackage(live_server: str, tmp_path: Path) -> None:
    out = tmp_path / "sites.gpkg"
    # PAGE_SIZE=3 makes GDAL follow the keyset next link across two pages.
    _run("ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{live_server}", "sites", "-oo", "PAGE_SIZE=3")
    frame = pyogrio.read_dataframe(out)
    assert len(frame) == 4
    assert set(frame["source_id"]) == set(GP_CODES)
    oakham = frame[frame["source_id"] == "C82010"].iloc[0]
    assert oakham["name"] == "OAKHAM MEDICAL PRACTICE"
    assert oakham["kind"] == "gp_practice"
    assert oakham.geometry.x == pytest.approx(-0.7384595, abs=1e-6)
    assert oakham.geometry.y == pytest.approx(52.6718736, abs=1e-6)
    assert frame.crs is not None
    assert frame.crs.to_epsg() == 4326


def test_ogr2ogr_areas_with_attribute_filter(live_server: str, tmp_path: Path) -> None:
    out = tmp_path / "areas.gpkg"
    _run(
        "ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{live_server}", "areas",
        "-where", "vintage = 2021",
    )  # fmt: skip
    frame = pyogrio.read_dataframe(out)
    assert sorted(frame["code"]) == ["E01013787", "E01013788", "E01013789"]
    assert frame["population"].sum() == 1280 + 3647 + 1367
    assert set(frame.geometry.geom_type) <= {"Polygon", "MultiPolygon"}
