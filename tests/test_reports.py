"""Reports and exports: a Rutland scenario and the Trafford clusters, rendered and read back.

PDFs are rasterised with poppler's ``pdftoppm`` and text-extracted with ``pdftotext``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from matplotlib.image import imread

from app.reports import (
    ATTRIBUTION,
    cluster_layers,
    cluster_report,
    scenario_layers,
    scenario_report,
    to_csv,
    to_geopackage,
)
from spatial.colocation import ClusterResult, find_colocation_clusters
from spatial.scenario import CloseSites, GrowPopulation, Scenario, ScenarioResult, evaluate_scenario
from tests.spatial.test_colocation import trafford_areas, trafford_sites  # noqa: F401 (fixtures)
from tests.spatial.test_scenario import Rutland, load_rutland

SOURCES = [
    ("ONS LSOA 2021 boundaries", "rutland_lsoa21.geojson", "2021", "OGL v3.0"),
    (
        "Census 2021 usual residents by age",
        "census2021_usual_residents_lsoa21_6_age_bands.csv.gz",
        "2021-03-21",
        "OGL v3.0",
    ),
    ("ODS GP practices", "gp_practices_geo.csv", "2025", "OGL v3.0"),
    ("English IoD 2019", "iod2019_all_domains_lsoa11.csv.gz", "2019", "OGL v3.0"),
]


@pytest.fixture(scope="module")
def rutland(data_dir: Path) -> Rutland:
    return load_rutland(data_dir)


@pytest.fixture(scope="module")
def scenario_result(rutland: Rutland) -> ScenarioResult:
    scen = Scenario(
        name="Close Market Overton",
        version=2,
        description="Market Overton & Somerby closes; 65+ grows by 30 %.",
        changes=[CloseSites(["C82649"]), GrowPopulation(["Aged 65 years and over"], 1.3)],
    )
    return evaluate_scenario(
        rutland.sites,
        scen,
        travel_times=rutland.travel_times,
        population=rutland.population,
        imd=rutland.imd,
        threshold_min=5.0,
        cost_per_m2=150.0,
        receipt_per_ha=1_000_000.0,
    )


@pytest.fixture(scope="module")
def clusters(
    trafford_sites: gpd.GeoDataFrame,  # noqa: F811
    trafford_areas: pd.DataFrame,  # noqa: F811
) -> ClusterResult:
    return find_colocation_clusters(
        trafford_sites, max_distance_m=400.0, areas_population=trafford_areas
    )


@pytest.fixture(scope="module")
def scenario_outputs(
    scenario_result: ScenarioResult, rutland: Rutland
) -> dict[str, tuple[str, bytes]]:
    """The report rendered once per PDF engine (drive mode only for the matplotlib PDF)."""
    return {
        "chromium": scenario_report(
            scenario_result, areas=rutland.areas, sources=SOURCES, pdf_engine="chromium"
        ),
        "matplotlib": scenario_report(
            scenario_result,
            areas=rutland.areas,
            sources=SOURCES,
            mode="drive",
            pdf_engine="matplotlib",
        ),
    }


def _pages(pdf: bytes, tmp_path: Path, name: str) -> list[np.ndarray]:
    assert shutil.which("pdftoppm"), "poppler-utils is required (apt-get install poppler-utils)"
    src = tmp_path / f"{name}.pdf"
    src.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(src), str(tmp_path / name)], check=True)
    files = sorted(tmp_path.glob(f"{name}-*.png"))
    return [imread(f) for f in files]


def _text(pdf: bytes, tmp_path: Path) -> str:
    src = tmp_path / "text.pdf"
    src.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(src), "-"], check=True, capture_output=True)
    return " ".join(out.stdout.decode("utf-8").split())


def _colourful(img: np.ndarray) -> float:
    """Share of pixels that are clearly coloured (a choropleth), not grey or white."""
    rgb = img[..., :3]
    return float(((rgb.max(axis=2) - rgb.min(axis=2)) > 0.25).mean())


def test_scenario_report_html(
    scenario_result: ScenarioResult, scenario_outputs: dict[str, tuple[str, bytes]]
) -> None:
    html, _ = scenario_outputs["chromium"]
    assert html.startswith("<!doctype html>")
    assert "Scenario report: Close Market Overton (version 2)" in html
    for css in ("summary", "loses-age", "loses-imd", "loses-areas", "estate", "changes"):
        assert f'<table class="{css}">' in html
    assert html.count('src="data:image/png;base64,') == 6  # 3 images × 2 modes
    assert "© OpenStreetMap contributors, ODbL 1.0" in html
    assert "Open Government Licence v3.0" in html
    assert "Contains OS data © Crown copyright and database right" in html
    assert "iod2019_all_domains_lsoa11.csv.gz" in html
    assert "2021-03-21" in html
    drive = scenario_result.modes["drive"]
    lost = drive.loses["persons"].sum()
    assert lost > 0
    assert f"{lost:,.0f} people lose" in html
    # The estate table states the floor area and land released (400 m², 0.2 ha).
    assert '<td class="t">floor area released (m²)</td><td>400</td>' in html
    assert "<td>200,000</td>" in html  # receipt: 0.2 ha × £1,000,000/ha


@pytest.mark.parametrize("engine", ["chromium", "matplotlib"])
def test_scenario_report_pdf_renders(
    scenario_outputs: dict[str, tuple[str, bytes]], tmp_path: Path, engine: str
) -> None:
    _, pdf = scenario_outputs[engine]
    assert pdf[:5] == b"%PDF-"
    pages = _pages(pdf, tmp_path, engine)
    assert len(pages) >= 2
    for page in pages:
        assert float(page[..., :3].std()) > 0.02  # not blank
    assert max(_colourful(p) for p in pages) > 0.03  # a coloured map is on some page
    if engine == "chromium":
        text = _text(pdf, tmp_path)
        assert "Who loses access: drive" in text
        assert "Who loses access: walk" in text
        assert "Estate released" in text
        assert "OpenStreetMap contributors" in text
        assert "Data sources" in text


def test_cluster_report(
    clusters: ClusterResult,
    trafford_sites: gpd.GeoDataFrame,  # noqa: F811
    data_dir: Path,
    tmp_path: Path,
) -> None:
    areas = gpd.read_file(data_dir / "trafford" / "trafford_lsoa21.geojson")
    html, pdf = cluster_report(
        clusters,
        sites=trafford_sites,
        areas=areas,
        sources=[
            (
                "Trafford land and building assets",
                "trafford_land_and_building_assets.csv",
                "2023-09-29",
                "OGL v3.0",
            )
        ],
        top_n=5,
        pdf_engine="chromium",
    )
    top = clusters.clusters.iloc[0]
    assert f"#1 around {top['seed_name']}" in html
    assert '<table class="ranking">' in html
    assert '<table class="components">' in html
    assert html.count('<table class="members">') == 5
    assert "score = (" in html
    assert ATTRIBUTION.split("; ")[0] in html
    pages = _pages(pdf, tmp_path, "clusters")
    assert len(pages) >= 2
    assert all(float(p[..., :3].std()) > 0.02 for p in pages)
    text = _text(pdf, tmp_path)
    assert "Ranking" in text
    assert str(top["seed_name"]) in text


def test_exports_round_trip(
    scenario_result: ScenarioResult,
    rutland: Rutland,
    clusters: ClusterResult,
    trafford_sites: gpd.GeoDataFrame,  # noqa: F811
    tmp_path: Path,
) -> None:
    layers = scenario_layers(scenario_result, rutland.areas)
    gpkg = to_geopackage(tmp_path / "scenario.gpkg", layers)
    names = {row[0] for row in pyogrio.list_layers(gpkg)}
    assert names == {
        "areas_drive",
        "areas_walk",
        "loses_drive",
        "loses_walk",
        "sites",
        "summary",
        "estate",
        "attribution",
    }
    back = gpd.read_file(gpkg, layer="areas_drive")
    assert len(back) == 26
    assert back.crs.to_epsg() == 27700
    expected = scenario_result.modes["drive"].areas.set_index("area_code")["scenario_s"]
    assert np.allclose(back.set_index("area_code")["scenario_s"].reindex(expected.index), expected)
    sites = gpd.read_file(gpkg, layer="sites")
    assert dict(zip(sites["site_id"], sites["status"], strict=True))["C82649"] == "closed"
    attribution = pyogrio.read_dataframe(gpkg, layer="attribution")
    assert "© OpenStreetMap contributors, ODbL 1.0" in set(attribution["attribution"])

    files = to_csv(tmp_path / "csv", cluster_layers(clusters, trafford_sites))
    assert {f.name for f in files} == {"clusters.csv", "cluster_members.csv", "ATTRIBUTION.txt"}
    table = pd.read_csv(tmp_path / "csv" / "clusters.csv")
    assert len(table) == len(clusters.clusters)
    assert table["combined_gia_m2"].tolist() == pytest.approx(
        clusters.clusters["combined_gia_m2"].tolist()
    )
    assert table["geometry"].str.startswith("POINT").all()
    assert "Crown copyright" in (tmp_path / "csv" / "ATTRIBUTION.txt").read_text()
