"""The estate benchmark API and report over the real Rutland demo database (which loads the
national ERIC file as ``eric-benchmark``): Rutland Memorial Hospital and its trust with the
values computed by hand from the spreadsheet rows (read here with pandas), the national totals
in the metadata, filters, errors and the report.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import settings_for

ERIC = "england/eric_2016-17_trust_site_pfi.xls"
GIA = "Gross internal floor area (m²)"
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
BACKLOG = [
    f"Cost to eradicate {c} risk backlog (£)" for c in ("high", "significant", "moderate", "low")
]


@pytest.fixture(scope="module")
def client(rutland_db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(rutland_db_url))) as c:
        yield c


@pytest.fixture(scope="module")
def sheet(data_dir: Path) -> pd.DataFrame:
    frame = pd.read_excel(data_dir / ERIC, sheet_name="Site Data", header=1, engine="calamine")
    cols = [GIA, *RUNNING, *BACKLOG, "Age profile - pre 1948 (%)"]
    frame[cols] = frame[cols].apply(pd.to_numeric, errors="coerce")
    return frame


def _get(client: TestClient, **params: Any) -> dict[str, Any]:
    r = client.get("/estate/benchmark", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_rutland_memorial_hospital(client: TestClient, sheet: pd.DataFrame) -> None:
    row = sheet[sheet["Site Code"] == "RT5PC"].iloc[0]
    doc = _get(client, site="RT5PC")
    assert (doc["matched"], doc["returned"], doc["level"]) == (1, 1, "site")
    (got,) = doc["rows"]
    assert got["site_name"] == "RUTLAND MEMORIAL HOSPITAL"
    assert got["trust_code"] == "RT5"
    assert got["site_type"] == "7. Community hospital (with inpatient beds)"
    gia = float(row[GIA])
    kpis = got["kpis"]
    assert got["figures"]["running_cost_gbp"] == float(row[RUNNING].sum()) == 797_292.0
    assert kpis["running_cost_per_m2"]["value"] == pytest.approx(797_292 / 2870)
    assert kpis["backlog_per_m2"]["value"] == pytest.approx(float(row[BACKLOG].sum()) / gia)
    assert kpis["backlog_moderate_per_m2"]["value"] == pytest.approx(159_490 / 2870)
    assert kpis["backlog_high_per_m2"]["value"] == 0.0
    assert kpis["pre_1948_share"]["value"] == 68.8
    assert kpis["empty_share"]["value"] == 6.06
    assert kpis["energy_cost_per_m2"]["value"] == pytest.approx(50_097 / 2870)
    # Percentile among the community hospitals of England with a running cost.
    peers = sheet[sheet["Site Type"] == row["Site Type"]]
    rate = (peers[RUNNING].sum(axis=1, min_count=1) / peers[GIA]).dropna()
    mine = 797_292 / 2870
    pct = 100 * ((rate < mine).sum() + 0.5 * (rate == mine).sum()) / len(rate)
    assert kpis["running_cost_per_m2"]["percentile"] == pytest.approx(pct)
    assert kpis["running_cost_per_m2"]["peers"] == 210
    (dist,) = doc["distributions"]
    assert dist["peer_group"] == row["Site Type"]
    assert dist["kpis"]["running_cost_per_m2"]["median"] == pytest.approx(rate.median())
    assert "5th" in doc["method"]["outliers"]
    assert "excluding medical-equipment maintenance" in doc["method"]["running_cost"]


def test_trust_level_and_national_totals(client: TestClient, sheet: pd.DataFrame) -> None:
    rows = sheet[sheet["Organisation Code"] == "RT5"]
    doc = _get(client, level="trust", trust="RT5")
    (got,) = doc["rows"]
    assert (got["trust_code"], got["sites"], got["aggregate_rows"]) == ("RT5", 16, 1)
    assert got["figures"]["gia_m2"] == rows[GIA].sum()
    costed = rows[rows[RUNNING].notna().any(axis=1)]
    assert got["kpis"]["running_cost_per_m2"]["value"] == pytest.approx(
        costed[RUNNING].sum().sum() / costed[GIA].sum()
    )
    assert got["kpis"]["running_cost_per_m2"]["peers"] == 49
    totals = doc["national_totals"]
    assert totals["trusts"] == 236
    assert totals["sites"] == 1041
    assert totals["gia_m2"] == sheet[GIA].sum() == 26_922_336.0
    assert totals["backlog_gbp"] == pytest.approx(sheet[BACKLOG].sum().sum())
    assert totals["running_cost_gbp"] == pytest.approx(sheet[RUNNING].sum().sum())
    backlog = totals["published_check"]["backlog_gbp"]
    assert backlog["published"] == "£5.5bn"
    assert abs(backlog["difference_share"]) < 0.01
    assert totals["published_check"]["running_cost_gbp"]["comparable"] is False
    assert doc["metadata"]["dataset"] == "eric-benchmark"
    assert doc["metadata"]["vintage"] == "2016/17"


def test_filters(client: TestClient) -> None:
    sites = _get(client, trust="RT5", limit=50)
    assert sites["matched"] == 16
    assert {r["trust_code"] for r in sites["rows"]} == {"RT5"}
    hospitals = _get(client, type="7. Community hospital (with inpatient beds)", outliers="true")
    assert hospitals["matched"] > 0
    for row in hospitals["rows"]:
        assert row["site_type"] == "7. Community hospital (with inpatient beds)"
        flags = [k["outlier"] for k in row["kpis"].values()]
        assert any(f in ("high", "low") for f in flags)
        for k in row["kpis"].values():
            if k["outlier"] == "high":
                assert k["percentile"] > 95
            if k["outlier"] == "low":
                assert k["percentile"] < 5
    page = _get(client, level="trust", limit=10, offset=230)
    assert (page["matched"], page["returned"]) == (236, 6)


def test_bad_parameters_name_the_parameter(client: TestClient) -> None:
    r = client.get("/estate/benchmark", params={"level": "ward"})
    assert (r.status_code, r.json()["parameter"]) == (400, "level")
    r = client.get("/estate/benchmark", params={"site": "RT5PC;DROP"})
    assert (r.status_code, r.json()["parameter"]) == (400, "site")


def test_report_html_and_pdf(client: TestClient) -> None:
    r = client.get("/estate/benchmark/report", params={"trust": "RT5"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "RT5PC RUTLAND MEMORIAL HOSPITAL" in html
    assert 'src="data:image/png;base64,' in html
    assert "26,922,336" in html  # national floor area
    assert "5,545,490,873" in html  # national backlog
    r = client.get("/estate/benchmark/report", params={"site": "RT5PC", "f": "pdf"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")


def test_not_loaded_is_a_503(api_settings: Any) -> None:
    # The small API fixture database has no national ERIC returns.
    with TestClient(create_app(api_settings)) as c:
        r = c.get("/estate/benchmark")
    assert r.status_code == 503
    assert "locus load eric-benchmark" in r.json()["detail"]
