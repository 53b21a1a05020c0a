"""Benchmark KPIs, percentiles and outliers (spatial.benchmark) on small hand-made returns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spatial.benchmark import benchmark, national_totals, percentile_rank, site_kpis, trust_kpis


def _returns() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "organisation_code": ["T1", "T1", "T1", "T2"],
            "organisation_name": ["Trust one"] * 3 + ["Trust two"],
            "organisation_type": ["COMMUNITY"] * 4,
            "site_code": ["AGGRE", "T1A", "T1B", "T2A"],
            "site_name": ["AGGREGATE SITE", "A", "B", "C"],
            "site_type": ["Aggregate Site", "7. Community", "7. Community", "7. Community"],
            "aggregate": [True, False, False, False],
            "gia_m2": [1000.0, 2000.0, 500.0, 1000.0],
            "running_cost_gbp": [100_000.0, 300_000.0, np.nan, 150_000.0],
            "backlog_high_gbp": [0.0, 10_000.0, 0.0, np.nan],
            "backlog_significant_gbp": [5_000.0, 0.0, 0.0, np.nan],
            "backlog_moderate_gbp": [0.0, 0.0, 2_500.0, np.nan],
            "backlog_low_gbp": [0.0, 0.0, 0.0, np.nan],
            "pre_1948_pct": [0.0, 50.0, 100.0, 10.0],
            "empty_pct": [10.0, 0.0, 20.0, 5.0],
            "under_used_pct": [0.0, 5.0, 0.0, 0.0],
            "energy_cost_gbp": [20_000.0, 30_000.0, 5_000.0, 9_000.0],
        }
    )


def test_site_kpis_leave_aggregate_rows_out() -> None:
    sites = site_kpis(_returns()).set_index("site_code")
    assert list(sites.index) == ["T1A", "T1B", "T2A"]
    assert sites.loc["T1A", "running_cost_per_m2"] == 150.0
    assert np.isnan(sites.loc["T1B", "running_cost_per_m2"])
    assert sites.loc["T1B", "backlog_per_m2"] == 5.0
    assert sites.loc["T1B", "backlog_moderate_per_m2"] == 5.0
    assert np.isnan(sites.loc["T2A", "backlog_per_m2"])
    assert sites.loc["T1A", "empty_or_under_used_share"] == 5.0
    assert sites.loc["T2A", "energy_cost_per_m2"] == 9.0


def test_trust_kpis_add_up_every_row_and_weight_shares_by_floor_area() -> None:
    t1 = trust_kpis(_returns()).set_index("organisation_code").loc["T1"]
    assert t1["sites"] == 2
    assert t1["aggregate_rows"] == 1
    assert t1["gia_m2"] == 3500.0
    # Running cost known on the AGGREGATE row and T1A only: 400,000 over their 3,000 m².
    assert t1["running_cost_per_m2"] == pytest.approx(400_000 / 3000)
    assert t1["backlog_per_m2"] == pytest.approx(17_500 / 3500)
    assert t1["backlog_high_per_m2"] == pytest.approx(10_000 / 3500)
    assert t1["pre_1948_share"] == pytest.approx((0 * 1000 + 50 * 2000 + 100 * 500) / 3500)
    assert t1["empty_share"] == pytest.approx((10 * 1000 + 0 + 20 * 500) / 3500)
    assert t1["energy_cost_per_m2"] == pytest.approx(55_000 / 3500)


def test_percentile_rank_counts_half_the_ties_within_each_group() -> None:
    values = pd.Series([1.0, 2.0, 2.0, 4.0, np.nan, 7.0])
    groups = pd.Series(["a", "a", "a", "a", "a", "b"])
    pct = percentile_rank(values, groups)
    # Group a has 4 known values: 1 → (0 + ½)/4, 2 → (1 + ½·2)/4, 4 → (3 + ½)/4.
    assert pct.iloc[:4].tolist() == [12.5, 50.0, 50.0, 87.5]
    assert np.isnan(pct.iloc[4])
    assert pct.iloc[5] == 50.0


def test_outliers_beyond_the_5th_and_95th_percentile() -> None:
    kpis = pd.DataFrame(
        {
            "site_type": ["x"] * 21,
            **{
                name: np.arange(21, dtype=float)
                for name in (
                    "running_cost_per_m2",
                    "backlog_per_m2",
                    "backlog_high_per_m2",
                    "backlog_significant_per_m2",
                    "backlog_moderate_per_m2",
                    "backlog_low_per_m2",
                    "pre_1948_share",
                    "empty_share",
                    "under_used_share",
                    "empty_or_under_used_share",
                    "energy_cost_per_m2",
                )
            },
        }
    )
    out = benchmark(kpis, peer_column="site_type")
    # 21 peers: the lowest is at (0 + ½)/21 = 2.4 %, the highest at 97.6 %.
    assert out["running_cost_per_m2_outlier"].tolist() == ["low"] + [None] * 19 + ["high"]
    assert (out["running_cost_per_m2_peers"] == 21).all()


def test_national_totals_include_aggregate_rows() -> None:
    totals = national_totals(_returns())
    assert totals == {
        "trusts": 2,
        "sites": 3,
        "aggregate_rows": 1,
        "gia_m2": 4500.0,
        "running_cost_gbp": 550_000.0,
        "backlog_high_gbp": 10_000.0,
        "backlog_significant_gbp": 5_000.0,
        "backlog_moderate_gbp": 2_500.0,
        "backlog_low_gbp": 0.0,
        "backlog_gbp": 17_500.0,
        "energy_cost_gbp": 64_000.0,
    }
