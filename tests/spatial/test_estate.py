"""Derived estate figures on the real ERIC 2016/17 Site Data sheet, read by the ERIC reader.

The sites come from :func:`etl.readers.eric.read_eric_sites` (the only code that knows ERIC's
headers and defines the running cost); :mod:`spatial.estate` derives from what it stores.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from etl.loading import Region
from etl.readers import eric
from spatial.estate import (
    NOT_SUITABLE_PCT,
    PRE_1948_PCT,
    UNDER_USED_PCT,
    derive_estate_metrics,
    estate_cost_per_m2,
)

ERIC_FILE = Path("england") / "eric_2016-17_trust_site_pfi.xls"
ERIC_GIA = eric.GIFA
ERIC_AGE_PRE_1948 = "Age profile - pre 1948 (%)"
#: Electro Bio Medical Equipment maintenance: left out of the running cost on purpose.
EBME = "Electro Bio Medical Equipment maintenance cost (£)"


@pytest.fixture(scope="module")
def eric_sheet(data_dir: Path) -> pd.DataFrame:
    path = data_dir / ERIC_FILE
    return pd.read_excel(path, sheet_name="Site Data", engine="calamine", header=1)


@pytest.fixture(scope="module")
def eric_sites(data_dir: Path) -> pd.DataFrame:
    """Every ERIC site in England as the reader stores it (``site_id`` = the ERIC code)."""
    parsed = eric.read_eric_sites(data_dir / ERIC_FILE, Region(""))
    assert parsed.rejects == []
    return parsed.tables["sites"].rename(columns={"source_id": "site_id"})


def test_every_eric_header_used_exists_in_the_real_sheet(eric_sheet: pd.DataFrame) -> None:
    used = [
        ERIC_GIA,
        *eric.ESTATE_ATTRIBUTES,
        *eric.RUNNING_COSTS,
        *eric.BACKLOG,
    ]
    assert [c for c in used if c not in eric_sheet.columns] == []
    assert ERIC_AGE_PRE_1948 in eric.ESTATE_ATTRIBUTES
    assert eric_sheet.shape == (1213, 126)


def test_running_cost_is_the_one_documented_sum(
    eric_sheet: pd.DataFrame, eric_sites: pd.DataFrame
) -> None:
    """Leicester Royal Infirmary spends £3.0m a year on medical-equipment maintenance: the
    stored running cost is the documented sum, without it."""
    assert EBME not in eric.RUNNING_COSTS
    assert len(eric.RUNNING_COSTS) == 15
    raw = eric_sheet.set_index("Site Code").loc["RWEAA"]
    assert float(raw[EBME]) == 3041020.0
    documented = sum(float(raw[c]) for c in eric.RUNNING_COSTS)
    stored = eric_sites.set_index("site_id").loc["RWEAA", "running_cost_gbp"]
    assert stored == pytest.approx(documented)
    assert stored == pytest.approx(float(raw[[*eric.RUNNING_COSTS, EBME]].sum()) - 3041020.0)


def test_sites_from_eric_drops_aggregate_rows_and_sums_costs(
    eric_sheet: pd.DataFrame, eric_sites: pd.DataFrame
) -> None:
    assert (eric_sheet["Site Type"] == "Aggregate Site").sum() == 172
    assert len(eric_sites) == 1213 - 172
    assert eric_sites["site_id"].is_unique
    rutland = eric_sites.set_index("site_id").loc["RT5PC"]
    raw = eric_sheet.set_index("Site Code").loc["RT5PC"]
    assert rutland["name"] == "RUTLAND MEMORIAL HOSPITAL"
    assert rutland["owner"] == "LEICESTERSHIRE PARTNERSHIP NHS TRUST"
    assert rutland["gia_m2"] == 2870
    assert rutland["land_ha"] == pytest.approx(1.46)
    # Hand sums of the published cells.
    assert rutland["running_cost_gbp"] == pytest.approx(
        sum(float(raw[c]) for c in eric.RUNNING_COSTS)
    )
    assert rutland["running_cost_gbp"] == pytest.approx(797292.0)
    assert rutland["backlog_gbp"] == pytest.approx(0 + 2200 + 159490 + 117500)


def test_derived_figures_for_rutland_memorial(eric_sites: pd.DataFrame) -> None:
    derived = derive_estate_metrics(eric_sites).set_index("site_id")
    r = derived.loc["RT5PC"]
    assert r["cost_per_m2_gbp"] == pytest.approx(797292.0 / 2870)
    assert r["backlog_per_m2_gbp"] == pytest.approx(279190.0 / 2870)
    assert r["pre_1948_share"] == pytest.approx(0.688)
    assert r["empty_pct"] == pytest.approx(6.06)
    assert r["occupied_share"] == pytest.approx(1.0)
    assert r["land_not_delivering_ha"] == pytest.approx(0.74)
    assert bool(r["flag_empty"])
    assert bool(r["flag_surplus_land"])
    assert not bool(r["flag_under_used"])
    assert not bool(r["flag_not_suitable"])
    assert r["utilisation_flags"] == "empty;surplus_land"
    # Thresholds are the user's: raise the empty-space threshold above 6.06 % and it clears.
    relaxed = derive_estate_metrics(eric_sites, empty_pct_threshold=7.0).set_index("site_id")
    assert relaxed.loc["RT5PC", "utilisation_flags"] == "surplus_land"


def test_national_shares_reconcile_with_the_sheet(
    eric_sheet: pd.DataFrame, eric_sites: pd.DataFrame
) -> None:
    derived = derive_estate_metrics(eric_sites)
    gia = derived["gia_m2"]
    weighted_pre_1948 = float((derived["pre_1948_share"] * gia).sum() / gia.sum())
    raw = eric_sheet[eric_sheet["Site Type"] != "Aggregate Site"]
    by_hand = float(
        (pd.to_numeric(raw[ERIC_AGE_PRE_1948], errors="coerce") / 100 * raw[ERIC_GIA]).sum()
        / raw[ERIC_GIA].sum()
    )
    assert weighted_pre_1948 == pytest.approx(by_hand)
    assert 0.05 < weighted_pre_1948 < 0.30
    # GIA-weighted rate over community hospitals = sum of costs / sum of floor area.
    kind = "community_hospital"  # ERIC site type "7. Community hospital (with inpatient beds)"
    rate = estate_cost_per_m2(eric_sites, kinds=[kind])
    sub = eric_sites[(eric_sites["kind"] == kind) & (eric_sites["gia_m2"] > 0)]
    sub = sub[sub["running_cost_gbp"].notna()]
    assert rate == pytest.approx(sub["running_cost_gbp"].sum() / sub["gia_m2"].sum())
    assert 100 < rate < 300


def test_non_eric_sites_and_json_attributes() -> None:
    sites = pd.DataFrame(
        {
            "site_id": ["council-1", "nhs-1", "nhs-2"],
            "gia_m2": [415.05, 1000.0, 0.0],
            "running_cost_gbp": [np.nan, 150000.0, 1.0],
            "backlog_gbp": [np.nan, 25000.0, 0.0],
            "attributes": [
                None,
                json.dumps({PRE_1948_PCT: 40, UNDER_USED_PCT: "12.5"}),
                {NOT_SUITABLE_PCT: "Not Applicable"},
            ],
        }
    )
    out = derive_estate_metrics(sites).set_index("site_id")
    assert math.isnan(out.loc["council-1", "cost_per_m2_gbp"])
    assert out.loc["council-1", "utilisation_flags"] == ""
    assert out.loc["nhs-1", "cost_per_m2_gbp"] == pytest.approx(150.0)
    assert out.loc["nhs-1", "backlog_per_m2_gbp"] == pytest.approx(25.0)
    assert out.loc["nhs-1", "pre_1948_share"] == pytest.approx(0.4)
    assert out.loc["nhs-1", "utilisation_flags"] == "under_used"
    assert math.isnan(out.loc["nhs-2", "cost_per_m2_gbp"])  # zero floor area: no rate
    assert math.isnan(out.loc["nhs-2", "not_suitable_pct"])
    with pytest.raises(ValueError, match="gia_m2"):
        derive_estate_metrics(sites.drop(columns="gia_m2"))
