"""End-to-end tests of the web map in headless chromium against the live Rutland demo server.

Every action is done as a user does it (clicking on the map and on controls, typing, the
keyboard); every assertion is on what appears (features rendered by MapLibre, feature states,
tables) and compared with the API's own answer to the same request, fetched by the test.
Screenshots are saved under test-artifacts/browser/.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.browser.conftest import MapPage

pytestmark = pytest.mark.browser

MODES = ("drive", "walk", "cycle")
MODE_HEAD = {"drive": "Car (min)", "walk": "Walking (min)", "cycle": "Cycling (min)"}


# ---- formatting exactly as the page does (Intl.NumberFormat en-GB, half away from zero) ---------


def fmt_int(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{Decimal(v).quantize(Decimal(1), rounding=ROUND_HALF_UP):,}"


def fmt_min(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{Decimal(v).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP):,}"


# ---- helpers ----------------------------------------------------------------------------------


def table_rows(mp: MapPage, table_id: str) -> list[list[str]]:
    """Body rows of a table as lists of cell texts."""
    rows: list[list[str]] = mp.page.evaluate(
        """(id) => [...document.querySelectorAll(`#${id} tbody tr`)].map(
            (tr) => [...tr.children].map((c) => c.textContent.trim()))""",
        table_id,
    )
    return rows


def table_head(mp: MapPage, table_id: str) -> list[str]:
    head: list[str] = mp.page.evaluate(
        """(id) => [...document.querySelectorAll(`#${id} thead th`)]
            .map((c) => c.textContent.trim())""",
        table_id,
    )
    return head


def rendered(mp: MapPage, layer: str, key: str) -> list[Any]:
    """Distinct values of ``key`` (a property, or ``$id``: the feature id) drawn in ``layer``."""
    values: list[Any] = mp.page.evaluate(
        """([layer, key]) => {
            const fs = window.locusMap.queryRenderedFeatures({ layers: [layer] });
            const vals = fs.map((f) => key === '$id' ? f.id : f.properties[key]);
            return [...new Set(vals)];
        }""",
        [layer, key],
    )
    return values


def _hex(c: dict[str, float]) -> str:
    return "#" + "".join(f"{round(c[k] * 255):02x}" for k in "rgb")


def rendered_colours(mp: MapPage, key: str = "code") -> dict[Any, str]:
    """The fill colour MapLibre evaluated for each drawn area, as #rrggbb, by ``key``."""
    pairs: list[list[Any]] = mp.page.evaluate(
        """(key) => window.locusMap.queryRenderedFeatures({ layers: ['areas-fill'] })
            .map((f) => [f.properties[key], f.layer.paint['fill-color']])""",
        key,
    )
    return {k: _hex(c) for k, c in pairs}


def legend(mp: MapPage, selector: str) -> list[tuple[str, str]]:
    """(#rrggbb, label) of each legend entry, read from the swatches the user sees."""
    entries: list[list[str]] = mp.page.evaluate(
        """(sel) => [...document.querySelectorAll(`${sel} li`)].map((li) => [
            getComputedStyle(li.querySelector('.swatch')).backgroundColor,
            li.textContent.trim()])""",
        selector,
    )
    out = []
    for rgb, label in entries:
        r, g, b = (int(v) for v in re.findall(r"\d+", rgb)[:3])
        out.append((f"#{r:02x}{g:02x}{b:02x}", label))
    return out


def legend_colour_for(entries: list[tuple[str, str]], value: float) -> str:
    """The colour of the range legend entry ("under a", "a–b", "a or more") holding ``value``."""
    for colour, label in entries:
        nums = [float(n.replace(",", "")) for n in re.findall(r"[\d,]+(?:\.\d+)?", label)]
        if label.startswith("under") and value < nums[0]:
            return colour
        if "–" in label and nums[0] <= value < nums[1]:
            return colour
        if "or more" in label and value >= nums[0]:
            return colour
    raise AssertionError(f"no legend entry for {value}: {entries}")


def screen_point(mp: MapPage, lon: float, lat: float) -> tuple[int, int]:
    """Page pixel of a lon/lat on the map canvas (rounded to whole pixels)."""
    box = mp.page.locator("#map canvas").bounding_box()
    assert box is not None
    p = mp.page.evaluate("([lon, lat]) => window.locusMap.project([lon, lat])", [lon, lat])
    return round(box["x"] + p["x"]), round(box["y"] + p["y"])


def api_json(api: httpx.Client, url: str) -> Any:
    res = api.get(url)
    assert res.status_code == 200, res.text
    return res.json()


def all_items(api: httpx.Client, collection: str) -> list[dict[str, Any]]:
    feats: list[dict[str, Any]] = api_json(
        api, f"/collections/{collection}/items?f=json&limit=1000"
    )["features"]
    return feats


def latest_lsoas(api: httpx.Client) -> list[dict[str, Any]]:
    areas = [a for a in all_items(api, "areas") if a["properties"]["level"] == "lsoa"]
    latest = max(a["properties"]["vintage"] for a in areas)
    return [a for a in areas if a["properties"]["vintage"] == latest]


def isolated_site(mp: MapPage, sites: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The site of ``kind`` furthest (on screen) from any other site: safe to click."""

    def px(s: dict[str, Any]) -> tuple[int, int]:
        lon, lat = s["geometry"]["coordinates"]
        return screen_point(mp, lon, lat)

    located = [s for s in sites if s["geometry"]]
    pts = {s["id"]: px(s) for s in located}

    def gap(s: dict[str, Any]) -> float:
        x, y = pts[s["id"]]
        return min(
            (math.hypot(x - ox, y - oy) for i, (ox, oy) in pts.items() if i != s["id"]),
            default=1e9,
        )

    candidates = [s for s in located if s["properties"]["kind"] == kind]
    assert candidates, f"no {kind} in the demo data"
    return max(candidates, key=gap)


def empty_spot(mp: MapPage, sites: list[dict[str, Any]]) -> tuple[float, float, int, int]:
    """A lon/lat inside the map view at least 40 px from every site; with its page pixel."""
    box = mp.page.locator("#map canvas").bounding_box()
    assert box is not None
    pts = [screen_point(mp, *s["geometry"]["coordinates"]) for s in sites if s["geometry"]]
    for fx, fy in ((0.5, 0.5), (0.4, 0.6), (0.6, 0.4), (0.35, 0.35), (0.65, 0.65), (0.5, 0.3)):
        x, y = round(box["x"] + box["width"] * fx), round(box["y"] + box["height"] * fy)
        if all(math.hypot(x - px, y - py) > 40 for px, py in pts):
            ll = mp.page.evaluate(
                "([x, y]) => window.locusMap.unproject([x, y])", [x - box["x"], y - box["y"]]
            )
            return ll["lng"], ll["lat"], x, y
    raise AssertionError("no empty spot on the map")


def requests_to(mp: MapPage, path: str) -> list[str]:
    """Record the URLs the page requests under ``path`` (returns the live list)."""
    seen: list[str] = []
    mp.page.on(
        "request", lambda r: seen.append(r.url) if urlsplit(r.url).path.startswith(path) else None
    )
    return seen


# ---- tests ------------------------------------------------------------------------------------


def test_choropleth_sites_legend_network_and_attribution(
    map_page: MapPage, api: httpx.Client
) -> None:
    mp = map_page
    mp.open("/")
    lsoas = latest_lsoas(api)
    sites = [s for s in all_items(api, "sites") if s["geometry"]]

    # Areas: every latest-vintage LSOA is drawn (and nothing else), coloured by population.
    assert sorted(rendered(mp, "areas-fill", "code")) == sorted(
        a["properties"]["code"] for a in lsoas
    )
    levels = set(rendered(mp, "areas-fill", "level"))
    assert levels == {"lsoa"}
    # Sites: every located site is drawn.
    assert sorted(rendered(mp, "sites", "$id")) == sorted(s["id"] for s in sites)
    legend_el = mp.page.locator("#legend-areas")
    assert "Population" in legend_el.inner_text()
    pops = sorted(a["properties"]["population"] for a in lsoas)
    first_break = int(re.sub(r"\D", "", legend_el.locator("li").first.inner_text()))
    assert pops[0] < first_break <= pops[-1]
    # Each area is drawn in the colour its population has in the legend.
    entries = legend(mp, "#legend-areas")[:-1]  # last: "no data"
    pop_of = {a["properties"]["code"]: a["properties"]["population"] for a in lsoas}
    colours = rendered_colours(mp)
    assert colours == {c: legend_colour_for(entries, pop_of[c]) for c in colours}
    assert len(set(colours.values())) == len(entries)
    mp.screenshot("population")

    # Switch to the 65+ and IMD choropleths with the selector.
    mp.page.get_by_label("Colour areas by").select_option("pop_65_plus")
    mp.idle()
    assert "65 and over" in legend_el.inner_text()
    assert "pop_65_plus" in str(
        mp.page.evaluate("window.locusMap.getPaintProperty('areas-fill', 'fill-color')")
    )
    mp.page.get_by_label("Colour areas by").select_option("imd_decile")
    mp.idle()
    assert legend_el.locator("li").count() == 11  # deciles 1..10 and "no data"
    assert legend_el.locator("li").first.inner_text() == "1 (most deprived)"
    rendered_deciles = {d for d in rendered(mp, "areas-fill", "imd_decile") if d is not None}
    assert rendered_deciles == {a["properties"]["imd_decile"] for a in lsoas} - {None}
    by_label = {label.split(" ")[0]: colour for colour, label in legend(mp, "#legend-areas")}
    decile_of = {a["properties"]["code"]: a["properties"]["imd_decile"] for a in lsoas}
    colours = rendered_colours(mp)
    assert colours == {
        c: by_label["no"] if decile_of[c] is None else by_label[str(decile_of[c])] for c in colours
    }
    mp.screenshot("imd")

    # Sites legend lists every kind present, and switches to owner type.
    kinds_legend = mp.page.locator("#legend-sites li").all_inner_texts()
    assert len(kinds_legend) == len({s["properties"]["kind"] for s in sites}) + 1
    mp.page.get_by_label("Colour sites by").select_option("owner_type")
    assert "owner type" in mp.page.locator("#legend-sites").inner_text()

    # Attribution always visible, inside the viewport.
    attrib = mp.page.locator(".maplibregl-ctrl-attrib")
    assert attrib.is_visible()
    text = attrib.inner_text()
    assert "© OpenStreetMap contributors, ODbL" in text
    assert "Contains OS data © Crown copyright and database right" in text
    assert "OGL v3" in text
    abox = attrib.bounding_box()
    assert abox is not None
    assert abox["y"] + abox["height"] <= 768

    # The road network appears only at higher zoom: zoom in with the + button.
    assert rendered(mp, "network", "mode") == []
    oakham = isolated_site(mp, sites, "gp_practice")
    mp.page.evaluate(
        "(c) => window.locusMap.jumpTo({ center: c })", oakham["geometry"]["coordinates"]
    )
    while mp.page.evaluate("window.locusMap.getZoom()") < 12.5:
        mp.page.get_by_role("button", name="Zoom in").click()
        mp.page.wait_for_function("!window.locusMap.isMoving()")
    mp.idle()
    assert rendered(mp, "network", "mode") == ["drive"]
    mp.screenshot("network")
    mp.assert_no_errors()


def test_click_site_shows_details_and_catchment(map_page: MapPage, api: httpx.Client) -> None:
    mp = map_page
    mp.open("/")
    sites = [s for s in all_items(api, "sites") if s["geometry"]]
    site = isolated_site(mp, sites, "gp_practice")
    x, y = screen_point(mp, *site["geometry"]["coordinates"])
    mp.page.mouse.click(x, y)

    mp.page.wait_for_function(
        "(n) => document.querySelector('#site-name').textContent === n",
        arg=site["properties"]["name"],
    )
    expected = api_json(api, f"/collections/sites/items/{site['id']}?f=json")["properties"]
    details = dict(
        zip(
            mp.page.locator("#site-details dt").all_inner_texts(),
            mp.page.locator("#site-details dd").all_inner_texts(),
            strict=True,
        )
    )
    assert details["Owner"] == (expected["owner"] or "not known")
    assert details["Tenure"] == (expected["tenure"] or "not known")
    if expected["gia_m2"] is None:
        assert details["Floor area"] == "not known"
    else:
        assert details["Floor area"] == f"{fmt_int(expected['gia_m2'])} m²"
    if expected["running_cost_gbp"] is None:
        assert details["Running cost"] == "not known"
    else:
        assert details["Running cost"] == f"£{fmt_int(expected['running_cost_gbp'])} a year"

    for mode in ("drive", "walk"):
        if mode != "drive":
            mp.page.get_by_label("Catchment by").select_option(mode)
        catchment = api_json(api, f"/analysis/catchment/{site['id']}?mode={mode}")
        bands = sorted(catchment["features"], key=lambda f: f["properties"]["band_min"])
        mp.page.wait_for_function(
            "(n) => document.querySelector('#catchment-age caption')?.textContent.startsWith(n)",
            arg={"drive": "Car", "walk": "Walking"}[mode],
        )
        mp.idle()
        age_keys = list(bands[0]["properties"]["by_age"])
        assert table_head(mp, "catchment-age") == ["Band", "Population", *age_keys]
        assert table_rows(mp, "catchment-age") == [
            [
                f"≤ {b['properties']['band_min']} min",
                fmt_int(b["properties"]["population"]),
                *(fmt_int(b["properties"]["by_age"][k]) for k in age_keys),
            ]
            for b in bands
        ]
        deciles = sorted(bands[0]["properties"]["by_imd_decile"], key=int)
        assert table_rows(mp, "catchment-imd") == [
            [
                f"≤ {b['properties']['band_min']} min",
                *(fmt_int(b["properties"]["by_imd_decile"][d]) for d in deciles),
            ]
            for b in bands
        ]
        # The bands are drawn on the map (the view is fitted to the largest).
        assert sorted(rendered(mp, "catchment-fill", "band_min")) == [
            b["properties"]["band_min"] for b in bands
        ]
        mp.screenshot(f"catchment-{mode}")
    mp.assert_no_errors()


def _nearest_expected(api: httpx.Client, urls: list[str]) -> list[list[str]]:
    """The nearest table the page should show for the requests it made (one per mode)."""
    by_mode: dict[str, dict[str, Any]] = {}
    for url in urls:
        mode = parse_qs(urlsplit(url).query)["mode"][0]
        by_mode[mode] = api_json(api, url)
    order: list[int] = []
    names: dict[int, str] = {}
    for m in MODES:
        for r in by_mode[m]["results"]:
            if r["site_id"] not in names:
                order.append(r["site_id"])
            names[r["site_id"]] = r["name"]

    def minutes(m: str, sid: int) -> float | None:
        return next((r["minutes"] for r in by_mode[m]["results"] if r["site_id"] == sid), None)

    return [[names[i], *(fmt_min(minutes(m, i)) for m in MODES)] for i in order]


def test_nearest_by_postcode_and_by_click(map_page: MapPage, api: httpx.Client) -> None:
    mp = map_page
    mp.open("/")
    seen = requests_to(mp, "/analysis/nearest")
    sites = [s for s in all_items(api, "sites") if s["geometry"]]
    gp = next(s for s in sites if s["properties"]["kind"] == "gp_practice")
    postcode = api_json(
        api, f"/collections/postcodes/items?f=json&limit=1&bbox={_bbox_around(gp)}"
    )["features"][0]["properties"]["postcode"]

    mp.page.get_by_role("tab", name="Nearest").click()
    mp.page.locator("#pane-nearest").get_by_label("Kind of site").select_option("gp_practice")
    mp.page.get_by_label("Postcode").fill(postcode)
    mp.page.get_by_label("Postcode").press("Enter")
    mp.page.wait_for_function("document.querySelectorAll('#nearest-table tbody tr').length > 0")
    assert len(seen) == 3
    assert all(parse_qs(urlsplit(u).query)["postcode"] == [postcode] for u in seen)
    assert table_head(mp, "nearest-table") == ["Site", *(MODE_HEAD[m] for m in MODES)]
    expected = _nearest_expected(api, seen)
    assert table_rows(mp, "nearest-table") == expected
    assert len(expected) >= 1
    assert postcode in mp.page.locator("#nearest-origin").inner_text()
    mp.idle()
    assert len(rendered(mp, "origin", "$id")) == 1
    mp.screenshot("nearest-postcode")

    # Click an empty spot on the map: nearest GP practices from there.
    mp.page.get_by_role("tab", name="Layers").click()
    lon, lat, x, y = empty_spot(mp, sites)
    seen.clear()
    mp.page.mouse.click(x, y)
    mp.page.wait_for_function(
        "document.querySelector('#nearest-origin').textContent.startsWith('From (')"
    )
    assert len(seen) == 3
    q = parse_qs(urlsplit(seen[0]).query)
    assert abs(float(q["lon"][0]) - lon) < 1e-4
    assert abs(float(q["lat"][0]) - lat) < 1e-4
    assert q["kind"] == ["gp_practice"]
    assert table_rows(mp, "nearest-table") == _nearest_expected(api, seen)
    mp.screenshot("nearest-click")
    mp.assert_no_errors()


def _bbox_around(site: dict[str, Any], d: float = 0.01) -> str:
    lon, lat = site["geometry"]["coordinates"]
    return f"{lon - d},{lat - d},{lon + d},{lat + d}"


def test_access_map_colours_areas_by_time(map_page: MapPage, api: httpx.Client) -> None:
    mp = map_page
    mp.open("/")
    mp.page.get_by_role("tab", name="Access").click()
    pane = mp.page.locator("#pane-access")
    pane.get_by_label("Kind of site").select_option("gp_practice")
    pane.get_by_label("Travel by").select_option("drive")
    pane.get_by_label("Count sites within (minutes)").fill("10")
    mp.page.get_by_role("button", name="Show access").click()
    mp.page.wait_for_function("document.querySelector('#access-summary').textContent !== ''")
    mp.idle()

    access = api_json(api, "/analysis/access?kind=gp_practice&mode=drive&minutes=10")
    seconds = {a["code"]: a["seconds"] for a in access["areas"]}
    lsoa_codes = {a["properties"]["code"] for a in latest_lsoas(api)}
    assert lsoa_codes <= set(seconds), "access must cover every LSOA drawn"
    # Each drawn area carries the API's time as feature state (what the colour is computed from).
    states: list[dict[str, Any]] = mp.page.evaluate(
        """() => window.locusMap.queryRenderedFeatures({ layers: ['areas-fill'] })
            .map((f) => ({ code: f.properties.code, seconds: f.state.seconds }))"""
    )
    assert {s["code"] for s in states} == lsoa_codes
    for s in states:
        assert s["seconds"] == pytest.approx(seconds[s["code"]])
    assert mp.page.get_by_label("Colour areas by").input_value() == "access"
    times = sorted(v for v in seconds.values() if v is not None)
    median = times[len(times) // 2] / 60
    summary = mp.page.locator("#access-summary").inner_text()
    assert f"{len(access['areas'])} areas; median {fmt_min(median)} min" in summary
    over = sum(v > 600 for v in times)
    assert f"{over} areas over 10 min" in summary
    assert mp.page.locator("#legend-access li").count() == 8  # 7 time classes and "no data"
    # Each area is drawn in the legend's colour for its minutes to the nearest practice.
    entries = legend(mp, "#legend-access")
    colours = rendered_colours(mp)
    no_data = entries[-1][0]
    assert colours == {
        c: no_data if seconds[c] is None else legend_colour_for(entries[:-1], seconds[c] / 60)
        for c in colours
    }
    mp.screenshot("access")
    mp.assert_no_errors()


def test_hub_siting_job_progress_results_and_downloads(
    map_page: MapPage, api: httpx.Client
) -> None:
    mp = map_page
    mp.open("/")
    jobs: list[str] = []
    mp.page.on(
        "response",
        lambda r: (
            jobs.append(r.headers["location"])
            if r.request.method == "POST" and "location" in r.headers
            else None
        ),
    )
    mp.page.get_by_role("tab", name="Hub siting").click()
    for box in mp.page.locator("#hub-candidates input").all():
        if box.is_checked() != (box.get_attribute("value") == "gp_practice"):
            box.click()
    pane = mp.page.locator("#pane-hubs")
    pane.get_by_label("Number of hubs (p)").fill("2")
    pane.get_by_label("Travel by").select_option("drive")
    pane.get_by_label("Objective").select_option("p-median")
    pane.get_by_label("Within (minutes)").fill("15")
    mp.page.get_by_role("button", name="Run hub siting").click()

    assert mp.page.get_by_label("Job progress").is_visible()
    mp.page.locator("#hub-results").wait_for(state="visible", timeout=120_000)
    assert mp.page.locator("#hub-progress").get_attribute("value") == "100"
    assert mp.page.locator("#hub-message").inner_text().startswith("successful")
    assert len(jobs) == 1
    job = jobs[0] if jobs[0].startswith("http") else mp.base_url + jobs[0]
    status = api_json(api, job)
    assert status["status"] == "successful"
    results = api_json(api, f"{job}/results")
    assert len(results["chosen"]) == 2

    chosen = mp.page.locator("#hub-chosen li").all_inner_texts()
    assert [c.split(" — ")[0] for c in chosen] == [c["name"] for c in results["chosen"]]
    for c, text in zip(results["chosen"], chosen, strict=True):
        n = sum(a["site_id"] == c["site_id"] for a in results["assignment"])
        assert text.endswith(f"— {n} areas")
    before, after = results["coverage"]["before"], results["coverage"]["after"]
    keys = sorted(set(before) | set(after), key=float)
    assert table_rows(mp, "hub-coverage") == [
        [
            f"{k} min",
            fmt_int(before.get(k)),
            fmt_int(after.get(k)),
            _change(before.get(k), after.get(k)),
        ]
        for k in keys
    ]
    mp.idle()
    assert sorted(rendered(mp, "hubs", "site_id")) == sorted(
        c["site_id"] for c in results["chosen"]
    )
    # New catchments: every drawn area coloured by its assigned hub.
    hub_of = {a["area_code"]: a["site_id"] for a in results["assignment"]}
    index = {c["site_id"]: i for i, c in enumerate(results["chosen"])}
    states: list[dict[str, Any]] = mp.page.evaluate(
        """() => window.locusMap.queryRenderedFeatures({ layers: ['areas-fill'] })
            .map((f) => ({ code: f.properties.code, hub: f.state.hub }))"""
    )
    assert states
    for s in states:
        assert s["hub"] == index[hub_of[s["code"]]]
    # ...in the colour of its hub's swatch in the list of chosen hubs.
    swatches = [c for c, _ in legend(mp, "#hub-chosen")]
    colours = rendered_colours(mp)
    assert colours == {c: swatches[index[hub_of[c]]] for c in colours}
    assert len(set(colours.values())) == len(results["chosen"])
    mp.screenshot("hubs")

    # Downloads: the links point at the job's results and serve files.
    for link, fmt in (("GeoPackage", "gpkg"), ("CSV", "csv")):
        href = mp.page.get_by_role("link", name=link).get_attribute("href")
        assert href is not None
        assert href.endswith(f"/results?f={fmt}")
        res = api.get(href)
        assert res.status_code == 200
        assert len(res.content) > 0
    with mp.page.expect_download() as dl:
        mp.page.get_by_role("link", name="CSV").click()
    assert dl.value.suggested_filename
    mp.assert_no_errors()


def _change(b: float | None, a: float | None) -> str:
    if a is None or b is None:
        return "—"
    d = a - b
    return ("+" if d > 0 else "") + fmt_int(d)


def test_phone_width_and_keyboard(map_page: MapPage, api: httpx.Client) -> None:
    mp = map_page
    mp.page.set_viewport_size({"width": 390, "height": 844})
    mp.open("/")
    # Map above, panel below, nothing wider than the screen, attribution visible.
    mbox = mp.page.locator("#map").bounding_box()
    pbox = mp.page.locator("#panel").bounding_box()
    assert mbox is not None
    assert pbox is not None
    assert mbox["height"] >= 240
    assert mbox["width"] == 390
    assert pbox["y"] >= mbox["y"] + mbox["height"] - 1
    assert mp.page.evaluate("document.documentElement.scrollWidth") <= 390
    assert mp.page.locator(".maplibregl-ctrl-attrib").is_visible()
    assert "© OpenStreetMap contributors" in mp.page.locator(".maplibregl-ctrl-attrib").inner_text()
    assert len(rendered(mp, "areas-fill", "code")) == len(latest_lsoas(api))
    mp.screenshot("phone")

    # Keyboard only: Tab to the tool tabs, arrow to "Nearest", type a postcode, Enter.
    focused = ""
    for _ in range(10):
        mp.page.keyboard.press("Tab")
        focused = mp.page.evaluate("document.activeElement.id")
        if focused == "tab-layers":
            break
    assert focused == "tab-layers"
    mp.page.keyboard.press("ArrowRight")
    mp.page.keyboard.press("ArrowRight")
    assert mp.page.evaluate("document.activeElement.id") == "tab-nearest"
    assert mp.page.locator("#pane-nearest").is_visible()
    for _ in range(5):
        mp.page.keyboard.press("Tab")
        if mp.page.evaluate("document.activeElement.id") == "postcode":
            break
    assert mp.page.evaluate("document.activeElement.id") == "postcode"
    sites = [s for s in all_items(api, "sites") if s["geometry"]]
    gp = next(s for s in sites if s["properties"]["kind"] == "gp_practice")
    postcode = api_json(
        api, f"/collections/postcodes/items?f=json&limit=1&bbox={_bbox_around(gp)}"
    )["features"][0]["properties"]["postcode"]
    mp.page.keyboard.type(postcode)
    mp.page.keyboard.press("Enter")
    mp.page.wait_for_function("document.querySelectorAll('#nearest-table tbody tr').length > 0")
    mp.screenshot("phone-nearest")

    # The panel can be hidden to give the map the whole screen, and shown again.
    mp.page.get_by_role("button", name="Hide panel").click()
    assert not mp.page.locator("#panel").is_visible()
    mp.page.get_by_role("button", name="Show panel").click()
    assert mp.page.locator("#panel").is_visible()
    mp.assert_no_errors()
