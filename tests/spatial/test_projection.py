"""Population projection arithmetic: rates, trends between vintages, housing sites."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from spatial.housing import housing_additions, place_sites
from spatial.projection import (
    ProjectionError,
    apply_rates,
    parse_age_band,
    project,
    trend_rates,
    vintage_groups,
)

BASE = pd.DataFrame(
    {
        "area_code": ["A", "A", "B", "B", "C", "C"],
        "age_lower": [0, 65, 0, 65, 0, 65],
        "age_upper": [64.0, np.nan, 64.0, np.nan, 64.0, np.nan],
        "count": [1234.0, 321.0, 2000.0, 17.0, 987.0, 456.0],
    }
)
AREAS = pd.DataFrame(
    {
        "area_code": ["A", "B", "C"],
        "geometry": [
            shapely.box(0, 0, 100, 100),
            shapely.box(100, 0, 200, 100),
            shapely.box(200, 0, 300, 100),
        ],
    }
)


def _rates(*rows: tuple[str | None, int, float | None, float | None, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["area_code", "age_lower", "age_upper", "year", "rate"])


def _at(rows: pd.DataFrame, area: str, lower: int, year: int, column: str = "count") -> float:
    hit = rows[(rows["area_code"] == area) & (rows["age_lower"] == lower) & (rows["year"] == year)]
    assert len(hit) == 1
    return float(hit[column].iloc[0])


def test_age_band_labels() -> None:
    assert parse_age_band("0-15") == (0, 15)
    assert parse_age_band("65+") == (65, None)
    assert parse_age_band("7") == (7, 7)
    assert parse_age_band("all") == (0, None)
    with pytest.raises(ValueError, match="is not like"):
        parse_age_band("sixty")
    with pytest.raises(ValueError, match="below the lower"):
        parse_age_band("20-10")


def test_zero_growth_projects_todays_population_exactly() -> None:
    result = project(BASE, base_year=2021, years=[2025, 2030, 2040])
    rows = result.rows
    assert sorted(set(rows["year"])) == [2021, 2025, 2030, 2040]
    for year in (2021, 2025, 2030, 2040):
        got = rows[rows["year"] == year].set_index(["area_code", "age_lower"])["count"]
        want = BASE.set_index(["area_code", "age_lower"])["count"]
        # Exactly: (1 + 0) ** n is 1.
        assert got.sort_index().tolist() == want.sort_index().tolist()
    assert float(rows["housing"].sum()) == 0.0


def test_rates_compound_and_the_most_specific_wins() -> None:
    rates = _rates(
        (None, 0, None, None, 0.01),  # everyone, every year
        (None, 65, None, 2023, 0.10),  # 65+ in 2023 only
        ("B", 65, None, None, -0.5),  # area B's 65+, every year
    )
    rows = apply_rates(BASE, rates, base_year=2021, years=[2023])
    # A 0-64: 1 % in 2022 and 2023.
    assert _at(rows, "A", 0, 2023) == pytest.approx(1234 * 1.01 * 1.01)
    # A 65+: 1 % in 2022, then the year-specific 10 % in 2023 (narrower band than "all").
    assert _at(rows, "A", 65, 2023) == pytest.approx(321 * 1.01 * 1.10)
    # B 65+: its own area's rate beats every general one, both years.
    assert _at(rows, "B", 65, 2023) == pytest.approx(17 * 0.5 * 0.5)
    assert _at(rows, "B", 0, 2021) == 2000.0


def test_a_band_without_a_rate_is_an_error_naming_it() -> None:
    rates = _rates((None, 0, 64.0, None, 0.01))
    with pytest.raises(ProjectionError) as err:
        apply_rates(BASE, rates, base_year=2021, years=[2030])
    assert err.value.problems == [
        "no growth rate for age band 65+ in 2022 (e.g. area A): give a rate for a band "
        "containing it, for that year or for every year"
    ]


def test_horizons_outside_the_range_are_refused() -> None:
    with pytest.raises(ProjectionError, match="horizon year 2019 is outside 2021"):
        project(BASE, base_year=2021, years=[2019])
    with pytest.raises(ProjectionError, match="horizon year 2090"):
        project(BASE, base_year=2021, years=[2090])


def test_trend_between_vintages_through_best_fit_groups() -> None:
    # Older vintage: X splits into X1, X2; Y and Z merge into W.
    pairs = pd.DataFrame({"older": ["X", "X", "Y", "Z"], "newer": ["X1", "X2", "W", "W"]})
    older_group, newer_group = vintage_groups(pairs)
    assert older_group["X"] == newer_group["X1"] == newer_group["X2"]
    assert older_group["Y"] == older_group["Z"] == newer_group["W"]
    assert older_group["X"] != older_group["Y"]
    older = pd.DataFrame(
        {
            "area_code": ["X", "Y", "Z"],
            "age_lower": 0,
            "age_upper": np.nan,
            "count": [1000.0, 300.0, 200.0],
        }
    )
    newer = pd.DataFrame(
        {
            "area_code": ["X1", "X1", "X2", "X2", "W", "W"],
            "age_lower": [0, 65] * 3,
            "age_upper": [64.0, np.nan] * 3,
            "count": [500.0, 100.0, 500.0, 110.0, 400.0, 50.0],
        }
    )
    trend, notes = trend_rates(
        older, newer, years_between=4.0, older_group=older_group, newer_group=newer_group
    )
    assert notes == []
    # The older table is all ages: one rate per group; 1000 → 1210 in 4 years.
    assert list(trend["age_lower"]) == [0, 0]
    by_group = trend.set_index("group")["rate"]
    assert by_group[older_group["X"]] == pytest.approx((1210 / 1000) ** 0.25 - 1)
    assert by_group[older_group["Y"]] == pytest.approx((450 / 500) ** 0.25 - 1)


def test_trend_by_common_bands_and_the_total_constraint() -> None:
    older = pd.DataFrame(
        {
            "area_code": ["A", "A", "B", "B"],
            "age_lower": [0, 65, 0, 65],
            "age_upper": [64.0, np.nan, 64.0, np.nan],
            "count": [100.0, 100.0, 100.0, 0.0],
        }
    )
    newer = pd.DataFrame(
        {
            "area_code": ["A", "A", "A", "B", "B", "B"],
            "age_lower": [0, 30, 65, 0, 30, 65],
            "age_upper": [29.0, 64.0, np.nan, 29.0, 64.0, np.nan],
            "count": [60.0, 61.0, 144.0, 50.0, 50.0, 10.0],
        }
    )
    trend, notes = trend_rates(older, newer, years_between=2.0)
    assert notes == []
    rows = trend.set_index(["group", "age_lower"])["rate"]
    # Common bands are 0-64 and 65+ (0 and 65 are the lower ages both have).
    assert sorted(set(trend["age_lower"])) == [0, 65]
    assert rows[(0, 65)] == pytest.approx(0.2)  # A 65+: 100 → 144 in 2 years
    # B 65+ had nobody: it takes B's all-ages rate ((110 / 100) ** 0.5 - 1).
    b_all = trend[(trend["group"] == 1) & trend["age_upper"].isna() & (trend["age_lower"] == 0)]
    assert float(b_all["rate"].iloc[0]) == pytest.approx(1.1**0.5 - 1)
    band_rows = trend[(trend["group"] == 1) & (trend["age_lower"] == 65)]
    assert float(band_rows["rate"].iloc[0]) == pytest.approx(1.1**0.5 - 1)

    # Constrained: each band's total follows the control rate, areas keep their shares.
    base = BASE[BASE["area_code"].isin(["A", "B"])]
    rates = _rates(("A", 0, None, None, 0.10), ("B", 0, None, None, 0.0))
    controls = pd.DataFrame({"age_lower": [0], "age_upper": [np.nan], "rate": [0.01]})
    out = project(base, base_year=2021, years=[2031], rates=rates, controls=controls).rows
    y = out[out["year"] == 2031]
    for lower in (0, 65):
        start = float(base.loc[base["age_lower"] == lower, "count"].sum())
        assert float(y.loc[y["age_lower"] == lower, "count"].sum()) == pytest.approx(
            start * 1.01**10
        )
    a = _at(out, "A", 0, 2031) / _at(out, "B", 0, 2031)
    assert a == pytest.approx(1234 * 1.1**10 / 2000)


def test_a_housing_site_of_100_dwellings_at_2_3_adds_230_to_its_area_only() -> None:
    sites = pd.DataFrame({"site_id": ["s1"], "geometry": [shapely.Point(150, 50)]})
    placement, unplaced, problems = place_sites(sites, AREAS)
    assert (problems, unplaced) == ([], {})
    assert placement.to_dict(orient="records") == [
        {"site_id": "s1", "area_code": "B", "share": 1.0}
    ]
    completions = pd.DataFrame({"site_id": ["s1"], "year": [2024], "dwellings": [100.0]})
    added, summary = housing_additions(
        placement, completions, {"s1": 2.3}, BASE, base_year=2021, years=[2023, 2030]
    )
    rows = project(BASE, base_year=2021, years=[2023, 2030], additions=added).rows
    before = rows[rows["year"] == 2021].groupby("area_code")["count"].sum()
    after = rows[rows["year"] == 2030].groupby("area_code")["count"].sum()
    assert (after - before).round(9).to_dict() == {"A": 0.0, "B": 230.0, "C": 0.0}
    # Not before the completions: 2023 is unchanged.
    assert rows[rows["year"] == 2023]["count"].sum() == pytest.approx(BASE["count"].sum())
    # New residents follow B's age mix (2000 : 17).
    assert _at(rows, "B", 65, 2030, "housing") == pytest.approx(230 * 17 / 2017)
    assert summary["people_by_site"]["s1"][2030] == pytest.approx(230.0)


def test_polygons_are_apportioned_by_area_and_profiles_split_people() -> None:
    # 3/4 in A, 1/4 in B; a tenth of it outside every area.
    sites = pd.DataFrame(
        {
            "site_id": ["p", "out"],
            "geometry": [shapely.box(25, 0, 125, 100), shapely.Point(500, 500)],
        }
    )
    placement, unplaced, problems = place_sites(sites, AREAS)
    assert problems == ["site out: the point lies in no loaded area"]
    shares = placement.set_index("area_code")["share"].to_dict()
    assert shares == pytest.approx({"A": 0.75, "B": 0.25})
    edge = pd.DataFrame({"site_id": ["e"], "geometry": [shapely.box(-10, 0, 90, 100)]})
    _, unplaced, _ = place_sites(edge, AREAS)
    assert unplaced == pytest.approx({"e": 0.1})
    completions = pd.DataFrame(
        {"site_id": ["p", "p"], "year": [2022, 2023], "dwellings": [40.0, 60.0]}
    )
    profile = pd.DataFrame({"age_lower": [0, 65], "age_upper": [64.0, np.nan], "share": [0.9, 0.1]})
    added, _ = housing_additions(
        placement,
        completions,
        {"p": 2.0},
        BASE,
        base_year=2021,
        years=[2022, 2030],
        profiles={"p": profile},
    )
    got = added.set_index(["area_code", "age_lower", "year"])["count"]
    assert got[("A", 0, 2022)] == pytest.approx(40 * 2 * 0.75 * 0.9)
    assert got[("B", 65, 2030)] == pytest.approx(100 * 2 * 0.25 * 0.1)
    bad = pd.DataFrame({"age_lower": [0], "age_upper": [64.0], "share": [1.0]})
    with pytest.raises(ProjectionError, match="leaves out population band"):
        housing_additions(
            placement,
            completions,
            {"p": 2.0},
            BASE,
            base_year=2021,
            years=[2030],
            profiles={"p": bad},
        )


def test_completions_in_the_base_year_are_already_counted() -> None:
    sites = pd.DataFrame({"site_id": ["s"], "geometry": [shapely.Point(50, 50)]})
    placement, _, _ = place_sites(sites, AREAS)
    completions = pd.DataFrame(
        {"site_id": ["s", "s"], "year": [2021, 2026], "dwellings": [500.0, 10.0]}
    )
    added, summary = housing_additions(
        placement, completions, {"s": 2.0}, BASE, base_year=2021, years=[2030]
    )
    assert float(added["count"].sum()) == pytest.approx(20.0)
    assert summary["dwellings_before_base"] == {"s": 500.0}
