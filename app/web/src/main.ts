// Locus web map: one page, a MapLibre map over our own vector tiles and a side panel of tools
// (layers and legends, site details and catchments, nearest sites, access map, hub siting,
// options appraisal in ./appraisal.ts).
// Plain TypeScript and the DOM; the only runtime dependency is MapLibre GL JS.

import "maplibre-gl/dist/maplibre-gl.css";
import "./style.css";

import * as maplibregl from "maplibre-gl";
import type { ExpressionSpecification, GeoJSONSource, MapGeoJSONFeature } from "maplibre-gl";
import workerUrl from "maplibre-gl/dist/maplibre-gl-worker.mjs?url";

import * as api from "./api";
import { setupOptions } from "./appraisal";
import { ApiError, type AreaProps, type Feature, type KindInfo, type Mode, type ModeInfo, type SiteProps } from "./api";
import {
  ACCESS_BREAKS,
  ACCESS_COLOURS,
  ATTRIBUTION,
  CATEGORICAL,
  IMD,
  NO_DATA,
  SEQUENTIAL,
  baseStyle,
  categoricalExpression,
  quantileBreaks,
  stepExpression,
} from "./mapstyle";

maplibregl.setWorkerUrl(workerUrl);

declare global {
  interface Window {
    locusMap?: maplibregl.Map;
    locus?: typeof state;
  }
}

// ---- small DOM helpers ----------------------------------------------------------------------

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
};

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.append(...children);
  return el;
}

const nf = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 0 });
const nf1 = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 1, minimumFractionDigits: 1 });
const gbp = new Intl.NumberFormat("en-GB", { style: "currency", currency: "GBP", maximumFractionDigits: 0 });
const fmtInt = (v: number | null | undefined) => (v == null ? "—" : nf.format(v));
const fmtMin = (v: number | null | undefined) => (v == null ? "—" : nf1.format(v));
/** The modes the server has data for, with their labels, from `/analysis/modes` (a road
 * network per mode, public transport when a GTFS feed is loaded): the client keeps no list of
 * its own. Every mode select offers exactly these. */
let availableModes: Mode[] = [];
const modeLabels = new Map<string, string>();
const modeLabel = (m: string) => modeLabels.get(m) ?? m;
function setModeOptions(modes: ModeInfo[]): void {
  availableModes = modes.map((m) => m.mode);
  modeLabels.clear();
  for (const m of modes) modeLabels.set(m.mode, m.label);
  for (const id of ["catchment-mode", "access-mode", "hub-mode"]) {
    const sel = document.getElementById(id);
    if (!(sel instanceof HTMLSelectElement)) continue;
    const current = sel.value;
    sel.replaceChildren(...modes.map((m) => new Option(m.label, m.mode)));
    if (availableModes.includes(current as Mode)) sel.value = current;
  }
}

/** Site kinds and their labels from `/analysis/kinds`; a kind it does not label (or every
 * kind, on a server without that route) shows its own name. */
const kindLabels = new Map<string, string>();
const kindLabel = (k: string) => kindLabels.get(k) ?? k;
function setKinds(kinds: KindInfo[]): void {
  kindLabels.clear();
  for (const k of kinds) kindLabels.set(k.kind, k.label);
}

function setStatus(message: string, kind: "info" | "error" = "info"): void {
  const el = $("status");
  el.textContent = message;
  el.dataset.kind = kind;
}

function reportError(what: string, err: unknown): void {
  const detail = err instanceof ApiError ? err.message : err instanceof Error ? err.message : String(err);
  setStatus(`${what}: ${detail}`, "error");
}

function table(el: HTMLTableElement, head: string[], rows: (string | Node)[][], caption?: string): void {
  el.replaceChildren();
  if (caption) el.append(h("caption", {}, caption));
  el.append(h("thead", {}, h("tr", {}, ...head.map((c) => h("th", { scope: "col" }, c)))));
  const body = h("tbody");
  for (const r of rows) {
    body.append(h("tr", {}, ...r.map((c, i) => (i === 0 ? h("th", { scope: "row" }, c) : h("td", {}, c)))));
  }
  el.append(body);
}

// ---- state ----------------------------------------------------------------------------------

const state = {
  ready: false,
  errors: [] as string[], // map errors (bad tiles, invalid style), shown in the status line
  areas: [] as Feature<AreaProps>[],
  sites: [] as Feature<SiteProps>[],
  kinds: [] as string[],
  level: "" as string, // "lsoa:2021"
  accessCodes: [] as string[],
  hubCodes: [] as string[],
  hubCount: 0,
  selectedSite: null as number | null,
  lastCatchment: null as api.Catchment | null,
  lastNearest: {} as Partial<Record<Mode, api.Nearest>>,
  lastAccess: null as api.Access | null,
  lastHub: null as api.HubResults | null,
  lastHubJob: null as string | null, // status URL of the job behind lastHub
  jobUrl: "" as string,
};
window.locus = state;

function boundsOf(features: Feature<unknown>[]): [number, number, number, number] | undefined {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  const visit = (c: unknown): void => {
    if (Array.isArray(c) && typeof c[0] === "number") {
      const [x, y] = c as number[];
      minX = Math.min(minX, x); maxX = Math.max(maxX, x);
      minY = Math.min(minY, y); maxY = Math.max(maxY, y);
    } else if (Array.isArray(c)) c.forEach(visit);
  };
  for (const f of features) {
    const g = f.geometry;
    if (g && "coordinates" in g) visit(g.coordinates);
  }
  return Number.isFinite(minX) ? [minX, minY, maxX, maxY] : undefined;
}

// ---- start ----------------------------------------------------------------------------------

async function start(): Promise<void> {
  try {
    setModeOptions(await api.modes());
  } catch (e) {
    reportError("Could not list the travel modes", e);
  }
  setupTabs();
  setupPanelToggle();
  setupOptions({
    setStatus,
    reportError,
    modes: availableModes.map((m) => ({ mode: m, label: modeLabel(m) })),
    hubJob: () => (state.lastHub ? state.lastHubJob : null),
  });
  const [areas, sites, kinds] = await Promise.allSettled([
    api.items<AreaProps>("areas"),
    api.items<SiteProps>("sites"),
    api.kinds(),
  ]);
  if (areas.status === "fulfilled") state.areas = areas.value.features;
  else reportError("Could not load areas", areas.reason);
  if (sites.status === "fulfilled") state.sites = sites.value.features;
  else reportError("Could not load sites", sites.reason);
  if (kinds.status === "rejected") reportError("Could not list the kinds of site", kinds.reason);
  const known = kinds.status === "fulfilled" ? kinds.value : null;
  if (known) setKinds(known);
  // The kinds to offer: those the server counts, else those among the loaded sites.
  state.kinds = known
    ? known.filter((k) => k.count > 0).map((k) => k.kind)
    : [...new Set(state.sites.map((s) => s.properties.kind))].sort();

  const bounds = boundsOf(state.areas) ?? boundsOf(state.sites) ?? [-0.83, 52.52, -0.42, 52.77];
  const map = new maplibregl.Map({
    container: "map",
    style: baseStyle(bounds),
    bounds,
    fitBoundsOptions: { padding: 20 },
    attributionControl: { compact: false, customAttribution: ATTRIBUTION },
    maxZoom: 18,
  });
  window.locusMap = map;
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "top-left");
  map.on("error", (e) => {
    const message = e.error?.message ?? "error";
    state.errors.push(message);
    setStatus(`Map: ${message}`, "error");
  });

  fillLevelSelect();
  fillKindSelects();
  fillSiteSelects();
  map.on("load", () => {
    applyAreaFilter();
    applyChoropleth();
    applySiteColours();
    wireMap(map);
    state.ready = true;
    document.body.dataset.mapReady = "true";
  });
  wireControls();
}

const map = (): maplibregl.Map => {
  if (!window.locusMap) throw new Error("map not ready");
  return window.locusMap;
};

// ---- tabs and panel -------------------------------------------------------------------------

function selectTab(id: string, focus = false): void {
  const tabs = [...document.querySelectorAll<HTMLButtonElement>('[role="tab"]')];
  for (const t of tabs) {
    const on = t.id === id;
    t.setAttribute("aria-selected", String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")!).hidden = !on;
    if (on && focus) t.focus();
  }
  const panel = $("panel");
  if (panel.classList.contains("collapsed")) togglePanel(true);
}

function setupTabs(): void {
  const tabs = [...document.querySelectorAll<HTMLButtonElement>('[role="tab"]')];
  tabs.forEach((t, i) => {
    t.addEventListener("click", () => selectTab(t.id));
    t.addEventListener("keydown", (e) => {
      const step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
      if (step) {
        e.preventDefault();
        selectTab(tabs[(i + step + tabs.length) % tabs.length].id, true);
      }
    });
  });
}

function togglePanel(show?: boolean): void {
  const panel = $("panel");
  const btn = $("panel-toggle");
  const visible = show ?? panel.classList.contains("collapsed");
  panel.classList.toggle("collapsed", !visible);
  btn.setAttribute("aria-expanded", String(visible));
  btn.textContent = visible ? "Hide panel" : "Show panel";
  window.locusMap?.resize();
}

function setupPanelToggle(): void {
  $("panel-toggle").addEventListener("click", () => togglePanel());
}

// ---- layers: areas and sites ----------------------------------------------------------------

function fillLevelSelect(): void {
  const sel = $<HTMLSelectElement>("area-level");
  const combos = [...new Set(state.areas.map((a) => `${a.properties.level}:${a.properties.vintage}`))];
  combos.sort((a, b) => {
    const [la, va] = a.split(":"), [lb, vb] = b.split(":");
    return la === lb ? Number(vb) - Number(va) : la.localeCompare(lb);
  });
  sel.replaceChildren(
    ...combos.map((c) => {
      const [l, v] = c.split(":");
      return h("option", { value: c }, `${l.toUpperCase()} ${v}`);
    }),
  );
  if (combos.length === 0) sel.append(h("option", { value: "" }, "All areas"));
  state.level = combos[0] ?? "";
  sel.value = state.level;
}

function currentAreas(): Feature<AreaProps>[] {
  if (!state.level) return state.areas;
  const [l, v] = state.level.split(":");
  return state.areas.filter((a) => a.properties.level === l && String(a.properties.vintage) === v);
}

function applyAreaFilter(): void {
  const m = map();
  if (!state.level) {
    m.setFilter("areas-fill", null);
    m.setFilter("areas-line", null);
    return;
  }
  const [l, v] = state.level.split(":");
  const f: ExpressionSpecification = [
    "all",
    ["==", ["get", "level"], l],
    ["==", ["to-string", ["get", "vintage"]], v],
  ];
  m.setFilter("areas-fill", f);
  m.setFilter("areas-line", f);
}

type Legend = { colour: string; label: string }[];

function renderLegend(el: HTMLElement, title: string, entries: Legend): void {
  el.replaceChildren();
  if (entries.length === 0) return;
  el.append(h("p", { class: "legend-title" }, title));
  const ul = h("ul");
  for (const e of entries) {
    const sw = h("span", { class: "swatch", "aria-hidden": "true" });
    sw.style.background = e.colour;
    ul.append(h("li", {}, sw, e.label));
  }
  el.append(ul);
}

function rangeLegend(breaks: number[], colours: string[], fmt: (n: number) => string, unit = ""): Legend {
  const out: Legend = [];
  for (let i = 0; i <= breaks.length; i++) {
    const lo = i === 0 ? null : breaks[i - 1];
    const hi = i === breaks.length ? null : breaks[i];
    const label =
      lo == null ? `under ${fmt(hi!)}${unit}` : hi == null ? `${fmt(lo)}${unit} or more` : `${fmt(lo)}–${fmt(hi)}${unit}`;
    out.push({ colour: colours[i], label });
  }
  return out;
}

function applyChoropleth(): void {
  const m = map();
  const by = $<HTMLSelectElement>("choropleth").value;
  const legendEl = $("legend-areas");
  let colour: ExpressionSpecification | string = "#dfe4e8";
  let legend: Legend = [];
  let title = "";
  if (by === "population" || by === "pop_65_plus") {
    const values = currentAreas().map((a) => Number(a.properties[by]));
    const breaks = quantileBreaks(values, SEQUENTIAL.length);
    const colours = SEQUENTIAL.slice(0, breaks.length + 1);
    colour = [
      "case",
      ["==", ["typeof", ["get", by]], "number"],
      stepExpression(["get", by], breaks, colours),
      NO_DATA,
    ] as ExpressionSpecification;
    title = by === "population" ? "Population (residents)" : "Residents aged 65 and over";
    legend = rangeLegend(breaks, colours, (n) => nf.format(n));
  } else if (by === "imd_decile") {
    const expr: unknown[] = ["match", ["get", "imd_decile"]];
    IMD.forEach((c, i) => expr.push(i + 1, c));
    expr.push(NO_DATA);
    colour = expr as ExpressionSpecification;
    title = "IMD 2019 decile";
    legend = IMD.map((c, i) => ({ colour: c, label: `${i + 1}${i === 0 ? " (most deprived)" : i === 9 ? " (least deprived)" : ""}` }));
  } else if (by === "access") {
    colour = [
      "case",
      ["==", ["typeof", ["feature-state", "seconds"]], "number"],
      stepExpression(["/", ["feature-state", "seconds"], 60], ACCESS_BREAKS, ACCESS_COLOURS),
      NO_DATA,
    ] as ExpressionSpecification;
    title = state.lastAccess
      ? `Minutes to nearest ${kindLabel(state.lastAccess.kind)} (${modeLabel(state.lastAccess.mode)})`
      : "Minutes to nearest site (run Access first)";
    legend = rangeLegend(ACCESS_BREAKS, ACCESS_COLOURS, (n) => String(n), " min");
  } else if (by === "hubs") {
    colour = [
      "case",
      ["==", ["typeof", ["feature-state", "hub"]], "number"],
      ["match", ["%", ["feature-state", "hub"], CATEGORICAL.length], ...CATEGORICAL.flatMap((c, i) => [i, c]), NO_DATA],
      NO_DATA,
    ] as unknown as ExpressionSpecification;
    title = "Assigned hub";
    legend = (state.lastHub?.chosen ?? []).map((c, i) => ({ colour: CATEGORICAL[i % CATEGORICAL.length], label: c.name }));
  }
  if (by !== "none") legend.push({ colour: NO_DATA, label: "no data" });
  m.setPaintProperty("areas-fill", "fill-color", colour);
  renderLegend(legendEl, title, by === "none" ? [] : legend);
  if (by === "access") renderLegend($("legend-access"), title, legend);
}

function applySiteColours(): void {
  const by = $<HTMLSelectElement>("site-colour").value as "kind" | "owner_type" | "owner";
  const values = [...new Set(state.sites.map((s) => s.properties[by] ?? ""))].filter((v) => v !== "").sort();
  const cats = values.length ? values.slice(0, CATEGORICAL.length - 1) : by === "kind" ? state.kinds : [];
  map().setPaintProperty("sites", "circle-color", categoricalExpression(["get", by], cats));
  const legend: Legend = cats.map((c, i) => ({ colour: CATEGORICAL[i], label: by === "kind" ? kindLabel(c) : c }));
  legend.push({ colour: "#9e9e9e", label: by === "kind" ? "other" : "other / not known" });
  renderLegend($("legend-sites"), by === "kind" ? "Sites by kind" : by === "owner" ? "Sites by owner" : "Sites by owner type", legend);
}

function fillKindSelects(): void {
  for (const sel of document.querySelectorAll<HTMLSelectElement>(".kind-select")) {
    sel.replaceChildren(...state.kinds.map((k) => h("option", { value: k }, kindLabel(k))));
    if (state.kinds.includes("gp_practice")) sel.value = "gp_practice";
  }
  const box = $("hub-candidates");
  box.replaceChildren(
    ...state.kinds.map((k) => {
      const id = `cand-${k}`;
      const input = h("input", { type: "checkbox", id, name: "candidates", value: k });
      input.checked = k === "gp_practice" || k === "community_hospital" || k === "council_building";
      return h("div", { class: "check" }, input, h("label", { for: id }, kindLabel(k)));
    }),
  );
  if (!box.querySelector("input:checked")) box.querySelector<HTMLInputElement>("input")?.click();
}

function siteId(f: Feature<SiteProps>): number {
  return Number(f.id);
}

function fillSiteSelects(): void {
  const sorted = [...state.sites].sort((a, b) => a.properties.name.localeCompare(b.properties.name));
  const opts = () =>
    sorted.map((s) => h("option", { value: String(siteId(s)) }, `${s.properties.name} (${kindLabel(s.properties.kind)})`));
  $("site-select").append(...opts());
  $("hub-keep").replaceChildren(...opts());
}

// ---- map interaction ------------------------------------------------------------------------

function wireMap(m: maplibregl.Map): void {
  const popup = new maplibregl.Popup({ closeButton: false, closeOnClick: false, offset: 10 });
  m.on("mousemove", "sites", (e) => {
    m.getCanvas().style.cursor = "pointer";
    const f = e.features?.[0];
    if (f) popup.setLngLat(e.lngLat).setText(`${f.properties.name ?? "site"} — ${kindLabel(String(f.properties.kind ?? ""))}`).addTo(m);
  });
  m.on("mouseleave", "sites", () => {
    m.getCanvas().style.cursor = "";
    popup.remove();
  });
  m.on("click", (e) => {
    const pad = 6;
    const hits: MapGeoJSONFeature[] = m.queryRenderedFeatures(
      [[e.point.x - pad, e.point.y - pad], [e.point.x + pad, e.point.y + pad]],
      { layers: ["sites", "hubs"] },
    );
    const site = hits[0];
    if (site) {
      const id = site.layer.id === "hubs" ? site.properties.site_id : site.id ?? site.properties.id;
      void showSite(Number(id));
    } else {
      void showNearest({ lon: e.lngLat.lng, lat: e.lngLat.lat });
    }
  });
}

// ---- site details and catchment -------------------------------------------------------------

function detail(label: string, value: string): HTMLElement[] {
  return [h("dt", {}, label), h("dd", {}, value)];
}

async function showSite(id: number): Promise<void> {
  selectTab("tab-site");
  state.selectedSite = id;
  $<HTMLSelectElement>("site-select").value = String(id);
  setStatus("Loading site…");
  try {
    const f = await api.item<SiteProps>("sites", id);
    const p = f.properties;
    $("site-name").textContent = p.name;
    const known = (v: unknown, fmt: (x: number) => string = String) =>
      v == null || v === "" ? "not known" : typeof v === "number" ? fmt(v) : String(v);
    $("site-details").replaceChildren(
      ...detail("Kind", kindLabel(p.kind)),
      ...detail("Owner", known(p.owner)),
      ...detail("Owner type", known(p.owner_type)),
      ...detail("Tenure", known(p.tenure)),
      ...detail("Floor area", known(p.gia_m2, (x) => `${nf.format(x)} m²`)),
      ...detail("Land", known(p.land_ha, (x) => `${nf1.format(x)} ha`)),
      ...detail("Running cost", known(p.running_cost_gbp, (x) => `${gbp.format(x)} a year`)),
      ...detail("Backlog", known(p.backlog_gbp, (x) => gbp.format(x))),
      ...detail("Postcode", known(p.postcode)),
      ...detail("Reference", known(p.source_id)),
    );
    $("site-body").hidden = false;
    await loadCatchment();
  } catch (err) {
    reportError("Site", err);
  }
}

async function loadCatchment(): Promise<void> {
  const id = state.selectedSite;
  if (id == null) return;
  const mode = $<HTMLSelectElement>("catchment-mode").value as Mode;
  setStatus(`Computing ${modeLabel(mode).toLowerCase()} catchment…`);
  try {
    const c = await api.catchment(id, mode);
    if (state.selectedSite !== id) return;
    state.lastCatchment = c;
    (map().getSource("catchment") as GeoJSONSource).setData(c as unknown as GeoJSON.FeatureCollection);
    const bands = [...c.features].sort((a, b) => a.properties.band_min - b.properties.band_min);
    const ageKeys = [...new Set(bands.flatMap((b) => Object.keys(b.properties.by_age ?? {})))];
    const imdKeys = [...new Set(bands.flatMap((b) => Object.keys(b.properties.by_imd_decile ?? {})))].sort(
      (a, b) => Number(a) - Number(b),
    );
    const bandLabel = (b: number) => `≤ ${b} min`;
    table(
      $<HTMLTableElement>("catchment-age"),
      ["Band", "Population", ...ageKeys],
      bands.map((b) => [
        bandLabel(b.properties.band_min),
        fmtInt(b.properties.population),
        ...ageKeys.map((k) => fmtInt(b.properties.by_age?.[k])),
      ]),
      `${modeLabel(mode)} catchment of ${$("site-name").textContent}`,
    );
    table(
      $<HTMLTableElement>("catchment-imd"),
      ["Band", ...imdKeys.map((k) => `D${k}`)],
      bands.map((b) => [bandLabel(b.properties.band_min), ...imdKeys.map((k) => fmtInt(b.properties.by_imd_decile?.[k]))]),
    );
    const bb = boundsOf(c.features as Feature<unknown>[]);
    if (bb) map().fitBounds(bb, { padding: 30, duration: 0, maxZoom: 13 });
    setStatus(`${modeLabel(mode)} catchment: ${bands.length} bands drawn.`);
  } catch (err) {
    reportError("Catchment", err);
  }
}

// ---- nearest --------------------------------------------------------------------------------

async function showNearest(where: { lon: number; lat: number } | { postcode: string }): Promise<void> {
  selectTab("tab-nearest");
  if ("lon" in where) $<HTMLInputElement>("postcode").value = "";
  const kind = $<HTMLSelectElement>("nearest-kind").value;
  setStatus("Finding nearest sites…");
  const modes = availableModes;
  const results = await Promise.allSettled(modes.map((m) => api.nearest(where, kind, m, 5)));
  const ok: Partial<Record<Mode, api.Nearest>> = {};
  const failed: string[] = [];
  results.forEach((r, i) => {
    if (r.status === "fulfilled") ok[modes[i]] = r.value;
    else failed.push(`${modeLabel(modes[i])}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`);
  });
  state.lastNearest = ok;
  const first = Object.values(ok)[0];
  if (!first) {
    $("nearest-table").replaceChildren();
    $("nearest-origin").textContent = "";
    setStatus(`Nearest: ${failed.join("; ")}`, "error");
    return;
  }
  const o = first.origin;
  (map().getSource("origin") as GeoJSONSource).setData({
    type: "FeatureCollection",
    features: [{ type: "Feature", properties: {}, geometry: { type: "Point", coordinates: [o.lon, o.lat] } }],
  });
  if ("postcode" in where) map().easeTo({ center: [o.lon, o.lat], zoom: Math.max(map().getZoom(), 11), duration: 0 });
  $("nearest-origin").textContent =
    `From ${o.postcode ? `${o.postcode} ` : ""}(${o.lat.toFixed(5)}, ${o.lon.toFixed(5)})` +
    (o.snap_distance_m != null ? `, ${nf.format(o.snap_distance_m)} m from the nearest road` : "");
  // One row per site (ordered by the first mode's ranking), minutes per mode.
  const order: number[] = [];
  const names = new Map<number, string>();
  for (const m of modes) {
    for (const r of ok[m]?.results ?? []) {
      if (!names.has(r.site_id)) order.push(r.site_id);
      names.set(r.site_id, r.name ?? `site ${r.site_id}`);
    }
  }
  const minutes = (m: Mode, id: number) => ok[m]?.results.find((r) => r.site_id === id)?.minutes;
  table(
    $<HTMLTableElement>("nearest-table"),
    ["Site", ...modes.map((m) => `${modeLabel(m)} (min)`)],
    order.map((id) => [names.get(id)!, ...modes.map((m) => fmtMin(minutes(m, id)))]),
    `Nearest ${kindLabel(kind)} by travel time`,
  );
  setStatus(failed.length ? `Some modes unavailable: ${failed.join("; ")}` : `Nearest ${kindLabel(kind)}: ${order.length} sites.`,
    failed.length ? "error" : "info");
}

// ---- access ---------------------------------------------------------------------------------

function clearAreaState(codes: string[], key: string): void {
  const m = map();
  for (const code of codes) m.removeFeatureState({ source: "areas", sourceLayer: "areas", id: code }, key);
}

async function runAccess(): Promise<void> {
  const kind = $<HTMLSelectElement>("access-kind").value;
  const mode = $<HTMLSelectElement>("access-mode").value as Mode;
  const minutes = Number($<HTMLInputElement>("access-minutes").value) || 15;
  setStatus("Computing access…");
  try {
    const a = await api.access(kind, mode, minutes);
    state.lastAccess = a;
    clearAreaState(state.accessCodes, "seconds");
    clearAreaState(state.accessCodes, "within");
    const m = map();
    for (const r of a.areas) {
      m.setFeatureState({ source: "areas", sourceLayer: "areas", id: r.code }, { seconds: r.seconds, within: r.sites_within ?? null });
    }
    state.accessCodes = a.areas.map((r) => r.code);
    $<HTMLSelectElement>("choropleth").value = "access";
    applyChoropleth();
    const secs = a.areas.map((r) => r.seconds).filter((s): s is number => typeof s === "number").sort((x, y) => x - y);
    const median = secs.length ? secs[Math.floor(secs.length / 2)] / 60 : null;
    const over = secs.filter((s) => s > minutes * 60).length;
    const none = a.areas.filter((r) => r.sites_within === 0).length;
    $("access-summary").textContent =
      `${a.areas.length} areas; median ${fmtMin(median)} min to the nearest ${kindLabel(kind)} by ${modeLabel(mode).toLowerCase()}; ` +
      `${over} areas over ${minutes} min; ${none} with no site within ${minutes} min.`;
    setStatus("Access map drawn.");
  } catch (err) {
    reportError("Access", err);
  }
}

// ---- hub siting -----------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runHubs(): Promise<void> {
  const candidates = [...document.querySelectorAll<HTMLInputElement>('#hub-candidates input:checked')].map((i) => i.value);
  if (candidates.length === 0) {
    setStatus("Choose at least one set of candidate sites.", "error");
    return;
  }
  const inputs: api.HubInputs = {
    p: Number($<HTMLInputElement>("hub-p").value) || 1,
    mode: $<HTMLSelectElement>("hub-mode").value as Mode,
    objective: $<HTMLSelectElement>("hub-objective").value as api.HubInputs["objective"],
    candidates,
    keep: [...$<HTMLSelectElement>("hub-keep").selectedOptions].map((o) => Number(o.value)),
    minutes: Number($<HTMLInputElement>("hub-minutes").value) || 20,
  };
  const run = $<HTMLButtonElement>("hub-run");
  const bar = $<HTMLProgressElement>("hub-progress");
  run.disabled = true;
  $("hub-results").hidden = true;
  $("hub-job").hidden = false;
  bar.value = 0;
  $("hub-message").textContent = "Submitting…";
  try {
    const url = await api.executeHubSiting(inputs);
    state.jobUrl = url;
    for (;;) {
      const s = await api.jobStatus(url);
      bar.value = s.progress ?? bar.value;
      $("hub-message").textContent = `${s.status}${s.message ? `: ${s.message}` : ""}`;
      if (s.status === "successful") break;
      if (s.status === "failed" || s.status === "dismissed") throw new Error(s.message || `job ${s.status}`);
      await sleep(400);
    }
    bar.value = 100;
    const res = await api.jobResults(url);
    showHubResults(url, res);
  } catch (err) {
    reportError("Hub siting", err);
  } finally {
    run.disabled = false;
  }
}

function showHubResults(url: string, res: api.HubResults): void {
  state.lastHub = res;
  state.lastHubJob = url;
  const colourOf = (i: number) => CATEGORICAL[i % CATEGORICAL.length];
  (map().getSource("hubs") as GeoJSONSource).setData({
    type: "FeatureCollection",
    features: res.chosen.map((c, i) => ({
      type: "Feature",
      properties: { site_id: c.site_id, name: c.name, colour: colourOf(i) },
      geometry: { type: "Point", coordinates: [c.lon, c.lat] },
    })),
  });
  const index = new Map(res.chosen.map((c, i) => [c.site_id, i]));
  clearAreaState(state.hubCodes, "hub");
  const m = map();
  for (const a of res.assignment) {
    const i = index.get(a.site_id);
    if (i !== undefined) m.setFeatureState({ source: "areas", sourceLayer: "areas", id: a.area_code }, { hub: i, hub_seconds: a.seconds });
  }
  state.hubCodes = res.assignment.map((a) => a.area_code);
  $("hub-chosen").replaceChildren(
    ...res.chosen.map((c, i) => {
      const sw = h("span", { class: "swatch", "aria-hidden": "true" });
      sw.style.background = colourOf(i);
      const n = res.assignment.filter((a) => a.site_id === c.site_id).length;
      return h("li", {}, sw, `${c.name} — ${n} areas`);
    }),
  );
  $("hub-objective-value").textContent =
    `Objective ${nf.format(res.objective)}` +
    (res.gap != null ? `; gap ${nf1.format(res.gap * 100)}%` : "") +
    (res.status ? ` (${res.status})` : "");
  const before = res.coverage?.before ?? {};
  const after = res.coverage?.after ?? {};
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort((a, b) => Number(a) - Number(b));
  table(
    $<HTMLTableElement>("hub-coverage"),
    ["Within", "Before", "After", "Change"],
    keys.map((k) => {
      const b = before[k], a = after[k];
      const d = a != null && b != null ? a - b : null;
      return [`${k} min`, fmtInt(b), fmtInt(a), d == null ? "—" : `${d > 0 ? "+" : ""}${nf.format(d)}`];
    }),
  );
  const base = url.replace(/\/$/, "");
  $<HTMLAnchorElement>("hub-gpkg").href = `${base}/results?f=gpkg`;
  $<HTMLAnchorElement>("hub-csv").href = `${base}/results?f=csv`;
  $("hub-results").hidden = false;
  $<HTMLSelectElement>("choropleth").value = "hubs";
  applyChoropleth();
  const bb = boundsOf(res.chosen.map((c) => ({ type: "Feature", properties: {}, geometry: { type: "Point", coordinates: [c.lon, c.lat] } })));
  if (bb && res.chosen.length > 1) map().fitBounds(bb, { padding: 60, duration: 0, maxZoom: 12 });
  setStatus(`Hub siting done: ${res.chosen.length} hubs chosen.`);
}

// ---- controls -------------------------------------------------------------------------------

function wireControls(): void {
  const whenReady = (fn: () => void) => () => (state.ready ? fn() : undefined);
  $("choropleth").addEventListener("change", whenReady(applyChoropleth));
  $("area-level").addEventListener("change", whenReady(() => {
    state.level = $<HTMLSelectElement>("area-level").value;
    applyAreaFilter();
    applyChoropleth();
  }));
  $("site-colour").addEventListener("change", whenReady(applySiteColours));
  $("show-network").addEventListener("change", whenReady(() => {
    map().setLayoutProperty("network", "visibility", $<HTMLInputElement>("show-network").checked ? "visible" : "none");
  }));
  $("site-select").addEventListener("change", () => {
    const v = $<HTMLSelectElement>("site-select").value;
    if (v) void showSite(Number(v));
  });
  $("catchment-mode").addEventListener("change", () => void loadCatchment());
  $("nearest-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const pc = $<HTMLInputElement>("postcode").value.trim();
    if (!pc) {
      setStatus("Type a postcode, or click on the map.", "error");
      return;
    }
    void showNearest({ postcode: pc });
  });
  $("access-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void runAccess();
  });
  $("hub-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void runHubs();
  });
  $("hub-objective").addEventListener("change", () => {
    $("hub-minutes").closest(".field")?.classList.toggle("muted", $<HTMLSelectElement>("hub-objective").value !== "mclp");
  });
}

void start().catch((err) => reportError("Start-up", err));
