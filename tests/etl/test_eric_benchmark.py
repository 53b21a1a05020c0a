"""The national ERIC benchmark load: Rutland Memorial Hospital (RT5PC) and its trust (RT5,
Leicestershire Partnership NHS Trust) computed by hand from the spreadsheet rows, read here
independently with pandas, against the reader and spatial.benchmark."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from etl.loading import LoadError, Region
from etl.readers.eric_benchmark import read_eric_benchmark
from spatial import benchmark as bm

ERIC = "england/eric_2016-17_trust_site_pfi.xls"
#: The 15 cost columns of the running-cost definition (etl.readers.eric.RUNNING_COSTS).
RUNNING = [
    "Estates and property maintenance (£)",
    "Grounds and gardens maintenance (£)",
    "Other Hard FM (Estates) costs (£)",
    "Other Soft FM (Hotel Services) costs (£)",
    "Energy costs (all energy supplies) (£)",
    "Water cost (£)",
    "Sewage cost (£)",
    "Landfill disposal cost (£)",
    "Incineration disposal cost (£)",
    "Waste reycling cost (£)",
    "Other recovery cost (£)",
    "Cleaning service cost (£)",
    "Inpatient food service cost (£)",
    "Laundry and linen service cost (£)",
    "Portering service cost (£)",
]
BACKLOG = {
    c: f"Cost to eradicate {c} risk backlog (£)" for c in ("high", "significant", "moderate", "low")
}
GIA = "Gross internal floor area (m²)"


@pytest.fixture(scope="module")
def sheet(data_dir: Path) -> pd.DataFrame:
    frame = pd.read_excel(data_dir / ERIC, sheet_name="Site Data", header=1, engine="calamine")
    numeric = [GIA, *RUNNING, *BACKLOG.values()]
    frame[numeric] = frame[numeric].apply(pd.to_numeric, errors="coerce")
    frame["running"] = frame[RUNNING].sum(axis=1, min_count=1)
    return frame


@pytest.fixture(scope="module")
def returns(data_dir: Path) -> pd.DataFrame:
    parsed = read_eric_benchmark(data_dir / ERIC, Region(key=""))
    assert parsed.rejects == []
    return parsed.tables["eric_returns"]


def test_every_row_of_england_is_kept(returns: pd.DataFrame, sheet: pd.DataFrame) -> None:
    assert len(returns) == len(sheet) == 1213
    assert int(returns["aggregate"].sum()) == 172
    assert returns["organisation_code"].nunique() == 236


def test_rutland_memorial_hospital_kpis_by_hand(returns: pd.DataFrame, sheet: pd.DataFrame) -> None:
    row = sheet[sheet["Site Code"] == "RT5PC"].iloc[0]
    gia = float(row[GIA])
    assert gia == 2870.0
    assert float(row["running"]) == 797_292.0
    site = bm.benchmark(bm.site_kpis(returns), peer_column="site_type").set_index("site_code")
    got = site.loc["RT5PC"]
    assert got["running_cost_per_m2"] == pytest.approx(797_292 / 2870)
    assert got["running_cost_per_m2"] == pytest.approx(float(row["running"]) / gia)
    backlog = sum(float(row[c]) for c in BACKLOG.values())
    assert backlog == 279_190.0
    assert got["backlog_per_m2"] == pytest.approx(backlog / gia)
    for category, column in BACKLOG.items():
        assert got[f"backlog_{category}_per_m2"] == pytest.approx(float(row[column]) / gia)
    assert got["backlog_significant_per_m2"] == pytest.approx(2200 / 2870)
    assert got["pre_1948_share"] == float(row["Age profile - pre 1948 (%)"]) == 68.8
    assert got["empty_share"] == float(row["Floor area - empty (%)"]) == 6.06
    assert got["under_used_share"] == float(row["Floor area - under used (%)"]) == 0.0
    assert got["energy_cost_per_m2"] == pytest.approx(
        float(row["Energy costs (all energy supplies) (£)"]) / gia
    )
    # Its percentile among every English community hospital, counted here by hand.
    peers = sheet[sheet["Site Type"] == row["Site Type"]]
    rate = (peers["running"] / peers[GIA]).dropna()
    mine = float(row["running"]) / gia
    expected = 100 * ((rate < mine).sum() + 0.5 * (rate == mine).sum()) / len(rate)
    assert got["running_cost_per_m2_peers"] == len(rate) == 210
    assert got["running_cost_per_m2_percentile"] == pytest.approx(expected)
    assert got["running_cost_per_m2_outlier"] is None


def test_leicestershire_partnership_trust_kpis_by_hand(
    returns: pd.DataFrame, sheet: pd.DataFrame
) -> None:
    rows = sheet[sheet["Organisation Code"] == "RT5"]
    assert len(rows) == 17  # 16 sites and the AGGREGATE row
    trusts = bm.benchmark(bm.trust_kpis(returns), peer_column="organisation_type")
    got = trusts.set_index("organisation_code").loc["RT5"]
    assert got["organisation_type"] == "MENTAL HEALTH AND LEARNING DISABILITY"
    assert got["gia_m2"] == rows[GIA].sum() == 109_797.0
    costed = rows[rows["running"].notna()]
    assert got["running_cost_per_m2"] == pytest.approx(costed["running"].sum() / costed[GIA].sum())
    for category, column in BACKLOG.items():
        known = rows[rows[column].notna()]
        assert got[f"backlog_{category}_per_m2"] == pytest.approx(
            known[column].sum() / known[GIA].sum()
        )
    pre = pd.to_numeric(rows["Age profile - pre 1948 (%)"], errors="coerce")
    assert got["pre_1948_share"] == pytest.approx((pre * rows[GIA]).sum() / rows[GIA].sum())
    # Among the 49 mental health and learning disability trusts.
    assert got["running_cost_per_m2_peers"] == 49


def test_national_totals(returns: pd.DataFrame, sheet: pd.DataFrame) -> None:
    totals = bm.national_totals(returns)
    assert totals["gia_m2"] == sheet[GIA].sum() == 26_922_336.0
    assert totals["running_cost_gbp"] == pytest.approx(sheet["running"].sum())
    assert totals["running_cost_gbp"] == pytest.approx(4_957_583_595.0)
    assert totals["backlog_gbp"] == pytest.approx(5_545_490_873.0)
    assert totals["backlog_high_gbp"] == pytest.approx(sheet[BACKLOG["high"]].sum())


def test_a_region_is_refused(data_dir: Path) -> None:
    with pytest.raises(LoadError, match="national peer group: load it without --region"):
        read_eric_benchmark(data_dir / ERIC, Region(key="E06000017", lad_code="E06000017"))
