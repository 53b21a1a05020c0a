"""Co-location finder on the real Trafford files (distance-based) and a small time matrix.

The Trafford inputs are read ad hoc here (the ETL readers are separate work): the council's
Transparency Code register (buildings with WGS84 GeoX/GeoY), the 26 GP practices, 57
pharmacies and the hospital building polygons (their centroids), Census 2021 population by
LSOA 2021 and IMD 2019 deciles (LSOA 2011, joined through the LSOA 2021 representative point).
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from etl.loading import Region
from etl.readers.eric import read_eric_sites
from spatial.colocation import (
    ClusterResult,
    ScoreWeights,
    find_colocation_clusters,
    weights_from_mapping,
)
from spatial.crs import wgs84_to_bng
from spatial.estate import estate_cost_per_m2

MFT = "Manchester University NHS Foundation Trust"
HOSPITAL_OWNERS = {
    "Trafford General Hospital": (MFT, "nhs_trust"),
    "Altrincham Hospital": (MFT, "nhs_trust"),
    "Priory Hospital Altrincham": ("Priory Healthcare", "independent"),
}
AGE_BANDS = [
    "Aged 15 years and under",
    "Aged 16 to 24 years",
    "Aged 25 to 34 years",
    "Aged 35 to 49 years",
    "Aged 50 to 64 years",
    "Aged 65 years and over",
]


def _council(data_dir: Path) -> pd.DataFrame:
    a = pd.read_csv(data_dir / "trafford" / "trafford_land_and_building_assets.csv")
    return a[a["GeoX"].notna() & a["HoldingType"].isin(["Buildings", "Land/Buildings"])]


@pytest.fixture(scope="module")
def eric_rate(data_dir: Path) -> float:
    # Every ERIC site in England (no region), read by the one ERIC reader.
    parsed = read_eric_sites(data_dir / "england" / "eric_2016-17_trust_site_pfi.xls", Region(""))
    return estate_cost_per_m2(parsed.tables["sites"], kinds=["community_hospital"])


@pytest.fixture(scope="module")
def trafford_sites(data_dir: Path) -> gpd.GeoDataFrame:
    d = data_dir / "trafford"
    a = _council(data_dir)
    council = gpd.GeoDataFrame(
        {
            "site_id": a["AssetCode"],
            "name": a["PropertyName"],
            "owner": "Trafford Council",
            "owner_type": "council",
            "kind": "council " + a["OtherDetail"].fillna("building").str.lower(),
            "tenure": a["TenureType"],
            "gia_m2": a["BuildingSize"],
            "running_cost_gbp": np.nan,
            "land_ha": a["LandArea"],
        },
        geometry=gpd.points_from_xy(a["GeoX"], a["GeoY"]),
        crs=4326,
    )
    g = pd.read_csv(d / "trafford_general_practices.csv")
    gp = gpd.GeoDataFrame(
        {
            "site_id": [f"GP{i:02d}" for i in range(len(g))],
            "name": g["name"],
            "owner": g["name"],
            "owner_type": "gp",
            "kind": "gp practice",
            "tenure": None,
            "gia_m2": np.nan,
            "running_cost_gbp": np.nan,
            "land_ha": np.nan,
        },
        geometry=gpd.points_from_xy(g["lon"], g["lat"]),
        crs=4326,
    )
    p = gpd.read_file(d / "trafford_pharmacies.geojson")
    pharm = gpd.GeoDataFrame(
        {
            "site_id": p["organisation_data_service_code"],
            "name": p["pharmacy_name"],
            "owner": p["pharmacy_name"],
            "owner_type": "pharmacy",
            "kind": "pharmacy",
            "tenure": None,
            "gia_m2": np.nan,
            "running_cost_gbp": np.nan,
            "land_ha": np.nan,
        },
        geometry=p.geometry,
        crs=p.crs,
    )
    h = gpd.read_file(d / "trafford_hospitals.geojson").to_crs(27700)
    h = h.dissolve("DISTNAME").reset_index()
    hosp = gpd.GeoDataFrame(
        {
            "site_id": ["H-" + n.replace(" ", "") for n in h["DISTNAME"]],
            "name": h["DISTNAME"],
            "owner": [HOSPITAL_OWNERS[n][0] for n in h["DISTNAME"]],
            "owner_type": [HOSPITAL_OWNERS[n][1] for n in h["DISTNAME"]],
            "kind": "hospital",
            "tenure": None,
            "gia_m2": np.nan,
            "running_cost_gbp": np.nan,
            "land_ha": np.nan,
        },
        geometry=h.geometry.centroid,
        crs=27700,
    )
    parts = [council.to_crs(27700), gp.to_crs(27700), pharm.to_crs(27700), hosp]
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=27700)


@pytest.fixture(scope="module")
def trafford_areas(data_dir: Path) -> pd.DataFrame:
    lsoa = gpd.read_file(data_dir / "trafford" / "trafford_lsoa21.geojson").to_crs(27700)
    lsoa11 = gpd.read_file(data_dir / "trafford" / "trafford_lsoa11.geojson").to_crs(27700)
    census = pd.read_csv(
        data_dir / "england" / "census2021_usual_residents_lsoa21_6_age_bands.csv.gz"
    )
    census = census[census["lsoa21_code"].isin(set(lsoa["area_code"]))]
    wide = census.pivot_table(
        index="lsoa21_code", columns="age_group", values="usual_residents", aggfunc="sum"
    )
    iod = pd.read_csv(data_dir / "england" / "iod2019_all_domains_lsoa11.csv.gz")
    decile = iod.set_index("lsoa11_code")["index_of_multiple_deprivation_imd_decile"]
    pts = gpd.GeoDataFrame(
        {"area_code": lsoa["area_code"]}, geometry=lsoa.representative_point(), crs=27700
    )
    joined = gpd.sjoin(pts, lsoa11[["area_code", "geometry"]], predicate="within")
    lsoa11_of = dict(zip(joined["area_code_left"], joined["area_code_right"], strict=True))
    out = pd.DataFrame(
        {
            "area_code": lsoa["area_code"],
            "x": pts.geometry.x,
            "y": pts.geometry.y,
            "imd_decile": [int(decile[lsoa11_of[c]]) for c in lsoa["area_code"]],
        }
    )
    for band in AGE_BANDS:
        out[band] = out["area_code"].map(wide[band]).astype(float)
    out["population"] = out[AGE_BANDS].sum(axis=1)
    return out


@pytest.fixture(scope="module")
def trafford_result(
    trafford_sites: gpd.GeoDataFrame, trafford_areas: pd.DataFrame, eric_rate: float
) -> ClusterResult:
    return find_colocation_clusters(
        trafford_sites,
        max_distance_m=400.0,
        areas_population=trafford_areas,
        age_band_columns=AGE_BANDS,
        cost_per_m2=eric_rate,
    )


def test_trafford_inputs_are_the_published_counts(
    data_dir: Path, trafford_sites: gpd.GeoDataFrame, trafford_areas: pd.DataFrame
) -> None:
    counts = trafford_sites["owner_type"].value_counts().to_dict()
    assert counts == {"council": 268, "pharmacy": 57, "gp": 26, "nhs_trust": 2, "independent": 1}
    assert len(trafford_areas) == 139
    # Census 2021 usual residents: the 6-band national table and Trafford's own 5-year table
    # agree to within ONS's small-count perturbation (1 person in 235,045).
    five = pd.read_csv(
        data_dir / "trafford" / "2021_population_by_5_year_age_bands_lsoa_trafford.csv"
    )
    by_area = five.groupby("area_code")["value"].sum()
    assert abs(trafford_areas["population"].sum() - by_area.sum()) <= 5
    assert trafford_areas["population"].sum() == 235_045


def test_clusters_mix_council_and_health_owners(trafford_result: ClusterResult) -> None:
    c = trafford_result.clusters
    assert trafford_result.method == "distance"
    assert trafford_result.threshold_unit == "m"
    assert len(c) >= 10
    assert (c["n_owners"] >= 2).all()
    assert list(c["rank"]) == list(range(1, len(c) + 1))
    assert c["score"].is_monotonic_decreasing
    with_council = c["owners"].str.contains("Trafford Council")
    with_health = c["owner_types"].str.contains("gp|nhs_trust")
    assert (with_council & with_health).sum() >= 5
    # Every host is a council freehold (no other tenure is known for these inputs).
    seeds = trafford_result.members[trafford_result.members["is_seed"]]
    assert set(seeds["tenure"]) == {"Freehold"}
    assert set(seeds["owner"]) == {"Trafford Council"}
    # Trafford General Hospital appears with council buildings.
    tgh = c[c["site_ids"].map(lambda ids: "H-TraffordGeneralHospital" in ids)]
    assert len(tgh) >= 1
    assert tgh["owners"].str.contains(MFT).all()
    # No cluster is a subset of a better-ranked one.
    sets = [frozenset(s) for s in c["site_ids"]]
    assert not any(sets[j] <= sets[i] for i in range(len(sets)) for j in range(i + 1, len(sets)))
    # Score components and formula are in the output.
    assert c["score_formula"].iloc[0] == ScoreWeights().formula()
    comps = ["owners", "host_space", "running_cost", "floor_area", "population"]
    comps += ["deprivation", "services"]
    w = ScoreWeights().as_dict()
    recomputed = sum(w[k] * c[f"c_{k}"] for k in comps) / sum(w.values())
    assert np.allclose(recomputed, c["score"])


def test_one_cluster_matches_a_hand_computation(
    data_dir: Path,
    trafford_result: ClusterResult,
    trafford_areas: pd.DataFrame,
    eric_rate: float,
) -> None:
    seed_name = "Partington Healthy Living Centre"
    row = trafford_result.clusters.loc[trafford_result.clusters["seed_name"] == seed_name]
    assert len(row) == 1
    cluster = trafford_result.cluster(int(row["cluster_id"].iloc[0]))

    # By hand, straight from the CSV rows: project, measure, filter, sum.
    council = _council(data_dir)
    seed = council[council["PropertyName"] == seed_name].iloc[0]
    sx, sy = wgs84_to_bng(seed["GeoX"], seed["GeoY"])

    def near(lon: float, lat: float) -> bool:
        x, y = wgs84_to_bng(lon, lat)
        return math.hypot(x - sx, y - sy) <= 400.0

    council_in = council[
        [near(x, y) for x, y in zip(council["GeoX"], council["GeoY"], strict=True)]
    ]
    gps = pd.read_csv(data_dir / "trafford" / "trafford_general_practices.csv")
    gps_in = gps[[near(x, y) for x, y in zip(gps["lon"], gps["lat"], strict=True)]]
    ph = gpd.read_file(data_dir / "trafford" / "trafford_pharmacies.geojson")
    ph_in = ph[[near(p.x, p.y) for p in ph.geometry]]

    owners = {"Trafford Council", *gps_in["name"], *ph_in["pharmacy_name"]}
    assert cluster["owners"] == "; ".join(sorted(owners))
    assert cluster["n_owners"] == len(owners) >= 3
    assert len(gps_in) >= 1  # a GP practice is part of it
    assert cluster["n_buildings"] == len(council_in) + len(gps_in) + len(ph_in)
    gia = float(council_in["BuildingSize"].sum())
    assert cluster["combined_gia_m2"] == pytest.approx(gia)
    # Council buildings have no running-cost return: floor area × the ERIC rate.
    assert cluster["combined_running_cost_gbp"] == pytest.approx(gia * eric_rate)
    assert cluster["running_cost_estimated_sites"] == council_in["BuildingSize"].notna().sum()
    freehold = council_in[council_in["TenureType"] == "Freehold"]
    assert cluster["freehold_gia_m2"] == pytest.approx(float(freehold["BuildingSize"].sum()))

    # Population within 1,200 m and 2,400 m of the seed, by representative point.
    d = np.hypot(trafford_areas["x"] - sx, trafford_areas["y"] - sy)
    assert cluster["pop_within_1200m"] == pytest.approx(
        trafford_areas.loc[d <= 1200, "population"].sum()
    )
    outer = trafford_areas[d <= 2400]
    assert cluster["pop_within_2400m"] == pytest.approx(outer["population"].sum())
    assert cluster["pop_within_2400m"] > 0
    for k in range(1, 11):
        assert cluster[f"imd_decile_{k}"] == pytest.approx(
            outer.loc[outer["imd_decile"] == k, "population"].sum()
        )
    assert cluster["Aged 65 years and over"] == pytest.approx(outer["Aged 65 years and over"].sum())
    member_ids = {m["site_id"] for m in cluster["members"]}
    assert set(council_in["AssetCode"]) <= member_ids


def test_user_weights_change_the_ranking(
    trafford_sites: gpd.GeoDataFrame, trafford_areas: pd.DataFrame
) -> None:
    only_pop = weights_from_mapping(
        {
            "owners": 0,
            "host_space": 0,
            "running_cost": 0,
            "floor_area": 0,
            "population": 1,
            "deprivation": 0,
            "services": 0,
        }
    )
    r = find_colocation_clusters(
        trafford_sites,
        max_distance_m=400.0,
        areas_population=trafford_areas,
        weights=only_pop,
        drop_nested=False,
    )
    top = r.clusters.iloc[0]
    assert top["score"] == pytest.approx(1.0)
    assert top["population_outer"] == r.clusters["population_outer"].max()
    with pytest.raises(ValueError, match="unknown score weight"):
        weights_from_mapping({"popularity": 1.0})
    with pytest.raises(ValueError, match=">= 0"):
        ScoreWeights(owners=-1.0)


def test_travel_time_clusters_and_time_bands() -> None:
    # Four buildings on a line 1 km apart; time threshold 5 minutes.
    sites = gpd.GeoDataFrame(
        {
            "site_id": ["A", "B", "C", "D"],
            "name": ["Town hall", "Surgery", "Library", "Clinic"],
            "owner": ["Council", "GP", "Council", "NHS"],
            "owner_type": ["council", "gp", "council", "nhs_trust"],
            "kind": ["office", "gp practice", "library", "clinic"],
            "tenure": ["Freehold", None, "Leasehold", "Freehold"],
            "gia_m2": [1000.0, 300.0, 200.0, 800.0],
            "running_cost_gbp": [100_000.0, np.nan, 20_000.0, 90_000.0],
            "land_ha": [0.5, np.nan, 0.1, 0.3],
        },
        geometry=gpd.points_from_xy([0, 1000, 2000, 3000], [0, 0, 0, 0]),
        crs=27700,
    )
    tt = pd.DataFrame(
        [
            ("A", "B", 240.0),
            ("B", "A", 250.0),
            ("A", "C", 400.0),  # too far
            ("C", "D", 200.0),
            ("D", "C", 210.0),
            ("B", "D", 500.0),
            # areas to sites
            ("L1", "A", 300.0),
            ("L2", "A", 1200.0),
            ("L1", "D", 2000.0),
            ("L2", "D", 600.0),
        ],
        columns=["from_id", "to_id", "seconds"],
    )
    areas = pd.DataFrame(
        {"area_code": ["L1", "L2"], "x": [0, 0], "y": [0, 0], "population": [1000.0, 500.0]}
    )
    r = find_colocation_clusters(sites, travel_times=tt, max_seconds=300.0, areas_population=areas)
    assert r.method == "travel_time"
    assert r.population_bands == (900.0, 1800.0)
    by_seed = r.clusters.set_index("seed_site_id")
    assert set(by_seed.index) == {"A", "D"}
    assert by_seed.loc["A", "site_ids"] == ["A", "B"]
    assert by_seed.loc["D", "site_ids"] == ["D", "C"]
    assert by_seed.loc["A", "combined_gia_m2"] == 1300.0
    assert by_seed.loc["A", "combined_running_cost_gbp"] == 100_000.0
    assert by_seed.loc["A", "running_cost_known_sites"] == 1
    assert by_seed.loc["D", "freehold_gia_m2"] == 800.0
    assert by_seed.loc["D", "land_ha"] == pytest.approx(0.4)
    assert by_seed.loc["A", "pop_within_900s"] == 1000.0
    assert by_seed.loc["A", "pop_within_1800s"] == 1500.0
    assert by_seed.loc["D", "pop_within_900s"] == 500.0
    with pytest.raises(ValueError, match="exactly one"):
        find_colocation_clusters(sites, max_distance_m=100.0, travel_times=tt, max_seconds=60.0)
