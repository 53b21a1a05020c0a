"""Adding up area figures by footprint (spatial.footprints): every area counted once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spatial.footprints import (
    UNASSIGNED,
    access_by_footprint,
    capacity_by_footprint,
    complete_membership,
    majority_assignment,
    overlap,
    sum_by_footprint,
)

AREAS = pd.DataFrame(
    {"population": [100.0, 200.0, 300.0, 400.0], "65+": [10.0, 20.0, 30.0, 40.0]},
    index=pd.Index(["A1", "A2", "A3", "A4"]),
)


def test_majority_assignment_takes_the_ward_with_most_postcodes_and_breaks_ties_by_code() -> None:
    counts = pd.DataFrame(
        {
            "area_code": ["A1", "A1", "A2", "A2", "A3"],
            "footprint": ["W2", "W1", "W1", "W2", "W3"],
            "n": [7, 3, 5, 5, 4],
        }
    )
    best = majority_assignment(counts).set_index("area_code")
    assert best["footprint"].to_dict() == {"A1": "W2", "A2": "W1", "A3": "W3"}
    assert best["share"].to_dict() == {"A1": 0.7, "A2": 0.5, "A3": 1.0}
    assert best["units"].to_dict() == {"A1": 10.0, "A2": 10.0, "A3": 4.0}
    assert (best["weight"] == 1.0).all()


def test_sums_equal_the_totals_with_unclaimed_areas_unassigned() -> None:
    membership = pd.DataFrame({"area_code": ["A1", "A2", "A3"], "footprint": ["F", "F", "G"]})
    sums = sum_by_footprint(AREAS, membership)
    assert list(sums.index) == ["F", "G", UNASSIGNED]
    assert sums.loc["F", "population"] == 300.0
    assert sums.loc["G", "65+"] == 30.0
    assert sums.loc[UNASSIGNED, "population"] == 400.0
    assert sums["population"].sum() == AREAS["population"].sum() == 1000.0
    assert sums["areas"].sum() == 4.0


def test_apportioned_areas_are_still_counted_once() -> None:
    membership = pd.DataFrame(
        {
            "area_code": ["A1", "A1", "A2", "A3", "A4"],
            "footprint": ["F", "G", "G", "G", "F"],
            "weight": [0.25, 0.75, 1.0, 0.5, 1.0],
        }
    )
    sums = sum_by_footprint(AREAS, membership)
    assert sums.loc["F", "population"] == pytest.approx(25.0 + 400.0)
    assert sums.loc["G", "population"] == pytest.approx(75.0 + 200.0 + 150.0)
    assert sums.loc[UNASSIGNED, "population"] == pytest.approx(150.0)
    assert sums["population"].sum() == pytest.approx(1000.0)


def test_weights_over_one_are_refused() -> None:
    membership = pd.DataFrame(
        {"area_code": ["A1", "A1"], "footprint": ["F", "G"], "weight": [0.75, 0.5]}
    )
    with pytest.raises(ValueError, match=r"area A1 is given weights adding up to 1\.25"):
        complete_membership(["A1"], membership)


def test_access_is_the_population_weighted_mean_over_the_people_reached() -> None:
    seconds = pd.Series({"A1": 600.0, "A2": 1200.0, "A3": np.inf, "A4": 300.0})
    membership = pd.DataFrame(
        {"area_code": ["A1", "A2", "A3", "A4"], "footprint": ["F", "F", "F", "G"]}
    )
    table = access_by_footprint(seconds, AREAS["population"], membership, within_minutes=15)
    f = table.loc["F"]
    # (100 × 10 min + 200 × 20 min) / 300 people reached; A3 reaches nothing.
    assert f["mean_minutes"] == pytest.approx((100 * 10 + 200 * 20) / 300)
    assert f["population"] == 600.0
    assert f["population_reached"] == 300.0
    assert f["population_unreached"] == 300.0
    assert f["population_within"] == 100.0
    assert f["share_within"] == pytest.approx(100 / 600)
    assert table.loc["G", "mean_minutes"] == pytest.approx(5.0)


def test_overlap_shares_of_both_sides() -> None:
    las = pd.DataFrame(
        {"area_code": ["A1", "A2", "A3", "A4"], "footprint": ["L1"] * 2 + ["L2"] * 2}
    )
    catchments = pd.DataFrame({"area_code": ["A1", "A2", "A3"], "footprint": ["s1", "s2", "s2"]})
    table = overlap(las, catchments, AREAS["population"])
    rows = {(r.footprint, r.other): r for r in table.itertuples(index=False)}
    assert set(rows) == {("L1", "s2"), ("L1", "s1"), ("L2", "s2"), ("L2", UNASSIGNED)}
    assert rows[("L1", "s2")].population == 200.0
    assert rows[("L1", "s2")].share_of_footprint == pytest.approx(200 / 300)
    assert rows[("L1", "s2")].share_of_other == pytest.approx(200 / 500)
    assert rows[("L2", "s2")].share_of_other == pytest.approx(300 / 500)
    assert rows[("L2", UNASSIGNED)].population == 400.0
    assert table["population"].sum() == 1000.0
    # Within a footprint the biggest share comes first.
    assert list(table[table["footprint"] == "L1"]["other"]) == ["s2", "s1"]


def test_capacity_is_apportioned_by_people_now_and_gaps_add_up_to_the_sites() -> None:
    # Site 1 serves A1 (100 now) and A2 (300): its 500 patients go 125 to F, 375 to G.
    # Site 2 serves A3 and A4 with no capacity figure; site 3 has a list but nobody near.
    areas = pd.DataFrame(
        {
            "site_id": [1, 1, 2, 2],
            "population_now": [100.0, 300.0, 200.0, 400.0],
            "population_horizon": [150.0, 300.0, 200.0, 400.0],
        },
        index=pd.Index(["A1", "A2", "A3", "A4"]),
    )
    areas["need_patients_now"] = areas["population_now"]
    areas["need_patients_horizon"] = areas["population_horizon"]
    capacity = pd.DataFrame(
        {"patients": [500.0, np.nan, 900.0]}, index=pd.Index([1, 2, 3], name="site_id")
    )
    membership = pd.DataFrame(
        {"area_code": ["A1", "A2", "A3", "A4"], "footprint": ["F", "G", "G", "H"]}
    )
    out = capacity_by_footprint(
        areas,
        capacity,
        membership,
        need_measures=["patients"],
        capacity_measures=["patients"],
        horizon_year=2035,
    )
    t = out.table
    assert t["capacity_patients"].to_dict() == pytest.approx(
        {"F": 125.0, "G": 375.0, "H": np.nan}, nan_ok=True
    )
    assert t["need_patients_now"].to_dict() == {"F": 100.0, "G": 500.0, "H": 400.0}
    # G's gap covers only A2's people (A3's site has no figure): 300 - 375.
    assert t["population_with_capacity_patients"].to_dict() == {"F": 100.0, "G": 300.0, "H": 0.0}
    assert t["gap_patients_now"]["G"] == -75.0
    assert t["gap_patients_horizon"]["F"] == 25.0
    assert t["gap_patients_now"].sum() == 400.0 - 500.0
    assert t["status"].to_dict() == {
        "F": "shortfall by 2035",
        "G": "sufficient",
        "H": "capacity unknown",
    }
    assert t["shortfall_now"].to_dict() == {"F": False, "G": False, "H": None}
    assert (out.unattributed, out.unattributed_sites) == ({"patients": 900.0}, [3])
    pairs = out.pairs.set_index(["footprint", "other"])
    assert pairs.loc[("G", "1"), "share_of_other"] == 0.75
