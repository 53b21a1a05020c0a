"""Accessibility measures: hand-checked 2SFCA/E2SFCA values and the gap ranking."""

from __future__ import annotations

import pandas as pd
import pytest

from spatial.access import E2SFCA_LUO_QI_BANDS, access_gaps, nearest_and_count, two_step_fca

TIMES = pd.DataFrame(
    {
        "from_id": ["a", "a", "b", "b", "c"],
        "to_id": ["X", "Y", "X", "Y", "Y"],
        "seconds": [300.0, 1500.0, 900.0, 2000.0, 1000.0],
    }
)
DEMAND = pd.Series({"a": 1000.0, "b": 3000.0, "c": 2000.0, "d": 500.0})
SUPPLY = pd.Series({"X": 2.0, "Y": 4.0})


def test_nearest_and_count() -> None:
    out = nearest_and_count(TIMES, area_ids=["a", "b", "c", "d"], thresholds_min=(10, 30))
    row = out.set_index("area_id")
    assert row.loc["a", "nearest_site"] == "X"
    assert row.loc["a", "nearest_s"] == 300
    assert row.loc["b", "sites_within_10min"] == 0
    assert row.loc["b", "sites_within_30min"] == 1
    assert pd.isna(row.loc["d", "nearest_s"])
    assert row.loc["d", "sites_within_30min"] == 0


def test_2sfca_hand_values() -> None:
    out = two_step_fca(TIMES, DEMAND, SUPPLY, catchment_s=1800, per=1000).set_index("area_id")
    # R_X = 2/(1000+3000); R_Y = 4/(1000+2000) (b→Y is 2000 s, outside)
    rx, ry = 2 / 4000, 4 / 3000
    assert out.loc["a", "access"] == pytest.approx((rx + ry) * 1000)
    assert out.loc["b", "access"] == pytest.approx(rx * 1000)
    assert out.loc["c", "access"] == pytest.approx(ry * 1000)
    assert out.loc["d", "access"] == 0
    # supply conserved: Σ_i A_i P_i = Σ_j S_j (all sites reached)
    assert (out.access * out.demand).sum() / 1000 == pytest.approx(SUPPLY.sum())


def test_e2sfca_weights() -> None:
    out = two_step_fca(TIMES, DEMAND, SUPPLY, bands=E2SFCA_LUO_QI_BANDS).set_index("area_id")
    # weights: a-X 1.0 (300 s), a-Y 0.22 (1500 s), b-X 0.68 (900 s), c-Y 0.68 (1000 s)
    rx = 2 / (1.0 * 1000 + 0.68 * 3000)
    ry = 4 / (0.22 * 1000 + 0.68 * 2000)
    assert out.loc["a", "access"] == pytest.approx((1.0 * rx + 0.22 * ry) * 1000)
    assert out.loc["b", "access"] == pytest.approx(0.68 * rx * 1000)
    assert out.attrs["bands"] == list(E2SFCA_LUO_QI_BANDS)


def test_access_gaps_ranking() -> None:
    areas = pd.DataFrame(
        {
            "area_id": ["p", "q", "r"],
            "imd_decile": [1, 10, 5],
            "share_65plus": [0.40, 0.10, 0.20],
            "nearest_s": [1800.0, 300.0, 600.0],
            "access": [0.1, 2.0, 1.0],
        }
    )
    out = access_gaps(areas)
    assert list(out.area_id) == ["p", "r", "q"]
    assert out.loc[0, "gap_score"] == pytest.approx(1.0)  # neediest and worst access
    assert list(out.gap_rank) == [1, 2, 3]
