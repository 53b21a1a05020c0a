"""Hub siting on the real Rutland data: GP practices and NHS buildings as candidates.

The job runs through the API (submitted as an analyst, executed by the job task) on the stored
drive times; every figure it reports is recomputed here from the ``travel_times`` table.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.main import create_app
from tests.api._support import run_job_here
from tests.conftest import settings_for

CANDIDATE_KINDS = ["gp_practice", "community_hospital", "hospital", "clinic"]


@pytest.fixture(scope="module")
def analyst_client(rutland_env: str) -> Iterator[TestClient]:
    # rutland_env: the job task reads its database from the environment, as a worker does.
    settings = settings_for(rutland_env, anonymous_role="analyst")
    with TestClient(create_app(settings)) as c:
        yield c


def _frame(engine: Engine, sql: str, **params: object) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(text(sql), conn, params=params)


def _run(client: TestClient, inputs: dict[str, object]) -> dict[str, object]:
    job_id = run_job_here(client, "hub-siting", dict(inputs))
    body: dict[str, object] = client.get(f"/jobs/{job_id}/results").json()
    return body


def test_two_hubs_keeping_the_community_hospital(
    analyst_client: TestClient, rutland_engine: Engine
) -> None:
    sites = _frame(
        rutland_engine,
        "SELECT id, kind, source_id FROM sites WHERE kind = ANY(:k) AND status = 'active' "
        "AND geom IS NOT NULL",
        k=CANDIDATE_KINDS,
    )
    memorial = int(sites.loc[sites["source_id"] == "RT5PC", "id"].iloc[0])
    excluded = int(sites.loc[sites["source_id"] == "C82044", "id"].iloc[0])
    res = _run(
        analyst_client,
        {
            "p": 2,
            "mode": "drive",
            "objective": "p-median",
            "candidates": CANDIDATE_KINDS,
            "keep": [memorial],
            "exclude": [excluded],
        },
    )
    chosen = [c["site_id"] for c in res["chosen"]]  # type: ignore[union-attr, index]
    assert len(chosen) == 2
    assert memorial in chosen
    assert excluded not in chosen
    assert res["status"] == "optimal"
    assert res["gap"] == pytest.approx(0.0, abs=1e-9)

    # Recompute from the stored matrix: population-weighted drive seconds to the nearer hub.
    times = _frame(
        rutland_engine,
        "SELECT t.area_code, t.site_id, t.seconds, a.population FROM travel_times t "
        "JOIN areas_features a ON a.code = t.area_code AND a.vintage = 2021 "
        "AND a.level = 'lsoa' WHERE t.mode = 'drive' AND t.area_vintage = 2021",
    )
    candidates = set(sites["id"]) - {excluded}
    cand_times = times[times["site_id"].isin(candidates)]
    best = (
        cand_times[cand_times["site_id"].isin(chosen)]
        .groupby("area_code")
        .agg(seconds=("seconds", "min"), population=("population", "first"))
    )
    assert res["objective"] == pytest.approx(float((best["seconds"] * best["population"]).sum()))
    # No other pair (with the community hospital kept) does better.
    others = [s for s in candidates if s != memorial]
    for other in others:
        alt = (
            cand_times[cand_times["site_id"].isin([memorial, other])]
            .groupby("area_code")
            .agg(seconds=("seconds", "min"), population=("population", "first"))
        )
        assert float((alt["seconds"] * alt["population"]).sum()) >= res["objective"] - 1e-6

    # Before (today's four GP practices) and after (the two hubs) within 10/20/30 minutes.
    gp_ids = set(sites.loc[sites["kind"] == "gp_practice", "id"])
    before_t = (
        times[times["site_id"].isin(gp_ids)]
        .groupby("area_code")
        .agg(seconds=("seconds", "min"), population=("population", "first"))
    )
    coverage = res["coverage"]
    assert sorted(coverage["before"], key=float) == ["10", "20", "30"]  # type: ignore[index]
    for band in (10, 20, 30):
        before = before_t.loc[before_t["seconds"] <= band * 60, "population"].sum()
        after = best.loc[best["seconds"] <= band * 60, "population"].sum()
        assert coverage["before"][str(band)] == pytest.approx(before)  # type: ignore[index]
        assert coverage["after"][str(band)] == pytest.approx(after)  # type: ignore[index]
    assert coverage["before"]["30"] == pytest.approx(41_043)  # type: ignore[index]
    # Every area is assigned to one of the two hubs.
    assignment = res["assignment"]
    assert len(assignment) == 26  # type: ignore[arg-type]
    assert {a["site_id"] for a in assignment} <= set(chosen)  # type: ignore[union-attr]


def test_mclp_covers_the_most_people_within_10_minutes(
    analyst_client: TestClient, rutland_engine: Engine
) -> None:
    res = _run(
        analyst_client,
        {
            "p": 1,
            "mode": "drive",
            "objective": "mclp",
            "minutes": 10,
            "candidates": ["gp_practice"],
        },
    )
    times = _frame(
        rutland_engine,
        "SELECT t.site_id, sum(a.population) AS covered FROM travel_times t "
        "JOIN areas_features a ON a.code = t.area_code AND a.vintage = 2021 AND a.level = 'lsoa' "
        "JOIN sites s ON s.id = t.site_id WHERE s.kind = 'gp_practice' AND t.mode = 'drive' "
        "AND t.area_vintage = 2021 AND t.seconds <= 600 GROUP BY 1",
    )
    best = times.sort_values("covered", ascending=False).iloc[0]
    assert res["chosen"][0]["site_id"] == int(best["site_id"])  # type: ignore[index]
    assert res["objective"] == pytest.approx(float(best["covered"]))
