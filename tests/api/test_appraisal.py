"""Options appraisal end to end on the real Rutland bundle: scenarios, a hub-siting result, the job.

Options: the baseline, "close Uppingham Surgery" (evaluated beforehand by a
scenario-evaluation job, which the appraisal reuses), "close Market Overton" and a hub-siting
result turned into a scenario. Figures are recomputed here from the stored travel times,
the areas' population and points, and the definitions (not read back from the code).
"""

from __future__ import annotations

import math
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.main import create_app
from app.schemas.appraisal import AppraisalResult, Ranking
from app.services.appraisal import hub_siting_scenario
from etl.datasets import load_dataset
from tests.api._support import auth, run_job_here, two_org_keys
from tests.conftest import settings_for

PROBLEM = "application/problem+json"
UPPINGHAM = "C82077"
MARKET_OVERTON = "C82649"
MEMORIAL = "RT5PC"  # Rutland Memorial Hospital (community hospital)
RUTLAND = "E06000017"
PATIENTS_PER_GP_FTE = 1800.0  # the built-in norm set (HUDU)
VISITS = 5.16
ROUTE = 1.3
CAR_KG_PER_KM = 0.16844


@pytest.fixture(scope="module")
def keys(rutland_engine: Engine) -> dict[str, str]:
    return two_org_keys(rutland_engine, "appr-")


@pytest.fixture(scope="module")
def client(rutland_env: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(rutland_env))) as c:
        yield c


def _frame(engine: Engine, sql: str, **params: object) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(text(sql), conn, params=params)


@pytest.fixture(scope="module")
def nearest(rutland_engine: Engine) -> pd.DataFrame:
    """Per 2021 area: population, nearest GP practice by stored drive time (source id and
    seconds) and the straight line (m) from the area's representative point to it."""
    times = _frame(
        rutland_engine,
        "SELECT t.area_code, s.source_id, t.seconds, a.population, "
        "ST_Distance(a.rep_point, s.geom) AS metres FROM travel_times t "
        "JOIN sites s ON s.id = t.site_id JOIN areas_features a ON a.code = t.area_code "
        "AND a.vintage = 2021 AND a.level = 'lsoa' WHERE t.mode = 'drive' "
        "AND t.area_vintage = 2021 AND s.kind = 'gp_practice' AND s.status = 'active' "
        "AND NOT s.restricted",
    )
    return times


@pytest.fixture(scope="module")
def threshold_min(nearest: pd.DataFrame) -> float:
    """The smallest whole minute within which every area now served by Uppingham is reached:
    closing it leaves some of them beyond it."""
    best = nearest.loc[nearest.groupby("area_code")["seconds"].idxmin()]
    served = best[best["source_id"] == UPPINGHAM]["seconds"]
    assert len(served), "no area has Uppingham as its nearest practice"
    return float(math.ceil(served.max() / 60.0))


def _save(client: TestClient, key: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/scenarios", json=body, headers=auth(key))
    assert r.status_code == 201, r.text
    saved: dict[str, Any] = r.json()
    return saved


def _site_id(engine: Engine, source_id: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT id FROM sites WHERE source_id = :s AND status = 'active'"),
                {"s": source_id},
            ).scalar_one()
        )


@pytest.fixture(scope="module")
def appraisal(
    client: TestClient, keys: dict[str, str], threshold_min: float, rutland_engine: Engine
) -> dict[str, Any]:
    key = keys["a"]
    upp = _save(
        client,
        key,
        {
            "name": "Appraisal: close Uppingham",
            "changes": [{"type": "close_sites", "site_ids": [UPPINGHAM]}],
        },
    )
    mo = _save(
        client,
        key,
        {
            "name": "Close Market Overton",
            "changes": [{"type": "close_sites", "site_ids": [MARKET_OVERTON]}],
        },
    )
    settings = {"modes": ["drive"], "bands": [5, 10, 20], "threshold_min": threshold_min}
    evaluated = run_job_here(
        client,
        "scenario-evaluation",
        {"scenario_id": upp["id"], **settings},
        auth(key),
    )
    memorial = _site_id(rutland_engine, MEMORIAL)
    hub_job = run_job_here(
        client,
        "hub-siting",
        {
            "p": 2,
            "mode": "drive",
            "objective": "p-median",
            "candidates": ["gp_practice", "community_hospital"],
            "keep": [memorial],
        },
        auth(key),
    )
    weights = {
        "mean_time_min:drive": 2.0,
        "losing_access:drive": 1.0,
        "running_cost_saved_gbp": 1.0,
        "co2e_t_per_year:drive": 1.0,
    }
    job_id = run_job_here(
        client,
        "options-appraisal",
        {
            "title": "Rutland GP access options",
            "scenario_ids": [upp["id"], mo["id"]],
            "hub_siting_jobs": [hub_job],
            **settings,
            "weights": weights,
            "uncertainty": {
                "criteria": {"co2e_t_per_year:drive": {"minus_pct": 30, "plus_pct": 30}},
                "draws": 400,
                "seed": 11,
            },
        },
        auth(key),
    )
    results = client.get(f"/jobs/{job_id}/results", headers=auth(key)).json()
    return {
        "job": job_id,
        "results": results,
        "upp": upp,
        "mo": mo,
        "hub_job": hub_job,
        "evaluated": evaluated,
        "weights": weights,
        "memorial": memorial,
    }


def test_appraisal_matrix_is_the_documented_arithmetic(
    appraisal: dict[str, Any],
    nearest: pd.DataFrame,
    threshold_min: float,
    client: TestClient,
    keys: dict[str, str],
) -> None:
    res = appraisal["results"]
    upp, mo, hub = appraisal["upp"], appraisal["mo"], appraisal["hub_job"]
    ids = [o["id"] for o in res["options"]]
    assert ids == ["baseline", f"scenario:{upp['id']}", f"scenario:{mo['id']}", f"hub-siting:{hub}"]
    opts = {o["id"]: o for o in res["options"]}
    # The stored evaluation with the same settings was reused, the others evaluated here.
    assert opts[f"scenario:{upp['id']}"]["evaluation"] == (
        f"scenario-evaluation job {appraisal['evaluated']}"
    )
    assert opts[f"scenario:{mo['id']}"]["evaluation"] == "evaluated in this appraisal"
    values = {r["option"]: r["values"] for r in res["matrix"]}
    base = values["baseline"]

    # Baseline: each area's nearest practice by stored time; distance straight line × 1.3.
    best = nearest.loc[nearest.groupby("area_code")["seconds"].idxmin()]
    pop = best["population"].astype(float)
    mean_min = float((best["seconds"] * pop).sum() / pop.sum() / 60.0)
    assert base["mean_time_min:drive"] == pytest.approx(mean_min)
    within = float(pop[best["seconds"] <= threshold_min * 60].sum()) / float(pop.sum()) * 100
    assert base["share_within_threshold:drive"] == pytest.approx(within)
    pkm = float((pop * best["metres"] / 1000.0 * ROUTE).sum() * VISITS * 2)
    assert base["person_km_per_year:drive"] == pytest.approx(pkm, rel=1e-6)
    assert base["co2e_t_per_year:drive"] == pytest.approx(pkm * CAR_KG_PER_KM / 1000.0, rel=1e-6)
    assert base["losing_access:drive"] == 0
    assert base["running_cost_saved_gbp"] == 0

    # Closing Uppingham: the people whose nearest remaining practice is beyond the threshold.
    others = nearest[nearest["source_id"] != UPPINGHAM]
    after = others.loc[others.groupby("area_code")["seconds"].idxmin()].set_index("area_code")
    before = best.set_index("area_code")
    limit = threshold_min * 60.0
    losing = before.index[
        (before["seconds"] <= limit) & (after.loc[before.index, "seconds"] > limit)
    ]
    closed = values[f"scenario:{upp['id']}"]
    assert closed["losing_access:drive"] == pytest.approx(
        float(before.loc[losing, "population"].sum())
    )
    assert closed["losing_access:drive"] > 0
    pkm_after = float((after["population"] * after["metres"] / 1000.0 * ROUTE).sum() * VISITS * 2)
    assert closed["person_km_per_year:drive"] == pytest.approx(pkm_after, rel=1e-6)
    assert closed["person_km_per_year:drive"] > base["person_km_per_year:drive"]

    # The ranking: min-max per criterion (baseline included), weights normalised, summed.
    criteria = {c["id"]: c for c in res["criteria"]}
    w = appraisal["weights"]
    total = sum(w.values())
    scores = dict.fromkeys(values, 0.0)
    for cid, weight in w.items():
        col = np.array([values[o][cid] for o in values], dtype=float)
        lo, hi = col.min(), col.max()
        for o, v in zip(values, col, strict=True):
            n = 1.0 if hi == lo else (v - lo) / (hi - lo)
            if criteria[cid]["direction"] == "lower" and hi != lo:
                n = 1.0 - n
            scores[o] += weight / total * n
    rows = {r["option"]: r for r in res["ranking"]["rows"]}
    for o, s in scores.items():
        assert rows[o]["score"] == pytest.approx(s)
    assert res["ranking"]["top"] == max(scores, key=lambda o: scores[o])
    assert sorted(r["rank"] for r in rows.values())[0] == 1
    assert res["ranking"]["weights"]["mean_time_min:drive"] == pytest.approx(2.0 / 5.0)
    # Monte Carlo: every draw ranks somebody first; counts per option sum to the draws.
    mc = res["ranking"]["monte_carlo"]
    assert mc["draws"] == 400
    assert sum(mc["first_share"].values()) == pytest.approx(1.0)
    assert all(sum(c) == 400 for c in mc["rank_counts"].values())
    # Capacity was not asked for, and the notes say how; receipts without a rate are left out.
    assert any(n.startswith("capacity shortfall: not asked for") for n in res["notes"])
    assert not any(c["group"] == "capacity" for c in res["criteria"])
    assert "capital_receipt_gbp" in res["dropped_criteria"]
    # The typed route answers the same, valid against its schema.
    typed = client.get(f"/appraisals/{appraisal['job']}", headers=auth(keys["a"]))
    assert typed.status_code == 200, typed.text
    body = AppraisalResult.model_validate(typed.json())
    assert body.ranking.top == res["ranking"]["top"]
    assert "evaluations" not in typed.json()


def test_hub_siting_option_and_saved_scenario(
    appraisal: dict[str, Any], client: TestClient, keys: dict[str, str], rutland_engine: Engine
) -> None:
    hub = appraisal["hub_job"]
    chosen = client.get(f"/jobs/{hub}/results", headers=auth(keys["a"])).json()["chosen"]
    chosen_ids = {str(c["site_id"]) for c in chosen}
    memorial = str(appraisal["memorial"])
    assert memorial in chosen_ids
    r = client.post(
        "/scenarios/from-hub-siting",
        json={"job_id": hub, "name": "Two hubs", "restricted": True},
        headers=auth(keys["a"]),
    )
    assert r.status_code == 201, r.text
    saved = r.json()
    changes = saved["definition"]["changes"]
    practices = _frame(
        rutland_engine,
        "SELECT id FROM sites WHERE kind = 'gp_practice' AND status = 'active' "
        "AND geom IS NOT NULL AND NOT restricted",
    )
    closed = set(changes[0]["site_ids"])
    assert changes[0]["type"] == "close_sites"
    assert closed == {str(i) for i in practices["id"]} - chosen_ids
    assert changes[1] == {**changes[1], "type": "open_site", "site_id": f"hub-{memorial}",
                          "at_site_id": memorial}  # fmt: skip
    assert r.headers["Location"].endswith(f"/scenarios/{saved['id']}")
    # The same option in the appraisal: the memorial hospital serves, closed practices do not.
    evaluation = appraisal["results"]["evaluations"][f"hub-siting:{hub}"]
    status = {s["site_id"]: s["status"] for s in evaluation["detail"]["sites"]}
    assert status[f"hub-{memorial}"] == "opened"
    assert all(status[s] == "closed" for s in closed)
    # Not a hub-siting job, or no such job: 400 / 404 naming job_id.
    bad = client.post(
        "/scenarios/from-hub-siting",
        json={"job_id": appraisal["job"]},
        headers=auth(keys["a"]),
    )
    assert bad.status_code == 400
    assert bad.json()["parameter"] == "job_id"
    other = client.post("/scenarios/from-hub-siting", json={"job_id": hub}, headers=auth(keys["b"]))
    assert other.status_code == 404  # organisation b cannot see a's restricted job
    assert client.post("/scenarios/from-hub-siting", json={"job_id": hub}).status_code == 401


def test_rescore_follows_the_weights(
    appraisal: dict[str, Any], client: TestClient, keys: dict[str, str]
) -> None:
    job = appraisal["job"]
    values = {r["option"]: r["values"] for r in appraisal["results"]["matrix"]}
    # All weight on people losing access: the baseline (nobody loses) ranks first.
    r = client.post(
        f"/appraisals/{job}/rescore",
        json={"weights": {"losing_access:drive": 1}},
        headers=auth(keys["a"]),
    )
    assert r.status_code == 200, r.text
    ranking = Ranking.model_validate(r.json())
    assert ranking.top == "baseline"
    # All weight on running cost saved: the option saving most ranks first.
    r = client.post(
        f"/appraisals/{job}/rescore",
        json={"weights": {"running_cost_saved_gbp": 1}},
        headers=auth(keys["a"]),
    )
    saving = max(values, key=lambda o: values[o]["running_cost_saved_gbp"])
    assert r.json()["top"] == saving
    # Bad weights are a 400 naming weights and the criterion.
    for weights, words in (
        ({"running_cost_saved_gbp": -1}, "weight of 'running_cost_saved_gbp': must be >= 0"),
        ({"no_such:drive": 1}, "unknown criteria ['no_such:drive']"),
        ({"running_cost_saved_gbp": 0}, "at least one criterion needs a weight above 0"),
    ):
        bad = client.post(
            f"/appraisals/{job}/rescore", json={"weights": weights}, headers=auth(keys["a"])
        )
        assert bad.status_code == 400, bad.text
        assert bad.headers["content-type"] == PROBLEM
        assert bad.json()["parameter"] == "weights"
        assert words in bad.json()["detail"]
    # Another organisation cannot see the appraisal.
    assert client.get(f"/appraisals/{job}", headers=auth(keys["b"])).status_code == 404


def test_bad_weights_and_unknown_options_are_400_naming_them(
    client: TestClient, keys: dict[str, str], appraisal: dict[str, Any]
) -> None:
    upp = appraisal["upp"]["id"]

    def submit(inputs: dict[str, Any]) -> dict[str, Any]:
        r = client.post(
            "/processes/options-appraisal/execution",
            json={"inputs": inputs},
            headers=auth(keys["a"]),
        )
        assert r.status_code == 400, r.text
        assert r.headers["content-type"] == PROBLEM
        body: dict[str, Any] = r.json()
        return body

    bad = submit({"scenario_ids": [upp], "weights": {"mean_time_min:drive": -2}})
    assert bad["parameter"] == "weights"
    assert "weight of 'mean_time_min:drive': must be >= 0, got -2" in bad["detail"]
    bad = submit({"scenario_ids": [upp], "weights": {"mean_time_min:bus": 1}})
    assert bad["parameter"] == "weights"
    assert "unknown criteria ['mean_time_min:bus']" in bad["detail"]
    bad = submit({"scenario_ids": [upp], "weights": {"mean_time_min:drive": 0}})
    assert "at least one criterion needs a weight above 0" in bad["detail"]
    bad = submit({"scenario_ids": [upp, 987654321]})
    assert bad["parameter"] == "scenario_ids"
    assert "987654321" in bad["detail"]
    ghost = "00000000-0000-4000-8000-000000000001"
    bad = submit({"scenario_ids": [upp], "hub_siting_jobs": [ghost]})
    assert bad["parameter"] == "hub_siting_jobs"
    assert ghost in bad["detail"]
    bad = submit({"scenario_ids": [upp], "hub_siting_jobs": [appraisal["evaluated"]]})
    assert bad["parameter"] == "hub_siting_jobs"  # a job, but not a hub-siting one
    bad = submit({"scenario_ids": []})
    assert bad["parameter"] == "scenario_ids"
    assert "at least two options" in bad["detail"]
    bad = submit(
        {
            "scenario_ids": [upp],
            "uncertainty": {"values": [{"option": "scenario:5", "criterion":
                            "losing_access:drive", "low": 0, "high": 1}]},
        }
    )  # fmt: skip
    assert bad["parameter"] == "uncertainty"
    assert "option 'scenario:5' is not one of the options" in bad["detail"]
    # The process describes its inputs (OGC API Processes).
    described = client.get("/processes/options-appraisal").json()
    assert {"scenario_ids", "hub_siting_jobs", "weights", "uncertainty", "modes"} <= set(
        described["inputs"]
    )
    assert set(described["x-locus-result-formats"]) == {"json", "html", "pdf"}
    # The criteria catalogue names every id a weight may use.
    cat = client.get("/appraisals/criteria", params={"modes": "drive,walk", "bands": "15"})
    assert cat.status_code == 200
    ids = {c["id"] for c in cat.json()["criteria"]}
    assert {"share_within_15_min:walk", "co2e_t_per_year:drive", "land_released_ha"} <= ids
    assert client.get("/appraisals/criteria", params={"modes": "bus"}).json()["parameter"] == (
        "modes"
    )


def test_consultation_pack_lists_every_option_and_criterion(
    appraisal: dict[str, Any], client: TestClient, keys: dict[str, str], tmp_path: Path
) -> None:
    job, res = appraisal["job"], appraisal["results"]
    html = client.get(f"/jobs/{job}/results", params={"f": "html"}, headers=auth(keys["a"]))
    assert html.status_code == 200
    page = html.text
    assert '<html lang="en">' in page
    assert page.count("<table") == page.count("<caption>") > 5
    alts = re.findall(r'<img [^>]*alt="([^"]*)"', page)
    assert len(alts) == page.count("<img") >= 4
    assert all(len(a) > 20 for a in alts)
    pdf = client.get(f"/jobs/{job}/results", params={"f": "pdf"}, headers=auth(keys["a"]))
    assert pdf.status_code == 200, pdf.text[:300]
    assert pdf.headers["content-type"] == "application/pdf"
    path = tmp_path / "pack.pdf"
    path.write_bytes(pdf.content)
    words = subprocess.run(
        ["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(words.split())
    for option in res["options"]:
        assert option["label"] in flat, option["label"]
    for criterion in res["criteria"]:
        assert criterion["id"] in flat, criterion["id"]
        assert criterion["label"] in flat, criterion["label"]
    for heading in ("Summary in plain language", "Method notes", "How sensitive is the ranking"):
        assert heading in flat
    assert "DESNZ" in flat
    assert "Kakwani" in flat


def test_hub_siting_result_as_a_scenario_keeps_to_the_serving_sites() -> None:
    """Closes today's sites not chosen, opens chosen non-serving sites in their building;
    with the serving set of the appraisal's kinds, nothing is closed or opened twice."""
    results = {
        "chosen": [
            {"site_id": 1, "name": "Oakham", "kind": "gp_practice"},
            {"site_id": 9, "name": "Memorial", "kind": "community_hospital"},
        ],
        "parameters": {"objective": "p-median", "p": 2, "baseline_sites": [1, 2, 3]},
    }
    scenario, notes = hub_siting_scenario(results, job_id="j")
    changes = scenario.to_dict()["changes"]
    assert scenario.name == "Hub siting: p-median, 2 sites"
    assert changes[0] == {"type": "close_sites", "site_ids": ["2", "3"]}
    assert (changes[1]["site_id"], changes[1]["at_site_id"]) == ("hub-9", "9")
    assert notes == []
    scenario, notes = hub_siting_scenario(results, job_id="j", serving={"1", "2", "9"})
    changes = scenario.to_dict()["changes"]
    assert changes == [{"type": "close_sites", "site_ids": ["2"]}]
    assert notes == [
        "sites ['3'] are not serving under the appraisal's kinds: not closed",
        "chosen sites ['9'] already serve: not opened again",
    ]


# ----------------------------------------------------------------------------- capacity


@pytest.fixture(scope="module")
def receiver(nearest: pd.DataFrame) -> dict[str, Any]:
    """By hand from the stored drive times: the practice taking most of Uppingham's people
    when it closes, its people today and the people it takes."""
    practices = nearest.sort_values(["area_code", "seconds", "source_id"])
    before = practices.groupby("area_code").first()
    after = practices[practices["source_id"] != UPPINGHAM].groupby("area_code").first()
    moved = before[before["source_id"] == UPPINGHAM].join(after["source_id"], rsuffix="_after")
    gained = moved.groupby("source_id_after")["population"].sum().sort_values()
    code = str(gained.index[-1])
    return {
        "code": code,
        "today": float(before.loc[before["source_id"] == code, "population"].sum()),
        "gained": float(gained.iloc[-1]),
    }


@pytest.fixture(scope="module")
def receiver_list(
    rutland_env: str,
    rutland_engine: Engine,
    receiver: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[float]:
    """The receiver's registered list set to exactly its people today, loaded as a
    gp-registrations file (as the capacity-sizing process reads list sizes); removed after."""
    path = tmp_path_factory.mktemp("lists") / "lists.csv"
    path.write_text(
        "practice_code,practice_name,practice_postcode,registered_patients\n"
        f"{receiver['code']},Receiving practice,LE15 0AA,{receiver['today']:.0f}\n",
        encoding="utf-8",
    )
    summary = load_dataset(settings_for(rutland_env), "gp-registrations", path, region=RUTLAND)
    try:
        yield receiver["today"]
    finally:
        with rutland_engine.begin() as conn:
            conn.execute(
                text("DELETE FROM gp_registrations WHERE load_id = :i"), {"i": summary.load_id}
            )
            conn.execute(text("DELETE FROM data_loads WHERE id = :i"), {"i": summary.load_id})


def test_closing_a_practice_raises_the_capacity_shortfall_of_the_one_taking_its_people(
    client: TestClient,
    keys: dict[str, str],
    appraisal: dict[str, Any],
    receiver: dict[str, Any],
    receiver_list: float,
    rutland_engine: Engine,
) -> None:
    # Baseline: the receiver's need is its people today / 1,800 GP FTE, exactly its list's
    # GP FTE equivalent -> shortfall 0. Close Uppingham: it takes `gained` more people ->
    # shortfall gained / 1,800 GP FTE. Every other practice has no list: unknown, noted.
    key = keys["a"]
    upp = appraisal["upp"]["id"]
    job = run_job_here(
        client,
        "options-appraisal",
        {"scenario_ids": [upp], "capacity": {"service": "primary_care"}},
        auth(key),
    )
    res = client.get(f"/jobs/{job}/results", headers=auth(key)).json()
    crit = {c["id"]: c for c in res["criteria"]}
    assert crit["capacity_shortfall_now"]["unit"] == "GP FTE"
    assert crit["capacity_shortfall_now"]["direction"] == "lower"
    assert "capacity_shortfall_horizon" not in crit  # no projection
    assert res["ranking"]["weights"]["capacity_shortfall_now"] > 0  # weighted by default
    values = {row["option"]: row["values"] for row in res["matrix"]}
    base = values["baseline"]["capacity_shortfall_now"]
    closed = values[f"scenario:{upp}"]["capacity_shortfall_now"]
    assert base == pytest.approx(0.0, abs=1e-9)
    assert closed - base == pytest.approx(receiver["gained"] / PATIENTS_PER_GP_FTE, abs=1e-6)
    site_id = _site_id(rutland_engine, receiver["code"])
    detail = res["details"][f"scenario:{upp}"]["capacity"]
    row = next(s for s in detail["sites"] if s["site_id"] == str(site_id))
    assert row["capacity"] == pytest.approx(receiver_list / PATIENTS_PER_GP_FTE)
    assert row["population_now"] == pytest.approx(receiver["today"] + receiver["gained"])
    assert res["assumptions"]["capacity"]["unit"] == "GP FTE"
    assert res["assumptions"]["capacity"]["norms"]["name"] == "locus-default"
    # Uppingham is closed: among the baseline's unknown sites, not the scenario's.
    unknown = detail["sites_unknown_capacity"]
    assert res["details"]["baseline"]["capacity"]["sites_unknown_capacity"] == unknown + 1
    assert any(
        n.startswith(f"{res['options'][1]['label']}: {unknown} serving site(s) of unknown")
        for n in res["notes"]
    )
    # The consultation pack's appraisal table shows the criterion.
    html = client.get(f"/jobs/{job}/results", params={"f": "html"}, headers=auth(key)).text
    assert "Capacity shortfall now (GP FTE)" in html
    # The catalogue lists the capacity criteria when asked.
    cat = client.get(
        "/appraisals/criteria", params={"capacity": "beds", "projection": "true"}
    ).json()
    units = {c["id"]: c["unit"] for c in cat["criteria"] if c["group"] == "capacity"}
    assert units == {"capacity_shortfall_now": "beds", "capacity_shortfall_horizon": "beds"}


def test_bad_capacity_inputs_are_400_naming_capacity(
    client: TestClient, keys: dict[str, str], appraisal: dict[str, Any]
) -> None:
    key = keys["a"]
    upp = appraisal["upp"]["id"]
    flat = client.post(
        "/planning/projections",
        json={"name": "appraisal flat", "horizons": [2030], "lad_codes": [RUTLAND]},
        headers=auth(key),
    )
    assert flat.status_code == 201, flat.text
    projection = flat.json()["id"]
    for capacity, words in (
        ({"service": "dentistry"}, "capacity"),
        ({"service": "primary_care", "norms_id": 999999}, "no norm set 999999"),
        ({"service": "beds", "projection_id": 999999}, "no projection 999999"),
        ({"service": "beds", "horizon_year": 2030}, "a horizon year needs a projection"),
        (
            {"service": "beds", "projection_id": projection, "horizon_year": 2040},
            f"projection {projection} has years [2021, 2030], not 2040",
        ),
    ):
        r = client.post(
            "/processes/options-appraisal/execution",
            json={"inputs": {"scenario_ids": [upp], "capacity": capacity}},
            headers=auth(key),
        )
        assert r.status_code == 400, (capacity, r.text)
        assert r.json()["parameter"] == "capacity", r.text
        assert words in r.json()["detail"], r.text
