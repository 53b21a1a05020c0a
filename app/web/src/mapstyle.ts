// The map's style, built in code: no basemap, glyph or sprite servers (the map works offline).
// The base is our own vector tiles: areas, the road network (zoom 12+) and sites. Labels are
// HTML (popups and the side panel), so the style has no symbol layers and needs no glyphs.

import type {
  DataDrivenPropertyValueSpecification,
  ExpressionSpecification,
  StyleSpecification,
} from "maplibre-gl";
import { absolute } from "./api";

export const ATTRIBUTION =
  "© OpenStreetMap contributors, ODbL; Contains OS data © Crown copyright and database right; OGL v3";

export const NETWORK_MINZOOM = 12;

export function tilesUrl(collection: string): string {
  return absolute(`/collections/${collection}/tiles/WebMercatorQuad/{z}/{x}/{y}`);
}

export function baseStyle(bounds?: [number, number, number, number]): StyleSpecification {
  const extra = bounds ? { bounds } : {};
  return {
    version: 8,
    sources: {
      areas: {
        type: "vector",
        tiles: [tilesUrl("areas")],
        maxzoom: 14,
        promoteId: "code",
        attribution: ATTRIBUTION,
        ...extra,
      },
      network: {
        type: "vector",
        tiles: [tilesUrl("network_edges")],
        minzoom: NETWORK_MINZOOM,
        maxzoom: 14,
        ...extra,
      },
      sites: { type: "vector", tiles: [tilesUrl("sites")], maxzoom: 14, ...extra },
      catchment: { type: "geojson", data: empty() },
      hubs: { type: "geojson", data: empty() },
      origin: { type: "geojson", data: empty() },
    },
    layers: [
      { id: "background", type: "background", paint: { "background-color": "#eef1f4" } },
      {
        id: "areas-fill",
        type: "fill",
        source: "areas",
        "source-layer": "areas",
        paint: { "fill-color": "#cfd8dc", "fill-opacity": 0.75 },
      },
      {
        id: "catchment-fill",
        type: "fill",
        source: "catchment",
        paint: { "fill-color": bandColour(), "fill-opacity": 0.35 },
      },
      {
        id: "catchment-line",
        type: "line",
        source: "catchment",
        paint: { "line-color": "#08306b", "line-width": 1 },
      },
      {
        id: "areas-line",
        type: "line",
        source: "areas",
        "source-layer": "areas",
        paint: { "line-color": "#ffffff", "line-width": ["interpolate", ["linear"], ["zoom"], 8, 0.4, 14, 2] },
      },
      {
        id: "network",
        type: "line",
        source: "network",
        "source-layer": "network_edges",
        minzoom: NETWORK_MINZOOM,
        filter: ["==", ["get", "mode"], "drive"],
        layout: { "line-cap": "round", "line-join": "round" },
        paint: {
          "line-color": "#5f6b73",
          "line-opacity": 0.8,
          "line-width": [
            "interpolate", ["linear"], ["zoom"],
            12, roadWidth(0.6), 16, roadWidth(2.5),
          ] as ExpressionSpecification,
        },
      },
      {
        id: "origin",
        type: "circle",
        source: "origin",
        paint: {
          "circle-radius": 7,
          "circle-color": "#ffffff",
          "circle-stroke-color": "#111111",
          "circle-stroke-width": 3,
        },
      },
      {
        id: "sites",
        type: "circle",
        source: "sites",
        "source-layer": "sites",
        paint: {
          "circle-radius": ["interpolate", ["linear"], ["zoom"], 8, 4, 14, 8],
          "circle-color": "#555555",
          "circle-stroke-color": "#ffffff",
          "circle-stroke-width": 1.5,
        },
      },
      {
        id: "hubs",
        type: "circle",
        source: "hubs",
        paint: {
          "circle-radius": 13,
          "circle-color": "rgba(0,0,0,0)",
          "circle-stroke-color": ["get", "colour"],
          "circle-stroke-width": 4,
        },
      },
    ],
  };
}

function roadWidth(base: number): ExpressionSpecification {
  return [
    "match", ["get", "highway"],
    ["motorway", "trunk", "primary"], base * 2.2,
    ["secondary", "tertiary"], base * 1.6,
    base,
  ];
}

export function empty(): GeoJSON.FeatureCollection {
  return { type: "FeatureCollection", features: [] };
}

// ---- colour schemes -------------------------------------------------------------------------

export const SEQUENTIAL = ["#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"];
export const IMD = [
  "#a50026", "#d73027", "#f46d43", "#fdae61", "#fee090",
  "#e0f3f8", "#abd9e9", "#74add1", "#4575b4", "#313695",
];
// Access: minutes to the nearest site, short (green) to long (purple).
export const ACCESS_BREAKS = [5, 10, 15, 20, 30, 45];
export const ACCESS_COLOURS = ["#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fc8d59", "#d73027", "#67001f"];
export const NO_DATA = "#bdbdbd";
// 20 distinguishable colours (Dark2 + Paired + extras): enough for every site kind a region
// usually has, so the legend names each one rather than lumping kinds into "other".
export const CATEGORICAL = [
  "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
  "#a6761d", "#1f78b4", "#b15928", "#6a3d9a", "#33a02c", "#666666",
  "#e31a1c", "#ff7f00", "#17becf", "#8c564b", "#bcbd22", "#393b79",
  "#9edae5", "#f781bf",
];

export function bandColour(): DataDrivenPropertyValueSpecification<string> {
  return [
    "interpolate", ["linear"], ["get", "band_min"],
    5, "#08519c", 15, "#4292c6", 30, "#9ecae1", 60, "#deebf7",
  ];
}

/** Quantile class breaks (upper bounds of the first k-1 classes), distinct and ascending. */
export function quantileBreaks(values: number[], k: number): number[] {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return [];
  const out: number[] = [];
  for (let i = 1; i < k; i++) {
    const q = v[Math.min(v.length - 1, Math.floor((i * v.length) / k))];
    if (out.length === 0 || q > out[out.length - 1]) out.push(q);
  }
  return out;
}

/** A `step` expression over `input` with the given breaks and colours (colours = breaks + 1). */
export function stepExpression(
  input: ExpressionSpecification,
  breaks: number[],
  colours: string[],
): ExpressionSpecification | string {
  if (breaks.length === 0) return colours[0];
  const expr: unknown[] = ["step", input, colours[0]];
  breaks.forEach((b, i) => expr.push(b, colours[i + 1]));
  return expr as ExpressionSpecification;
}

export function categoricalExpression(
  input: ExpressionSpecification,
  categories: string[],
  fallback = "#9e9e9e",
): ExpressionSpecification | string {
  if (categories.length === 0) return fallback;
  const expr: unknown[] = ["match", input];
  categories.forEach((c, i) => expr.push(c, CATEGORICAL[i % CATEGORICAL.length]));
  expr.push(fallback);
  return expr as ExpressionSpecification;
}
