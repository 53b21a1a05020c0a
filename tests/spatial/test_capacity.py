"""Capacity sizing arithmetic: catchments, need from the norms, gaps, list-size matching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spatial.capacity import (
    DEFAULT_NORMS,
    Norms,
    bed_rates,
    capacity_gaps,
    catchment_population,
    match_registrations,
    need_table,
)

NORMS = Norms.from_definition(DEFAULT_NORMS)
TIMES = pd.DataFrame(
    {
        "from_id": ["A", "A", "B", "B", "C", "C", "D"],
        "to_id": [1, 2, 1, 2, 1, 2, 2],
        "seconds": [300.0, 900.0, 700.0, 600.0, 400.0, 401.0, np.inf],
    }
)
POPULATION = pd.DataFrame(
    {
        "area_code": ["A", "A", "B", "B", "C", "C", "E"] * 2,
        "age_lower": [0, 65, 0, 65, 0, 65, 0] * 2,
        "age_upper": [64.0, np.nan, 64.0, np.nan, 64.0, np.nan, np.nan] * 2,
        "year": [2021] * 7 + [2035] * 7,
        "count": [1500, 300, 2200, 400, 900, 210, 77, 1600, 350, 2300, 500, 1000, 260, 80],
    }
).astype({"count": float})


def test_default_norms_cite_a_source_for_every_number() -> None:
    pc = DEFAULT_NORMS["primary_care"]
    assert pc["patients_per_gp_fte"]["value"] == 1800.0
    assert "HUDU" in pc["patients_per_gp_fte"]["source"]
    beds = DEFAULT_NORMS["beds"]
    assert beds["target_occupancy"]["value"] == 0.85
    assert "BMJ 1999" in beds["target_occupancy"]["source"]
    items = [*pc.values(), *beds["bed_days_per_1000"], beds["target_occupancy"]]
    items.append(beds["average_length_of_stay_days"])
    for item in items:
        assert item["source"]
        assert item["basis"] in {"published", "derived", "assumption"}


def test_one_catchments_need_computed_by_hand_from_the_norms() -> None:
    catchments = catchment_population(TIMES, POPULATION)
    # A (300 s) and C (400 < 401 s) are nearest to site 1, B to site 2; D reaches only site 2
    # but has no people; E reaches nothing.
    assert catchments.assignment.set_index("area_id")["site_id"].to_dict() == {
        "A": 1,
        "B": 2,
        "C": 1,
        "D": 2,
    }
    assert catchments.unassigned == {2021: 77.0, 2035: 80.0}
    need = need_table(catchments.people, service="primary_care", norms=NORMS)
    site1 = need[(need["site_id"] == 1)].set_index("year")
    people_now = 1500 + 300 + 900 + 210
    people_2035 = 1600 + 350 + 1000 + 260
    assert site1.at[2021, "population"] == people_now
    assert site1.at[2021, "patients"] == people_now
    assert site1.at[2021, "gp_fte"] == pytest.approx(people_now / 1800)
    assert site1.at[2021, "clinical_rooms"] == pytest.approx(people_now / 1800 * 2.0)
    assert site1.at[2021, "gia_m2"] == pytest.approx(people_now / 1000 * 90.0)
    assert site1.at[2035, "gia_m2"] == pytest.approx(people_2035 / 1000 * 90.0)

    beds = need_table(catchments.people, service="beds", norms=NORMS).set_index(["site_id", "year"])
    # The 0-64 band straddles norm bands: the mean of their rates over ages 0 to 64.
    under_65 = (16 * 160 + 9 * 230 + 10 * 300 + 15 * 280 + 15 * 480) / 65
    bed_days = (1500 + 900) * under_65 / 1000 + (300 + 210) * 1850 / 1000
    assert beds.at[(1, 2021), "bed_days"] == pytest.approx(bed_days)
    assert beds.at[(1, 2021), "beds"] == pytest.approx(bed_days / 365 / 0.85)
    assert beds.at[(1, 2021), "admissions"] == pytest.approx(bed_days / 4.5)


def test_bed_rates_take_the_narrowest_band_containing_a_population_band() -> None:
    bands = pd.DataFrame({"age_lower": [0, 70, 65, 16], "age_upper": [15.0, 70.0, np.nan, 24.0]})
    assert bed_rates(bands, NORMS.beds).tolist() == [160.0, 1850.0, 1850.0, 230.0]


def test_gaps_and_flags() -> None:
    need = pd.DataFrame(
        {
            "site_id": [1, 1, 2, 2, 3, 3],
            "year": [2021, 2035] * 3,
            "population": [9000.0, 9900.0, 5000.0, 5200.0, 100.0, 100.0],
            "patients": [9000.0, 9900.0, 5000.0, 5200.0, 100.0, 100.0],
            "gp_fte": [5.0, 5.5, 2.7, 2.9, 0.1, 0.1],
            "clinical_rooms": [10.0, 11.0, 5.6, 5.8, 0.1, 0.1],
            "gia_m2": [810.0, 891.0, 450.0, 468.0, 9.0, 9.0],
        }
    )
    capacity = pd.DataFrame(
        {
            "site_id": [1, 2, 3],
            "patients": [9500.0, np.nan, np.nan],
            "gp_fte": [np.nan, np.nan, np.nan],
            "clinical_rooms": [np.nan, 4.0, np.nan],
            "gia_m2": [np.nan, np.nan, np.nan],
        }
    )
    out = capacity_gaps(need, capacity, service="primary_care", now_year=2021, horizon_year=2035)
    out = out.set_index("site_id")
    assert out.at[1, "gap_patients_now"] == -500.0
    assert out.at[1, "gap_patients_horizon"] == 400.0
    assert out.at[1, "status"] == "shortfall by 2035"
    assert (out.at[1, "shortfall_now"], out.at[1, "shortfall_horizon"]) == (False, True)
    assert out.at[2, "gap_clinical_rooms_now"] == pytest.approx(1.6)
    assert out.at[2, "status"] == "shortfall now"
    assert out.at[3, "status"] == "capacity unknown"
    assert out.at[3, "shortfall_now"] is None
    assert np.isnan(out.at[3, "gap_gia_m2_now"])


def test_list_sizes_are_matched_by_code_then_name_and_postcode() -> None:
    sites = pd.DataFrame(
        {
            "id": [10, 11, 12, 13],
            "source_id": ["C82010", "park-medical", "kelman", "village"],
            "name": [
                "OAKHAM MEDICAL PRACTICE",
                "Park Medical Practice",
                "Shay Lane Medical Centre (Kelman)",
                "Village Surgery",
            ],
            "postcode": ["LE15 6NP", "WA15 7XR", "WA15 8NZ", "WA15 6PH"],
        }
    )
    registrations = pd.DataFrame(
        {
            "practice_code": ["C82010", "P91003", "P91011", "P91008", "P91623"],
            "practice_name": [
                "Oakham",
                "Park Medical Practice",
                "Shay Lane Medical Centre (Patel)",
                "Shay Lane Medical Centre (Kelman)",
                "Village Surgery & Co",
            ],
            "postcode": ["LE15 6NP", "WA157XR", "WA15 8NZ", "WA15 8NZ", "WA15 6PH"],
            "registered_patients": [16000.0, 7855.0, 5386.0, 6233.0, 7810.0],
        }
    )
    got = match_registrations(sites, registrations).set_index("site_id")
    assert got["practice_code"].to_dict() == {
        10: "C82010",
        11: "P91003",
        12: "P91008",
        13: "P91623",
    }
    assert got["matched_by"].to_dict() == {
        10: "ods_code",
        11: "postcode_name",
        12: "postcode_name",
        13: "postcode",
    }
