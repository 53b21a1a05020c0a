// Typed access to the Locus HTTP API (notes/api_contract.md). Every error the API returns is
// RFC 9457 problem+json; `ApiError` carries its title, detail and offending parameter so the UI
// can say what was wrong instead of logging to the console.

export type Mode = "drive" | "walk" | "cycle" | "transit";
export const MODES: Mode[] = ["drive", "walk", "cycle", "transit"];
/** The modes the server has data for (road networks, a GTFS feed). */
export const modes = () => getJson<{ modes: Mode[] }>("/analysis/modes");

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  parameter?: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  constructor(status: number, problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function readProblem(res: Response): Promise<Problem> {
  try {
    const body: unknown = await res.json();
    if (body && typeof body === "object") return body as Problem;
  } catch {
    // not JSON: fall through
  }
  return { status: res.status, title: res.statusText };
}

export async function getJson<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(path, { ...init, headers: { Accept: "application/json", ...init?.headers } });
  if (!res.ok) throw new ApiError(res.status, await readProblem(res));
  return (await res.json()) as T;
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  return q.toString();
}

/** An absolute URL on this origin (MapLibre sources need them); `{z}` etc. stay unencoded. */
export function absolute(path: string): string {
  return window.location.origin + path;
}

// ---- OGC API Features -----------------------------------------------------------------------

export interface AreaProps {
  code: string;
  name?: string | null;
  level: string;
  vintage: number;
  population?: number | null;
  pop_65_plus?: number | null;
  imd_decile?: number | null;
}

export interface SiteProps {
  source_id?: string;
  kind: string;
  name: string;
  owner?: string | null;
  owner_type?: string | null;
  status?: string | null;
  tenure?: string | null;
  gia_m2?: number | null;
  land_ha?: number | null;
  running_cost_gbp?: number | null;
  backlog_gbp?: number | null;
  postcode?: string | null;
}

export interface Feature<P> {
  type: "Feature";
  id?: string | number;
  geometry: GeoJSON.Geometry | null;
  properties: P;
}

export interface FeatureCollection<P> {
  type: "FeatureCollection";
  features: Feature<P>[];
}

export const items = <P>(collection: string, params: Record<string, string | number> = {}) =>
  getJson<FeatureCollection<P>>(
    `/collections/${collection}/items?${query({ f: "json", limit: 1000, ...params })}`,
  );

export const item = <P>(collection: string, fid: string | number) =>
  getJson<Feature<P>>(`/collections/${collection}/items/${encodeURIComponent(String(fid))}?f=json`);

export interface TileJson {
  tiles: string[];
  minzoom?: number;
  maxzoom?: number;
  bounds?: [number, number, number, number];
}

export const tileJson = (collection: string) =>
  getJson<TileJson>(`/collections/${collection}/tiles/WebMercatorQuad/tilejson.json`);

// ---- Analysis -------------------------------------------------------------------------------

export interface NearestResult {
  site_id: number;
  source_id?: string;
  name: string;
  kind: string;
  seconds: number;
  minutes: number;
}

export interface Nearest {
  origin: { lon: number; lat: number; snap_distance_m?: number; postcode?: string };
  mode: Mode;
  kind: string;
  results: NearestResult[];
}

export const nearest = (
  where: { lon: number; lat: number } | { postcode: string },
  kind: string,
  mode: Mode,
  n = 5,
) => getJson<Nearest>(`/analysis/nearest?${query({ ...where, kind, mode, n })}`);

export interface BandProps {
  band_min: number;
  population: number;
  by_age: Record<string, number>;
  by_imd_decile: Record<string, number>;
}

export interface Catchment extends FeatureCollection<BandProps> {
  site?: unknown;
  metadata?: Record<string, unknown>;
}

export const catchment = (siteId: number | string, mode: Mode) =>
  getJson<Catchment>(`/analysis/catchment/${encodeURIComponent(String(siteId))}?${query({ mode })}`);

export interface Access {
  kind: string;
  mode: Mode;
  areas: { code: string; seconds: number | null; sites_within?: number }[];
}

export const access = (kind: string, mode: Mode, minutes: number) =>
  getJson<Access>(`/analysis/access?${query({ kind, mode, minutes })}`);

// ---- Processes ------------------------------------------------------------------------------

export interface HubInputs {
  p: number;
  mode: Mode;
  objective: "p-median" | "mclp";
  candidates: string[];
  keep: number[];
  minutes: number;
}

export interface JobStatus {
  jobID: string;
  status: "accepted" | "running" | "successful" | "failed" | "dismissed";
  progress?: number;
  message?: string;
}

export interface HubResults {
  chosen: { site_id: number; name: string; lon: number; lat: number }[];
  assignment: { area_code: string; site_id: number; seconds: number }[];
  objective: number;
  lower_bound?: number;
  gap?: number;
  status?: string;
  coverage?: { before: Record<string, number>; after: Record<string, number> };
}

/** Start hub siting asynchronously; returns the job's status URL (the Location header). */
export async function executeHubSiting(inputs: HubInputs): Promise<string> {
  const res = await fetch("/processes/hub-siting/execution", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", Prefer: "respond-async" },
    body: JSON.stringify({ inputs }),
  });
  if (!res.ok) throw new ApiError(res.status, await readProblem(res));
  const location = res.headers.get("Location");
  if (location) return location;
  const body = (await res.json()) as Partial<JobStatus>;
  if (body.jobID) return `/jobs/${body.jobID}`;
  throw new ApiError(res.status, { title: "No job location", detail: "the server gave no job address" });
}

export const jobStatus = (url: string) => getJson<JobStatus>(url);
export const jobResults = (url: string) => getJson<HubResults>(`${url.replace(/\/$/, "")}/results`);
