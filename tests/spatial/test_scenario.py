"""Scenarios on Rutland: 26 LSOA 2021 × the 4 GP practices, straight-line travel times.

The travel-time matrix here is synthetic but built from real geometry: straight-line distance
between each LSOA 2021 representative point and each practice (ODS LAT/LON), times a detour
factor, at a fixed speed per mode. The lead re-runs the same checks on network times later;
every assertion recomputes the expected answer from the matrix itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from spatial.scenario import (
    ChangeCapacity,
    CloseSites,
    GrowPopulation,
    MoveService,
    OpenSite,
    Scenario,
    ScenarioError,
    compare_scenarios,
    evaluate_scenario,
)

PRACTICES = ["C82010", "C82044", "C82077", "C82649"]
SPEEDS_KMH = {"drive": 40.0, "walk": 4.8}
DETOUR = 1.3
OVER_65 = "Aged 65 years and over"


@dataclass
class Rutland:
    areas: gpd.GeoDataFrame  # LSOA 2021 polygons, EPSG:27700, column area_code
    sites: gpd.GeoDataFrame  # practices, EPSG:27700
    population: pd.DataFrame  # area_code, age_band, count
    imd: dict[str, int]
    travel_times: pd.DataFrame  # from_id, to_id, mode, seconds
    hub_xy: tuple[float, float]  # candidate hub point, EPSG:27700


def _times(
    points: gpd.GeoSeries, codes: list[str], sites: dict[str, tuple[float, float]]
) -> pd.DataFrame:
    rows = []
    for mode, kmh in SPEEDS_KMH.items():
        for code, p in zip(codes, points, strict=True):
            for sid, (x, y) in sites.items():
                metres = float(np.hypot(p.x - x, p.y - y)) * DETOUR
                rows.append((code, sid, mode, metres / (kmh / 3.6)))
    return pd.DataFrame(rows, columns=["from_id", "to_id", "mode", "seconds"])


def load_rutland(data_dir: Path) -> Rutland:
    lsoa = gpd.read_file(data_dir / "rutland" / "rutland_lsoa21.geojson").to_crs(27700)
    lsoa = lsoa.rename(columns={"LSOA21CD": "area_code"})[["area_code", "LSOA21NM", "geometry"]]
    lsoa11 = gpd.read_file(data_dir / "rutland" / "rutland_lsoa11.geojson").to_crs(27700)
    gp = pd.read_csv(data_dir / "england" / "gp_practices_geo.csv")
    gp = gp[gp["ODS_Code"].isin(PRACTICES)].sort_values("ODS_Code")
    sites = gpd.GeoDataFrame(
        {
            "site_id": gp["ODS_Code"].to_numpy(),
            "name": gp["Name"].to_numpy(),
            "kind": "gp practice",
            # User-entered floor areas and land (GP premises are not in ERIC).
            "gia_m2": [1800.0, 450.0, 900.0, 400.0],
            "running_cost_gbp": [np.nan, 60_000.0, np.nan, np.nan],
            "land_ha": [0.6, 0.25, 0.4, 0.2],
            "capacity": [10.0, 2.0, 6.0, 2.0],
        },
        geometry=gpd.points_from_xy(gp["LON"], gp["LAT"]),
        crs=4326,
    ).to_crs(27700)
    census = pd.read_csv(
        data_dir / "england" / "census2021_usual_residents_lsoa21_6_age_bands.csv.gz"
    )
    census = census[census["lsoa21_code"].isin(set(lsoa["area_code"]))]
    population = census.rename(
        columns={"lsoa21_code": "area_code", "age_group": "age_band", "usual_residents": "count"}
    )[["area_code", "age_band", "count"]]
    iod = pd.read_csv(data_dir / "england" / "iod2019_all_domains_lsoa11.csv.gz")
    decile = iod.set_index("lsoa11_code")["index_of_multiple_deprivation_imd_decile"]
    pts = lsoa.representative_point()
    joined = gpd.sjoin(
        gpd.GeoDataFrame({"area_code": lsoa["area_code"]}, geometry=pts, crs=27700),
        lsoa11[["LSOA11CD", "geometry"]],
        predicate="within",
    )
    imd = {a: int(decile[b]) for a, b in zip(joined["area_code"], joined["LSOA11CD"], strict=True)}
    coords = {s: (g.x, g.y) for s, g in zip(sites["site_id"], sites.geometry, strict=True)}
    # A candidate hub between Oakham and Uppingham (a point, not an existing building).
    ox, oy = coords["C82010"]
    ux, uy = coords["C82077"]
    coords["HUB1"] = ((ox + ux) / 2, (oy + uy) / 2)
    tt = _times(pts, list(lsoa["area_code"]), coords)
    return Rutland(lsoa, sites, population, imd, tt, coords["HUB1"])


@pytest.fixture(scope="module")
def rutland(data_dir: Path) -> Rutland:
    return load_rutland(data_dir)


def _matrix(r: Rutland, mode: str) -> pd.DataFrame:
    t = r.travel_times[r.travel_times["mode"] == mode]
    return t.pivot(index="from_id", columns="to_id", values="seconds")


def test_inputs(rutland: Rutland) -> None:
    assert len(rutland.areas) == 26
    assert list(rutland.sites["site_id"]) == PRACTICES
    assert rutland.population["area_code"].nunique() == 26
    assert rutland.population["count"].sum() == 41_043  # Census 2021 table, Rutland LSOAs
    assert len(rutland.imd) == 26
    assert set(rutland.imd.values()) <= set(range(1, 11))


@pytest.mark.parametrize("closed", PRACTICES)
def test_closing_a_practice_reports_exactly_who_loses_access(rutland: Rutland, closed: str) -> None:
    threshold_min = 5.0
    result = evaluate_scenario(
        rutland.sites,
        Scenario(name=f"close {closed}", changes=[CloseSites([closed])]),
        travel_times=rutland.travel_times,
        population=rutland.population,
        imd=rutland.imd,
        threshold_min=threshold_min,
    )
    for mode in ("drive", "walk"):
        m = _matrix(rutland, mode)
        before = m[PRACTICES].min(axis=1)
        after = m[[p for p in PRACTICES if p != closed]].min(axis=1)
        limit = threshold_min * 60
        losing = sorted(before.index[(before <= limit) & (after > limit)])
        res = result.modes[mode]
        assert sorted(res.areas.loc[res.areas["status"] == "loses", "area_code"]) == losing
        assert res.gains.empty
        pop = rutland.population
        expected_age = pop[pop["area_code"].isin(losing)].groupby("age_band")["count"].sum()
        got_age = res.by_age("loses")
        assert got_age.sort_index().to_dict() == pytest.approx(expected_age.sort_index().to_dict())
        expected_imd = (
            pop[pop["area_code"].isin(losing)]
            .assign(d=lambda t: t["area_code"].map(rutland.imd))
            .groupby("d")["count"]
            .sum()
        )
        assert res.by_imd("loses").to_dict() == pytest.approx(expected_imd.to_dict())
        # Baseline and scenario summaries from the same matrix.
        weights = pop.groupby("area_code")["count"].sum().reindex(m.index)
        for band in (10, 20, 30):
            assert res.baseline.within[band] == pytest.approx(weights[before <= band * 60].sum())
            assert res.scenario.within[band] == pytest.approx(weights[after <= band * 60].sum())
        assert res.scenario.mean_s == pytest.approx(float((after * weights).sum() / weights.sum()))
    # At 5 minutes' drive every closure leaves someone beyond the threshold.
    assert result.modes["drive"].loses["persons"].sum() > 0


def test_weighted_p95_and_population_growth(rutland: Rutland) -> None:
    scen = Scenario(
        name="ageing",
        changes=[GrowPopulation([OVER_65], 1.3)],
    )
    result = evaluate_scenario(
        rutland.sites,
        scen,
        travel_times=rutland.travel_times,
        population=rutland.population,
        imd=rutland.imd,
    )
    res = result.modes["drive"]
    pop = rutland.population
    over65 = pop.loc[pop["age_band"] == OVER_65, "count"].sum()
    assert res.scenario.population == pytest.approx(41_043 + 0.3 * over65)
    assert res.baseline.population == 41_043
    # 95th percentile by hand: sort area times, first with cumulative share >= 95 %.
    m = _matrix(rutland, "drive")
    t = m[PRACTICES].min(axis=1)
    w = pop.groupby("area_code")["count"].sum().reindex(t.index)
    order = np.argsort(t.to_numpy())
    cum = np.cumsum(w.to_numpy()[order]) / w.sum()
    assert res.baseline.p95_s == pytest.approx(t.to_numpy()[order][np.argmax(cum >= 0.95)])
    assert res.loses.empty
    assert res.gains.empty


def test_hub_scenario_estate_and_comparison(rutland: Rutland) -> None:
    close = Scenario(name="close Empingham", changes=[CloseSites(["C82044"])])
    hub = Scenario(
        name="hub",
        version=2,
        description="Empingham and Market Overton move into a new hub",
        changes=[
            OpenSite(
                "HUB1",
                name="New hub",
                x=rutland.hub_xy[0],
                y=rutland.hub_xy[1],
                gia_m2=1200.0,
                land_ha=0.5,
            ),
            MoveService("C82044", "HUB1"),
            MoveService("C82649", "HUB1", release_building=False),
            ChangeCapacity("C82010", 12.0),
        ],
    )
    kw = {
        "travel_times": rutland.travel_times,
        "population": rutland.population,
        "imd": rutland.imd,
        "threshold_min": 10.0,
        "cost_per_m2": 150.0,
        "receipt_per_ha": 1_000_000.0,
    }
    a = evaluate_scenario(rutland.sites, close, **kw)  # type: ignore[arg-type]
    b = evaluate_scenario(rutland.sites, hub, **kw)  # type: ignore[arg-type]
    # Closing Empingham: its own running cost figure, its floor area and land.
    assert a.estate.floor_area_released_m2 == 450.0
    assert a.estate.running_cost_released_gbp == 60_000.0
    assert a.estate.land_released_ha == 0.25
    assert a.estate.receipt_gbp == pytest.approx(250_000.0)
    # Hub: Empingham released (Market Overton kept as a building), hub added at £150/m².
    assert b.estate.floor_area_released_m2 == 450.0
    assert b.estate.floor_area_added_m2 == 1200.0
    assert b.estate.running_cost_added_gbp == pytest.approx(1200.0 * 150.0)
    assert b.estate.land_added_ha == 0.5
    methods = dict(
        zip(b.estate.sites["site_id"], b.estate.sites["running_cost_method"], strict=True)
    )
    assert methods == {"C82044": "site figure", "HUB1": "floor area × £/m²"}
    status = dict(zip(b.sites["site_id"], b.sites["status"], strict=True))
    assert status["C82044"] == "closed (service moved)"
    assert status["HUB1"] == "opened"
    assert b.sites.set_index("site_id").loc["C82010", "capacity"] == 12.0
    # Access after the hub: nearest over Oakham, Uppingham and the hub, from the matrix.
    m = _matrix(rutland, "drive")
    after = m[["C82010", "C82077", "HUB1"]].min(axis=1)
    got = b.modes["drive"].areas.set_index("area_code")["scenario_s"]
    assert np.allclose(got.reindex(after.index), after)
    # Side by side.
    table = compare_scenarios(a, b)
    row = table[(table["mode"] == "estate") & (table["metric"] == "floor area added (m²)")]
    assert row["difference"].iloc[0] == 1200.0
    lose = table[(table["mode"] == "drive") & (table["metric"] == "people losing access")]
    assert lose["close Empingham v1"].iloc[0] == a.modes["drive"].loses["persons"].sum()
    assert lose["hub v2"].iloc[0] == b.modes["drive"].loses["persons"].sum()
    json.dumps(b.to_dict())  # JSON-able for the job API


def test_json_round_trip_and_validation(rutland: Rutland) -> None:
    scen = Scenario(
        name="hub",
        version=3,
        changes=[
            CloseSites(["C82649"]),
            OpenSite("HUB1", at_site_id=None, x=490000.0, y=305000.0, gia_m2=800.0),
            MoveService("C82044", "HUB1"),
            ChangeCapacity("C82010", 9.0),
            GrowPopulation([OVER_65], 1.3, area_codes=["E01013656"]),
        ],
    )
    text = scen.to_json()
    assert json.loads(text)["changes"][0] == {"type": "close_sites", "site_ids": ["C82649"]}
    assert Scenario.from_json(text) == scen

    bad = Scenario(name="bad", changes=[CloseSites(["C82044"]), CloseSites(["X99999"])])
    with pytest.raises(ScenarioError, match=r"change 2 \(close_sites\): unknown site id 'X99999'"):
        evaluate_scenario(
            rutland.sites, bad, travel_times=rutland.travel_times, population=rutland.population
        )
    twice = Scenario(name="twice", changes=[CloseSites(["C82044"]), CloseSites(["C82044"])])
    with pytest.raises(ScenarioError, match=r"change 2 \(close_sites\): site 'C82044' is not"):
        evaluate_scenario(
            rutland.sites, twice, travel_times=rutland.travel_times, population=rutland.population
        )
    no_times = Scenario(name="nt", changes=[OpenSite("NEW", x=1.0, y=2.0)])
    with pytest.raises(
        ScenarioError, match=r"change 1 \(open_site\): no travel times to site 'NEW'"
    ):
        evaluate_scenario(
            rutland.sites,
            no_times,
            travel_times=rutland.travel_times,
            population=rutland.population,
        )
    band = Scenario(name="b", changes=[GrowPopulation(["65+"], 1.3)])
    with pytest.raises(ScenarioError, match=r"change 1 \(grow_population\): unknown age band"):
        evaluate_scenario(
            rutland.sites, band, travel_times=rutland.travel_times, population=rutland.population
        )
    with pytest.raises(ScenarioError, match=r"change 1: unknown type 'demolish'"):
        Scenario.from_dict({"name": "x", "changes": [{"type": "demolish"}]})
    with pytest.raises(
        ScenarioError, match=r"change 1 \(close_sites\): unknown field\(s\) \['ids'\]"
    ):
        Scenario.from_dict({"name": "x", "changes": [{"type": "close_sites", "ids": ["a"]}]})
