"""The Rutland demo bundle: every real file the demo loads, in order, then the computations.

`locus demo` (and `make demo`) call :func:`load_demo`; the test suite loads the same bundle
through it, so the demo a user sees is the one the tests check. Re-running it is quick: each
file already loaded is recognised by its sha256 and skipped, and computations are redone only
when their inputs changed.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.services.compute import refresh_computations
from config.settings import Settings
from etl.datasets import load_dataset
from etl.loading import LoadSummary

RUTLAND = "E06000017"


@dataclass(frozen=True)
class BundleFile:
    """One file of a bundle: the dataset it loads as, its path under the data folder, region."""

    dataset: str
    path: str
    region: str = RUTLAND
    #: Rows the load may reject (recorded with it) before it is refused.
    allow_rejects: int = 0


RUTLAND_BUNDLE: tuple[BundleFile, ...] = (
    BundleFile("lsoa21", "rutland/rutland_lsoa21.geojson"),
    BundleFile("lsoa11", "rutland/rutland_lsoa11.geojson"),
    BundleFile("msoa21", "rutland/rutland_msoa21.geojson"),
    BundleFile("census2021-age", "england/census2021_usual_residents_lsoa21_6_age_bands.csv.gz"),
    BundleFile("imd2019", "england/imd2019_file1.xlsx"),
    BundleFile("codepoint", "rutland/codepoint_2014_le.csv"),
    # OSM health points before ERIC: ERIC sites have no coordinates and are placed by name.
    BundleFile("osm-health", "rutland/rutland_2022-07-20.osm.pbf"),
    BundleFile("gp-practices", "england/epraccur.csv"),
    BundleFile("pharmacies", "england/pharmacy_geo.csv"),
    BundleFile("care-sites", "england/care_sites_geo.csv"),
    BundleFile("eric-sites", "england/eric_2016-17_trust_site_pfi.xls"),
    # The national estate benchmark: every English trust is the peer group (no region).
    BundleFile("eric-benchmark", "england/eric_2016-17_trust_site_pfi.xls", region=""),
    BundleFile("osm-network", "rutland/rutland_2022-07-20.osm.pbf"),
)

ISLE_OF_WIGHT = "E06000046"

#: Isle of Wight: public transport (GTFS) with no road network; GP practices and pharmacies.
ISLE_OF_WIGHT_BUNDLE: tuple[BundleFile, ...] = (
    BundleFile("lsoa21", "isle_of_wight/iow_lsoa21.geojson", ISLE_OF_WIGHT),
    BundleFile(
        "census2021-age",
        "england/census2021_usual_residents_lsoa21_6_age_bands.csv.gz",
        ISLE_OF_WIGHT,
    ),
    BundleFile("codepoint", "isle_of_wight/codepoint_2014_po.csv", ISLE_OF_WIGHT),
    BundleFile("gp-practices", "england/epraccur.csv", ISLE_OF_WIGHT),
    BundleFile("pharmacies", "england/pharmacy_geo.csv", ISLE_OF_WIGHT),
    BundleFile("gtfs", "isle_of_wight/iow-bus-gtfs.zip", ISLE_OF_WIGHT),
)

BUNDLES: dict[str, tuple[BundleFile, ...]] = {
    "rutland": RUTLAND_BUNDLE,
    "isle-of-wight": ISLE_OF_WIGHT_BUNDLE,
}


def load_bundle(
    settings: Settings,
    bundle: tuple[BundleFile, ...],
    *,
    data_dir: Path | None = None,
    progress_factory: Callable[[str], AbstractContextManager[Any]] | None = None,
) -> list[LoadSummary]:
    """Load every file of ``bundle`` in order (each atomically) into the database of
    ``settings``, from ``data_dir`` (default ``settings.paths.data_dir``); the summaries."""
    root = data_dir or settings.paths.data_dir
    summaries = []
    for item in bundle:
        path = root / item.path
        if progress_factory is None:
            summaries.append(
                load_dataset(
                    settings,
                    item.dataset,
                    path,
                    region=item.region,
                    allow_rejects=item.allow_rejects,
                )
            )
        else:
            with progress_factory(f"{item.dataset} ← {path.name}") as progress:
                summaries.append(
                    load_dataset(
                        settings,
                        item.dataset,
                        path,
                        region=item.region,
                        progress=progress,
                        allow_rejects=item.allow_rejects,
                    )
                )
    return summaries


def load_demo(
    settings: Settings,
    *,
    data_dir: Path | None = None,
    progress_factory: Callable[[str], AbstractContextManager[Any]] | None = None,
    bundle: tuple[BundleFile, ...] = RUTLAND_BUNDLE,
) -> list[LoadSummary]:
    """Load a bundle (default Rutland) into the database of ``settings`` and compute the
    stored travel times (idempotent)."""
    summaries = load_bundle(settings, bundle, data_dir=data_dir, progress_factory=progress_factory)
    refresh_computations(settings)
    return summaries
