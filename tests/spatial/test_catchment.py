"""Isochrones, nearest-site catchments and population in bands on the real Rutland data."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from etl.osm import read_osm
from spatial.catchment import isochrones, nearest_site_catchments, population_in_bands
from spatial.network import Network, SnappedPoints, build_network, snap_points
from spatial.traveltime import one_to_all, travel_time_matrix

BBOX = (-0.823, 52.524, -0.428, 52.761)


@pytest.fixture(scope="module")
def drive(data_dir: Path) -> Network:
    ex = read_osm(data_dir / "rutland" / "rutland_2022-07-20.osm.pbf")
    return build_network(ex.ways, ex.nodes, mode="drive")


@pytest.fixture(scope="module")
def lsoa(data_dir: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(data_dir / "rutland" / "rutland_lsoa21.geojson").to_crs(27700)


@pytest.fixture(scope="module")
def sites(data_dir: Path, drive: Network) -> SnappedPoints:
    gp = pd.read_csv(data_dir / "england" / "gp_practices_geo.csv")
    gp = gp[gp.LON.between(BBOX[0], BBOX[2]) & gp.LAT.between(BBOX[1], BBOX[3])]
    gp = gp[gp.ODS_Code.isin(["C82010", "C82044", "C82077", "C82649"])]
    g = gpd.GeoSeries(gpd.points_from_xy(gp.LON, gp.LAT), crs=4326).to_crs(27700)
    return snap_points(drive, g.x.to_numpy(), g.y.to_numpy(), ids=gp.ODS_Code.to_numpy())


def test_isochrones_nested_and_sane(drive: Network, sites: SnappedPoints) -> None:
    i = int(np.flatnonzero(sites.ids == "C82010")[0])
    oak = snap_points(drive, sites.x[i : i + 1], sites.y[i : i + 1], ids=["C82010"])
    iso = isochrones(drive, oak)
    assert list(iso.band_min) == [5, 10, 15, 20, 30, 45, 60]
    origin = shapely.Point(float(oak.x[0]), float(oak.y[0]))
    assert iso.geometry.contains(origin).all()
    geoms = list(iso.geometry)
    for small, big in itertools.pairwise(geoms):
        assert small.difference(big).area < 1.0  # nested (m²)
    area = iso.area_km2.to_numpy()
    assert (np.diff(area) >= -1e-9).all()
    assert area[1] > 2 * area[0]
    # 5 minutes from Oakham covers the town, not the county (Rutland is ~394 km²)
    assert 5 < area[0] < 60
    assert area[-1] > 150
    # honest holes: Rutland Water is not inside the 10-minute band interior everywhere
    assert iso.geometry.iloc[-1].is_valid
    # every node within 5 minutes lies inside the 5-minute polygon
    t = one_to_all(drive, oak)[0]
    near = t <= 300
    pts = shapely.points(drive.node_x[near], drive.node_y[near])
    assert shapely.contains(geoms[0], pts).all()
    far = t > 3600
    assert far.sum() == 0  # the whole county is within an hour


def test_unreachable_origin_gives_empty_isochrones(drive: Network) -> None:
    far = snap_points(drive, [300_000.0], [100_000.0], ids=["sea"])
    assert not far.reachable[0]
    iso = isochrones(drive, far, bands_min=[10])
    assert iso.geometry.iloc[0].is_empty
    assert iso.area_km2.iloc[0] == 0


def test_nearest_site_and_population(
    drive: Network, sites: SnappedPoints, lsoa: gpd.GeoDataFrame, data_dir: Path
) -> None:
    rp = lsoa.representative_point()
    areas = snap_points(drive, rp.x.to_numpy(), rp.y.to_numpy(), ids=lsoa.LSOA21CD.to_numpy())
    assert areas.reachable.all()
    tt = travel_time_matrix(drive, areas, sites)
    assert len(tt) == 26 * 4
    table, poly = nearest_site_catchments(tt, lsoa, area_id_col="LSOA21CD")
    assert table.site_id.notna().all()
    assert poly.n_areas.sum() == 26
    assert set(poly.site_id) <= {"C82010", "C82044", "C82077", "C82649"}
    assert poly.area.sum() == pytest.approx(lsoa.area.sum(), rel=1e-6)

    with gzip.open(
        data_dir / "england" / "census2021_usual_residents_lsoa21_6_age_bands.csv.gz", "rt"
    ) as fh:
        census = pd.read_csv(fh)
    census = census[census.lsoa21_code.isin(lsoa.LSOA21CD)].rename(
        columns={"lsoa21_code": "area_id", "age_group": "age_band", "usual_residents": "population"}
    )
    county_total = census.population.sum()
    assert 40_000 < county_total < 42_000
    oak = tt[tt.to_id == "C82010"].set_index("from_id")["seconds"]
    res = population_in_bands(oak, census, imd_decile=pd.Series(5, index=lsoa.LSOA21CD))
    within60 = res[res.band_min == 60].population.sum()
    assert within60 == county_total  # every area reachable within an hour of Oakham
    assert res.attrs["not_reached"] == 0
    assert res.attrs["total"] == county_total
    by_band = res.groupby("band_min").population.sum()
    assert (np.diff(by_band.to_numpy()) >= 0).all()
    assert by_band.loc[5] < county_total
    assert set(res.age_band) == set(census.age_band)
