"""The Options panel in headless chromium on the live Rutland demo server: pick, run, re-weight.

A saved scenario closes Market Overton & Somerby Surgeries (ODS C82649). Against today's
practices it is a real trade-off by car: longer mean travel and more emissions, but a smaller
inequality of travel time by deprivation, so one weight decides which option ranks first. The
user opens the panel with the keyboard, picks the baseline and that scenario, runs the
appraisal with a Monte Carlo, then raises that weight with the arrow keys until the ranking
flips. Each table is compared with the API's own answer (``GET /appraisals/{job}``, then
``POST /appraisals/{job}/rescore`` with the weights the page shows), formatted as the page
formats numbers (``Intl.NumberFormat`` en-GB: half away from zero).
"""

from __future__ import annotations

import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import MapPage

pytestmark = pytest.mark.browser

PRACTICE = "C82649"  # Market Overton & Somerby Surgeries
SCENARIO_NAME = "Close Market Overton & Somerby"
CRITERIA_QUERY = "/appraisals/criteria?modes=drive&bands=10,20,30&threshold_min=20"
STEP = 0.5  # the sliders' step
MC_PCT = 10  # the panel's default uncertainty (± %)


# ---- formatting exactly as the panel does ------------------------------------------------------


def _fixed(v: float, digits: int) -> str:
    q = Decimal(1).scaleb(-digits)
    return f"{Decimal(v).quantize(q, rounding=ROUND_HALF_UP):,}"


def pct(share: float) -> str:
    """A share as the panel shows it: at most one decimal, no trailing zeros."""
    text = _fixed(share * 100, 1)
    return (text[:-2] if text.endswith(".0") else text) + "%"


def weight_text(w: float) -> str:
    text = _fixed(w, 1)
    return text[:-2] if text.endswith(".0") else text


def value_text(v: float | None, unit: str) -> str:
    if v is None:
        return "—"
    if unit.startswith("£"):
        text = "£" + _fixed(abs(v), 0)
        return "-" + text if v < 0 and text != "£0" else text
    digits = {"min": 1, "%": 1, "t CO2e/year": 1, "ha": 2, "index": 3}.get(unit)
    if digits is None:
        digits = 0 if abs(v) >= 100 or float(v).is_integer() else 2
    return _fixed(v, digits)


# ---- what the page should show, from the API's answers ---------------------------------------


def _in_rank_order(result: dict[str, Any], ranking: dict[str, Any]) -> list[dict[str, Any]]:
    order = {o["id"]: i for i, o in enumerate(result["options"])}
    return sorted(ranking["rows"], key=lambda r: (r["rank"], order[r["option"]]))


def expected_ranking(result: dict[str, Any], ranking: dict[str, Any]) -> dict[str, Any]:
    """Head and rows of the ranking table: rank, option, score, Pareto set, Monte Carlo."""
    label = {o["id"]: o["label"] for o in result["options"]}
    mc = ranking["monte_carlo"]
    rows = []
    for r in _in_rank_order(result, ranking):
        pareto = (
            "no (dominated by " + ", ".join(label[o] for o in r["dominated_by"]) + ")"
            if r["dominated"]
            else "yes"
        )
        rows.append(
            [str(r["rank"]), label[r["option"]], _fixed(r["score"], 3), pareto]
            + ([pct(mc["first_share"][r["option"]])] if mc else [])
        )
    head = ["Rank", "Option", "Score", "Pareto set"]
    return {"head": head + (["Ranks first (share of draws)"] if mc else []), "rows": rows}


def expected_values(result: dict[str, Any], ranking: dict[str, Any]) -> dict[str, Any]:
    """Head and rows of the weighted criteria's table: a row per criterion with weight > 0
    (label and unit, its share of the weights), a column per option in rank order."""
    label = {o["id"]: o["label"] for o in result["options"]}
    values = {m["option"]: m["values"] for m in result["matrix"]}
    ranked = [r["option"] for r in _in_rank_order(result, ranking)]
    rows = [
        [f"{c['label']} ({c['unit']})", pct(ranking["weights"][c["id"]])]
        + [value_text(values[o].get(c["id"]), c["unit"]) for o in ranked]
        for c in result["criteria"]
        if ranking["weights"].get(c["id"], 0) > 0
    ]
    return {"head": ["Criterion", "Weight"] + [label[o] for o in ranked], "rows": rows}


def expected_sensitivity(result: dict[str, Any], ranking: dict[str, Any]) -> str:
    label = {o["id"]: o["label"] for o in result["options"]}
    crit = {c["id"]: c["label"] for c in result["criteria"]}
    s = ranking["sensitivity"]
    row = next(c for c in s["criteria"] if c["criterion"] == s["min_change_criterion"])
    up = row["increase_to"] - row["weight"] if row["increase_to"] is not None else float("inf")
    down = row["weight"] - row["decrease_to"] if row["decrease_to"] is not None else float("inf")
    rises = up <= down
    to = row["increase_to"] if rises else row["decrease_to"]
    nxt = row["new_top_if_increased"] if rises else row["new_top_if_decreased"]
    return (
        f"The top option, “{label[ranking['top']]}”, changes to “{label[nxt]}” if the weight of "
        f"“{crit[row['criterion']]}” {'rises' if rises else 'falls'} from {pct(row['weight'])} "
        f"to {'more' if rises else 'less'} than {pct(to)} (the other weights rescaled in "
        "proportion)."
    )


# ---- helpers ----------------------------------------------------------------------------------


def shown(mp: MapPage, table_id: str) -> dict[str, Any]:
    """Head and body rows of a table as the user reads them."""
    out: dict[str, Any] = mp.page.evaluate(
        """(id) => ({
            head: [...document.querySelectorAll(`#${id} thead th`)]
                .map((c) => c.textContent.trim()),
            rows: [...document.querySelectorAll(`#${id} tbody tr`)]
                .map((tr) => [...tr.children].map((c) => c.textContent.trim())),
        })""",
        table_id,
    )
    return out


def wait_for_table(mp: MapPage, table_id: str, want: dict[str, Any], timeout_s: float = 20) -> None:
    """Wait until the table shows ``want`` (it is re-drawn after a debounced rescore)."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = shown(mp, table_id)
        busy = mp.page.locator("#options-results").get_attribute("aria-busy") == "true"
        if seen == want and not busy:
            return
        if time.monotonic() > deadline:
            assert seen == want  # shows the difference
        mp.page.wait_for_timeout(100)


def api_json(api: httpx.Client, url: str, body: Any = None) -> Any:
    res = api.get(url) if body is None else api.post(url, json=body)
    assert res.status_code == 200, res.text
    return res.json()


# ---- the test ---------------------------------------------------------------------------------


def test_pick_options_run_reweight_and_download(map_page: MapPage, api: httpx.Client) -> None:
    mp = map_page
    saved = api.post(
        "/scenarios",
        json={
            "name": SCENARIO_NAME,
            "description": "close one practice",
            "changes": [{"type": "close_sites", "site_ids": [PRACTICE]}],
        },
    )
    assert saved.status_code == 201, saved.text
    scenario = saved.json()
    scenario_label = f"{SCENARIO_NAME} (version {scenario['version']})"
    catalogue = api_json(api, CRITERIA_QUERY)["criteria"]
    defaults = {c["id"]: c["weight"] for c in catalogue}

    mp.open("/")
    jobs: list[str] = []
    rescores: list[Any] = []
    mp.page.on(
        "response",
        lambda r: (
            jobs.append(r.headers["location"])
            if r.request.method == "POST" and "/processes/options-appraisal/" in r.url
            else None
        ),
    )
    mp.page.on(
        "request",
        lambda r: rescores.append(r.post_data_json) if r.url.endswith("/rescore") else None,
    )

    # The Options tab by keyboard: it is the last tab, left of the first.
    mp.page.get_by_role("tab", name="Layers").focus()
    mp.page.keyboard.press("ArrowLeft")
    tab = mp.page.get_by_role("tab", name="Options")
    assert tab.get_attribute("aria-selected") == "true"
    pane = mp.page.locator("#pane-options")
    assert pane.is_visible()
    # Every control of the panel is labelled.
    unlabelled = mp.page.evaluate(
        """() => [...document.querySelectorAll('#pane-options input, #pane-options select')]
            .filter((el) => el.labels.length === 0).map((el) => el.id)"""
    )
    assert unlabelled == []

    baseline = pane.get_by_label("Baseline (today's estate)", exact=True)
    assert baseline.is_checked()
    option = pane.get_by_label(scenario_label, exact=True)
    option.focus()
    mp.page.keyboard.press("Space")
    assert option.is_checked()
    pane.get_by_label("Test the ranking under uncertainty (Monte Carlo, 1,000 draws)").check()
    assert pane.get_by_label("Uncertainty of every criterion value (± %)").input_value() == str(
        MC_PCT
    )
    # A slider per criterion, at the catalogue's default weight.
    for c in catalogue:
        slider = pane.get_by_label(f"{c['label']} ({c['unit']})", exact=True)
        assert slider.get_attribute("type") == "range"
        assert float(slider.input_value()) == c["weight"]
    pane.get_by_role("button", name="Run the appraisal").click()

    assert pane.get_by_label("Appraisal progress").is_visible()
    mp.page.locator("#options-results").wait_for(state="visible", timeout=60_000)
    assert mp.page.locator("#options-progress").get_attribute("value") == "100"
    assert mp.page.locator("#options-message").inner_text().startswith("successful")
    assert len(jobs) == 1
    job_id = jobs[0].rstrip("/").split("/")[-1]
    result = api_json(api, f"/appraisals/{job_id}")
    ranking = result["ranking"]

    # The appraisal compared the two options picked, with the sliders' weights.
    assert [o["id"] for o in result["options"]] == ["baseline", f"scenario:{scenario['id']}"]
    used = {c: w for c, w in defaults.items() if c not in result["dropped_criteria"]}
    total = sum(used.values())
    assert ranking["weights"] == pytest.approx({c: w / total for c, w in used.items()})
    assert ranking["monte_carlo"]["draws"] == 1000
    # The tables equal the API's appraisal.
    table = shown(mp, "options-ranking")
    assert table == expected_ranking(result, ranking)
    assert len(table["rows"]) == 2
    assert shown(mp, "options-values") == expected_values(result, ranking)
    assert len(shown(mp, "options-values")["rows"]) == sum(
        w > 0 for w in ranking["weights"].values()
    )
    before_top = table["rows"][0][1]
    assert before_top == next(o["label"] for o in result["options"] if o["id"] == ranking["top"])
    assert pane.locator("#options-sensitivity").inner_text() == expected_sensitivity(
        result, ranking
    )
    mc_text = pane.locator("#options-monte-carlo").inner_text()
    for o in result["options"]:
        share = pct(ranking["monte_carlo"]["first_share"][o["id"]])
        assert f"“{o['label']}” ranks first in {share} of draws" in mc_text
    method = pane.locator("#options-method").inner_text()
    assert f"Normalisation: {ranking['normalisation']}." in method
    assert "Weights: only their proportions matter" in method
    for note in result["notes"]:
        assert note in method

    # Raise (or lower) the weight the sensitivity names, with the arrow keys, just past the
    # point where the top option changes.
    sens = ranking["sensitivity"]
    criterion = sens["min_change_criterion"]
    assert criterion is not None, "the two options should trade off"
    row = next(r for r in sens["criteria"] if r["criterion"] == criterion)
    rises = row["increase_to"] is not None
    target = row["increase_to"] if rises else row["decrease_to"]
    weights = dict(used)
    presses = 0
    while True:
        presses += 1
        weights[criterion] = used[criterion] + (STEP if rises else -STEP) * presses
        share = weights[criterion] / sum(weights.values())
        if (share > target + 1e-6) if rises else (share < target - 1e-6):
            break
    info = next(c for c in catalogue if c["id"] == criterion)
    slider = pane.get_by_label(f"{info['label']} ({info['unit']})", exact=True)
    slider.focus()
    for _ in range(presses):
        mp.page.keyboard.press("ArrowRight" if rises else "ArrowLeft")
    assert float(slider.input_value()) == weights[criterion]
    body = {
        "weights": weights,
        "uncertainty": {
            "criteria": {
                c["id"]: {"minus_pct": MC_PCT, "plus_pct": MC_PCT} for c in result["criteria"]
            },
            "values": [],
            "distribution": "triangular",
            "draws": 1000,
            "seed": 0,
        },
    }
    rescored = api_json(api, f"/appraisals/{job_id}/rescore", body)
    wait_for_table(mp, "options-ranking", expected_ranking(result, rescored))
    assert rescores
    assert rescores[-1] == body  # the weights the page shows (the last of a debounced burst)
    assert shown(mp, "options-values") == expected_values(result, rescored)
    # The ranking changed: another option is first now.
    assert rescored["top"] != ranking["top"]
    after_top = shown(mp, "options-ranking")["rows"][0][1]
    assert after_top != before_top
    assert pane.locator("#options-sensitivity").inner_text() == expected_sensitivity(
        result, rescored
    )
    out = pane.locator(f"#{slider.get_attribute('id')}-out").inner_text()
    assert out == f"{weight_text(weights[criterion])} ({pct(share)})"
    assert slider.get_attribute("aria-valuetext") == (
        f"{weight_text(weights[criterion])}, {pct(share)} of the total"
    )
    assert mp.page.locator("#status").inner_text() == (
        f"Ranking updated: “{after_top}” ranks first."
    )
    mp.page.locator("#options-results").scroll_into_view_if_needed()
    mp.screenshot("options-ranking")

    # The consultation pack: the links are the appraisal's, and the PDF downloads as a PDF.
    links = {link["type"]: link["href"] for link in result["links"]}
    assert pane.get_by_role("link", name="HTML").get_attribute("href") == links["text/html"]
    pdf_link = pane.get_by_role("link", name="PDF")
    assert pdf_link.get_attribute("href") == links["application/pdf"]
    # The server answers the link with a PDF (Playwright sees no response event for a download).
    res = api.get(links["application/pdf"])
    assert res.status_code == 200
    assert res.headers["content-type"] == "application/pdf"
    assert res.content[:5] == b"%PDF-"
    # ...and clicking it saves that PDF.
    with mp.page.expect_download(timeout=120_000) as download:
        pdf_link.click()
    assert download.value.failure() is None
    assert download.value.suggested_filename.endswith(".pdf")
    assert Path(download.value.path()).read_bytes()[:5] == b"%PDF-"
    mp.assert_no_errors()


def test_hub_siting_result_saved_as_an_option(map_page: MapPage, api: httpx.Client) -> None:
    """A hub-siting result of this session becomes a saved scenario, picked as an option."""
    mp = map_page
    mp.open("/")
    hub_jobs: list[str] = []
    saves: list[Any] = []
    mp.page.on(
        "response",
        lambda r: (
            hub_jobs.append(r.headers["location"])
            if r.request.method == "POST" and "/processes/hub-siting/" in r.url
            else None
        ),
    )
    mp.page.on(
        "request",
        lambda r: saves.append(r.post_data_json) if r.url.endswith("/from-hub-siting") else None,
    )
    pane = mp.page.locator("#pane-options")
    mp.page.get_by_role("tab", name="Options").click()
    assert pane.get_by_label("Baseline (today's estate)", exact=True).is_visible()
    assert not pane.get_by_role(
        "button", name="Save the hub-siting result as a scenario"
    ).is_visible()

    mp.page.get_by_role("tab", name="Hub siting").click()
    for box in mp.page.locator("#hub-candidates input").all():
        if box.is_checked() != (box.get_attribute("value") == "gp_practice"):
            box.click()
    mp.page.locator("#pane-hubs").get_by_label("Number of hubs (p)").fill("3")
    mp.page.get_by_role("button", name="Run hub siting").click()
    mp.page.locator("#hub-results").wait_for(state="visible", timeout=120_000)
    assert len(hub_jobs) == 1
    job_id = hub_jobs[0].rstrip("/").split("/")[-1]

    mp.page.get_by_role("tab", name="Options").click()
    pane.get_by_label("Scenario name (optional)").fill("Three hubs")
    pane.get_by_role("button", name="Save the hub-siting result as a scenario").click()
    mp.page.wait_for_function("document.querySelector('#status').textContent.startsWith('Saved')")
    assert saves == [
        {"job_id": job_id, "name": "Three hubs", "description": None, "restricted": False}
    ]
    saved = api_json(api, "/scenarios?name=Three%20hubs&latest=true")["scenarios"]
    assert len(saved) == 1
    scenario = saved[0]
    label = f"Three hubs (version {scenario['version']})"
    assert mp.page.locator("#status").inner_text() == (
        f"Saved the hub-siting result as “Three hubs” (version {scenario['version']})."
    )
    # Picked as an option, beside the baseline.
    assert pane.get_by_label(label, exact=True).is_checked()
    assert pane.get_by_label("Baseline (today's estate)", exact=True).is_checked()
    # The scenario closes the practices the hub siting did not choose.
    chosen = {c["site_id"] for c in api_json(api, f"/jobs/{job_id}/results")["chosen"]}
    assert len(chosen) == 3
    practices = {
        int(f["id"])
        for f in api_json(api, "/collections/sites/items?f=json&limit=1000")["features"]
        if f["properties"]["kind"] == "gp_practice"
    }
    assert scenario["description"].startswith(f"From hub-siting job {job_id}")
    changes = scenario["definition"]["changes"]
    assert [c["type"] for c in changes] == ["close_sites"]
    assert sorted(int(i) for i in changes[0]["site_ids"]) == sorted(practices - chosen)
    mp.assert_no_errors()
