"""The walking speed setting reaches the stored walking times and every result that states it.

``LOCUS_WALK_SPEED_KMH`` decides the speed of the walk graph when an OSM extract is loaded and
of the access leg between a point and the network. A database loaded and computed at 6.0 km/h
must hold walking times of exactly 4.8 / 6.0 of the demo's (4.8 km/h) for every area → site
pair, and the API must say 6.0 wherever it states the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from fastapi.testclient import TestClient

from app.demo import RUTLAND_BUNDLE
from app.main import create_app
from app.services.compute import refresh_computations
from config.settings import Settings
from etl.datasets import load_dataset
from store.connection import close_databases
from tests.conftest import scratch_database, settings_for

FAST_KMH = 6.0
DEMO_KMH = 4.8
#: What stored walk times need: areas, sites located by postcode, and the road network.
DATASETS = ("lsoa21", "lsoa11", "msoa21", "codepoint", "gp-practices", "osm-network")


def _walk_times(url: str) -> pd.DataFrame:
    """Stored walk times keyed by area code and the site's source id (ids differ by database)."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        rows = conn.execute(
            "SELECT t.area_code, t.area_vintage, s.source_id, t.seconds FROM travel_times t "
            "JOIN sites s ON s.id = t.site_id WHERE t.mode = 'walk' AND s.kind = 'gp_practice'"
        ).fetchall()
    return pd.DataFrame(rows, columns=["area_code", "area_vintage", "source_id", "seconds"])


def _at(settings: Settings, walk_kmh: float) -> Settings:
    return settings.model_copy(
        update={"travel": settings.travel.model_copy(update={"walk_speed_kmh": walk_kmh})}
    )


@pytest.fixture(scope="module")
def fast_url(data_dir: Path) -> Iterator[str]:
    """A database with the Rutland areas, practices and network loaded and computed at 6 km/h."""
    files = {item.dataset: item.path for item in RUTLAND_BUNDLE}
    with scratch_database("locus_test_walk_speed") as (url, _):
        settings = _at(settings_for(url), FAST_KMH)
        try:
            for name in DATASETS:
                load_dataset(settings, name, data_dir / files[name], region="E06000017")
            refresh_computations(settings)
            yield url
        finally:
            close_databases(url)


def test_stored_walk_times_scale_with_the_walking_speed(fast_url: str, rutland_db_url: str) -> None:
    fast = _walk_times(fast_url)
    demo = _walk_times(rutland_db_url)
    both = fast.merge(
        demo, on=["area_code", "area_vintage", "source_id"], suffixes=("_fast", "_demo")
    )
    # Every pair of the demo is there (LSOA 2011/2021, MSOA x 4 Rutland practices), no more.
    assert len(both) == len(demo) == len(fast) > 0
    ratio = both["seconds_fast"] / both["seconds_demo"]
    # Network legs and the access legs both walk at the setting: the whole time scales.
    assert ratio.to_numpy() == pytest.approx(DEMO_KMH / FAST_KMH, rel=1e-9)


def test_results_state_the_speed_the_times_were_computed_at(
    fast_url: str, rutland_db_url: str
) -> None:
    seen = {}
    for url, kmh in ((fast_url, FAST_KMH), (rutland_db_url, DEMO_KMH)):
        # The API of each database runs with the demo's default setting: what it states is the
        # speed its network was built with, not the setting of the process reading it.
        with TestClient(create_app(settings_for(url))) as c:
            registry = {m["mode"]: m for m in c.get("/analysis/modes").json()["registry"]}
            nearest = c.get(
                "/analysis/nearest",
                params={"lon": -0.73, "lat": 52.671, "mode": "walk", "kind": "gp_practice"},
            )
        assert nearest.status_code == 200, nearest.text
        assert registry["walk"]["available"] is True
        assert registry["walk"]["speed_kmh"] == pytest.approx(kmh)
        assert nearest.json()["metadata"]["walk_speed_kmh"] == pytest.approx(kmh)
        seen[kmh] = nearest.json()["results"][0]
    # The same nearest practice, reached in 4.8/6.0 of the time on the network.
    assert seen[FAST_KMH]["source_id"] == seen[DEMO_KMH]["source_id"]
